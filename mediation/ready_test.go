package mediation_test

import (
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestReadyz checks /readyz against the trunks' OPTIONS health: ready while
// a trunk answers, 503 naming the trunks once none does, ready again when
// one answers (TestDrainingRefusesCalls checks it while draining).
func TestReadyz(t *testing.T) {
	sbc := startPeer(t, "sbc")
	var mute atomic.Bool
	sbc.on(gosip.OPTIONS, func(req *gosip.Request, tx gosip.ServerTransaction) {
		if !mute.Load() {
			sbc.reply(req, tx, 200, nil)
		}
	})
	// The backup never answers: a UDP port nobody reads.
	hole, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
		c.Gateways = append(c.Gateways, mediation.GatewayConfig{Name: "backup", Address: hole.LocalAddr().String(), Transport: "udp"})
		c.GatewayHealth = mediation.HealthConfig{Enabled: true, Interval: 50 * time.Millisecond, DownInterval: 50 * time.Millisecond, MaxFails: 2}
	})
	url := mediationtest.URL(srv, "/readyz")
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_gateway_up", "gateway", "backup")
	if code, body := adminDo(t, http.MethodGet, url, "", ""); code != 200 || string(body) != "ready\n" {
		t.Fatalf("/readyz with a trunk up = %d %q", code, body)
	}
	mute.Store(true)
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_gateway_up", "gateway", "sbc")
	if code, body := adminDo(t, http.MethodGet, url, "", ""); code != 503 || !strings.Contains(string(body), "no trunk up (down: sbc, backup)") {
		t.Fatalf("/readyz with every trunk down = %d %q", code, body)
	}
	if code, body := adminDo(t, http.MethodGet, mediationtest.AdminURL(srv, "/gateways"), "", ""); code != 200 || !strings.Contains(string(body), `"up": false`) {
		t.Fatalf("GET /gateways = %d %s", code, body)
	}
	mute.Store(false)
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_gateway_up", "gateway", "sbc")
	if code, body := adminDo(t, http.MethodGet, url, "", ""); code != 200 {
		t.Fatalf("/readyz with the trunk back = %d %q", code, body)
	}
}
