package mediation_test

import (
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
)

var identityHeaders = []gosip.Header{
	gosip.NewHeader("P-Asserted-Identity", "<sip:+15550199@sfb.example.com>"),
	gosip.NewHeader("Privacy", "id"),
	gosip.NewHeader("History-Info", "<sip:+15550100@sfb.example.com>;index=1"),
	gosip.NewHeader("Diversion", "<sip:+15550123@sbc.example.com>;reason=unconditional;counter=1"),
}

func headerValue(req *gosip.Request, name string) string {
	if h := req.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

// TestHeaderPolicyOutbound: with the trunk's header policy off (the
// default) no identity or history header crosses and numbers keep their
// +; on, P-Asserted-Identity, Privacy, History-Info and Diversion reach the SBC, the
// + is removed from its Request-URI, To and From, and its 486 reaches the
// caller as the 480 the translation rule names.
func TestHeaderPolicyOutbound(t *testing.T) {
	for _, on := range []bool{false, true} {
		name := map[bool]string{false: "off", true: "on"}[on]
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			sbc, caller := startPeer(t, "sbc"), startPeer(t, "caller")
			sbc.invites(func(pi *peerInvite) { pi.respond(486, nil) })
			srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
				if on {
					c.Gateways[0].HeaderPolicy = mediation.HeaderPolicy{ForwardPAI: true, ForwardCallHistory: true,
						RemovePlusFromURI: true, ResponseCodeTranslation: []mediation.CodeTranslation{{Received: 486, Translated: 480}}}
				}
			})
			oc := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"), identityHeaders...)
			res := oc.answer(ctx, nil)
			inv := sbc.wait(ctx, gosip.INVITE, 1)
			pai, privacy, hist := headerValue(inv, "P-Asserted-Identity"), headerValue(inv, "Privacy"), headerValue(inv, "History-Info")
			if on {
				if res.StatusCode != 480 || res.Reason != "Temporarily Unavailable" {
					t.Errorf("caller got %d %s, want 486 translated to 480 Temporarily Unavailable", res.StatusCode, res.Reason)
				}
				if pai != "<sip:+15550199@sfb.example.com>" || privacy != "id" || hist == "" {
					t.Errorf("SBC got PAI %q, Privacy %q, History-Info %q", pai, privacy, hist)
				}
				if div := headerValue(inv, "Diversion"); div != "<sip:+15550123@sbc.example.com>;reason=unconditional;counter=1" {
					t.Errorf("SBC got Diversion %q", div)
				}
				if inv.Recipient.User != "15550100" || inv.To().Address.User != "15550100" || inv.From().Address.User != "15550199" {
					t.Errorf("SBC got R-URI %s, To %s, From %s; want no +", inv.Recipient.User, inv.To().Address.User, inv.From().Address.User)
				}
				return
			}
			if res.StatusCode != 486 {
				t.Errorf("caller got %d, want 486", res.StatusCode)
			}
			if div := headerValue(inv, "Diversion"); pai != "" || privacy != "" || hist != "" || div != "" {
				t.Errorf("policy off, yet SBC got PAI %q, Privacy %q, History-Info %q, Diversion %q", pai, privacy, hist, div)
			}
			if inv.Recipient.User != "+15550100" || inv.From().Address.User != "+15550199" {
				t.Errorf("SBC got R-URI %s, From %s; want the + kept", inv.Recipient.User, inv.From().Address.User)
			}
		})
	}
}

// TestHeaderPolicyInbound: a trunk with forward_pai has its caller's
// P-Asserted-Identity and Privacy reach the edge; its 4xx are not
// translated (rules apply to the trunk's answers only).
func TestHeaderPolicyInbound(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
	edge.invites(func(pi *peerInvite) { pi.respond(486, nil) })
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
		c.Edge.Peer = edge.addr().String()
		c.Gateways[0].HeaderPolicy = mediation.HeaderPolicy{ForwardPAI: true,
			ResponseCodeTranslation: []mediation.CodeTranslation{{Received: 486, Translated: 480}}}
	})
	oc := sbc.call(ctx, srv.GatewayAddr(), "udp", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"), identityHeaders...)
	if res := oc.answer(ctx, nil); res.StatusCode != 486 {
		t.Errorf("SBC got %d, want the edge's 486", res.StatusCode)
	}
	inv := edge.wait(ctx, gosip.INVITE, 1)
	if pai := headerValue(inv, "P-Asserted-Identity"); pai != "<sip:+15550199@sfb.example.com>" {
		t.Errorf("edge got PAI %q", pai)
	}
	if hist := headerValue(inv, "History-Info"); hist != "" {
		t.Errorf("edge got History-Info %q without forward_call_history", hist)
	}
}
