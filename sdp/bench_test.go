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

// BenchmarkParse is Parse on the two bodies of a bypassed call as they
// arrive in SIP (CRLF): the SfB client's offer (many candidates and
// codecs) and a small SBC answer; "lf" is the client's offer with bare LF.
func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct {
		name string
		body []byte
	}{
		{"sfb-offer", fixture(b, "sfb-bypass-offer.sdp", true)},
		{"sfb-offer-lf", fixture(b, "sfb-bypass-offer.sdp", false)},
		{"sbc-answer", fixture(b, "sbc-answer-pcma.sdp", true)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(bc.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMarshal is Description.Marshal on what the mediation server
// sends in a call: the bypassed gateway offer, the bypassed client answer
// (candidates, x-bypassid) and an anchored client answer with SDES crypto
// that rejects the offer's video.
func BenchmarkMarshal(b *testing.B) {
	client, gw := media(b, "sfb-bypass-offer.sdp"), media(b, "sbc-answer-pcma.sdp")
	gwOffer, err := GatewayOffer(client, true, netip.AddrPort{})
	if err != nil {
		b.Fatal(err)
	}
	clientAnswer, err := ClientAnswer(client, gw, true, edgeAnchor, testBypass)
	if err != nil {
		b.Fatal(err)
	}
	srtp := media(b, "sfb-savp-audio-video-offer.sdp")
	anchoredAnswer, err := ClientAnswer(srtp, gw, false, edgeAnchor, "")
	if err != nil {
		b.Fatal(err)
	}
	offered := srtp.SRTP()
	if len(offered) == 0 || len(anchoredAnswer.Rejected) == 0 {
		b.Fatalf("SRTP audio+video offer has %d usable crypto lines, its answer %d rejected m-lines", len(offered), len(anchoredAnswer.Rejected))
	}
	// The mediation server's keying adds the crypto line (mediation/keying.go).
	ours, err := NewCrypto(offered[0])
	if err != nil {
		b.Fatal(err)
	}
	anchoredAnswer.Crypto, anchoredAnswer.SAVP = []Crypto{ours}, srtp.RequiresSRTP()
	for _, bc := range []struct {
		name string
		d    Description
	}{
		{"gateway-offer", gwOffer},
		{"client-answer", clientAnswer},
		{"anchored-srtp-answer", anchoredAnswer},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if len(bc.d.Marshal()) == 0 {
					b.Fatal("empty body")
				}
			}
		})
	}
}
