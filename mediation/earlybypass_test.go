package mediation_test

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestInboundEarlyBypassMovedToRelay: an inbound call whose client answers
// its 183 with our bypass ID (the SBC gets the client's own address there)
// and its 200, in the same early dialog, without it: the client now sends
// to the relay, the default address of our offer to it. The 200 is
// decided afresh, anchored, and gives the SBC the relay's address in a new
// version; an SBC that keeps the first answer (RFC 3261 §13.2.1) ignores
// it, so once the 200 is ACKed the SBC gets our re-offer (re-INVITE, or
// UPDATE when it allows it) with the relay's address, and media flows
// both ways through the relay. Kept bypassed instead (r25-bypass F1), the
// relay the client sent to was released: the SBC heard nothing, for ever.
// Another fork answering 200 without the ID is another early dialog: that
// one is anchored, the SBC takes its 200's SDP, no re-offer. So is a
// 180 in the same early dialog without the ID followed by a 200 without
// SDP (the SBC keeps the 183's answer all the same; r25-reviewD #4).
func TestInboundEarlyBypassMovedToRelay(t *testing.T) {
	withID := func(b []byte, id string) []byte {
		return bytes.Replace(b, []byte("a=ptime"), []byte("a=x-bypassid:"+id+"\r\na=ptime"), 1)
	}
	for _, tc := range []struct {
		name   string
		fork   string // the To-tag of the 200, "" for the 183's own
		update bool   // the SBC allows UPDATE
		first  int    // the SBC's response to our first re-offer (0: 200)
		// then180: the client's 180 without the ID, and its 200 without SDP
		then180 bool
	}{
		{"same early dialog", "", false, 0, false},
		{"same early dialog, SBC allows UPDATE", "", true, 0, false},
		{"same early dialog, glare", "", false, 491, false},
		{"same early dialog, refused", "", false, 488, false},
		{"another fork", "forkB", false, 0, false},
		{"same early dialog, 180 without the ID, 200 without SDP", "", false, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
			sbcRTP, earlyRTP, lateRTP := rtpSock(t), rtpSock(t), rtpSock(t)
			early, late := sockPort(earlyRTP), sockPort(lateRTP)
			logs := new(syncBuffer)
			cfg := labConfig(sbc.addr(), "udp")
			cfg.Edge.Peer = edge.addr().String()
			srv := mediationtest.Serve(t, cfg, zerolog.New(logs).Level(zerolog.InfoLevel))
			id := srv.Settings().BypassID
			edge.invites(func(pi *peerInvite) {
				pi.respond(183, withID(loopSDP(early, "sendrecv", true, "PCMA"), id))
				if tc.fork != "" {
					pi.tag = tc.fork
				}
				if tc.then180 {
					pi.respond(180, loopSDP(late, "sendrecv", true, "PCMU", "PCMA"))
					pi.respond(200, nil)
					return
				}
				pi.respond(200, loopSDP(late, "sendrecv", true, "PCMU", "PCMA"))
			})
			// The SBC answers our re-offer from its own media address,
			// in the law offered.
			var mu sync.Mutex
			var reoffers []*gosip.Request
			// A refusal ends the call: not before the test has looked
			// at it in progress.
			checked := make(chan struct{})
			answer := func(req *gosip.Request, tx gosip.ServerTransaction) {
				mu.Lock()
				reoffers = append(reoffers, req)
				n := len(reoffers)
				mu.Unlock()
				if n == 1 && tc.first != 0 {
					if tc.first != 491 {
						select {
						case <-checked:
						case <-ctx.Done():
						}
					}
					sbc.reply(req, tx, tc.first, nil)
					return
				}
				law := "PCMU"
				if g := media(t, "re-offer", req.Body()).G711(); len(g) > 0 {
					law = g[0].Name
				}
				sbc.reply(req, tx, 200, loopSDP(sockPort(sbcRTP), "sendrecv", true, law))
			}
			// The SBC's answer narrows its offer's codecs, which goes to
			// the client as a re-offer (an answer to our offer that
			// changes the media binds): the client answers from where it
			// is.
			edge.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
				edge.reply(req, tx, 200, loopSDP(late, "sendrecv", true, "PCMU", "PCMA"))
			})
			sbc.on(gosip.INVITE, answer)
			sbc.on(gosip.UPDATE, answer)
			var hdrs []gosip.Header
			if tc.update {
				hdrs = append(hdrs, gosip.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE"))
			}
			oc := sbc.call(ctx, srv.GatewayAddr(), "udp", loopSDP(sockPort(sbcRTP), "sendrecv", true, "PCMU", "PCMA"), hdrs...)
			res := oc.answer(ctx, nil)
			if res.StatusCode != 200 {
				t.Fatalf("SBC got %d", res.StatusCode)
			}
			if err := oc.d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
			provisional := sbc.wireResponses(string(*oc.inv.CallID()), 183)
			if len(provisional) != 1 {
				t.Fatalf("SBC got %d 183s, want 1", len(provisional))
			}
			first, final := media(t, "183", provisional[0].Body()), media(t, "200", res.Body())
			client := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(early))
			if first.RTP() != client {
				t.Fatalf("183 names %s, want the client's %s (bypassed)", first.RTP(), client)
			}
			if final.RTP().Port() == uint16(late) || final.RTP().Port() == uint16(early) {
				t.Errorf("200 names %s, want the relay", final.RTP())
			}
			calls := srv.Calls()
			if len(calls) != 1 {
				t.Fatalf("%d calls in progress, want 1", len(calls))
			}
			if calls[0].MediationServerBypass {
				t.Errorf("record bypass=true (%s), want anchored", calls[0].BypassReason)
			}
			close(checked)
			relayEdge := media(t, "our offer to the client", edge.wait(ctx, gosip.INVITE, 1).Body()).RTP()
			if tc.fork == "" {
				if final.OriginVersion != first.OriginVersion+1 || final.OriginSessionID != first.OriginSessionID {
					t.Errorf("200's o= %d %d after the 183's %d %d, want the next version of the same session",
						final.OriginSessionID, final.OriginVersion, first.OriginSessionID, first.OriginVersion)
				}
				method := gosip.INVITE
				if tc.update {
					method = gosip.UPDATE
				}
				if tc.first == 488 {
					// The SBC would go on sending to the client's early
					// address: the call ends, BYE on both legs.
					sbc.wait(ctx, gosip.BYE, 1)
					edge.wait(ctx, gosip.BYE, 1)
					waitCalls(t, srv, 0)
					if !hasMessage(logs, "gateway refused our re-offer of the relay's address: ending the call") {
						t.Errorf("no warning of the refusal\n%s", logs)
					}
					return
				}
				want := 1
				if tc.first == 491 {
					want = 2 // tried again after RFC 3261 §14.1's wait
				}
				req := sbc.wait(ctx, method, want)
				re := media(t, "re-offer", req.Body())
				if re.RTP() != final.RTP() || re.OriginSessionID != final.OriginSessionID || re.OriginVersion != final.OriginVersion+1 {
					t.Errorf("re-offer names %s, o= %d %d; want the relay's %s, the 200's session, version %d",
						re.RTP(), re.OriginSessionID, re.OriginVersion, final.RTP(), final.OriginVersion+1)
				}
				if method == gosip.INVITE {
					sbc.waitSeq(ctx, gosip.ACK, req.CSeq().SeqNo)
				}
				// The client sends to the relay (our offer's address), the
				// SBC, moved by the re-offer, to the relay too.
				flows(ctx, t, "the client's media to the SBC", lateRTP, relayEdge, sbcRTP)
				flows(ctx, t, "the SBC's media to the client", sbcRTP, re.RTP(), lateRTP)
				// Our ACK goes before the answer is logged as taken.
				for !hasMessage(logs, "gateway moved to the relay") && ctx.Err() == nil {
					time.Sleep(5 * time.Millisecond)
				}
				reason, moved := "", false
				for _, l := range logs.lines() {
					switch l["message"] {
					case "the gateway got the client's own address in the early answer and may keep it (RFC 3261 §13.2.1), but the client's 200 did not choose bypass and it sends to the relay: offering the gateway the relay's address again":
						if l["level"] == "info" {
							reason = l["reason"].(string)
						}
					case "gateway moved to the relay":
						moved = true
					case "call answered":
						if l["bypass"] != false {
							t.Errorf("call answered: %v, want anchored", l)
						}
					}
				}
				if reason != "no_id" || !moved {
					t.Errorf("log: re-offer reason %q (want no_id), moved %v\n%s", reason, moved, logs)
				}
			} else {
				flows(ctx, t, "the client's media to the SBC", lateRTP, relayEdge, sbcRTP)
				flows(ctx, t, "the SBC's media to the client", sbcRTP, final.RTP(), lateRTP)
			}
			if err := oc.d.Bye(ctx); err != nil {
				t.Fatalf("BYE: %v", err)
			}
			edge.wait(ctx, gosip.BYE, 1)
			waitCalls(t, srv, 0)
			mu.Lock()
			n := len(reoffers)
			mu.Unlock()
			if want := map[bool]int{true: 1, false: 0}[tc.fork == ""] + map[bool]int{true: 1}[tc.first == 491]; n != want {
				t.Errorf("SBC got %d re-offers, want %d", n, want)
			}
		})
	}
}

// flows sends RTP (PCMU) from from to to until to's peer sock hears some,
// failing the test when ctx ends first.
func flows(ctx context.Context, t *testing.T, what string, from *net.UDPConn, to netip.AddrPort, sock *net.UDPConn) {
	t.Helper()
	for seq := uint16(1); ; seq++ {
		sendRTPFrom(t, from, to, 0, seq, make([]byte, 160))
		if receivedPT(sock, 0, 100*time.Millisecond) {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: none arrived", what)
		}
	}
}

// hasMessage tells whether logs has a line with message msg.
func hasMessage(logs *syncBuffer, msg string) bool {
	for _, l := range logs.lines() {
		if l["message"] == msg {
			return true
		}
	}
	return false
}
