package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestKillUnderLoad: `mediation serve` killed with SIGKILL while `mediation
// bench` loads it leaves a records file of whole JSON lines only, and a
// daemon started again at once binds the same addresses.
func TestKillUnderLoad(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	records := filepath.Join(dir, "calls.jsonl")
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte("records:\n  path: "+records+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := freeAddrs(t, 5)
	edge, gw, httpAddr, admin, sbc := a[0], a[1], a[2], a[3], a[4]
	serve := func() *proc {
		return startProc(t, "serve", "--config", config, "--edge-listen", edge, "--gateway-listen", gw,
			"--http-listen", httpAddr, "--admin-listen", admin, "--gateway", sbc, "--media-ports", "30000-33999",
			"--log-level", "error", "--log-format", "json")
	}
	d := serve()
	if err := poll(ctx, func() bool { return d.exited() || healthy("http://"+httpAddr+"/healthz") }); err != nil || d.exited() {
		t.Fatalf("mediation serve not healthy: %v (stderr %q)", err, d.stderr.String())
	}
	load := startProc(t, "bench", "--edge", edge, "--sbc-listen", sbc, "--cps", "100", "--calls", "100000",
		"--duration", "200ms", "--mode", "mixed", "--log-level", "disabled")
	defer load.stop(t)
	lines := func() int {
		b, _ := os.ReadFile(records)
		return bytes.Count(b, []byte("\n"))
	}
	if err := poll(ctx, func() bool { return lines() >= 50 || load.exited() }); err != nil || load.exited() {
		t.Fatalf("no load: %d records (%v), bench stderr %q", lines(), err, load.stderr.String())
	}
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-d.done

	f, err := os.Open(records)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || rec["callId"] == nil {
			t.Fatalf("record %d is not a whole JSON record (%v): %q", n, err, sc.Text())
		}
	}
	if n < 50 {
		t.Fatalf("%d records", n)
	}
	raw, _ := os.ReadFile(records)
	if len(raw) > 0 && raw[len(raw)-1] != '\n' {
		t.Fatalf("the records file ends in a partial line: %q", raw[max(0, len(raw)-80):])
	}

	// At once, on the same addresses, while the bench still calls.
	again := serve()
	if err := poll(ctx, func() bool { return again.exited() || healthy("http://"+httpAddr+"/healthz") }); err != nil || again.exited() {
		t.Fatalf("restart on the same addresses: %v (exit %d, stderr %q)", err, again.code, again.stderr.String())
	}
}
