package mediation_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// countArrivals counts the datagrams arriving at conn until it is closed.
func countArrivals(conn *net.UDPConn) *atomic.Int64 {
	var n atomic.Int64
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := conn.ReadFromUDPAddrPort(buf); err != nil {
				return
			}
			n.Add(1)
		}
	}()
	return &n
}

// oneCall is the call in progress of srv (the test fails without one).
func oneCall(t *testing.T, srv *mediation.Server) mediation.Record {
	t.Helper()
	calls := srv.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls in progress, want 1", len(calls))
	}
	return calls[0]
}

// noPeerDrops is how many of a leg's packets the relay dropped as no_peer.
func noPeerDrops(l mediation.LegRecord) uint64 {
	if l.PacketsDropped == nil {
		return 0
	}
	return l.PacketsDropped.NoPeer
}

// TestHoldDirectionEnforced: the relay sends a peer RTP only when the
// negotiated stream lets it (RFC 3264 §5.1, §6.1: our SDP to it sendrecv
// or sendonly, its own receiving). The client holds an anchored outbound
// call and a lax SBC answers our hold offer sendrecv and keeps sending the
// PSTN party's audio: the holding client, which our answer told we do not
// send (inactive, recvonly), gets none of it; each such packet is counted
// dropped as no_peer on the gateway leg (record and metric). With
// a=inactive the client's packets do not reach the SBC either (our offer
// to it was inactive); with a=sendonly (music on hold) they do: our offer
// to the SBC is sendonly. Our RTCP reports still reach the held client.
// On resume audio flows both ways again. Before, the relay forwarded
// whatever came, and only a c=0.0.0.0 hold stopped it.
func TestHoldDirectionEnforced(t *testing.T) {
	for _, tc := range []struct {
		name, hold, answer, offer string
		sbcHears                  bool // the client's RTP reaches the SBC on hold
	}{
		{name: "inactive", hold: "inactive", answer: "inactive", offer: "inactive"},
		{name: "sendonly", hold: "sendonly", answer: "recvonly", offer: "sendonly", sbcHears: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 40*time.Second)
			hc := startHoldCall(ctx, t, false, false, "sendrecv", true)
			clientRTP, clientRTCP := countArrivals(hc.client.media), countArrivals(hc.client.rtcp)
			sbcRTP := countArrivals(hc.sbc.media)
			waitUntil(ctx, t, "audio both ways", func() bool { return clientRTP.Load() >= 5 && sbcRTP.Load() >= 5 })

			// The client holds; the lax SBC answers sendrecv and talks on.
			hc.sbc.answers("sendrecv")
			res := holdReoffer(ctx, t, hc.client, tc.hold)
			if got := media(t, "answer to the client's hold", res.Body()).Direction; got != tc.answer {
				t.Fatalf("client's %s hold answered %s, want %s", tc.hold, got, tc.answer)
			}
			offered := hc.sbc.p.waitLast(ctx, gosip.INVITE, 2)
			if got := media(t, "hold offer to the SBC", offered.Body()).Direction; got != tc.offer {
				t.Fatalf("SBC offered %s, want %s", got, tc.offer)
			}

			// The SBC's packets are dropped as no_peer, none reaches the client.
			base := noPeerDrops(oneCall(t, hc.srv).GatewayLeg)
			waitUntil(ctx, t, "the SBC's packets dropped", func() bool {
				return noPeerDrops(oneCall(t, hc.srv).GatewayLeg) >= base+10
			})
			rec := oneCall(t, hc.srv)
			edgeSent, gwSent, clientGot, sbcGot := rec.EdgeLeg.PacketsSent, rec.GatewayLeg.PacketsSent, clientRTP.Load(), sbcRTP.Load()
			reports := clientRTCP.Load()
			waitUntil(ctx, t, "more of the SBC's packets dropped", func() bool {
				return noPeerDrops(oneCall(t, hc.srv).GatewayLeg) >= base+20
			})
			rec = oneCall(t, hc.srv)
			if rec.EdgeLeg.PacketsSent != edgeSent || clientRTP.Load() != clientGot {
				t.Fatalf("the held client got RTP: packetsSent %d -> %d, received %d -> %d",
					edgeSent, rec.EdgeLeg.PacketsSent, clientGot, clientRTP.Load())
			}
			if v, err := mediationtest.Metric(hc.srv, "mediationserver_relay_dropped_packets_total", "side", "gateway", "reason", "no_peer"); err != nil || v < 20 {
				t.Fatalf("no_peer drops of the gateway leg in the metric: %v %v, want >= 20", v, err)
			}
			if tc.sbcHears {
				waitUntil(ctx, t, "the client's music on hold at the SBC", func() bool {
					return oneCall(t, hc.srv).GatewayLeg.PacketsSent >= gwSent+5 && sbcRTP.Load() >= sbcGot+5
				})
			} else {
				edgeBase := noPeerDrops(rec.EdgeLeg)
				waitUntil(ctx, t, "the client's packets dropped", func() bool {
					return noPeerDrops(oneCall(t, hc.srv).EdgeLeg) >= edgeBase+5
				})
				if got := oneCall(t, hc.srv).GatewayLeg.PacketsSent; got != gwSent || sbcRTP.Load() != sbcGot {
					t.Fatalf("the SBC, offered inactive, got RTP: packetsSent %d -> %d", gwSent, got)
				}
			}
			// RTCP goes on (RFC 3264 §5.1): our next report reaches the
			// held client (every 5 s).
			waitUntil(ctx, t, "our RTCP at the held client", func() bool { return clientRTCP.Load() > reports })

			// Resume: audio both ways again.
			reoffer(ctx, t, hc.client, hc.sbc, "sendrecv", "sendrecv")
			clientGot, sbcGot = clientRTP.Load(), sbcRTP.Load()
			waitUntil(ctx, t, "audio both ways after the resume", func() bool {
				return clientRTP.Load() >= clientGot+5 && sbcRTP.Load() >= sbcGot+5
			})
			hc.client.quiet.Store(true)
			hc.sbc.quiet.Store(true)
			hc.timesOut(ctx, t)
		})
	}
}

// holdReoffer has the client re-offer dir and returns the 200 it got,
// retrying on 491 (glare with an ACK in flight).
func holdReoffer(ctx context.Context, t *testing.T, from *holdParty, dir string) *gosip.Response {
	t.Helper()
	for {
		res := from.send(ctx, from.sdp(dir))
		if res.StatusCode == 200 {
			return res
		}
		if res.StatusCode != 491 {
			t.Fatalf("%s re-offer got %d", dir, res.StatusCode)
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("re-offer kept getting 491")
		}
	}
}
