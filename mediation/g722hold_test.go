package mediation_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
)

// TestSBCHoldKeepsClientG722: an anchored outbound call whose client leg
// is on G.722 (media.edge_codecs puts it first) and whose SBC holds and
// resumes in its own law only: each re-offer to the client lists G.722
// first, the client answers it, and after the resume the client hears
// G.722 again. The re-offers used to list the G.711 laws alone, so the
// client's leg fell to G.711 for the rest of the call (r26-failmedia F3).
func TestSBCHoldKeepsClientG722(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	clientRTP, sbcRTP := rtpSock(t), rtpSock(t)
	g722 := func(port int, dir string) []byte {
		return fmt.Appendf(nil, "v=0\r\no=peer 5 %d IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
			"m=audio %d RTP/AVP 9 0 8 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"+
			"a=rtpmap:101 telephone-event/8000\r\na=%s\r\n", time.Now().UnixNano()%1000000, port, dir)
	}
	sbc := startPeer(t, "sbc")
	calls := make(chan *peerInvite, 1)
	sbc.invites(func(pi *peerInvite) {
		pi.respond(200, loopSDP(sockPort(sbcRTP), "sendrecv", true, "PCMA"))
		calls <- pi
	})
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
		c.Media.IP = "127.0.0.1"
		c.Media.EdgeCodecs = []string{"G722", "PCMU", "PCMA"}
	})
	caller := startPeer(t, "caller")
	var reoffers atomic.Int32
	caller.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		reoffers.Add(1)
		off := media(t, "re-offer to the client", req.Body())
		if len(off.Codecs) == 0 || off.Codecs[0].Name != "G722" {
			t.Errorf("re-offer #%d to the client lists %s, want G722 first", reoffers.Load(), codecNames(off))
		}
		dir := "sendrecv"
		if off.Direction == "sendonly" {
			dir = "recvonly"
		}
		ans := strings.Replace(string(g722(sockPort(clientRTP), dir)), "RTP/AVP 9 0 8 101", "RTP/AVP 9 101", 1)
		caller.reply(req, tx, 200, []byte(ans))
	})
	oc := caller.call(ctx, srv.EdgeAddr(), "udp", g722(sockPort(clientRTP), "sendrecv"))
	res := oc.answer(ctx, nil)
	if res.StatusCode != 200 {
		t.Fatalf("call got %d", res.StatusCode)
	}
	if err := oc.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	ackTaken(ctx, t, oc)
	if ans := media(t, "our 200", res.Body()); len(ans.Codecs) == 0 || ans.Codecs[0].Name != "G722" {
		t.Fatalf("our 200 to the client answers %s, want G722", codecNames(ans))
	}
	pi := <-calls
	sbc.wait(ctx, gosip.ACK, 1)
	relayGW := media(t, "our offer to the SBC", pi.req.Body()).RTP()
	reinvite := calleeReinvites(t, sbc, pi)
	for i, dir := range []string{"sendonly", "sendrecv"} {
		body := bumpVersion(t, string(loopSDP(sockPort(sbcRTP), dir, true, "PCMA")))
		for range i + 1 {
			body = bumpVersion(t, body)
		}
		if res := reinvite(ctx, []byte(body)); res.StatusCode != 200 {
			t.Fatalf("SBC's %s re-offer got %d", dir, res.StatusCode)
		}
	}
	if n := reoffers.Load(); n != 2 {
		t.Fatalf("client got %d re-offers, want 2", n)
	}
	// After the resume the SBC's PCMA reaches the client as G.722.
	for seq := uint16(1); ; seq++ {
		sendRTPFrom(t, sbcRTP, relayGW, 8, seq, make([]byte, 160))
		if receivedPT(clientRTP, 9, 100*time.Millisecond) {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the client heard no G.722 after the SBC's resume")
		}
	}
}

// TestSBCHoldClientLawOutsideEdgeCodecs: an inbound call, the SBC
// offering PCMA alone, media.edge_codecs [G722, PCMU] (no PCMA): the
// client answers PCMA, the only law offered, and the call is up on PCMA.
// The SBC's hold re-offer (PCMA again) goes to the client, whose PCMA
// answer is taken: the relay takes any G.711 law. For a while (e248746)
// the answer had to be in media.edge_codecs, and the hold got 488
// (r26-reviewC C1).
func TestSBCHoldClientLawOutsideEdgeCodecs(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	clientRTP, sbcRTP := rtpSock(t), rtpSock(t)
	sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
	edge.invites(func(pi *peerInvite) { pi.respond(200, loopSDP(sockPort(clientRTP), "sendrecv", true, "PCMA")) })
	var reoffers atomic.Int32
	edge.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		reoffers.Add(1)
		off := media(t, "re-offer to the client", req.Body())
		dir := "sendrecv"
		if off.Direction == "sendonly" {
			dir = "recvonly"
		}
		edge.reply(req, tx, 200, loopSDP(sockPort(clientRTP), dir, true, "PCMA"))
	})
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
		c.Edge.Peer = edge.addr().String()
		c.Media.IP = "127.0.0.1"
		c.Media.EdgeCodecs = []string{"G722", "PCMU"}
	})
	oc := sbc.call(ctx, srv.GatewayAddr(), "udp", loopSDP(sockPort(sbcRTP), "sendrecv", true, "PCMA"))
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("call got %d", res.StatusCode)
	}
	_ = oc.d.Ack(ctx)
	ackTaken(ctx, t, oc)
	reinvite := callerReinvites(t, oc)
	body := bumpVersion(t, string(loopSDP(sockPort(sbcRTP), "sendonly", true, "PCMA")))
	res := reinvite(ctx, []byte(body))
	if res.StatusCode != 200 {
		t.Fatalf("SBC's hold re-offer got %d %s (client re-offers %d)", res.StatusCode, res.Reason, reoffers.Load())
	}
}

// TestClientG722OnlyOfferAnchored: a client offering G.722 and no G.711 (a
// wideband-only lab client) on a server whose media.edge_codecs has G722
// is anchored and transcoded, G.722 on its leg and G.711 to the SBC, as a
// G.722-only re-offer already was; without G722 there it gets 488. The
// first offer used to be refused 488 either way ("No G.711 codec"), the
// SBC never called (r28-client F1).
func TestClientG722OnlyOfferAnchored(t *testing.T) {
	for _, tc := range []struct {
		name   string
		codecs []string
		want   int
	}{{"edge_codecs with G722", []string{"G722", "PCMU", "PCMA"}, 200}, {"edge_codecs without G722", []string{"PCMU", "PCMA"}, 488}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc := startPeer(t, "sbc")
			sbc.invites(func(pi *peerInvite) { pi.respond(200, loopSDP(sockPort(rtpSock(t)), "sendrecv", true, "PCMU")) })
			srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
				c.Media.IP = "127.0.0.1"
				c.Media.EdgeCodecs = tc.codecs
			})
			offer := fmt.Appendf(nil, "v=0\r\no=peer 5 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
				"m=audio %d RTP/AVP 9 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n", sockPort(rtpSock(t)))
			oc := startPeer(t, "caller").call(ctx, srv.EdgeAddr(), "udp", offer)
			res := oc.answer(ctx, nil)
			if res.StatusCode != tc.want {
				t.Fatalf("client got %d %s (%v), want %d", res.StatusCode, res.Reason, res.GetHeader("Warning"), tc.want)
			}
			if tc.want != 200 {
				if n := sbc.count(gosip.INVITE); n != 0 {
					t.Errorf("the SBC got %d INVITEs for a call refused", n)
				}
				return
			}
			if ans := media(t, "our 200", res.Body()); len(ans.Codecs) == 0 || ans.Codecs[0].Name != "G722" {
				t.Errorf("our 200 to the client answers %s, want G722", codecNames(ans))
			}
			_ = oc.d.Ack(ctx)
		})
	}
}
