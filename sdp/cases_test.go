// Tests of the four builders in both modes over the fixtures.

package sdp

import (
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	psdp "github.com/pion/sdp/v3"
)

// peer builds a synthetic Media for cases no fixture covers.
func peer(addr string, port int, codecs ...Codec) Media {
	return Media{Addr: netip.MustParseAddr(addr), Port: port, RTCPPort: port + 1, Proto: "RTP/AVP",
		Codecs: codecs, Direction: SendRecv}
}

var (
	silk     = Codec{PT: 104, Name: "SILK", Rate: 16000, Channels: 1}
	te96     = Codec{PT: 96, Name: "telephone-event", Rate: 8000, Channels: 1, Fmtp: "0-15"}
	sbcTE    = Codec{PT: 101, Name: "telephone-event", Rate: 8000, Channels: 1, Fmtp: "0-15"}
	gwHostA  = hostPair("1", prefFirst, netip.MustParseAddrPort("203.0.113.10:20002"), netip.MustParseAddrPort("203.0.113.10:20003"))
	edgePair = hostPair("1", prefFirst, edgeAnchor, netip.MustParseAddrPort("192.0.2.1:49155"))
)

// anchoredAt is the Description of the mediation server's own port pair.
func anchoredAt(a netip.AddrPort, dir string, codecs ...Codec) Description {
	return Description{Addr: a.Addr(), Port: int(a.Port()), RTCPPort: int(a.Port()) + 1, Codecs: codecs,
		Direction: dir, Ptime: defaultPtime}
}

// withMaxPtime is d with a=maxptime n: a peer's, passed on.
func withMaxPtime(d Description, n int) Description {
	d.MaxPtime = n
	return d
}

// builderCase is one builder call with its expected result.
type builderCase struct {
	name    string
	build   func(t *testing.T) (Description, error)
	want    Description
	wantErr error
}

func runBuilderCases(t *testing.T, toGateway bool, tests []builderCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.build(t)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error = %v, want %v", err, tt.wantErr)
				}
				if err.Error() == tt.wantErr.Error() {
					t.Errorf("error %q carries no detail", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("\n got %+v\nwant %+v", got, tt.want)
			}
			got.Origin = Origin{SessionID: 1000, Version: 1}
			roundTrip(t, got)
			if toGateway {
				assertPlainRFC3264(t, got.Marshal())
			} else {
				assertClientBound(t, got)
			}
		})
	}
}

// gatewayAttributes are the only attributes a gateway-bound SDP may carry:
// gateways are not ICE peers and must see no Microsoft extensions.
var gatewayAttributes = map[string]bool{
	"rtpmap": true, "fmtp": true, "ptime": true, "maxptime": true, "rtcp": true,
	SendRecv: true, SendOnly: true, RecvOnly: true, Inactive: true,
}

func assertPlainRFC3264(t *testing.T, body []byte) {
	t.Helper()
	var sd psdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		t.Fatalf("pion Unmarshal: %v", err)
	}
	attrs := append([]psdp.Attribute{}, sd.Attributes...)
	for _, md := range sd.MediaDescriptions {
		attrs = append(attrs, md.Attributes...)
		if p := strings.Join(md.MediaName.Protos, "/"); p != "RTP/AVP" {
			t.Errorf("gateway-bound proto %q", p)
		}
	}
	for _, a := range attrs {
		if !gatewayAttributes[a.Key] {
			t.Errorf("gateway-bound SDP leaks a=%s", a)
		}
	}
	for _, bad := range []string{"ice-ufrag", "ice-pwd", "crypto", "candidate", "x-", "b="} {
		if strings.Contains(string(body), bad) {
			t.Errorf("gateway-bound SDP contains %q:\n%s", bad, body)
		}
	}
	if m, err := Parse(body); err != nil {
		t.Errorf("Parse: %v", err)
	} else if len(m.G711()) == 0 {
		t.Errorf("gateway-bound SDP without G.711:\n%s", body)
	}
}

func assertClientBound(t *testing.T, d Description) {
	t.Helper()
	body := string(d.Marshal())
	for _, bad := range []string{"ice-ufrag", "ice-pwd", "crypto", "x-ssrc", "x-candidate"} {
		if strings.Contains(body, bad) {
			t.Errorf("client-bound SDP contains %q:\n%s", bad, body)
		}
	}
	if len(d.Candidates) == 0 {
		t.Errorf("client-bound SDP without candidates:\n%s", body)
	}
	for _, c := range d.Candidates {
		if c.Type != "host" || c.Transport != "UDP" {
			t.Errorf("candidate %+v is not a UDP host candidate", c)
		}
	}
}

func TestGatewayOffer(t *testing.T) {
	offer := func(file string, bypass bool, anchor netip.AddrPort) func(*testing.T) (Description, error) {
		return func(t *testing.T) (Description, error) { return GatewayOffer(media(t, file), bypass, anchor) }
	}
	offerMedia := func(m Media, bypass bool, anchor netip.AddrPort) func(*testing.T) (Description, error) {
		return func(*testing.T) (Description, error) { return GatewayOffer(m, bypass, anchor) }
	}
	runBuilderCases(t, true, []builderCase{
		{
			name:  "bypass: client's address and G.711 + telephone-event only (Fixture A)",
			build: offer("sfb-bypass-offer.sdp", true, gatewayAnchor),
			want: Description{Addr: netip.MustParseAddr("192.168.106.63"), Port: 10406, RTCPPort: 10407,
				Codecs: []Codec{PCMU, PCMA, TelephoneEvent}, Direction: SendRecv, Ptime: 20, MaxPtime: 200},
		},
		{
			name:  "bypass: SRTP-optional offer loses its crypto (Fixture B)",
			build: offer("sfb-edge-srtp-optional-offer.sdp", true, gatewayAnchor),
			want: Description{Addr: netip.MustParseAddr("10.77.44.43"), Port: 50052, RTCPPort: 50053,
				Codecs: []Codec{PCMU, PCMA, TelephoneEvent}, Direction: SendRecv, Ptime: 20, MaxPtime: 200},
		},
		{
			name:  "bypass: RTP/SAVP audio+video offer becomes plain RTP/AVP audio (Fixture C)",
			build: offer("sfb-savp-audio-video-offer.sdp", true, gatewayAnchor),
			want: Description{Addr: netip.MustParseAddr("192.168.56.1"), Port: 27100, RTCPPort: 27101,
				Codecs: []Codec{PCMU, PCMA, TelephoneEvent}, Direction: SendRecv, Ptime: 20, MaxPtime: 200},
		},
		{
			name:  "bypass: client's PT and order kept, no telephone-event when not offered",
			build: offerMedia(peer("198.51.100.9", 7000, silk, PCMA, PCMU), true, gatewayAnchor),
			want: Description{Addr: netip.MustParseAddr("198.51.100.9"), Port: 7000, RTCPPort: 7001,
				Codecs: []Codec{PCMA, PCMU}, Direction: SendRecv},
		},
		{
			name:    "bypass: client without G.711",
			build:   offerMedia(peer("198.51.100.9", 7000, silk, TelephoneEvent), true, gatewayAnchor),
			wantErr: ErrNoG711,
		},
		{
			name:  "anchored: anchor address, PCMU PCMA telephone-event (Fixture B)",
			build: offer("sfb-edge-srtp-optional-offer.sdp", false, gatewayAnchor),
			want:  withMaxPtime(anchoredAt(gatewayAnchor, SendRecv, PCMU, PCMA, TelephoneEvent), relayMaxPtime), // the client's 200, capped
		},
		{
			name:  "anchored: client without G.711 is transcoded, not refused",
			build: offerMedia(peer("198.51.100.9", 7000, silk), false, gatewayAnchor),
			want:  anchoredAt(gatewayAnchor, SendRecv, PCMU, PCMA),
		},
		{
			// The relay could not give the SBC's events to this client.
			name:  "anchored: no telephone-event when the client offered none",
			build: offerMedia(peer("198.51.100.9", 7000, PCMU, PCMA), false, gatewayAnchor),
			want:  anchoredAt(gatewayAnchor, SendRecv, PCMU, PCMA),
		},
		{
			name:  "anchored: telephone-event when the client offered it, whatever its PT",
			build: offerMedia(peer("198.51.100.9", 7000, PCMU, te96), false, gatewayAnchor),
			want:  anchoredAt(gatewayAnchor, SendRecv, PCMU, PCMA, TelephoneEvent),
		},
		{
			name:  "anchored: IPv6 anchor",
			build: offer("sfb-bypass-offer.sdp", false, v6Anchor),
			want:  withMaxPtime(anchoredAt(v6Anchor, SendRecv, PCMU, PCMA, TelephoneEvent), relayMaxPtime), // the client's 200, capped
		},
		{
			name:  "anchored: sendonly hold is forwarded",
			build: offer("hold-offer.sdp", false, gatewayAnchor),
			want:  anchoredAt(gatewayAnchor, SendOnly, PCMU, PCMA, TelephoneEvent),
		},
		{
			name:  "anchored: c=0.0.0.0 hold is forwarded as sendonly",
			build: offer("hold-zero-ip.sdp", false, gatewayAnchor),
			want:  anchoredAt(gatewayAnchor, SendOnly, PCMU, PCMA, TelephoneEvent),
		},
		{
			name:    "anchored: invalid anchor",
			build:   offer("sfb-bypass-offer.sdp", false, netip.AddrPort{}),
			wantErr: ErrBadAnchor,
		},
		{
			name:    "anchored: anchor port leaves no room for RTCP",
			build:   offer("sfb-bypass-offer.sdp", false, netip.MustParseAddrPort("192.0.2.1:65535")),
			wantErr: ErrBadAnchor,
		},
		{
			name:    "anchored: unspecified anchor",
			build:   offer("sfb-bypass-offer.sdp", false, netip.MustParseAddrPort("0.0.0.0:49152")),
			wantErr: ErrBadAnchor,
		},
	})
}

func TestClientAnswer(t *testing.T) {
	answer := func(client, gateway string, bypass bool, anchor netip.AddrPort, id string) func(*testing.T) (Description, error) {
		return func(t *testing.T) (Description, error) {
			return ClientAnswer(media(t, client), media(t, gateway), bypass, anchor, id)
		}
	}
	answerMedia := func(client, gateway Media, bypass bool, anchor netip.AddrPort) func(*testing.T) (Description, error) {
		return func(*testing.T) (Description, error) {
			return ClientAnswer(client, gateway, bypass, anchor, testBypass)
		}
	}
	gw := peer("203.0.113.10", 20002)
	runBuilderCases(t, false, []builderCase{
		{
			name:  "bypass: gateway's address, law, telephone-event and candidate pair, x-bypassid",
			build: answer("sfb-bypass-offer.sdp", "sbc-answer-pcma.sdp", true, edgeAnchor, testBypass),
			want: Description{Addr: netip.MustParseAddr("203.0.113.10"), Port: 20002, RTCPPort: 20003,
				Codecs: []Codec{PCMA, {PT: 101, Name: "telephone-event", Rate: 8000, Channels: 1, Fmtp: "0-15"}}, BypassID: testBypass, Candidates: gwHostA,
				Direction: SendRecv, Ptime: 20},
		},
		{
			// The client sends its events straight to the gateway.
			name: "bypass: dynamic telephone-event PT is the gateway's",
			build: answerMedia(peer("198.51.100.9", 7000, PCMU, TelephoneEvent),
				withCodecs(gw, PCMU, te96), true, edgeAnchor),
			want: Description{Addr: netip.MustParseAddr("203.0.113.10"), Port: 20002, RTCPPort: 20003,
				Codecs: []Codec{PCMU, te96}, BypassID: testBypass, Candidates: gwHostA, Direction: SendRecv},
		},
		{
			name: "bypass: no telephone-event unless both sides have it",
			build: answerMedia(peer("198.51.100.9", 7000, PCMU, TelephoneEvent),
				withCodecs(gw, PCMU), true, edgeAnchor),
			want: Description{Addr: netip.MustParseAddr("203.0.113.10"), Port: 20002, RTCPPort: 20003,
				Codecs: []Codec{PCMU}, BypassID: testBypass, Candidates: gwHostA, Direction: SendRecv},
		},
		{
			name:    "bypass: gateway answered a law the client did not offer",
			build:   answerMedia(peer("198.51.100.9", 7000, PCMU), withCodecs(gw, PCMA), true, edgeAnchor),
			wantErr: ErrNoG711,
		},
		{
			name:  "anchored: same law as the gateway, anchor candidates, no x-bypassid (Fixture B)",
			build: answer("sfb-edge-srtp-optional-offer.sdp", "sbc-answer-pcma.sdp", false, edgeAnchor, testBypass),
			want: Description{Addr: edgeAnchor.Addr(), Port: 49154, RTCPPort: 49155,
				Codecs: []Codec{PCMA, TelephoneEvent}, Candidates: edgePair, Direction: SendRecv, Ptime: defaultPtime},
		},
		{
			name: "anchored: gateway's law not offered by the client: client's first G.711, transcoded",
			build: answerMedia(peer("198.51.100.9", 7000, silk, PCMU), withCodecs(gw, PCMA, sbcTE),
				false, edgeAnchor),
			want: Description{Addr: edgeAnchor.Addr(), Port: 49154, RTCPPort: 49155,
				Codecs: []Codec{PCMU}, Candidates: edgePair, Direction: SendRecv, Ptime: defaultPtime},
		},
		{
			// The client would send its DTMF as events only, and the
			// relay has no events to give the SBC.
			name: "anchored: no telephone-event when the gateway did not answer it",
			build: answerMedia(peer("198.51.100.9", 7000, PCMU, TelephoneEvent), withCodecs(gw, PCMU),
				false, edgeAnchor),
			want: Description{Addr: edgeAnchor.Addr(), Port: 49154, RTCPPort: 49155,
				Codecs: []Codec{PCMU}, Candidates: edgePair, Direction: SendRecv, Ptime: defaultPtime},
		},
		{
			name: "anchored: client's telephone-event PT when the gateway answered its own",
			build: answerMedia(peer("198.51.100.9", 7000, PCMU, TelephoneEvent), withCodecs(gw, PCMU, te96),
				false, edgeAnchor),
			want: Description{Addr: edgeAnchor.Addr(), Port: 49154, RTCPPort: 49155,
				Codecs: []Codec{PCMU, TelephoneEvent}, Candidates: edgePair, Direction: SendRecv, Ptime: defaultPtime},
		},
		{
			// A lax SBC answers sendrecv to a recvonly offer: the client
			// is still answered as RFC 3264 §6.1 says.
			name: "anchored: the client's recvonly offer gets sendonly whatever the gateway answered",
			build: answerMedia(withDirection(peer("198.51.100.9", 7000, PCMU), RecvOnly), withCodecs(gw, PCMU),
				false, edgeAnchor),
			want: Description{Addr: edgeAnchor.Addr(), Port: 49154, RTCPPort: 49155,
				Codecs: []Codec{PCMU}, Candidates: edgePair, Direction: SendOnly, Ptime: defaultPtime},
		},
		{
			name: "bypass: the client's recvonly offer gets sendonly whatever the gateway answered",
			build: answerMedia(withDirection(peer("198.51.100.9", 7000, PCMU), RecvOnly), withCodecs(gw, PCMU),
				true, edgeAnchor),
			want: Description{Addr: netip.MustParseAddr("203.0.113.10"), Port: 20002, RTCPPort: 20003,
				Codecs: []Codec{PCMU}, BypassID: testBypass, Candidates: gwHostA, Direction: SendOnly},
		},
		{
			name:    "anchored: client without G.711",
			build:   answerMedia(peer("198.51.100.9", 7000, silk), withCodecs(gw, PCMA), false, edgeAnchor),
			wantErr: ErrNoG711,
		},
		{
			name:    "anchored: gateway answered without G.711",
			build:   answerMedia(peer("198.51.100.9", 7000, PCMU), withCodecs(gw, silk), false, edgeAnchor),
			wantErr: ErrNoG711,
		},
		{
			name:  "anchored: IPv6 anchor",
			build: answer("sfb-bypass-offer.sdp", "sbc-answer-pcma.sdp", false, v6Anchor, testBypass),
			want: Description{Addr: v6Anchor.Addr(), Port: 49156, RTCPPort: 49157,
				Codecs: []Codec{PCMA, TelephoneEvent}, Direction: SendRecv, Ptime: defaultPtime,
				Candidates: hostPair("1", prefFirst, v6Anchor, netip.MustParseAddrPort("[2001:db8::1]:49157"))},
		},
		{
			name:    "anchored: invalid anchor",
			build:   answer("sfb-bypass-offer.sdp", "sbc-answer-pcma.sdp", false, netip.AddrPort{}, ""),
			wantErr: ErrBadAnchor,
		},
	})
}

func TestClientOffer(t *testing.T) {
	offer := func(file string, anchor netip.AddrPort, id string) func(*testing.T) (Description, error) {
		return func(t *testing.T) (Description, error) { return ClientOffer(media(t, file), anchor, id) }
	}
	gwPair := hostPair("1", prefFirst, netip.MustParseAddrPort("203.0.113.10:20000"), netip.MustParseAddrPort("203.0.113.10:20001"))
	sbcCodecs := []Codec{PCMA, PCMU, sbcTE}
	runBuilderCases(t, false, []builderCase{
		{
			name:  "with bypass ID: gateway candidates first, then the anchor's",
			build: offer("sbc-offer-pcma-pcmu.sdp", edgeAnchor, testBypass),
			want: Description{Addr: edgeAnchor.Addr(), Port: 49154, RTCPPort: 49155, Codecs: sbcCodecs,
				BypassID: testBypass, Direction: SendRecv, Ptime: 20,
				Candidates: append(append([]Candidate{}, gwPair...),
					hostPair("2", prefSecond, edgeAnchor, netip.MustParseAddrPort("192.0.2.1:49155"))...)},
		},
		{
			name:  "without bypass ID: anchor candidates only",
			build: offer("sbc-offer-pcma-pcmu.sdp", edgeAnchor, ""),
			want: Description{Addr: edgeAnchor.Addr(), Port: 49154, RTCPPort: 49155, Codecs: sbcCodecs,
				Direction: SendRecv, Ptime: 20, Candidates: edgePair},
		},
		{
			name: "only G.711 and telephone-event, gateway's PTs and order",
			build: func(*testing.T) (Description, error) {
				return ClientOffer(peer("203.0.113.10", 20000, PCMU, Codec{PT: 18, Name: "G729", Rate: 8000, Channels: 1}, te96, PCMA), edgeAnchor, "")
			},
			// No a=ptime from the gateway: G.711's default.
			want: Description{Addr: edgeAnchor.Addr(), Port: 49154, RTCPPort: 49155, Codecs: []Codec{PCMU, te96, PCMA},
				Direction: SendRecv, Ptime: defaultPtime, Candidates: edgePair},
		},
		{
			name:  "IPv6 anchor",
			build: offer("sbc-offer-pcma-pcmu.sdp", v6Anchor, ""),
			want: Description{Addr: v6Anchor.Addr(), Port: 49156, RTCPPort: 49157, Codecs: sbcCodecs,
				Direction: SendRecv, Ptime: 20,
				Candidates: hostPair("1", prefFirst, v6Anchor, netip.MustParseAddrPort("[2001:db8::1]:49157"))},
		},
		{
			name: "gateway without G.711",
			build: func(*testing.T) (Description, error) {
				return ClientOffer(peer("203.0.113.10", 20000, Codec{PT: 18, Name: "G729", Rate: 8000}), edgeAnchor, testBypass)
			},
			wantErr: ErrNoG711,
		},
		{
			name:    "invalid anchor",
			build:   offer("sbc-offer-pcma-pcmu.sdp", netip.MustParseAddrPort("192.0.2.1:0"), testBypass),
			wantErr: ErrBadAnchor,
		},
	})
}

func TestGatewayAnswer(t *testing.T) {
	answer := func(gateway, client string, bypass bool, anchor netip.AddrPort) func(*testing.T) (Description, error) {
		return func(t *testing.T) (Description, error) {
			return GatewayAnswer(media(t, gateway), media(t, client), bypass, anchor)
		}
	}
	answerMedia := func(gateway, client Media, bypass bool) func(*testing.T) (Description, error) {
		return func(*testing.T) (Description, error) { return GatewayAnswer(gateway, client, bypass, gatewayAnchor) }
	}
	gw := peer("203.0.113.10", 20000)
	cl := peer("198.51.100.20", 50010)
	runBuilderCases(t, true, []builderCase{
		{
			name:  "bypass: client's address and law, gateway's telephone-event",
			build: answer("sbc-offer-pcma-pcmu.sdp", "sfb-answer-with-bypassid.sdp", true, gatewayAnchor),
			want: Description{Addr: netip.MustParseAddr("198.51.100.20"), Port: 50010, RTCPPort: 50011,
				Codecs: []Codec{PCMA, sbcTE}, Direction: SendRecv, Ptime: 20, MaxPtime: 200},
		},
		{
			name:  "bypass: gateway's dynamic telephone-event PT",
			build: answerMedia(withCodecs(gw, PCMU, te96), withCodecs(cl, PCMU, TelephoneEvent), true),
			want: Description{Addr: cl.Addr, Port: 50010, RTCPPort: 50011, Codecs: []Codec{PCMU, te96},
				Direction: SendRecv},
		},
		{
			name:  "bypass: no telephone-event unless both sides have it",
			build: answerMedia(withCodecs(gw, PCMU, te96), withCodecs(cl, PCMU), true),
			want:  Description{Addr: cl.Addr, Port: 50010, RTCPPort: 50011, Codecs: []Codec{PCMU}, Direction: SendRecv},
		},
		{
			name:    "bypass: client chose a law the gateway did not offer",
			build:   answerMedia(withCodecs(gw, PCMA), withCodecs(cl, PCMU), true),
			wantErr: ErrNoG711,
		},
		{
			name:    "bypass: client answered without G.711",
			build:   answerMedia(withCodecs(gw, PCMA), withCodecs(cl, silk), true),
			wantErr: ErrNoG711,
		},
		{
			name:  "anchored: client's law when the gateway offered it",
			build: answer("sbc-offer-pcma-pcmu.sdp", "sfb-answer-no-bypassid.sdp", false, gatewayAnchor),
			want:  withMaxPtime(anchoredAt(gatewayAnchor, SendRecv, PCMU, sbcTE), relayMaxPtime), // the client's 200, capped
		},
		{
			name:  "anchored: gateway's first G.711 when the client's law was not offered",
			build: answerMedia(withCodecs(gw, PCMA, te96), withCodecs(cl, silk, TelephoneEvent), false),
			want:  anchoredAt(gatewayAnchor, SendRecv, PCMA, te96),
		},
		{
			// The SBC would send its DTMF as events only, and the relay
			// has no events to give the client.
			name:  "anchored: no telephone-event when the client did not answer it",
			build: answerMedia(withCodecs(gw, PCMA, te96), withCodecs(cl, PCMA), false),
			want:  anchoredAt(gatewayAnchor, SendRecv, PCMA),
		},
		{
			name:  "anchored: no telephone-event when the gateway did not offer it",
			build: answerMedia(withCodecs(gw, PCMU), withCodecs(cl, PCMU, TelephoneEvent), false),
			want:  anchoredAt(gatewayAnchor, SendRecv, PCMU),
		},
		{
			name:    "anchored: gateway without G.711",
			build:   answerMedia(withCodecs(gw, silk), withCodecs(cl, PCMU), false),
			wantErr: ErrNoG711,
		},
		{
			name: "anchored: IPv6 anchor",
			build: func(t *testing.T) (Description, error) {
				return GatewayAnswer(media(t, "sbc-offer-pcma-pcmu.sdp"), media(t, "sfb-answer-with-bypassid.sdp"), false, v6Anchor)
			},
			want: withMaxPtime(anchoredAt(v6Anchor, SendRecv, PCMA, sbcTE), relayMaxPtime), // the client's 200, capped
		},
		{
			name:  "anchored: client's recvonly answer is forwarded",
			build: answerMedia(withCodecs(gw, PCMU), withDirection(withCodecs(cl, PCMU), RecvOnly), false),
			want:  anchoredAt(gatewayAnchor, RecvOnly, PCMU),
		},
		{
			name:  "anchored: the gateway's sendonly offer gets recvonly when the client answered sendrecv",
			build: answerMedia(withDirection(withCodecs(gw, PCMU), SendOnly), withCodecs(cl, PCMU), false),
			want:  anchoredAt(gatewayAnchor, RecvOnly, PCMU),
		},
		{
			name:  "anchored: the gateway's inactive offer gets inactive",
			build: answerMedia(withDirection(withCodecs(gw, PCMU), Inactive), withCodecs(cl, PCMU), false),
			want:  anchoredAt(gatewayAnchor, Inactive, PCMU),
		},
		{
			name:  "bypass: the gateway's sendonly offer gets inactive when the client answered sendonly",
			build: answerMedia(withDirection(withCodecs(gw, PCMU), SendOnly), withDirection(withCodecs(cl, PCMU), SendOnly), true),
			want:  Description{Addr: cl.Addr, Port: 50010, RTCPPort: 50011, Codecs: []Codec{PCMU}, Direction: Inactive},
		},
	})
}

func withCodecs(m Media, codecs ...Codec) Media {
	m.Codecs = codecs
	return m
}

func withDirection(m Media, dir string) Media {
	m.Direction = dir
	return m
}

// TestGatewayBoundNeverLeaks sweeps every client fixture through both
// gateway-bound builders in both modes.
func TestGatewayBoundNeverLeaks(t *testing.T) {
	clients := []string{"sfb-bypass-offer.sdp", "sfb-edge-srtp-optional-offer.sdp", "sfb-savp-audio-video-offer.sdp",
		"sfb-answer-with-bypassid.sdp", "sfb-answer-no-bypassid.sdp"}
	gateway := media(t, "sbc-offer-pcma-pcmu.sdp")
	for _, file := range clients {
		client := media(t, file)
		for _, bypass := range []bool{true, false} {
			offer, err := GatewayOffer(client, bypass, gatewayAnchor)
			if err != nil {
				t.Fatalf("GatewayOffer(%s, %v): %v", file, bypass, err)
			}
			assertPlainRFC3264(t, offer.Marshal())
			answer, err := GatewayAnswer(gateway, client, bypass, gatewayAnchor)
			if err != nil {
				t.Fatalf("GatewayAnswer(%s, %v): %v", file, bypass, err)
			}
			assertPlainRFC3264(t, answer.Marshal())
		}
	}
}

func TestClientAnswerPrefer(t *testing.T) {
	pcma := media(t, "sbc-answer-pcma.sdp")
	tests := []struct {
		offer  string
		prefer []string
		want   string
		wantPT uint8
	}{
		{"sfb-bypass-offer.sdp", nil, "PCMA", 8},
		{"sfb-bypass-offer.sdp", []string{"G722", "PCMU", "PCMA"}, "G722", 9},
		{"sfb-edge-srtp-optional-offer.sdp", []string{"G722", "PCMU", "PCMA"}, "G722", 9}, // not the stereo PT 117
		{"sfb-bypass-offer.sdp", []string{"PCMU"}, "PCMU", 0},
		{"sfb-bypass-offer.sdp", []string{"PCMU", "PCMA"}, "PCMA", 8}, // the gateway's law first
	}
	for _, tt := range tests {
		d, err := ClientAnswerPrefer(media(t, tt.offer), pcma, edgeAnchor, tt.prefer)
		if err != nil {
			t.Fatalf("%s %v: %v", tt.offer, tt.prefer, err)
		}
		if got := d.Codecs[0]; got.Name != tt.want || got.PT != tt.wantPT {
			t.Errorf("%s %v: chose %s/%d, want %s/%d", tt.offer, tt.prefer, got.Name, got.PT, tt.want, tt.wantPT)
		}
	}
	if _, err := ClientAnswerPrefer(media(t, "sfb-bypass-offer.sdp"), pcma, edgeAnchor, []string{"SILK"}); !errors.Is(err, ErrNoG711) {
		t.Errorf("no allowed codec: err %v", err)
	}
}

// TestClientAnswerBypassEventPT: in bypass the client is told the gateway's
// telephone-event payload type, since it sends its events to the gateway.
func TestClientAnswerBypassEventPT(t *testing.T) {
	gw := media(t, "sbc-answer-pcma.sdp")
	for i, c := range gw.Codecs {
		if c.IsTelephoneEvent() {
			gw.Codecs[i].PT = 96
		}
	}
	d, err := ClientAnswer(media(t, "sfb-bypass-offer.sdp"), gw, true, netip.AddrPort{}, "x")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Codecs) != 2 || d.Codecs[1].PT != 96 || !d.Codecs[1].IsTelephoneEvent() {
		t.Fatalf("answer codecs %+v, want telephone-event on the gateway's PT 96", d.Codecs)
	}
}

// TestGatewayOfferPrefer: a trunk's codec preference orders (and limits)
// the G.711 offered to the gateway, anchored and in bypass.
func TestGatewayOfferPrefer(t *testing.T) {
	client := media(t, "sfb-bypass-offer.sdp") // PCMU, PCMA, telephone-event among others
	names := func(cs []Codec) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return out
	}
	for _, c := range []struct {
		prefer []string
		bypass bool
		want   []string
	}{
		{nil, false, []string{"PCMU", "PCMA", "telephone-event"}},
		{[]string{"PCMA", "PCMU"}, false, []string{"PCMA", "PCMU", "telephone-event"}},
		{[]string{"PCMA"}, false, []string{"PCMA", "telephone-event"}},
		{nil, true, []string{"PCMU", "PCMA", "telephone-event"}},
		{[]string{"PCMA", "PCMU"}, true, []string{"PCMA", "PCMU", "telephone-event"}},
		{[]string{"PCMA"}, true, []string{"PCMA", "telephone-event"}},
	} {
		d, err := GatewayOfferPrefer(client, c.bypass, gatewayAnchor, c.prefer)
		if err != nil {
			t.Errorf("%v bypass %v: %v", c.prefer, c.bypass, err)
			continue
		}
		if got := names(d.Codecs); !slices.Equal(got, c.want) {
			t.Errorf("%v bypass %v: offered %v, want %v", c.prefer, c.bypass, got, c.want)
		}
	}
	// In bypass the client's payload types stay.
	d, _ := GatewayOfferPrefer(client, true, gatewayAnchor, []string{"PCMA", "PCMU"})
	if d.Codecs[0].PT != 8 || d.Codecs[1].PT != 0 {
		t.Errorf("payload types %d %d, want the client's 8 0", d.Codecs[0].PT, d.Codecs[1].PT)
	}
	// A bypass client with none of the trunk's laws: ErrNoG711.
	pcmuOnly := client
	pcmuOnly.Codecs = []Codec{PCMU, TelephoneEvent}
	if _, err := GatewayOfferPrefer(pcmuOnly, true, gatewayAnchor, []string{"PCMA"}); !errors.Is(err, ErrNoG711) {
		t.Errorf("PCMU-only client to a PCMA trunk: %v, want ErrNoG711", err)
	}
}

// TestLimitG711: an offer seen through a trunk's codec list keeps only
// the listed laws, in the list's order, then its other codecs; no list
// leaves it as it is; none of the laws is ErrNoG711.
func TestLimitG711(t *testing.T) {
	g722 := Codec{PT: 9, Name: "G722", Rate: 8000, Channels: 1}
	offer := peer("127.0.0.1", 4000, PCMU, g722, PCMA, TelephoneEvent)
	names := func(m Media) []string {
		var out []string
		for _, c := range m.Codecs {
			out = append(out, c.Name)
		}
		return out
	}
	got, err := LimitG711(offer, []string{"PCMA", "PCMU"})
	if want := []string{"PCMA", "PCMU", "G722", "telephone-event"}; err != nil || !slices.Equal(names(got), want) {
		t.Errorf("PCMA, PCMU: %v, %v; want %v", names(got), err, want)
	}
	got, err = LimitG711(offer, []string{"PCMA"})
	if want := []string{"PCMA", "G722", "telephone-event"}; err != nil || !slices.Equal(names(got), want) {
		t.Errorf("PCMA: %v, %v; want %v", names(got), err, want)
	}
	if got, err := LimitG711(offer, nil); err != nil || !slices.Equal(names(got), names(offer)) {
		t.Errorf("no list: %v, %v", names(got), err)
	}
	if _, err := LimitG711(peer("127.0.0.1", 4000, PCMU, TelephoneEvent), []string{"PCMA"}); !errors.Is(err, ErrNoG711) {
		t.Errorf("PCMU offer, PCMA trunk: %v, want ErrNoG711", err)
	}
	if len(offer.Codecs) != 4 || offer.Codecs[0].Name != "PCMU" {
		t.Errorf("the offer itself changed: %v", names(offer))
	}
}

// TestBypassAtBestHostCandidate: a bypassed peer is reached at its best
// UDP host candidate of the RTP component (its RTCP at the same
// foundation's component 2), not at a c= line that differs: SfB Online
// sending a PSTN call back through the mediation server (forwarding,
// simultaneous ring) hands on our own offer, whose c= is our relay port
// and whose best host candidate is the first SBC. An SDP without
// candidates, or whose best host is its c= (an SfB client's own), is
// reached at its c= as before.
func TestBypassAtBestHostCandidate(t *testing.T) {
	hairpin := "v=0\r\no=- 1 1 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\n" +
		"m=audio 20578 RTP/AVP 8 0 101\r\na=rtcp:20579\r\n" +
		"a=candidate:1 1 UDP 2130706431 198.51.100.7 48282 typ host\r\n" +
		"a=candidate:1 2 UDP 2130705918 198.51.100.7 48283 typ host\r\n" +
		"a=candidate:2 1 UDP 2130705919 192.0.2.5 20578 typ host\r\n" +
		"a=candidate:2 2 UDP 2130705406 192.0.2.5 20579 typ host\r\n" +
		"a=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=x-bypassid:x\r\n"
	plain := "v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n" +
		"m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	for _, tc := range []struct {
		name, sdp string
		rtp       string
		rtcp      int
	}{
		{"hairpinned offer", hairpin, "198.51.100.7:48282", 48283},
		{"no candidates", plain, "192.0.2.9:4000", 4001},
		// A client that moved its media without new candidates.
		{"c= that no candidate lists", strings.Replace(hairpin, "m=audio 20578", "m=audio 20600", 1), "192.0.2.5:20600", 20579},
	} {
		t.Run(tc.name, func(t *testing.T) {
			offer, err := Parse([]byte(tc.sdp))
			if err != nil {
				t.Fatal(err)
			}
			d, err := GatewayOffer(offer, true, netip.AddrPort{})
			if err != nil {
				t.Fatal(err)
			}
			got := netip.AddrPortFrom(d.Addr, uint16(d.Port))
			if got.String() != tc.rtp || (d.RTCPPort != 0 && d.RTCPPort != tc.rtcp) {
				t.Errorf("bypass address %s (RTCP %d), want %s (RTCP %d)", got, d.RTCPPort, tc.rtp, tc.rtcp)
			}
		})
	}
}

// TestClientReoffer: a gateway's re-offer in a bypassed call reaches the
// client with the gateway's address as its host candidate pair, as the
// client's first SDP had it; a c=0.0.0.0 hold has no candidates.
func TestClientReoffer(t *testing.T) {
	gwPair := hostPair("1", prefFirst, netip.MustParseAddrPort("203.0.113.10:20000"), netip.MustParseAddrPort("203.0.113.10:20001"))
	held := media(t, "sbc-offer-pcma-pcmu.sdp")
	held.Direction = SendOnly
	runBuilderCases(t, false, []builderCase{
		{
			name: "the gateway's address, bypass ID and candidates",
			build: func(t *testing.T) (Description, error) {
				return ClientReoffer(media(t, "sbc-offer-pcma-pcmu.sdp"), testBypass)
			},
			want: Description{Addr: netip.MustParseAddr("203.0.113.10"), Port: 20000, RTCPPort: 20001,
				Codecs: []Codec{PCMA, PCMU, sbcTE}, BypassID: testBypass, Direction: SendRecv, Ptime: 20, Candidates: gwPair},
		},
		{
			name:  "a sendonly hold keeps them",
			build: func(*testing.T) (Description, error) { return ClientReoffer(held, testBypass) },
			want: Description{Addr: netip.MustParseAddr("203.0.113.10"), Port: 20000, RTCPPort: 20001,
				Codecs: []Codec{PCMA, PCMU, sbcTE}, BypassID: testBypass, Direction: SendOnly, Ptime: 20, Candidates: gwPair},
		},
		{
			name: "gateway without G.711",
			build: func(*testing.T) (Description, error) {
				return ClientReoffer(peer("203.0.113.10", 20000, Codec{PT: 18, Name: "G729", Rate: 8000}), testBypass)
			},
			wantErr: ErrNoG711,
		},
	})
	zero := media(t, "sbc-offer-pcma-pcmu.sdp")
	zero.Addr = netip.IPv4Unspecified()
	d, err := ClientReoffer(zero, testBypass)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Candidates) != 0 || d.BypassID != testBypass {
		t.Errorf("c=0.0.0.0 hold: candidates %+v, bypass ID %q; want none and the ID", d.Candidates, d.BypassID)
	}
}

// TestClientReofferAnchored: the gateway's re-offer to an anchored
// client lists the gateway's G.711 laws, then the client's own laws the
// gateway's offer lacks (the relay transcodes), then the gateway's events.
func TestClientReofferAnchored(t *testing.T) {
	gw := peer("203.0.113.10", 20000)
	cl := peer("198.51.100.20", 50010)
	reoffer := func(gateway, client Media, prefer []string) func(*testing.T) (Description, error) {
		return func(*testing.T) (Description, error) {
			return ClientReofferAnchored(gateway, edgeAnchor, client, prefer)
		}
	}
	at := func(codecs ...Codec) Description {
		return Description{Addr: edgeAnchor.Addr(), Port: 49154, RTCPPort: 49155, Codecs: codecs,
			Direction: SendRecv, Ptime: defaultPtime, Candidates: edgePair}
	}
	pcmu96 := Codec{PT: 96, Name: "PCMU", Rate: 8000, Channels: 1}
	g722 := Codec{PT: 9, Name: "G722", Rate: 8000, Channels: 1}
	runBuilderCases(t, false, []builderCase{
		{
			name:  "the SBC's PCMA alone to a PCMU client: PCMA, then PCMU",
			build: reoffer(withCodecs(gw, PCMA, sbcTE), withCodecs(cl, PCMU, TelephoneEvent), nil),
			want:  at(PCMA, PCMU, sbcTE),
		},
		{
			name:  "the SBC's PCMU alone to a client of both laws: PCMU, then PCMA",
			build: reoffer(withCodecs(gw, PCMU), withCodecs(cl, PCMA, PCMU), nil),
			want:  at(PCMU, PCMA),
		},
		{
			name:  "the client's law offered already: the SBC's offer as it is",
			build: reoffer(withCodecs(gw, PCMA, PCMU, sbcTE), withCodecs(cl, PCMU), nil),
			want:  at(PCMA, PCMU, sbcTE),
		},
		{
			name:  "the client's payload type taken by the SBC's events: the static one",
			build: reoffer(withCodecs(gw, PCMA, te96), withCodecs(cl, pcmu96), nil),
			want:  at(PCMA, PCMU, te96),
		},
		{
			name:  "a law media.edge_codecs leaves out is not added",
			build: reoffer(withCodecs(gw, PCMA), withCodecs(cl, PCMU), []string{"G722", "PCMA"}),
			want:  at(PCMA),
		},
		{
			name:  "no SDP from the client yet",
			build: reoffer(withCodecs(gw, PCMA, sbcTE), Media{}, nil),
			want:  at(PCMA, sbcTE),
		},
		{
			name:  "a client on G.722 alone: G.722 first",
			build: reoffer(withCodecs(gw, PCMA), withCodecs(cl, g722), []string{"G722", "PCMU", "PCMA"}),
			want:  at(g722, PCMA),
		},
		{
			name:  "a client on G.722 (its latest SDP's first codec media.edge_codecs allows): G.722 first, then the laws",
			build: reoffer(withCodecs(gw, PCMA, sbcTE), withCodecs(cl, g722, PCMU, PCMA, TelephoneEvent), []string{"G722", "PCMU", "PCMA"}),
			want:  at(g722, PCMA, PCMU, sbcTE),
		},
		{
			name:  "G.722 left out by media.edge_codecs: not offered",
			build: reoffer(withCodecs(gw, PCMA), withCodecs(cl, g722, PCMU), []string{"PCMU", "PCMA"}),
			want:  at(PCMA, PCMU),
		},
		{
			name:  "a client on PCMU although it lists G.722 later: no G.722",
			build: reoffer(withCodecs(gw, PCMA), withCodecs(cl, PCMU, g722), []string{"G722", "PCMU", "PCMA"}),
			want:  at(PCMA, PCMU),
		},
		{
			name:    "the SBC without G.711",
			build:   reoffer(withCodecs(gw, silk), withCodecs(cl, PCMU), nil),
			wantErr: ErrNoG711,
		},
	})
}

// TestPacketisationPassesThrough: an anchored SDP carries the a=ptime and
// a=maxptime of the other peer (the relay never repacketises), a=ptime:20
// when that peer gave none; a bypassed one the peer's own, whose media
// goes straight to the other peer.
func TestPacketisationPassesThrough(t *testing.T) {
	pkt := func(m Media, ptime, maxptime int) Media {
		m.Ptime, m.MaxPtime = int32(ptime), int32(maxptime)
		return m
	}
	client := pkt(peer("198.51.100.20", 50010, PCMU, PCMA), 40, 60)
	gateway := pkt(peer("203.0.113.10", 20000, PCMU), 30, 30)
	for _, tc := range []struct {
		name            string
		build           func() (Description, error)
		ptime, maxptime int
	}{
		{"outbound offer to the gateway: the client's",
			func() (Description, error) { return GatewayOffer(client, false, gatewayAnchor) }, 40, 60},
		{"outbound answer to the client: the gateway's",
			func() (Description, error) { return ClientAnswerPrefer(client, gateway, edgeAnchor, nil) }, 30, 30},
		{"inbound offer to the client: the gateway's",
			func() (Description, error) { return ClientOffer(gateway, edgeAnchor, "") }, 30, 30},
		{"inbound answer to the gateway: the client's",
			func() (Description, error) { return GatewayAnswer(gateway, pkt(client, 10, 20), false, gatewayAnchor) }, 10, 20},
		{"the gateway's re-offer to the client: the gateway's",
			func() (Description, error) { return ClientReofferAnchored(gateway, edgeAnchor, client, nil) }, 30, 30},
		{"no a=ptime or a=maxptime from the other peer: 20, none",
			func() (Description, error) { return ClientOffer(pkt(gateway, 0, 0), edgeAnchor, "") }, defaultPtime, 0},
		{"bypass: the client's own, to the gateway",
			func() (Description, error) { return GatewayOffer(client, true, netip.AddrPort{}) }, 40, 60},
		// SfB clients send a=maxptime:200: a 200 ms G.711 packet (1,612
		// bytes) is more than one datagram the relay takes, so the SBC is
		// told the relay's cap.
		{"a maxptime beyond the relay's largest packet: the cap",
			func() (Description, error) { return GatewayOffer(pkt(client, 20, 200), false, gatewayAnchor) }, 20, relayMaxPtime},
		{"a ptime beyond the relay's largest packet: the cap",
			func() (Description, error) { return ClientOffer(pkt(gateway, 200, 0), edgeAnchor, "") }, relayMaxPtime, 0},
		{"both beyond the cap: the cap",
			func() (Description, error) { return ClientOffer(pkt(gateway, 240, 300), edgeAnchor, "") }, relayMaxPtime, relayMaxPtime},
		{"a maxptime shorter than the default ptime: ptime follows it",
			func() (Description, error) { return ClientAnswerPrefer(client, pkt(gateway, 0, 10), edgeAnchor, nil) }, 10, 10},
		{"a maxptime shorter than the peer's own ptime: raised to the ptime",
			func() (Description, error) { return ClientOffer(pkt(gateway, 30, 20), edgeAnchor, "") }, 30, 30},
		{"bypass: the client's a=maxptime:200 as it is (the relay is not on the path)",
			func() (Description, error) { return GatewayOffer(pkt(client, 20, 200), true, netip.AddrPort{}) }, 20, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := tc.build()
			if err != nil {
				t.Fatal(err)
			}
			if d.Ptime != tc.ptime || d.MaxPtime != tc.maxptime {
				t.Errorf("ptime %d maxptime %d, want %d %d", d.Ptime, d.MaxPtime, tc.ptime, tc.maxptime)
			}
			roundTrip(t, d)
		})
	}
}
