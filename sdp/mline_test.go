// Tests of the m-line layout: Parse records it, answers repeat it.

package sdp

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	psdp "github.com/pion/sdp/v3"
)

// secondAudioOffer has a rejected audio line, a video line, the audio line
// Parse describes and a second live audio line, which is rejected too.
var secondAudioOffer = minimal("v=0", "o=- 1 2 IN IP4 192.0.2.5", "s=-", "c=IN IP4 192.0.2.5", "t=0 0",
	"m=audio 0 RTP/AVP 0", "m=video 5000 RTP/AVP 96 97", "a=rtpmap:96 H264/90000",
	"m=audio 6000 RTP/AVP 8 0 101", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15",
	"m=audio 7000 RTP/AVP 0", "a=x-bypassid:"+testBypass)

// t38Offer offers T.38 fax beside audio over UDPTL and TCPTL, and a
// second audio line with a proto pion does not know: m-lines pion/sdp
// refuses, which an answer rejects (port 0) instead of refusing the offer.
var t38Offer = minimal("v=0", "o=- 1 2 IN IP4 192.0.2.5", "s=-", "c=IN IP4 192.0.2.5", "t=0 0",
	"m=audio 40000 RTP/AVP 0 8", "a=rtpmap:0 PCMU/8000",
	"m=image 40004 udptl t38", "a=T38FaxVersion:0", "a=T38FaxUdpEC:t38UDPRedundancy",
	"m=image 40006 tcptl t38", "m=audio 40008 RTP/XYZ 0")

// TestForeignLinesRejected: the answer to an offer with T.38 beside audio
// answers the audio and rejects each T.38 stream as written, port 0.
func TestForeignLinesRejected(t *testing.T) {
	offer, err := Parse(t38Offer)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	d, err := GatewayAnswer(offer, media(t, "sfb-answer-no-bypassid.sdp"), false, gatewayAnchor)
	if err != nil {
		t.Fatalf("GatewayAnswer: %v", err)
	}
	var mlines []string
	for _, l := range strings.Split(string(d.Marshal()), "\r\n") {
		if strings.HasPrefix(l, "m=") {
			mlines = append(mlines, l)
		}
	}
	want := []string{"m=audio 49152 RTP/AVP 0", "m=image 0 udptl t38", "m=image 0 tcptl t38", "m=audio 0 RTP/XYZ 0"}
	if !reflect.DeepEqual(mlines, want) {
		t.Errorf("answer's m-lines %q, want %q", mlines, want)
	}
}

func TestParseLines(t *testing.T) {
	sfbAudio := []string{"117", "104", "114", "9", "112", "111", "0", "8", "103", "116", "115", "97", "13", "118", "119", "101"}
	tests := []struct {
		name  string
		body  []byte
		lines []MLine
		audio int
	}{
		{
			name:  "audio only",
			body:  fixture(t, "sbc-offer-pcma-pcmu.sdp", true),
			lines: []MLine{{Media: "audio", Port: 20000, Proto: "RTP/AVP", Formats: []string{"8", "0", "101"}}},
		},
		{
			name: "SfB audio then video",
			body: fixture(t, "sfb-savp-audio-video-offer.sdp", true),
			lines: []MLine{
				{Media: "audio", Port: 27100, Proto: "RTP/SAVP", Formats: sfbAudio},
				{Media: "video", Port: 16312, Proto: "RTP/SAVP", Formats: []string{"122", "121", "123"}},
			},
		},
		{
			name: "RFC 3264 video first",
			body: fixture(t, "rfc3264-video-audio-offer.sdp", false),
			lines: []MLine{
				{Media: "video", Port: 51372, Proto: "RTP/AVP", Formats: []string{"31", "34"}},
				{Media: "audio", Port: 49170, Proto: "RTP/AVP", Formats: []string{"0", "8", "101"}},
			},
			audio: 1,
		},
		{
			name: "rejected audio and a second audio line",
			body: secondAudioOffer,
			lines: []MLine{
				{Media: "audio", Port: 0, Proto: "RTP/AVP", Formats: []string{"0"}},
				{Media: "video", Port: 5000, Proto: "RTP/AVP", Formats: []string{"96", "97"}},
				{Media: "audio", Port: 6000, Proto: "RTP/AVP", Formats: []string{"8", "0", "101"}},
				{Media: "audio", Port: 7000, Proto: "RTP/AVP", Formats: []string{"0"}},
			},
			audio: 2,
		},
		{
			name: "audio and T.38 fax, which pion cannot read",
			body: t38Offer,
			lines: []MLine{
				{Media: "audio", Port: 40000, Proto: "RTP/AVP", Formats: []string{"0", "8"}},
				{Media: "image", Port: 40004, Proto: "udptl", Formats: []string{"t38"}},
				{Media: "image", Port: 40006, Proto: "tcptl", Formats: []string{"t38"}},
				{Media: "audio", Port: 40008, Proto: "RTP/XYZ", Formats: []string{"0"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(tt.body)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(m.Lines, tt.lines) || m.AudioIndex != tt.audio {
				t.Errorf("Lines %+v AudioIndex %d,\nwant %+v %d", m.Lines, m.AudioIndex, tt.lines, tt.audio)
			}
			if l := m.Lines[m.AudioIndex]; l.Media != "audio" || l.Port != m.Port || l.Proto != m.Proto {
				t.Errorf("Lines[AudioIndex] = %+v does not describe the audio stream %v %s", l, m.RTP(), m.Proto)
			}
		})
	}
}

// answerBuilder is one answer builder with the other side's SDP fixed.
type answerBuilder struct {
	name  string
	build func(t *testing.T, offer Media) (Description, error)
}

// answerBuilders are every answer builder, bypassed and anchored. The
// offer is the client's for ClientAnswer and the gateway's for
// GatewayAnswer.
var answerBuilders = []answerBuilder{
	{"ClientAnswer/bypass", func(t *testing.T, offer Media) (Description, error) {
		return ClientAnswer(offer, media(t, "sbc-answer-pcma.sdp"), true, edgeAnchor, testBypass)
	}},
	{"ClientAnswer/anchored", func(t *testing.T, offer Media) (Description, error) {
		return ClientAnswer(offer, media(t, "sbc-answer-pcma.sdp"), false, edgeAnchor, testBypass)
	}},
	{"ClientAnswerPrefer/anchored", func(t *testing.T, offer Media) (Description, error) {
		return ClientAnswerPrefer(offer, media(t, "sbc-answer-pcma.sdp"), edgeAnchor, []string{"G722", "PCMU", "PCMA"})
	}},
	{"GatewayAnswer/bypass", func(t *testing.T, offer Media) (Description, error) {
		return GatewayAnswer(offer, media(t, "sfb-answer-with-bypassid.sdp"), true, gatewayAnchor)
	}},
	{"GatewayAnswer/anchored", func(t *testing.T, offer Media) (Description, error) {
		return GatewayAnswer(offer, media(t, "sfb-answer-no-bypassid.sdp"), false, gatewayAnchor)
	}},
}

// TestAnswersKeepOfferLines checks RFC 3264 §6 for every answer builder:
// the answer has the offer's m-lines in the offer's order, every one but
// the audio line rejected with port 0, one offered format and no
// attributes, and the audio line exactly as it is for an audio-only offer.
func TestAnswersKeepOfferLines(t *testing.T) {
	offers := []struct {
		name string
		body []byte
	}{
		{"sfb-savp-audio-video-offer", fixture(t, "sfb-savp-audio-video-offer.sdp", true)},
		{"rfc3264-video-audio-offer", fixture(t, "rfc3264-video-audio-offer.sdp", true)},
		{"second-audio-offer", secondAudioOffer},
	}
	for _, o := range offers {
		for _, b := range answerBuilders {
			t.Run(o.name+"/"+b.name, func(t *testing.T) {
				offer, err := Parse(o.body)
				if err != nil {
					t.Fatalf("Parse offer: %v", err)
				}
				d, err := b.build(t, offer)
				if err != nil {
					t.Fatalf("build: %v", err)
				}
				d.Origin = Origin{SessionID: 1000, Version: 1}
				body := d.Marshal()
				assertCRLF(t, string(body))
				roundTrip(t, d)

				var sd psdp.SessionDescription
				if err := sd.Unmarshal(body); err != nil {
					t.Fatalf("pion Unmarshal: %v\n%s", err, body)
				}
				if len(sd.MediaDescriptions) != len(offer.Lines) {
					t.Fatalf("answer has %d m-lines, offer %d:\n%s", len(sd.MediaDescriptions), len(offer.Lines), body)
				}
				for i, md := range sd.MediaDescriptions {
					want := offer.Lines[i]
					if md.MediaName.Media != want.Media {
						t.Errorf("m-line %d is %s, offer's is %s", i, md.MediaName.Media, want.Media)
					}
					if i == offer.AudioIndex {
						if md.MediaName.Port.Value != d.Port || d.Port == 0 {
							t.Errorf("audio m-line %d port %d, want %d", i, md.MediaName.Port.Value, d.Port)
						}
						continue
					}
					if md.MediaName.Port.Value != 0 {
						t.Errorf("m-line %d (%s) not rejected: port %d", i, want.Media, md.MediaName.Port.Value)
					}
					if got := strings.Join(md.MediaName.Protos, "/"); got != want.Proto {
						t.Errorf("rejected m-line %d proto %s, offer's %s", i, got, want.Proto)
					}
					if len(md.MediaName.Formats) != 1 || md.MediaName.Formats[0] != want.Formats[0] {
						t.Errorf("rejected m-line %d formats %v, want the offer's first of %v", i, md.MediaName.Formats, want.Formats)
					}
					if len(md.Attributes) != 0 || md.ConnectionInformation != nil {
						t.Errorf("rejected m-line %d carries attributes %v or c=%v", i, md.Attributes, md.ConnectionInformation)
					}
				}

				// The audio line is what it was before the offer's layout
				// was kept: the same answer to the offer without Lines is
				// these bytes without the rejected m-lines.
				audioOnly := offer
				audioOnly.Lines, audioOnly.AudioIndex = nil, 0
				before, err := b.build(t, audioOnly)
				if err != nil {
					t.Fatalf("build audio-only: %v", err)
				}
				before.Origin = d.Origin
				if got, want := withoutRejected(body), before.Marshal(); !bytes.Equal(got, want) {
					t.Errorf("audio part of the answer changed:\n got:\n%s\nwant:\n%s", got, want)
				}
			})
		}
	}
}

// withoutRejected drops the port-0 m= lines, which have no other lines.
func withoutRejected(body []byte) []byte {
	var out []byte
	for _, line := range bytes.SplitAfter(body, []byte("\r\n")) {
		if f := strings.Fields(string(line)); len(f) > 1 && strings.HasPrefix(f[0], "m=") && f[1] == "0" {
			continue
		}
		out = append(out, line...)
	}
	return out
}

// TestAudioVideoAnswerBytes pins the exact answers to the SfB audio+video
// offer and to the video-first offer.
func TestAudioVideoAnswerBytes(t *testing.T) {
	tests := []struct {
		name  string
		build func(t *testing.T) (Description, error)
		want  []string
	}{
		{
			name: "SfB audio+video, ClientAnswer bypass",
			build: func(t *testing.T) (Description, error) {
				return ClientAnswer(media(t, "sfb-savp-audio-video-offer.sdp"), media(t, "sbc-answer-pcma.sdp"), true, edgeAnchor, testBypass)
			},
			want: []string{
				"v=0",
				"o=- 1000 1 IN IP4 203.0.113.10",
				"s=session",
				"c=IN IP4 203.0.113.10",
				"t=0 0",
				"m=audio 20002 RTP/AVP 8 101",
				"a=rtpmap:8 PCMA/8000",
				"a=rtpmap:101 telephone-event/8000",
				"a=fmtp:101 0-15",
				"a=ptime:20",
				"a=rtcp:20003",
				"a=x-bypassid:" + testBypass,
				"a=candidate:1 1 UDP 2130706431 203.0.113.10 20002 typ host",
				"a=candidate:1 2 UDP 2130706430 203.0.113.10 20003 typ host",
				"a=sendrecv",
				"m=video 0 RTP/SAVP 122",
			},
		},
		{
			name: "RFC 3264 video first, GatewayAnswer anchored",
			build: func(t *testing.T) (Description, error) {
				return GatewayAnswer(media(t, "rfc3264-video-audio-offer.sdp"), media(t, "sfb-answer-no-bypassid.sdp"), false, gatewayAnchor)
			},
			want: []string{
				"v=0",
				"o=- 1000 1 IN IP4 192.0.2.1",
				"s=session",
				"c=IN IP4 192.0.2.1",
				"t=0 0",
				"m=video 0 RTP/AVP 31",
				"m=audio 49152 RTP/AVP 0 101",
				"a=rtpmap:0 PCMU/8000",
				"a=rtpmap:101 telephone-event/8000",
				"a=fmtp:101 0-15",
				"a=ptime:20",
				"a=maxptime:180",
				"a=rtcp:49153",
				"a=sendrecv",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := tt.build(t)
			if err != nil {
				t.Fatalf("build: %v", err)
			}
			d.Origin = Origin{SessionID: 1000, Version: 1}
			if got, want := string(d.Marshal()), strings.Join(tt.want, "\r\n")+"\r\n"; got != want {
				t.Errorf("Marshal:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestOffersStayAudioOnly: our offers never carry the other side's video,
// and are the same bytes whatever the m-line layout of the SDP they copy.
func TestOffersStayAudioOnly(t *testing.T) {
	offers := []struct {
		name  string
		build func(m Media) (Description, error)
	}{
		{"GatewayOffer/bypass", func(m Media) (Description, error) { return GatewayOffer(m, true, gatewayAnchor) }},
		{"GatewayOffer/anchored", func(m Media) (Description, error) { return GatewayOffer(m, false, gatewayAnchor) }},
		{"ClientOffer/bypassID", func(m Media) (Description, error) { return ClientOffer(m, edgeAnchor, testBypass) }},
		{"ClientOffer/anchored", func(m Media) (Description, error) { return ClientOffer(m, edgeAnchor, "") }},
	}
	for _, file := range []string{"sfb-savp-audio-video-offer.sdp", "rfc3264-video-audio-offer.sdp"} {
		for _, o := range offers {
			t.Run(file+"/"+o.name, func(t *testing.T) {
				m := media(t, file)
				d, err := o.build(m)
				if err != nil {
					t.Fatalf("build: %v", err)
				}
				if d.Rejected != nil || d.AudioIndex != 0 {
					t.Errorf("offer carries Rejected %+v AudioIndex %d", d.Rejected, d.AudioIndex)
				}
				body := d.Marshal()
				if n := bytes.Count(body, []byte("\r\nm=")); n != 1 || !bytes.Contains(body, []byte("\r\nm=audio ")) {
					t.Errorf("offer has %d m-lines:\n%s", n, body)
				}
				m.Lines, m.AudioIndex = nil, 0
				if before, _ := o.build(m); !bytes.Equal(before.Marshal(), body) {
					t.Errorf("offer depends on the m-line layout:\n%s\nvs\n%s", body, before.Marshal())
				}
			})
		}
	}
}

func TestAnswering(t *testing.T) {
	d := Description{Addr: netip.MustParseAddr("192.0.2.1"), Port: 4000, Codecs: []Codec{PCMA}}
	video := MLine{Media: "video", Port: 5000, Proto: "RTP/AVP", Formats: []string{"31", "34"}}
	audio := MLine{Media: "audio", Port: 6000, Proto: "RTP/AVP", Formats: []string{"8"}}
	tests := []struct {
		name     string
		offer    Media
		rejected []MLine
		index    int
	}{
		{"Media not made by Parse", Media{}, nil, 0},
		{"audio only", Media{Lines: []MLine{audio}}, nil, 0},
		{"AudioIndex out of range", Media{Lines: []MLine{video, audio}, AudioIndex: 2}, nil, 0},
		{"negative AudioIndex", Media{Lines: []MLine{video, audio}, AudioIndex: -1}, nil, 0},
		{"video first", Media{Lines: []MLine{video, audio}, AudioIndex: 1},
			[]MLine{{Media: "video", Proto: "RTP/AVP", Formats: []string{"31"}}}, 1},
		{"video after", Media{Lines: []MLine{audio, video}},
			[]MLine{{Media: "video", Proto: "RTP/AVP", Formats: []string{"31"}}}, 0},
		{"no formats offered", Media{Lines: []MLine{audio, {Media: "application", Port: 9, Proto: "UDP/BFCP"}}},
			[]MLine{{Media: "application", Proto: "UDP/BFCP"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := d.Answering(tt.offer)
			if !reflect.DeepEqual(got.Rejected, tt.rejected) || got.AudioIndex != tt.index {
				t.Errorf("Rejected %+v AudioIndex %d, want %+v %d", got.Rejected, got.AudioIndex, tt.rejected, tt.index)
			}
			got.Rejected, got.AudioIndex = nil, 0
			if !reflect.DeepEqual(got, d) {
				t.Errorf("Answering changed more than the layout: %+v", got)
			}
		})
	}
	// The offer's slices are not shared with the answer.
	offer := Media{Lines: []MLine{audio, video}}
	a := d.Answering(offer)
	a.Rejected[0].Formats[0] = "99"
	if offer.Lines[1].Formats[0] != "31" {
		t.Errorf("Answering shares the offer's formats")
	}
}

func TestDescriptionMarshalRejected(t *testing.T) {
	video := MLine{Media: "video", Port: 5000, Proto: "RTP/SAVP", Formats: []string{"122", "121"}}
	app := MLine{Media: "application", Proto: "UDP/BFCP", Formats: []string{"*"}}
	tests := []struct {
		name  string
		index int
		want  []string // m= lines in order
	}{
		{"audio first", 0, []string{"m=audio 4000 RTP/AVP 8", "m=video 0 RTP/SAVP 122 121", "m=application 0 UDP/BFCP *"}},
		{"audio between", 1, []string{"m=video 0 RTP/SAVP 122 121", "m=audio 4000 RTP/AVP 8", "m=application 0 UDP/BFCP *"}},
		{"audio last", 2, []string{"m=video 0 RTP/SAVP 122 121", "m=application 0 UDP/BFCP *", "m=audio 4000 RTP/AVP 8"}},
		{"negative index clamps to first", -3, []string{"m=audio 4000 RTP/AVP 8", "m=video 0 RTP/SAVP 122 121", "m=application 0 UDP/BFCP *"}},
		{"large index clamps to last", 99, []string{"m=video 0 RTP/SAVP 122 121", "m=application 0 UDP/BFCP *", "m=audio 4000 RTP/AVP 8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Description{Addr: netip.MustParseAddr("192.0.2.1"), Port: 4000, Codecs: []Codec{PCMA},
				Rejected: []MLine{video, app}, AudioIndex: tt.index}
			body := string(d.Marshal())
			assertCRLF(t, body)
			var got []string
			for line := range strings.SplitSeq(body, "\r\n") {
				if strings.HasPrefix(line, "m=") {
					got = append(got, line)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("m-lines %q, want %q\n%s", got, tt.want, body)
			}
			// Only the audio section has attributes.
			var sd psdp.SessionDescription
			if err := sd.Unmarshal([]byte(body)); err != nil {
				t.Fatalf("pion Unmarshal: %v\n%s", err, body)
			}
			for _, md := range sd.MediaDescriptions {
				if audio := md.MediaName.Media == "audio"; audio != (len(md.Attributes) > 0) {
					t.Errorf("%s section has attributes %v", md.MediaName.Media, md.Attributes)
				}
			}
		})
	}
}

// TestParseUsable: ParseUsable describes the first audio line with a port
// whose proto it is told to take (an SBC's best-effort SRTP offer: SAVP,
// then AVP), keeps every line in the layout, and the answer rejects the
// lines it did not take in place; with no such line, ErrNoAudio.
func TestParseUsable(t *testing.T) {
	body := minimal("v=0", "o=- 1 2 IN IP4 192.0.2.5", "s=-", "c=IN IP4 192.0.2.5", "t=0 0",
		"m=audio 5000 RTP/SAVP 0", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz",
		"m=audio 5002 RTP/AVP 0 8")
	plain := func(proto string) bool { return !(Media{Proto: proto}).RequiresSRTP() }
	m, err := ParseUsable(body, plain)
	if err != nil {
		t.Fatal(err)
	}
	if m.AudioIndex != 1 || m.Port != 5002 || m.Proto != "RTP/AVP" || len(m.Crypto) != 0 || len(m.Lines) != 2 {
		t.Fatalf("described line %d port %d %s crypto %v, %d lines; want the second, RTP/AVP, of 2", m.AudioIndex, m.Port, m.Proto, m.Crypto, len(m.Lines))
	}
	if first, _ := Parse(body); first.AudioIndex != 0 || first.Proto != "RTP/SAVP" {
		t.Errorf("Parse took line %d (%s), want the first", first.AudioIndex, first.Proto)
	}
	d := Description{Origin: Origin{SessionID: 1, Version: 1}, Addr: netip.MustParseAddr("192.0.2.1"), Port: 4000, Codecs: []Codec{PCMU}}.Answering(m)
	ans := string(d.Marshal())
	if i, j := strings.Index(ans, "m=audio 0 RTP/SAVP 0"), strings.Index(ans, "m=audio 4000 RTP/AVP 0"); i < 0 || j < i {
		t.Errorf("answer does not reject the RTP/SAVP line before the taken one:\n%s", ans)
	}
	if _, err := ParseUsable(body, func(string) bool { return false }); !errors.Is(err, ErrNoAudio) {
		t.Errorf("no usable line: %v, want ErrNoAudio", err)
	}
}
