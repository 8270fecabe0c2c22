// Description: the SDP the mediation server sends, and its Marshal.

package sdp

import (
	"bytes"
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// Origin is the o= identity of one leg's SDP as sent by the mediation
// server. RFC 3264 §8 requires the o= line of every later SDP on a leg to
// be identical but for the version, which grows by one per change, so the
// caller keeps one Origin per leg.
type Origin struct {
	SessionID uint64
	Version   uint64
	// Addr is o='s unicast address; the zero value means the
	// Description's Addr. A leg fixes it at its first SDP: in a bypassed
	// call c= follows the peers' media (a client's new network, an SBC's
	// switch-over, a c=0.0.0.0 hold), o= must not.
	Addr netip.Addr
}

// Next returns the origin for the next SDP sent on the same leg.
func (o Origin) Next() Origin {
	o.Version++
	return o
}

// Restamp returns body, an SDP that Marshal wrote with origin o, with o='s
// version set to version and nothing else changed: the same session
// offered again as a newer SDP (RFC 3264 §8 has every later SDP on a leg
// carry a higher version, even one that repeats an earlier). Only a body of
// Marshal's is taken, whose first two lines are fixed by o; any other
// fails. body is not modified.
func (o Origin) Restamp(body []byte, version uint64) ([]byte, error) {
	prefix := o.appendPrefix(nil, o.Version)
	if !bytes.HasPrefix(body, prefix) {
		return nil, errors.New("not an SDP written with this origin")
	}
	out := o.appendPrefix(make([]byte, 0, len(body)+4), version)
	return append(out, body[len(prefix):]...), nil
}

// appendPrefix appends the start of Marshal's output for o with version,
// up to the space after the version.
func (o Origin) appendPrefix(b []byte, version uint64) []byte {
	b = append(b, "v=0\r\no=- "...)
	b = strconv.AppendUint(b, o.SessionID, 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, version, 10)
	return append(b, ' ')
}

// Description is an SDP the mediation server sends: one audio stream and,
// in an answer, the offer's other m-lines rejected around it (Rejected).
// The builders in this package fill everything but Origin, which belongs to
// the leg and is set by the caller.
type Description struct {
	Origin     Origin
	Addr       netip.Addr  // c= address, o='s unless Origin.Addr; IPv4 (or IPv4-mapped) gives IN IP4
	Port       int         // RTP port in m=
	RTCPPort   int         // a=rtcp; 0 omits the line
	Codecs     []Codec     // m= formats in this order
	BypassID   string      // a=x-bypassid; "" omits the line
	Candidates []Candidate // a=candidate lines; nil omits them
	Direction  string      // "" means sendrecv
	Ptime      int         // a=ptime; 0 omits the line
	MaxPtime   int         // a=maxptime; 0 omits the line
	// Crypto are a=crypto lines (SDES). With SAVP the profile is RTP/SAVP;
	// without, crypto lines in RTP/AVP make SRTP optional, as SfB does.
	Crypto []Crypto
	SAVP   bool
	// AVPF writes the feedback profile of RFC 4585 (RTP/AVPF, with SAVP
	// RTP/SAVPF, RFC 5124). Answering sets it from the offer: an answer
	// keeps the offer's transport protocol or rejects the stream (RFC
	// 3264 §6; RFC 4585 §4.2), so an RTP/AVPF offer is answered
	// RTP/AVPF. No a=rtcp-fb goes with it: the relay sends no feedback
	// messages, and AVPF without rtcp-fb has only its timing rules (RFC
	// 4585 §4.2). Our initial offers leave it off; Reoffering sets it for
	// an offer inside a session from the profile the peer it goes to has.
	AVPF bool
	// Rejected are the m-lines of the offer this Description answers other
	// than the audio one, in the offer's order; Marshal writes each with
	// port 0, its Media, Proto and Formats, and no attributes. AudioIndex
	// is where the audio m-line goes among them: the number of Rejected
	// lines before it, clamped to 0..len(Rejected). nil in offers and in
	// answers to audio-only offers, which then have the audio m-line only.
	// Answering fills both from the offer.
	Rejected   []MLine
	AudioIndex int
}

// sessionName is what SfB clients send in s=; peers ignore it.
const sessionName = "session"

// Marshal renders d as a CRLF-terminated SDP body: v=, o=, s=, c=, t=,
// then the m-lines (the audio one among the rejected ones), in the form
// pion/sdp's SessionDescription.Marshal gives (FuzzMarshalPion checks them
// byte for byte). It writes straight into one buffer sized for d, with no
// line built on its own: a call sends two or three of these.
func (d Description) Marshal() []byte {
	b := d.Origin.appendPrefix(make([]byte, 0, d.marshalSize()), d.Origin.Version)
	b = append(b, "IN "...)
	if d.Origin.Addr.IsValid() {
		b = appendAddr(b, d.Origin.Addr)
	} else {
		b = appendAddr(b, d.Addr)
	}
	b = append(b, "\r\ns="+sessionName+"\r\nc=IN "...)
	b = appendAddr(b, d.Addr)
	b = append(b, "\r\nt=0 0\r\n"...)
	// AudioIndex is clamped, so a hand-built Description never loses its
	// audio line or makes Marshal panic.
	at := min(max(d.AudioIndex, 0), len(d.Rejected))
	for _, l := range d.Rejected[:at] {
		b = l.appendRejected(b)
	}
	b = d.appendAudio(b)
	for _, l := range d.Rejected[at:] {
		b = l.appendRejected(b)
	}
	return b
}

// marshalSize is an upper bound of the common case of Marshal's length, so
// that the body is one allocation; a longer one (long codec names or
// fmtp) only costs append a reallocation.
func (d Description) marshalSize() int {
	n := 160 + len(d.BypassID) + 96*len(d.Candidates) + 128*len(d.Crypto)
	for _, c := range d.Codecs {
		n += 32 + len(c.Name) + len(c.Fmtp)
	}
	for _, l := range d.Rejected {
		n += 16 + len(l.Media) + len(l.Proto)
		for _, f := range l.Formats {
			n += 1 + len(f)
		}
	}
	return n
}

// appendAudio writes the audio m-line and its attributes.
func (d Description) appendAudio(b []byte) []byte {
	b = append(b, "m=audio "...)
	b = strconv.AppendInt(b, int64(d.Port), 10)
	b = append(b, ' ')
	b = append(b, d.proto()...)
	b = append(b, ' ')
	for i, c := range d.Codecs {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendUint(b, uint64(c.PT), 10)
	}
	b = append(b, "\r\n"...)
	for _, c := range d.Codecs {
		b = append(b, "a=rtpmap:"...)
		b = append(c.appendRtpmap(b), "\r\n"...)
		if c.Fmtp != "" {
			b = append(b, "a=fmtp:"...)
			b = strconv.AppendUint(b, uint64(c.PT), 10)
			b = append(b, ' ')
			b = append(b, c.Fmtp...)
			b = append(b, "\r\n"...)
		}
	}
	if d.Ptime > 0 {
		b = append(b, "a=ptime:"...)
		b = append(strconv.AppendInt(b, int64(d.Ptime), 10), "\r\n"...)
	}
	if d.MaxPtime > 0 {
		b = append(b, "a=maxptime:"...)
		b = append(strconv.AppendInt(b, int64(d.MaxPtime), 10), "\r\n"...)
	}
	if d.RTCPPort > 0 {
		b = append(b, "a=rtcp:"...)
		b = append(strconv.AppendInt(b, int64(d.RTCPPort), 10), "\r\n"...)
	}
	if d.BypassID != "" {
		b = append(b, "a=x-bypassid:"...)
		b = append(append(b, d.BypassID...), "\r\n"...)
	}
	for _, c := range d.Candidates {
		b = append(b, "a=candidate:"...)
		b = append(c.appendTo(b), "\r\n"...)
	}
	for _, c := range d.Crypto {
		b = append(b, "a=crypto:"...)
		b = append(c.appendTo(b), "\r\n"...)
	}
	b = append(b, "a="...)
	return append(append(b, d.direction()...), "\r\n"...)
}

// proto is the audio m-line's transport: S for SRTP as negotiated, F for
// the offer's feedback profile.
func (d Description) proto() string {
	switch {
	case d.SAVP && d.AVPF:
		return "RTP/SAVPF"
	case d.SAVP:
		return "RTP/SAVP"
	case d.AVPF:
		return "RTP/AVPF"
	default:
		return "RTP/AVP"
	}
}

// TelephoneEvent is d's telephone-event/8000 format, if it lists one.
func (d Description) TelephoneEvent() (Codec, bool) { return telephoneEvent(d.Codecs) }

func (d Description) direction() string {
	switch strings.ToLower(d.Direction) {
	case SendOnly, RecvOnly, Inactive:
		return strings.ToLower(d.Direction)
	default:
		return SendRecv
	}
}

// appendAddr writes the addrtype and address of o= and c=. An invalid
// address is written as 0.0.0.0 (no media) rather than Go's "invalid IP",
// which no peer could parse.
func appendAddr(b []byte, a netip.Addr) []byte {
	switch {
	case !a.IsValid():
		return append(b, "IP4 0.0.0.0"...)
	case a.Unmap().Is4():
		return a.Unmap().AppendTo(append(b, "IP4 "...))
	default:
		return a.AppendTo(append(b, "IP6 "...))
	}
}
