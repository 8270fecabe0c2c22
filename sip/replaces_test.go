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
