// Foreign m-lines: streams pion cannot read, kept in the layout.

package sdp

import "strings"

// pion/sdp refuses a whole SDP for one m-line whose media is not audio,
// video, text, application or message, or whose proto has a token outside
// its list: "m=image 40004 udptl t38" (T.38 fax, RFC 3362/ITU-T T.38 Annex
// D), which SBCs offer beside the audio stream. RFC 3264 §6 wants such a
// stream rejected in the answer (port 0), not the offer refused. So such a
// line reaches pion as an m=application line with proto UDP, and its media
// and proto as written are put back into the layout (Media.Lines), which
// is all an answer uses of a stream it rejects.

// pionMedia and pionProtos are what pion/sdp v3.0.20 accepts
// (unmarshalMediaDescription).
var (
	pionMedia  = []string{"audio", "video", "text", "application", "message"}
	pionProtos = []string{"UDP", "RTP", "AVP", "SAVP", "SAVPF", "TLS", "DTLS", "SCTP", "AVPF", "TCP",
		"MSRP", "BFCP", "UDT", "IX", "MRCPv2", "FEC"}
)

// foreignLine is an m-line given to pion in disguise: its position among
// the m-lines and its media and proto as written.
type foreignLine struct {
	index        int
	media, proto string
}

// maskForeign returns text with every m-line pion would refuse written as
// an m=application/UDP line with the same port and formats, and those
// lines' originals. Without such lines text comes back as it is (no copy).
// A malformed m-line (fewer than three fields) is left for pion to refuse.
func maskForeign(text string) (string, []foreignLine) {
	var foreign []foreignLine
	var out strings.Builder
	done := 0 // text[:done] is in out
	index := 0
	// Only the m-lines are looked at: pion's input starts at v=, so every
	// m-line follows a newline.
	for at := 0; ; {
		i := strings.Index(text[at:], "\nm=")
		if i < 0 {
			break
		}
		start := at + i + 1
		end := strings.IndexByte(text[start:], '\n')
		if end < 0 {
			end = len(text)
		} else {
			end += start
		}
		if f := strings.Fields(text[start+2 : end]); len(f) >= 3 && !pionReads(f[0], f[2]) {
			foreign = append(foreign, foreignLine{index: index, media: f[0], proto: f[2]})
			out.WriteString(text[done:start])
			out.WriteString("m=application ")
			out.WriteString(f[1])
			out.WriteString(" UDP")
			for _, fmt := range f[3:] {
				out.WriteByte(' ')
				out.WriteString(fmt)
			}
			done = end
		}
		index++
		at = end
	}
	if foreign == nil {
		return text, nil
	}
	out.WriteString(text[done:])
	return out.String(), foreign
}

func pionReads(media, proto string) bool {
	if !anyOf(media, pionMedia) {
		return false
	}
	for p := range strings.SplitSeq(proto, "/") {
		if !anyOf(p, pionProtos) {
			return false
		}
	}
	return true
}

func anyOf(s string, list []string) bool {
	for _, v := range list {
		if s == v {
			return true
		}
	}
	return false
}

// unmask puts the foreign lines' media and proto back into lines.
func unmask(lines []MLine, foreign []foreignLine) {
	for _, f := range foreign {
		if f.index < len(lines) {
			lines[f.index].Media, lines[f.index].Proto = f.media, f.proto
		}
	}
}
