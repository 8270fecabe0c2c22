package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/bench"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// decodeBench reads bench's --json report, refusing unknown fields.
func decodeBench(t *testing.T, out string) bench.Report {
	t.Helper()
	var rep bench.Report
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	return rep
}

// TestBenchSBCLeftOutFails: driving a daemon whose trunk is another SBC
// (the lab's) than the bench's, every call is answered, but the bench's
// SBC had none: the run does not pass (exit 1), and the report, text and
// JSON, says why (r25-bench F1: exit 0, no warning).
func TestBenchSBCLeftOutFails(t *testing.T) {
	lab := mediationtest.Start(t, mediationtest.Options{})
	args := []string{"bench", "--edge", lab.Server.EdgeAddr().String(), "--sbc-listen", freeAddrs(t, 1)[0],
		"--calls", "4", "--cps", "50", "--media=false"}
	res := runBinary(t, append(args, "--json")...)
	rep := decodeBench(t, res.stdout)
	if res.code != 1 || rep.Answered != 4 || rep.ClientsAnswered != 4 || rep.SBCAnswered != 0 {
		t.Fatalf("exit %d, as planned %d, clients answered %d, SBC answered %d; want 1, 4, 4, 0\nstderr %s",
			res.code, rep.Answered, rep.ClientsAnswered, rep.SBCAnswered, res.stderr)
	}
	if !strings.Contains(strings.Join(rep.Warnings, "\n"), "answered none of the 4 calls the clients saw answered") {
		t.Errorf("warnings %q", rep.Warnings)
	}
	res = runBinary(t, args...)
	if res.code != 1 || !strings.Contains(res.stdout, "\nwarning: the bench's SBC (") {
		t.Errorf("text: exit %d stdout %s", res.code, res.stdout)
	}
}

// TestBenchInterruptedSaysSo: SIGINT in the middle of a bench against a
// running daemon ends the calls in progress, prints the partial report
// (calls cut short counted as interrupted, none failed, the daemon's
// figures read), says on stderr that it was interrupted and how far it
// got, and exits 1; the daemon saw every call end (r25-bench F2).
func TestBenchInterruptedSaysSo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sbc := freeAddrs(t, 1)[0]
	lab := mediationtest.Start(t, mediationtest.Options{Configure: func(c *mediation.Config) { c.Gateways[0].Address = sbc }})
	p := startProc(t, "bench", "--edge", lab.Server.EdgeAddr().String(), "--sbc-listen", sbc,
		"--metrics", mediationtest.URL(lab.Server, "/metrics"), "--calls", "1000", "--cps", "50", "--duration", "10s",
		"--media=false", "--json")
	inProgress := func() bool {
		v, err := mediationtest.Metric(lab.Server, "mediationserver_calls_current", "direction", "outbound")
		return p.exited() || err == nil && v >= 5
	}
	if err := poll(ctx, inProgress); err != nil || p.exited() {
		t.Fatalf("no calls in progress: %v (stderr %q)", err, p.stderr.String())
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	code := p.wait(ctx, t)
	var out strings.Builder
	for line := range p.lines {
		out.WriteString(line + "\n")
	}
	rep := decodeBench(t, out.String())
	t.Logf("calls %d, as planned %d, failed %v, interrupted %d", rep.Calls, rep.Answered, rep.FailedBy, rep.Interrupted)
	if code != 1 || !strings.Contains(p.stderr.String(), "mediation: bench: interrupted: ") ||
		!strings.Contains(p.stderr.String(), " of 1000 calls placed\n") {
		t.Errorf("exit %d stderr %q; want 1 and the interruption said", code, p.stderr.String())
	}
	if rep.Interrupted < 5 || rep.Failed != 0 || rep.Answered+rep.Interrupted != rep.Calls || !rep.Daemon.Read {
		t.Errorf("calls %d: as planned %d, failed %d %v, interrupted %d, daemon read %v; want the calls in progress interrupted, none failed, the daemon read",
			rep.Calls, rep.Answered, rep.Failed, rep.FailedBy, rep.Interrupted, rep.Daemon.Read)
	}
	mediationtest.WaitMetric(t, lab.Server, 0, "mediationserver_calls_current", "direction", "outbound")
}

// TestBenchInterruptedBeforeFirstCall: a signal before the first call is
// placed still prints the (empty) partial report, text and JSON, with the
// interruption on stderr and exit status 1, as a later signal does
// (r25-reviewB #5: it exited 1 with no report). The run is held before
// its first call by a /metrics that does not answer its first read, the
// one taken before the first call, which the signal ends.
func TestBenchInterruptedBeforeFirstCall(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			reading := make(chan struct{})
			var reads atomic.Int32
			metrics := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if reads.Add(1) == 1 {
					close(reading)
					<-r.Context().Done() // the bench gave up on it
					return
				}
				http.Error(w, "not now", http.StatusServiceUnavailable)
			}))
			defer metrics.Close()
			addrs := freeAddrs(t, 2) // nothing answers on the edge: no call may be placed
			args := []string{"bench", "--edge", addrs[0], "--sbc-listen", addrs[1], "--metrics", metrics.URL + "/metrics",
				"--calls", "5", "--cps", "50", "--media=false"}
			if format == "json" {
				args = append(args, "--json")
			}
			p := startProc(t, args...)
			select {
			case <-reading:
			case <-p.done:
				t.Fatalf("exited %d before reading /metrics (stderr %q)", p.code, p.stderr.String())
			case <-ctx.Done():
				t.Fatalf("no /metrics read (stderr %q)", p.stderr.String())
			}
			_ = p.cmd.Process.Signal(syscall.SIGINT)
			code := p.wait(ctx, t)
			var out strings.Builder
			for line := range p.lines {
				out.WriteString(line + "\n")
			}
			if code != 1 || !strings.Contains(p.stderr.String(), "mediation: bench: interrupted: 0 of 5 calls placed\n") {
				t.Errorf("exit %d stderr %q; want 1 and the interruption said", code, p.stderr.String())
			}
			if format == "text" {
				if !strings.Contains(out.String(), "calls      0 started, 0 as planned") {
					t.Errorf("no partial report on stdout: %q", out.String())
				}
				return
			}
			rep := decodeBench(t, out.String())
			if rep.Calls != 0 || rep.Mode != "bypass" || rep.TargetCPS != 50 {
				t.Errorf("report %+v: want no call, of a bypass run at 50 calls/s", rep)
			}
		})
	}
}
