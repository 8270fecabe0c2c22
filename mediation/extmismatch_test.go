package mediation_test

import (
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// extensionCases are a callee's refusals of our INVITE's extensions: a
// 420 naming 100rel (which a prack: required side puts in our Require) and
// a 421 requiring an extension we do not do.
var extensionCases = []struct {
	name   string
	code   int
	header gosip.Header
	// warning is what the caller's Warning must say; reason the failed
	// call's reason.
	warning, reason string
}{
	{"420 100rel", 420, gosip.NewHeader("Unsupported", "100rel"), "does not support 100rel, which %s prack: required demands", "callee_bad_extension"},
	// A 420 naming only what our INVITE listed as Supported is the
	// callee's mistake: the Warning does not say we required it.
	{"420 timer", 420, gosip.NewHeader("Unsupported", "timer"), "answered 420 naming timer, which our INVITE did not require", "callee_bad_extension"},
	{"421 precondition", 421, gosip.NewHeader("Require", "precondition"), "requires precondition, which the mediation server does not support", "callee_extension_required"},
}

// checkExtensionRefusal checks the caller's answer to a call whose callee
// refused our INVITE's extensions: 500 with a Warning saying why, never
// the callee's 420/421 (which, relayed, would lack the Unsupported or
// Require RFC 3261 §21.4.15/§21.4.16 make mandatory and be about our
// INVITE, not the caller's).
func checkExtensionRefusal(t *testing.T, res *gosip.Response, warning string) {
	t.Helper()
	if res.StatusCode != 500 {
		t.Fatalf("caller got %d %s, want 500:\n%s", res.StatusCode, res.Reason, res)
	}
	if w := res.GetHeader("Warning"); w == nil || !strings.Contains(w.Value(), warning) {
		t.Errorf("Warning = %v, want one saying %q", w, warning)
	}
	if res.GetHeader("Unsupported") != nil || res.GetHeader("Require") != nil {
		t.Errorf("the callee's extension headers reached the caller:\n%s", res)
	}
}

// TestCalleeExtensionRefusalOutbound: the SBC's 420 (Unsupported: 100rel,
// to the Require: 100rel of a prack: required trunk) or 421 is answered
// to the client with 500 and a Warning naming the extension; the failure
// is counted under a reason of its own.
func TestCalleeExtensionRefusalOutbound(t *testing.T) {
	for _, tt := range extensionCases {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc := startPeer(t, "sbc")
			sbc.invites(func(pi *peerInvite) { pi.respond(tt.code, nil, tt.header) })
			srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Gateways[0].Prack = mediation.PrackRequired })
			caller := startPeer(t, "caller")
			oc := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"), gosip.NewHeader("Supported", "100rel, timer"))
			res := oc.answer(ctx, nil)
			checkExtensionRefusal(t, res, strings.Replace(tt.warning, "%s", "this trunk's", 1))
			if inv := sbc.wait(ctx, gosip.INVITE, 1); inv.GetHeader("Require") == nil || inv.GetHeader("Require").Value() != "100rel" {
				t.Errorf("our INVITE to a prack: required trunk has Require %v, want 100rel", inv.GetHeader("Require"))
			}
			mediationtest.WaitMetric(t, srv, 1, "mediationserver_failed_calls_total", "direction", "outbound", "reason", tt.reason)
		})
	}
}

// TestCalleeExtensionRefusalInbound: the same refusals from the client
// (edge side, prack: required) of an SBC's call: the SBC gets 500 and the
// Warning.
func TestCalleeExtensionRefusalInbound(t *testing.T) {
	for _, tt := range extensionCases {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
			edge.invites(func(pi *peerInvite) { pi.respond(tt.code, nil, tt.header) })
			srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
				c.Edge.Peer = edge.addr().String()
				c.Edge.Prack = mediation.PrackRequired
			})
			oc := sbc.call(ctx, srv.GatewayAddr(), "udp", loopSDP(sockPort(rtpSock(t)), "sendrecv", true, "PCMU", "PCMA"),
				gosip.NewHeader("Supported", "100rel, timer"))
			res := oc.answer(ctx, nil)
			checkExtensionRefusal(t, res, strings.Replace(tt.warning, "%s", "the edge's", 1))
			mediationtest.WaitMetric(t, srv, 1, "mediationserver_failed_calls_total", "direction", "inbound", "reason", tt.reason)
		})
	}
}

// TestFailoverOnExtensionRefusal: a trunk's 420 or 421 is its own
// capability mismatch, not the callee's answer: the call fails over to
// the next trunk like on a 5xx, unseen by the caller.
func TestFailoverOnExtensionRefusal(t *testing.T) {
	for _, tt := range extensionCases {
		t.Run(tt.name, func(t *testing.T) {
			first, backup := startPeer(t, "first"), startPeer(t, "backup")
			first.invites(func(pi *peerInvite) { pi.respond(tt.code, nil, tt.header) })
			srv, records := failoverServer(t, first.addr(), "udp", backup)
			if code := placeCall(t, srv); code != 200 {
				t.Fatalf("caller got %d, want 200 from the backup trunk", code)
			}
			checkTried(t, srv, records, "first", "backup")
			mediationtest.WaitMetric(t, srv, 1, "mediationserver_gateway_failovers_total", "gateway", "first", "reason", tt.name[:3])
		})
	}
}
