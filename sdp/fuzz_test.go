// Fuzz test of Parse and of what the builders make from its output.

package sdp

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, only fails with its sentinel
// errors, returns a usable Media when it succeeds, and that what the
// builders make from any parsed Media parses back to itself.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		if filepath.Ext(file) != ".sdp" && filepath.Ext(file) != ".txt" {
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(fixture(f, filepath.Base(file), true))
	}
	f.Add([]byte{})
	f.Add([]byte("v=0\ro=- 0 0 IN IP4 192.0.2.1\rs=-\rc=IN IP4 192.0.2.1\rt=0 0\rm=audio 1 RTP/AVP 0"))
	f.Add(secondAudioOffer)
	f.Add([]byte("v=0\no=- 0 0 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n" +
		"m=video 0 RTP/AVP\nm=application 9/2 UDP/BFCP *\nm=audio 1 RTP/AVP 0\nm=text 0 RTP/AVP 98\n"))

	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := Parse(body)
		if err != nil {
			if !errors.Is(err, ErrUnparseable) && !errors.Is(err, ErrNoAudio) {
				t.Fatalf("Parse error %v is not a sentinel", err)
			}
			return
		}
		checkMedia(t, m)
		if d, err := GatewayOffer(m, true, gatewayAnchor); err == nil {
			reparse(t, d)
		}
		if d, err := ClientOffer(m, edgeAnchor, testBypass); err == nil {
			reparse(t, d)
		}
		if d, err := ClientAnswer(m, m, true, edgeAnchor, testBypass); err == nil {
			reparse(t, d)
			checkLayout(t, m, d)
		}
		if d, err := GatewayAnswer(m, m, false, gatewayAnchor); err == nil {
			reparse(t, d)
			checkLayout(t, m, d)
		}
	})
}

// checkLayout checks that answer d to offer has the offer's m-lines.
func checkLayout(t *testing.T, offer Media, d Description) {
	t.Helper()
	got, err := Parse(d.Marshal())
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(got.Lines) != len(offer.Lines) || got.AudioIndex != offer.AudioIndex {
		t.Fatalf("answer m-lines %+v (audio %d) for offer %+v (audio %d)", got.Lines, got.AudioIndex, offer.Lines, offer.AudioIndex)
	}
	for i, l := range got.Lines {
		if l.Media != offer.Lines[i].Media || (i != got.AudioIndex && l.Port != 0) {
			t.Fatalf("answer m-line %d %+v for offer's %+v", i, l, offer.Lines[i])
		}
	}
}

// FuzzMarshalRejected checks that Marshal never panics on any Rejected
// lines and AudioIndex, and that with well-formed fields it writes one
// m-line per rejected line plus the audio line at the clamped index.
func FuzzMarshalRejected(f *testing.F) {
	f.Add("video", "RTP/SAVP", "122", uint8(1), 0)
	f.Add("video", "RTP/AVP", "31", uint8(2), 1)
	f.Add("application", "UDP/BFCP", "*", uint8(3), 7)
	f.Add("audio", "RTP/AVP", "", uint8(1), -1)
	f.Add("", "", "", uint8(0), 0)
	f.Add("video\r\na=x", "RTP//AVP", " 1 2 ", uint8(4), 2)
	f.Fuzz(func(t *testing.T, media, proto, format string, n uint8, index int) {
		d := Description{Addr: netip.MustParseAddr("192.0.2.1"), Port: 4000, Codecs: []Codec{PCMA}, AudioIndex: index}
		for i := range int(n % 8) {
			l := MLine{Media: media, Port: i, Proto: proto}
			if format != "" {
				l.Formats = []string{format}
			}
			if i%2 == 1 {
				l.Formats = append(l.Formats, format, format)
			}
			d.Rejected = append(d.Rejected, l)
		}
		body := string(d.Marshal())
		if strings.ContainsAny(media+proto+format, "\r\n") {
			return // a field with a line break makes lines of its own
		}
		var mlines []string
		for line := range strings.SplitSeq(body, "\r\n") {
			if strings.HasPrefix(line, "m=") {
				mlines = append(mlines, line)
			}
		}
		at := min(max(index, 0), len(d.Rejected))
		if len(mlines) != len(d.Rejected)+1 || mlines[at] != "m=audio 4000 RTP/AVP 8" {
			t.Fatalf("m-lines %q for %d rejected lines, audio at %d", mlines, len(d.Rejected), at)
		}
		for i, line := range mlines {
			if i != at && !strings.HasPrefix(line, "m="+media+" 0 ") {
				t.Fatalf("rejected m-line %d is %q", i, line)
			}
		}
	})
}

func checkMedia(t *testing.T, m Media) {
	t.Helper()
	if !m.Addr.IsValid() || m.Port < 1 || m.Port > 65535 || m.RTCPPort < 1 || m.RTCPPort > 65535 {
		t.Fatalf("unusable media address %v:%d rtcp %d", m.Addr, m.Port, m.RTCPPort)
	}
	switch m.Direction {
	case SendRecv, SendOnly, RecvOnly, Inactive:
	default:
		t.Fatalf("direction %q", m.Direction)
	}
	for _, c := range m.Codecs {
		if c.PT > 127 {
			t.Fatalf("payload type %d", c.PT)
		}
	}
	// The accessors must not panic on anything Parse accepted.
	_, _, _ = m.OnHold(), m.RTP(), m.RTCP()
}

func reparse(t *testing.T, d Description) {
	t.Helper()
	got, err := Parse(d.Marshal())
	if err != nil {
		t.Fatalf("Parse(Marshal(%+v)): %v\n%s", d, err, d.Marshal())
	}
	if want := expectedMedia(d); !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v\n%s", got, want, d.Marshal())
	}
}
