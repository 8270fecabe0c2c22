package endpoint

import (
	"net"
	"testing"
)

// TestIPv6Loopback runs a call over ::1 when the host has IPv6 loopback.
func TestIPv6Loopback(t *testing.T) {
	probe, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	_ = probe.Close()
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testContext(t)
			sbc := startSBC(t, ctx, SBCConfig{Listen: "[::1]:0"})
			client := startClient(t, ctx, ClientConfig{Listen: "[::1]:0", BypassID: testBypassID})
			caller, err := client.Call(ctx, CallOptions{Target: sbc.Addr(), Transport: tr})
			if err != nil {
				t.Fatalf("Call: %v", err)
			}
			callee, err := sbc.NextCall(ctx)
			if err != nil {
				t.Fatalf("NextCall: %v", err)
			}
			checkAnswered(t, caller, callee, 1000, 440, PCMA)
			if !caller.MediaLocal.Addr().Is6() || !callee.MediaLocal.Addr().Is6() {
				t.Errorf("media on %s and %s, want IPv6", caller.MediaLocal, callee.MediaLocal)
			}
		})
	}
}
