package sdp

import (
	"net/netip"
	"os"
	"testing"
)

// BenchmarkOutboundBypass is the SDP work of one bypassed outbound call:
// parse the SfB client's offer, build and marshal the SBC's offer, parse
// the SBC's answer, build and marshal the client's answer.
func BenchmarkOutboundBypass(b *testing.B) {
	offer, answer := benchFixture(b, "sfb-bypass-offer.sdp"), benchFixture(b, "sbc-answer-pcma.sdp")
	b.ReportAllocs()
	for b.Loop() {
		client, err := Parse(offer)
		if err != nil {
			b.Fatal(err)
		}
		gwOffer, err := GatewayOffer(client, true, netip.AddrPort{})
		if err != nil {
			b.Fatal(err)
		}
		_ = gwOffer.Marshal()
		gw, err := Parse(answer)
		if err != nil {
			b.Fatal(err)
		}
		clientAnswer, err := ClientAnswer(client, gw, true, netip.AddrPort{}, "be38f190-a24a-4a72-b66c-b09fd0909ebc")
		if err != nil {
			b.Fatal(err)
		}
		_ = clientAnswer.Marshal()
	}
}

// BenchmarkOutboundAnchored is the same for an anchored call: both SDPs
// point at the relay.
func BenchmarkOutboundAnchored(b *testing.B) {
	offer, answer := benchFixture(b, "sfb-bypass-offer.sdp"), benchFixture(b, "sbc-answer-pcma.sdp")
	anchor := netip.MustParseAddrPort("192.0.2.1:49152")
	b.ReportAllocs()
	for b.Loop() {
		client, err := Parse(offer)
		if err != nil {
			b.Fatal(err)
		}
		gwOffer, err := GatewayOffer(client, false, anchor)
		if err != nil {
			b.Fatal(err)
		}
		_ = gwOffer.Marshal()
		gw, err := Parse(answer)
		if err != nil {
			b.Fatal(err)
		}
		clientAnswer, err := ClientAnswer(client, gw, false, anchor, "")
		if err != nil {
			b.Fatal(err)
		}
		_ = clientAnswer.Marshal()
	}
}

func benchFixture(b *testing.B, name string) []byte {
	b.Helper()
	data, err := os.ReadFile("../testdata/sdp/" + name)
	if err != nil {
		b.Fatal(err)
	}
	return data
}
