// Tests of Parse over the SfB and SBC fixtures and its error cases.

package sdp

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// sfbCodecs is the audio codec list SfB 2016 clients offer (Fixture A).
var sfbCodecs = []Codec{
	{PT: 104, Name: "SILK", Rate: 16000, Channels: 1, Fmtp: "useinbandfec=1; usedtx=0"},
	{PT: 114, Name: "x-msrta", Rate: 16000, Channels: 1, Fmtp: "bitrate=29000"},
	{PT: 9, Name: "G722", Rate: 8000, Channels: 1},
	{PT: 112, Name: "G7221", Rate: 16000, Channels: 1, Fmtp: "bitrate=24000"},
	{PT: 111, Name: "SIREN", Rate: 16000, Channels: 1, Fmtp: "bitrate=16000"},
	PCMU,
	PCMA,
	{PT: 103, Name: "SILK", Rate: 8000, Channels: 1, Fmtp: "useinbandfec=1; usedtx=0"},
	{PT: 116, Name: "AAL2-G726-32", Rate: 8000, Channels: 1},
	{PT: 115, Name: "x-msrta", Rate: 8000, Channels: 1, Fmtp: "bitrate=11800"},
	{PT: 97, Name: "RED", Rate: 8000, Channels: 1},
	{PT: 13, Name: "CN", Rate: 8000, Channels: 1},
	{PT: 118, Name: "CN", Rate: 16000, Channels: 1},
	{PT: 119, Name: "CN", Rate: 24000, Channels: 1},
	TelephoneEvent,
}

func cand(foundation string, comp int, transport string, prio uint32, addr, typ string) Candidate {
	return Candidate{Foundation: foundation, Component: comp, Transport: transport, Priority: prio,
		Addr: netip.MustParseAddrPort(addr), Type: typ}
}

func TestParseFixtureA(t *testing.T) {
	want := Media{
		Addr:      netip.MustParseAddr("192.168.106.63"),
		Port:      10406,
		RTCPPort:  10407,
		Proto:     "RTP/AVP",
		Codecs:    sfbCodecs,
		BypassID:  testBypass,
		Direction: SendRecv,
		Candidates: []Candidate{
			cand("1", 1, "UDP", 2130706431, "192.168.106.63:10406", "host"),
			cand("1", 2, "UDP", 2130705918, "192.168.106.63:10407", "host"),
			cand("3", 1, "TCP-ACT", 1684798463, "192.168.106.63:10406", "srflx"),
			cand("3", 2, "TCP-ACT", 1684797950, "192.168.106.63:10406", "srflx"),
		},
		Ptime: 20, MaxPtime: 200,
		Lines: []MLine{{Media: "audio", Port: 10406, Proto: "RTP/AVP",
			Formats: []string{"104", "114", "9", "112", "111", "0", "8", "103", "116", "115", "97", "13", "118", "119", "101"}}},
	}
	for _, crlf := range []bool{false, true} {
		got, err := Parse(fixture(t, "sfb-bypass-offer.sdp", crlf))
		if err != nil {
			t.Fatalf("crlf=%v: %v", crlf, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("crlf=%v:\n got %+v\nwant %+v", crlf, got, want)
		}
	}
}

func TestParseFixtures(t *testing.T) {
	tests := []struct {
		file      string
		addr      string
		port      int
		rtcp      int
		proto     string
		pts       []uint8
		bypassID  string
		direction string
		cands     int
		firstCand Candidate
		crypto    []string
		ptime     int32
		origin    [2]uint64
		g711      []Codec
		te        bool
		onHold    bool
	}{
		{
			file: "sfb-bypass-offer.sdp", addr: "192.168.106.63", port: 10406, rtcp: 10407, proto: "RTP/AVP",
			pts:      []uint8{104, 114, 9, 112, 111, 0, 8, 103, 116, 115, 97, 13, 118, 119, 101},
			bypassID: testBypass, direction: SendRecv, cands: 4,
			firstCand: cand("1", 1, "UDP", 2130706431, "192.168.106.63:10406", "host"),
			ptime:     20, g711: []Codec{PCMU, PCMA}, te: true,
		},
		{
			file: "sfb-edge-srtp-optional-offer.sdp", addr: "10.77.44.43", port: 50052, rtcp: 50053, proto: "RTP/AVP",
			pts:       []uint8{117, 104, 114, 9, 112, 111, 0, 8, 103, 116, 115, 97, 13, 118, 119, 101},
			direction: SendRecv, cands: 10,
			firstCand: cand("1", 1, "UDP", 2130706431, "10.77.44.43:50052", "host"),
			crypto: []string{
				"2 AES_CM_128_HMAC_SHA1_80 inline:IQ+Q4YcN8irlbEovMTkF8LL/uMV0JIGFWrAxrrpY|2^31|1:1",
				"3 AES_CM_128_HMAC_SHA1_80 inline:IQ+Q4YcN8irlbEovMTkF8LL/uMV0JIGFWrAxrrpY|2^31",
			},
			ptime: 20, g711: []Codec{PCMU, PCMA}, te: true,
		},
		{
			file: "sfb-savp-audio-video-offer.sdp", addr: "192.168.56.1", port: 27100, rtcp: 27101, proto: "RTP/SAVP",
			pts:       []uint8{117, 104, 114, 9, 112, 111, 0, 8, 103, 116, 115, 97, 13, 118, 119, 101},
			direction: SendRecv, cands: 12, // audio only: the video section's candidates are not mixed in
			firstCand: cand("1", 1, "UDP", 2130706431, "192.168.56.1:27100", "host"),
			crypto: []string{
				"2 AES_CM_128_HMAC_SHA1_80 inline:3t+Jui/n92LdFt7lBWOYUC1wUg52ub4HAW4PzdDl|2^31|1:1",
				"3 AES_CM_128_HMAC_SHA1_80 inline:3t+Jui/n92LdFt7lBWOYUC1wUg52ub4HAW4PzdDl|2^31",
			},
			ptime: 20, g711: []Codec{PCMU, PCMA}, te: true,
		},
		{
			file: "sbc-offer-pcma-pcmu.sdp", addr: "203.0.113.10", port: 20000, rtcp: 20001, proto: "RTP/AVP",
			pts: []uint8{8, 0, 101}, direction: SendRecv, ptime: 20,
			origin: [2]uint64{1718291840, 1718291840}, g711: []Codec{PCMA, PCMU}, te: true,
		},
		{
			file: "sbc-answer-pcma.sdp", addr: "203.0.113.10", port: 20002, rtcp: 20003, proto: "RTP/AVP",
			pts: []uint8{8, 101}, direction: SendRecv, ptime: 20,
			origin: [2]uint64{1718291841, 1718291842}, g711: []Codec{PCMA}, te: true,
		},
		{
			file: "sfb-answer-with-bypassid.sdp", addr: "198.51.100.20", port: 50010, rtcp: 50011, proto: "RTP/AVP",
			pts: []uint8{8, 101}, bypassID: testBypass, direction: SendRecv, cands: 4,
			firstCand: cand("1", 1, "UDP", 2130706431, "198.51.100.20:50010", "host"),
			ptime:     20, origin: [2]uint64{0, 1}, g711: []Codec{PCMA}, te: true,
		},
		{
			file: "sfb-answer-no-bypassid.sdp", addr: "198.51.100.30", port: 50020, rtcp: 50021, proto: "RTP/AVP",
			pts: []uint8{0, 101}, direction: SendRecv, cands: 4,
			firstCand: cand("1", 1, "UDP", 2130706431, "198.51.100.30:50020", "host"),
			ptime:     20, origin: [2]uint64{0, 1}, g711: []Codec{PCMU}, te: true,
		},
		{
			file: "hold-offer.sdp", addr: "203.0.113.10", port: 20000, rtcp: 20001, proto: "RTP/AVP",
			pts: []uint8{8, 0, 101}, direction: SendOnly, ptime: 20,
			origin: [2]uint64{1718291840, 1718291841}, g711: []Codec{PCMA, PCMU}, te: true, onHold: true,
		},
		{
			file: "hold-zero-ip.sdp", addr: "0.0.0.0", port: 20000, rtcp: 20001, proto: "RTP/AVP",
			pts: []uint8{8, 0, 101}, direction: SendRecv, ptime: 20,
			origin: [2]uint64{1718291840, 1718291841}, g711: []Codec{PCMA, PCMU}, te: true, onHold: true,
		},
	}
	for _, tt := range tests {
		for _, crlf := range []bool{false, true} {
			name := tt.file
			if crlf {
				name += "/crlf"
			}
			t.Run(name, func(t *testing.T) {
				m, err := Parse(fixture(t, tt.file, crlf))
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if m.Addr != netip.MustParseAddr(tt.addr) || m.Port != tt.port || m.RTCPPort != tt.rtcp {
					t.Errorf("address = %v:%d rtcp %d, want %s:%d rtcp %d", m.Addr, m.Port, m.RTCPPort, tt.addr, tt.port, tt.rtcp)
				}
				if m.Proto != tt.proto {
					t.Errorf("Proto = %q, want %q", m.Proto, tt.proto)
				}
				if got := pts(m.Codecs); !reflect.DeepEqual(got, tt.pts) {
					t.Errorf("PTs = %v, want %v", got, tt.pts)
				}
				if m.BypassID != tt.bypassID || m.Direction != tt.direction || m.Ptime != tt.ptime {
					t.Errorf("bypass %q direction %q ptime %d, want %q %q %d",
						m.BypassID, m.Direction, m.Ptime, tt.bypassID, tt.direction, tt.ptime)
				}
				if len(m.Candidates) != tt.cands {
					t.Errorf("%d candidates, want %d: %+v", len(m.Candidates), tt.cands, m.Candidates)
				} else if tt.cands > 0 && m.Candidates[0] != tt.firstCand {
					t.Errorf("first candidate %+v, want %+v", m.Candidates[0], tt.firstCand)
				}
				for _, c := range m.Candidates {
					if c.Addr.Addr().Is6() {
						t.Errorf("x-candidate-ipv6 leaked into Candidates: %+v", c)
					}
				}
				if !reflect.DeepEqual(m.Crypto, tt.crypto) {
					t.Errorf("Crypto = %q, want %q", m.Crypto, tt.crypto)
				}
				if m.OriginSessionID != tt.origin[0] || m.OriginVersion != tt.origin[1] {
					t.Errorf("origin %d %d, want %v", m.OriginSessionID, m.OriginVersion, tt.origin)
				}
				if !reflect.DeepEqual(m.G711(), tt.g711) {
					t.Errorf("G711() = %+v, want %+v", m.G711(), tt.g711)
				}
				if te, ok := m.TelephoneEvent(); ok != tt.te || (ok && !te.IsTelephoneEvent()) {
					t.Errorf("TelephoneEvent() = %+v, %v; want %v", te, ok, tt.te)
				}
				if m.OnHold() != tt.onHold {
					t.Errorf("OnHold() = %v, want %v", m.OnHold(), tt.onHold)
				}
				if m.RTP() != netip.AddrPortFrom(m.Addr, uint16(tt.port)) || m.RTCP() != netip.AddrPortFrom(m.Addr, uint16(tt.rtcp)) {
					t.Errorf("RTP() %v RTCP() %v", m.RTP(), m.RTCP())
				}
			})
		}
	}
}

func pts(list []Codec) []uint8 {
	out := make([]uint8, len(list))
	for i, c := range list {
		out[i] = c.PT
	}
	return out
}

// minimal builds a small SDP from lines, joined with LF.
func minimal(lines ...string) []byte {
	return []byte(strings.Join(lines, "\n") + "\n")
}

func TestParseDetails(t *testing.T) {
	tests := []struct {
		name  string
		body  []byte
		check func(t *testing.T, m Media)
	}{
		{
			name: "static payload types without rtpmap get RFC 3551 names",
			body: minimal("v=0", "o=- 1 2 IN IP4 192.0.2.5", "s=-", "c=IN IP4 192.0.2.5", "t=0 0",
				"m=audio 4000 RTP/AVP 0 8 9 13 18 96"),
			check: func(t *testing.T, m Media) {
				want := []Codec{PCMU, PCMA,
					{PT: 9, Name: "G722", Rate: 8000, Channels: 1},
					{PT: 13, Name: "CN", Rate: 8000, Channels: 1},
					{PT: 18, Name: "G729", Rate: 8000, Channels: 1},
					{PT: 96}}
				if !reflect.DeepEqual(m.Codecs, want) {
					t.Errorf("Codecs = %+v, want %+v", m.Codecs, want)
				}
				if m.RTCPPort != 4001 || m.Direction != SendRecv || m.Ptime != 0 {
					t.Errorf("rtcp %d direction %q ptime %d", m.RTCPPort, m.Direction, m.Ptime)
				}
			},
		},
		{
			name: "media-level c= overrides session-level, media direction overrides session",
			body: minimal("v=0", "o=- 1 2 IN IP4 192.0.2.5", "s=-", "c=IN IP4 192.0.2.5", "t=0 0", "a=sendonly",
				"m=audio 4000 RTP/AVP 0", "c=IN IP6 2001:db8::7", "a=recvonly"),
			check: func(t *testing.T, m Media) {
				if m.Addr != netip.MustParseAddr("2001:db8::7") || m.Direction != RecvOnly || m.OnHold() {
					t.Errorf("Addr %v Direction %q OnHold %v", m.Addr, m.Direction, m.OnHold())
				}
			},
		},
		{
			name: "session-level direction applies without a media-level one",
			body: minimal("v=0", "o=- 1 2 IN IP4 192.0.2.5", "s=-", "c=IN IP4 192.0.2.5", "t=0 0", "a=inactive",
				"m=audio 4000 RTP/AVP 0"),
			check: func(t *testing.T, m Media) {
				if m.Direction != Inactive || !m.OnHold() {
					t.Errorf("Direction %q OnHold %v", m.Direction, m.OnHold())
				}
			},
		},
		{
			name: "first audio with a non-zero port is used; rejected streams are skipped",
			body: minimal("v=0", "o=- 1 2 IN IP4 192.0.2.5", "s=-", "c=IN IP4 192.0.2.5", "t=0 0",
				"m=audio 0 RTP/AVP 0", "a=x-bypassid:wrong", "m=video 5000 RTP/AVP 96",
				"m=audio 6000 RTP/AVP 8", "a=rtcp:6010 IN IP4 192.0.2.5", "a=ptime:30"),
			check: func(t *testing.T, m Media) {
				if m.Port != 6000 || m.RTCPPort != 6010 || m.BypassID != "" || m.Ptime != 30 {
					t.Errorf("port %d rtcp %d bypass %q ptime %d", m.Port, m.RTCPPort, m.BypassID, m.Ptime)
				}
				if !reflect.DeepEqual(m.Codecs, []Codec{PCMA}) {
					t.Errorf("Codecs = %+v", m.Codecs)
				}
			},
		},
		{
			name: "no trailing newline and blank lines before v=",
			body: []byte("\r\n\r\nv=0\r\no=- 1 2 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=ptime:20"),
			check: func(t *testing.T, m Media) {
				if m.Port != 4000 || m.Ptime != 20 {
					t.Errorf("port %d ptime %d", m.Port, m.Ptime)
				}
			},
		},
		{
			name: "IPv4-mapped c= address is unmapped",
			body: minimal("v=0", "o=- 1 2 IN IP6 ::ffff:192.0.2.5", "s=-", "c=IN IP6 ::ffff:192.0.2.5", "t=0 0",
				"m=audio 4000 RTP/AVP 0"),
			check: func(t *testing.T, m Media) {
				if m.Addr != netip.MustParseAddr("192.0.2.5") {
					t.Errorf("Addr = %v", m.Addr)
				}
			},
		},
		{
			name: "malformed candidates and ptime are ignored, not fatal",
			body: minimal("v=0", "o=- 1 2 IN IP4 192.0.2.5", "s=-", "c=IN IP4 192.0.2.5", "t=0 0",
				"m=audio 4000 RTP/AVP 0", "a=candidate:1 1 UDP 1 host.example 4000 typ host",
				"a=candidate:2 1 UDP 1 192.0.2.5 4000 typ host", "a=ptime:twenty"),
			check: func(t *testing.T, m Media) {
				if len(m.Candidates) != 1 || m.Candidates[0].Foundation != "2" || m.Ptime != 0 {
					t.Errorf("Candidates %+v Ptime %d", m.Candidates, m.Ptime)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(tt.body)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.check(t, m)
		})
	}
}

func TestParseErrors(t *testing.T) {
	head := []string{"v=0", "o=- 1 2 IN IP4 192.0.2.5", "s=-", "c=IN IP4 192.0.2.5", "t=0 0"}
	with := func(lines ...string) []byte { return minimal(append(append([]string{}, head...), lines...)...) }
	tests := []struct {
		name string
		body []byte
		want error
	}{
		{"garbage", fixture(t, "not-sdp.txt", false), ErrUnparseable},
		{"empty", nil, ErrUnparseable},
		{"video only", fixture(t, "no-audio.sdp", true), ErrNoAudio},
		{"audio port 0", with("m=audio 0 RTP/AVP 0"), ErrNoAudio},
		{"no media", with(), ErrNoAudio},
		{"header only", minimal("v=0", "o=- 1 2 IN IP4 192.0.2.5"), ErrUnparseable},
		{"missing s=", minimal("v=0", "o=- 1 2 IN IP4 192.0.2.5", "c=IN IP4 192.0.2.5", "t=0 0", "m=audio 4000 RTP/AVP 0"), ErrUnparseable},
		{"missing t=", minimal("v=0", "o=- 1 2 IN IP4 192.0.2.5", "s=-", "c=IN IP4 192.0.2.5", "m=audio 4000 RTP/AVP 0"), ErrUnparseable},
		{"missing c=", minimal("v=0", "o=- 1 2 IN IP4 192.0.2.5", "s=-", "t=0 0", "m=audio 4000 RTP/AVP 0"), ErrUnparseable},
		{"c= not an address", minimal("v=0", "o=- 1 2 IN IP4 192.0.2.5", "s=-", "c=IN IP4 999.0.2.5", "t=0 0", "m=audio 4000 RTP/AVP 0"), ErrUnparseable},
		{"c= hostname", minimal("v=0", "o=- 1 2 IN IP4 192.0.2.5", "s=-", "c=IN IP4 sbc.example", "t=0 0", "m=audio 4000 RTP/AVP 0"), ErrUnparseable},
		{"c= IP6 type with IPv4 address", with("m=audio 4000 RTP/AVP 0", "c=IN IP6 192.0.2.5"), ErrUnparseable},
		{"c= IP4 type with IPv6 address", with("m=audio 4000 RTP/AVP 0", "c=IN IP4 2001:db8::5"), ErrUnparseable},
		{"c= multicast with TTL", with("m=audio 4000 RTP/AVP 0", "c=IN IP4 233.252.0.1/127"), ErrUnparseable},
		{"port out of range", with("m=audio 70000 RTP/AVP 0"), ErrUnparseable},
		{"port not a number", with("m=audio x RTP/AVP 0"), ErrUnparseable},
		{"payload type not a number", with("m=audio 4000 RTP/AVP PCMU"), ErrUnparseable},
		{"payload type above 127", with("m=audio 4000 RTP/AVP 200"), ErrUnparseable},
		{"a=rtcp port bad", with("m=audio 4000 RTP/AVP 0", "a=rtcp:0"), ErrUnparseable},
		{"a=rtcp empty", with("m=audio 4000 RTP/AVP 0", "a=rtcp:"), ErrUnparseable},
		{"no room for RTCP", with("m=audio 65535 RTP/AVP 0"), ErrUnparseable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(tt.body)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse error = %v, want %v", err, tt.want)
			}
			if err.Error() == tt.want.Error() {
				t.Errorf("error %q carries no detail", err)
			}
			if !reflect.DeepEqual(m, Media{}) {
				t.Errorf("Parse returned %+v alongside an error", m)
			}
		})
	}
}

// TestOnHold: OnHold is the peer not wanting media; TwoWay is media both
// ways, which recvonly is not either (a Media with no SDP yet holds
// nothing).
func TestOnHold(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.5")
	tests := []struct {
		addr      netip.Addr
		direction string
		want      bool
		twoWay    bool
	}{
		{v4, SendRecv, false, true},
		{v4, "", false, true},
		{v4, RecvOnly, false, false},
		{v4, SendOnly, true, false},
		{v4, Inactive, true, false},
		{netip.IPv4Unspecified(), SendRecv, true, false},
		{netip.IPv6Unspecified(), SendRecv, true, false},
		{netip.MustParseAddr("2001:db8::5"), SendRecv, false, true},
		{netip.Addr{}, "", false, true},
	}
	for _, tt := range tests {
		m := Media{Addr: tt.addr, Direction: tt.direction}
		if got := m.OnHold(); got != tt.want {
			t.Errorf("OnHold(%v, %q) = %v, want %v", tt.addr, tt.direction, got, tt.want)
		}
		if got := m.TwoWay(); got != tt.twoWay {
			t.Errorf("TwoWay(%v, %q) = %v, want %v", tt.addr, tt.direction, got, tt.twoWay)
		}
	}
}

func TestHasBypassID(t *testing.T) {
	tests := []struct {
		have, id string
		want     bool
	}{
		{testBypass, testBypass, true},
		{testBypass, strings.ToUpper(testBypass), true},
		{"{" + testBypass + "}", testBypass, true},
		{testBypass, "2cd1a522-b9c5-4410-8aed-f3eca85eb367", false},
		{"", "", false},
		{testBypass, "", false},
		{"", testBypass, false},
	}
	for _, tt := range tests {
		if got := (Media{BypassID: tt.have}).HasBypassID(tt.id); got != tt.want {
			t.Errorf("HasBypassID(%q vs %q) = %v, want %v", tt.have, tt.id, got, tt.want)
		}
	}
}

// TestSameStream: the same audio stream whatever the o= line and ICE
// candidates; another port, direction, codec order or key is another.
func TestSameStream(t *testing.T) {
	base := "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=candidate:1 1 UDP 1 192.0.2.1 4000 typ host\r\n"
	parse := func(s string) Media {
		t.Helper()
		m, err := Parse([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a := parse(base)
	for _, tt := range []struct {
		name string
		sdp  string
		same bool
	}{
		{"itself", base, true},
		{"new o= version, no candidate", strings.Replace(strings.Replace(base, "o=- 1 1", "o=- 1 2", 1), "a=candidate:1 1 UDP 1 192.0.2.1 4000 typ host\r\n", "", 1), true},
		{"another port", strings.Replace(base, "m=audio 4000", "m=audio 4002", 1), false},
		{"another address", strings.Replace(base, "c=IN IP4 192.0.2.1", "c=IN IP4 192.0.2.2", 1), false},
		{"sendonly", base + "a=sendonly\r\n", false},
		{"codecs reordered", strings.Replace(base, "RTP/AVP 0 8 101", "RTP/AVP 8 0 101", 1), false},
		{"a key", base + "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n", false},
	} {
		if got := SameStream(a, parse(tt.sdp)); got != tt.same {
			t.Errorf("%s: SameStream = %v, want %v", tt.name, got, tt.same)
		}
	}
}

// TestSameAnswer: a peer's answer to our SDP offered again changes nothing
// when it lists a subset of its earlier formats led by the one we take
// from it, and nothing else differs.
func TestSameAnswer(t *testing.T) {
	base := "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"
	parse := func(s string) Media {
		t.Helper()
		m, err := Parse([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	prev := parse(base)
	for _, tt := range []struct {
		name    string
		sdp     string
		sending Codec
		same    bool
	}{
		{"itself", base, PCMU, true},
		{"a subset led by the format in use", strings.Replace(base, "RTP/AVP 0 8 101", "RTP/AVP 0 101", 1), PCMU, true},
		{"the other law first", strings.Replace(base, "RTP/AVP 0 8 101", "RTP/AVP 8 101", 1), PCMU, false},
		{"a format it had not", strings.Replace(base, "RTP/AVP 0 8 101", "RTP/AVP 0 9 101", 1), PCMU, false},
		{"another port", strings.Replace(strings.Replace(base, "RTP/AVP 0 8 101", "RTP/AVP 0 101", 1), "m=audio 4000", "m=audio 4002", 1), PCMU, false},
		{"a new key", strings.Replace(base, "RTP/AVP 0 8 101", "RTP/AVP 0 101", 1) + "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n", PCMU, false},
		{"hold", strings.Replace(base, "RTP/AVP 0 8 101", "RTP/AVP 0 101", 1) + "a=sendonly\r\n", PCMU, false},
		{"telephone-event dropped", strings.Replace(base, "RTP/AVP 0 8 101", "RTP/AVP 0", 1), PCMU, false},
	} {
		if got := SameAnswer(parse(tt.sdp), prev, tt.sending); got != tt.same {
			t.Errorf("%s: SameAnswer = %v, want %v", tt.name, got, tt.same)
		}
	}
}

// TestMoved: a stream at another address and nothing else changed is
// moved; the same address, a hold, or any other change is not.
func TestMoved(t *testing.T) {
	base := Media{Addr: netip.MustParseAddr("192.0.2.1"), Port: 4000, RTCPPort: 4001, Proto: "RTP/AVP", Direction: SendRecv,
		Codecs: []Codec{{PT: 0, Name: "PCMU"}}}
	moved := base
	moved.Addr, moved.Port, moved.RTCPPort = netip.MustParseAddr("192.0.2.2"), 5000, 5001
	if !Moved(base, moved) {
		t.Error("another address and ports: want moved")
	}
	if Moved(base, base) {
		t.Error("the same address: want not moved")
	}
	held := moved
	held.Direction = SendOnly
	if Moved(base, held) {
		t.Error("moved and held: want not moved (the other peer must hear of the hold)")
	}
	zero := moved
	zero.Addr = netip.IPv4Unspecified()
	if Moved(base, zero) {
		t.Error("c=0.0.0.0: a hold, want not moved")
	}
	codec := moved
	codec.Codecs = []Codec{{PT: 8, Name: "PCMA"}}
	if Moved(base, codec) {
		t.Error("another codec: want not moved")
	}
}
