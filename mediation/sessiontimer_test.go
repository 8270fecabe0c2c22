package mediation_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// Session timers (RFC 4028) with intervals of a few seconds: min_se may go
// below RFC 4028's 90 s for exactly this.

// TestSessionTimerPeerRefreshes: an SBC that puts Session-Expires with
// refresher=uas in its 200 refreshes the session itself; its refreshes
// (UPDATE without SDP) are answered and keep the call up past the
// interval, and once they stop the call is ended with BYE on both legs.
func TestSessionTimerPeerRefreshes(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			const interval = 2 * time.Second
			sbc := startPeer(t, "sbc")
			stopRefresh, refreshed := make(chan struct{}), make(chan struct{})
			sbc.invites(func(pi *peerInvite) {
				if !strings.Contains(supported(pi.req), "timer") {
					t.Errorf("INVITE does not say Supported: timer: %q", supported(pi.req))
				}
				pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"),
					gosip.NewHeader("Session-Expires", "2;refresher=uas"), gosip.NewHeader("Require", "timer"), allowUpdate())
				if !pi.waitAck(ctx) {
					return
				}
				go func() {
					for seq := uint32(10); ; seq++ {
						select {
						case <-stopRefresh:
							return
						case <-ctx.Done():
							return
						case <-time.After(interval / 2):
						}
						res := pi.do(ctx, pi.inDialog(gosip.UPDATE, seq, nil, gosip.NewHeader("Session-Expires", "2;refresher=uac"), gosip.NewHeader("Supported", "timer")))
						if res.StatusCode != 200 || res.GetHeader("Session-Expires") == nil {
							t.Errorf("refresh got %d, Session-Expires %v", res.StatusCode, res.GetHeader("Session-Expires"))
						}
						if seq == 13 {
							close(refreshed) // four refreshes: two intervals
						}
					}
				}()
			})
			srv := serveTo(t, sbc.addr(), tr, func(c *mediation.Config) { c.Gateways[0].SessionTimer.MinSE = time.Second })
			caller := startPeer(t, "caller")
			oc := upCall(ctx, t, caller, srv, tr)
			// Refreshed: still up after two intervals.
			select {
			case <-refreshed:
			case <-ctx.Done():
				t.Fatal("the SBC's refreshes did not go through")
			}
			if sbc.count(gosip.BYE) > 0 || caller.count(gosip.BYE) > 0 {
				t.Fatal("the call ended although the SBC refreshed it")
			}
			close(stopRefresh)
			sbc.wait(ctx, gosip.BYE, 1)
			caller.wait(ctx, gosip.BYE, 1)
			mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
			_ = oc
		})
	}
}

// TestSessionTimerWeRefresh: with session_timer enabled on the trunk (CCE's
// EnableSessionTimer) our INVITE asks for a timer with refresher=uac, and
// we refresh at half the interval: with UPDATE when the SBC allows it,
// else with a re-INVITE carrying the SDP it already has.
func TestSessionTimerWeRefresh(t *testing.T) {
	for _, tr := range transports {
		for _, allow := range []bool{true, false} {
			method := gosip.INVITE
			if allow {
				method = gosip.UPDATE
			}
			t.Run(tr+"/"+string(method), func(t *testing.T) {
				ctx := testCtx(t, 30*time.Second)
				sbc := startPeer(t, "sbc")
				sbc.invites(func(pi *peerInvite) {
					se := pi.req.GetHeader("Session-Expires")
					if se == nil || se.Value() != "2;refresher=uac" {
						t.Errorf("INVITE Session-Expires %v, want 2;refresher=uac", se)
					}
					hdrs := []gosip.Header{gosip.NewHeader("Session-Expires", "2;refresher=uac"), gosip.NewHeader("Require", "timer")}
					if allow {
						hdrs = append(hdrs, allowUpdate())
					}
					pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"), hdrs...)
				})
				sbc.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
					sbc.reply(req, tx, 200, fixtureBody(t, "sbc-answer-pcma.sdp"), gosip.NewHeader("Session-Expires", "2;refresher=uac"))
				})
				sbc.on(gosip.UPDATE, func(req *gosip.Request, tx gosip.ServerTransaction) {
					sbc.reply(req, tx, 200, nil, gosip.NewHeader("Session-Expires", "2;refresher=uac"))
				})
				srv := serveTo(t, sbc.addr(), tr, func(c *mediation.Config) {
					c.Gateways[0].SessionTimer = mediation.SessionTimerConfig{Enabled: true, Expires: 2 * time.Second, MinSE: time.Second}
				})
				caller := startPeer(t, "caller")
				oc := upCall(ctx, t, caller, srv, tr)
				start := time.Now()
				n := 2
				if method == gosip.INVITE {
					n = 3 // the initial INVITE, then two refreshes
				}
				refresh := sbc.wait(ctx, method, n)
				if d := time.Since(start); d < time.Second {
					t.Errorf("two refreshes within %v of a 2 s interval", d)
				}
				if method == gosip.INVITE && len(refresh.Body()) == 0 {
					t.Error("re-INVITE refresh without SDP")
				}
				if sbc.count(gosip.BYE) > 0 {
					t.Fatal("a refreshed call was ended")
				}
				_ = oc.d.Bye(ctx)
				sbc.wait(ctx, gosip.BYE, 1)
			})
		}
	}
}

// TestSessionTimer422: a caller asking for an interval below our Min-SE
// gets 422 with Min-SE; one asking for an interval below its own Min-SE
// gets 422 with that higher Min-SE (r28-sbc: it named ours, below the
// interval refused, and a UAC retrying with it would send the same
// request again); an SBC that finds our interval too small is INVITEd
// again with its Min-SE (RFC 4028 §7.4).
func TestSessionTimer422(t *testing.T) {
	for _, tr := range transports {
		for _, tc := range []struct {
			name   string
			hdrs   []string
			wantSE string
		}{{"caller", []string{"Session-Expires: 30"}, "90"}, {"caller below its own Min-SE", []string{"Session-Expires: 120", "Min-SE: 150"}, "150"}} {
			t.Run(tr+"/"+tc.name, func(t *testing.T) {
				ctx := testCtx(t, 20*time.Second)
				sbc := startPeer(t, "sbc")
				srv := serveTo(t, sbc.addr(), tr, nil)
				caller := startPeer(t, "caller")
				hdrs := []gosip.Header{gosip.NewHeader("Supported", "timer")}
				for _, h := range tc.hdrs {
					k, v, _ := strings.Cut(h, ": ")
					hdrs = append(hdrs, gosip.NewHeader(k, v))
				}
				oc := caller.call(ctx, srv.EdgeAddr(), tr, fixtureBody(t, "sfb-bypass-offer.sdp"), hdrs...)
				res := oc.answer(ctx, nil)
				if res.StatusCode != 422 {
					t.Fatalf("got %d, want 422", res.StatusCode)
				}
				if m := res.GetHeader("Min-SE"); m == nil || m.Value() != tc.wantSE {
					t.Errorf("Min-SE %v, want %s", m, tc.wantSE)
				}
				if sbc.count(gosip.INVITE) != 0 {
					t.Error("the refused call reached the SBC")
				}
			})
		}
		t.Run(tr+"/sbc", func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc := startPeer(t, "sbc")
			sbc.invites(func(pi *peerInvite) {
				if se := pi.req.GetHeader("Session-Expires"); se != nil && strings.HasPrefix(se.Value(), "120") {
					pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"), gosip.NewHeader("Session-Expires", "120;refresher=uac"))
					return
				}
				pi.respond(422, nil, gosip.NewHeader("Min-SE", "120"))
			})
			srv := serveTo(t, sbc.addr(), tr, func(c *mediation.Config) {
				c.Gateways[0].SessionTimer = mediation.SessionTimerConfig{Enabled: true, Expires: 90 * time.Second}
			})
			caller := startPeer(t, "caller")
			oc := upCall(ctx, t, caller, srv, tr)
			second := sbc.wait(ctx, gosip.INVITE, 2)
			if second.CSeq().SeqNo != sbc.wait(ctx, gosip.INVITE, 1).CSeq().SeqNo+1 {
				t.Errorf("INVITE after 422 has CSeq %d", second.CSeq().SeqNo)
			}
			_ = oc.d.Bye(ctx)
			sbc.wait(ctx, gosip.BYE, 1)
		})
	}
}

// TestSessionTimerCallerMissesRefresh: a caller that asked to refresh
// (refresher=uac) and does not is hung up on both legs once the session
// expires.
func TestSessionTimerCallerMissesRefresh(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc := startPeer(t, "sbc")
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.SessionTimer.MinSE = time.Second })
	caller := startPeer(t, "caller")
	oc := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"),
		gosip.NewHeader("Supported", "timer"), gosip.NewHeader("Session-Expires", "2;refresher=uac"))
	res := oc.answer(ctx, nil)
	if res.StatusCode != 200 {
		t.Fatalf("got %d", res.StatusCode)
	}
	if se := res.GetHeader("Session-Expires"); se == nil || se.Value() != "2;refresher=uac" {
		t.Errorf("200 Session-Expires %v, want 2;refresher=uac", se)
	}
	_ = oc.d.Ack(ctx)
	start := time.Now()
	caller.wait(ctx, gosip.BYE, 1)
	sbc.wait(ctx, gosip.BYE, 1)
	if d := time.Since(start); d < time.Second {
		t.Errorf("hung up after %v, before the session could expire", d)
	}
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
}

// weRefresh sets up a call whose SBC leg we refresh every interval/2 (2 s
// interval), by UPDATE when update, else by re-INVITE; onRefresh answers
// each of our refreshes (n counts from 1).
func weRefresh(ctx context.Context, t *testing.T, update bool, onRefresh func(n int, req *gosip.Request, tx gosip.ServerTransaction)) (*mediation.Server, *peer, *outCall, *peerInvite) {
	t.Helper()
	sbc := startPeer(t, "sbc")
	calls := make(chan *peerInvite, 1)
	sbc.invites(func(pi *peerInvite) {
		hdrs := []gosip.Header{gosip.NewHeader("Session-Expires", "2;refresher=uac"), gosip.NewHeader("Require", "timer")}
		if update {
			hdrs = append(hdrs, allowUpdate())
		}
		pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"), hdrs...)
		calls <- pi
	})
	var mu sync.Mutex
	n := 0
	handler := func(req *gosip.Request, tx gosip.ServerTransaction) {
		mu.Lock()
		n++
		k := n
		mu.Unlock()
		onRefresh(k, req, tx)
	}
	if update {
		sbc.on(gosip.UPDATE, handler)
	} else {
		sbc.on(gosip.INVITE, handler)
	}
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
		c.Gateways[0].SessionTimer = mediation.SessionTimerConfig{Enabled: true, Expires: 2 * time.Second, MinSE: time.Second}
	})
	caller := startPeer(t, "caller")
	oc := upCall(ctx, t, caller, srv, "udp")
	select {
	case pi := <-calls:
		return srv, sbc, oc, pi
	case <-ctx.Done():
		t.Fatal("no call at the SBC")
	}
	return nil, nil, nil, nil
}

// TestSessionRefreshRetried: a refresh the SBC refuses with 500 (no
// Retry-After) leaves the session up (RFC 4028 §10): we try again after
// 4*T1, not hang up at the session's expiry; the next one succeeds and the
// call carries on through later refreshes. Before, one 491 or 500 ended
// the call ("session refresh failed").
func TestSessionRefreshRetried(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	srv, sbc, oc, _ := weRefresh(ctx, t, true, func(n int, req *gosip.Request, tx gosip.ServerTransaction) {
		code := 200
		if n == 1 {
			code = 500
		}
		res := gosip.NewResponseFromRequest(req, code, "", nil)
		if code == 200 {
			res.AppendHeader(gosip.NewHeader("Session-Expires", "2;refresher=uac"))
		}
		_ = tx.Respond(res)
	})
	sbc.wait(ctx, gosip.UPDATE, 4) // the refused one, its retry, two more intervals
	if n := sbc.count(gosip.BYE) + oc.p.count(gosip.BYE); n != 0 {
		t.Fatalf("%d BYEs: the call was ended over one refused refresh", n)
	}
	_ = oc.d.Bye(ctx)
	sbc.wait(ctx, gosip.BYE, 1)
	waitCalls(t, srv, 0)
}

// TestSessionRefresh422Bounded: a peer that refuses every refresh does not
// get a storm of them (it was thousands a second): a 422 without a larger
// Min-SE (or none, against RFC 4028 §6), a 500 with Retry-After: 0, and a
// 422 whose Min-SE keeps growing are each retried after a backed-off wait
// (4*T1, doubling), and the call ends when the session expires.
func TestSessionRefresh422Bounded(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  func(n int, req *gosip.Request) *gosip.Response
	}{
		{"422 without Min-SE", func(n int, req *gosip.Request) *gosip.Response {
			return gosip.NewResponseFromRequest(req, 422, "", nil)
		}},
		{"500 Retry-After 0", func(n int, req *gosip.Request) *gosip.Response {
			res := gosip.NewResponseFromRequest(req, 500, "", nil)
			res.AppendHeader(gosip.NewHeader("Retry-After", "0"))
			return res
		}},
		{"422 growing Min-SE", func(n int, req *gosip.Request) *gosip.Response {
			res := gosip.NewResponseFromRequest(req, 422, "", nil)
			res.AppendHeader(gosip.NewHeader("Min-SE", strconv.Itoa(2+n)))
			return res
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			_, sbc, oc, _ := weRefresh(ctx, t, true, func(n int, req *gosip.Request, tx gosip.ServerTransaction) {
				_ = tx.Respond(tc.res(n, req))
			})
			sbc.wait(ctx, gosip.BYE, 1)
			oc.p.wait(ctx, gosip.BYE, 1)
			// The refresh window is half the 2 s interval: a few
			// retries fit in it (three at once for a growing Min-SE).
			if n := sbc.count(gosip.UPDATE); n > 12 {
				t.Errorf("%d refresh UPDATEs before the session expired, want a few", n)
			}
		})
	}
}

// TestSessionRefreshGlare: the SBC's own re-INVITE crossing our refresh
// re-INVITE gets 491 (RFC 3261 §14.2: an INVITE of ours is in progress on
// the dialog), is not relayed to the client, and our refresh completes.
func TestSessionRefreshGlare(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	codes := make(chan int, 1)
	var pi *peerInvite
	var once sync.Once
	ready := make(chan struct{})
	srv, sbc, oc, call := weRefresh(ctx, t, false, func(n int, req *gosip.Request, tx gosip.ServerTransaction) {
		<-ready
		once.Do(func() {
			// Ours is in progress: the SBC re-INVITEs (hold) before it answers.
			res := pi.do(ctx, pi.inDialog(gosip.INVITE, 2, fixtureBody(t, "hold-offer.sdp")))
			codes <- res.StatusCode
		})
		res := gosip.NewResponseFromRequest(req, 200, "", fixtureBody(t, "sbc-answer-pcma.sdp"))
		res.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
		res.AppendHeader(gosip.NewHeader("Session-Expires", "2;refresher=uac"))
		contact := pi.p.stack.Contact("sbc", req.Transport())
		res.AppendHeader(&contact)
		_ = tx.Respond(res)
	})
	pi = call
	close(ready)
	select {
	case code := <-codes:
		if code != 491 {
			t.Errorf("the SBC's re-INVITE crossing our refresh got %d, want 491", code)
		}
	case <-ctx.Done():
		t.Fatal("no refresh re-INVITE")
	}
	sbc.wait(ctx, gosip.INVITE, 3) // the call's, our refresh, a later refresh: the call goes on
	if n := oc.p.count(gosip.INVITE); n != 0 {
		t.Errorf("the client got %d re-INVITEs: the SBC's crossing one was relayed", n)
	}
	_ = oc.d.Bye(ctx)
	sbc.wait(ctx, gosip.BYE, 1)
	waitCalls(t, srv, 0)
}

// TestRefreshAnswerMovesMedia: the SBC answers our session refresh
// re-INVITE (our SDP unchanged) with its media at a new port, as a new
// version: in an anchored call the relay follows it (RFC 3264 §8: the
// answer binds) without bothering the client. Before, the answer was only
// ACKed and the client's media went on to the old port.
func TestRefreshAnswerMovesMedia(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	clientRTP, before, after := rtpSock(t), rtpSock(t), rtpSock(t)
	moved := strings.Replace(string(loopSDP(sockPort(after), "sendrecv", false, "PCMU")),
		fmt.Sprintf("o=peer %d 1 ", sockPort(after)), fmt.Sprintf("o=peer %d 2 ", sockPort(before)), 1)
	sbc := startPeer(t, "sbc")
	sbc.invites(func(pi *peerInvite) {
		pi.respond(200, loopSDP(sockPort(before), "sendrecv", false, "PCMU"),
			gosip.NewHeader("Session-Expires", "2;refresher=uac"), gosip.NewHeader("Require", "timer"))
	})
	sbc.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) { // our refreshes (no UPDATE allowed)
		sbc.reply(req, tx, 200, []byte(moved), gosip.NewHeader("Session-Expires", "2;refresher=uac"))
	})
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
		c.Gateways[0].SessionTimer = mediation.SessionTimerConfig{Enabled: true, Expires: 2 * time.Second, MinSE: time.Second}
	})
	caller := startPeer(t, "caller")
	oc := caller.call(ctx, srv.EdgeAddr(), "udp", loopSDP(sockPort(clientRTP), "sendrecv", false, "PCMU")) // no bypass ID: anchored
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("got %d", res.StatusCode)
	}
	_ = oc.d.Ack(ctx)
	sbc.wait(ctx, gosip.INVITE, 2) // the call's, then our refresh
	relayEdge := media(t, "our answer to the client", oc.final.Body()).RTP()
	for seq := uint16(1); ; seq++ {
		sendRTPFrom(t, clientRTP, relayEdge, 0, seq, make([]byte, 160))
		if receivedPT(after, 0, 100*time.Millisecond) {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the client's media never reached the SBC's new address")
		}
	}
	if n := caller.count(gosip.INVITE); n != 0 {
		t.Errorf("the client got %d re-INVITEs; its session did not change", n)
	}
	_ = oc.d.Bye(ctx)
	sbc.wait(ctx, gosip.BYE, 1)
}

// TestRelayedOffer422Retried: the SBC answers a relayed hold re-INVITE
// 422 with a Min-SE above the interval we put on its leg: that 422 is
// about our Session-Expires, not about the client's offer, so the offer
// goes to the SBC again with the Min-SE (RFC 4028 §7.4) and the client's
// hold succeeds. Before, the client got the 422, without a Min-SE.
func TestRelayedOffer422Retried(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc := startPeer(t, "sbc")
	sbc.invites(func(pi *peerInvite) {
		pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"),
			gosip.NewHeader("Session-Expires", "2;refresher=uac"), gosip.NewHeader("Require", "timer"))
	})
	var mu sync.Mutex
	refused := false
	sbc.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		mu.Lock()
		first := !refused && strings.Contains(string(req.Body()), "sendonly")
		refused = refused || first
		mu.Unlock()
		if first {
			res := gosip.NewResponseFromRequest(req, 422, "", nil)
			res.AppendHeader(gosip.NewHeader("Min-SE", "3"))
			_ = tx.Respond(res)
			return
		}
		sbc.reply(req, tx, 200, fixtureBody(t, "sbc-answer-pcma.sdp"), gosip.NewHeader("Session-Expires", "3;refresher=uac"))
	})
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
		c.Gateways[0].SessionTimer = mediation.SessionTimerConfig{Enabled: true, Expires: 2 * time.Second, MinSE: time.Second}
	})
	caller := startPeer(t, "caller")
	oc := upCall(ctx, t, caller, srv, "udp")
	hold := gosip.NewRequest(gosip.INVITE, oc.final.Contact().Address)
	hold.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	hold.SetBody(fixtureBody(t, "hold-offer.sdp"))
	if res := doIn(ctx, t, oc, hold); res.StatusCode != 200 {
		t.Fatalf("client's hold got %d, want 200 (the SBC's 422 was about our interval)", res.StatusCode)
	}
	_ = oc.d.WriteRequest(gosip.NewRequest(gosip.ACK, oc.final.Contact().Address))
	again := sbc.wait(ctx, gosip.INVITE, 3) // the call's, the refused hold, the hold again
	if se := again.GetHeader("Session-Expires"); se == nil || !strings.HasPrefix(se.Value(), "3") {
		t.Errorf("the hold sent again with Session-Expires %v, want 3 (the 422's Min-SE)", se)
	}
	_ = oc.d.Bye(ctx)
	sbc.wait(ctx, gosip.BYE, 1)
}

// ackInDialog sends the SBC's ACK of our 2xx to req, its re-INVITE in the
// dialog of pi.
func ackInDialog(t *testing.T, pi *peerInvite, req *gosip.Request) {
	t.Helper()
	ack := gosip.NewRequest(gosip.ACK, req.Recipient)
	ack.AppendHeader(gosip.HeaderClone(req.From()))
	ack.AppendHeader(gosip.HeaderClone(req.To()))
	ack.AppendHeader(gosip.HeaderClone(req.CallID()))
	ack.AppendHeader(&gosip.CSeqHeader{SeqNo: req.CSeq().SeqNo, MethodName: gosip.ACK})
	ack.SetTransport(req.Transport())
	if err := pi.p.stack.Client(req.Transport()).WriteRequest(ack); err != nil {
		t.Fatal(err)
	}
}

// TestRefresherOfKeptTimer: our 2xx to an SBC's re-INVITE without
// Session-Expires keeps the dialog's timer and names its refresher as that
// request sees it: uas when we refresh (the timer set up by our INVITE,
// where we were the uac), and uas with no Require: timer when the request
// does not say Supported: timer (RFC 4028 §9: such a peer cannot refresh;
// RFC 3261 §8.2.2.3: Require only what it supports), whether we answer it
// ourselves or relay it to the client. Before, the 2xx repeated the
// refresher of the request that set the timer up, naming the SBC.
func TestRefresherOfKeptTimer(t *testing.T) {
	for _, tc := range []struct {
		name      string
		weAsk     bool   // the trunk's session_timer: our INVITE sets the timer up, we refresh
		supported bool   // the re-INVITE says Supported: timer
		body      string // the re-INVITE's SDP fixture ("": none, answered by us)
		require   bool
	}{
		{"we refresh, answered here", true, true, "", true},
		{"no Supported, answered here", false, false, "", false},
		{"no Supported, relayed", false, false, "hold-offer.sdp", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc := startPeer(t, "sbc")
			calls := make(chan *peerInvite, 1)
			sbc.invites(func(pi *peerInvite) {
				var hdrs []gosip.Header
				if tc.weAsk {
					hdrs = append(hdrs, gosip.NewHeader("Session-Expires", "600;refresher=uac"), gosip.NewHeader("Require", "timer"))
				}
				pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"), hdrs...)
				if !pi.waitAck(ctx) {
					return
				}
				calls <- pi
			})
			srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
				if tc.weAsk {
					c.Gateways[0].SessionTimer = mediation.SessionTimerConfig{Enabled: true, Expires: 600 * time.Second}
				}
			})
			caller := startPeer(t, "caller")
			caller.answerSDP(t, gosip.INVITE)
			oc := upCall(ctx, t, caller, srv, "udp")
			var pi *peerInvite
			select {
			case pi = <-calls:
			case <-ctx.Done():
				t.Fatal("no call at the SBC")
			}
			seq := uint32(10)
			if !tc.weAsk {
				// The SBC sets the timer up, refreshing itself.
				res := pi.do(ctx, pi.inDialog(gosip.UPDATE, seq, nil, gosip.NewHeader("Supported", "timer"), gosip.NewHeader("Session-Expires", "600;refresher=uac")))
				if se := res.GetHeader("Session-Expires"); res.StatusCode != 200 || se == nil || se.Value() != "600;refresher=uac" {
					t.Fatalf("the SBC's UPDATE got %d with Session-Expires %v, want 200 with 600;refresher=uac", res.StatusCode, se)
				}
				seq++
			}
			var hdrs []gosip.Header
			if tc.supported {
				hdrs = append(hdrs, gosip.NewHeader("Supported", "timer"))
			}
			var body []byte
			if tc.body != "" {
				body = fixtureBody(t, tc.body)
			}
			// The client's ACK of our 200 taken first (an OPTIONS behind
			// it on its socket, answered): before it, a re-INVITE gets 491
			// (RFC 3261 §14.2: our 2xx waits for it).
			ackTaken(ctx, t, oc)
			reinv := pi.inDialog(gosip.INVITE, seq, body, hdrs...)
			res := pi.do(ctx, reinv)
			if res.StatusCode != 200 {
				t.Fatalf("re-INVITE got %d", res.StatusCode)
			}
			ackInDialog(t, pi, reinv)
			if tc.body != "" && caller.count(gosip.INVITE) == 0 {
				t.Error("the re-INVITE was not relayed to the client")
			}
			if se := res.GetHeader("Session-Expires"); se == nil || se.Value() != "600;refresher=uas" {
				t.Errorf("200 to the re-INVITE has Session-Expires %v, want 600;refresher=uas (us)", se)
			}
			if got := sipHasTimer(res.GetHeaders("Require")); got != tc.require {
				t.Errorf("200 to the re-INVITE has Require: timer %v, want %v", got, tc.require)
			}
			_ = oc.d.Bye(ctx)
			sbc.wait(ctx, gosip.BYE, 1)
			waitCalls(t, srv, 0)
		})
	}
}

// sipHasTimer reports "timer" among the option tags of hs.
func sipHasTimer(hs []gosip.Header) bool {
	for _, h := range hs {
		for _, tag := range strings.Split(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(tag), "timer") {
				return true
			}
		}
	}
	return false
}

// TestRefreshFallsBackToReinvite: an SBC whose 200 allows UPDATE but that
// refuses our refresh UPDATE as a method it does not do (405 whose Allow
// lacks UPDATE, or 501) is refreshed by re-INVITE at once, with the SDP it
// already has, and by re-INVITE from then on: the call stays up. Before,
// the UPDATE was tried again until the session expired and the call was
// ended ("session refresh failed").
func TestRefreshFallsBackToReinvite(t *testing.T) {
	for _, code := range []int{405, 501} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			sbc := startPeer(t, "sbc")
			sbc.invites(func(pi *peerInvite) {
				pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"),
					gosip.NewHeader("Session-Expires", "2;refresher=uac"), gosip.NewHeader("Require", "timer"), allowUpdate())
			})
			sbc.on(gosip.UPDATE, func(req *gosip.Request, tx gosip.ServerTransaction) {
				res := gosip.NewResponseFromRequest(req, code, "", nil)
				if code == 405 {
					res.AppendHeader(gosip.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS"))
				}
				_ = tx.Respond(res)
			})
			sbc.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
				sbc.reply(req, tx, 200, fixtureBody(t, "sbc-answer-pcma.sdp"), gosip.NewHeader("Session-Expires", "2;refresher=uac"))
			})
			srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
				c.Gateways[0].SessionTimer = mediation.SessionTimerConfig{Enabled: true, Expires: 2 * time.Second, MinSE: time.Second}
			})
			caller := startPeer(t, "caller")
			oc := upCall(ctx, t, caller, srv, "udp")
			// The call's INVITE, the refresh after the refused UPDATE, the
			// next interval's refresh: a re-INVITE too.
			first := sbc.wait(ctx, gosip.INVITE, 2)
			if got, want := string(first.Body()), string(sbc.wait(ctx, gosip.INVITE, 1).Body()); got != want {
				t.Errorf("refresh re-INVITE SDP\n%s\nwant the SDP the SBC already has\n%s", got, want)
			}
			sbc.wait(ctx, gosip.INVITE, 3)
			if n := sbc.count(gosip.UPDATE); n != 1 {
				t.Errorf("%d refresh UPDATEs, want only the refused one", n)
			}
			if n := sbc.count(gosip.BYE) + caller.count(gosip.BYE); n != 0 {
				t.Fatalf("%d BYEs: the call was ended over the refused UPDATE", n)
			}
			_ = oc.d.Bye(ctx)
			sbc.wait(ctx, gosip.BYE, 1)
			waitCalls(t, srv, 0)
		})
	}
}

// TestSlowRefreshAnswerInTime: as the refresher we wait for our refresh's
// answer until the session expires, a whole interval after the last one:
// an SBC that answers our refresh (sent at 3 s of a 6 s interval) after 2 s
// keeps the call. Before, we gave up at the interval minus a third (4 s),
// RFC 4028 §10's margin for the side that does not refresh, and ended it.
func TestSlowRefreshAnswerInTime(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc := startPeer(t, "sbc")
	sbc.invites(func(pi *peerInvite) {
		pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"),
			gosip.NewHeader("Session-Expires", "6;refresher=uac"), gosip.NewHeader("Require", "timer"), allowUpdate())
	})
	var mu sync.Mutex
	n := 0
	sbc.on(gosip.UPDATE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		mu.Lock()
		n++
		first := n == 1
		mu.Unlock()
		if first {
			select { // a slow SBC: the scenario, not a wait for a condition
			case <-time.After(2 * time.Second):
			case <-ctx.Done():
				return
			}
		}
		sbc.reply(req, tx, 200, nil, gosip.NewHeader("Session-Expires", "6;refresher=uac"))
	})
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
		c.Gateways[0].SessionTimer = mediation.SessionTimerConfig{Enabled: true, Expires: 6 * time.Second, MinSE: time.Second}
	})
	caller := startPeer(t, "caller")
	oc := upCall(ctx, t, caller, srv, "udp")
	sbc.wait(ctx, gosip.UPDATE, 2) // the slow refresh went through: the next interval's
	if n := sbc.count(gosip.BYE) + caller.count(gosip.BYE); n != 0 {
		t.Fatalf("%d BYEs: the call was ended while its refresh's answer was on the way", n)
	}
	_ = oc.d.Bye(ctx)
	sbc.wait(ctx, gosip.BYE, 1)
	waitCalls(t, srv, 0)
}

// TestRefusedReofferKeepsTimer: a re-INVITE of the SBC without
// Supported: timer and without Session-Expires would make us the
// refresher of the dialog's timer (RFC 4028 §9), but only through our 2xx:
// relayed and refused by the client, it changes nothing, and the SBC
// stays the refresher. Our next offer to it (the client's re-offer,
// relayed) therefore carries no Session-Expires. The kept timer used to be
// taken before the outcome: that offer went with a Session-Expires naming
// us the refresher of a dialog the SBC refreshes.
func TestRefusedReofferKeepsTimer(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc := startPeer(t, "sbc")
	calls := make(chan *peerInvite, 1)
	sbc.invites(func(pi *peerInvite) {
		pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
		calls <- pi
	})
	srv := serveTo(t, sbc.addr(), "udp", nil)
	caller := startPeer(t, "caller")
	caller.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		caller.reply(req, tx, 488, nil)
	})
	oc := upCall(ctx, t, caller, srv, "udp")
	ackTaken(ctx, t, oc)
	var pi *peerInvite
	select {
	case pi = <-calls:
	case <-ctx.Done():
		t.Fatal("no call at the SBC")
	}
	sbc.wait(ctx, gosip.ACK, 1)
	// The SBC sets the timer up, refreshing itself.
	res := pi.do(ctx, pi.inDialog(gosip.UPDATE, 10, nil, gosip.NewHeader("Supported", "timer"), gosip.NewHeader("Session-Expires", "600;refresher=uac")))
	if se := res.GetHeader("Session-Expires"); res.StatusCode != 200 || se == nil || se.Value() != "600;refresher=uac" {
		t.Fatalf("the SBC's UPDATE got %d with Session-Expires %v, want 200 with 600;refresher=uac", res.StatusCode, se)
	}
	// Its re-offer, without Supported: timer, relayed and refused.
	if res := pi.do(ctx, pi.inDialog(gosip.INVITE, 11, fixtureBody(t, "hold-offer.sdp"))); res.StatusCode != 488 {
		t.Fatalf("SBC's re-INVITE got %d, want the client's 488", res.StatusCode)
	}
	if n := caller.count(gosip.INVITE); n != 1 {
		t.Fatalf("client got %d re-INVITEs, want the relayed one", n)
	}
	reoffer := bumpVersion(t, string(fixtureBody(t, "sfb-bypass-offer.sdp")))
	if res := callerReinvites(t, oc)(ctx, []byte(reoffer)); res.StatusCode != 200 {
		t.Fatalf("client's re-INVITE got %d", res.StatusCode)
	}
	relayed := sbc.wait(ctx, gosip.INVITE, 2)
	if se := relayed.GetHeader("Session-Expires"); se != nil {
		t.Errorf("client's re-offer relayed to the SBC with Session-Expires %q: we are not the refresher of its dialog", se.Value())
	}
	_ = oc.d.Bye(ctx)
	sbc.wait(ctx, gosip.BYE, 1)
	waitCalls(t, srv, 0)
}
