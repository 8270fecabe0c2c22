package metricspage

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const page = `# TYPE calls_total counter
calls_total{direction="inbound"} 3
calls_total{direction="outbound"} 4
# TYPE go_goroutines gauge
go_goroutines 23
# TYPE odd untyped
odd 1.5
`

func TestGet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte(page))
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := Get(ctx, srv.Client(), srv.URL+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Sum("calls_total"); got != 7 {
		t.Errorf("Sum(calls_total) = %v, want 7", got)
	}
	if got := p.First("go_goroutines"); got != 23 {
		t.Errorf("First(go_goroutines) = %v, want 23", got)
	}
	if got := p.First("odd"); got != 1.5 {
		t.Errorf("First(odd) = %v, want 1.5 (untyped)", got)
	}
	if got := p.SumWhere("calls_total", "direction", "outbound"); got != 4 {
		t.Errorf("SumWhere(calls_total, direction=outbound) = %v, want 4", got)
	}
	if got := p.SumWhere("calls_total", "side", "edge") + p.SumWhere("absent", "direction", "outbound"); got != 0 {
		t.Errorf("SumWhere of no matching series = %v, want 0", got)
	}
	if got := p.First("absent") + p.Sum("absent"); got != 0 {
		t.Errorf("an absent series reads %v, want 0", got)
	}
	var dirs []string
	for _, m := range p["calls_total"].GetMetric() {
		dir, _ := Label(m, "direction")
		dirs = append(dirs, fmt.Sprintf("%s=%g", dir, Value(m)))
		if _, ok := Label(m, "side"); ok {
			t.Errorf("a series without a side label has one")
		}
	}
	if strings.Join(dirs, ",") != "inbound=3,outbound=4" {
		t.Errorf("series %v", dirs)
	}
	if _, err := Get(ctx, srv.Client(), srv.URL+"/nothing"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("a 404 page: err %v, want one naming the status", err)
	}
}
