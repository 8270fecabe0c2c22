package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// stateClient keeps no connections, for the goroutine-leak check.
var stateClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func roundID(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

// savedID is the BypassID in the state file.
func savedID(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Settings struct{ BypassID string } }
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("state file after SIGKILL is not whole: %v: %q", err, data)
	}
	return f.Settings.BypassID
}

// TestServeStateSurvivesKill kills `mediation serve` with SIGKILL while a
// client changes the settings as fast as it can, several times: every
// restart must come up on a whole state file holding the last change that
// was answered, or the one in flight, and serve exactly that.
func TestServeStateSurvivesKill(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	path := filepath.Join(t.TempDir(), "state.json")
	want := "" // the BypassID the next start must serve; "" before any change
	n := 0
	for round := 0; round < 12; round++ {
		a := freeAddrs(t, 4)
		admin := "http://" + a[3]
		p := startProc(t, "serve", "--edge-listen", a[0], "--gateway-listen", a[1], "--http-listen", a[2],
			"--admin-listen", a[3], "--state", path, "--log-level", "warn", "--log-format", "json")
		if err := poll(ctx, func() bool { return p.exited() || healthy("http://"+a[2]+"/healthz") }); err != nil || p.exited() {
			t.Logf("serve did not start (a port was taken?): %v %s", err, p.stderr.String())
			round--
			continue
		}
		if want != "" {
			res, err := stateClient.Get(admin + "/settings")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if !strings.Contains(string(body), `"BypassID": "`+want+`"`) {
				t.Fatalf("round %d: restarted with %s, want BypassID %s", round, body, want)
			}
		}
		// Change the settings in a tight loop until the server dies.
		var acked atomic.Int64
		stopped := make(chan struct{})
		first := n + 1
		go func() {
			defer close(stopped)
			for i := first; ; i++ {
				req, _ := http.NewRequest(http.MethodPatch, admin+"/settings", strings.NewReader(`{"BypassID":"`+roundID(i)+`"}`))
				req.Header.Set("Content-Type", "application/json")
				res, err := stateClient.Do(req)
				if err != nil {
					return
				}
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					return
				}
				acked.Store(int64(i))
			}
		}()
		killAfter := int64(first + 1 + rand.IntN(15))
		if err := poll(ctx, func() bool { return acked.Load() >= killAfter }); err != nil {
			t.Fatalf("round %d: only %d changes answered", round, acked.Load())
		}
		if err := p.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-p.done
		<-stopped
		last := int(acked.Load())
		got := savedID(t, path)
		if got != roundID(last) && got != roundID(last+1) {
			t.Fatalf("round %d: state holds %s after SIGKILL; want the last answered change %s or the one in flight", round, got, roundID(last))
		}
		t.Logf("round %d: killed after change %d answered; state holds %s", round, last, got)
		want = got
		n = last + 1
	}
}
