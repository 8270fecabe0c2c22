package main

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
)

// version prints what the binary was built from: the module version, the VCS
// revision and time the Go toolchain stamped (with "+dirty" for a tree with
// uncommitted changes) and the Go version, so a bug report names the build.
func version(args []string) int {
	if len(args) > 0 {
		fail(errors.New("version: takes no arguments"))
		return exitUsage
	}
	fmt.Println(versionString())
	return exitOK
}

// versionString is one line: "mediation VERSION [REVISION [TIME]] GOVERSION".
// A binary built with go build from a checkout has "(devel)" as its module
// version; the revision then tells the builds apart.
func versionString() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "mediation (unknown version)"
	}
	return formatVersion(info)
}

func formatVersion(info *debug.BuildInfo) string {
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	parts := []string{"mediation", v}
	var rev, at string
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if dirty {
			rev += "+dirty"
		}
		parts = append(parts, rev)
	}
	if at != "" {
		parts = append(parts, at)
	}
	return strings.Join(append(parts, info.GoVersion), " ")
}
