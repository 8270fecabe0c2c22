package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/mediation-emulator/mediation/mediation/metricspage"
)

// TestServeAppliesGC: mediation serve sets the process's GOGC from
// runtime.gc_percent (400 by default), as its Go metrics show.
func TestServeAppliesGC(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := startDaemon(ctx, t)
	page, err := metricspage.Get(ctx, http.DefaultClient, "http://"+d.http+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if got := page.First("go_gc_gogc_percent"); got != 400 {
		t.Errorf("go_gc_gogc_percent %v, want the default gc_percent 400", got)
	}
}
