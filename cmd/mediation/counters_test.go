package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestCounters: `mediation counters` shows a running server's counters
// under PerfMon's names; in watch mode the cumulative ones get a rate.
func TestCounters(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lab := mediationtest.Start(t, mediationtest.Options{})
	client, err := lab.NewClient(ctx, mediationtest.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lab.CallOut(ctx, client, endpoint.CallOptions{Duration: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	mediationtest.WaitMetric(t, lab.Server, 0, "mediationserver_calls_current", "direction", "outbound")
	url := strings.TrimSuffix(mediationtest.URL(lab.Server, "/"), "/")

	var out, errOut bytes.Buffer
	if code := countersRun(ctx, []string{"--url", url}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	// Lines with their blanks squeezed.
	var lines []string
	for _, l := range strings.Split(out.String(), "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	got := strings.Join(lines, "\n")
	for _, want := range []string{
		"LS:MediationServer - Outbound Calls\n- Current 0\n- Total 1\n- Active media bypass calls 0\n- Total media bypass calls 1\n",
		"LS:MediationServer - Global Counters\n- Current number of ports opened on the gateway side (pairs) 0\n",
		"Media bypass\n- Enabled 1\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := countersRun(ctx, []string{"--url", url, "--watch", "--interval", "10ms", "--count", "2"}, &out, &errOut); code != exitOK {
		t.Fatalf("watch: exit %d: %s", code, errOut.String())
	}
	if n := strings.Count(out.String(), "LS:MediationServer - Inbound Calls\n"); n != 2 {
		t.Errorf("watch --count 2 printed %d samples:\n%s", n, out.String())
	}
	if !strings.Contains(out.String(), "0.00/s") {
		t.Errorf("watch mode without rates:\n%s", out.String())
	}
	if code := countersRun(ctx, []string{"--url", "http://127.0.0.1:1"}, &out, &errOut); code != exitFailure {
		t.Errorf("unreachable server: exit %d", code)
	}
}

// TestCountersWatchThroughRestart: `counters --watch` goes on through a
// sample the server does not answer (a restart), saying so on stderr, and
// a cumulative counter that went back (the restarted server's) gets no
// rate rather than a negative one.
func TestCountersWatchThroughRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	pages := []string{"5", "", "7", "0"} // "" : the server is away
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		v := "0"
		if len(pages) > 0 {
			v, pages = pages[0], pages[1:]
		}
		if v == "" {
			http.Error(w, "restarting", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "# TYPE mediationserver_calls_total counter\nmediationserver_calls_total{direction=\"outbound\"} %s\n", v)
	}))
	defer srv.Close()
	var out, errOut bytes.Buffer
	if code := countersRun(ctx, []string{"--url", srv.URL, "--watch", "--interval", "10ms", "--count", "4"}, &out, &errOut); code != exitOK {
		t.Fatalf("watch through a failed sample: exit %d: %s", code, errOut.String())
	}
	if n := strings.Count(out.String(), "LS:MediationServer - Outbound Calls\n"); n != 3 {
		t.Errorf("printed %d samples, want the 3 answered:\n%s", n, out.String())
	}
	if !strings.Contains(errOut.String(), "watching on") {
		t.Errorf("the failed sample not reported: %q", errOut.String())
	}
	if regexp.MustCompile(`-[0-9.]+/s`).MatchString(out.String()) {
		t.Errorf("a negative rate after the counter went back:\n%s", out.String())
	}
}

// TestCountersWatchNothingAnswered: a bounded watch in which no sample
// was answered fails (exit 1) and says so; one answered sample is enough.
func TestCountersWatchNothingAnswered(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	var out, errOut bytes.Buffer
	code := countersRun(ctx, []string{"--url", dead, "--watch", "--interval", "10ms", "--count", "2"}, &out, &errOut)
	if code != exitFailure || out.Len() != 0 || !strings.Contains(errOut.String(), "mediation: counters: no sample answered (2 tried)\n") {
		t.Fatalf("watch of a dead server: exit %d stdout %q stderr %q; want 1 and the note", code, out.String(), errOut.String())
	}
	// Interrupted before any answer: the same.
	stopped, stop := context.WithCancel(ctx)
	stop()
	errOut.Reset()
	if code := countersRun(stopped, []string{"--url", dead, "--watch", "--interval", "10ms"}, &out, &errOut); code != exitFailure {
		t.Errorf("interrupted watch without an answer: exit %d, stderr %q", code, errOut.String())
	}
}
