package sdp

import (
	"bytes"
	"errors"
	"testing"
)

func TestParseCrypto(t *testing.T) {
	tests := []struct {
		in       string
		wantMKI  []byte
		lifetime string
		suite    string
		bad      bool
	}{
		{in: "2 AES_CM_128_HMAC_SHA1_80 inline:IQ+Q4YcN8irlbEovMTkF8LL/uMV0JIGFWrAxrrpY|2^31|1:1", wantMKI: []byte{1}, lifetime: "2^31", suite: SuiteAES80},
		{in: "3 AES_CM_128_HMAC_SHA1_80 inline:IQ+Q4YcN8irlbEovMTkF8LL/uMV0JIGFWrAxrrpY|2^31", lifetime: "2^31", suite: SuiteAES80},
		{in: "1 aes_cm_128_hmac_sha1_32 inline:IQ+Q4YcN8irlbEovMTkF8LL/uMV0JIGFWrAxrrpY", suite: SuiteAES32},
		{in: "1 AES_CM_128_HMAC_SHA1_80 inline:IQ+Q4YcN8irlbEovMTkF8LL/uMV0JIGFWrAxrrpY|258:2", wantMKI: []byte{1, 2}, suite: SuiteAES80},
		{in: "1 AES_256_CM_HMAC_SHA1_80 inline:IQ+Q4YcN8irlbEovMTkF8LL/uMV0JIGFWrAxrrpY", bad: true},
		{in: "1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=", bad: true},
		{in: "1 AES_CM_128_HMAC_SHA1_80 IQ+Q4YcN8irlbEovMTkF8LL/uMV0JIGFWrAxrrpY", bad: true},
		{in: "1 AES_CM_128_HMAC_SHA1_80 inline:IQ+Q4YcN8irlbEovMTkF8LL/uMV0JIGFWrAxrrpY|256:1", bad: true},
		{in: "1 AES_CM_128_HMAC_SHA1_80 inline:IQ+Q4YcN8irlbEovMTkF8LL/uMV0JIGFWrAxrrpY UNENCRYPTED_SRTP", bad: true},
		{in: "x AES_CM_128_HMAC_SHA1_80 inline:IQ+Q4YcN8irlbEovMTkF8LL/uMV0JIGFWrAxrrpY", bad: true},
		{in: "1", bad: true},
		{in: "4 AES_CM_128_HMAC_SHA1_80 inline:IQ+Q4YcN8irlbEovMTkF8LL/uMV0JIGFWrAxrrpY|2^48", lifetime: "2^48", suite: SuiteAES80},
		{in: "4 AES_CM_128_HMAC_SHA1_80 inline:IQ+Q4YcN8irlbEovMTkF8LL/uMV0JIGFWrAxrrpY|1048576|1:1", wantMKI: []byte{1}, lifetime: "1048576", suite: SuiteAES80},
		{in: "4 AES_CM_128_HMAC_SHA1_80 inline:IQ+Q4YcN8irlbEovMTkF8LL/uMV0JIGFWrAxrrpY|2^64", bad: true}, // over 2^48
		{in: "4 AES_CM_128_HMAC_SHA1_80 inline:IQ+Q4YcN8irlbEovMTkF8LL/uMV0JIGFWrAxrrpY|2^x", bad: true},
		{in: "4 AES_CM_128_HMAC_SHA1_80 inline:IQ+Q4YcN8irlbEovMTkF8LL/uMV0JIGFWrAxrrpY|0", bad: true},
	}
	for _, tt := range tests {
		c, err := ParseCrypto(tt.in)
		if tt.bad {
			if !errors.Is(err, ErrBadCrypto) {
				t.Errorf("%q: err %v, want ErrBadCrypto", tt.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if c.Suite != tt.suite || len(c.Master) != 30 || !bytes.Equal(c.MKI, tt.wantMKI) || c.Lifetime != tt.lifetime {
			t.Errorf("%q: got %+v", tt.in, c)
		}
		again, err := ParseCrypto(c.String())
		if err != nil || again.String() != c.String() {
			t.Errorf("%q: round trip %q -> %v", tt.in, c.String(), err)
		}
	}
}

func TestFixtureCrypto(t *testing.T) {
	tests := []struct {
		file     string
		usable   int
		requires bool
	}{
		{"sfb-edge-srtp-optional-offer.sdp", 2, false},
		{"sfb-savp-audio-video-offer.sdp", 2, true},
		{"sfb-bypass-offer.sdp", 0, false},
	}
	for _, tt := range tests {
		m := media(t, tt.file)
		if got := len(m.SRTP()); got != tt.usable {
			t.Errorf("%s: %d usable crypto lines, want %d", tt.file, got, tt.usable)
		}
		if m.RequiresSRTP() != tt.requires {
			t.Errorf("%s: RequiresSRTP = %v", tt.file, m.RequiresSRTP())
		}
	}
}

func TestNewCrypto(t *testing.T) {
	offered, err := ParseCrypto("2 AES_CM_128_HMAC_SHA1_80 inline:IQ+Q4YcN8irlbEovMTkF8LL/uMV0JIGFWrAxrrpY|2^31|1:1")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := NewCrypto(offered)
	b, _ := NewCrypto(offered)
	if a.Tag != 2 || a.Suite != SuiteAES80 || !bytes.Equal(a.MKI, []byte{1}) || bytes.Equal(a.Master, offered.Master) || bytes.Equal(a.Master, b.Master) {
		t.Fatalf("NewCrypto = %+v", a)
	}
}

func TestDescriptionCrypto(t *testing.T) {
	c, err := ParseCrypto("1 AES_CM_128_HMAC_SHA1_80 inline:IQ+Q4YcN8irlbEovMTkF8LL/uMV0JIGFWrAxrrpY|2^31|1:1")
	if err != nil {
		t.Fatal(err)
	}
	d := Description{Addr: edgeAnchor.Addr(), Port: int(edgeAnchor.Port()), Codecs: []Codec{PCMU}, Crypto: []Crypto{c}, SAVP: true}
	m, err := Parse(d.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if m.Proto != "RTP/SAVP" || len(m.SRTP()) != 1 || m.SRTP()[0].String() != c.String() {
		t.Fatalf("round trip: proto %s, crypto %v", m.Proto, m.Crypto)
	}
}
