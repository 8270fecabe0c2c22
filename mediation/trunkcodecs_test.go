package mediation_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestTrunkCodecs: a trunk's codecs say which G.711 laws its SBC is
// offered, in which order: anchored, exactly those; bypassed, the
// client's formats among them in the trunk's order (with the client's
// payload types); a bypass client that offers none of them is anchored.
func TestTrunkCodecs(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	sbc := startPeer(t, "sbc")
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
		c.Gateways[0].Codecs = []string{"PCMA", "PCMU"}
	})
	call := func(client *endpoint.Client) {
		t.Helper()
		rep, err := client.Call(ctx, endpoint.CallOptions{Target: srv.EdgeAddr(), To: "+15550100", Duration: 20 * time.Millisecond})
		if err != nil || rep.Code != 200 {
			t.Fatalf("call: code %d, err %v", rep.Code, err)
		}
	}
	// offered is the n-th INVITE's codecs as "PT name" strings.
	offered := func(n int) []string {
		t.Helper()
		m := media(t, "INVITE to the SBC", sbc.wait(ctx, gosip.INVITE, n).Body())
		var out []string
		for _, c := range m.Codecs {
			out = append(out, strconv.Itoa(int(c.PT))+" "+c.Name)
		}
		return out
	}
	bypassID := srv.Settings().BypassID

	// Anchored (the client has no bypass ID): PCMA, then PCMU.
	call(startClient(t, ctx, ""))
	if got, want := offered(1), []string{"8 PCMA", "0 PCMU", "101 telephone-event"}; !slices.Equal(got, want) {
		t.Errorf("anchored offer to the SBC: %v, want %v", got, want)
	}
	// Bypassed: the client offers PCMU before PCMA; the SBC gets PCMA first.
	call(startClient(t, ctx, bypassID, "PCMU", "PCMA"))
	got := offered(2)
	if len(got) < 2 || got[0] != "8 PCMA" || got[1] != "0 PCMU" {
		t.Errorf("bypass offer to the SBC: %v, want 8 PCMA, 0 PCMU first", got)
	}
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_media_bypass_calls_total", "direction", "outbound")
}

// TestTrunkCodecsOnlyPCMA: a trunk that takes PCMA only is never offered
// PCMU; a bypass client offering PCMU only is anchored (and transcoded).
func TestTrunkCodecsOnlyPCMA(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	sbc := startPeer(t, "sbc")
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
		c.Gateways[0].Codecs = []string{"PCMA"}
	})
	client := startClient(t, ctx, srv.Settings().BypassID, "PCMU")
	rep, err := client.Call(ctx, endpoint.CallOptions{Target: srv.EdgeAddr(), To: "+15550100", Duration: 20 * time.Millisecond})
	if err != nil || rep.Code != 200 {
		t.Fatalf("call: code %d, err %v", rep.Code, err)
	}
	m := media(t, "INVITE to the SBC", sbc.wait(ctx, gosip.INVITE, 1).Body())
	if g := m.G711(); len(g) != 1 || g[0].Name != "PCMA" {
		t.Errorf("offer to the SBC has G.711 %v, want PCMA only", g)
	}
	if v, _ := mediationtest.Metric(srv, "mediationserver_media_bypass_calls_total", "direction", "outbound"); v != 0 {
		t.Errorf("%v bypassed calls; the client's PCMU is not the trunk's", v)
	}
}

// g711Offer is an SBC's offer of the given G.711 laws (PCMU 0, PCMA 8)
// and telephone-event, on loopback.
func g711Offer(laws ...string) []byte {
	pts := map[string]string{"PCMU": "0", "PCMA": "8"}
	var fmts, maps string
	for _, l := range laws {
		fmts += " " + pts[l]
		maps += "a=rtpmap:" + pts[l] + " " + l + "/8000\r\n"
	}
	return []byte("v=0\r\no=SBC 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 9 RTP/AVP" + fmts + " 101\r\n" + maps + "a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n")
}

// TestTrunkCodecsInbound: the trunk's codecs also bound what we answer its
// SBC's offers: an inbound call offering PCMA and PCMU to a PCMU-only
// trunk offers the client PCMU only and answers the SBC PCMU; an offer of
// PCMA alone gets 488 and reaches no client.
func TestTrunkCodecsInbound(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
	edge.invites(func(pi *peerInvite) {
		pi.respond(200, g711Offer("PCMU"))
	})
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
		c.Edge.Peer = edge.addr().String()
		c.Gateways[0].Codecs = []string{"PCMU"}
	})
	oc := sbc.call(ctx, srv.GatewayAddr(), "udp", g711Offer("PCMA", "PCMU"))
	res := oc.answer(ctx, nil)
	if res.StatusCode != 200 {
		t.Fatalf("SBC got %d, want 200", res.StatusCode)
	}
	if g := media(t, "offer to the client", edge.wait(ctx, gosip.INVITE, 1).Body()).G711(); len(g) != 1 || g[0].Name != "PCMU" {
		t.Errorf("client offered G.711 %v, want PCMU only", g)
	}
	if g := media(t, "answer to the SBC", res.Body()).G711(); len(g) != 1 || g[0].Name != "PCMU" {
		t.Errorf("SBC answered G.711 %v, want PCMU only", g)
	}
	if err := oc.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	// The SBC's re-offer is read through the list too: PCMA alone gets
	// 488 and never reaches the client.
	reinvite := gosip.NewRequest(gosip.INVITE, res.Contact().Address)
	reinvite.SetBody(g711Offer("PCMA"))
	reinvite.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	if re, err := oc.d.Do(ctx, reinvite); err != nil || re.StatusCode != 488 {
		t.Errorf("PCMA-only re-offer to a PCMU trunk: %v, %v; want 488", re, err)
	}
	if err := oc.d.Bye(ctx); err != nil {
		t.Fatal(err)
	}

	oc = sbc.call(ctx, srv.GatewayAddr(), "udp", g711Offer("PCMA"))
	res = oc.answer(ctx, nil)
	warn := ""
	if h := res.GetHeader("Warning"); h != nil {
		warn = h.Value()
	}
	if res.StatusCode != 488 || !strings.Contains(warn, "None of the gateway's G.711 codecs is in the trunk's codec list") {
		t.Errorf("PCMA-only offer to a PCMU trunk: %d, Warning %q; want 488 saying why", res.StatusCode, warn)
	}
	if n := edge.count(gosip.INVITE); n != 1 {
		t.Errorf("%d INVITEs reached the client, want only the first call's", n)
	}
	waitCalls(t, srv, 0)
}
