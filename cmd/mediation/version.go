package main

import (
	"fmt"
	"runtime/debug"
	"strings"
)

const versionUsage = `Usage: mediation version
       mediation --version

Prints one line: the module version, the VCS revision and time the Go
toolchain stamped into the binary ("+dirty" for a tree with uncommitted
changes) and the Go version, so that a bug report names the build. It takes
no flags and no arguments.
`

// version prints what the binary was built from: the module version, the VCS
// revision and time the Go toolchain stamped (with "+dirty" for a tree with
// uncommitted changes) and the Go version, so a bug report names the build.
// -h asks for its help, as of every command ("mediation help version").
func version(args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "-h", "-help", "--help":
			fmt.Print(versionUsage)
			return exitOK
		}
		fail(fmt.Errorf("version: unexpected argument %q", args[0]))
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
