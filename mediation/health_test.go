package mediation_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/gateway/dnstest"
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

// TestTrunkHealthPerAddress: a trunk whose SRV records give two SBCs is
// probed at both. When the first stops answering OPTIONS the trunk stays
// up (gauge, /readyz, /gateways with each address's state) and its calls
// go straight to the second address, not to the backup trunk and not
// through the dead one; with both silent the trunk is down and the backup
// takes the calls; when the first answers again the trunk is up and the
// silent second address is skipped.
func TestTrunkHealthPerAddress(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	a := startPeerOn(t, "a", netip.MustParseAddrPort("127.0.0.2:0"), nil)
	b := startPeerOn(t, "b", netip.MustParseAddrPort("127.0.0.3:0"), nil)
	backup := startPeerOn(t, "backup", netip.MustParseAddrPort("127.0.0.4:0"), nil)
	var muteA, muteB atomic.Bool
	for _, p := range []struct {
		peer *peer
		mute *atomic.Bool
	}{{a, &muteA}, {b, &muteB}} {
		p.peer.on(gosip.OPTIONS, func(req *gosip.Request, tx gosip.ServerTransaction) {
			if !p.mute.Load() {
				p.peer.reply(req, tx, 200, nil)
			}
		})
	}
	zone := dnstest.Start(t)
	zone.Set(
		fmt.Sprintf("_sip._udp.sbc.test. 60 IN SRV 0 1 %d a.sbc.test.", a.addr().Port()),
		fmt.Sprintf("_sip._udp.sbc.test. 60 IN SRV 0 1 %d b.sbc.test.", b.addr().Port()),
		fmt.Sprintf("a.sbc.test. 60 IN A %s", a.addr().Addr()),
		fmt.Sprintf("b.sbc.test. 60 IN A %s", b.addr().Addr()),
	)
	records := filepath.Join(t.TempDir(), "records.jsonl")
	srv := serveTo(t, b.addr(), "udp", func(c *mediation.Config) {
		c.Gateways = []mediation.GatewayConfig{{Name: "d", Address: "sbc.test", Transport: "udp", Numbers: []string{"+1"}},
			trunkConfig("backup", backup, 1, "+1")}
		c.GatewayDNS = mediation.GatewayDNSConfig{Resolver: zone.Addr(), MinTTL: time.Second, MaxTTL: time.Hour}
		c.GatewayHealth = mediation.HealthConfig{Enabled: true, Interval: 50 * time.Millisecond, DownInterval: 100 * time.Millisecond, MaxFails: 3}
		// A call sent to a dead address would wait this long: the test's
		// deadline would end first.
		c.GatewayFailover.Timeout = time.Minute
		c.Records.Path = records
	})
	addrUp := func(st mediation.TrunkState, p *peer) (up, listed bool) {
		for _, ta := range st.Addresses {
			if ta.Address == p.addr().String() {
				return ta.Up, true
			}
		}
		return false, false
	}
	// waitAddr waits until the probes' verdict on p's address is up.
	waitAddr := func(p *peer, up bool) {
		t.Helper()
		for {
			if got, ok := addrUp(srv.TrunkStates()[0], p); ok && got == up {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("address %s never up=%v: %+v", p.addr(), up, srv.TrunkStates()[0])
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	// calls places n calls and checks how many INVITEs each SBC got.
	calls := func(n int, wantA, wantB, wantBackup int, tried string) {
		t.Helper()
		for range n {
			if code := placeCall(t, srv); code != 200 {
				t.Fatalf("call got %d", code)
			}
			checkTried(t, srv, records, tried)
		}
		if na, nb, ng := a.count(gosip.INVITE), b.count(gosip.INVITE), backup.count(gosip.INVITE); na != wantA || nb != wantB || ng != wantBackup {
			t.Fatalf("INVITEs: %d at the first address, %d at the second, %d at the backup trunk; want %d, %d, %d", na, nb, ng, wantA, wantB, wantBackup)
		}
	}

	// answered is whether a probe at p's address got a reply (GET
	// /gateways addresses[].answered).
	answered := func(st mediation.TrunkState, p *peer) bool {
		for _, ta := range st.Addresses {
			if ta.Address == p.addr().String() {
				return ta.Answered
			}
		}
		return false
	}
	for !answered(srv.TrunkStates()[0], a) {
		select {
		case <-ctx.Done():
			t.Fatalf("address %s never answered a probe: %+v", a.addr(), srv.TrunkStates()[0])
		case <-time.After(10 * time.Millisecond):
		}
	}

	// The first address falls silent: the trunk stays up on the second.
	muteA.Store(true)
	waitAddr(a, false)
	b.wait(ctx, gosip.OPTIONS, 1)
	if st := srv.TrunkStates()[0]; !st.Up || len(st.Addresses) != 2 {
		t.Fatalf("trunk with one address silent: %+v; want up, two addresses", st)
	}
	if up, _ := addrUp(srv.TrunkStates()[0], b); !up {
		t.Fatal("the answering address is not up")
	}
	if v, _ := mediationtest.Metric(srv, "mediationserver_gateway_up", "gateway", "d"); v != 1 {
		t.Errorf("mediationserver_gateway_up{gateway=d} = %v, want 1", v)
	}
	if code, body := adminDo(t, http.MethodGet, mediationtest.URL(srv, "/readyz"), "", ""); code != 200 {
		t.Errorf("/readyz: %d %s", code, body)
	}
	_, body := adminDo(t, http.MethodGet, mediationtest.AdminURL(srv, "/gateways"), "", "")
	var listed []mediation.TrunkState
	if err := json.Unmarshal(body, &listed); err != nil || len(listed) != 2 || len(listed[0].Addresses) != 2 {
		t.Fatalf("GET /gateways: %v %s; want d's two addresses", err, body)
	}
	if up, _ := addrUp(listed[0], a); up || !listed[0].Up {
		t.Errorf("GET /gateways: %s; want d up, its first address down", body)
	}
	// README: answered is "true once one of its probes got a reply", down
	// or not (r25 F3: it turned false with up).
	if !answered(listed[0], a) {
		t.Errorf("GET /gateways: %s; want the first address answered: its probes got replies before it fell silent", body)
	}
	calls(4, 0, 4, 0, "d")
	if v, _ := mediationtest.Metric(srv, "mediationserver_gateway_target_retries_total", "gateway", "d", "reason", "no_provisional"); v != 0 {
		t.Errorf("%v calls went through the silent address first", v)
	}

	// Both silent: the trunk is down, the backup takes the calls.
	muteB.Store(true)
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_gateway_up", "gateway", "d")
	calls(1, 0, 4, 1, "backup")

	// The first answers again: the trunk is up, the second is skipped.
	muteA.Store(false)
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_gateway_up", "gateway", "d")
	calls(4, 4, 4, 1, "d")
}
