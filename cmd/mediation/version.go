package main

import (
	"errors"
	"fmt"
	"runtime/debug"
)

// version prints the module version stamped by the Go toolchain.
func version(args []string) int {
	if len(args) > 0 {
		fail(errors.New("version: takes no arguments"))
		return exitUsage
	}
	fmt.Println(versionString())
	return exitOK
}

func versionString() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "mediation (unknown version)"
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	return fmt.Sprintf("mediation %s %s", v, info.GoVersion)
}
