// Candidates: the MS-ICE2 a=candidate lines SfB clients send and the host
// candidate pairs the mediation server sends them.

package sdp

import (
	"net/netip"
	"strconv"
	"strings"
)

// Candidate is one a=candidate line, in the MS-ICE2 form SfB clients send:
// "1 1 UDP 2130706431 192.168.106.63 10406 typ host". Extensions after the
// type (raddr, rport, ...) are not kept: the mediation server only uses host
// candidates.
type Candidate struct {
	Foundation string
	Component  int
	Transport  string
	Priority   uint32
	Addr       netip.AddrPort
	Type       string
}

// ICE component IDs: RTCP is component 2 even when the client offers rtcp-mux.
const (
	ComponentRTP  = 1
	ComponentRTCP = 2
)

// String renders the a=candidate value.
func (c Candidate) String() string {
	return string(c.appendTo(make([]byte, 0, 64)))
}

// appendTo writes the a=candidate value.
func (c Candidate) appendTo(b []byte) []byte {
	b = append(b, c.Foundation...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(c.Component), 10)
	b = append(b, ' ')
	b = append(b, c.Transport...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(c.Priority), 10)
	b = append(b, ' ')
	if a := c.Addr.Addr(); a.IsValid() {
		b = a.AppendTo(b)
	} else {
		b = append(b, a.String()...) // "invalid IP", as it always was
	}
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(c.Addr.Port()), 10)
	b = append(b, " typ "...)
	return append(b, c.Type...)
}

// parseCandidate reads an a=candidate value. ok is false for lines it cannot
// read (FQDN addresses, truncated lines); RFC 8839 lets an agent ignore such
// candidates, and the mediation server never needs them.
func parseCandidate(v string) (Candidate, bool) {
	f, ok := candidateFields(v)
	if !ok || f[6] != "typ" {
		return Candidate{}, false
	}
	comp, err := strconv.Atoi(f[1])
	if err != nil || comp < 1 || comp > 256 {
		return Candidate{}, false
	}
	prio, err := strconv.ParseUint(f[3], 10, 32)
	if err != nil {
		return Candidate{}, false
	}
	addr, err := netip.ParseAddr(f[4])
	if err != nil {
		return Candidate{}, false
	}
	port, err := strconv.ParseUint(f[5], 10, 16)
	if err != nil {
		return Candidate{}, false
	}
	return Candidate{
		Foundation: f[0],
		Component:  comp,
		Transport:  f[2],
		Priority:   uint32(prio),
		Addr:       netip.AddrPortFrom(addr.Unmap(), uint16(port)),
		Type:       f[7],
	}, true
}

// candidateFields are the first eight white-space separated fields of v,
// those a candidate is read from (extensions after the type are not);
// ok is false when v has fewer.
func candidateFields(v string) (f [8]string, ok bool) {
	n := 0
	for field := range strings.FieldsSeq(v) {
		f[n] = field
		if n++; n == len(f) {
			return f, true
		}
	}
	return f, false
}

// hostPriority is the RFC 8445 §5.1.2.1 priority of a host candidate
// (type preference 126); localPref ranks several host candidates of one
// agent, higher first.
func hostPriority(localPref uint16, component int) uint32 {
	return 126<<24 | uint32(localPref)<<8 | uint32(256-component)
}

// hostPair returns the RTP and RTCP host candidates for one media address.
func hostPair(foundation string, localPref uint16, rtp, rtcp netip.AddrPort) []Candidate {
	return []Candidate{
		{Foundation: foundation, Component: ComponentRTP, Transport: "UDP", Priority: hostPriority(localPref, ComponentRTP), Addr: rtp, Type: "host"},
		{Foundation: foundation, Component: ComponentRTCP, Transport: "UDP", Priority: hostPriority(localPref, ComponentRTCP), Addr: rtcp, Type: "host"},
	}
}
