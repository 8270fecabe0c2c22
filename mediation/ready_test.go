package mediation_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestReadyz checks /readyz against the trunks' health: ready with a trunk
// up, 503 naming the trunks when none is (TestDrainingRefusesCalls checks
// it while draining).
func TestReadyz(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var up atomic.Bool
	up.Store(true)
	lab, err := mediationtest.New(ctx, mediationtest.Options{Configure: func(c *mediation.Config) {
		c.Gateways = append(c.Gateways, mediation.GatewayConfig{Name: "backup", Address: "127.0.0.1:9", Transport: "udp"})
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := lab.Close(); err != nil {
			t.Error(err)
		}
	}()
	// Set before any request; the hook is read on every request after.
	lab.Server.SetTrunkStates(func() []mediation.TrunkState {
		return []mediation.TrunkState{{Name: "sbc", Up: up.Load()}, {Name: "backup", Up: false}}
	})
	url := mediationtest.URL(lab.Server, "/readyz")
	if code, body := adminDo(t, http.MethodGet, url, "", ""); code != 200 || string(body) != "ready\n" {
		t.Fatalf("/readyz with a trunk up = %d %q", code, body)
	}
	up.Store(false)
	if code, body := adminDo(t, http.MethodGet, url, "", ""); code != 503 || !strings.Contains(string(body), "no trunk up (down: sbc, backup)") {
		t.Fatalf("/readyz with every trunk down = %d %q", code, body)
	}
	if code, body := adminDo(t, http.MethodGet, mediationtest.AdminURL(lab.Server, "/gateways"), "", ""); code != 200 || !strings.Contains(string(body), `"up": false`) {
		t.Fatalf("GET /gateways = %d %s", code, body)
	}
}
