package mediation_test

import (
	"sync/atomic"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestTrunkHealthDownAndUp: a trunk that stops answering OPTIONS is
// marked down after max_fails probes (gauge 0, skipped by routing: its
// calls go to the backup without trying it), and up again on its first
// answer.
func TestTrunkHealthDownAndUp(t *testing.T) {
	first, backup := startPeer(t, "first"), startPeer(t, "backup")
	var mute atomic.Bool
	mute.Store(true)
	first.on(gosip.OPTIONS, func(req *gosip.Request, tx gosip.ServerTransaction) {
		if !mute.Load() {
			first.reply(req, tx, 200, nil)
		}
	})
	srv := serveTo(t, backup.addr(), "udp", func(c *mediation.Config) {
		c.Gateways = []mediation.GatewayConfig{trunkConfig("first", first, 0, "+1"), trunkConfig("backup", backup, 1, "+1")}
		c.GatewayHealth = mediation.HealthConfig{Enabled: true, Interval: 50 * time.Millisecond, DownInterval: 100 * time.Millisecond, MaxFails: 3}
	})
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_gateway_up", "gateway", "first")
	if v, _ := mediationtest.Metric(srv, "mediationserver_gateway_up", "gateway", "backup"); v != 1 {
		t.Errorf("backup up = %v, want 1", v)
	}
	if n := first.count(gosip.OPTIONS); n < 3 {
		t.Errorf("down after %d probes, want 3", n)
	}
	st := srv.TrunkStates()
	if len(st) != 2 || st[0].Name != "first" || st[0].Up || !st[1].Up {
		t.Errorf("TrunkStates() = %+v", st)
	}
	if code := placeCall(t, srv); code != 200 {
		t.Fatalf("call got %d", code)
	}
	if n := first.count(gosip.INVITE); n != 0 {
		t.Errorf("the down trunk got %d INVITEs", n)
	}
	mute.Store(false)
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_gateway_up", "gateway", "first")
	if code := placeCall(t, srv); code != 200 {
		t.Fatalf("call got %d", code)
	}
	if n := first.count(gosip.INVITE); n != 1 {
		t.Errorf("the trunk back up got %d INVITEs, want 1", n)
	}
}
