package mediation_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
)

const q850Busy = `Q.850;cause=17;text="User busy"`

// header is the value of msg's header name, "" without one.
func header(msg interface{ GetHeader(string) gosip.Header }, name string) string {
	if h := msg.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

// TestFailureHeadersRelayed: the callee's failure response reaches the
// caller with its Reason (Q.850, RFC 6432), Warning and Retry-After, not
// only its code: a 486 keeps all three; a 503 keeps its Reason and
// Warning but not its Retry-After, which would send the caller away from
// us rather than from the busy trunk.
func TestFailureHeadersRelayed(t *testing.T) {
	for _, tc := range []struct {
		code       int
		retryAfter string
	}{{486, "60"}, {503, ""}} {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc := startPeer(t, "sbc")
			sbc.invites(func(pi *peerInvite) {
				pi.respond(tc.code, nil, gosip.NewHeader("Reason", q850Busy),
					gosip.NewHeader("Warning", `399 sbc.example.com "number busy"`), gosip.NewHeader("Retry-After", "60"))
			})
			srv := serveTo(t, sbc.addr(), "udp", nil)
			caller := startPeer(t, "caller")
			oc := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"))
			res := oc.answer(ctx, nil)
			if res.StatusCode != tc.code {
				t.Fatalf("caller got %d, want %d", res.StatusCode, tc.code)
			}
			if got := header(res, "Reason"); got != q850Busy {
				t.Errorf("Reason %q, want %q", got, q850Busy)
			}
			if got := header(res, "Warning"); got != `399 sbc.example.com "number busy"` {
				t.Errorf("Warning %q, want the SBC's", got)
			}
			if got := header(res, "Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
			}
		})
	}
}

// TestReasonRelayed: the Reason of a CANCEL or BYE that ends the call
// (RFC 3326) is in the CANCEL or BYE we send the other leg: the caller's
// CANCEL of a ringing call, the caller's BYE of an answered one, and an
// SBC's BYE of an inbound call.
func TestReasonRelayed(t *testing.T) {
	reason := `Q.850;cause=16;text="Normal call clearing"`
	t.Run("CANCEL", func(t *testing.T) {
		ctx := testCtx(t, 20*time.Second)
		sbc := ringingSBC(t)
		srv := serveTo(t, sbc.addr(), "udp", nil)
		caller := startPeer(t, "caller")
		oc := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"))
		ringing := make(chan struct{})
		defer cancelWhenRinging(ctx, t, oc, "udp", ringing, gosip.NewHeader("Reason", reason))()
		if res := oc.answer(ctx, func(r *gosip.Response) {
			if r.StatusCode == 180 {
				close(ringing)
			}
		}); res.StatusCode != 487 {
			t.Fatalf("got %d, want 487", res.StatusCode)
		}
		if got := header(sbc.wait(ctx, gosip.CANCEL, 1), "Reason"); got != reason {
			t.Errorf("CANCEL to the SBC: Reason %q, want %q", got, reason)
		}
	})
	t.Run("BYE outbound", func(t *testing.T) {
		ctx := testCtx(t, 20*time.Second)
		sbc := startPeer(t, "sbc")
		srv := serveTo(t, sbc.addr(), "udp", nil)
		caller := startPeer(t, "caller")
		oc := upCall(ctx, t, caller, srv, "udp")
		bye := gosip.NewRequest(gosip.BYE, oc.final.Contact().Address)
		bye.AppendHeader(gosip.NewHeader("Reason", reason))
		if res := doIn(ctx, t, oc, bye); res.StatusCode != 200 {
			t.Fatalf("BYE got %d", res.StatusCode)
		}
		if got := header(sbc.wait(ctx, gosip.BYE, 1), "Reason"); got != reason {
			t.Errorf("BYE to the SBC: Reason %q, want %q", got, reason)
		}
	})
	t.Run("BYE inbound", func(t *testing.T) {
		ctx := testCtx(t, 20*time.Second)
		sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
		srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = edge.addr().String() })
		oc := sbc.call(ctx, srv.GatewayAddr(), "udp", loopSDP(sockPort(rtpSock(t)), "sendrecv", true, "PCMU", "PCMA"))
		if res := oc.answer(ctx, nil); res.StatusCode != 200 {
			t.Fatalf("got %d", res.StatusCode)
		}
		_ = oc.d.Ack(ctx)
		bye := gosip.NewRequest(gosip.BYE, oc.final.Contact().Address)
		bye.AppendHeader(gosip.NewHeader("Reason", reason))
		if res := doIn(ctx, t, oc, bye); res.StatusCode != 200 {
			t.Fatalf("BYE got %d", res.StatusCode)
		}
		if got := header(edge.wait(ctx, gosip.BYE, 1), "Reason"); got != reason {
			t.Errorf("BYE to the client: Reason %q, want %q", got, reason)
		}
	})
}

// Test199Absorbed: a forking SBC's 199 Early Dialog Terminated for one
// fork is not passed to the caller of an outbound call: not to one that
// does not support 199 (RFC 6228 §7), nor to one that does, since the
// caller has one early dialog for all the SBC's forks (README "Forked
// early dialogs"): the 199 would end the early dialog the other fork then
// answers in. The caller with Supported: 199 used to get it, then the 200
// in the same dialog.
func Test199Absorbed(t *testing.T) {
	for _, supported := range []bool{false, true} {
		t.Run(fmt.Sprintf("supported=%v", supported), func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc := startPeer(t, "sbc")
			sbc.invites(func(pi *peerInvite) {
				other := *pi
				other.tag = "forkB"
				other.respond(183, fixtureBody(t, "sbc-answer-pcma.sdp"))
				pi.respond(183, fixtureBody(t, "sbc-answer-pcma.sdp"))
				other.respond(199, nil)
				pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
				pi.waitAck(ctx)
			})
			srv := serveTo(t, sbc.addr(), "udp", nil)
			caller := startPeer(t, "caller")
			var hdrs []gosip.Header
			if supported {
				hdrs = append(hdrs, gosip.NewHeader("Supported", "199"))
			}
			oc := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"), hdrs...)
			if res := oc.answer(ctx, nil); res.StatusCode != 200 {
				t.Fatalf("got %d", res.StatusCode)
			}
			_ = oc.d.Ack(ctx)
			// In wire order, the 199 would have come before the 200.
			if got := caller.wireResponses(string(*oc.inv.CallID()), 199); len(got) > 0 {
				t.Errorf("the caller got a 199 (provisionals %v)", caller.responses(string(*oc.inv.CallID()), gosip.INVITE))
			}
			_ = oc.d.Bye(ctx)
			sbc.wait(ctx, gosip.BYE, 1)
		})
	}
}

// Test199RelayedInboundFork: on an inbound call each of the client's
// forks is an early dialog of its own towards the SBC, so a fork's 199
// reaches an SBC that supports 199 in that fork's early dialog (its
// To-tag), and the other fork's 200 comes in its own.
func Test199RelayedInboundFork(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
	answer := fixtureBody(t, "sfb-answer-no-bypassid.sdp")
	edge.invites(func(pi *peerInvite) {
		a, b := *pi, *pi
		a.tag, b.tag = "forkA", "forkB"
		a.respond(183, answer)
		b.respond(183, answer)
		a.respond(199, nil)
		b.respond(200, answer)
		b.waitAck(ctx)
	})
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = edge.addr().String() })
	oc := sbc.call(ctx, srv.GatewayAddr(), "udp", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"), gosip.NewHeader("Supported", "199"))
	res := oc.answer(ctx, nil)
	if res.StatusCode != 200 {
		t.Fatalf("SBC got %d", res.StatusCode)
	}
	_ = oc.d.Ack(ctx)
	callID := string(*oc.inv.CallID())
	early, ended := sbc.wireResponses(callID, 183), sbc.wireResponses(callID, 199)
	if len(early) != 2 || len(ended) != 1 {
		t.Fatalf("SBC got %d 183s and %d 199s, want 2 and 1", len(early), len(ended))
	}
	tagOf := func(r *gosip.Response) string { tag, _ := r.To().Params.Get("tag"); return tag }
	if tagOf(ended[0]) != tagOf(early[0]) || tagOf(res) != tagOf(early[1]) || tagOf(early[0]) == tagOf(early[1]) {
		t.Errorf("To-tags: 183s %q and %q, 199 %q, 200 %q; want the 199 in the first fork's dialog, the 200 in the second's",
			tagOf(early[0]), tagOf(early[1]), tagOf(ended[0]), tagOf(res))
	}
	_ = oc.d.Bye(ctx)
	edge.wait(ctx, gosip.BYE, 1)
}

// TestFailureHeadersBounded: of a callee's failure response's many
// Warnings the caller gets at most three of each relayed header and none
// over 256 bytes: copied whole, kilobytes of them (over TCP) made our
// response too large for UDP, and the caller got 513 instead of 486.
func TestFailureHeadersBounded(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc := startPeer(t, "sbc")
	sbc.invites(func(pi *peerInvite) {
		hdrs := []gosip.Header{gosip.NewHeader("Warning", `399 sbc.example.com "`+strings.Repeat("x", 300)+`"`)}
		for i := 0; i < 20; i++ {
			hdrs = append(hdrs, gosip.NewHeader("Warning", `399 sbc.example.com "`+strings.Repeat("y", 100)+`"`))
		}
		hdrs = append(hdrs, gosip.NewHeader("Reason", q850Busy))
		pi.respond(486, nil, hdrs...)
	})
	srv := serveTo(t, sbc.addr(), "udp", nil)
	caller := startPeer(t, "caller")
	oc := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"))
	res := oc.answer(ctx, nil)
	if res.StatusCode != 486 {
		t.Fatalf("caller got %d, want the callee's 486", res.StatusCode)
	}
	ws := res.GetHeaders("Warning")
	if len(ws) != 3 {
		t.Errorf("%d Warnings relayed, want 3 (of 20 short ones and one over 256 bytes)", len(ws))
	}
	for _, w := range ws {
		if strings.Contains(w.Value(), "xxx") {
			t.Errorf("a Warning over 256 bytes was relayed")
		}
	}
	if got := header(res, "Reason"); got != q850Busy {
		t.Errorf("Reason %q, want %q", got, q850Busy)
	}
}

// TestHostileReasonPhraseNotRelayed: an SBC's 486 whose reason phrase
// carries control characters (ESC sequences, NUL) reaches the caller with
// the code's own phrase: RFC 3261 §25.1 allows none, and relayed they would
// reach the client and every terminal showing the trace.
func TestHostileReasonPhraseNotRelayed(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	rang := make(chan string, 1)
	sbc := startPeer(t, "sbc")
	sbc.invites(func(pi *peerInvite) {
		ring := pi.response(180, nil)
		ring.Reason = "Ring\x1b[2J\x07"
		_ = pi.tx.Respond(ring)
		// The 486 once the caller has the 180: sipgo hands each message
		// its own goroutine, so a 180 sent right before the 486
		// could be taken after it, and dropped.
		select {
		case <-rang:
		case <-ctx.Done():
		}
		res := pi.response(486, nil)
		res.Reason = "B\x1b[2J\x1b[H\x00X"
		_ = pi.tx.Respond(res)
	})
	srv := serveTo(t, sbc.addr(), "udp", nil)
	caller := startPeer(t, "caller")
	oc := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"))
	var ringing []string
	res := oc.answer(ctx, func(r *gosip.Response) {
		if r.StatusCode == 180 {
			ringing = append(ringing, r.Reason)
			select {
			case rang <- r.Reason:
			default:
			}
		}
	})
	if res.StatusCode != 486 || res.Reason != "Busy Here" {
		t.Errorf("caller got %d %q, want 486 Busy Here", res.StatusCode, res.Reason)
	}
	// A provisional one too: it went out with no phrase at all.
	if len(ringing) != 1 || ringing[0] != "Ringing" {
		t.Errorf("caller's 180s: %q, want one 180 Ringing", ringing)
	}
}
