package mediation_test

import (
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
)

// TestInboundKeepsRequestURIParams: the INVITE an SBC sends for a REFER we
// relayed names what it calls by the Request-URI's parameters (SfB's
// conference focus gruu;opaque=app:conf:..., the call park orbit
// opaque=app:cpsp). The INVITE to the edge keeps the user and those
// parameters, user=phone too, but not the ones that named the SBC's hop
// (transport, maddr, lr). Before, it was a plain sip:user@edge.
func TestInboundKeepsRequestURIParams(t *testing.T) {
	for _, tc := range []struct{ name, params, want string }{
		{"conference", ";gruu;opaque=app:conf:audio-video:id:7KQ8W3D1;transport=udp;maddr=127.0.0.9;lr",
			";gruu;opaque=app:conf:audio-video:id:7KQ8W3D1"},
		{"call park", ";opaque=app:cpsp;user=phone", ";opaque=app:cpsp;user=phone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
			edge.invites(func(pi *peerInvite) { pi.respond(486, nil) })
			srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = edge.addr().String() })
			gw := srv.GatewayAddr()
			ruri := "sip:alice@" + gw.String() + tc.params
			var u gosip.Uri
			if err := gosip.ParseUri(ruri, &u); err != nil {
				t.Fatal(err)
			}
			inv := request(gosip.INVITE, gw.String(), "udp", loopSDP(sockPort(rtpSock(t)), "sendrecv", false, "PCMU"))
			inv.Recipient = u
			oc := sbc.dial(ctx, inv, "udp", gosip.Uri{Scheme: "sip", User: "+15550100", Host: "127.0.0.1"})
			if res := oc.answer(ctx, nil); res.StatusCode != 486 {
				t.Fatalf("call got %d, want the edge's 486", res.StatusCode)
			}
			got := edge.wait(ctx, gosip.INVITE, 1).Recipient
			want := "sip:alice@" + edge.addr().String() + tc.want
			if got.String() != want {
				t.Errorf("edge's Request-URI %s, want %s", got.String(), want)
			}
		})
	}
}
