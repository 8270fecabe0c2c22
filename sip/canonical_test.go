package sip

import (
	"testing"

	gosip "github.com/emiago/sipgo/sip"
)

// TestCanonicalTagWhiteSpace: white space around a From or To parameter's
// ";" or "=" (RFC 3261 §25.1 SWS; a folded line) leaves the header as if
// there were none: no nameless parameter to echo back as "; ;tag=x", and
// a tag found by its name with its value.
func TestCanonicalTagWhiteSpace(t *testing.T) {
	for name, from := range map[string]string{
		"space before ;": "\"A\" <sip:+1@h;user=phone> ;tag=abc",
		"folded":         "\"A\" <sip:+1@h;user=phone>\r\n\t;tag=abc",
		"around =":       "\"A\" <sip:+1@h;user=phone> ; tag = abc",
		"none":           "\"A\" <sip:+1@h;user=phone>;tag=abc",
		"TAG":            "\"A\" <sip:+1@h;user=phone>;TAG=abc",
	} {
		raw := "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\nFrom: " + from +
			"\r\nTo: <sip:b@h> ; x = 1\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
		msg, err := gosip.NewParser().ParseSIP([]byte(raw))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		canonicalTags(msg)
		req := msg.(*gosip.Request)
		if got := req.From().Value(); got != `"A" <sip:+1@h;user=phone>;tag=abc` {
			t.Errorf("%s: From %q", name, got)
		}
		if tag, _ := req.From().Params.Get("tag"); tag != "abc" {
			t.Errorf("%s: tag %q", name, tag)
		}
		if got := req.To().Value(); got != "<sip:b@h>;x=1" {
			t.Errorf("%s: To %q", name, got)
		}
	}
}
