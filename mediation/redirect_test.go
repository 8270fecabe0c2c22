package mediation_test

import (
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

// TestRedirectFromSBC: the SBC's 302 reaches the caller with its Contact's
// number at our own edge address (a caller that recurses calls it through
// us, never the SBC's side directly), its RFC 3966 parameters (;ext=) kept;
// a 302 whose Contact names no number becomes 480. Nothing is sent to the Contact's host.
func TestRedirectFromSBC(t *testing.T) {
	for _, tt := range []struct {
		name, contact string
		code          int
		user          string
	}{
		{"sip number", "<sip:+15550999@127.0.0.9:5060;user=phone>;q=0.5", 302, "+15550999"},
		{"tel", "<tel:+15550888;phone-context=example.com>", 302, "+15550888"},
		{"no user", "<sip:127.0.0.9:5060>", 480, ""},
		{"a name, not a number", "<sip:sbc@127.0.0.9:5060>", 480, ""},
		{"user=ip kept out", "<sip:+15550777@127.0.0.9:5060;user=ip>", 302, "+15550777"},
		// The number before its RFC 3966 parameters is what makes it one;
		// the extension goes on with it (r28-review2 F4: 480 before).
		{"number with an extension", "<sip:+15550666;ext=12@127.0.0.9:5060;user=phone>", 302, "+15550666;ext=12"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc := startPeer(t, "sbc")
			sbc.invites(func(pi *peerInvite) {
				pi.respond(302, nil, gosip.NewHeader("Contact", tt.contact))
			})
			srv := serveTo(t, sbc.addr(), "udp", nil)
			caller := startPeer(t, "caller")
			oc := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"))
			res := oc.answer(ctx, nil)
			if res.StatusCode != tt.code {
				t.Fatalf("caller got %d, want %d", res.StatusCode, tt.code)
			}
			if tt.code != 302 {
				return
			}
			c := res.Contact()
			if c == nil {
				t.Fatal("302 without Contact")
			}
			edge := srv.EdgeAddr()
			if c.Address.User != tt.user || c.Address.Host != edge.Addr().String() || c.Address.Port != int(edge.Port()) {
				t.Errorf("302 Contact %s, want %s at our edge %s", c.Address.String(), tt.user, edge)
			}
			wantPhone := tt.name != "user=ip kept out"
			if u, _ := c.Address.UriParams.Get("user"); (u == "phone") != wantPhone {
				t.Errorf("302 Contact %s: user=%q, want phone only where the SBC's said so or a tel: URI", c.Address.String(), u)
			}
		})
	}
}
