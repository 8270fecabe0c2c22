package relay

// This file describes the two sides of an anchored call and what each peer
// expects: where to send media and in which payload format.

import (
	"fmt"
	"net/netip"
	"strings"
)

// Side names one network side of the Mediation Server.
type Side int

const (
	// Edge is the side towards the Skype for Business client.
	Edge Side = iota
	// Gateway is the side towards the SBC / PSTN gateway.
	Gateway
)

// String returns "edge" or "gateway".
func (s Side) String() string {
	switch s {
	case Edge:
		return "edge"
	case Gateway:
		return "gateway"
	default:
		return fmt.Sprintf("side(%d)", int(s))
	}
}

func (s Side) valid() bool { return s == Edge || s == Gateway }

// other is the side media received on s is relayed to.
func (s Side) other() Side { return 1 - s }

// Codec names the payload format of one leg.
type Codec struct {
	// PT is the RTP payload type of the audio codec on this leg.
	PT uint8
	// Name is the codec's SDP encoding name: "PCMU" or "PCMA" (case-insensitive).
	Name string
	// EventPT is the telephone-event (RFC 4733) payload type on this leg; 0
	// means the leg negotiated none.
	EventPT uint8
}

// Leg is where one side's peer expects media and in which codec.
type Leg struct {
	// RTP is the peer's RTP address. An unspecified IP or port 0 (a held or
	// rejected stream) is accepted; packets towards it are dropped as "no peer".
	RTP netip.AddrPort
	// RTCP is the peer's RTCP address; the zero value means RTP port + 1,
	// the RFC 3550 default when the SDP carries no a=rtcp.
	RTCP netip.AddrPort
	// Codec is the payload format the peer sends and expects.
	Codec Codec
}

// law is a G.711 companding law.
type law uint8

const (
	lawPCMU law = iota
	lawPCMA
)

// lawOf maps an SDP encoding name to its law; only G.711 is relayed for now.
func lawOf(name string) (law, error) {
	switch strings.ToUpper(name) {
	case "PCMU":
		return lawPCMU, nil
	case "PCMA":
		return lawPCMA, nil
	default:
		return 0, fmt.Errorf("unsupported codec %q", name)
	}
}

// maxPT is the highest value of the 7-bit RTP payload type field.
const maxPT = 127

// peer is a validated Leg with what the per-packet path needs precomputed, so
// that path never parses strings or re-derives addresses.
type peer struct {
	leg    Leg
	law    law
	rtp    netip.AddrPort
	rtcp   netip.AddrPort
	rtpOK  bool // rtp is a usable destination
	rtcpOK bool // rtcp is a usable destination
}

// newPeer validates leg. Addresses are unmapped so that IPv4 peers given as
// ::ffff:a.b.c.d can be reached from IPv4 sockets.
func newPeer(leg Leg) (*peer, error) {
	l, err := lawOf(leg.Codec.Name)
	if err != nil {
		return nil, err
	}
	c := leg.Codec
	if c.PT > maxPT || c.EventPT > maxPT {
		return nil, fmt.Errorf("payload type out of range (PT %d, event PT %d)", c.PT, c.EventPT)
	}
	if c.EventPT != 0 && c.EventPT == c.PT {
		return nil, fmt.Errorf("event payload type %d equals codec payload type", c.EventPT)
	}
	if !leg.RTP.IsValid() {
		return nil, fmt.Errorf("invalid RTP address %q", leg.RTP)
	}
	p := &peer{leg: leg, law: l}
	p.rtp = netip.AddrPortFrom(leg.RTP.Addr().Unmap(), leg.RTP.Port())
	p.rtcp = leg.RTCP
	if !p.rtcp.IsValid() && p.rtp.Port() != 0 && p.rtp.Port() < maxPort {
		p.rtcp = netip.AddrPortFrom(p.rtp.Addr(), p.rtp.Port()+1)
	}
	if p.rtcp.IsValid() {
		p.rtcp = netip.AddrPortFrom(p.rtcp.Addr().Unmap(), p.rtcp.Port())
	}
	p.rtpOK = usable(p.rtp)
	p.rtcpOK = usable(p.rtcp)
	return p, nil
}

func usable(a netip.AddrPort) bool {
	return a.IsValid() && !a.Addr().IsUnspecified() && a.Port() != 0
}
