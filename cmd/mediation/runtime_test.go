package main

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediation-emulator/mediation/mediation/metricspage"
)

// TestServeAppliesGC: mediation serve sets the process's GOGC from
// runtime.gc_percent (400 by default), as its Go metrics show, and its
// start line says what it applied.
func TestServeAppliesGC(t *testing.T) {
	// The environment would win over the config (and the child inherits
	// ours); empty is unset for both the runtime and serve.
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := freeAddrs(t, 5)
	p := startProc(t, "serve", "--config", filepath.Join("..", "..", "testdata", "config", "lab.yaml"),
		"--edge-listen", a[0], "--gateway-listen", a[1], "--http-listen", a[2], "--admin-listen", a[3],
		"--gateway", a[4], "--log-level", "info", "--log-format", "json")
	const started = `"gc":"gc_percent 400, no memory limit"`
	if err := poll(ctx, func() bool { return p.exited() || strings.Contains(p.stderr.String(), started) }); err != nil || p.exited() {
		t.Fatalf("no start line with %s: %v (stderr %q)", started, err, p.stderr.String())
	}
	page, err := metricspage.Get(ctx, http.DefaultClient, "http://"+a[2]+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if got := page.First("go_gc_gogc_percent"); got != 400 {
		t.Errorf("go_gc_gogc_percent %v, want the default gc_percent 400", got)
	}
}
