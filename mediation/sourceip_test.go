package mediation_test

import (
	"net/netip"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
)

// TestTCPLeavesFromListenIP: the TCP connection the server dials to its
// trunk leaves from gateway_listen's IP, the one its Via and Contact
// advertise (an SBC that admits peers by IP checks that one), not from
// whichever source the kernel would pick for the destination (127.0.0.1
// here).
func TestTCPLeavesFromListenIP(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc := startPeerOn(t, "sbc", netip.MustParseAddrPort("127.0.0.3:0"), nil)
	srv := serveTo(t, sbc.addr(), "tcp", func(c *mediation.Config) { c.GatewayListen = "127.0.0.2:0" })
	caller := startPeer(t, "caller")
	oc := caller.call(ctx, srv.EdgeAddr(), "tcp", fixtureBody(t, "sfb-bypass-offer.sdp"))
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("call got %d", res.StatusCode)
	}
	inv := sbc.wait(ctx, gosip.INVITE, 1)
	src, err := netip.ParseAddrPort(inv.Source())
	if err != nil || src.Addr() != netip.MustParseAddr("127.0.0.2") {
		t.Errorf("INVITE reached the SBC from %s, want gateway_listen's IP 127.0.0.2", inv.Source())
	}
	_ = oc.d.Ack(ctx)
	_ = oc.d.Bye(ctx)
	sbc.wait(ctx, gosip.BYE, 1)
}
