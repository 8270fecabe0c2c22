// Tests of Marshal: exact output, optional lines and round trips.

package sdp

import (
	"math"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"

	psdp "github.com/pion/sdp/v3"
)

func TestDescriptionMarshal(t *testing.T) {
	d := Description{
		Origin:   Origin{SessionID: 42, Version: 7},
		Addr:     netip.MustParseAddr("192.0.2.1"),
		Port:     49152,
		RTCPPort: 49153,
		Codecs:   []Codec{PCMU, {PT: 117, Name: "G722", Rate: 8000, Channels: 2}, TelephoneEvent},
		BypassID: testBypass,
		Candidates: []Candidate{
			cand("1", 1, "UDP", 2130706431, "192.0.2.1:49152", "host"),
		},
		Direction: RecvOnly,
		Ptime:     20,
	}
	want := "v=0\r\n" +
		"o=- 42 7 IN IP4 192.0.2.1\r\n" +
		"s=session\r\n" +
		"c=IN IP4 192.0.2.1\r\n" +
		"t=0 0\r\n" +
		"m=audio 49152 RTP/AVP 0 117 101\r\n" +
		"a=rtpmap:0 PCMU/8000\r\n" +
		"a=rtpmap:117 G722/8000/2\r\n" +
		"a=rtpmap:101 telephone-event/8000\r\n" +
		"a=fmtp:101 0-16\r\n" +
		"a=ptime:20\r\n" +
		"a=rtcp:49153\r\n" +
		"a=x-bypassid:" + testBypass + "\r\n" +
		"a=candidate:1 1 UDP 2130706431 192.0.2.1 49152 typ host\r\n" +
		"a=recvonly\r\n"
	if got := string(d.Marshal()); got != want {
		t.Errorf("Marshal:\n%s\nwant:\n%s", got, want)
	}
}

func TestDescriptionMarshalOptionalLines(t *testing.T) {
	tests := []struct {
		name    string
		d       Description
		present []string
		absent  []string
	}{
		{
			name:    "minimal: sendrecv by default, optional lines omitted",
			d:       Description{Addr: netip.MustParseAddr("192.0.2.1"), Port: 4000, Codecs: []Codec{PCMA}},
			present: []string{"a=sendrecv\r\n", "m=audio 4000 RTP/AVP 8\r\n", "o=- 0 0 IN IP4 192.0.2.1\r\n"},
			absent:  []string{"a=rtcp", "a=ptime", "a=x-bypassid", "a=candidate", "a=fmtp"},
		},
		{
			name:    "IPv6 address gives IN IP6 in o= and c=",
			d:       Description{Addr: netip.MustParseAddr("2001:db8::1"), Port: 4000, Codecs: []Codec{PCMA}},
			present: []string{"o=- 0 0 IN IP6 2001:db8::1\r\n", "c=IN IP6 2001:db8::1\r\n"},
			absent:  []string{"IP4"},
		},
		{
			name:    "IPv4-mapped address gives IN IP4",
			d:       Description{Addr: netip.MustParseAddr("::ffff:192.0.2.1"), Port: 4000, Codecs: []Codec{PCMA}},
			present: []string{"c=IN IP4 192.0.2.1\r\n"},
			absent:  []string{"IP6", "ffff"},
		},
		{
			name:    "invalid address becomes 0.0.0.0, never Go's 'invalid IP'",
			d:       Description{Port: 4000, Codecs: []Codec{PCMA}},
			present: []string{"c=IN IP4 0.0.0.0\r\n"},
			absent:  []string{"invalid"},
		},
		{
			name:    "unknown direction falls back to sendrecv; case is normalised",
			d:       Description{Addr: netip.MustParseAddr("192.0.2.1"), Port: 4000, Codecs: []Codec{PCMA}, Direction: "SendOnly"},
			present: []string{"a=sendonly\r\n"},
			absent:  []string{"a=sendrecv", "SendOnly"},
		},
		{
			name:    "bogus direction",
			d:       Description{Addr: netip.MustParseAddr("192.0.2.1"), Port: 4000, Codecs: []Codec{PCMA}, Direction: "hold"},
			present: []string{"a=sendrecv\r\n"},
			absent:  []string{"hold"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(tt.d.Marshal())
			for _, s := range tt.present {
				if !strings.Contains(got, s) {
					t.Errorf("missing %q in\n%s", s, got)
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(got, s) {
					t.Errorf("unexpected %q in\n%s", s, got)
				}
			}
			assertCRLF(t, got)
		})
	}
}

func TestOriginNext(t *testing.T) {
	o := Origin{SessionID: 1000, Version: 1, Addr: netip.MustParseAddr("192.0.2.7")}
	if got := o.Next(); got != (Origin{SessionID: 1000, Version: 2, Addr: o.Addr}) {
		t.Errorf("Next() = %+v", got)
	}
	if o.Version != 1 {
		t.Errorf("Next modified the receiver")
	}
}

// TestOriginAddr: o= keeps the origin's address when c= moves (RFC 3264
// §8), and takes c='s when the origin has none.
func TestOriginAddr(t *testing.T) {
	d := Description{Origin: Origin{SessionID: 5, Version: 3, Addr: netip.MustParseAddr("192.0.2.7")},
		Addr: netip.MustParseAddr("198.51.100.9"), Port: 4000, Codecs: []Codec{PCMU}}
	got := string(d.Marshal())
	for _, want := range []string{"o=- 5 3 IN IP4 192.0.2.7\r\n", "c=IN IP4 198.51.100.9\r\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
	d.Origin.Addr = netip.Addr{}
	if got := string(d.Marshal()); !strings.Contains(got, "o=- 5 3 IN IP4 198.51.100.9\r\n") {
		t.Errorf("origin without an address: want c='s in o=, got\n%s", got)
	}
}

func assertCRLF(t *testing.T, body string) {
	t.Helper()
	if !strings.HasSuffix(body, "\r\n") {
		t.Errorf("body does not end with CRLF")
	}
	for i, line := range strings.Split(strings.TrimSuffix(body, "\r\n"), "\r\n") {
		if strings.ContainsAny(line, "\r\n") {
			t.Errorf("line %d has a bare CR or LF: %q", i+1, line)
		}
	}
}

// roundTrip checks that d's SDP is accepted by pion and that Parse reads
// back exactly what was built.
func roundTrip(t *testing.T, d Description) {
	t.Helper()
	body := d.Marshal()
	assertCRLF(t, string(body))
	var sd psdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		t.Fatalf("pion Unmarshal: %v\n%s", err, body)
	}
	got, err := Parse(body)
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, body)
	}
	if want := expectedMedia(d); !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v\n%s", got, want, body)
	}
}

// expectedMedia is what Parse must return for d's SDP.
// ptimeRead is what Parse reads of an a=ptime or a=maxptime that
// Marshal wrote for n: nothing for no line or a value past int32.
func ptimeRead(n int) int32 {
	if n <= 0 || n > math.MaxInt32 {
		return 0
	}
	return int32(n)
}

// wantProto is the m= line's profile for a Description's SAVP and AVPF,
// written out, not taken from proto(), so that a wrong proto() fails.
var wantProto = map[[2]bool]string{{false, false}: "RTP/AVP", {true, false}: "RTP/SAVP", {false, true}: "RTP/AVPF", {true, true}: "RTP/SAVPF"}

func expectedMedia(d Description) Media {
	m := Media{
		Addr:            d.Addr.Unmap(),
		Port:            d.Port,
		RTCPPort:        d.RTCPPort,
		Proto:           wantProto[[2]bool{d.SAVP, d.AVPF}],
		BypassID:        d.BypassID,
		Direction:       d.direction(),
		Ptime:           ptimeRead(d.Ptime),
		MaxPtime:        ptimeRead(d.MaxPtime),
		OriginSessionID: d.Origin.SessionID,
		OriginVersion:   d.Origin.Version,
	}
	if m.RTCPPort == 0 {
		m.RTCPPort = d.Port + 1
	}
	for _, c := range d.Codecs {
		c.Channels = channels(c)
		m.Codecs = append(m.Codecs, c)
	}
	if len(d.Candidates) > 0 {
		m.Candidates = d.Candidates
	}
	m.Lines, m.AudioIndex = expectedLines(d)
	return m
}

// expectedLines is the m-line layout Parse must read from d's SDP: the
// rejected lines with port 0 and the audio line at its clamped index.
func expectedLines(d Description) ([]MLine, int) {
	audio := MLine{Media: "audio", Port: d.Port, Proto: d.proto()}
	for _, c := range d.Codecs {
		audio.Formats = append(audio.Formats, strconv.Itoa(int(c.PT)))
	}
	at := min(max(d.AudioIndex, 0), len(d.Rejected))
	var lines []MLine
	for i, l := range d.Rejected {
		if i == at {
			lines = append(lines, audio)
		}
		l.Port = 0
		lines = append(lines, l)
	}
	if at == len(d.Rejected) {
		lines = append(lines, audio)
	}
	return lines, at
}

func TestDescriptionRoundTrip(t *testing.T) {
	tests := []Description{
		{Origin: Origin{SessionID: 1, Version: 2}, Addr: netip.MustParseAddr("192.0.2.1"), Port: 4000, Codecs: []Codec{PCMA}},
		{Origin: Origin{SessionID: ^uint64(0) >> 1, Version: 9}, Addr: netip.MustParseAddr("2001:db8::1"), Port: 4000, RTCPPort: 4005,
			Codecs: []Codec{PCMU, PCMA, TelephoneEvent}, BypassID: testBypass, Direction: Inactive, Ptime: 30,
			Candidates: hostPair("1", prefFirst, netip.MustParseAddrPort("[2001:db8::1]:4000"), netip.MustParseAddrPort("[2001:db8::1]:4005"))},
		{Addr: netip.MustParseAddr("198.51.100.7"), Port: 65000, Codecs: []Codec{{PT: 96, Name: "opus", Rate: 48000, Channels: 2, Fmtp: "useinbandfec=1"}}},
	}
	for _, d := range tests {
		roundTrip(t, d)
	}
}

// TestOriginRestamp: a body Marshal wrote comes back with only o='s
// version changed; a body of another origin is refused.
func TestOriginRestamp(t *testing.T) {
	o := Origin{SessionID: 5, Version: 3, Addr: netip.MustParseAddr("192.0.2.7")}
	d := Description{Origin: o, Addr: netip.MustParseAddr("198.51.100.9"), Port: 4000, Codecs: []Codec{PCMU}, Direction: "sendonly"}
	body := d.Marshal()
	got, err := o.Restamp(body, 9)
	if err != nil {
		t.Fatal(err)
	}
	d.Origin.Version = 9
	if want := d.Marshal(); string(got) != string(want) {
		t.Errorf("Restamp gave\n%s\nwant\n%s", got, want)
	}
	if !strings.Contains(string(body), "o=- 5 3 IN") {
		t.Errorf("Restamp modified its input:\n%s", body)
	}
	for _, other := range []Origin{{SessionID: 5, Version: 2}, {SessionID: 6, Version: 3}} {
		if _, err := other.Restamp(body, 9); err == nil {
			t.Errorf("origin %+v restamped a body of %+v", other, o)
		}
	}
}
