// Command mediation runs the Skype for Business Cloud Connector Mediation
// Server emulator and the tools around it. Each subcommand lives in its own
// file; main only dispatches and maps the outcome to an exit code.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Exit codes: 2 is a usage or configuration error found before anything ran.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// commands maps each subcommand to its entry point, which gets the arguments
// after the subcommand's name and returns the exit code. Adding a subcommand
// is one line here (plus, optionally, one in summaries).
var commands = map[string]func(args []string) int{
	"serve":    serve,
	"bench":    benchCmd,
	"client":   client,
	"sbc":      sbc,
	"demo":     demo,
	"version":  version,
	"settings": settings,
	"check":    check,
	"cert":     cert,
}

// summaries are the one-line descriptions that help prints.
var summaries = map[string]string{
	"serve":    "run the mediation server until SIGINT or SIGTERM",
	"bench":    "load a mediation server with calls and report calls/s, latency, loss, CPU and memory",
	"client":   "play a Skype for Business client: call, or answer, through the server",
	"sbc":      "play an SBC: answer the server's calls, or call through it",
	"demo":     "run a server, an SBC and three kinds of client in-process and show what CCE does",
	"check":    "walk the media bypass troubleshooting steps against a running deployment",
	"settings": "read or change the MediaBypassSettings of one or several servers (admin API)",
	"version":  "print the module version, VCS revision and time, and Go version (also --version)",
	"cert":     "make a lab CA and TLS certificates for the server and an SBC",
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		usage(os.Stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			switch topic := args[1]; topic {
			case "help", "-h", "-help", "--help":
			default:
				cmd, ok := commands[topic]
				if !ok {
					// As "mediation nosuch" does: a script asking for the
					// help of a command this build lacks learns it.
					fmt.Fprintf(os.Stderr, "mediation: unknown command %q (run \"mediation help\")\n", topic)
					return exitUsage
				}
				return cmd([]string{"-h"})
			}
		}
		usage(os.Stdout)
		return exitOK
	case "-version", "--version":
		return version(args[1:])
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "mediation: unknown command %q (run \"mediation help\")\n", args[0])
		return exitUsage
	}
	return cmd(args[1:])
}

func usage(w io.Writer) {
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("mediation emulates the Mediation Server of Skype for Business Cloud Connector Edition.\n\n")
	b.WriteString("Usage:\n\n\tmediation COMMAND [flags]\n\nCommands:\n\n")
	for _, name := range names {
		fmt.Fprintf(&b, "\t%-10s %s\n", name, summaries[name])
	}
	b.WriteString("\nRun \"mediation help COMMAND\" or \"mediation COMMAND -h\" for a command's flags.\n")
	_, _ = io.WriteString(w, b.String())
}

// fail prints err as the single stderr line that scripts and operators read;
// newlines are folded so the one-line promise holds whatever err says.
func fail(err error) { failTo(os.Stderr, err) }

// failTo is fail writing to w, for a command that takes its writers.
func failTo(w io.Writer, err error) {
	msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
	fmt.Fprintf(w, "mediation: %s\n", msg)
}
