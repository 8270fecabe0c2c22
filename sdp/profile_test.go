// Tests of the transport profile an answer keeps (RTP/AVPF, RTP/SAVPF).

package sdp

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// linphoneAVPFOffer is the audio of Linphone 5.1's offer with [rtp] avpf=1
// and rtcp_mux=1 (r29-linphone), addresses changed: RTP/AVPF with
// a=rtcp-fb lines we do not take up.
const linphoneAVPFOffer = "v=0\r\n" +
	"o=sbc 2112 1251 IN IP4 203.0.113.10\r\n" +
	"s=Talk\r\n" +
	"c=IN IP4 203.0.113.10\r\n" +
	"t=0 0\r\n" +
	"a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r\n" +
	"m=audio 7078 %s 96 97 98 0 8 18 99 100 101\r\n" +
	"a=rtpmap:96 opus/48000/2\r\n" +
	"a=fmtp:96 useinbandfec=1\r\n" +
	"a=rtpmap:97 speex/16000\r\n" +
	"a=fmtp:97 vbr=on\r\n" +
	"a=rtpmap:98 speex/8000\r\n" +
	"a=fmtp:98 vbr=on\r\n" +
	"a=fmtp:18 annexb=yes\r\n" +
	"a=rtpmap:99 telephone-event/48000\r\n" +
	"a=rtpmap:100 telephone-event/16000\r\n" +
	"a=rtpmap:101 telephone-event/8000\r\n" +
	"a=rtcp-mux\r\n" +
	"a=rtcp-fb:* trr-int 5000\r\n" +
	"a=rtcp-fb:* ccm tmmbr\r\n"

// audioProto is the proto of body's audio m-line.
func audioProto(t *testing.T, body []byte) string {
	t.Helper()
	for l := range strings.SplitSeq(string(body), "\r\n") {
		if f := strings.Fields(l); len(f) > 2 && f[0] == "m=audio" && f[1] != "0" {
			return f[2]
		}
	}
	t.Fatalf("no audio m-line with a port in:\n%s", body)
	return ""
}

// TestDescriptionProto: Marshal writes the audio m-line's profile from
// SAVP (SRTP) and AVPF (RTCP feedback, RFC 4585; with SRTP RFC 5124).
func TestDescriptionProto(t *testing.T) {
	for _, tt := range []struct {
		savp, avpf bool
		want       string
	}{
		{false, false, "RTP/AVP"},
		{true, false, "RTP/SAVP"},
		{false, true, "RTP/AVPF"},
		{true, true, "RTP/SAVPF"},
	} {
		d := Description{Addr: netip.MustParseAddr("192.0.2.1"), Port: 4000, Codecs: []Codec{PCMU}, SAVP: tt.savp, AVPF: tt.avpf}
		if got := audioProto(t, d.Marshal()); got != tt.want {
			t.Errorf("SAVP %v AVPF %v: m=audio ... %s, want %s", tt.savp, tt.avpf, got, tt.want)
		}
		roundTrip(t, d)
	}
}

// TestMediaFeedback: the feedback profiles are told by their proto, in
// any case; SAVPF requires SRTP as SAVP does.
func TestMediaFeedback(t *testing.T) {
	for _, tt := range []struct {
		proto          string
		feedback, srtp bool
	}{
		{"RTP/AVP", false, false},
		{"RTP/SAVP", false, true},
		{"RTP/AVPF", true, false},
		{"RTP/SAVPF", true, true},
		{"rtp/avpf", true, false},
		{"UDP/TLS/RTP/SAVPF", true, true},
		{"", false, false},
	} {
		m := Media{Proto: tt.proto}
		if m.Feedback() != tt.feedback || m.RequiresSRTP() != tt.srtp {
			t.Errorf("%q: Feedback %v RequiresSRTP %v, want %v %v", tt.proto, m.Feedback(), m.RequiresSRTP(), tt.feedback, tt.srtp)
		}
	}
	m, err := Parse(fmt.Appendf(nil, linphoneAVPFOffer, "RTP/AVPF"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Proto != "RTP/AVPF" || !m.Feedback() || m.RequiresSRTP() {
		t.Errorf("Linphone's offer: Proto %q Feedback %v RequiresSRTP %v, want RTP/AVPF true false", m.Proto, m.Feedback(), m.RequiresSRTP())
	}
}

// TestAnswersKeepOfferProfile: every answer builder answers an offer in
// the offer's profile, RTP/AVPF and RTP/SAVPF included (RFC 3264 §6: an
// answer cannot change the offer's transport protocol; RFC 4585 §4.2),
// the S as the caller negotiates it (SAVP, set as the mediation package's
// keying does: what the offer requires), and without a=rtcp-fb, which the
// relay does not implement. Offers we make (to the other peer, from such
// an offer or answer) stay RTP/AVP: the profile of an answer is the
// offer's, the profile of our offer ours. Before, RTP/AVPF was answered
// RTP/AVP and RTP/SAVPF RTP/SAVP (r29-linphone F1).
func TestAnswersKeepOfferProfile(t *testing.T) {
	for _, proto := range []string{"RTP/AVP", "RTP/AVPF", "RTP/SAVP", "RTP/SAVPF"} {
		t.Run(proto, func(t *testing.T) {
			offer := func(addr string, port int, codecs ...Codec) Media {
				m := peer(addr, port, codecs...)
				m.Proto = proto
				return m
			}
			client, gw := offer("198.51.100.20", 50010, PCMU, TelephoneEvent), offer("203.0.113.10", 20000, PCMU, sbcTE)
			linphone, err := Parse(fmt.Appendf(nil, linphoneAVPFOffer, proto))
			if err != nil {
				t.Fatal(err)
			}
			answers := []struct {
				name  string
				offer Media
				build func() (Description, error)
			}{
				{"client answer, bypass", client, func() (Description, error) {
					return ClientAnswer(client, peer("203.0.113.10", 20002, PCMU, sbcTE), true, edgeAnchor, testBypass)
				}},
				{"client answer, anchored", client, func() (Description, error) {
					return ClientAnswer(client, peer("203.0.113.10", 20002, PCMU, sbcTE), false, edgeAnchor, "")
				}},
				{"client answer, anchored, preferred law", client, func() (Description, error) {
					return ClientAnswerPrefer(client, peer("203.0.113.10", 20002, PCMA), edgeAnchor, []string{"PCMU"})
				}},
				{"gateway answer, bypass", gw, func() (Description, error) {
					return GatewayAnswer(gw, peer("198.51.100.20", 50010, PCMU, TelephoneEvent), true, gatewayAnchor)
				}},
				{"gateway answer, anchored", gw, func() (Description, error) {
					return GatewayAnswer(gw, peer("198.51.100.20", 50010, PCMU), false, gatewayAnchor)
				}},
				{"gateway answer to Linphone's offer, anchored", linphone, func() (Description, error) {
					return GatewayAnswer(linphone, peer("198.51.100.20", 50010, PCMU, TelephoneEvent), false, gatewayAnchor)
				}},
				{"gateway answer to Linphone's offer, bypass", linphone, func() (Description, error) {
					return GatewayAnswer(linphone, peer("198.51.100.20", 50010, PCMU, TelephoneEvent), true, gatewayAnchor)
				}},
				{"bypassed gateway re-offer answered from the client's answer", gw, func() (Description, error) {
					d, err := GatewayOffer(peer("198.51.100.20", 50010, PCMU), true, netip.AddrPort{})
					return d.Answering(gw), err
				}},
			}
			for _, a := range answers {
				d, err := a.build()
				if err != nil {
					t.Fatalf("%s: %v", a.name, err)
				}
				d.SAVP = a.offer.RequiresSRTP()
				body := d.Marshal()
				if got := audioProto(t, body); got != proto {
					t.Errorf("%s: the %s offer answered %s:\n%s", a.name, proto, got, body)
				}
				if strings.Contains(string(body), "rtcp-fb") {
					t.Errorf("%s: answer negotiates RTCP feedback:\n%s", a.name, body)
				}
			}
			offers := []struct {
				name  string
				build func() (Description, error)
			}{
				{"gateway offer, bypass", func() (Description, error) { return GatewayOffer(client, true, netip.AddrPort{}) }},
				{"gateway offer, anchored", func() (Description, error) { return GatewayOffer(client, false, gatewayAnchor) }},
				{"client offer", func() (Description, error) { return ClientOffer(gw, edgeAnchor, testBypass) }},
				{"client re-offer, bypass", func() (Description, error) { return ClientReoffer(gw, testBypass) }},
				{"client re-offer, anchored", func() (Description, error) {
					return ClientReofferAnchored(gw, edgeAnchor, client, nil)
				}},
			}
			for _, o := range offers {
				d, err := o.build()
				if err != nil {
					t.Fatalf("%s: %v", o.name, err)
				}
				if got := audioProto(t, d.Marshal()); got != "RTP/AVP" {
					t.Errorf("%s from a %s peer: our offer in %s, want RTP/AVP", o.name, proto, got)
				}
			}
		})
	}
}

// TestReoffersKeepPeerProfile: an offer of ours inside a session goes in
// the feedback profile of the peer it goes to (Reoffering, from that
// peer's latest SDP): the re-offer builders' Descriptions, whatever the
// profile of the SDP they are built from, come out RTP/AVPF to a peer in
// RTP/AVPF and RTP/SAVPF to one in RTP/SAVPF (with SAVP, as the mediation
// package's keying sets it), RTP/AVP to one in RTP/AVP, and without
// a=rtcp-fb. Before, every offer of ours said RTP/AVP, so our re-offer
// moved an AVPF peer's stream to AVP (RFC 3264 §8; r29-review2 F3).
func TestReoffersKeepPeerProfile(t *testing.T) {
	for _, to := range []string{"RTP/AVP", "RTP/AVPF", "RTP/SAVP", "RTP/SAVPF"} {
		t.Run(to, func(t *testing.T) {
			// The receiving peer's latest SDP, and the other peer's
			// offer the re-offer is built from, in the other profile.
			receiver := peer("203.0.113.10", 20000, PCMU, sbcTE)
			receiver.Proto = to
			from := peer("198.51.100.20", 50010, PCMU, TelephoneEvent)
			from.Proto = "RTP/AVP"
			if !receiver.Feedback() {
				from.Proto = "RTP/AVPF"
			}
			offers := []struct {
				name  string
				build func() (Description, error)
			}{
				{"gateway re-offer, bypass", func() (Description, error) {
					return GatewayOfferPrefer(from, true, netip.AddrPort{}, nil)
				}},
				{"gateway re-offer, anchored", func() (Description, error) {
					return GatewayOfferPrefer(from, false, gatewayAnchor, []string{"PCMA", "PCMU"})
				}},
				{"client re-offer, bypass", func() (Description, error) { return ClientReoffer(from, testBypass) }},
				{"client re-offer, anchored", func() (Description, error) {
					return ClientReofferAnchored(from, edgeAnchor, receiver, nil)
				}},
			}
			for _, o := range offers {
				d, err := o.build()
				if err != nil {
					t.Fatalf("%s: %v", o.name, err)
				}
				d = d.Reoffering(receiver)
				d.SAVP = receiver.RequiresSRTP()
				body := d.Marshal()
				if got := audioProto(t, body); got != to {
					t.Errorf("%s to a peer in %s: offered %s:\n%s", o.name, to, got, body)
				}
				if strings.Contains(string(body), "rtcp-fb") {
					t.Errorf("%s: offer negotiates RTCP feedback:\n%s", o.name, body)
				}
			}
			// No peer SDP yet (an initial offer): RTP/AVP.
			d, err := GatewayOffer(from, false, gatewayAnchor)
			if err != nil {
				t.Fatal(err)
			}
			if got := audioProto(t, d.Reoffering(Media{}).Marshal()); got != "RTP/AVP" {
				t.Errorf("offer with no peer SDP yet in %s, want RTP/AVP", got)
			}
		})
	}
}
