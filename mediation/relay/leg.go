package relay

// This file describes the two sides of an anchored call and what each peer
// expects: where to send media, in which payload format, and with which keys.

import (
	"fmt"
	"net/netip"
	"slices"
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

// Other is the side media received on s is relayed to.
func (s Side) Other() Side { return 1 - s }

// Codec names the payload format of one leg.
type Codec struct {
	// PT is the RTP payload type of the audio codec on this leg.
	PT uint8
	// Name is the codec's SDP encoding name, case-insensitive: "PCMU",
	// "PCMA", or "G722" (Edge side only: the gateway side is G.711).
	Name string
	// EventPT is the telephone-event (RFC 4733) payload type on this leg,
	// the peer's SDP's: what we send the peer events on, and one they are
	// taken on; 0 means the leg negotiated none.
	EventPT uint8
	// OurEventPT is the telephone-event payload type of our SDP to the
	// peer when it differs from EventPT (0: the same, or none). The peer
	// may send its events on it as well: RFC 3264 §5.1 and §6.1 have each
	// end send with the payload types of the other's SDP, the numbers that
	// SDP's author expects to receive, so an answerer whose answer renumbered
	// our offer's telephone-event sends on our number, while many SBCs send
	// on their own. Only with EventPT set, and not one of the peer's audio
	// payload types (PT, Accept).
	OurEventPT uint8
	// Accept are the other audio formats the peer may send us besides PT:
	// those its SDP and ours have in common (RFC 3264 §6.1: an answerer
	// may send any format of the offer it also listed in its answer, an
	// offerer any format of the answer), by the payload type of its SDP
	// and, when ours numbered the format otherwise, ours too. Each packet
	// is converted by its own payload type to the other leg's codec; what
	// we send the peer stays PT. Names as Name's; SetLeg refuses a format this side cannot
	// decode. The relay keeps no reference to the slice.
	Accept []Format
}

// Format is one payload format a peer may send: its RTP payload type and
// SDP encoding name.
type Format struct {
	PT   uint8
	Name string
}

// Leg is where one side's peer expects media, in which codec, and with
// which SRTP keys.
type Leg struct {
	// RTP is the peer's RTP address. An unspecified IP or port 0 (a held or
	// rejected stream) is accepted; packets towards it are dropped as "no peer".
	RTP netip.AddrPort
	// NoSend says the negotiated stream does not let us send the peer RTP:
	// our SDP to it is recvonly or inactive, or its own is sendonly or
	// inactive (RFC 3264 §5.1, §6.1). RTP towards it is dropped as "no
	// peer", as for an unspecified address (events and tones too); RTCP
	// still goes both ways (RFC 3264 §5.1), and what the peer sends is
	// taken as ever (latching, statistics, the media timeout).
	NoSend bool
	// RTCP is the peer's RTCP address; the zero value means RTP port + 1,
	// the RFC 3550 default when the SDP carries no a=rtcp.
	RTCP netip.AddrPort
	// Codec is the payload format the peer sends and expects.
	Codec Codec
	// SRTP holds the SDES keys of the leg; nil means plain RTP and RTCP.
	SRTP *SRTP
	// Sources are the other IP addresses the peer's media may come from
	// before the leg is latched: its SIP signalling source (a peer behind a
	// NAT sends from the NAT's address, not its SDP's) and the addresses of
	// its ICE candidates. With latching on, a packet from an IP that is
	// neither the SDP's nor one of these is never relayed nor latched to, so
	// a stranger cannot take the stream over by sending first. A leg on
	// an RFC 2543 hold (an unspecified RTP address) also keeps the IPs of
	// the leg it replaces, where the held peer's RTCP and music on hold
	// still come from.
	Sources []netip.Addr
}

// codecKind is a payload format the relay can decode or pass.
type codecKind uint8

const (
	kindPCMU codecKind = iota
	kindPCMA
	kindG722
)

// String returns the SDP encoding name.
func (k codecKind) String() string {
	switch k {
	case kindPCMU:
		return "PCMU"
	case kindPCMA:
		return "PCMA"
	default:
		return "G722"
	}
}

// codecOf maps an SDP encoding name to the codec it names.
func codecOf(name string) (codecKind, error) {
	switch strings.ToUpper(name) {
	case "PCMU":
		return kindPCMU, nil
	case "PCMA":
		return kindPCMA, nil
	case "G722":
		return kindG722, nil
	default:
		return 0, fmt.Errorf("unsupported codec %q", name)
	}
}

// maxPT is the highest value of the 7-bit RTP payload type field.
const maxPT = 127

// peer is a validated Leg with what the per-packet path needs precomputed, so
// that path never parses strings or re-derives addresses. A peer is
// immutable once published, except for its SRTP contexts, each of which is
// used by exactly one goroutine (see srtpContexts).
type peer struct {
	leg   Leg
	codec codecKind
	// formats are the audio formats accepted from the peer: Codec.PT
	// first, then Codec.Accept's.
	formats []format
	rtp     netip.AddrPort
	rtcp    netip.AddrPort
	rtpOK   bool          // rtp is a usable destination we may send to (Leg.NoSend)
	rtcpOK  bool          // rtcp is a usable destination
	srtp    *srtpContexts // nil: plain RTP
	// sources are Leg.Sources, unmapped.
	sources []netip.Addr
}

// format is an accepted payload type and the codec it carries.
type format struct {
	pt   uint8
	kind codecKind
}

// newPeer validates leg. Addresses are unmapped so that IPv4 peers given as
// ::ffff:a.b.c.d can be reached from IPv4 sockets. prev is the leg this one
// replaces (nil for the first): its SRTP contexts are kept when the keys are
// unchanged, so a re-INVITE that repeats the keys does not lose the
// rollover counters and replay windows.
func newPeer(leg Leg, prev *peer) (*peer, error) {
	k, err := codecOf(leg.Codec.Name)
	if err != nil {
		return nil, err
	}
	c := leg.Codec
	if c.PT > maxPT || c.EventPT > maxPT || c.OurEventPT > maxPT {
		return nil, fmt.Errorf("payload type out of range (PT %d, event PT %d, our event PT %d)", c.PT, c.EventPT, c.OurEventPT)
	}
	if c.EventPT != 0 && c.EventPT == c.PT {
		return nil, fmt.Errorf("event payload type %d equals codec payload type", c.EventPT)
	}
	if c.OurEventPT != 0 && c.EventPT == 0 {
		return nil, fmt.Errorf("our event payload type %d on a leg without events", c.OurEventPT)
	}
	if !leg.RTP.IsValid() {
		return nil, fmt.Errorf("invalid RTP address %q", leg.RTP)
	}
	p := &peer{leg: leg, codec: k}
	if p.formats, err = formatsOf(c, k); err != nil {
		return nil, err
	}
	p.leg.Codec.Accept = nil // kept as p.formats
	if _, ok := p.audio(c.OurEventPT); ok && c.OurEventPT != 0 {
		return nil, fmt.Errorf("our event payload type %d is an audio format's", c.OurEventPT)
	}
	if c.OurEventPT == c.EventPT {
		p.leg.Codec.OurEventPT = 0 // one test per packet fewer
	}
	if p.srtp, err = contextsFor(leg.SRTP, prev); err != nil {
		return nil, err
	}
	p.rtp = unmap(leg.RTP)
	p.rtcp = leg.RTCP
	if !p.rtcp.IsValid() && p.rtp.Port() != 0 && p.rtp.Port() < maxPort {
		p.rtcp = netip.AddrPortFrom(p.rtp.Addr(), p.rtp.Port()+1)
	}
	if p.rtcp.IsValid() {
		p.rtcp = unmap(p.rtcp)
	}
	p.rtpOK = usable(p.rtp) && !leg.NoSend
	p.rtcpOK = usable(p.rtcp)
	p.addSources(leg.Sources...)
	if prev != nil && p.rtp.Addr().IsUnspecified() {
		// An RFC 2543 hold (c=0.0.0.0) names no address, but the held
		// peer goes on sending from the one it used: its RTCP (RFC 3264
		// §8.4), a sendonly holder's music on hold. The IPs of the leg it
		// replaces stay its own, so those packets latch as before the
		// hold, even with no latch to carry (an SBC whose media address
		// is not its SIP one, holding before its first RTCP report); a
		// stranger's IP still does not.
		p.addSources(prev.rtp.Addr(), prev.rtcp.Addr())
		p.addSources(prev.sources...)
	}
	return p, nil
}

// addSources adds the usable addresses of ips, unmapped, to p.sources,
// each once.
func (p *peer) addSources(ips ...netip.Addr) {
	for _, a := range ips {
		if a.IsValid() && !a.IsUnspecified() && !slices.Contains(p.sources, a.Unmap()) {
			p.sources = append(p.sources, a.Unmap())
		}
	}
}

// formatsOf is c's accepted formats, k (c.PT's codec) first. A payload
// type listed twice must name the same codec each time (it is kept once),
// and none may be the telephone-event's.
func formatsOf(c Codec, k codecKind) ([]format, error) {
	out := make([]format, 1, 1+len(c.Accept))
	out[0] = format{c.PT, k}
next:
	for _, f := range c.Accept {
		fk, err := codecOf(f.Name)
		if err != nil {
			return nil, err
		}
		if f.PT > maxPT || (f.PT == c.EventPT && c.EventPT != 0) {
			return nil, fmt.Errorf("accepted payload type %d out of range or the event's", f.PT)
		}
		for _, o := range out {
			if o.pt == f.PT && o.kind != fk {
				return nil, fmt.Errorf("payload type %d is both %s and %s", f.PT, o.kind, fk)
			}
			if o.pt == f.PT {
				continue next
			}
		}
		out = append(out, format{f.PT, fk})
	}
	return out, nil
}

// audio returns the codec of pt when it is one of the peer's accepted
// audio formats. A scan: a peer has a few formats at most.
func (p *peer) audio(pt uint8) (codecKind, bool) {
	for _, f := range p.formats {
		if f.pt == pt {
			return f.kind, true
		}
	}
	return 0, false
}

// decodes reports whether any accepted format is k.
func (p *peer) decodes(k codecKind) bool {
	for _, f := range p.formats {
		if f.kind == k {
			return true
		}
	}
	return false
}

// negotiated reports whether pt is one the peer's SDP agreed to (ok): one
// of its audio formats (audio) or its telephone-event; one scan of the
// formats for both, per packet.
func (p *peer) negotiated(pt uint8) (audio, ok bool) {
	if _, audio = p.audio(pt); audio {
		return true, true
	}
	return false, p.event(pt)
}

// event reports whether pt is a telephone-event payload type the peer may
// send: its SDP's or ours (Codec.OurEventPT). Never when the leg has no
// events (both 0).
func (p *peer) event(pt uint8) bool {
	c := &p.leg.Codec
	return pt != 0 && (pt == c.EventPT || pt == c.OurEventPT)
}

func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

func usable(a netip.AddrPort) bool {
	return a.IsValid() && !a.Addr().IsUnspecified() && a.Port() != 0
}
