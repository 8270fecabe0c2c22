// Fuzz test of Parse and of what the builders make from its output.

package sdp

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
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
