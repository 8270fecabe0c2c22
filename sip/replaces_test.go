package sip

import (
	"errors"
	"testing"
)

func TestReplacesOfReferTo(t *testing.T) {
	for _, tt := range []struct {
		referTo string
		want    Replaces
		err     bool
	}{
		{`<sip:+15550200@example.com;user=phone?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>`, Replaces{CallID: "abc@h", ToTag: "1", FromTag: "2"}, false},
		{`<sip:x@h?replaces=c%3Bfrom-tag%3Df%3Bto-tag%3Dt%3Bearly-only&X-Foo=bar>`, Replaces{CallID: "c", ToTag: "t", FromTag: "f", EarlyOnly: true}, false},
		{`<sip:x@h?Replaces=c%3Bto-tag%3Dt>`, Replaces{}, true},                       // no from-tag
		{`<sip:x@h?Replaces=%3Bto-tag%3Dt%3Bfrom-tag%3Df>`, Replaces{}, true},         // no Call-ID
		{`<sip:x@h?Replaces=c%0D%0AX%3Bto-tag%3Dt%3Bfrom-tag%3Df>`, Replaces{}, true}, // CRLF
		{`<sip:x@h?Replaces=c%ZZ>`, Replaces{}, true},
	} {
		got, err := ReplacesOfReferTo(tt.referTo)
		if (err != nil) != tt.err || !tt.err && got != tt.want {
			t.Errorf("ReplacesOfReferTo(%s) = %+v, %v; want %+v (error %v)", tt.referTo, got, err, tt.want, tt.err)
		}
	}
	if _, err := ReplacesOfReferTo(`<sip:+15550200@example.com;user=phone>`); !errors.Is(err, ErrNoReplaces) {
		t.Errorf("no Replaces: %v, want ErrNoReplaces", err)
	}
}

func TestReplacesURIHeaderRoundTrip(t *testing.T) {
	// Token characters a tag or Call-ID may hold (RFC 3261 §25.1).
	r := Replaces{CallID: "a1b2+c%d@127.0.0.1", ToTag: "a.b-c!~", FromTag: "9+x`'", EarlyOnly: true}
	got, err := ReplacesOfReferTo("<sip:+1@h?Replaces=" + r.URIHeader() + ">")
	if err != nil || got != r {
		t.Errorf("round trip of %+v through %q: %+v, %v", r, r.URIHeader(), got, err)
	}
}

// FuzzReplacesOfReferTo: any Refer-To value is read without panic; what
// it yields has a Call-ID and both tags, and survives a round trip
// through URIHeader.
func FuzzReplacesOfReferTo(f *testing.F) {
	for _, seed := range []string{
		`<sip:+15550200@example.com;user=phone?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>`,
		`<sip:x@h?replaces=c%3Bfrom-tag%3Df%3Bto-tag%3Dt%3Bearly-only&X-Foo=bar>`,
		`<sip:x@h?Replaces=c%ZZ>`, `sip:x@h`, `<sip:x@h?Replaces=>`, `<tel:+1?Replaces=a%3Bto-tag%3D%3Bfrom-tag%3Dx>`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, referTo string) {
		r, err := ReplacesOfReferTo(referTo)
		if err != nil {
			return
		}
		if r.CallID == "" || r.ToTag == "" || r.FromTag == "" {
			t.Fatalf("%q gave %+v without error", referTo, r)
		}
		back, err := ReplacesOfReferTo("<sip:x@h?Replaces=" + r.URIHeader() + ">")
		if err != nil || back.CallID != r.CallID || back.EarlyOnly != r.EarlyOnly {
			t.Fatalf("%+v did not survive URIHeader (%q): %+v, %v", r, r.URIHeader(), back, err)
		}
	})
}
