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

// TestOutboundBypassMovedToAnsweringFork: a bypassed outbound call (the
// client offers our bypass ID) whose SBC forks: fork A's 183 names port X
// in PCMU, fork B's port Y in PCMA, and one fork answers 200. A client
// using 100rel took the first reliable 183 (fork A's) as its answer (RFC
// 3262 §5) and ignores the SDP of later responses in the one early dialog
// it has with us (RFC 3261 §13.2.1): once it has ACKed our 200, which
// names fork B's Y, it is offered that SDP again, in the next version, and
// its media goes to fork B. Before, it got nothing more: it kept sending
// to fork A, which had not answered, for the whole call. Fork A answering,
// or a client without 100rel (the 183s unreliable: the 200's SDP is its
// answer), gets no re-offer.
func TestOutboundBypassMovedToAnsweringFork(t *testing.T) {
	const movedMsg = "the client took the first reliable early answer and keeps it (RFC 3262 §5, RFC 3261 §13.2.1), but the gateway's 200 answered with other media (another fork): offering the client the 200's SDP again"
	for _, tc := range []struct {
		name     string
		reliable bool   // the client supports 100rel
		winner   string // the fork that answers 200: "A" or "B"
		sdp200   bool   // its 200 repeats its SDP (else none)
		update   bool   // the client allows UPDATE
		first    int    // the client's response to our first re-offer (0: 200)
	}{
		{"fork B answers without SDP", true, "B", false, false, 0},
		{"fork B answers with its SDP, client allows UPDATE", true, "B", true, true, 0},
		{"fork B answers, glare", true, "B", false, false, 491},
		{"fork B answers, client refuses", true, "B", false, false, 488},
		{"fork A answers", true, "A", false, false, 0},
		{"unreliable 183s", false, "B", false, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			forkA, forkB, clientRTP := rtpSock(t), rtpSock(t), rtpSock(t)
			x, y := sockPort(forkA), sockPort(forkB)
			sdpA, sdpB := loopSDP(x, "sendrecv", true, "PCMU"), loopSDP(y, "sendrecv", true, "PCMA")
			sbc, client := startPeer(t, "sbc"), startPeer(t, "client")
			sbc.invites(func(pi *peerInvite) {
				pi.reliable(183, 1, sdpA)
				pi.p.wait(ctx, gosip.PRACK, 1)
				b := pi.response(183, sdpB, gosip.NewHeader("Require", "100rel"), gosip.NewHeader("RSeq", "1"))
				b.To().Params.Add("tag", "forkB") // replaces pi's tag: another UAS
				_ = pi.tx.Respond(b)
				pi.p.wait(ctx, gosip.PRACK, 2)
				var body []byte
				if tc.sdp200 {
					body = map[string][]byte{"A": sdpA, "B": sdpB}[tc.winner]
				}
				ok := pi.response(200, body)
				if tc.winner == "B" {
					ok.To().Params.Add("tag", "forkB")
				}
				_ = pi.tx.Respond(ok)
				pi.waitAck(ctx)
			})
			logs := new(syncBuffer)
			srv := mediationtest.Serve(t, labConfig(sbc.addr(), "udp"), zerolog.New(logs).Level(zerolog.InfoLevel))
			offer := bytes.Replace(loopSDP(sockPort(clientRTP), "sendrecv", true, "PCMU", "PCMA"),
				[]byte("a=ptime"), []byte("a=x-bypassid:"+srv.Settings().BypassID+"\r\na=ptime"), 1)
			// The client answers our re-offer with the SDP it offered:
			// nothing for the SBC to hear of.
			var mu sync.Mutex
			var reoffers []*gosip.Request
			answer := func(req *gosip.Request, tx gosip.ServerTransaction) {
				mu.Lock()
				reoffers = append(reoffers, req)
				n := len(reoffers)
				mu.Unlock()
				if n == 1 && tc.first != 0 {
					client.reply(req, tx, tc.first, nil)
					return
				}
				client.reply(req, tx, 200, offer)
			}
			client.on(gosip.INVITE, answer)
			client.on(gosip.UPDATE, answer)
			var hdrs []gosip.Header
			if tc.reliable {
				hdrs = append(hdrs, gosip.NewHeader("Supported", "100rel"))
			}
			if tc.update {
				hdrs = append(hdrs, allowUpdate())
			}
			oc := client.call(ctx, srv.EdgeAddr(), "udp", offer, hdrs...)
			pracked := map[string]bool{}
			res := oc.answer(ctx, func(r *gosip.Response) {
				if rseq := r.GetHeader("RSeq"); rseq != nil && !pracked[rseq.Value()] {
					pracked[rseq.Value()] = true
					if pres := doIn(ctx, t, oc, prackFor(oc, r)); pres.StatusCode != 200 {
						t.Errorf("PRACK got %d", pres.StatusCode)
					}
				}
			})
			if res.StatusCode != 200 {
				t.Fatalf("call got %d", res.StatusCode)
			}
			ackInvite(t, oc)
			loop := func(port int) netip.AddrPort {
				return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
			}
			final := media(t, "our 200", oc.final.Body())
			want := map[string]int{"A": x, "B": y}[tc.winner]
			if final.RTP() != loop(want) {
				t.Fatalf("our 200 names %s, want fork %s's %s", final.RTP(), tc.winner, loop(want))
			}
			if tc.reliable {
				var first []byte
				for _, r := range oc.provisionals {
					if len(r.Body()) > 0 && r.GetHeader("RSeq") != nil {
						first = r.Body()
						break
					}
				}
				if got := media(t, "the first reliable 183", first).RTP(); got != loop(x) {
					t.Fatalf("the first reliable 183 names %s, want fork A's %s", got, loop(x))
				}
			}

			if tc.winner == "A" || !tc.reliable {
				// Nothing to move: once the server has taken the ACK,
				// anything it sends on it is on the wire.
				deadline := time.Now().Add(10 * time.Second)
				for acked := srv.CallersAcked(); len(acked) != 1 || !acked[0]; acked = srv.CallersAcked() {
					if time.Now().After(deadline) {
						t.Fatalf("the client's ACK was not taken (%v)\n%s", srv.CallersAcked(), logs)
					}
					time.Sleep(5 * time.Millisecond)
				}
				flows(ctx, t, "the client's media to the answering fork", clientRTP, final.RTP(), map[string]*net.UDPConn{"A": forkA, "B": forkB}[tc.winner])
				byeCall(ctx, t, oc)
				sbc.wait(ctx, gosip.BYE, 1)
				waitCalls(t, srv, 0)
				if n := client.wireRequests(gosip.INVITE, gosip.UPDATE); n != 0 || hasMessage(logs, movedMsg) {
					t.Errorf("client got %d re-offers, want none\n%s", n, logs)
				}
				return
			}

			if tc.first == 488 {
				// The client would go on sending to fork A: the call
				// ends, BYE on both legs.
				client.wait(ctx, gosip.BYE, 1)
				sbc.wait(ctx, gosip.BYE, 1)
				waitCalls(t, srv, 0)
				if !hasMessage(logs, "client refused our re-offer of the answering fork's media: ending the call") {
					t.Errorf("no warning of the refusal\n%s", logs)
				}
				if r, want := endReason(logs), "re-offer: client not moved to the answering fork"; r != want {
					t.Errorf("call ended for %q, want %q", r, want)
				}
				return
			}
			method, n := gosip.INVITE, 1
			if tc.update {
				method = gosip.UPDATE
			}
			if tc.first == 491 {
				n = 2 // tried again after RFC 3261 §14.1's wait
			}
			req := client.wait(ctx, method, n)
			re := media(t, "re-offer", req.Body())
			if re.RTP() != loop(y) || re.OriginSessionID != final.OriginSessionID || re.OriginVersion != final.OriginVersion+1 {
				t.Errorf("re-offer names %s, o= %d %d; want fork B's %s, the 200's session, version %d",
					re.RTP(), re.OriginSessionID, re.OriginVersion, loop(y), final.OriginVersion+1)
			}
			if len(re.Codecs) == 0 || re.Codecs[0].Name != "PCMA" {
				t.Errorf("re-offer's codecs %s, want fork B's PCMA", codecNames(re))
			}
			if method == gosip.INVITE {
				client.waitSeq(ctx, gosip.ACK, req.CSeq().SeqNo)
			}
			// The client, moved by the re-offer, sends to fork B.
			flows(ctx, t, "the client's media to fork B", clientRTP, re.RTP(), forkB)
			for !hasMessage(logs, "client moved to the answering fork") && ctx.Err() == nil {
				time.Sleep(5 * time.Millisecond)
			}
			info := false
			for _, l := range logs.lines() {
				if l["message"] == movedMsg && l["level"] == "info" && l["method"] == string(method) {
					info = true
				}
			}
			if !info || !hasMessage(logs, "client moved to the answering fork") {
				t.Errorf("log: re-offer at info %v, moved %v\n%s", info, hasMessage(logs, "client moved to the answering fork"), logs)
			}
			byeCall(ctx, t, oc)
			sbc.wait(ctx, gosip.BYE, 1)
			waitCalls(t, srv, 0)
			mu.Lock()
			got := len(reoffers)
			mu.Unlock()
			if got != n {
				t.Errorf("client got %d re-offers, want %d", got, n)
			}
			if c := sbc.count(gosip.INVITE); c != 1 {
				t.Errorf("SBC got %d INVITEs, want 1 (the client's answer to our re-offer changes nothing)", c)
			}
		})
	}
}

// ackInvite ACKs the 2xx of oc's INVITE with the INVITE's CSeq number
// (RFC 3261 §13.2.2.4): sipgo's dialog ACK takes the dialog's latest, a
// PRACK's after 100rel, which is no ACK of that 2xx.
func ackInvite(t *testing.T, oc *outCall) {
	t.Helper()
	res := oc.final
	ack := gosip.NewRequest(gosip.ACK, res.Contact().Address)
	ack.AppendHeader(gosip.HeaderClone(oc.inv.From()))
	ack.AppendHeader(gosip.HeaderClone(res.To()))
	ack.AppendHeader(gosip.HeaderClone(oc.inv.CallID()))
	ack.AppendHeader(&gosip.CSeqHeader{SeqNo: oc.inv.CSeq().SeqNo, MethodName: gosip.ACK})
	contact := oc.p.stack.Contact("caller", "udp")
	ack.AppendHeader(&contact)
	ack.SetTransport(oc.inv.Transport())
	if err := oc.p.stack.Client(oc.inv.Transport()).WriteRequest(ack); err != nil {
		t.Fatalf("ACK: %v", err)
	}
}

// byeCall sends the BYE of the call ackInvite confirmed, in its dialog
// (sipgo's dialog, not confirmed by its own ACK, refuses Bye).
func byeCall(ctx context.Context, t *testing.T, oc *outCall) {
	t.Helper()
	if res := doIn(ctx, t, oc, gosip.NewRequest(gosip.BYE, oc.final.Contact().Address)); res.StatusCode != 200 {
		t.Fatalf("BYE got %d", res.StatusCode)
	}
}

// wireRequests is how many requests of those methods the peer read.
func (p *peer) wireRequests(methods ...gosip.RequestMethod) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, m := range p.wire {
		if r, ok := m.(*gosip.Request); ok {
			for _, method := range methods {
				if r.Method == method {
					n++
				}
			}
		}
	}
	return n
}

// endReason is the reason of the "call ended" line in logs ("" if none).
func endReason(logs *syncBuffer) string {
	for _, l := range logs.lines() {
		if l["message"] == "call ended" {
			r, _ := l["reason"].(string)
			return r
		}
	}
	return ""
}

// TestOutboundBypassMovedAfterFailover: a bypassed client (100rel) took
// the first trunk's reliable 183 as its answer; that trunk fails (503) and
// the next one answers 200 at another address, in a new version of the
// client's SDP that the client ignores. Once it has ACKed our 200 it is
// offered that SDP again, as after another fork's 200: the failover left
// it sending to the trunk that failed.
func TestOutboundBypassMovedAfterFailover(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	s1, s2, clientRTP := rtpSock(t), rtpSock(t), rtpSock(t)
	first, backup := startPeer(t, "first"), startPeer(t, "backup")
	first.invites(func(pi *peerInvite) {
		pi.reliable(183, 1, loopSDP(sockPort(s1), "sendrecv", true, "PCMU"))
		pi.p.wait(ctx, gosip.PRACK, 1)
		pi.respond(503, nil)
	})
	backup.invites(func(pi *peerInvite) {
		pi.respond(200, loopSDP(sockPort(s2), "sendrecv", true, "PCMA"))
		pi.waitAck(ctx)
	})
	srv, _ := failoverServer(t, first.addr(), "udp", backup)
	offer := bytes.Replace(loopSDP(sockPort(clientRTP), "sendrecv", true, "PCMU", "PCMA"),
		[]byte("a=ptime"), []byte("a=x-bypassid:"+srv.Settings().BypassID+"\r\na=ptime"), 1)
	client := startPeer(t, "client")
	client.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) { client.reply(req, tx, 200, offer) })
	oc := client.call(ctx, srv.EdgeAddr(), "udp", offer, gosip.NewHeader("Supported", "100rel"))
	res := oc.answer(ctx, func(r *gosip.Response) {
		if r.GetHeader("RSeq") != nil {
			if pres := doIn(ctx, t, oc, prackFor(oc, r)); pres.StatusCode != 200 {
				t.Errorf("PRACK got %d", pres.StatusCode)
			}
		}
	})
	if res.StatusCode != 200 {
		t.Fatalf("call got %d", res.StatusCode)
	}
	ackInvite(t, oc)
	s2At := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(sockPort(s2)))
	if final := media(t, "our 200", res.Body()); final.RTP() != s2At {
		t.Fatalf("our 200 names %s, want the backup trunk's %s", final.RTP(), s2At)
	}
	re := media(t, "re-offer", client.wait(ctx, gosip.INVITE, 1).Body())
	if re.RTP() != s2At {
		t.Errorf("re-offer names %s, want the backup trunk's %s", re.RTP(), s2At)
	}
	flows(ctx, t, "the client's media to the backup trunk", clientRTP, re.RTP(), s2)
	byeCall(ctx, t, oc)
	backup.wait(ctx, gosip.BYE, 1)
	waitCalls(t, srv, 0)
}
