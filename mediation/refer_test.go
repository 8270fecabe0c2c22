package mediation_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestReferRelayed: a client's REFER in an answered call reaches the SBC
// in the gateway dialog, its Refer-To pointed at our gateway side (the
// transfer's INVITE comes back through us); the SBC's 202 and its NOTIFY
// (message/sipfrag) come back to the client, and the NOTIFY's 200 to the
// SBC. With enable_refer_support off the SBC never sees the REFER. A REFER
// whose Refer-To and Referred-By come in their compact forms (r, b: RFC
// 3515, RFC 3892) is relayed the same.
func TestReferRelayed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		on      bool
		compact bool
	}{{"on", true, false}, {"off", false, false}, {"compact", true, true}} {
		on := tc.on
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			sbc, caller := startPeer(t, "sbc"), startPeer(t, "caller")
			for _, p := range []*peer{sbc, caller} {
				p := p
				for _, m := range []gosip.RequestMethod{gosip.REFER, gosip.NOTIFY} {
					code := map[gosip.RequestMethod]int{gosip.REFER: 202, gosip.NOTIFY: 200}[m]
					p.on(m, func(req *gosip.Request, tx gosip.ServerTransaction) {
						p.reply(req, tx, code, nil)
					})
				}
			}
			invites := make(chan *peerInvite, 1)
			sbc.invites(func(pi *peerInvite) {
				pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
				invites <- pi
			})
			srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
				off := false
				if !on {
					c.Gateways[0].EnableReferSupport = &off
				}
			})
			oc := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
			if res := oc.answer(ctx, nil); res.StatusCode != 200 {
				t.Fatalf("call got %d", res.StatusCode)
			}
			if err := oc.d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
			pi := <-invites
			refer := gosip.NewRequest(gosip.REFER, oc.final.Contact().Address)
			referTo, referredBy := "Refer-To", "Referred-By"
			if tc.compact {
				referTo, referredBy = "r", "b"
			}
			refer.AppendHeader(gosip.NewHeader(referTo, "<sip:+15550200@sfb.example.com;user=phone>"))
			refer.AppendHeader(gosip.NewHeader(referredBy, "<sip:+15550199@sfb.example.com>"))
			res := doIn(ctx, t, oc, refer)
			if !on {
				// Performed by the server (TestReferPerformedByServer), never relayed.
				if res.StatusCode != 202 {
					t.Fatalf("REFER with refer support off got %d, want 202", res.StatusCode)
				}
				if n := sbc.count(gosip.REFER); n != 0 {
					t.Fatalf("SBC got %d REFERs", n)
				}
				return
			}
			if res.StatusCode != 202 {
				t.Fatalf("REFER got %d, want the SBC's 202", res.StatusCode)
			}
			got := sbc.wait(ctx, gosip.REFER, 1)
			if callID := string(*got.CallID()); callID != string(*pi.req.CallID()) {
				t.Errorf("REFER in Call-ID %s, want the gateway dialog's %s", callID, *pi.req.CallID())
			}
			if referTo := headerValue(got, "Refer-To"); !strings.Contains(referTo, "+15550200@"+srv.GatewayAddr().String()+";user=phone") {
				t.Errorf("SBC's Refer-To %q, want the number at our gateway side %s, its ;user=phone kept", referTo, srv.GatewayAddr())
			}
			if headerValue(got, "Referred-By") == "" {
				t.Error("Referred-By not relayed")
			}
			notify := pi.inDialog(gosip.NOTIFY, 2, nil, gosip.NewHeader("Event", "refer"),
				gosip.NewHeader("Subscription-State", "terminated;reason=noresource"))
			notify.AppendHeader(gosip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
			notify.SetBody([]byte("SIP/2.0 200 OK\r\n"))
			if res := pi.do(ctx, notify); res.StatusCode != 200 {
				t.Fatalf("NOTIFY got %d", res.StatusCode)
			}
			n := caller.wait(ctx, gosip.NOTIFY, 1)
			if string(n.Body()) != "SIP/2.0 200 OK\r\n" || headerValue(n, "Event") != "refer" ||
				!strings.HasPrefix(headerValue(n, "Content-Type"), "message/sipfrag") {
				t.Errorf("client's NOTIFY: Event %q, Content-Type %q, body %q", headerValue(n, "Event"), headerValue(n, "Content-Type"), n.Body())
			}
		})
	}
}

// TestReferPerformedByServer: with enable_refer_support off, the server
// carries a client's transfer out itself: 202 and NOTIFYs (100 Trying,
// then 200 OK) to the client, an INVITE to the Refer-To number on the
// gateway side, BYE to the old gateway leg, and a re-INVITE that anchors
// the client on our relay: the call was bypassed, it no longer is. The
// client's BYE then reaches the new gateway leg.
func TestReferPerformedByServer(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc, caller := startPeer(t, "sbc"), startPeer(t, "caller")
	srv, oc := transferCall(ctx, t, sbc, caller)
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_media_bypass_calls_active", "direction", "outbound")
	first := sbc.wait(ctx, gosip.INVITE, 1)
	refer := gosip.NewRequest(gosip.REFER, oc.final.Contact().Address)
	refer.AppendHeader(gosip.NewHeader("Refer-To", "<tel:+15550200;phone-context=example.com>")) // RFC 3966: a number, no host
	if res := doIn(ctx, t, oc, refer); res.StatusCode != 202 {
		t.Fatalf("REFER got %d, want 202", res.StatusCode)
	}
	second := sbc.wait(ctx, gosip.INVITE, 2)
	if second.Recipient.User != "+15550200" || string(*second.CallID()) == string(*first.CallID()) {
		t.Fatalf("transfer INVITE to %s (Call-ID %s)", second.Recipient.User, *second.CallID())
	}
	bye := sbc.wait(ctx, gosip.BYE, 1)
	if string(*bye.CallID()) != string(*first.CallID()) {
		t.Errorf("BYE in Call-ID %s, want the old leg's %s", *bye.CallID(), *first.CallID())
	}
	reinv := caller.wait(ctx, gosip.INVITE, 1)
	if m := media(t, "transfer re-INVITE", reinv.Body()); m.RTP().Port() < 49152 || m.RTP().Port() > 57500 {
		t.Errorf("client re-INVITEd to %s, want our relay (anchored)", m.RTP())
	}
	notify := caller.waitLast(ctx, gosip.NOTIFY, 2)
	if !strings.HasPrefix(string(notify.Body()), "SIP/2.0 200") || !strings.HasPrefix(headerValue(notify, "Subscription-State"), "terminated") {
		t.Errorf("final NOTIFY %q, state %q", notify.Body(), headerValue(notify, "Subscription-State"))
	}
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_media_bypass_calls_active", "direction", "outbound")
	if n := srv.ActiveCalls(); n != 1 {
		t.Fatalf("%d calls after the transfer, want 1", n)
	}
	// Anchored because we transferred it, not because of the trunk (whose
	// enable_bypass is on).
	if calls := srv.Calls(); len(calls) != 1 || calls[0].BypassReason != "transferred" {
		t.Errorf("transferred call's bypass reason %+v, want transferred", calls)
	}
	if err := oc.d.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	bye2 := sbc.wait(ctx, gosip.BYE, 2)
	if string(*bye2.CallID()) != string(*second.CallID()) {
		t.Errorf("client's BYE reached Call-ID %s, want the new leg's %s", *bye2.CallID(), *second.CallID())
	}
	waitCalls(t, srv, 0)
}

// TestReferPerformedByServerFails: a transfer whose target is busy leaves
// the call as it was; the client's NOTIFY says 486.
func TestReferPerformedByServerFails(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc, caller := startPeer(t, "sbc"), startPeer(t, "caller")
	sbc.invites(func(pi *peerInvite) {
		if pi.req.Recipient.User == "+15550200" {
			pi.respond(486, nil)
			return
		}
		pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
	})
	srv, oc := transferCall(ctx, t, sbc, caller)
	refer := gosip.NewRequest(gosip.REFER, oc.final.Contact().Address)
	refer.AppendHeader(gosip.NewHeader("Refer-To", "<sip:+15550200@sfb.example.com>"))
	if res := doIn(ctx, t, oc, refer); res.StatusCode != 202 {
		t.Fatalf("REFER got %d, want 202", res.StatusCode)
	}
	notify := caller.waitLast(ctx, gosip.NOTIFY, 2)
	if !strings.HasPrefix(string(notify.Body()), "SIP/2.0 486") {
		t.Errorf("final NOTIFY %q, want the target's 486", notify.Body())
	}
	if n := sbc.count(gosip.BYE); n != 0 {
		t.Errorf("old gateway leg got %d BYEs after a failed transfer", n)
	}
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_media_bypass_calls_active", "direction", "outbound")
	if err := oc.d.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	sbc.wait(ctx, gosip.BYE, 1)
	waitCalls(t, srv, 0)
}

// transferCall sets up a bypassed call from caller (which answers NOTIFYs)
// to sbc through a server whose trunk has enable_refer_support off, and
// ACKs it.
func transferCall(ctx context.Context, t *testing.T, sbc, caller *peer) (*mediation.Server, *outCall) {
	t.Helper()
	takeNotifies(caller)
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
		off := false
		c.Gateways[0].EnableReferSupport = &off
	})
	return srv, upCall(ctx, t, caller, srv, "udp")
}

// takeNotifies makes the caller record and answer 200 the NOTIFYs of its
// REFER's subscription.
func takeNotifies(caller *peer) {
	caller.on(gosip.NOTIFY, func(req *gosip.Request, tx gosip.ServerTransaction) {
		caller.reply(req, tx, 200, nil)
	})
}

// TestReferPerformedByServerCancelled: a transfer target still ringing when
// the client hangs up is CANCELled (RFC 3261 §9.1), not left to ring and
// answer into a call that is gone.
func TestReferPerformedByServerCancelled(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc, caller := startPeer(t, "sbc"), startPeer(t, "caller")
	ringing := make(chan struct{})
	sbc.invites(func(pi *peerInvite) {
		if pi.req.Recipient.User == "+15550200" {
			pi.respond(180, nil)
			close(ringing)
			<-pi.tx.Done() // sipgo answers the CANCEL and the INVITE 487
			return
		}
		pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
	})
	srv, oc := transferCall(ctx, t, sbc, caller)
	refer := gosip.NewRequest(gosip.REFER, oc.final.Contact().Address)
	refer.AppendHeader(gosip.NewHeader("Refer-To", "<sip:+15550200@sfb.example.com;user=phone>"))
	if res := doIn(ctx, t, oc, refer); res.StatusCode != 202 {
		t.Fatalf("REFER got %d, want 202", res.StatusCode)
	}
	second := sbc.wait(ctx, gosip.INVITE, 2)
	select {
	case <-ringing:
	case <-ctx.Done():
		t.Fatal("the transfer target never rang")
	}
	if err := oc.d.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	c := sbc.wait(ctx, gosip.CANCEL, 1)
	if string(*c.CallID()) != string(*second.CallID()) {
		t.Errorf("CANCEL in Call-ID %s, want the transfer INVITE's %s", *c.CallID(), *second.CallID())
	}
	waitCalls(t, srv, 0)
}

// TestReferPerformedByServerToAnotherTrunk: a transfer the server performs
// to a number another trunk serves leaves the call with that trunk: the
// call's log lines after the transfer and its record name it.
func TestReferPerformedByServerToAnotherTrunk(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc, target, caller := startPeer(t, "sbc"), startPeer(t, "target"), startPeer(t, "caller")
	takeNotifies(caller)
	records := filepath.Join(t.TempDir(), "calls.jsonl")
	off := false
	cfg := labConfig(sbc.addr(), "udp")
	sbcTrunk, xferTrunk := trunkConfig("sbc", sbc, 1, "+1"), trunkConfig("xfer", target, 0, "+15550200")
	sbcTrunk.EnableReferSupport = &off
	cfg.Gateways = []mediation.GatewayConfig{sbcTrunk, xferTrunk}
	cfg.Records.Path = records
	logs := new(syncBuffer)
	srv := mediationtest.Serve(t, cfg, zerolog.New(logs).Level(zerolog.InfoLevel))
	oc := upCall(ctx, t, caller, srv, "udp")
	refer := gosip.NewRequest(gosip.REFER, oc.final.Contact().Address)
	refer.AppendHeader(gosip.NewHeader("Refer-To", "<tel:+15550200>"))
	if res := doIn(ctx, t, oc, refer); res.StatusCode != 202 {
		t.Fatalf("REFER got %d, want 202", res.StatusCode)
	}
	xferInvite := target.wait(ctx, gosip.INVITE, 1)
	sbc.wait(ctx, gosip.BYE, 1)
	caller.wait(ctx, gosip.INVITE, 1) // the re-INVITE that anchors the client: the transfer is done
	if err := oc.d.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	target.wait(ctx, gosip.BYE, 1)
	waitCalls(t, srv, 0)
	if recs := readRecords(t, records); len(recs) != 1 || recs[0].Gateway != "xfer" || recs[0].GatewayCallID != xferInvite.CallID().Value() {
		t.Fatalf("records %+v, want one naming the transfer's trunk xfer and its leg's Call-ID %s", recs, xferInvite.CallID().Value())
	}
	after := false
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "transfer answered") {
			after = true
		}
		if after && strings.Contains(line, `"call"`) && !strings.Contains(line, `"gateway":"xfer"`) {
			t.Errorf("a line of the transferred call does not name the trunk xfer: %s", line)
		}
	}
	if !after {
		t.Fatalf("no \"transfer answered\" line:\n%s", logs.String())
	}
}

// TestReferPerformedByServerStrictTarget: the transfer target's trunk
// requires 100rel and refreshes nothing itself: the transfer INVITE asks
// for 100rel (Require) and a session timer as that trunk's calls do, the
// target's reliable 183 is PRACKed once with the right RAck, its 200's
// Session-Expires (refresher=uac) makes us refresh the new leg, and the
// client's BYE reaches the target with a CSeq past the PRACK's. Before,
// the INVITE said only "Supported: timer", no PRACK went and nobody
// refreshed: a PRACK-only SBC gave up on the transfer.
func TestReferPerformedByServerStrictTarget(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc, target, caller := startPeer(t, "sbc"), startPeer(t, "target"), startPeer(t, "caller")
	takeNotifies(caller)
	off := false
	cfg := labConfig(sbc.addr(), "udp")
	sbcTrunk, xferTrunk := trunkConfig("sbc", sbc, 1, "+1"), trunkConfig("xfer", target, 0, "+15550200")
	sbcTrunk.EnableReferSupport = &off
	xferTrunk.Prack = mediation.PrackRequired
	xferTrunk.SessionTimer = mediation.SessionTimerConfig{Enabled: true, Expires: 2 * time.Second, MinSE: time.Second}
	cfg.Gateways = []mediation.GatewayConfig{sbcTrunk, xferTrunk}
	target.invites(func(pi *peerInvite) {
		if got := pi.req.GetHeader("Require"); got == nil || !strings.Contains(got.Value(), "100rel") {
			t.Errorf("transfer INVITE Require %v, want 100rel", got)
		}
		if se := pi.req.GetHeader("Session-Expires"); se == nil || se.Value() != "2;refresher=uac" {
			t.Errorf("transfer INVITE Session-Expires %v, want 2;refresher=uac", se)
		}
		pi.reliable(183, 77, fixtureBody(t, "sbc-answer-pcma.sdp"))
		pi.p.wait(ctx, gosip.PRACK, 1)
		pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"), gosip.NewHeader("Session-Expires", "2;refresher=uac"), gosip.NewHeader("Require", "timer"))
	})
	target.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) { // our refreshes (recorded by the peer)
		target.reply(req, tx, 200, fixtureBody(t, "sbc-answer-pcma.sdp"), gosip.NewHeader("Session-Expires", "2;refresher=uac"))
	})
	caller.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) { // the anchoring re-INVITE
		caller.reply(req, tx, 200, fixtureBody(t, "sfb-bypass-offer.sdp"))
	})
	srv := mediationtest.Serve(t, cfg, testLog(t))
	oc := upCall(ctx, t, caller, srv, "udp")
	refer := gosip.NewRequest(gosip.REFER, oc.final.Contact().Address)
	refer.AppendHeader(gosip.NewHeader("Refer-To", "<sip:+15550200@sfb.example.com;user=phone>"))
	if res := doIn(ctx, t, oc, refer); res.StatusCode != 202 {
		t.Fatalf("REFER got %d, want 202", res.StatusCode)
	}
	inv, prack := target.wait(ctx, gosip.INVITE, 1), target.wait(ctx, gosip.PRACK, 1)
	if rack := prack.GetHeader("RAck"); rack == nil || rack.Value() != fmt.Sprintf("77 %d INVITE", inv.CSeq().SeqNo) {
		t.Errorf("PRACK RAck %v, want 77 %d INVITE", rack, inv.CSeq().SeqNo)
	}
	if notify := caller.waitLast(ctx, gosip.NOTIFY, 2); !strings.HasPrefix(string(notify.Body()), "SIP/2.0 200") {
		t.Fatalf("final NOTIFY %q, want 200", notify.Body())
	}
	refresh := target.wait(ctx, gosip.INVITE, 2) // the initial INVITE, then our refresh
	if string(*refresh.CallID()) != string(*inv.CallID()) {
		t.Errorf("refresh in Call-ID %s, want the transfer leg's %s", *refresh.CallID(), *inv.CallID())
	}
	if err := oc.d.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	bye := target.wait(ctx, gosip.BYE, 1)
	if bye.CSeq().SeqNo <= prack.CSeq().SeqNo {
		t.Errorf("BYE CSeq %d not past the PRACK's %d", bye.CSeq().SeqNo, prack.CSeq().SeqNo)
	}
	if n := target.count(gosip.PRACK); n != 1 {
		t.Errorf("%d PRACKs, want 1", n)
	}
	waitCalls(t, srv, 0)
}

// TestReferRefused: an attended transfer (a Refer-To with Replaces, RFC
// 3891) whose Replaces names no call of this server gets 501 with a
// Warning whether refer support is on or off (TestAttendedTransfer has
// one that does). With refer support off, a Refer-To that names no number
// (SfB call park's orbit, a user) gets 404 and the gateway is not called.
func TestReferRefused(t *testing.T) {
	replaces := "<sip:+15550300@sfb.example.com;user=phone?Replaces=abc%40sfb%3Bto-tag%3D1%3Bfrom-tag%3D2>"
	for _, tc := range []struct {
		name, referTo string
		on            bool
		code          int
	}{
		{"replaces, refer support on", replaces, true, 501},
		{"replaces, refer support off", replaces, false, 501},
		{"no number, refer support off", "<sip:alice@contoso.example;opaque=app:cpsp;gruu>", false, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc, caller := startPeer(t, "sbc"), startPeer(t, "caller")
			takeNotifies(caller)
			srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
				on := tc.on
				c.Gateways[0].EnableReferSupport = &on
			})
			oc := upCall(ctx, t, caller, srv, "udp")
			refer := gosip.NewRequest(gosip.REFER, oc.final.Contact().Address)
			refer.AppendHeader(gosip.NewHeader("Refer-To", tc.referTo))
			res := doIn(ctx, t, oc, refer)
			if res.StatusCode != tc.code || res.GetHeader("Warning") == nil {
				t.Fatalf("REFER got %d (Warning %v), want %d with a Warning", res.StatusCode, res.GetHeader("Warning"), tc.code)
			}
			if err := oc.d.Bye(ctx); err != nil {
				t.Fatal(err)
			}
			sbc.wait(ctx, gosip.BYE, 1)
			if n, m := sbc.count(gosip.REFER), sbc.count(gosip.INVITE); n != 0 || m != 1 {
				t.Errorf("the SBC got %d REFERs and %d INVITEs, want none and the call's", n, m)
			}
		})
	}
}

// TestReferToRewritten: a relayed Refer-To points at our gateway side
// whatever form the client wrote: a tel: URI becomes a SIP URI with
// user=phone (it was relayed unchanged, so the transfer's INVITE did not
// come back through us), and a valueless URI parameter is kept. A REFER
// with two Refer-To headers gets 400 (RFC 3515 §2.4.1).
func TestReferToRewritten(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc, caller := startPeer(t, "sbc"), startPeer(t, "caller")
	sbc.on(gosip.REFER, func(req *gosip.Request, tx gosip.ServerTransaction) {
		sbc.reply(req, tx, 202, nil)
	})
	srv := serveTo(t, sbc.addr(), "udp", nil)
	oc := upCall(ctx, t, caller, srv, "udp")
	gw := srv.GatewayAddr().String()
	for i, tc := range []struct{ referTo, want string }{
		{"<tel:+15550200>", "<sip:+15550200@" + gw + ";user=phone>"},
		{"<sip:+15550200@sfb.example.com;user=phone;ob>", "<sip:+15550200@" + gw + ";user=phone;ob>"},
	} {
		refer := gosip.NewRequest(gosip.REFER, oc.final.Contact().Address)
		refer.AppendHeader(gosip.NewHeader("Refer-To", tc.referTo))
		if res := doIn(ctx, t, oc, refer); res.StatusCode != 202 {
			t.Fatalf("REFER %s got %d", tc.referTo, res.StatusCode)
		}
		if got := headerValue(sbc.wait(ctx, gosip.REFER, i+1), "Refer-To"); got != tc.want {
			t.Errorf("Refer-To %s reached the SBC as %s, want %s", tc.referTo, got, tc.want)
		}
	}
	two := gosip.NewRequest(gosip.REFER, oc.final.Contact().Address)
	two.AppendHeader(gosip.NewHeader("Refer-To", "<sip:+15550200@sfb.example.com>"))
	two.AppendHeader(gosip.NewHeader("Refer-To", "<sip:+15550300@sfb.example.com?Replaces=x>"))
	if res := doIn(ctx, t, oc, two); res.StatusCode != 400 {
		t.Errorf("REFER with two Refer-To got %d, want 400", res.StatusCode)
	}
	if n := sbc.count(gosip.REFER); n != 2 {
		t.Errorf("the SBC got %d REFERs, want 2", n)
	}
	_ = oc.d.Bye(ctx)
	sbc.wait(ctx, gosip.BYE, 1)
}

// TestReferFromGatewayRefused: with enable_refer_support off, an SBC's
// REFER gets a definite 403 with a Warning, not the 491 of glare (which
// tells it to try again later although nothing is pending); the call goes
// on, and the client never sees the REFER.
func TestReferFromGatewayRefused(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc, caller := startPeer(t, "sbc"), startPeer(t, "caller")
	invites := make(chan *peerInvite, 1)
	sbc.invites(func(pi *peerInvite) {
		pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
		invites <- pi
	})
	srv, oc := transferCall(ctx, t, sbc, caller)
	pi := <-invites
	refer := pi.inDialog(gosip.REFER, 2, nil, gosip.NewHeader("Refer-To", "<sip:+15559001234@"+srv.GatewayAddr().String()+">"))
	res := pi.do(ctx, refer)
	if w := res.GetHeader("Warning"); res.StatusCode != 403 || w == nil || !strings.Contains(w.Value(), "gateway side") {
		t.Fatalf("SBC's REFER got %d (Warning %v), want 403 with a Warning", res.StatusCode, w)
	}
	if n := caller.count(gosip.REFER); n != 0 {
		t.Errorf("client got %d REFERs", n)
	}
	if n := srv.ActiveCalls(); n != 1 {
		t.Fatalf("%d calls after the refused REFER, want 1", n)
	}
	if err := oc.d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	sbc.wait(ctx, gosip.BYE, 1)
	waitCalls(t, srv, 0)
}
