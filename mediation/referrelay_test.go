package mediation_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/sip"
)

// relayCall is an answered call through a server with refer support (the
// default) whose SBC and client answer REFER 202 and NOTIFY 200; an SBC
// given a REFER with Refer-Sub: false answers it so too (RFC 4488).
type relayCall struct {
	srv         *mediation.Server
	sbc, caller *peer
	oc          *outCall
	pi          *peerInvite
	// seq is the SBC's CSeq in its dialog.
	seq uint32
}

func newRelayCall(ctx context.Context, t *testing.T) *relayCall {
	t.Helper()
	return newRelayCallOn(ctx, t, "127.0.0.1")
}

// newRelayCallOn is newRelayCall with the peers, the server's listeners
// and its relay on the loopback address host.
func newRelayCallOn(ctx context.Context, t *testing.T, host string) *relayCall {
	t.Helper()
	at := netip.AddrPortFrom(netip.MustParseAddr(host), 0)
	rc := &relayCall{sbc: startPeerOn(t, "sbc", at, nil), caller: startPeerOn(t, "caller", at, nil), seq: 40}
	for _, p := range []*peer{rc.sbc, rc.caller} {
		p := p
		p.on(gosip.REFER, func(req *gosip.Request, tx gosip.ServerTransaction) {
			if strings.EqualFold(headerValue(req, "Refer-Sub"), "false") {
				p.reply(req, tx, 202, nil, gosip.NewHeader("Refer-Sub", "false"), gosip.NewHeader("Supported", "norefersub"))
				return
			}
			p.reply(req, tx, 202, nil)
		})
		takeNotifies(p)
	}
	invites := make(chan *peerInvite, 1)
	rc.sbc.invites(func(pi *peerInvite) {
		pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
		invites <- pi
	})
	rc.srv = serveTo(t, rc.sbc.addr(), "udp", func(c *mediation.Config) {
		listenOn(c, host)
		c.Media.IP = host
	})
	rc.oc = upCall(ctx, t, rc.caller, rc.srv, "udp")
	rc.pi = next(ctx, t, invites, "SBC's")
	return rc
}

// clientRefer sends the client's REFER (to +15550200) and returns it, the
// response it got and the REFER the SBC got of it.
func (rc *relayCall) clientRefer(ctx context.Context, t *testing.T, hdrs ...gosip.Header) (refer *gosip.Request, res *gosip.Response, got *gosip.Request) {
	t.Helper()
	n := rc.sbc.count(gosip.REFER)
	refer = gosip.NewRequest(gosip.REFER, rc.oc.final.Contact().Address)
	refer.AppendHeader(gosip.NewHeader("Refer-To", "<sip:+15550200@sfb.example.com;user=phone>"))
	for _, h := range hdrs {
		refer.AppendHeader(h)
	}
	if res = doIn(ctx, t, rc.oc, refer); res.StatusCode != 202 {
		t.Fatalf("client's REFER got %d, want the SBC's 202", res.StatusCode)
	}
	return refer, res, rc.sbc.waitLast(ctx, gosip.REFER, n+1)
}

// sbcNotify sends the SBC's NOTIFY with Event event (a 200 sipfrag).
func (rc *relayCall) sbcNotify(ctx context.Context, event, state string) *gosip.Response {
	rc.seq++
	req := rc.pi.inDialog(gosip.NOTIFY, rc.seq, nil, gosip.NewHeader("Event", event), gosip.NewHeader("Subscription-State", state))
	req.AppendHeader(gosip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
	req.SetBody([]byte("SIP/2.0 200 OK\r\n"))
	return rc.pi.do(ctx, req)
}

// TestReferNotifyIDsMapped: a relayed REFER has our CSeq in the other
// dialog, so the NOTIFYs of its subscription name it by our CSeq (Event:
// refer;id=...): they reach the REFER's issuer with the id of the REFER it
// sent (RFC 3515 §2.4.6), both ways (the client's REFER to the SBC, the
// SBC's to the client). A NOTIFY without id (the first REFER's) gets the
// issuer's id; one whose id names no REFER we relayed, and one of a
// subscription whose final NOTIFY went by, get 481 and are not relayed
// (RFC 6665 §4.1.3). r24-refer #1.
func TestReferNotifyIDsMapped(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	rc := newRelayCall(ctx, t)
	eventOf := func(n int) string { return headerValue(rc.caller.wait(ctx, gosip.NOTIFY, n), "Event") }

	ref1, _, got1 := rc.clientRefer(ctx, t)
	theirs1, ours1 := ref1.CSeq().SeqNo, got1.CSeq().SeqNo
	if res := rc.sbcNotify(ctx, fmt.Sprintf("refer;id=%d", ours1), "active;expires=60"); res.StatusCode != 200 {
		t.Fatalf("SBC's NOTIFY got %d", res.StatusCode)
	}
	if got, want := eventOf(1), fmt.Sprintf("refer;id=%d", theirs1); got != want {
		t.Errorf("client's NOTIFY has Event %q, want %q (the CSeq of its REFER; the SBC's said %d)", got, want, ours1)
	}
	if res := rc.sbcNotify(ctx, "refer", "active;expires=60"); res.StatusCode != 200 {
		t.Fatalf("SBC's NOTIFY without id got %d", res.StatusCode)
	}
	if got, want := eventOf(2), fmt.Sprintf("refer;id=%d", theirs1); got != want {
		t.Errorf("client's NOTIFY for one without id has Event %q, want %q", got, want)
	}

	// A second REFER: each NOTIFY goes back with its own REFER's id.
	ref2, _, got2 := rc.clientRefer(ctx, t)
	theirs2, ours2 := ref2.CSeq().SeqNo, got2.CSeq().SeqNo
	if res := rc.sbcNotify(ctx, fmt.Sprintf("refer;id=%d", ours2), "terminated;reason=noresource"); res.StatusCode != 200 {
		t.Fatalf("SBC's NOTIFY of the second REFER got %d", res.StatusCode)
	}
	if got, want := eventOf(3), fmt.Sprintf("refer;id=%d", theirs2); got != want {
		t.Errorf("client's NOTIFY of its second REFER has Event %q, want %q", got, want)
	}
	// The first REFER's subscription ends: a NOTIFY without id is its,
	// never the second's (r24-reviewA #9).
	if res := rc.sbcNotify(ctx, fmt.Sprintf("refer;id=%d", ours1), "terminated;reason=noresource"); res.StatusCode != 200 {
		t.Fatalf("SBC's final NOTIFY of the first REFER got %d", res.StatusCode)
	}
	eventOf(4)
	rc.clientRefer(ctx, t) // a third, whose subscription is on
	for _, tc := range []struct{ why, event string }{
		{"an id of no REFER", fmt.Sprintf("refer;id=%d", ours2+100)},
		{"the id of a terminated subscription", fmt.Sprintf("refer;id=%d", ours2)},
		{"no id, the first REFER's subscription over", "refer"},
	} {
		if res := rc.sbcNotify(ctx, tc.event, "active"); res.StatusCode != 481 {
			t.Errorf("SBC's NOTIFY with %s got %d, want 481", tc.why, res.StatusCode)
		}
	}
	if n := rc.caller.count(gosip.NOTIFY); n != 4 {
		t.Errorf("the client got %d NOTIFYs, want 4", n)
	}

	// The SBC's REFER, CSeq 61 in its dialog, reaches the client with our
	// CSeq in the edge dialog: the client's NOTIFY names that one.
	rc.seq = 60
	sbcRefer := rc.pi.inDialog(gosip.REFER, 61, nil, gosip.NewHeader("Refer-To", "<sip:+15550300@sbc.example.com;user=phone>"))
	if res := rc.pi.do(ctx, sbcRefer); res.StatusCode != 202 {
		t.Fatalf("SBC's REFER got %d", res.StatusCode)
	}
	rc.seq = 61
	atClient := rc.caller.wait(ctx, gosip.REFER, 1)
	notify := gosip.NewRequest(gosip.NOTIFY, rc.oc.final.Contact().Address)
	notify.AppendHeader(gosip.NewHeader("Event", fmt.Sprintf("refer;id=%d", atClient.CSeq().SeqNo)))
	notify.AppendHeader(gosip.NewHeader("Subscription-State", "terminated;reason=noresource"))
	notify.AppendHeader(gosip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
	notify.SetBody([]byte("SIP/2.0 200 OK\r\n"))
	if res := doIn(ctx, t, rc.oc, notify); res.StatusCode != 200 {
		t.Fatalf("client's NOTIFY got %d", res.StatusCode)
	}
	if got := headerValue(rc.sbc.wait(ctx, gosip.NOTIFY, 1), "Event"); got != "refer;id=61" {
		t.Errorf("SBC's NOTIFY has Event %q, want refer;id=61 (the client's said %d)", got, atClient.CSeq().SeqNo)
	}
	_ = rc.oc.d.Bye(ctx)
	rc.sbc.wait(ctx, gosip.BYE, 1)
}

// TestReferNotifyRelayedWithContact: a relayed NOTIFY carries our Contact
// in the dialog it goes in (RFC 6665 §7.1: mandatory; a strict REFER
// issuer answers one without it 400 and never learns the transfer's
// outcome). r24-refer #9.
func TestReferNotifyRelayedWithContact(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	rc := newRelayCall(ctx, t)
	_, _, got := rc.clientRefer(ctx, t)
	if res := rc.sbcNotify(ctx, fmt.Sprintf("refer;id=%d", got.CSeq().SeqNo), "active;expires=60"); res.StatusCode != 200 {
		t.Fatalf("SBC's NOTIFY got %d", res.StatusCode)
	}
	n := rc.caller.wait(ctx, gosip.NOTIFY, 1)
	if c := n.Contact(); c == nil || c.Address.Host+":"+fmt.Sprint(c.Address.Port) != rc.srv.EdgeAddr().String() {
		t.Errorf("client's NOTIFY has Contact %v, want ours on the edge side %s", c, rc.srv.EdgeAddr())
	}
	_ = rc.oc.d.Bye(ctx)
	rc.sbc.wait(ctx, gosip.BYE, 1)
}

// TestReferSubFalseRelayed: a client's REFER with Refer-Sub: false and
// Supported: norefersub (RFC 4488) reaches the SBC with both; the SBC's
// 202 with Refer-Sub: false reaches the client, and no subscription was
// made: an SBC's NOTIFY for that REFER gets 481 and is not relayed. A
// REFER without Refer-Sub, answered without it, still has its NOTIFYs
// relayed. r24-refer #3.
func TestReferSubFalseRelayed(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	rc := newRelayCall(ctx, t)
	_, res, got := rc.clientRefer(ctx, t, gosip.NewHeader("Refer-Sub", "false"), gosip.NewHeader("Supported", "norefersub"))
	if v := headerValue(got, "Refer-Sub"); v != "false" || !sip.HasOptionTag(got, "Supported", "norefersub") {
		t.Errorf("SBC's REFER has Refer-Sub %q, Supported %q; want false and norefersub", v, headerValue(got, "Supported"))
	}
	if v := headerValue2(res, "Refer-Sub"); v != "false" {
		t.Errorf("client's 202 has Refer-Sub %q, want the SBC's false", v)
	}
	if r := rc.sbcNotify(ctx, fmt.Sprintf("refer;id=%d", got.CSeq().SeqNo), "active"); r.StatusCode != 481 {
		t.Errorf("SBC's NOTIFY for a REFER accepted without subscription got %d, want 481", r.StatusCode)
	}
	_, res, got = rc.clientRefer(ctx, t)
	if v := headerValue(got, "Refer-Sub"); v != "" || headerValue2(res, "Refer-Sub") != "" {
		t.Errorf("Refer-Sub %q in a REFER without it, %q in its 202", v, headerValue2(res, "Refer-Sub"))
	}
	if r := rc.sbcNotify(ctx, fmt.Sprintf("refer;id=%d", got.CSeq().SeqNo), "active"); r.StatusCode != 200 {
		t.Errorf("SBC's NOTIFY for a REFER with its subscription got %d, want 200", r.StatusCode)
	}
	if n := rc.caller.count(gosip.NOTIFY); n != 1 {
		t.Errorf("the client got %d NOTIFYs, want the one of its second REFER", n)
	}
	_ = rc.oc.d.Bye(ctx)
	rc.sbc.wait(ctx, gosip.BYE, 1)
}

// hangUp ends the call with the client's BYE, which reaches the SBC.
func (rc *relayCall) hangUp(ctx context.Context) {
	_ = rc.oc.d.Bye(ctx)
	rc.sbc.wait(ctx, gosip.BYE, 1)
}

// answerSubscribes makes p answer SUBSCRIBE with code, echoing its Expires
// in a 2xx (RFC 6665 §4.2.1.1: a 2xx says how long).
func answerSubscribes(p *peer, code int) {
	p.on(gosip.SUBSCRIBE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		if code/100 == 2 {
			p.reply(req, tx, code, nil, gosip.NewHeader("Expires", headerValue(req, "Expires")))
			return
		}
		p.reply(req, tx, code, nil)
	})
}

// clientSubscribe sends the client's in-dialog SUBSCRIBE with Event event
// and Expires expires.
func (rc *relayCall) clientSubscribe(ctx context.Context, t *testing.T, event, expires string) *gosip.Response {
	t.Helper()
	sub := gosip.NewRequest(gosip.SUBSCRIBE, rc.oc.final.Contact().Address)
	sub.AppendHeader(gosip.NewHeader("Event", event))
	sub.AppendHeader(gosip.NewHeader("Expires", expires))
	return doIn(ctx, t, rc.oc, sub)
}

// TestReferSubscribeRefreshRelayed: a REFER issuer's in-dialog SUBSCRIBE
// refreshing the implicit subscription of its relayed REFER (RFC 3515
// §2.4.4; RFC 6665 §4.1.2.2: the subscriber refreshes before it expires)
// reaches the notifier with its Event id mapped to the CSeq of our REFER
// there, and the notifier's 200 (with its Expires) comes back; both ways,
// a client's REFER to the SBC and an SBC's to the client. The server
// answered it 405 itself, which RFC 6665 §4.1.2.2 makes end the
// subscription at the issuer: Twinkle 1.10 (auto_refresh_refer_sub,
// refreshing 54 s into a 60 s subscription while the target rang) then
// answered the final NOTIFY 481 and never learned the transfer's outcome.
// r29-twinkle #1.
func TestReferSubscribeRefreshRelayed(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	rc := newRelayCall(ctx, t)
	answerSubscribes(rc.sbc, 200)
	answerSubscribes(rc.caller, 200)

	ref, _, got := rc.clientRefer(ctx, t)
	if res := rc.sbcNotify(ctx, fmt.Sprintf("refer;id=%d", got.CSeq().SeqNo), "active;expires=60"); res.StatusCode != 200 {
		t.Fatalf("SBC's NOTIFY got %d", res.StatusCode)
	}
	rc.caller.wait(ctx, gosip.NOTIFY, 1)
	res := rc.clientSubscribe(ctx, t, fmt.Sprintf("refer;id=%d", ref.CSeq().SeqNo), "60")
	if res.StatusCode != 200 || headerValue2(res, "Expires") != "60" {
		t.Errorf("client's refresh SUBSCRIBE got %d %s, Expires %q; want the SBC's 200 with Expires 60", res.StatusCode, res.Reason, headerValue2(res, "Expires"))
	} else if at := rc.sbc.wait(ctx, gosip.SUBSCRIBE, 1); headerValue(at, "Event") != fmt.Sprintf("refer;id=%d", got.CSeq().SeqNo) || headerValue(at, "Expires") != "60" {
		t.Errorf("SBC's SUBSCRIBE has Event %q, Expires %q; want refer;id=%d and 60", headerValue(at, "Event"), headerValue(at, "Expires"), got.CSeq().SeqNo)
	}
	// Its NOTIFYs still reach the client.
	if res := rc.sbcNotify(ctx, fmt.Sprintf("refer;id=%d", got.CSeq().SeqNo), "active;expires=60"); res.StatusCode != 200 {
		t.Fatalf("SBC's NOTIFY after the refresh got %d", res.StatusCode)
	}

	// The SBC's REFER, CSeq 61 in its dialog, reaches the client with our
	// CSeq in the edge dialog; the SBC's SUBSCRIBE names 61.
	rc.seq = 60
	sbcRefer := rc.pi.inDialog(gosip.REFER, 61, nil, gosip.NewHeader("Refer-To", "<sip:+15550300@sbc.example.com;user=phone>"))
	if res := rc.pi.do(ctx, sbcRefer); res.StatusCode != 202 {
		t.Fatalf("SBC's REFER got %d", res.StatusCode)
	}
	atClient := rc.caller.wait(ctx, gosip.REFER, 1)
	sub := rc.pi.inDialog(gosip.SUBSCRIBE, 62, nil, gosip.NewHeader("Event", "refer;id=61"), gosip.NewHeader("Expires", "30"))
	rc.seq = 62
	if res := rc.pi.do(ctx, sub); res.StatusCode != 200 || headerValue2(res, "Expires") != "30" {
		t.Errorf("SBC's refresh SUBSCRIBE got %d %s, Expires %q; want the client's 200 with Expires 30", res.StatusCode, res.Reason, headerValue2(res, "Expires"))
	} else if at := rc.caller.wait(ctx, gosip.SUBSCRIBE, 1); headerValue(at, "Event") != fmt.Sprintf("refer;id=%d", atClient.CSeq().SeqNo) {
		t.Errorf("client's SUBSCRIBE has Event %q, want refer;id=%d", headerValue(at, "Event"), atClient.CSeq().SeqNo)
	}
	rc.hangUp(ctx)
}

// TestReferUnsubscribeRelayed: a REFER issuer's SUBSCRIBE with Expires: 0
// (RFC 6665 §4.1.2.3: it ends the subscription) is relayed like a
// refresh; the notifier's final NOTIFY comes back and ends the
// subscription, after which a SUBSCRIBE for it gets 481. A notifier's 481
// to a refresh goes back as 481 and ends the subscription too (RFC 6665
// §4.1.2.2): its later NOTIFY gets 481 and is not relayed. r29-twinkle #1.
func TestReferUnsubscribeRelayed(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	rc := newRelayCall(ctx, t)
	answerSubscribes(rc.sbc, 200)
	ref, _, got := rc.clientRefer(ctx, t)
	theirs, ours := fmt.Sprintf("refer;id=%d", ref.CSeq().SeqNo), fmt.Sprintf("refer;id=%d", got.CSeq().SeqNo)
	if res := rc.clientSubscribe(ctx, t, theirs, "0"); res.StatusCode != 200 || headerValue2(res, "Expires") != "0" {
		t.Errorf("client's unsubscribe got %d, Expires %q; want the SBC's 200 with Expires 0", res.StatusCode, headerValue2(res, "Expires"))
	} else if at := rc.sbc.wait(ctx, gosip.SUBSCRIBE, 1); headerValue(at, "Event") != ours || headerValue(at, "Expires") != "0" {
		t.Errorf("SBC's SUBSCRIBE has Event %q, Expires %q; want %s and 0", headerValue(at, "Event"), headerValue(at, "Expires"), ours)
	}
	if res := rc.sbcNotify(ctx, ours, "terminated;reason=timeout"); res.StatusCode != 200 {
		t.Fatalf("SBC's final NOTIFY got %d", res.StatusCode)
	}
	if got := headerValue(rc.caller.wait(ctx, gosip.NOTIFY, 1), "Event"); got != theirs {
		t.Errorf("client's final NOTIFY has Event %q, want %s", got, theirs)
	}
	if res := rc.clientSubscribe(ctx, t, theirs, "60"); res.StatusCode != 481 {
		t.Errorf("SUBSCRIBE of an ended subscription got %d, want 481", res.StatusCode)
	}

	answerSubscribes(rc.sbc, 481)
	ref, _, got = rc.clientRefer(ctx, t)
	if res := rc.clientSubscribe(ctx, t, fmt.Sprintf("refer;id=%d", ref.CSeq().SeqNo), "60"); res.StatusCode != 481 {
		t.Errorf("client's refresh answered 481 by the SBC got %d, want 481", res.StatusCode)
	}
	if res := rc.sbcNotify(ctx, fmt.Sprintf("refer;id=%d", got.CSeq().SeqNo), "active"); res.StatusCode != 481 {
		t.Errorf("SBC's NOTIFY of a subscription its 481 ended got %d, want 481", res.StatusCode)
	}
	if n := rc.sbc.count(gosip.SUBSCRIBE); n != 2 {
		t.Errorf("the SBC got %d SUBSCRIBEs, want 2 (the unsubscribe, the refused refresh)", n)
	}
	rc.hangUp(ctx)
}

// TestReferSubscribeUnknown: an in-dialog SUBSCRIBE for no subscription
// the call relays is answered by the server and relayed nowhere: 481 for
// a refer id of no REFER relayed from its sender (RFC 6665 §4.1.2.2), 489
// Bad Event with Allow-Events: refer for another event package (RFC 6665
// §4.2.1.1); never the 405 that told nothing. r29-twinkle #1.
func TestReferSubscribeUnknown(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	rc := newRelayCall(ctx, t)
	answerSubscribes(rc.sbc, 200)
	ref, _, _ := rc.clientRefer(ctx, t)
	for _, tc := range []struct {
		why, event string
		code       int
	}{
		{"an id of no REFER", fmt.Sprintf("refer;id=%d", ref.CSeq().SeqNo+100), 481},
		{"an unparseable id", "refer;id=x", 481},
		{"another event package", "dialog", 489},
		{"another event package with the REFER's id", fmt.Sprintf("presence;id=%d", ref.CSeq().SeqNo), 489},
	} {
		res := rc.clientSubscribe(ctx, t, tc.event, "60")
		if res.StatusCode != tc.code {
			t.Errorf("SUBSCRIBE with %s got %d, want %d", tc.why, res.StatusCode, tc.code)
		}
		if tc.code == 489 && headerValue2(res, "Allow-Events") != "refer" {
			t.Errorf("489 has Allow-Events %q, want refer", headerValue2(res, "Allow-Events"))
		}
	}
	// Two Event headers (RFC 3265 §3.1.2: exactly one), or none: 400, not
	// relayed with both.
	for _, events := range [][]string{{fmt.Sprintf("refer;id=%d", ref.CSeq().SeqNo), "refer"}, nil} {
		sub := gosip.NewRequest(gosip.SUBSCRIBE, rc.oc.final.Contact().Address)
		for _, e := range events {
			sub.AppendHeader(gosip.NewHeader("Event", e))
		}
		sub.AppendHeader(gosip.NewHeader("Expires", "60"))
		if res := doIn(ctx, t, rc.oc, sub); res.StatusCode != 400 {
			t.Errorf("SUBSCRIBE with %d Event headers got %d, want 400", len(events), res.StatusCode)
		}
	}
	// The SBC's SUBSCRIBE naming the client's REFER, not one of its own.
	sub := rc.pi.inDialog(gosip.SUBSCRIBE, 50, nil, gosip.NewHeader("Event", fmt.Sprintf("refer;id=%d", ref.CSeq().SeqNo)), gosip.NewHeader("Expires", "60"))
	rc.seq = 50
	if res := rc.pi.do(ctx, sub); res.StatusCode != 481 {
		t.Errorf("SBC's SUBSCRIBE of the client's REFER got %d, want 481", res.StatusCode)
	}
	if n := rc.sbc.count(gosip.SUBSCRIBE) + rc.caller.count(gosip.SUBSCRIBE); n != 0 {
		t.Errorf("%d SUBSCRIBEs relayed, want none", n)
	}
	rc.hangUp(ctx)
}

// TestReferSubscribeRelayedAnswerHeaders: the answer that goes back to a
// relayed refresh SUBSCRIBE carries what gives it meaning. A 2xx has our
// Contact, as the header table of RFC 6665 §7.1 (RFC 3265's before it)
// requires in a 2xx to SUBSCRIBE, a target refresh request (§4.1.2.1);
// it had Expires alone, which a strict subscriber refuses. A notifier's
// 423 Interval Too Brief keeps its Min-Expires (RFC 6665 §4.2.1.1, RFC
// 3261 §21.4.17), without which the issuer cannot pick an interval the
// notifier takes, and a 489 its Allow-Events (RFC 6665 §4.2.1.1); both went
// back bare. r29-review2 F1, F2.
func TestReferSubscribeRelayedAnswerHeaders(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	rc := newRelayCallOn(ctx, t, "127.0.89.1")
	answerSubscribes(rc.sbc, 200)
	ref, _, _ := rc.clientRefer(ctx, t)
	event := fmt.Sprintf("refer;id=%d", ref.CSeq().SeqNo)
	res := rc.clientSubscribe(ctx, t, event, "60")
	if res.StatusCode != 200 || res.Contact() == nil {
		t.Errorf("client's refresh SUBSCRIBE got %d with Contact %v; want 200 with our Contact:\n%s", res.StatusCode, res.Contact(), res)
	}
	for _, tc := range []struct {
		code   int
		header string
		value  string
	}{{423, "Min-Expires", "120"}, {489, "Allow-Events", "refer"}} {
		rc.sbc.on(gosip.SUBSCRIBE, func(req *gosip.Request, tx gosip.ServerTransaction) {
			rc.sbc.reply(req, tx, tc.code, nil, gosip.NewHeader(tc.header, tc.value))
		})
		res := rc.clientSubscribe(ctx, t, event, "30")
		if res.StatusCode != tc.code || headerValue2(res, tc.header) != tc.value {
			t.Errorf("client's SUBSCRIBE got %d with %s %q; want the SBC's %d with %s", res.StatusCode, tc.header, headerValue2(res, tc.header), tc.code, tc.value)
		}
		if res.Contact() != nil {
			t.Errorf("%d has a Contact", res.StatusCode)
		}
	}
	rc.hangUp(ctx)
}
