package mediation

import (
	"fmt"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// yamlLineError matches one of yaml's type errors: "line 3: cannot
// unmarshal !!str `sometimes` into bool".
var yamlLineError = regexp.MustCompile(`^line (\d+): (.*)$`)

// typeError turns the first of yaml's type errors into a *ConfigError naming
// the key's YAML path (bypass.enabled), found on the node tree by the line
// the error gives; nil if the error does not say where it is.
func typeError(root *yaml.Node, te *yaml.TypeError, file string) *ConfigError {
	for _, msg := range te.Errors {
		m := yamlLineError.FindStringSubmatch(msg)
		if m == nil {
			continue
		}
		line, _ := strconv.Atoi(m[1])
		if path := pathAtLine(root, line, ""); path != "" {
			return &ConfigError{Field: path, Reason: fmt.Sprintf("%s (%s line %d)", m[2], file, line)}
		}
	}
	return nil
}

// pathAtLine returns the YAML path of the innermost value that starts on
// line, or "" if none does.
func pathAtLine(n *yaml.Node, line int, path string) string {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if p := pathAtLine(c, line, path); p != "" {
				return p
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			sub := joinPath(path, n.Content[i].Value)
			if p := pathAtLine(n.Content[i+1], line, sub); p != "" {
				return p
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if p := pathAtLine(c, line, fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	case yaml.ScalarNode, yaml.AliasNode:
		if n.Line == line {
			return path
		}
	}
	return ""
}
