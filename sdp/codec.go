// Codecs: one payload format of an audio m-line, the RFC 3551 static
// table and the helpers that match formats across the two call legs.

package sdp

import (
	"strconv"
	"strings"
)

// Codec is one payload format of an audio m-line.
type Codec struct {
	PT       uint8
	Name     string
	Rate     uint32
	Channels int
	Fmtp     string
}

// Well-known codecs the mediation server offers when it anchors media.
var (
	PCMU           = Codec{PT: 0, Name: "PCMU", Rate: 8000, Channels: 1}
	PCMA           = Codec{PT: 8, Name: "PCMA", Rate: 8000, Channels: 1}
	TelephoneEvent = Codec{PT: 101, Name: "telephone-event", Rate: 8000, Channels: 1, Fmtp: "0-16"}
)

// staticCodecs are the RFC 3551 audio payload types a peer may use without
// an a=rtpmap line; gateways commonly send "m=audio ... 8 0" and nothing
// else. Indexed by payload type; an empty Name is a type RFC 3551 leaves
// unassigned for audio.
var staticCodecs = [...]Codec{
	0:  PCMU,
	3:  {PT: 3, Name: "GSM", Rate: 8000, Channels: 1},
	4:  {PT: 4, Name: "G723", Rate: 8000, Channels: 1},
	5:  {PT: 5, Name: "DVI4", Rate: 8000, Channels: 1},
	6:  {PT: 6, Name: "DVI4", Rate: 16000, Channels: 1},
	7:  {PT: 7, Name: "LPC", Rate: 8000, Channels: 1},
	8:  PCMA,
	9:  {PT: 9, Name: "G722", Rate: 8000, Channels: 1},
	10: {PT: 10, Name: "L16", Rate: 44100, Channels: 2},
	11: {PT: 11, Name: "L16", Rate: 44100, Channels: 1},
	12: {PT: 12, Name: "QCELP", Rate: 8000, Channels: 1},
	13: {PT: 13, Name: "CN", Rate: 8000, Channels: 1},
	14: {PT: 14, Name: "MPA", Rate: 90000, Channels: 1},
	15: {PT: 15, Name: "G728", Rate: 8000, Channels: 1},
	16: {PT: 16, Name: "DVI4", Rate: 11025, Channels: 1},
	17: {PT: 17, Name: "DVI4", Rate: 22050, Channels: 1},
	18: {PT: 18, Name: "G729", Rate: 8000, Channels: 1},
}

// staticCodec is the RFC 3551 codec of payload type pt, if it has one.
func staticCodec(pt uint8) (Codec, bool) {
	if int(pt) < len(staticCodecs) && staticCodecs[pt].Name != "" {
		return staticCodecs[pt], true
	}
	return Codec{}, false
}

// IsG711 reports whether c is PCMU/8000 or PCMA/8000, the only codecs CCE
// uses between a client and a gateway in media bypass.
func (c Codec) IsG711() bool {
	return c.Rate == 8000 && (strings.EqualFold(c.Name, "PCMU") || strings.EqualFold(c.Name, "PCMA"))
}

// IsTelephoneEvent reports whether c is RFC 4733 telephone-event/8000 (DTMF).
func (c Codec) IsTelephoneEvent() bool {
	return c.Rate == 8000 && strings.EqualFold(c.Name, "telephone-event")
}

// Same reports whether c and o are the same format regardless of payload
// type, so one side's codec can be found in the other side's list even when
// dynamic PT numbers differ.
func (c Codec) Same(o Codec) bool {
	return strings.EqualFold(c.Name, o.Name) && c.Rate == o.Rate && channels(c) == channels(o)
}

// appendRtpmap writes the a=rtpmap value; a single channel is implied
// (RFC 4566) so it is omitted, which is what gateways expect to read.
func (c Codec) appendRtpmap(b []byte) []byte {
	b = strconv.AppendUint(b, uint64(c.PT), 10)
	b = append(b, ' ')
	b = append(b, c.Name...)
	b = append(b, '/')
	b = strconv.AppendUint(b, uint64(c.Rate), 10)
	if c.Channels > 1 {
		b = append(b, '/')
		b = strconv.AppendInt(b, int64(c.Channels), 10)
	}
	return b
}

func channels(c Codec) int {
	if c.Channels <= 0 {
		return 1
	}
	return c.Channels
}

// parseRtpmap reads "<pt> <name>/<rate>[/<channels>]".
func parseRtpmap(v string) (Codec, bool) {
	ptField, enc, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return Codec{}, false
	}
	pt, ok := parsePT(ptField)
	if !ok {
		return Codec{}, false
	}
	name, rateField, chField, ok := splitEncoding(enc)
	if !ok {
		return Codec{}, false
	}
	rate, err := strconv.ParseUint(rateField, 10, 32)
	if err != nil {
		return Codec{}, false
	}
	c := Codec{PT: pt, Name: name, Rate: uint32(rate), Channels: 1}
	if chField != "" {
		ch, err := strconv.Atoi(chField)
		if err != nil || ch < 1 {
			return Codec{}, false
		}
		c.Channels = ch
	}
	return c, true
}

// splitEncoding splits an rtpmap's "<name>/<rate>[/<channels>]"; ok is
// false without a name and a rate field, or with more than three fields.
// channels is "" when absent.
func splitEncoding(enc string) (name, rate, channels string, ok bool) {
	name, rest, ok := strings.Cut(strings.TrimSpace(enc), "/")
	if !ok || name == "" {
		return "", "", "", false
	}
	rate, channels, hasCh := strings.Cut(rest, "/")
	if hasCh && (channels == "" || strings.Contains(channels, "/")) {
		return "", "", "", false
	}
	return name, rate, channels, true
}

// parseFmtp splits "<pt> <params>".
func parseFmtp(v string) (uint8, string, bool) {
	ptField, params, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return 0, "", false
	}
	pt, ok := parsePT(ptField)
	return pt, strings.TrimSpace(params), ok
}

// parsePT accepts 0..127, the RTP payload type range (RFC 3550).
func parsePT(s string) (uint8, bool) {
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil || n > 127 {
		return 0, false
	}
	return uint8(n), true
}

// filterCodecs returns the codecs of list that keep accepts, in order, in
// a slice of exactly their number (one allocation: the call path asks for
// these lists several times per call), nil when there are none.
func filterCodecs(list []Codec, keep func(Codec) bool) []Codec {
	n := 0
	for _, c := range list {
		if keep(c) {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	out := make([]Codec, 0, n)
	for _, c := range list {
		if keep(c) {
			out = append(out, c)
		}
	}
	return out
}

// findCodec returns the first codec in list that is the same format as c.
func findCodec(list []Codec, c Codec) (Codec, bool) {
	for _, x := range list {
		if x.Same(c) {
			return x, true
		}
	}
	return Codec{}, false
}

// telephoneEvent returns the first telephone-event/8000 in list.
func telephoneEvent(list []Codec) (Codec, bool) {
	for _, c := range list {
		if c.IsTelephoneEvent() {
			return c, true
		}
	}
	return Codec{}, false
}
