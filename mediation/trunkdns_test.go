package mediation_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/gateway/dnstest"
	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestTrunkByHostName: a trunk configured as "sbc.test" (no port) is
// found through its SRV record on a local DNS server with a 1 s TTL. Calls
// and OPTIONS probes go to the SRV target; when the record moves to an SBC
// on another address, after the TTL calls and probes go there and that
// address is trusted (the old one no longer); while the DNS server fails,
// the last good address stays.
func TestTrunkByHostName(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	sbc1 := startPeer(t, "sbc1")
	sbc2 := startPeerOn(t, "sbc2", netip.MustParseAddrPort("127.0.0.2:0"), nil)
	srvRecord := func(target string, p *peer) []string {
		return []string{
			fmt.Sprintf("_sip._udp.sbc.test. 1 IN SRV 0 1 %d %s.", p.addr().Port(), target),
			fmt.Sprintf("%s. 1 IN A %s", target, p.addr().Addr()),
		}
	}
	zone := dnstest.Start(t)
	zone.Set(srvRecord("a.sbc.test", sbc1)...)
	srv := serveTo(t, sbc1.addr(), "udp", func(c *mediation.Config) {
		c.Gateways = []mediation.GatewayConfig{{Name: "sbc", Address: "sbc.test", Transport: "udp"}}
		c.GatewayDNS = mediation.GatewayDNSConfig{Resolver: zone.Addr(), MinTTL: time.Second, MaxTTL: time.Hour}
		c.GatewayHealth.Interval = 100 * time.Millisecond
	})
	client := startClient(t, ctx, "")
	call := func() {
		t.Helper()
		rep, err := client.Call(ctx, endpoint.CallOptions{Target: srv.EdgeAddr(), To: "+15550100", From: "+15550111", Duration: 20 * time.Millisecond})
		if err != nil || rep.Code != 200 {
			t.Fatalf("call: code %d, err %v", rep.Code, err)
		}
	}
	options := func(p *peer) {
		t.Helper()
		req := request(gosip.OPTIONS, srv.GatewayAddr().String(), "udp", nil)
		if err := p.stack.Client("udp").WriteRequest(req); err != nil {
			t.Fatal(err)
		}
	}
	untrusted := func() float64 {
		v, _ := mediationtest.Metric(srv, "mediationserver_untrusted_requests_total", "side", "gateway")
		return v
	}

	call()
	if n1, n2 := sbc1.count(gosip.INVITE), sbc2.count(gosip.INVITE); n1 != 1 || n2 != 0 {
		t.Fatalf("INVITEs: %d to the SRV target, %d to the other SBC; want 1, 0", n1, n2)
	}
	sbc1.wait(ctx, gosip.OPTIONS, 1)
	// sbc2's address is no trunk's yet: its OPTIONS are dropped and counted.
	options(sbc2)
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_untrusted_requests_total", "side", "gateway")

	zone.Set(srvRecord("b.sbc.test", sbc2)...)
	for srv.Trunks()[0].Address != sbc2.addr().String() {
		select {
		case <-ctx.Done():
			t.Fatalf("the trunk is still at %s after the record changed", srv.Trunks()[0].Address)
		case <-time.After(20 * time.Millisecond):
		}
	}
	call()
	if n1, n2 := sbc1.count(gosip.INVITE), sbc2.count(gosip.INVITE); n1 != 1 || n2 != 1 {
		t.Fatalf("INVITEs after the change: %d to the old target, %d to the new; want 1, 1", n1, n2)
	}
	sbc2.wait(ctx, gosip.OPTIONS, 1)
	// The new address is trusted (its OPTIONS answered, not counted), the old one no more.
	before := untrusted()
	res, err := sbc2.stack.Client("udp").Do(ctx, request(gosip.OPTIONS, srv.GatewayAddr().String(), "udp", nil))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("OPTIONS from the new address: %v, %v", res, err)
	}
	options(sbc1)
	mediationtest.WaitMetric(t, srv, before+1, "mediationserver_untrusted_requests_total", "side", "gateway")

	// The DNS server fails: lookups go on, the last good address stays.
	zone.Fail()
	n := zone.Queries("_sip._udp.sbc.test")
	for zone.Queries("_sip._udp.sbc.test") < n+2 {
		select {
		case <-ctx.Done():
			t.Fatal("no lookups while the DNS server fails")
		case <-time.After(20 * time.Millisecond):
		}
	}
	call()
	if n2 := sbc2.count(gosip.INVITE); n2 != 2 || srv.Trunks()[0].Address != sbc2.addr().String() {
		t.Errorf("while DNS fails: %d INVITEs to the last good target (want 2), trunk at %s", n2, srv.Trunks()[0].Address)
	}
}

// TestTrunkHostNameUnresolvable: a trunk whose name does not resolve at
// start is an error naming it, before anything binds.
func TestTrunkHostNameUnresolvable(t *testing.T) {
	zone := dnstest.Start(t)
	cfg := labConfig(netip.MustParseAddrPort("127.0.0.1:5060"), "udp")
	cfg.Gateways = []mediation.GatewayConfig{{Name: "sbc", Address: "nowhere.test:5060", Transport: "udp"}}
	cfg.GatewayDNS.Resolver = zone.Addr()
	_, err := mediation.NewServer(cfg, testLog(t))
	if err == nil {
		t.Fatal("a server with an unresolvable trunk was made")
	}
	t.Log(err)
}
