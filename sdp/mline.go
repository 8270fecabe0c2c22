// MLine: the m-line layout of an offer, which every answer must repeat.

package sdp

import (
	"slices"
	"strings"

	psdp "github.com/pion/sdp/v3"
)

// MLine is one m-line of an SDP as written: what an answer needs to keep
// the offer's m-lines, because RFC 3264 §6 requires exactly the same
// number of m-lines as the offer, in the same order, and the mediation
// server answers only the audio one.
type MLine struct {
	Media   string   // "audio", "video", "application", ...
	Port    int      // m= port; 0 for a stream that is rejected
	Proto   string   // "RTP/AVP", "RTP/SAVP", ... as in Media.Proto
	Formats []string // m= formats as written (not every proto has payload types)
}

// mlines records the layout of every m-line of sd, in order.
func mlines(sd *psdp.SessionDescription) []MLine {
	out := make([]MLine, 0, len(sd.MediaDescriptions))
	for _, md := range sd.MediaDescriptions {
		out = append(out, MLine{
			Media:   md.MediaName.Media,
			Port:    md.MediaName.Port.Value,
			Proto:   joinProto(md.MediaName.Protos),
			Formats: append([]string(nil), md.MediaName.Formats...),
		})
	}
	return out
}

// joinProto writes an m-line's proto as it appears in the SDP. The usual
// ones ("RTP/AVP", "RTP/SAVP", ...) are this package's constants and cost
// no allocation.
func joinProto(protos []string) string {
	var buf [32]byte
	b := buf[:0]
	for i, p := range protos {
		if i > 0 {
			b = append(b, '/')
		}
		b = append(b, p...)
	}
	if c, ok := constants[string(b)]; ok {
		return c
	}
	return string(b)
}

// Answering returns d, an answer to offer, with every m-line of offer
// other than the audio one Parse described kept in place and rejected, so
// the answer has the offer's m-lines in the offer's order (RFC 3264 §6).
// Each rejected line keeps the offer's media and proto and only the first
// offered format (RFC 3264 §6 asks for at least one; the rest would be
// ignored), and carries no attributes. An offer with nothing but its audio
// m-line, or a Media not made by Parse, leaves d's m-lines as they are.
//
// It keeps the offer's feedback profile (Description.AVPF): RTP/AVPF is
// answered RTP/AVPF and RTP/SAVPF RTP/SAVPF, the S as the caller
// negotiates it (Description.SAVP); an answer cannot change the offer's
// transport protocol (RFC 3264 §6, RFC 4585 §4.2).
//
// Its direction is capped by the offer's (AnswerDirection; an RFC 2543
// hold, c=0.0.0.0, counts as sendonly), so whatever direction the other
// peer gave, the answer is one RFC 3264 §6.1 allows.
//
// The answer builders of this package call it; callers need it only for
// an answer they build with an offer builder.
func (d Description) Answering(offer Media) Description {
	d.Rejected, d.AudioIndex = rejectedLines(offer)
	d.AVPF = offer.Feedback()
	if dir := AnswerDirection(peerDirection(offer), d.Direction); dir != normalDirection(d.Direction) {
		d.Direction = dir
	}
	return d
}

// Reoffering returns d, an offer inside a session to a peer whose latest
// SDP of that session is peer, in the feedback profile that peer has
// (Description.AVPF): a peer that offered or answered RTP/AVPF (RTP/SAVPF)
// is offered RTP/AVPF again (RTP/SAVPF with SAVP), one in RTP/AVP stays in
// RTP/AVP. A re-offer describes the session it modifies (RFC 3264 §8), and
// our answers keep the offer's profile (Answering), so the stream would
// otherwise change profile with each re-offer of ours and back with each
// refresh that re-sends our answer; a peer that takes only AVPF (RFC 8834
// endpoints require SAVPF) refuses an RTP/AVP re-offer with 488. An empty
// peer (none yet: an initial offer) leaves d in RTP/AVP or RTP/SAVP.
func (d Description) Reoffering(peer Media) Description {
	d.AVPF = peer.Feedback()
	return d
}

// rejectedLines are offer's m-lines other than its audio one, rejected,
// and the audio line's position among them. nil when there are none.
func rejectedLines(offer Media) ([]MLine, int) {
	if len(offer.Lines) < 2 || offer.AudioIndex < 0 || offer.AudioIndex >= len(offer.Lines) {
		return nil, 0
	}
	out := make([]MLine, 0, len(offer.Lines)-1)
	for i, l := range offer.Lines {
		if i == offer.AudioIndex {
			continue
		}
		r := MLine{Media: l.Media, Proto: l.Proto}
		if len(l.Formats) > 0 {
			r.Formats = []string{l.Formats[0]}
		}
		out = append(out, r)
	}
	return out, offer.AudioIndex
}

// appendRejected writes l as a rejected stream: port 0 whatever l.Port
// says, no c= (the session-level one covers it) and no attributes, which
// RFC 3264 §6 allows to be omitted for a rejected stream.
func (l MLine) appendRejected(b []byte) []byte {
	b = append(b, "m="...)
	b = append(b, l.Media...)
	b = append(b, " 0 "...)
	b = append(b, l.Proto...)
	b = append(b, ' ')
	for i, f := range l.Formats {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, f...)
	}
	return append(b, "\r\n"...)
}

// SameLayout reports whether a and b have the same m-lines: as many, of
// the same media in the same order, audio at the same place. An answer
// built for one is an answer to the other (RFC 3264 §6: as many m-lines as
// the offer, in order). A Media without Lines is one audio line.
func SameLayout(a, b Media) bool {
	kinds := func(m Media) ([]string, int) {
		if len(m.Lines) == 0 {
			return []string{"audio"}, 0
		}
		k := make([]string, len(m.Lines))
		for i, l := range m.Lines {
			k[i] = strings.ToLower(l.Media)
		}
		return k, m.AudioIndex
	}
	ka, ia := kinds(a)
	kb, ib := kinds(b)
	return ia == ib && slices.Equal(ka, kb)
}
