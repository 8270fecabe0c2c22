package mediation_test

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// trunkConfig is a gateway trunk at peer p serving numbers.
func trunkConfig(name string, p *peer, prio int, numbers ...string) mediation.GatewayConfig {
	return mediation.GatewayConfig{Name: name, Address: p.addr().String(), Transport: "udp", Priority: prio, Numbers: numbers}
}

// TestRoutingByNumber: four simulated SBCs on four ports; each call goes to
// the trunk with the longest matching pattern, then the lowest priority,
// and calls to equal trunks alternate. The call record names the trunk.
func TestRoutingByNumber(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	uk, us1, us2, any := startPeer(t, "uk"), startPeer(t, "us1"), startPeer(t, "us2"), startPeer(t, "any")
	records := filepath.Join(t.TempDir(), "records.jsonl")
	srv := serveTo(t, uk.addr(), "udp", func(c *mediation.Config) {
		c.Gateways = []mediation.GatewayConfig{
			trunkConfig("uk", uk, 0, "+44"),
			trunkConfig("us1", us1, 1, "+1"),
			trunkConfig("us2", us2, 1, `re:\+1\d{10}`),
			trunkConfig("any", any, 0),
		}
		c.Records.Path = records
	})
	client := startClient(t, ctx, "")
	call := func(to string) {
		t.Helper()
		rep, err := client.Call(ctx, endpoint.CallOptions{Target: srv.EdgeAddr(), To: to, From: "+15550111", Duration: 50 * time.Millisecond})
		if err != nil || rep.Code != 200 {
			t.Fatalf("call to %s: code %d, err %v", to, rep.Code, err)
		}
	}
	call("+442071234567")
	call("+33123456789")
	const usCalls = 10
	for i := range usCalls {
		call(fmt.Sprintf("+1555%07d", i))
	}
	for _, c := range []struct {
		p    *peer
		want int
	}{{uk, 1}, {any, 1}, {us1, usCalls / 2}, {us2, usCalls / 2}} {
		if got := c.p.count(gosip.INVITE); got != c.want {
			t.Errorf("SBC %s got %d INVITEs, want %d", c.p.stack.Name(), got, c.want)
		}
	}
	waitCalls(t, srv, 0)
	recs := readRecords(t, records)
	if len(recs) != 2+usCalls {
		t.Fatalf("%d records, want %d", len(recs), 2+usCalls)
	}
	if recs[0].Gateway != "uk" || recs[1].Gateway != "any" || len(recs[0].GatewaysTried) != 1 || recs[0].GatewaysTried[0] != "uk" {
		t.Errorf("records name %q %v and %q, want uk [uk] and any", recs[0].Gateway, recs[0].GatewaysTried, recs[1].Gateway)
	}
	for gw, want := range map[string]float64{"uk": 1, "any": 1, "us1": usCalls / 2, "us2": usCalls / 2} {
		mediationtest.WaitMetric(t, srv, want, "mediationserver_gateway_calls_total", "gateway", gw, "direction", "outbound", "outcome", "answered")
	}
}

// TestRoutingNoTrunk: a number no trunk serves gets 404 and no INVITE
// leaves.
func TestRoutingNoTrunk(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	uk := startPeer(t, "uk")
	srv := serveTo(t, uk.addr(), "udp", func(c *mediation.Config) {
		c.Gateways = []mediation.GatewayConfig{trunkConfig("uk", uk, 0, "+44")}
	})
	client := startClient(t, ctx, "")
	rep, err := client.Call(ctx, endpoint.CallOptions{Target: srv.EdgeAddr(), To: "+15550100", Duration: 50 * time.Millisecond})
	if err != nil || rep.Code != 404 {
		t.Fatalf("call: code %d, err %v; want 404", rep.Code, err)
	}
	if n := uk.count(gosip.INVITE); n != 0 {
		t.Errorf("the +44 trunk got %d INVITEs for a +1 number", n)
	}
}

// TestRoutingNumberWithParameters: SfB clients dial an extension as
// sip:+14255550100;ext=123@domain;user=phone (RFC 3966's ext in a SIP
// URI's user part, RFC 3261 §19.1.6). Routing matches the number,
// +14255550100, without the parameters (ext, isub, phone-context), as it
// does for tel:+14255550100;ext=123: the re: trunk gets the call, not the
// default route, and its INVITE's Request-URI keeps the parameters. Before,
// the whole user part was matched and missed every re: pattern
// (r28-trunks F3).
func TestRoutingNumberWithParameters(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	us := startPeerOn(t, "us", netip.MustParseAddrPort("127.0.67.50:0"), nil)
	lcr := startPeerOn(t, "lcr", netip.MustParseAddrPort("127.0.67.51:0"), nil)
	for _, p := range []*peer{us, lcr} {
		p.invites(func(pi *peerInvite) { pi.respond(486, nil) })
	}
	srv := serveTo(t, us.addr(), "udp", func(c *mediation.Config) {
		c.Gateways = []mediation.GatewayConfig{
			trunkConfig("us", us, 0, `re:\+1\d{10}`),
			trunkConfig("lcr", lcr, 9),
		}
	})
	caller := startPeer(t, "caller")
	for i, user := range []string{"+14255550100;ext=123", "+14255550100;isub=77;ext=9", "+14255550100;phone-context=+1"} {
		oc := caller.callNumber(ctx, srv.EdgeAddr(), "udp", user, fixtureBody(t, "sfb-bypass-offer.sdp"))
		oc.answer(ctx, nil)
		if n, d := us.count(gosip.INVITE), lcr.count(gosip.INVITE); n != i+1 || d != 0 {
			t.Fatalf("%s: INVITEs: %d at the re: trunk, %d at the default route; want %d, 0 (the number is +14255550100)", user, n, d, i+1)
		}
		if got := us.wait(ctx, gosip.INVITE, i+1).Recipient.User; got != user {
			t.Errorf("the trunk's INVITE is to user %q, want %q: the Request-URI goes on unchanged", got, user)
		}
	}
}

// waitCalls waits until the server has n calls in progress.
func waitCalls(t *testing.T, srv *mediation.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for srv.ActiveCalls() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls in progress, want %d", srv.ActiveCalls(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestStartLineNamesEveryTrunk: the "mediation server listening" line
// lists every trunk (name=transport:address), not only the first.
func TestStartLineNamesEveryTrunk(t *testing.T) {
	a, b := startPeer(t, "a"), startPeer(t, "b")
	cfg := labConfig(a.addr(), "udp")
	cfg.Gateways = []mediation.GatewayConfig{trunkConfig("uk", a, 0, "+44"), trunkConfig("us", b, 0, "+1")}
	cfg.Gateways[1].Transport = "tcp"
	logs := new(syncBuffer)
	mediationtest.Serve(t, cfg, zerolog.New(logs).Level(zerolog.InfoLevel))
	for _, line := range strings.Split(logs.String(), "\n") {
		if !strings.Contains(line, "mediation server listening") {
			continue
		}
		want := fmt.Sprintf(`"gateways":["uk=udp:%s","us=tcp:%s"]`, a.addr(), b.addr())
		if !strings.Contains(line, want) {
			t.Fatalf("start line %s\nlacks %s", line, want)
		}
		return
	}
	t.Fatalf("no start line:\n%s", logs.String())
}
