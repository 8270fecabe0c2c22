package mediation

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/mediation-emulator/mediation/sdp"
)

// TestSDPLegOriginNotUnspecified: a leg whose first SDP is an RFC 2543
// hold (c=0.0.0.0) does not keep 0.0.0.0 as its o= address for life: the
// first real address fixes it, and it stays through later changes.
func TestSDPLegOriginNotUnspecified(t *testing.T) {
	l := newSDPLeg()
	d := sdp.Description{Addr: netip.MustParseAddr("0.0.0.0"), Port: 4000, Codecs: []sdp.Codec{{PT: 0, Name: "PCMU", Rate: 8000}}}
	if first := string(l.marshal(d)); !strings.Contains(first, "c=IN IP4 0.0.0.0") {
		t.Fatalf("the hold's SDP:\n%s", first)
	}
	d.Addr = netip.MustParseAddr("127.0.0.7")
	second := string(l.marshal(d))
	d.Addr, d.Port = netip.MustParseAddr("127.0.0.8"), 4002
	third := string(l.marshal(d))
	o := func(body string) string {
		for _, line := range strings.Split(body, "\r\n") {
			if strings.HasPrefix(line, "o=") {
				return line
			}
		}
		return ""
	}
	if strings.Contains(o(second), "0.0.0.0") || !strings.Contains(o(second), "127.0.0.7") {
		t.Errorf("o= after the hold %q, want the first real address", o(second))
	}
	if !strings.Contains(o(third), "127.0.0.7") {
		t.Errorf("o= after a move %q, want the address fixed at 127.0.0.7", o(third))
	}
}
