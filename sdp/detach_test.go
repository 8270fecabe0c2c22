// Detach tests: what a parsed Media, or Parse's error, holds on to.

package sdp

import (
	"bytes"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// TestParseRetainsLittle checks that a kept Media holds its own strings,
// not pion's buffers: a call keeps its peers' SDP for its whole life.
// The offer ends with a 3 KB attribute the mediation server does not
// keep; were any kept string a substring of pion's copies, each Media
// would pin a buffer holding it.
func TestParseRetainsLittle(t *testing.T) {
	body := append(bytes.Clone(fixture(t, "sfb-bypass-offer.sdp", true)), "a=x-padding:"+strings.Repeat("x", 3000)+"\r\n"...)
	const n = 500
	kept := make([]Media, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range kept {
		m, err := Parse(body)
		if err != nil {
			t.Fatal(err)
		}
		kept[i] = m
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perMedia := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("%d bytes per kept Media", perMedia)
	if perMedia > 2500 {
		t.Errorf("a kept Media holds %d bytes of heap; the offer's audio section has under 1 KB of text", perMedia)
	}
	runtime.KeepAlive(kept)
}

// TestParseKeepsNoBody checks that neither a Media nor an error from Parse
// shares bytes with the body parsed: Parse reads a CRLF body in place, and
// the SIP stack may reuse the body's buffer once the handler is done.
func TestParseKeepsNoBody(t *testing.T) {
	for _, name := range []string{"sfb-bypass-offer.sdp", "sfb-savp-audio-video-offer.sdp", "sbc-answer-pcma.sdp"} {
		body := fixture(t, name, true)
		want, err := Parse(bytes.Clone(body))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := Parse(body)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i := range body {
			body[i] = 'X'
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Media changed with the body it was parsed from:\n got %+v\nwant %+v", name, got, want)
		}
	}
	for _, bad := range []string{
		"v=0\r\no=- 0 0 IN IP4 192.0.2.1\r\ns=-\r\nxx\r\n",
		"v=0\r\no=- 0 0 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 1x RTP/AVP 0\r\n",
	} {
		body := []byte(bad)
		_, err := Parse(body)
		if err == nil {
			t.Fatalf("Parse(%q) succeeded", bad)
		}
		want := errorTexts(err)
		for i := range body {
			body[i] = 'X'
		}
		if got := errorTexts(err); !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%q)'s error changed with the body: %q, was %q", bad, got, want)
		}
	}
}

// errorTexts is the message of err and of every error it wraps, as
// errors.Is walks them.
func errorTexts(err error) []string {
	out := []string{err.Error()}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		if w := u.Unwrap(); w != nil {
			out = append(out, errorTexts(w)...)
		}
	case interface{ Unwrap() []error }:
		for _, w := range u.Unwrap() {
			out = append(out, errorTexts(w)...)
		}
	}
	return out
}
