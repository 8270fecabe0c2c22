package mediation_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
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
			// Without id, the first REFER's: it reaches the client with
			// the CSeq of the client's REFER (TestReferNotifyIDsMapped).
			if string(n.Body()) != "SIP/2.0 200 OK\r\n" || headerValue(n, "Event") != fmt.Sprintf("refer;id=%d", refer.CSeq().SeqNo) ||
				!strings.HasPrefix(headerValue(n, "Content-Type"), "message/sipfrag") {
				t.Errorf("client's NOTIFY: Event %q, Content-Type %q, body %q", headerValue(n, "Event"), headerValue(n, "Content-Type"), n.Body())
			}
		})
	}
}

// TestReferRefused: an attended transfer (a Refer-To with Replaces, RFC
// 3891) whose Replaces names no call of this server gets 501 with a
// Warning whether refer support is on or off (TestAttendedTransfer has
// one that does).
func TestReferRefused(t *testing.T) {
	replaces := "<sip:+15550300@sfb.example.com;user=phone?Replaces=abc%40sfb%3Bto-tag%3D1%3Bfrom-tag%3D2>"
	for _, tc := range []struct {
		name, referTo string
		on            bool
		code          int
	}{
		{"replaces, refer support on", replaces, true, 501},
		{"replaces, refer support off", replaces, false, 501},
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
		// URI headers would become headers of the SBC's transfer INVITE
		// (RFC 3261 §19.1.5): a Route past us, a forged identity. Dropped.
		{"<sip:+19005550100@evil.example?Route=%3Csip%3Aevil.example%3Blr%3E&P-Asserted-Identity=%3Csip%3A%2B15550000%40x%3E>",
			"<sip:+19005550100@" + gw + ">"},
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
	// Relayed, these would send the SBC's transfer INVITE to any host,
	// past our routing (toll fraud): refused, never relayed.
	for _, tc := range []struct {
		referTo string
		code    int
	}{
		{"<sip:premium-ivr.evil.example;transport=tcp>", 404},
		{"<sips:evil.example:5061>", 404},
		{"<sip:+1900@evil.example;lr", 400},
	} {
		refer := gosip.NewRequest(gosip.REFER, oc.final.Contact().Address)
		refer.AppendHeader(gosip.NewHeader("Refer-To", tc.referTo))
		if res := doIn(ctx, t, oc, refer); res.StatusCode != tc.code || res.GetHeader("Warning") == nil {
			t.Errorf("REFER %s got %d (Warning %v), want %d with a Warning", tc.referTo, res.StatusCode, res.GetHeader("Warning"), tc.code)
		}
	}
	if n := sbc.count(gosip.REFER); n != 3 {
		t.Errorf("the SBC got %d REFERs, want 3", n)
	}
	_ = oc.d.Bye(ctx)
	sbc.wait(ctx, gosip.BYE, 1)
}

// TestReferFromGatewayChecked: an SBC's REFER is relayed to the client
// under the same rules: a Refer-To without a user gets 404 and is not
// relayed, URI headers are dropped. And a NOTIFY is relayed only for a
// REFER relayed to its sender: the SBC's NOTIFY (refer, talk, check-sync)
// in a call where no REFER went its way gets 481 (RFC 6665 §4.1.3) and the
// client never sees it; after the client's REFER reached the SBC, the
// SBC's NOTIFY with Event: refer is relayed, one with Event: talk still
// is not.
func TestReferFromGatewayChecked(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc, caller := startPeer(t, "sbc"), startPeer(t, "caller")
	takeNotifies(caller)
	for _, p := range []*peer{sbc, caller} {
		p := p
		p.on(gosip.REFER, func(req *gosip.Request, tx gosip.ServerTransaction) { p.reply(req, tx, 202, nil) })
	}
	invites := make(chan *peerInvite, 1)
	sbc.invites(func(pi *peerInvite) {
		pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
		invites <- pi
	})
	srv := serveTo(t, sbc.addr(), "udp", nil)
	oc := upCall(ctx, t, caller, srv, "udp")
	pi := <-invites
	seq := uint32(10)
	in := func(method gosip.RequestMethod, hdrs ...gosip.Header) *gosip.Response {
		seq++
		req := pi.inDialog(method, seq, nil, hdrs...)
		if method == gosip.NOTIFY {
			req.AppendHeader(gosip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
			req.SetBody([]byte("SIP/2.0 200 OK\r\n"))
		}
		return pi.do(ctx, req)
	}
	for _, event := range []string{"refer", "talk", "check-sync"} {
		if res := in(gosip.NOTIFY, gosip.NewHeader("Event", event), gosip.NewHeader("Subscription-State", "active")); res.StatusCode != 481 {
			t.Errorf("SBC's NOTIFY (Event: %s) with no REFER relayed to it got %d, want 481", event, res.StatusCode)
		}
	}
	if res := in(gosip.REFER, gosip.NewHeader("Refer-To", "<sip:evil.example;transport=tcp>")); res.StatusCode != 404 || res.GetHeader("Warning") == nil {
		t.Errorf("SBC's REFER to a host got %d (Warning %v), want 404 with a Warning", res.StatusCode, res.GetHeader("Warning"))
	}
	if res := in(gosip.REFER, gosip.NewHeader("Refer-To", "<sip:+15550300@evil.example?Route=%3Csip%3Aevil.example%3Blr%3E>")); res.StatusCode != 202 {
		t.Fatalf("SBC's REFER to a number got %d, want the client's 202", res.StatusCode)
	}
	if got, want := headerValue(caller.wait(ctx, gosip.REFER, 1), "Refer-To"), "<sip:+15550300@"+srv.EdgeAddr().String()+">"; got != want {
		t.Errorf("client's Refer-To %s, want %s (pointed at our edge side, no URI headers)", got, want)
	}
	if n := caller.count(gosip.NOTIFY); n != 0 {
		t.Errorf("the client got %d NOTIFYs of the SBC", n)
	}

	// The client's REFER reaches the SBC: its NOTIFYs (Event: refer) now
	// come back, other events still do not.
	refer := gosip.NewRequest(gosip.REFER, oc.final.Contact().Address)
	refer.AppendHeader(gosip.NewHeader("Refer-To", "<sip:+15550200@sfb.example.com;user=phone>"))
	if res := doIn(ctx, t, oc, refer); res.StatusCode != 202 {
		t.Fatalf("client's REFER got %d", res.StatusCode)
	}
	sbc.wait(ctx, gosip.REFER, 1)
	if res := in(gosip.NOTIFY, gosip.NewHeader("Event", "talk"), gosip.NewHeader("Subscription-State", "active")); res.StatusCode != 481 {
		t.Errorf("SBC's NOTIFY (Event: talk) after a REFER got %d, want 481", res.StatusCode)
	}
	ours := sbc.wait(ctx, gosip.REFER, 1).CSeq().SeqNo
	if res := in(gosip.NOTIFY, gosip.NewHeader("Event", fmt.Sprintf("refer;id=%d", ours)), gosip.NewHeader("Subscription-State", "terminated;reason=noresource")); res.StatusCode != 200 {
		t.Errorf("SBC's NOTIFY (Event: refer) of the relayed REFER got %d, want the client's 200", res.StatusCode)
	}
	if n := caller.wait(ctx, gosip.NOTIFY, 1); headerValue(n, "Event") != fmt.Sprintf("refer;id=%d", refer.CSeq().SeqNo) {
		t.Errorf("client's NOTIFY has Event %q", headerValue(n, "Event"))
	}
	if n := caller.count(gosip.NOTIFY); n != 1 {
		t.Errorf("the client got %d NOTIFYs, want the one of its REFER", n)
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
