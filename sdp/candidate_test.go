// Tests of a=candidate reading and of the host pairs sent to clients.

package sdp

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseCandidate(t *testing.T) {
	tests := []struct {
		in   string
		want Candidate
		ok   bool
	}{
		{
			in: "1 1 UDP 2130706431 192.168.106.63 10406 typ host",
			want: Candidate{Foundation: "1", Component: 1, Transport: "UDP", Priority: 2130706431,
				Addr: netip.MustParseAddrPort("192.168.106.63:10406"), Type: "host"},
			ok: true,
		},
		{
			in: "3 2 TCP-ACT 1684797950 192.168.106.63 10406 typ srflx raddr 192.168.106.63 rport 10406",
			want: Candidate{Foundation: "3", Component: 2, Transport: "TCP-ACT", Priority: 1684797950,
				Addr: netip.MustParseAddrPort("192.168.106.63:10406"), Type: "srflx"},
			ok: true,
		},
		{
			in: "6 1 UDP 2130703871 fd00:7:495:1::4c 14530 typ host",
			want: Candidate{Foundation: "6", Component: 1, Transport: "UDP", Priority: 2130703871,
				Addr: netip.MustParseAddrPort("[fd00:7:495:1::4c]:14530"), Type: "host"},
			ok: true,
		},
		{in: "1 1 UDP 2130706431 host.example 10406 typ host"},
		{in: "1 1 UDP 2130706431 192.0.2.1 10406 type host"},
		{in: "1 1 UDP 2130706431 192.0.2.1 70000 typ host"},
		{in: "1 x UDP 2130706431 192.0.2.1 10406 typ host"},
		{in: "1 1 UDP 99999999999 192.0.2.1 10406 typ host"},
		{in: "1 1 UDP 2130706431 192.0.2.1"},
		{in: ""},
	}
	for _, tt := range tests {
		got, ok := parseCandidate(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseCandidate(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
		if ok {
			if s := got.String(); s != firstFields(tt.in, 8) {
				t.Errorf("String() = %q, want %q", s, firstFields(tt.in, 8))
			}
		}
	}
}

func TestHostPair(t *testing.T) {
	rtp := netip.MustParseAddrPort("192.0.2.1:49152")
	rtcp := netip.MustParseAddrPort("192.0.2.1:49153")
	first := hostPair("1", prefFirst, rtp, rtcp)
	second := hostPair("2", prefSecond, rtp, rtcp)
	if len(first) != 2 || first[0].Component != ComponentRTP || first[1].Component != ComponentRTCP {
		t.Fatalf("hostPair components: %+v", first)
	}
	if first[0].Addr != rtp || first[1].Addr != rtcp {
		t.Errorf("hostPair addresses: %+v", first)
	}
	// RFC 8445 host priority, as SfB's own component-1 host candidate.
	if first[0].Priority != 2130706431 {
		t.Errorf("first RTP priority = %d, want 2130706431", first[0].Priority)
	}
	for i := range first {
		if first[i].Priority <= second[i].Priority {
			t.Errorf("component %d: preferred priority %d not above %d", i+1, first[i].Priority, second[i].Priority)
		}
	}
	if first[0].Priority <= first[1].Priority {
		t.Errorf("RTP priority %d not above RTCP %d", first[0].Priority, first[1].Priority)
	}
}

// firstFields is s up to the candidate type: String drops extensions.
func firstFields(s string, n int) string {
	return strings.Join(strings.Fields(s)[:n], " ")
}
