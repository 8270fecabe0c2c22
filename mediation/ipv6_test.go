package mediation_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

var loopback6 = netip.MustParseAddr("::1")

// needIPv6 skips a test on a host without IPv6 loopback.
func needIPv6(t *testing.T) {
	t.Helper()
	c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	c.Close()
}

// TestIPv6Calls: a server on [::1] (SIP on both sides, anchored media),
// a simulated client and SBC on [::1]: one call bypassed (media straight
// between client and SBC, c=IN IP6 on both sides), one anchored (relayed
// over IPv6), tones heard both ways.
func TestIPv6Calls(t *testing.T) {
	needIPv6(t)
	for _, tt := range []struct {
		name     string
		bypassID string
	}{{"bypass", mediationtest.DefaultBypassID}, {"anchored", ""}} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			sbc, err := endpoint.StartSBC(ctx, endpoint.SBCConfig{Listen: "[::1]:0", ToneHz: sbcHz, Log: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sbc.Close() })
			srv := serveTo(t, sbc.Addr(), "udp", func(c *mediation.Config) {
				c.Edge.Listen, c.GatewayListen, c.Edge.Peer = "[::1]:0", "[::1]:0", "[::1]:5061"
				c.Media.IP = "::1"
			})
			client, err := endpoint.StartClient(ctx, endpoint.ClientConfig{Listen: "[::1]:0", MediaIP: loopback6,
				BypassID: tt.bypassID, ToneHz: clientHz, Log: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { client.Close() })
			rep, err := client.Call(ctx, endpoint.CallOptions{Target: srv.EdgeAddr(), To: "+15550100", From: "+15550111", Duration: time.Second})
			if err != nil || rep.Code != 200 {
				t.Fatalf("call: code %d, err %v", rep.Code, err)
			}
			got, err := sbc.NextCall(ctx)
			if err != nil {
				t.Fatal(err)
			}
			offer, answer := media(t, "offer to the SBC", got.OfferSDP), media(t, "answer to the client", rep.AnswerSDP)
			if !offer.RTP().Addr().Is6() || !answer.RTP().Addr().Is6() {
				t.Errorf("SDP addresses %s and %s, want IPv6", offer.RTP(), answer.RTP())
			}
			bypassed := offer.RTP() == rep.MediaLocal
			if bypassed != (tt.bypassID != "") {
				t.Errorf("SBC offered %s (client media %s): bypassed %v, want %v", offer.RTP(), rep.MediaLocal, bypassed, tt.bypassID != "")
			}
			if !bypassed && offer.RTP().Addr() != loopback6 {
				t.Errorf("anchored offer names %s, want the relay on ::1", offer.RTP())
			}
			checkTone(t, "SBC", got.DetectedHz, clientHz)
			checkTone(t, "client", rep.DetectedHz, sbcHz)
		})
	}
}

// TestMixedFamilyAnchoredRefused: edge on IPv4, gateway side on IPv6 (or
// the SBC's media in the other family than media.ip): a call that has to
// be anchored cannot relay between families, so it is refused with 488
// (failed-call reason address_family) rather than answered with a relay
// address the peer cannot reach: at the client's offer, at the SBC's
// answer (the SBC then gets a BYE), and at the client's answer to the
// SBC's offer.
func TestMixedFamilyAnchoredRefused(t *testing.T) {
	needIPv6(t)
	for _, tt := range []struct {
		name, mediaIP, direction string
	}{{"client offer", "::1", "outbound"}, {"SBC answer", "127.0.0.1", "outbound"}, {"SBC offer", "127.0.0.1", "inbound"}} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			sbc, err := endpoint.StartSBC(ctx, endpoint.SBCConfig{Listen: "[::1]:0", Log: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sbc.Close() })
			client, err := endpoint.StartClient(ctx, endpoint.ClientConfig{Listen: "127.0.0.1:0", Log: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { client.Close() })
			srv := serveTo(t, sbc.Addr(), "udp", func(c *mediation.Config) {
				c.Edge.Listen, c.GatewayListen, c.Edge.Peer = "127.0.0.1:0", "[::1]:0", client.Addr().String()
				c.Media.IP = tt.mediaIP
			})
			var rep endpoint.CallReport
			if tt.direction == "outbound" {
				rep, _ = client.Call(ctx, endpoint.CallOptions{Target: srv.EdgeAddr(), To: "+15550100", From: "+15550111", Duration: time.Second})
			} else {
				rep, _ = sbc.Call(ctx, endpoint.CallOptions{Target: srv.GatewayAddr(), To: "+15550111", From: "+15550100", Duration: time.Second})
			}
			if rep.Code != 488 {
				t.Fatalf("call got %d, want 488", rep.Code)
			}
			mediationtest.WaitMetric(t, srv, 1, "mediationserver_failed_calls_total", "direction", tt.direction, "reason", "address_family")
			waitCalls(t, srv, 0)
		})
	}
}
