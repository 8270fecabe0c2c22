// Media: what the mediation server reads from a peer's SDP, and Parse.

package sdp

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	psdp "github.com/pion/sdp/v3"
)

// Sentinel errors; the errors returned by this package wrap them with detail,
// so test them with errors.Is.
var (
	// ErrUnparseable means the body is not SDP the mediation server can use:
	// pion rejected it, or the audio section's address or ports are invalid.
	ErrUnparseable = errors.New("sdp: unparseable")
	// ErrNoAudio means the SDP has no m=audio line with a non-zero port.
	ErrNoAudio = errors.New("sdp: no audio stream")
	// ErrNoG711 means no PCMU/PCMA codec is available where one is required.
	ErrNoG711 = errors.New("sdp: no G.711 codec")
)

// Directions of a media stream (RFC 3264 §5.1).
const (
	SendRecv = "sendrecv"
	SendOnly = "sendonly"
	RecvOnly = "recvonly"
	Inactive = "inactive"
)

// Media is what the mediation server needs of a peer's SDP: the first audio
// m-line with a port other than 0. Everything else (video, data) is ignored
// because the mediation server only handles voice, except for the layout
// of the m-lines (Lines), which an answer must repeat (see Answering).
//
// A Media is a value: nothing changes it, or the slices in it, after
// Parse (the builders make slices of their own), so copies may share them
// and a parsed Media may be used again for the same body.
type Media struct {
	Addr            netip.Addr  // media-level c= if present, else session-level c=
	Port            int         // RTP port from m=
	RTCPPort        int         // a=rtcp:<port> if present, else Port+1
	Proto           string      // "RTP/AVP", "RTP/SAVP", ...
	Codecs          []Codec     // in m-line order
	BypassID        string      // a=x-bypassid of the audio section, "" if none
	Direction       string      // sendrecv|sendonly|recvonly|inactive
	Candidates      []Candidate // a=candidate lines of the audio section, in order
	Crypto          []string    // raw a=crypto values, kept for SRTP support
	Ptime           int32       // a=ptime, 0 if absent (int32: one word with MaxPtime, in every call)
	MaxPtime        int32       // a=maxptime (RFC 4566 §6), 0 if absent
	OriginSessionID uint64      // o= sess-id
	OriginVersion   uint64      // o= sess-version; a change means a new offer/answer
	// Lines is the layout of every m-line of the SDP, audio or not, in
	// m-line order; Lines[AudioIndex] is the audio m-line described above.
	// A Media not made by Parse may leave Lines nil: it is then taken as
	// an SDP with that one audio m-line.
	Lines      []MLine
	AudioIndex int
}

// OnHold reports whether the peer asked not to receive media, either the
// RFC 3264 way (sendonly/inactive) or the RFC 2543 way (c= 0.0.0.0 or ::).
func (m Media) OnHold() bool {
	return m.Direction == SendOnly || m.Direction == Inactive || m.Addr.IsUnspecified()
}

// TwoWay reports whether the peer's SDP lets media flow both ways: it
// sends and receives (sendrecv, or no direction at all) on a real address.
// sendonly, recvonly, inactive and the RFC 2543 hold (c= 0.0.0.0 or ::)
// are one way or none; a session is on hold when the offer or the answer
// says so (RFC 3264 §6.1, §8.4).
func (m Media) TwoWay() bool {
	return normalDirection(m.Direction) == SendRecv && !m.Addr.IsUnspecified()
}

// G711 returns the PCMU/PCMA codecs in m-line order.
func (m Media) G711() []Codec {
	return filterCodecs(m.Codecs, Codec.IsG711)
}

// TelephoneEvent returns the telephone-event/8000 codec if the peer offered it.
func (m Media) TelephoneEvent() (Codec, bool) {
	return telephoneEvent(m.Codecs)
}

// RTP is the address the peer receives RTP on.
func (m Media) RTP() netip.AddrPort {
	return netip.AddrPortFrom(m.Addr, uint16(m.Port))
}

// RTCP is the address the peer receives RTCP on. An address given in
// a=rtcp (RFC 3605) is not kept: SfB clients and gateways never send one.
func (m Media) RTCP() netip.AddrPort {
	return netip.AddrPortFrom(m.Addr, uint16(m.RTCPPort))
}

// Moved reports whether b is a's stream at another address: the same
// stream for SameStream but for the address and ports, neither on hold.
// A peer that moves its media (an SBC's switch-over, a client's new
// network) changes nothing else of the session.
func Moved(a, b Media) bool {
	if a.OnHold() || b.OnHold() || (a.RTP() == b.RTP() && a.RTCP() == b.RTCP()) || !SameLayout(a, b) {
		// An m-line added or removed (video turned on with the move) is
		// a change of the session: its answer must have as many lines.
		return false
	}
	b.Addr, b.Port, b.RTCPPort = a.Addr, a.Port, a.RTCPPort
	return SameStream(a, b)
}

// SameStream reports whether a and b describe the same audio stream for
// the media path: address and ports, proto, direction, codecs (payload
// types and names, in order) and SRTP keys. Origin, ICE candidates,
// bandwidth and the other m-lines are not compared: a peer that answers
// with the SDP it had, its o= version aside, changes nothing.
func SameStream(a, b Media) bool {
	return a.Addr == b.Addr && a.Port == b.Port && a.RTCPPort == b.RTCPPort && a.Proto == b.Proto &&
		a.Direction == b.Direction && a.Ptime == b.Ptime && a.MaxPtime == b.MaxPtime &&
		slices.EqualFunc(a.Codecs, b.Codecs, func(x, y Codec) bool { return x.PT == y.PT && strings.EqualFold(x.Name, y.Name) }) &&
		slices.Equal(a.Crypto, b.Crypto)
}

// SameAnswer reports whether ans, a peer's answer to an SDP of ours that
// offered it the session it had (a session refresh), changes nothing of
// the stream that prev, the peer's latest SDP, and sending, the format we
// take from it, describe: SameStream but for the formats, of which an
// answer lists a subset (RFC 3264 §6.1). So the first answer of a peer
// whose offer listed several formats is no change, while every format it
// lists is one of prev's (payload type and name), the first is sending,
// and it keeps telephone-event if prev had it.
func SameAnswer(ans, prev Media, sending Codec) bool {
	same := func(x, y Codec) bool { return x.PT == y.PT && strings.EqualFold(x.Name, y.Name) }
	if len(ans.Codecs) == 0 || !same(ans.Codecs[0], sending) {
		return false
	}
	if _, had := prev.TelephoneEvent(); had {
		// Events dropped from the answer: the peer takes them no more.
		if _, has := ans.TelephoneEvent(); !has {
			return false
		}
	}
	for _, c := range ans.Codecs {
		if !slices.ContainsFunc(prev.Codecs, func(p Codec) bool { return same(p, c) }) {
			return false
		}
	}
	prev.Codecs = ans.Codecs
	return SameStream(ans, prev)
}

// HasBypassID reports whether the peer's a=x-bypassid equals id. GUIDs are
// compared case-insensitively and without braces; an empty ID on either side
// never matches, so a client without bypass support is never bypassed.
func (m Media) HasBypassID(id string) bool {
	a, b := normalizeGUID(m.BypassID), normalizeGUID(id)
	return a != "" && b != "" && strings.EqualFold(a, b)
}

func normalizeGUID(s string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s), "{"), "}")
}

// Parse reads a peer's SDP body (CRLF or LF line endings) into a Media.
// It fails with ErrUnparseable when pion cannot parse the body or the audio
// section's c= or ports are invalid, and with ErrNoAudio when there is no
// audio m-line with a non-zero port.
func Parse(body []byte) (Media, error) { return ParseUsable(body, nil) }

// ParseUsable is Parse describing the first audio m-line with a non-zero
// port whose proto (as written: "RTP/AVP", "RTP/SAVP", ...) usable accepts
// (nil: any), for an answerer that cannot take some protos: RFC 3264 §6
// lets it accept one audio stream and reject the others, such as the
// RTP/SAVP line of an SBC's best-effort SRTP offer (an RTP/SAVP line and
// the same audio again as RTP/AVP). ErrNoAudio when there is none.
func ParseUsable(body []byte, usable func(proto string) bool) (Media, error) {
	sd, foreign, err := unmarshal(body)
	if err != nil {
		return Media{}, fmt.Errorf("%w: %w", ErrUnparseable, err)
	}
	lines := mlines(sd)
	unmask(lines, foreign)
	audio := firstAudio(sd, lines, usable)
	if audio < 0 {
		return Media{}, fmt.Errorf("%w: no usable m=audio with a non-zero port", ErrNoAudio)
	}
	md := sd.MediaDescriptions[audio]
	m := Media{
		Lines:           lines,
		AudioIndex:      audio,
		Port:            md.MediaName.Port.Value,
		Proto:           lines[audio].Proto,
		OriginSessionID: sd.Origin.SessionID,
		OriginVersion:   sd.Origin.SessionVersion,
		Direction:       direction(sd.Attributes, md.Attributes),
	}
	if m.Addr, err = connectionAddr(sd, md); err != nil {
		return Media{}, fmt.Errorf("%w: %w", ErrUnparseable, err)
	}
	if m.RTCPPort, err = rtcpPort(md, m.Port); err != nil {
		return Media{}, fmt.Errorf("%w: %w", ErrUnparseable, err)
	}
	if m.Codecs, err = codecs(md); err != nil {
		return Media{}, fmt.Errorf("%w: %w", ErrUnparseable, err)
	}
	readAttributes(&m, md.Attributes)
	m.detach()
	return m, nil
}

// unmarshal runs pion on body, with the m-lines pion would refuse masked
// (see foreign.go). A parser bug must not take the B2BUA down on one
// peer's bad body, hence the recover.
func unmarshal(body []byte) (sd *psdp.SessionDescription, foreign []foreignLine, err error) {
	defer func() {
		if r := recover(); r != nil {
			sd, foreign, err = nil, nil, fmt.Errorf("pion/sdp panicked: %v", r)
		}
	}()
	sd = &psdp.SessionDescription{}
	text, foreign := maskForeign(normalizeNewlines(body))
	if err := sd.UnmarshalString(text); err != nil {
		// pion's syntax errors keep the text they were reading, which may
		// be body itself (see normalizeNewlines): keep only the message.
		return nil, nil, errors.New(err.Error())
	}
	// pion stops without error wherever the input ends; its state machine
	// only reaches t= after v=, o= and s=, so a t= proves the header is whole.
	if len(sd.TimeDescriptions) == 0 {
		return nil, nil, errors.New("truncated: no v=, o=, s= and t= lines")
	}
	return sd, foreign, nil
}

// normalizeNewlines returns body as the text pion reads: leading blank
// space and empty lines dropped, the last line terminated, and every lone
// CR turned into LF. pion treats a CR inside a line inconsistently and
// needs the final newline, which SIP stacks do not guarantee; it reads
// CRLF as it reads LF, so a body that already ends in LF and has no lone
// CR (every SIP stack's CRLF body) is handed to pion as it is, and only
// other bodies are rewritten (CRLF and lone CR to LF).
//
// As it is means without a copy: the string returned then shares body's
// bytes, and is valid only while Parse runs (the caller's body must not
// change under Parse, which it never could). Nothing keeps it: pion copies
// every string it hands out (its lexer's copyString), and unmarshal keeps
// only the text of pion's errors, which hold the string they parsed.
// TestParseKeepsNoBody checks both.
func normalizeNewlines(body []byte) string {
	b := bytes.TrimLeft(body, " \t\r\n")
	if len(b) > 0 && b[len(b)-1] == '\n' && !hasLoneCR(b) {
		return unsafe.String(&b[0], len(b))
	}
	var out strings.Builder
	out.Grow(len(b) + 1)
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] != '\r':
			out.WriteByte(b[i])
		case i+1 < len(b) && b[i+1] == '\n':
			// CRLF: the LF is written next round.
		default:
			out.WriteByte('\n')
		}
	}
	if s := out.String(); s == "" || s[len(s)-1] != '\n' {
		out.WriteByte('\n')
	}
	return out.String()
}

// hasLoneCR reports a CR in b that is not the first half of a CRLF.
func hasLoneCR(b []byte) bool {
	for {
		i := bytes.IndexByte(b, '\r')
		if i < 0 {
			return false
		}
		if i+1 == len(b) || b[i+1] != '\n' {
			return true
		}
		b = b[i+2:]
	}
}

// firstAudio is the index of the first audio m-line with a non-zero port
// whose proto (in lines, sd's layout) usable accepts (nil: any), -1 if
// there is none.
func firstAudio(sd *psdp.SessionDescription, lines []MLine, usable func(string) bool) int {
	for i, md := range sd.MediaDescriptions {
		if md.MediaName.Media == "audio" && md.MediaName.Port.Value != 0 && (usable == nil || usable(lines[i].Proto)) {
			return i
		}
	}
	return -1
}

// connectionAddr applies RFC 4566 §5.7: a media-level c= overrides the
// session-level one.
func connectionAddr(sd *psdp.SessionDescription, md *psdp.MediaDescription) (netip.Addr, error) {
	ci := md.ConnectionInformation
	if ci == nil {
		ci = sd.ConnectionInformation
	}
	if ci == nil || ci.Address == nil {
		return netip.Addr{}, errors.New("no c= line for the audio stream")
	}
	addr, err := netip.ParseAddr(ci.Address.Address)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("c=%s: %w", ci, err)
	}
	if (ci.AddressType == "IP4") != addr.Is4() && !addr.Is4In6() {
		return netip.Addr{}, fmt.Errorf("c=%s: address does not match %s", ci, ci.AddressType)
	}
	return addr.Unmap(), nil
}

// rtcpPort reads a=rtcp:<port> [nettype addrtype addr] (RFC 3605); without
// it RTCP is on the next port up (RFC 3550 §11).
func rtcpPort(md *psdp.MediaDescription, rtp int) (int, error) {
	v, ok := md.Attribute("rtcp")
	if !ok {
		if rtp >= 65535 {
			return 0, fmt.Errorf("m= port %d leaves no room for RTCP", rtp)
		}
		return rtp + 1, nil
	}
	port, ok := firstField(v)
	if !ok {
		return 0, errors.New("empty a=rtcp")
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("a=rtcp:%s: bad port", v)
	}
	return p, nil
}

// firstField is the first white-space separated field of v; ok is false
// when v is all white space.
func firstField(v string) (string, bool) {
	for f := range strings.FieldsSeq(v) {
		return f, true
	}
	return "", false
}

// codecs lists the m-line's formats, named from a=rtpmap or, for static
// payload types, from RFC 3551. As with a map, the last a=rtpmap or a=fmtp
// of a payload type wins; the lists are short (a dozen formats from SfB),
// so each attribute is matched against the formats in place.
func codecs(md *psdp.MediaDescription) ([]Codec, error) {
	out := make([]Codec, len(md.MediaName.Formats))
	for i, f := range md.MediaName.Formats {
		pt, ok := parsePT(f)
		if !ok {
			return nil, fmt.Errorf("m=audio format %q is not an RTP payload type", f)
		}
		out[i].PT = pt
	}
	var mapped [2]uint64 // payload types with an a=rtpmap, one bit each
	for _, a := range md.Attributes {
		switch a.Key {
		case "rtpmap":
			c, ok := parseRtpmap(a.Value)
			if !ok {
				continue
			}
			mapped[c.PT/64] |= 1 << (c.PT % 64)
			for i := range out {
				if out[i].PT == c.PT {
					c.Fmtp = out[i].Fmtp
					out[i] = c
				}
			}
		case "fmtp":
			if pt, params, ok := parseFmtp(a.Value); ok {
				for i := range out {
					if out[i].PT == pt {
						out[i].Fmtp = params
					}
				}
			}
		}
	}
	for i, c := range out {
		if mapped[c.PT/64]&(1<<(c.PT%64)) != 0 {
			continue
		}
		if s, ok := staticCodec(c.PT); ok {
			s.Fmtp = c.Fmtp
			out[i] = s
		}
	}
	return out, nil
}

// direction applies RFC 3264 §5.1: media-level overrides session-level,
// and sendrecv is the default.
func direction(session, media []psdp.Attribute) string {
	for _, attrs := range [][]psdp.Attribute{media, session} {
		for _, a := range attrs {
			switch a.Key {
			case SendRecv, SendOnly, RecvOnly, Inactive:
				return a.Key
			}
		}
	}
	return SendRecv
}

// readAttributes fills the fields that come straight from audio-section
// attributes and cannot make the SDP unusable.
func readAttributes(m *Media, attrs []psdp.Attribute) {
	var candidates, crypto int
	for _, a := range attrs {
		switch a.Key {
		case "candidate":
			candidates++
		case "crypto":
			crypto++
		}
	}
	if candidates > 0 {
		m.Candidates = make([]Candidate, 0, candidates)
	}
	if crypto > 0 {
		m.Crypto = make([]string, 0, crypto)
	}
	for _, a := range attrs {
		switch a.Key {
		case "x-bypassid":
			if m.BypassID == "" {
				m.BypassID = strings.TrimSpace(a.Value)
			}
		case "candidate":
			if c, ok := parseCandidate(a.Value); ok {
				m.Candidates = append(m.Candidates, c)
			}
		case "crypto":
			m.Crypto = append(m.Crypto, a.Value)
		case "ptime":
			if p, err := strconv.ParseInt(strings.TrimSpace(a.Value), 10, 32); err == nil && p > 0 {
				m.Ptime = int32(p)
			}
		case "maxptime":
			if p, err := strconv.ParseInt(strings.TrimSpace(a.Value), 10, 32); err == nil && p > 0 {
				m.MaxPtime = int32(p)
			}
		}
	}
	if len(m.Candidates) == 0 {
		m.Candidates = nil // none usable: as if none were sent
	}
}
