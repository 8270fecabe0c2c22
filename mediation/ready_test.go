package mediation_test

import (
	"encoding/json"
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
// one answers (TestDrainingRefusesCalls checks it while draining). An
// OPTIONS to the edge, a pool proxy's probe, gets 200 and 503 with
// Retry-After alike, so that the proxy sends the clients' calls to a
// server that can place them (r28-pool F2: 200 while no trunk was up, and
// the calls waited for Timer B).
func TestReadyz(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	probe := startPeer(t, "probe").stack.Client("udp")
	edgeOptions := func(srv *mediation.Server) *gosip.Response {
		t.Helper()
		res, err := probe.Do(ctx, request(gosip.OPTIONS, srv.EdgeAddr().String(), "udp", nil))
		if err != nil {
			t.Fatalf("OPTIONS to the edge: %v", err)
		}
		return res
	}
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
	if res := edgeOptions(srv); res.StatusCode != 200 {
		t.Fatalf("edge OPTIONS with a trunk up = %d", res.StatusCode)
	}
	mute.Store(true)
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_gateway_up", "gateway", "sbc")
	if code, body := adminDo(t, http.MethodGet, url, "", ""); code != 503 || !strings.Contains(string(body), "no trunk up (down: sbc, backup)") {
		t.Fatalf("/readyz with every trunk down = %d %q", code, body)
	}
	if res := edgeOptions(srv); res.StatusCode != 503 || res.GetHeader("Retry-After") == nil || !strings.Contains(header(res, "Warning"), "no gateway trunk takes calls") {
		t.Fatalf("edge OPTIONS with every trunk down = %d (Retry-After %v, Warning %q), want 503 with both", res.StatusCode, res.GetHeader("Retry-After"), header(res, "Warning"))
	}
	if code, body := adminDo(t, http.MethodGet, mediationtest.AdminURL(srv, "/gateways"), "", ""); code != 200 || !strings.Contains(string(body), `"up": false`) {
		t.Fatalf("GET /gateways = %d %s", code, body)
	}
	mute.Store(false)
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_gateway_up", "gateway", "sbc")
	if code, body := adminDo(t, http.MethodGet, url, "", ""); code != 200 {
		t.Fatalf("/readyz with the trunk back = %d %q", code, body)
	}
	if res := edgeOptions(srv); res.StatusCode != 200 {
		t.Fatalf("edge OPTIONS with the trunk back = %d", res.StatusCode)
	}
}

// TestReadyzRestingTrunks: trunks resting after a 503 with Retry-After
// that still answer OPTIONS are up in GET /gateways (as the gauge has
// them), with unavailableUntil and takesCalls false; /readyz says they
// rest, not that they are down (r24-ops F2).
func TestReadyzRestingTrunks(t *testing.T) {
	first, backup := startPeer(t, "first"), startPeer(t, "backup")
	for _, p := range []*peer{first, backup} {
		p := p
		p.on(gosip.OPTIONS, func(req *gosip.Request, tx gosip.ServerTransaction) { p.reply(req, tx, 200, nil) })
		p.invites(func(pi *peerInvite) { pi.respond(503, nil, gosip.NewHeader("Retry-After", "60")) })
	}
	srv := serveTo(t, backup.addr(), "udp", func(c *mediation.Config) {
		c.Gateways = []mediation.GatewayConfig{trunkConfig("first", first, 0, "+1"), trunkConfig("backup", backup, 1, "+1")}
		c.GatewayHealth = mediation.HealthConfig{Enabled: true, Interval: 50 * time.Millisecond, DownInterval: 50 * time.Millisecond, MaxFails: 2}
		c.GatewayFailover.Timeout = 500 * time.Millisecond
	})
	url := mediationtest.URL(srv, "/readyz")
	if code, body := adminDo(t, http.MethodGet, url, "", ""); code != 200 {
		t.Fatalf("/readyz before the 503s = %d %q", code, body)
	}
	if code := placeCall(t, srv); code < 500 {
		t.Fatalf("call to two trunks answering 503 got %d", code)
	}
	_, body := adminDo(t, http.MethodGet, mediationtest.AdminURL(srv, "/gateways"), "", "")
	var trunks []mediation.TrunkState
	if err := json.Unmarshal(body, &trunks); err != nil || len(trunks) != 2 {
		t.Fatalf("GET /gateways: %v %s", err, body)
	}
	for _, tr := range trunks {
		if !tr.Up || tr.TakesCalls || tr.UnavailableUntil == nil || !strings.Contains(string(body), `"takesCalls": false`) {
			t.Errorf("resting trunk %s: %+v, want up, not taking calls, unavailableUntil set", tr.Name, tr)
		}
	}
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_gateway_up", "gateway", "first")
	code, ready := adminDo(t, http.MethodGet, url, "", "")
	if code != 503 || !strings.Contains(string(ready), "no trunk takes calls (resting after a 503 with Retry-After: first until ") ||
		!strings.Contains(string(ready), ", backup until ") || strings.Contains(string(ready), "down") {
		t.Errorf("/readyz with both trunks resting = %d %q", code, ready)
	}
}
