package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// nextLadder reads the next call a `trace --follow` printed: its header to
// the blank line that ends its ladder.
func nextLadder(ctx context.Context, t *testing.T, p *proc) string {
	t.Helper()
	var out []string
	blanks := 0
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("trace --follow exited %d; printed %q, stderr %q", p.code, out, p.stderr.String())
			}
			if len(out) == 0 && !strings.HasPrefix(line, "call ") {
				t.Fatalf("trace --follow printed %q, want a call's header", line)
			}
			out = append(out, line)
			if line == "" {
				if blanks++; blanks == 2 {
					return strings.Join(out, "\n")
				}
			}
		case <-ctx.Done():
			t.Fatalf("no ladder from trace --follow: printed %q, stderr %q", out, p.stderr.String())
		}
	}
}

// waitStderr waits for a process to say something on stderr.
func waitStderr(ctx context.Context, t *testing.T, p *proc, what string, count int) {
	t.Helper()
	if err := poll(ctx, func() bool { return strings.Count(p.stderr.String(), what) >= count || p.exited() }); err != nil || p.exited() {
		t.Fatalf("mediation %v: no %q on stderr (%v): %q", p.args, what, err, p.stderr.String())
	}
}

// TestTraceFollow: `mediation trace --follow` against a running daemon
// whose log level is warn prints the ladder of a bypassed call (its
// a=x-bypassid in the INVITE, 183 and 200, the decision) once it ends,
// follows the daemon through a restart, and applies the filters.
func TestTraceFollow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d := startDaemon(ctx, t)
	startSBC(ctx, t, d.sbc, "--ring", "100ms", "--mediation-media-ports", labMediaPorts, "--json")
	all := startProc(t, "trace", "--follow", "--admin", "http://"+d.admin)
	anchored := startProc(t, "trace", "--follow", "--admin", "http://"+d.admin+"/", "--anchored", "--json")
	waitStderr(ctx, t, all, "following", 1)
	waitStderr(ctx, t, anchored, "following", 1)
	call := func(version, expect string) {
		t.Helper()
		res := runProc(ctx, t, "client", "--via", d.edge, "--web-service", d.webService, "--duration", "300ms",
			"--version", version, "--expect", expect)
		if res.code != 0 {
			t.Fatalf("client exit %d, stdout %s stderr %s", res.code, res.stdout, res.stderr)
		}
	}

	call("16.0.7870.2020", expectBypass)
	ladder := nextLadder(ctx, t, all)
	t.Logf("ladder:\n%s", ladder)
	if !strings.Contains(ladder, "bypass   yes  id_matched") || !strings.Contains(ladder, "(direct, bypassing the server)") ||
		!strings.Contains(ladder, "bye from edge, answered") {
		t.Errorf("ladder without the bypass decision, media path or end:\n%s", ladder)
	}
	for _, msg := range []string{"-- INVITE ---", "183 Session Progress --", "200 OK --"} {
		found := false
		for _, row := range strings.Split(ladder, "\n") {
			// The client's lane is the first: its arrows start at the first '|'.
			if strings.Contains(row, msg) && strings.Contains(row, "a=x-bypassid:") && strings.Index(row, msg) < strings.Index(row, "|                             |") {
				found = true
			}
		}
		if !found {
			t.Errorf("no %q with a=x-bypassid on the client's leg:\n%s", msg, ladder)
		}
	}

	// The daemon restarts; the followers reconnect.
	d.proc.stop(t)
	waitStderr(ctx, t, all, "reconnecting", 1)
	d.proc = d.launch(t)
	waitStderr(ctx, t, all, "following", 2)
	waitStderr(ctx, t, anchored, "following", 2)

	call("15.0.4420.1017", expectAnchored) // Lync 2013: no a=x-bypassid
	ladder = nextLadder(ctx, t, all)
	if !strings.Contains(ladder, "bypass   no, anchored  no_id") || !strings.Contains(ladder, "(anchored)") {
		t.Errorf("second call's ladder:\n%s", ladder)
	}
	select {
	case line := <-anchored.lines:
		var c struct {
			Reason   string `json:"reason"`
			Bypass   bool   `json:"bypass"`
			Messages []struct {
				Label string `json:"label"`
			} `json:"messages"`
		}
		if err := json.Unmarshal([]byte(line), &c); err != nil || c.Reason != "no_id" || c.Bypass || len(c.Messages) < 8 {
			t.Errorf("--anchored --json printed %q (%v); want only the anchored call", line, err)
		}
	case <-ctx.Done():
		t.Fatalf("--anchored printed nothing: stderr %q", anchored.stderr.String())
	}

	for _, p := range []*proc{all, anchored} {
		p.stop(t)
		if p.code != 0 {
			t.Errorf("trace --follow exit %d after SIGINT, stderr %q", p.code, p.stderr.String())
		}
	}
}
