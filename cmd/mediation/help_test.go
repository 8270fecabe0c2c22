package main

import (
	"strings"
	"testing"
)

// TestCommandHelp: every way of asking a command for its help prints a
// "Usage: mediation COMMAND" line on stdout and exits 0; counters printed
// Go's bare "Usage of counters:" on stderr, trace its usage on stderr, and
// version -h, version --help and help version were refused with "takes no
// arguments" and exit 2 (r26-docs F6).
func TestCommandHelp(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"counters", "-h"}, "Usage: mediation counters [flags]\n\nReads a running server's /metrics"},
		{[]string{"help", "counters"}, "Usage: mediation counters [flags]\n"},
		{[]string{"version", "-h"}, "Usage: mediation version\n"},
		{[]string{"version", "--help"}, "Usage: mediation version\n"},
		{[]string{"help", "version"}, "Usage: mediation version\n"},
		{[]string{"--version", "-h"}, "Usage: mediation version\n"},
		{[]string{"trace", "-h"}, "Usage: mediation trace [flags] [FILE|-]\n"},
	} {
		res := runBinary(t, tt.args...)
		if res.code != exitOK || !strings.HasPrefix(res.stdout, tt.want) || res.stderr != "" {
			t.Errorf("mediation %v: exit %d stdout %q stderr %q; want 0 and stdout starting %q", tt.args, res.code, res.stdout, res.stderr, tt.want)
		}
	}
	// A flag counters or trace does not know is one line and exit 2, as
	// for the other commands (they printed the whole usage after it).
	for _, cmd := range []string{"counters", "trace"} {
		res := runBinary(t, cmd, "--nosuch")
		if want := "mediation: " + cmd + ": flag provided but not defined: -nosuch\n"; res.code != exitUsage || res.stderr != want {
			t.Errorf("%s --nosuch: exit %d stderr %q; want 2 and %q", cmd, res.code, res.stderr, want)
		}
	}
	res := runBinary(t, "version", "extra")
	if want := "mediation: version: unexpected argument \"extra\"\n"; res.code != exitUsage || res.stderr != want {
		t.Errorf("version extra: exit %d stderr %q; want 2 and %q", res.code, res.stderr, want)
	}
}

// TestHelpUnknownCommand: help of a command that does not exist is the
// usage error "mediation nosuch" is, not the general help and exit 0
// (r26-docs F6); "help help" is the general help.
func TestHelpUnknownCommand(t *testing.T) {
	res := runBinary(t, "help", "nosuch")
	if want := "mediation: unknown command \"nosuch\" (run \"mediation help\")\n"; res.code != exitUsage || res.stderr != want || res.stdout != "" {
		t.Errorf("help nosuch: exit %d stdout %q stderr %q; want 2 and %q", res.code, res.stdout, res.stderr, want)
	}
	res = runBinary(t, "help", "help")
	if res.code != exitOK || !strings.Contains(res.stdout, "Commands:") {
		t.Errorf("help help: exit %d stdout %q; want 0 and the command list", res.code, res.stdout)
	}
}

// TestHelpTexts pins the help texts r26-docs F4 and F6 found wrong: the
// transports take tls, http_listen serves /readyz, numeric defaults are
// numbers, settings set takes --json, and --dtmf's sentence reads.
func TestHelpTexts(t *testing.T) {
	serve := runBinary(t, "serve", "-h").stdout
	for _, want := range []string{
		"-gateway-transport udp|tcp|tls\n", "-edge-transport udp|tcp|tls\n",
		"/metrics, /healthz and /readyz (http_listen)",
		"(capture.hep_capture_id) (default 0)\n", "(capture.pcap_max_size) (default 0)\n",
	} {
		if !strings.Contains(serve, want) {
			t.Errorf("serve -h lacks %q:\n%s", want, serve)
		}
	}
	if strings.Contains(serve, `(default "0")`) {
		t.Errorf("serve -h quotes a numeric default:\n%s", serve)
	}
	settingsHelp := runBinary(t, "settings", "-h").stdout
	usageLines, _, _ := strings.Cut(settingsHelp, "\n\n")
	if _, set, ok := strings.Cut(usageLines, "mediation settings set"); !ok || !strings.Contains(set, "[--json]") {
		t.Errorf("settings -h: the usage of set lacks [--json]:\n%s", usageLines)
	}
	for _, cmd := range []string{"client", "sbc"} {
		out := runBinary(t, cmd, "-h").stdout
		if want := "telephone-events once each call is up, whether it placed the call or answered it\n"; !strings.Contains(out, want) {
			t.Errorf("%s -h: -dtmf lacks %q:\n%s", cmd, want, out)
		}
	}
}
