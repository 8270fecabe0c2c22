package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mediation-emulator/mediation/mediation/bench"
)

// TestBenchJSON: a short bench of both modes, as CI runs it, prints one
// JSON report in which every call went as planned, and exits 0; the
// generator ran with the garbage collector setting asked for.
func TestBenchJSON(t *testing.T) {
	t.Setenv("GOGC", "") // inherited, it would win over --gc-percent
	t.Setenv("GOMEMLIMIT", "")
	res := runBinary(t, "bench", "--calls", "100", "--cps", "50", "--mode", "mixed", "--transcode-share", "0.5", "--gc-percent", "250", "--json")
	if res.code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", res.code, res.stdout, res.stderr)
	}
	var rep bench.Report
	dec := json.NewDecoder(strings.NewReader(res.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("report: %v\n%s", err, res.stdout)
	}
	if rep.Calls != 100 || rep.Answered != 100 || rep.Bypassed != 50 || rep.Anchored != 25 || rep.Transcoded != 25 {
		t.Fatalf("report %+v", rep)
	}
	if rep.Generator.GC != "gc_percent 250, no memory limit" {
		t.Errorf("generator gc %q", rep.Generator.GC)
	}
	if rep.SetupMs.P99 <= 0 || rep.ClientMedia.Expected == 0 || rep.SBCMedia.Expected == 0 {
		t.Errorf("latency %+v, media %+v / %+v", rep.SetupMs, rep.ClientMedia, rep.SBCMedia)
	}
	if d := rep.RelayDelayMs; rep.RelayDelayPackets == 0 || d.P50 <= 0 || d.P50 > d.P99 || d.P99 > d.Max {
		t.Errorf("relay delay of %d packets: %+v", rep.RelayDelayPackets, d)
	}
}

// TestBenchTCPQuiet: a TCP bench (the in-process daemon and the endpoints
// all over TCP) logs only zerolog's JSON lines on stderr, even at warn
// level, and none for the transactions that outlived their connection when
// the endpoints closed: sipgo's connection pool warned about each, in its
// own format, on stderr (nothing at the default level, disabled).
func TestBenchTCPQuiet(t *testing.T) {
	for _, level := range []string{"disabled", "warn"} {
		res := runBinary(t, "bench", "--calls", "30", "--cps", "50", "--transport", "tcp", "--media=false", "--json", "--log-level", level)
		if res.code != 0 {
			t.Fatalf("exit %d\nstdout %s\nstderr %s", res.code, res.stdout, res.stderr)
		}
		if level == "disabled" && res.stderr != "" {
			t.Errorf("stderr %q, want nothing with the log disabled", res.stderr)
		}
		for _, line := range strings.Split(strings.TrimSpace(res.stderr), "\n") {
			if line != "" && (!strings.HasPrefix(line, "{") || strings.Contains(line, "went negative")) {
				t.Errorf("log level %s: stderr line %q", level, line)
			}
		}
	}
}

// TestBenchFlags: bad values are usage errors (exit 2) named on stderr.
func TestBenchFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--mode", "fast"},
		{"--transport", "sctp"},
		{"--sbc-progress", "181"},
		{"--cps", "0"},
		{"--transcode-share", "2"},
		{"--edge", "nowhere"},
		{"--gc-percent", "5"},
		{"--log-level", "loud"},
	} {
		res := runBinary(t, append([]string{"bench"}, args...)...)
		if args[0] == "--gc-percent" && (!strings.Contains(res.stderr, `--gc-percent "5": must be from 25 to 2000`) || strings.Contains(res.stderr, "runtime.gc_percent")) {
			t.Errorf("bench %v: stderr %q; want the flag and its bounds named", args, res.stderr)
		}
		if res.code != 2 || !strings.Contains(res.stderr, "bench") {
			t.Errorf("bench %v: exit %d stderr %q; want 2 and a message", args, res.code, res.stderr)
		}
	}
}
