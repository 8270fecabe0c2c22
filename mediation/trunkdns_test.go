package mediation_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"sync/atomic"
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
	zone := dnstest.Start(t)
	zone.Set(srvRecords("a.sbc.test", sbc1)...)
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

	zone.Set(srvRecords("b.sbc.test", sbc2)...)
	waitTrunkAt(ctx, t, srv, sbc2)
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
	// (The first call's pin of the old address lasts 64*T1 past its end.)
	untrustedAgain(ctx, t, srv, sbc1, before)

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
	if n2 := sbc2.count(gosip.INVITE); n2 != 2 || srv.TrunkStates()[0].Address != sbc2.addr().String() {
		t.Errorf("while DNS fails: %d INVITEs to the last good target (want 2), trunk at %s", n2, srv.TrunkStates()[0].Address)
	}
}

// TestTrunkHostNameUnresolvable: a trunk whose name does not resolve at
// start does not stop the server: it has no address, takes no calls (503,
// /readyz and mediationserver_gateway_up say why), and once the name
// resolves it comes up and takes calls.
func TestTrunkHostNameUnresolvable(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	sbc := startPeer(t, "sbc")
	zone := dnstest.Start(t)
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
		c.Gateways = []mediation.GatewayConfig{{Name: "sbc", Address: fmt.Sprintf("sbc.test:%d", sbc.addr().Port()), Transport: "udp"}}
		c.GatewayDNS = mediation.GatewayDNSConfig{Resolver: zone.Addr(), MinTTL: time.Second, MaxTTL: time.Hour}
	})
	if st := srv.TrunkStates()[0]; !st.Unresolved || st.Up || st.Address != "" {
		t.Fatalf("trunk at start: %+v; want unresolved, down, no address", st)
	}
	if _, body := adminDo(t, http.MethodGet, mediationtest.URL(srv, "/metrics"), "", ""); !strings.Contains(string(body), "mediationserver_gateway_up{gateway=\"sbc\"} 0\n") {
		t.Error("/metrics has no mediationserver_gateway_up{gateway=\"sbc\"} 0 for the unresolved trunk")
	}
	if code, body := adminDo(t, http.MethodGet, mediationtest.URL(srv, "/readyz"), "", ""); code != 503 || !strings.Contains(string(body), "no trunk up") {
		t.Errorf("/readyz: %d %q; want 503 no trunk up", code, body)
	}
	if code, body := adminDo(t, http.MethodGet, mediationtest.AdminURL(srv, "/gateways"), "", ""); code != 200 || !strings.Contains(string(body), `"unresolved": true`) {
		t.Errorf("GET /gateways = %d %s; want the trunk unresolved", code, body)
	}
	client := startClient(t, ctx, "")
	call := func() int {
		t.Helper()
		rep, err := client.Call(ctx, endpoint.CallOptions{Target: srv.EdgeAddr(), To: "+15550100", From: "+15550111", Duration: 20 * time.Millisecond})
		if err != nil {
			t.Fatalf("call: %v", err)
		}
		return rep.Code
	}
	if code := call(); code != 503 {
		t.Errorf("call while the trunk is unresolved: %d, want 503", code)
	}
	if n := sbc.count(gosip.INVITE); n != 0 {
		t.Errorf("%d INVITEs reached the SBC before its name resolved", n)
	}

	zone.Set(fmt.Sprintf("sbc.test. 1 IN A %s", sbc.addr().Addr()))
	for srv.TrunkStates()[0].Unresolved {
		select {
		case <-ctx.Done():
			t.Fatal("the trunk's name resolves now, but the trunk stays unresolved")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if code := call(); code != 200 {
		t.Fatalf("call once the name resolves: %d, want 200", code)
	}
	if n := sbc.count(gosip.INVITE); n != 1 {
		t.Errorf("%d INVITEs at the SBC, want 1", n)
	}
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_gateway_up", "gateway", "sbc")
}

// TestTrunkNextSRVTarget: when a call to a trunk's first SRV target fails
// at transport level (a TCP port that refuses) or gets no answer at all
// (a UDP address that swallows the INVITE: no provisional within the
// failover timer, or with fast failover off no response within Timer B),
// the next target of the same trunk is tried (RFC 3263 §4.3) before the
// other trunk that serves the number; the caller sees one call and the
// record names the trunk once.
func TestTrunkNextSRVTarget(t *testing.T) {
	for _, tc := range []struct {
		name, transport, reason string
		failover                bool
	}{
		{"tcp refused", "tcp", "unreachable", false},
		{"tcp refused, failover on", "tcp", "unreachable", true},
		{"udp silent", "udp", "no_provisional", true},
		{"udp silent, failover off", "udp", "timeout", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 60*time.Second)
			live := startPeerOn(t, "live", netip.MustParseAddrPort("127.0.0.2:0"), nil)
			// Another trunk for the same numbers: it must not be tried
			// while the first trunk has an address left.
			backup := startPeerOn(t, "backup", netip.MustParseAddrPort("127.0.0.4:0"), nil)
			var dead netip.AddrPort
			if tc.transport == "tcp" {
				dead = refusedTCP(t, netip.MustParseAddr("127.0.0.3"))
			} else {
				dead, _ = silentUDP(t, netip.MustParseAddr("127.0.0.3"))
			}
			zone := dnstest.Start(t)
			zone.Set(srvPair(tc.transport, dead, live.addr())...)
			records := filepath.Join(t.TempDir(), "records.jsonl")
			srv := serveTo(t, live.addr(), tc.transport, func(c *mediation.Config) {
				c.Gateways = []mediation.GatewayConfig{{Name: "sbc", Address: "sbc.test", Transport: tc.transport},
					{Name: "backup", Address: backup.addr().String(), Transport: tc.transport, Priority: 1}}
				c.GatewayDNS = mediation.GatewayDNSConfig{Resolver: zone.Addr(), MinTTL: time.Second, MaxTTL: time.Hour}
				c.GatewayFailover.Enabled = tc.failover
				c.GatewayFailover.Timeout = 300 * time.Millisecond
				c.Records.Path = records
			})
			client := startClient(t, ctx, "")
			rep, err := client.Call(ctx, endpoint.CallOptions{Target: srv.EdgeAddr(), To: "+15550100", From: "+15550111", Duration: 20 * time.Millisecond})
			if err != nil || rep.Code != 200 {
				t.Fatalf("call: code %d, err %v; want 200 from the second target", rep.Code, err)
			}
			if n, b := live.count(gosip.INVITE), backup.count(gosip.INVITE); n != 1 || b != 0 {
				t.Errorf("%d INVITEs at the second SRV target, %d at the other trunk; want 1, 0", n, b)
			}
			mediationtest.WaitMetric(t, srv, 1, "mediationserver_gateway_target_retries_total", "gateway", "sbc", "reason", tc.reason)
			checkTried(t, srv, records, "sbc")
		})
	}
}

// TestTrunkMovesMidCall: a call in progress when its DNS-named trunk's
// record moves to another SBC stays with the SBC it was set up with (the
// README's "calls in progress stay where they are"): that SBC's 200 after
// the move reaches the caller and is ACKed, and its BYE ends the call.
// Before, the old address left the trust list with the record: the 200
// was dropped as untrusted, the call rang to its ring timeout holding its
// slot, and the SBC's BYE of an answered call was dropped too. Once the
// call has ended (and its transactions' 64*T1 have passed), the old
// address is untrusted again; its dropped responses are counted as
// responses, not requests.
func TestTrunkMovesMidCall(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	sbc1 := startPeer(t, "sbc1")
	sbc2 := startPeerOn(t, "sbc2", netip.MustParseAddrPort("127.0.0.2:0"), nil)
	zone := dnstest.Start(t)
	zone.Set(srvRecords("a.sbc.test", sbc1)...)
	ringing, answer := make(chan *peerInvite, 1), make(chan struct{})
	sbc1.invites(func(pi *peerInvite) {
		pi.respond(180, nil)
		ringing <- pi
		select {
		case <-answer:
		case <-ctx.Done():
			return
		}
		pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
		pi.waitAck(ctx)
	})
	srv := serveTo(t, sbc1.addr(), "udp", func(c *mediation.Config) {
		c.Gateways = []mediation.GatewayConfig{{Name: "sbc", Address: "sbc.test", Transport: "udp"}}
		c.GatewayDNS = mediation.GatewayDNSConfig{Resolver: zone.Addr(), MinTTL: time.Second, MaxTTL: time.Hour}
	})
	caller := startPeer(t, "caller")
	oc := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"))
	var pi *peerInvite
	select {
	case pi = <-ringing:
	case <-ctx.Done():
		t.Fatal("the SBC never got the INVITE")
	}
	zone.Set(srvRecords("b.sbc.test", sbc2)...)
	waitTrunkAt(ctx, t, srv, sbc2)
	close(answer)
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("caller got %d %s, want the old SBC's 200", res.StatusCode, res.Reason)
	}
	if err := oc.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	sbc1.wait(ctx, gosip.ACK, 1)
	if res := pi.do(ctx, pi.inDialog(gosip.BYE, 1, nil)); res.StatusCode != 200 {
		t.Fatalf("the old SBC's BYE got %d, want 200", res.StatusCode)
	}
	caller.wait(ctx, gosip.BYE, 1)
	waitCalls(t, srv, 0)
	if v, _ := mediationtest.Metric(srv, "mediationserver_untrusted_requests_total", "side", "gateway"); v != 0 {
		t.Errorf("%v untrusted requests counted during the call, want 0", v)
	}
	// The call is over: after its transactions' time the old address is a
	// stranger again. Its OPTIONS are dropped, and a response from it is
	// counted as a response.
	untrustedAgain(ctx, t, srv, sbc1, 0)
	stray := gosip.NewResponseFromRequest(request(gosip.OPTIONS, srv.GatewayAddr().String(), "udp", nil), 200, "OK", nil)
	conn, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(sbc1.addr().Addr(), 0)), net.UDPAddrFromAddrPort(srv.GatewayAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(stray.String())); err != nil {
		t.Fatal(err)
	}
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_untrusted_responses_total", "side", "gateway")
}

// untrustedAgain sends OPTIONS from p to the gateway side until one is
// counted as untrusted (the count above before): p's address has left the
// trust list, calls' pins of it included.
func untrustedAgain(ctx context.Context, t *testing.T, srv *mediation.Server, p *peer, before float64) {
	t.Helper()
	for {
		req := request(gosip.OPTIONS, srv.GatewayAddr().String(), "udp", nil)
		_ = p.stack.Client("udp").WriteRequest(req)
		if v, _ := mediationtest.Metric(srv, "mediationserver_untrusted_requests_total", "side", "gateway"); v > before {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s is still trusted", p.addr())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// srvRecords are the zone lines of sbc.test's SRV record pointing at
// target, a name for p's address, with a 1 s TTL.
func srvRecords(target string, p *peer) []string {
	return []string{
		fmt.Sprintf("_sip._udp.sbc.test. 1 IN SRV 0 1 %d %s.", p.addr().Port(), target),
		fmt.Sprintf("%s. 1 IN A %s", target, p.addr().Addr()),
	}
}

// waitTrunkAt waits until the server's first trunk is at p's address.
func waitTrunkAt(ctx context.Context, t *testing.T, srv *mediation.Server, p *peer) {
	t.Helper()
	for srv.TrunkStates()[0].Address != p.addr().String() {
		select {
		case <-ctx.Done():
			t.Fatalf("the trunk is still at %s after the record changed", srv.TrunkStates()[0].Address)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestTrunkNextSRVTargetKeepsTrunkSettings: the INVITE a trunk's second SRV
// target gets after the first refused TCP (RFC 3263 §4.3) is the same
// trunk's, so it carries the trunk's settings as the first attempt did:
// session_timer (Session-Expires), prack (Require: 100rel when required, no
// 100rel at all when off) and ring_timeout (the call ringing there ends with
// 408 after 1 s, not the 180 s default). Before, the retry's callee leg had
// empty settings (r28-trunks F1).
func TestTrunkNextSRVTargetKeepsTrunkSettings(t *testing.T) {
	for i, prack := range []string{mediation.PrackRequired, mediation.PrackOff} {
		t.Run("prack "+prack, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			live := startPeerOn(t, "live", netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 67, byte(2 + 2*i)}), 0), nil)
			live.invites(func(pi *peerInvite) {
				pi.respond(180, nil)
				<-pi.tx.Done()
			})
			dead := refusedTCP(t, netip.AddrFrom4([4]byte{127, 0, 67, byte(3 + 2*i)}))
			zone := dnstest.Start(t)
			zone.Set(srvPair("tcp", dead, live.addr())...)
			srv := serveTo(t, live.addr(), "tcp", func(c *mediation.Config) {
				gw := mediation.GatewayConfig{Name: "sbc", Address: "sbc.test", Transport: "tcp"}
				gw.SessionTimer = mediation.SessionTimerConfig{Enabled: true, Expires: 600 * time.Second}
				gw.Prack = prack
				gw.RingTimeout = time.Second
				c.Gateways = []mediation.GatewayConfig{gw}
				c.GatewayDNS = mediation.GatewayDNSConfig{Resolver: zone.Addr(), MinTTL: time.Second, MaxTTL: time.Hour}
			})
			caller := startPeer(t, "caller")
			start := time.Now()
			// Within 10 s: the 180 s default would run into ctx.
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			oc := caller.call(wctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"))
			inv := live.wait(ctx, gosip.INVITE, 1)
			if inv.GetHeader("Session-Expires") == nil {
				t.Error("INVITE to the trunk's next address has no Session-Expires (trunk session_timer enabled)")
			}
			require := inv.GetHeader("Require")
			supported := inv.GetHeader("Supported")
			switch {
			case prack == mediation.PrackRequired && (require == nil || !strings.Contains(require.Value(), "100rel")):
				t.Errorf("INVITE to the trunk's next address: Require %v; want 100rel (trunk prack: required)", require)
			case prack == mediation.PrackOff && supported != nil && strings.Contains(supported.Value(), "100rel"):
				t.Errorf("INVITE to the trunk's next address: Supported %q; want no 100rel (trunk prack: off)", supported.Value())
			}
			if res := oc.answer(wctx, nil); res.StatusCode != 408 {
				t.Errorf("caller got %d, want 408 after the trunk's ring_timeout", res.StatusCode)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("the call rang %v at the trunk's second target; ring_timeout is 1s", d.Round(time.Millisecond))
			}
		})
	}
}

// TestTrunkNextSRVTargetOn503: one trunk by host name whose SRV records
// name an SBC pair (sbc1 preferred, sbc2 next), and a backup trunk. sbc1
// is being drained: 503 with Retry-After: 300. RFC 3263 §4.3: a 503 is a
// failure of that element, and the request goes to the next one: the call
// reaches sbc2, not the backup trunk. The Retry-After rests sbc1 alone:
// the next call goes straight to sbc2 and the trunk keeps taking calls
// (GET /gateways shows the address resting). When sbc2 answers 503 too,
// the resting sbc1 is not tried again and the call goes to the backup
// trunk. Before, sbc1's 503 went to the next trunk (with no other trunk the
// caller got 503) and rested the whole pair (r28-trunks F4).
func TestTrunkNextSRVTargetOn503(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	sbc1 := startPeerOn(t, "sbc1", netip.MustParseAddrPort("127.0.67.100:0"), nil)
	sbc2 := startPeerOn(t, "sbc2", netip.MustParseAddrPort("127.0.67.101:0"), nil)
	backup := startPeerOn(t, "backup", netip.MustParseAddrPort("127.0.67.102:0"), nil)
	sbc1.invites(func(pi *peerInvite) { pi.respond(503, nil, gosip.NewHeader("Retry-After", "300")) })
	var sbc2Draining atomic.Bool
	sbc2.invites(func(pi *peerInvite) {
		if sbc2Draining.Load() {
			pi.respond(503, nil)
			return
		}
		pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
		pi.waitAck(ctx)
	})
	zone := dnstest.Start(t)
	zone.Set(srvPair("udp", sbc1.addr(), sbc2.addr())...)
	records := filepath.Join(t.TempDir(), "records.jsonl")
	srv := serveTo(t, sbc1.addr(), "udp", func(c *mediation.Config) {
		c.Gateways = []mediation.GatewayConfig{{Name: "pair", Address: "sbc.test", Transport: "udp"},
			trunkConfig("backup", backup, 1)}
		c.GatewayDNS = mediation.GatewayDNSConfig{Resolver: zone.Addr(), MinTTL: time.Second, MaxTTL: time.Hour}
		c.Records.Path = records
	})
	for i := range 2 {
		if code := placeCall(t, srv); code != 200 {
			t.Fatalf("call %d: caller got %d; want 200 from sbc2", i+1, code)
		}
		checkTried(t, srv, records, "pair")
		if n1, n2, b := sbc1.count(gosip.INVITE), sbc2.count(gosip.INVITE), backup.count(gosip.INVITE); n1 != 1 || n2 != i+1 || b != 0 {
			t.Fatalf("after call %d: INVITEs at sbc1 %d, sbc2 %d, backup %d; want 1, %d, 0 (sbc1 rests after its 503)", i+1, n1, n2, b, i+1)
		}
	}
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_gateway_target_retries_total", "gateway", "pair", "reason", "503")
	st := srv.TrunkStates()[0]
	if !st.TakesCalls || st.UnavailableUntil != nil {
		t.Errorf("trunk pair: takesCalls %v, unavailableUntil %v; want it taking calls at sbc2", st.TakesCalls, st.UnavailableUntil)
	}
	for _, a := range st.Addresses {
		if resting := a.UnavailableUntil != nil; resting != (a.Address == sbc1.addr().String()) {
			t.Errorf("address %s: unavailableUntil %v; want it set for sbc1 (%s) only", a.Address, a.UnavailableUntil, sbc1.addr())
		}
	}

	sbc2Draining.Store(true)
	if code := placeCall(t, srv); code != 200 {
		t.Fatalf("call 3: caller got %d; want 200 from the backup trunk", code)
	}
	checkTried(t, srv, records, "pair", "backup")
	if n1, n2 := sbc1.count(gosip.INVITE), sbc2.count(gosip.INVITE); n1 != 1 || n2 != 3 {
		t.Errorf("call 3: INVITEs at sbc1 %d, sbc2 %d; want 1 (resting), 3", n1, n2)
	}
}

// refusedTCP is an address on ip whose TCP port refuses connections (a
// listener opened and closed).
func refusedTCP(t *testing.T, ip netip.Addr) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return netip.MustParseAddrPort(ln.Addr().String())
}

// srvPair are the zone lines of sbc.test's SRV record over transport with
// two targets: first (priority 0) then second (priority 1).
func srvPair(transport string, first, second netip.AddrPort) []string {
	name := "_sip._" + transport + ".sbc.test."
	return []string{
		fmt.Sprintf("%s 60 IN SRV 0 1 %d first.sbc.test.", name, first.Port()),
		fmt.Sprintf("%s 60 IN SRV 1 1 %d second.sbc.test.", name, second.Port()),
		fmt.Sprintf("first.sbc.test. 60 IN A %s", first.Addr()),
		fmt.Sprintf("second.sbc.test. 60 IN A %s", second.Addr()),
	}
}
