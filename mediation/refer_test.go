package mediation_test

import (
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
// SBC. With enable_refer_support off the REFER gets 403 and the SBC never
// sees it.
func TestReferRelayed(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(map[bool]string{true: "on", false: "off"}[on], func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			sbc, caller := startPeer(t, "sbc"), startPeer(t, "caller")
			for _, p := range []*peer{sbc, caller} {
				p := p
				for _, m := range []gosip.RequestMethod{gosip.REFER, gosip.NOTIFY} {
					code := map[gosip.RequestMethod]int{gosip.REFER: 202, gosip.NOTIFY: 200}[m]
					p.stack.Server.OnRequest(m, func(req *gosip.Request, tx gosip.ServerTransaction) {
						p.record(req)
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
			refer.AppendHeader(gosip.NewHeader("Refer-To", "<sip:+15550200@sfb.example.com;user=phone>"))
			refer.AppendHeader(gosip.NewHeader("Referred-By", "<sip:+15550199@sfb.example.com>"))
			res := doIn(ctx, t, oc, refer)
			if !on {
				if res.StatusCode != 403 {
					t.Fatalf("REFER with refer support off got %d, want 403", res.StatusCode)
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
			referTo := headerValue(got, "Refer-To")
			if !strings.Contains(referTo, "+15550200@"+srv.GatewayAddr().String()) {
				t.Errorf("SBC's Refer-To %q, want the number at our gateway side %s", referTo, srv.GatewayAddr())
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
