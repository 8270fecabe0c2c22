package sip

import (
	"errors"
	"testing"

	gosip "github.com/emiago/sipgo/sip"
)

func TestCheckHeaderValue(t *testing.T) {
	for _, ok := range []string{"", "sbc-primary", "Alice\tSmith", "+15550100", "Ünïcode"} {
		if err := CheckHeaderValue(ok); err != nil {
			t.Errorf("CheckHeaderValue(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"a\r\nX-Evil: 1", "a\nb", "a\rb", "nul\x00", "esc\x1b[0m", "del\x7f"} {
		if err := CheckHeaderValue(bad); err == nil {
			t.Errorf("CheckHeaderValue(%q) = nil", bad)
		}
	}
}

// TestCheckRequestControlCharacters: a request whose copied values carry
// control characters (parsed from the wire: sipgo keeps a lone CR or a
// NUL inside a display name) is malformed.
func TestCheckRequestControlCharacters(t *testing.T) {
	raw := "INVITE sip:+15550100@127.0.0.1 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-cc\r\n" +
		"From: \"Evil\x00Name\" <sip:+15550199@127.0.0.1>;tag=a1\r\n" +
		"To: <sip:+15550100@127.0.0.1>\r\n" +
		"Call-ID: cc-1\r\n" +
		"CSeq: 1 INVITE\r\n" +
		"Contact: <sip:127.0.0.1:5062>\r\n" +
		"Content-Length: 0\r\n\r\n"
	msg, err := gosip.NewParser().ParseSIP([]byte(raw))
	if err != nil {
		t.Skipf("sipgo refuses the message itself: %v", err)
	}
	var bad *Malformed
	if err := CheckRequest(msg.(*gosip.Request)); !errors.As(err, &bad) || bad.Phrase != "Bad Request - Control Character In Header" {
		t.Fatalf("CheckRequest = %v, want the control character refused", err)
	}
}
