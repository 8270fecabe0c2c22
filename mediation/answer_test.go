package mediation_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/tone"
	"github.com/mediation-emulator/mediation/sdp"
)

// The SDP answers the B2BUA builds for the peers when the other peer
// answers what an SBC or client may answer: no telephone-event, another
// law in its 200 than in its 183, sendrecv to a hold.

// rtpSock is a loopback UDP socket for a test peer's media.
func rtpSock(t *testing.T) *net.UDPConn {
	t.Helper()
	return rtpSockOn(t, "127.0.0.1")
}

// rtpSockOn is rtpSock on the loopback address ip.
func rtpSockOn(t *testing.T, ip string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func sockPort(c *net.UDPConn) int { return c.LocalAddr().(*net.UDPAddr).Port }

// loopSDP is a peer's SDP on 127.0.0.1:port with the G.711 laws given
// (PCMU 0, PCMA 8), telephone-event 101 when events, and direction dir.
func loopSDP(port int, dir string, events bool, laws ...string) []byte {
	pts := map[string]string{"PCMU": "0", "PCMA": "8"}
	var fmts, maps string
	for _, l := range laws {
		fmts += " " + pts[l]
		maps += "a=rtpmap:" + pts[l] + " " + l + "/8000\r\n"
	}
	if events {
		fmts += " 101"
		maps += "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
	}
	return fmt.Appendf(nil, "v=0\r\no=peer %d 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP%s\r\n%sa=ptime:20\r\na=%s\r\n", port, port, fmts, maps, dir)
}

// codecNames is an SDP's formats as "PT name".
func codecNames(m sdp.Media) string {
	var out []string
	for _, c := range m.Codecs {
		out = append(out, fmt.Sprintf("%d %s", c.PT, c.Name))
	}
	return strings.Join(out, ", ")
}

// sendEvent sends an RFC 4733 event packet (digit 5, 20 ms) with pt.
func sendEvent(t *testing.T, from *net.UDPConn, to netip.AddrPort, pt uint8, seq uint16) {
	t.Helper()
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: 16000, SSRC: 0x55, Marker: seq == 1},
		Payload: []byte{5, 0x0a, 0x00, 0xa0}}
	b, _ := pkt.Marshal()
	if _, err := from.WriteToUDP(b, net.UDPAddrFromAddrPort(to)); err != nil {
		t.Fatal(err)
	}
}

// receivedPT waits up to d for an RTP packet of payload type pt on c.
func receivedPT(c *net.UDPConn, pt uint8, d time.Duration) bool {
	buf := make([]byte, 1500)
	deadline := time.Now().Add(d)
	for {
		_ = c.SetReadDeadline(deadline)
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			return false
		}
		var p rtp.Packet
		if p.Unmarshal(buf[:n]) == nil && p.PayloadType == pt {
			return true
		}
	}
}

// inboundUp places an answered and ACKed inbound call from an SBC peer
// offering PCMU, PCMA and events; the edge peer answers clientAnswer,
// and configure (nil: nothing) sets it up further.
func inboundUp(ctx context.Context, t *testing.T, clientAnswer []byte, configure func(edge *peer)) (*outCall, *peer) {
	t.Helper()
	sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
	edge.invites(func(pi *peerInvite) { pi.respond(200, clientAnswer) })
	if configure != nil {
		configure(edge)
	}
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = edge.addr().String() })
	oc := sbc.call(ctx, srv.GatewayAddr(), "udp", loopSDP(sockPort(rtpSock(t)), "sendrecv", true, "PCMU", "PCMA"))
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("got %d", res.StatusCode)
	}
	_ = oc.d.Ack(ctx)
	return oc, edge
}

// TestAnchoredEventsNeedBothLegs: an anchored call answers a peer with
// telephone-event only when the other leg's SDP has it too (the relay has
// events to give only then), and when both have it, events cross the
// relay with each leg's own payload type.
func TestAnchoredEventsNeedBothLegs(t *testing.T) {
	t.Run("outbound", func(t *testing.T) {
		for _, sbcEvents := range []bool{false, true} {
			t.Run(fmt.Sprintf("SBC events %v", sbcEvents), func(t *testing.T) {
				ctx := testCtx(t, 20*time.Second)
				sbcMedia, clientMedia := rtpSock(t), rtpSock(t)
				sbc := startPeer(t, "sbc")
				sbc.invites(func(pi *peerInvite) {
					pi.respond(200, loopSDP(sockPort(sbcMedia), "sendrecv", sbcEvents, "PCMU"))
				})
				srv := serveTo(t, sbc.addr(), "udp", nil)
				caller := startPeer(t, "caller")
				oc := caller.call(ctx, srv.EdgeAddr(), "udp", loopSDP(sockPort(clientMedia), "sendrecv", true, "PCMU", "PCMA"))
				if res := oc.answer(ctx, nil); res.StatusCode != 200 {
					t.Fatalf("got %d", res.StatusCode)
				}
				_ = oc.d.Ack(ctx)
				ans := media(t, "answer to the client", oc.final.Body())
				if _, ok := ans.TelephoneEvent(); ok != sbcEvents {
					t.Fatalf("answer to the client [%s] lists telephone-event: %v; the SBC's answer has it: %v", codecNames(ans), ok, sbcEvents)
				}
				if sbcEvents {
					// The client's event (PT 101) reaches the SBC as its
					// telephone-event (101 in its answer).
					toRelay := media(t, "offer to the SBC", sbc.wait(ctx, gosip.INVITE, 1).Body()).RTP()
					sendEvent(t, sbcMedia, toRelay, 0, 1) // the SBC speaks first: latch
					for i := uint16(1); i <= 5; i++ {
						sendEvent(t, clientMedia, ans.RTP(), 101, i)
					}
					if !receivedPT(sbcMedia, 101, 5*time.Second) {
						t.Error("the client's telephone-event did not reach the SBC")
					}
				}
				_ = oc.d.Bye(ctx)
				sbc.wait(ctx, gosip.BYE, 1)
			})
		}
	})
	t.Run("inbound", func(t *testing.T) {
		ctx := testCtx(t, 20*time.Second)
		oc, edge := inboundUp(ctx, t, loopSDP(sockPort(rtpSock(t)), "sendrecv", false, "PCMA"), nil)
		if ans := media(t, "answer to the SBC", oc.final.Body()); len(ans.Codecs) != 1 || ans.Codecs[0].Name != "PCMA" {
			t.Errorf("answer to the SBC [%s], want PCMA alone: the client takes no events", codecNames(ans))
		}
		_ = oc.d.Bye(ctx)
		edge.wait(ctx, gosip.BYE, 1)
	})
}

// answeredPeerCall places an answered and ACKed call from caller to target,
// offering PCMU, PCMA and telephone-event on callerMedia.
func answeredPeerCall(ctx context.Context, t *testing.T, caller *peer, target netip.AddrPort, callerMedia *net.UDPConn) *outCall {
	t.Helper()
	oc := caller.call(ctx, target, "udp", loopSDP(sockPort(callerMedia), "sendrecv", true, "PCMU", "PCMA"))
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("got %d", res.StatusCode)
	}
	_ = oc.d.Ack(ctx)
	return oc
}

// TestEarlyAnswerKept: when the callee's 200 answers otherwise than its
// 183 (the other G.711 law, another port), an anchored call's 200 carries
// the very SDP of its 183 (the caller keeps the first answer, RFC 3261
// §13.2.1), and the relay takes the change: the caller's media, in the
// law of the first answer, reaches the callee's new address in the new
// law, and back.
func TestEarlyAnswerKept(t *testing.T) {
	// talk plays a tone each way between the caller's and the callee's
	// media sockets and reports what each heard.
	talk := func(t *testing.T, caller rawPeer, toEdge netip.AddrPort, callee rawPeer, toGW netip.AddrPort) {
		t.Helper()
		var wg sync.WaitGroup
		var calleeHeard []int16
		wg.Go(func() { calleeHeard = callee.exchange(t, toGW, 600, 40) })
		callerHeard := caller.exchange(t, toEdge, clientHz, 40)
		wg.Wait()
		if hz := tone.Detect(calleeHeard, 8000); math.Abs(hz-clientHz) > 25 {
			t.Errorf("callee heard %.0f Hz in %s (%d samples), want the caller's %.0f Hz", hz, callee.law, len(calleeHeard), clientHz)
		}
		if hz := tone.Detect(callerHeard, 8000); math.Abs(hz-600) > 25 {
			t.Errorf("caller heard %.0f Hz in %s (%d samples), want the callee's 600 Hz", hz, caller.law, len(callerHeard))
		}
	}
	// sameAnswers checks that every SDP the caller got is the first one.
	sameAnswers := func(t *testing.T, oc *outCall) []byte {
		t.Helper()
		var first []byte
		for _, r := range append(append([]*gosip.Response{}, oc.provisionals...), oc.final) {
			if len(r.Body()) == 0 {
				continue
			}
			if first == nil {
				first = r.Body()
			} else if !bytes.Equal(r.Body(), first) {
				t.Fatalf("our %d carries another answer than our first:\n%s\n---\n%s", r.StatusCode, first, r.Body())
			}
		}
		if first == nil {
			t.Fatal("no SDP answer")
		}
		return first
	}

	// earlyCall places a call from caller to target, whose callee
	// answers in PCMU early and in PCMA on late in the end, and checks
	// that the caller got one answer, in PCMU, and that media flows both
	// ways; callee is the peer whose INVITE names the relay's port.
	earlyCall := func(t *testing.T, caller *peer, target netip.AddrPort, callerMedia, late *net.UDPConn, callee *peer) {
		t.Helper()
		ctx := testCtx(t, 30*time.Second)
		oc := answeredPeerCall(ctx, t, caller, target, callerMedia)
		first := media(t, "answer to the caller", sameAnswers(t, oc))
		if first.Codecs[0].Name != "PCMU" {
			t.Fatalf("first answer [%s], want PCMU (the callee's 183)", codecNames(first))
		}
		toRelay := media(t, "offer to the callee", callee.wait(ctx, gosip.INVITE, 1).Body()).RTP()
		talk(t, rawPeer{sock: callerMedia, law: "PCMU"}, first.RTP(), rawPeer{sock: late, law: "PCMA"}, toRelay)
		_ = oc.d.Bye(ctx)
		callee.wait(ctx, gosip.BYE, 1)
	}

	t.Run("outbound", func(t *testing.T) {
		early, late := rtpSock(t), rtpSock(t)
		sbc := startPeer(t, "sbc")
		sbc.invites(func(pi *peerInvite) {
			pi.respond(183, loopSDP(sockPort(early), "sendrecv", true, "PCMU"))
			pi.respond(183, loopSDP(sockPort(late), "sendrecv", true, "PCMA")) // changes its mind
			pi.respond(200, loopSDP(sockPort(late), "sendrecv", true, "PCMA"))
		})
		srv := serveTo(t, sbc.addr(), "udp", nil)
		earlyCall(t, startPeer(t, "caller"), srv.EdgeAddr(), rtpSock(t), late, sbc)
	})
	t.Run("outbound failover", func(t *testing.T) {
		// The first trunk answers in its 183 and then fails the call:
		// the backup's answer goes to the same relay, and the client
		// keeps its first answer.
		early, late := rtpSock(t), rtpSock(t)
		first, backup := startPeer(t, "first"), startPeer(t, "backup")
		first.invites(func(pi *peerInvite) {
			pi.respond(183, loopSDP(sockPort(early), "sendrecv", true, "PCMU"))
			pi.respond(503, nil)
		})
		backup.invites(func(pi *peerInvite) {
			pi.respond(200, loopSDP(sockPort(late), "sendrecv", true, "PCMA"))
		})
		srv, _ := failoverServer(t, first.addr(), "udp", backup)
		earlyCall(t, startPeer(t, "caller"), srv.EdgeAddr(), rtpSock(t), late, backup)
		ctx := testCtx(t, 10*time.Second)
		toFirst := media(t, "offer to the first trunk", first.wait(ctx, gosip.INVITE, 1).Body()).RTP()
		if toBackup := media(t, "offer to the backup", backup.wait(ctx, gosip.INVITE, 1).Body()).RTP(); toBackup != toFirst {
			t.Errorf("the backup was offered %s, the first trunk %s: want the same relay", toBackup, toFirst)
		}
	})
	t.Run("inbound", func(t *testing.T) {
		early, late := rtpSock(t), rtpSock(t)
		sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
		edge.invites(func(pi *peerInvite) {
			pi.respond(183, loopSDP(sockPort(early), "sendrecv", true, "PCMU"))
			pi.respond(200, loopSDP(sockPort(late), "sendrecv", true, "PCMA"))
		})
		srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = edge.addr().String() })
		earlyCall(t, sbc, srv.GatewayAddr(), rtpSock(t), late, edge)
	})
}

// TestAnswerDirectionCapped: a lax peer that answers sendrecv to a hold
// does not make our answer to the holding peer break RFC 3264 §6.1:
// sendonly gets recvonly, recvonly sendonly, inactive inactive. Both
// directions, anchored and bypassed.
func TestAnswerDirectionCapped(t *testing.T) {
	want := map[string]string{"sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}
	// laxly makes p answer every re-INVITE sendrecv.
	laxly := func(t *testing.T, p *peer, port int) {
		p.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
			p.reply(req, tx, 200, loopSDP(port, "sendrecv", true, "PCMU"))
		})
	}
	reoffer := func(ctx context.Context, t *testing.T, oc *outCall, body []byte) string {
		t.Helper()
		req := gosip.NewRequest(gosip.INVITE, oc.final.Contact().Address)
		req.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(body)
		res := doIn(ctx, t, oc, req)
		if res.StatusCode != 200 {
			t.Fatalf("re-INVITE got %d", res.StatusCode)
		}
		if err := oc.d.WriteRequest(gosip.NewRequest(gosip.ACK, oc.final.Contact().Address)); err != nil {
			t.Fatal(err)
		}
		return media(t, "answer to the re-INVITE", res.Body()).Direction
	}
	for _, bypass := range []bool{false, true} {
		t.Run(fmt.Sprintf("outbound bypass %v", bypass), func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			sbcMedia := rtpSock(t)
			sbc := startPeer(t, "sbc")
			sbc.invites(func(pi *peerInvite) { pi.respond(200, loopSDP(sockPort(sbcMedia), "sendrecv", true, "PCMU")) })
			laxly(t, sbc, sockPort(sbcMedia))
			srv := serveTo(t, sbc.addr(), "udp", nil)
			caller, callerPort := startPeer(t, "caller"), sockPort(rtpSock(t))
			offer := func(dir string) []byte {
				b := loopSDP(callerPort, dir, true, "PCMU", "PCMA")
				if bypass {
					b = bytes.Replace(b, []byte("a=ptime"), []byte("a=x-bypassid:"+srv.Settings().BypassID+"\r\na=ptime"), 1)
				}
				return b
			}
			oc := caller.call(ctx, srv.EdgeAddr(), "udp", offer("sendrecv"))
			if res := oc.answer(ctx, nil); res.StatusCode != 200 {
				t.Fatalf("got %d", res.StatusCode)
			}
			_ = oc.d.Ack(ctx)
			if got := media(t, "answer to the client", oc.final.Body()).BypassID != ""; got != bypass {
				t.Fatalf("bypassed %v, want %v", got, bypass)
			}
			for _, dir := range []string{"sendonly", "inactive", "recvonly"} {
				if got := reoffer(ctx, t, oc, offer(dir)); got != want[dir] {
					t.Errorf("client's %s re-offer answered %s, want %s", dir, got, want[dir])
				}
			}
			_ = oc.d.Bye(ctx)
			sbc.wait(ctx, gosip.BYE, 1)
		})
	}
	t.Run("inbound", func(t *testing.T) {
		ctx := testCtx(t, 30*time.Second)
		clientPort := sockPort(rtpSock(t))
		oc, edge := inboundUp(ctx, t, loopSDP(clientPort, "sendrecv", true, "PCMU"), func(edge *peer) { laxly(t, edge, clientPort) })
		sbcPort := sockPort(rtpSock(t))
		for _, dir := range []string{"sendonly", "inactive", "recvonly"} {
			if got := reoffer(ctx, t, oc, loopSDP(sbcPort, dir, true, "PCMU", "PCMA")); got != want[dir] {
				t.Errorf("SBC's %s re-offer answered %s, want %s", dir, got, want[dir])
			}
		}
		_ = oc.d.Bye(ctx)
		edge.wait(ctx, gosip.BYE, 1)
	})
}

// TestEarlyDirectionNotKept: an anchored call's early answer says the
// relay's own direction (sendrecv), not the callee's early one: a
// carrier's announcement in a 183 with a=sendonly, then a=sendrecv in its
// 200, left the caller with a sendonly answer for the whole call (the 200
// repeats the early answer: RFC 3261 §13.2.1), so a caller that honours
// it never sent its audio. Outbound (the SBC's 183) and inbound (the
// client's 183); a caller's own sendonly offer still caps the answer
// (recvonly).
func TestEarlyDirectionNotKept(t *testing.T) {
	for _, tc := range []struct{ name, offered, early, final, want string }{
		{"outbound", "sendrecv", "sendonly", "sendrecv", "sendrecv"},
		{"outbound, inactive early", "sendrecv", "inactive", "sendrecv", "sendrecv"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbcPort := sockPort(rtpSock(t))
			sbc := startPeer(t, "sbc")
			heard := make(chan struct{})
			sbc.invites(func(pi *peerInvite) {
				pi.respond(183, loopSDP(sbcPort, tc.early, true, "PCMU"))
				select { // the 200 after the caller has the 183
				case <-heard:
				case <-ctx.Done():
					return
				}
				pi.respond(200, loopSDP(sbcPort, tc.final, true, "PCMU"))
				pi.waitAck(ctx)
			})
			srv := serveTo(t, sbc.addr(), "udp", nil)
			caller := startPeer(t, "caller")
			oc := caller.call(ctx, srv.EdgeAddr(), "udp", loopSDP(sockPort(rtpSock(t)), tc.offered, true, "PCMU", "PCMA")) // no bypass ID: anchored
			var early []string
			res := oc.answer(ctx, func(r *gosip.Response) {
				if r.StatusCode == 183 {
					early = append(early, media(t, "183 to the client", r.Body()).Direction)
					close(heard)
				}
			})
			if res.StatusCode != 200 {
				t.Fatalf("got %d", res.StatusCode)
			}
			_ = oc.d.Ack(ctx)
			if got := media(t, "200 to the client", res.Body()).Direction; len(early) != 1 || early[0] != tc.want || got != tc.want {
				t.Errorf("client's 183 said %v and 200 %s, want %s in both", early, got, tc.want)
			}
			_ = oc.d.Bye(ctx)
			sbc.wait(ctx, gosip.BYE, 1)
		})
	}
	t.Run("inbound", func(t *testing.T) {
		ctx := testCtx(t, 20*time.Second)
		clientPort := sockPort(rtpSock(t))
		sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
		heard := make(chan struct{})
		edge.invites(func(pi *peerInvite) {
			pi.respond(183, loopSDP(clientPort, "sendonly", true, "PCMU"))
			select {
			case <-heard:
			case <-ctx.Done():
				return
			}
			pi.respond(200, loopSDP(clientPort, "sendrecv", true, "PCMU"))
			pi.waitAck(ctx)
		})
		srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = edge.addr().String() })
		oc := sbc.call(ctx, srv.GatewayAddr(), "udp", loopSDP(sockPort(rtpSock(t)), "sendrecv", true, "PCMU", "PCMA"))
		var early []string
		res := oc.answer(ctx, func(r *gosip.Response) {
			if r.StatusCode == 183 {
				early = append(early, media(t, "183 to the SBC", r.Body()).Direction)
				close(heard)
			}
		})
		if res.StatusCode != 200 {
			t.Fatalf("got %d", res.StatusCode)
		}
		_ = oc.d.Ack(ctx)
		if got := media(t, "200 to the SBC", res.Body()).Direction; len(early) != 1 || early[0] != "sendrecv" || got != "sendrecv" {
			t.Errorf("SBC's 183 said %v and 200 %s, want sendrecv in both", early, got)
		}
		_ = oc.d.Bye(ctx)
		edge.wait(ctx, gosip.BYE, 1)
	})
}

// savpSDP is loopSDP's PCMU offer over RTP/SAVP with an a=crypto key of
// tag 1, and a=x-bypassid:id when id is set.
func savpSDP(port int, key, id string) []byte {
	b := bytes.Replace(loopSDP(port, "sendrecv", true, "PCMU"), []byte("RTP/AVP"), []byte("RTP/SAVP"), 1)
	extra := "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + key + "\r\n"
	if id != "" {
		extra += "a=x-bypassid:" + id + "\r\n"
	}
	return bytes.Replace(b, []byte("a=ptime:20\r\n"), []byte(extra+"a=ptime:20\r\n"), 1)
}

// TestBypassSAVPReoffer: a bypassed call's client re-offers RTP/SAVP. With
// the trunk's SRTP off the re-offer gets 488 and the call stays as it was
// (the SBC is not re-offered plain RTP while the client is answered RTP/AVP
// without a key); with it optional, the keys go end to end as in the first
// offer: the SBC gets the client's a=crypto, the client the SBC's.
func TestBypassSAVPReoffer(t *testing.T) {
	const clientKey, sbcKey = "IQ+Q4YcN8irlbEovMTkF8LL/uMV0JIGFWrAxrrpY", "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"
	for _, srtp := range []string{"off", "optional"} {
		t.Run("trunk srtp "+srtp, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbcPort, clientPort := sockPort(rtpSock(t)), sockPort(rtpSock(t))
			sbc := startPeer(t, "sbc")
			sbc.invites(func(pi *peerInvite) { pi.respond(200, loopSDP(sbcPort, "sendrecv", true, "PCMU")) })
			sbc.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
				sbc.reply(req, tx, 200, savpSDP(sbcPort, sbcKey, ""))
			})
			srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Gateways[0].SRTP = srtp })
			id := srv.Settings().BypassID
			first := bytes.Replace(loopSDP(clientPort, "sendrecv", true, "PCMU"), []byte("a=ptime"), []byte("a=x-bypassid:"+id+"\r\na=ptime"), 1)
			caller := startPeer(t, "caller")
			oc := caller.call(ctx, srv.EdgeAddr(), "udp", first)
			if res := oc.answer(ctx, nil); res.StatusCode != 200 || media(t, "answer", res.Body()).BypassID == "" {
				t.Fatalf("first answer %d, bypass %q", res.StatusCode, media(t, "answer", res.Body()).BypassID)
			}
			_ = oc.d.Ack(ctx)
			req := gosip.NewRequest(gosip.INVITE, oc.final.Contact().Address)
			req.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
			req.SetBody(savpSDP(clientPort, clientKey, id))
			res := doIn(ctx, t, oc, req)
			if srtp == "off" {
				if res.StatusCode != 488 {
					t.Fatalf("SAVP re-offer got %d, want 488", res.StatusCode)
				}
				if n := sbc.count(gosip.INVITE); n != 1 {
					t.Errorf("the SBC got %d INVITEs, want only the first", n)
				}
			} else {
				if res.StatusCode != 200 {
					t.Fatalf("SAVP re-offer got %d, want 200", res.StatusCode)
				}
				_ = oc.d.WriteRequest(gosip.NewRequest(gosip.ACK, oc.final.Contact().Address))
				reinv := media(t, "re-INVITE to the SBC", sbc.wait(ctx, gosip.INVITE, 2).Body())
				if keys := reinv.SRTP(); len(keys) == 0 || !strings.Contains(keys[0].String(), clientKey[:8]) {
					t.Errorf("re-INVITE to the SBC has keys %+v, want the client's", keys)
				}
				ans := media(t, "200 to the client", res.Body())
				if keys := ans.SRTP(); ans.Proto != "RTP/SAVP" || len(keys) == 0 || !strings.Contains(keys[0].String(), sbcKey[:8]) {
					t.Errorf("client's answer %s with keys %+v, want RTP/SAVP with the SBC's", ans.Proto, keys)
				}
			}
			_ = oc.d.Bye(ctx)
			sbc.wait(ctx, gosip.BYE, 1)
		})
	}
}

// TestBypassSBCSAVPReoffer mirrors TestBypassSAVPReoffer: in a bypassed
// call, the SBC re-offers RTP/SAVP with its key (an SRTP SBC's hold or
// resume carries its a=crypto). With the trunk's SRTP optional the keys go
// end to end: the client is offered the SBC's key and the SBC gets the
// client's in RTP/SAVP. With SRTP off the re-offer gets 488 and the client
// is not asked, as for a first offer.
func TestBypassSBCSAVPReoffer(t *testing.T) {
	const clientKey, sbcKey = "IQ+Q4YcN8irlbEovMTkF8LL/uMV0JIGFWrAxrrpY", "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"
	for _, srtp := range []string{"off", "optional"} {
		t.Run("trunk srtp "+srtp, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbcPort, clientPort := sockPort(rtpSock(t)), sockPort(rtpSock(t))
			sbc := startPeer(t, "sbc")
			calls := make(chan *peerInvite, 1)
			sbc.invites(func(pi *peerInvite) {
				pi.respond(200, loopSDP(sbcPort, "sendrecv", true, "PCMU"))
				calls <- pi
			})
			srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Gateways[0].SRTP = srtp })
			id := srv.Settings().BypassID
			first := bytes.Replace(loopSDP(clientPort, "sendrecv", true, "PCMU"), []byte("a=ptime"), []byte("a=x-bypassid:"+id+"\r\na=ptime"), 1)
			caller := startPeer(t, "caller")
			caller.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
				caller.reply(req, tx, 200, savpSDP(clientPort, clientKey, id))
			})
			oc := caller.call(ctx, srv.EdgeAddr(), "udp", first)
			if res := oc.answer(ctx, nil); res.StatusCode != 200 || media(t, "answer", res.Body()).BypassID == "" {
				t.Fatalf("first answer %d, bypass %q", res.StatusCode, media(t, "answer", res.Body()).BypassID)
			}
			_ = oc.d.Ack(ctx)
			ackTaken(ctx, t, oc)
			pi := <-calls
			sbc.wait(ctx, gosip.ACK, 1)
			reoffer := bytes.Replace(savpSDP(sbcPort, sbcKey, ""), []byte(fmt.Sprintf("o=peer %d 1 ", sbcPort)), []byte(fmt.Sprintf("o=peer %d 2 ", sbcPort)), 1)
			res := pi.do(ctx, pi.inDialog(gosip.INVITE, pi.req.CSeq().SeqNo+1, reoffer))
			if srtp == "off" {
				if res.StatusCode != 488 {
					t.Fatalf("SBC's SAVP re-offer got %d, want 488", res.StatusCode)
				}
				if n := caller.count(gosip.INVITE); n != 0 {
					t.Errorf("the client got %d re-INVITEs, want none", n)
				}
			} else {
				if res.StatusCode != 200 {
					t.Fatalf("SBC's SAVP re-offer got %d, want 200", res.StatusCode)
				}
				toClient := media(t, "re-INVITE to the client", caller.wait(ctx, gosip.INVITE, 1).Body())
				if keys := toClient.SRTP(); len(keys) == 0 || !strings.Contains(keys[0].String(), sbcKey[:8]) {
					t.Errorf("re-INVITE to the client has keys %+v, want the SBC's", keys)
				}
				ans := media(t, "200 to the SBC", res.Body())
				if keys := ans.SRTP(); ans.Proto != "RTP/SAVP" || len(keys) == 0 || !strings.Contains(keys[0].String(), clientKey[:8]) {
					t.Errorf("SBC's answer %s with keys %+v, want RTP/SAVP with the client's", ans.Proto, keys)
				}
			}
			_ = oc.d.Bye(ctx)
			sbc.wait(ctx, gosip.BYE, 1)
		})
	}
}
