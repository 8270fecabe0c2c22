// Detach: the strings a parsed Media keeps, copied out of pion's buffers.

package sdp

import (
	"strconv"
	"strings"
)

// detach gives m strings of its own. pion's lexer copies what it reads
// into buffers of up to 4 KiB and hands out substrings of them, so a codec
// name kept for the whole call would pin a buffer the size of the SDP: a
// call keeps its peers' SDP for its whole life, and with thousands of calls
// up these buffers were a tenth of the heap. The strings every SDP repeats
// (payload type numbers, media, protos, codec and candidate type names)
// become this package's constants; the rest are copied, together, into one
// buffer of exactly their size.
func (m *Media) detach() {
	var k keeper
	m.keep(&k)
	if k.size == 0 {
		return
	}
	k.buf.Grow(k.size)
	k.copying = true
	m.keep(&k)
}

// keep passes every string field of m to k.
func (m *Media) keep(k *keeper) {
	k.keep(&m.Proto)
	k.keep(&m.BypassID)
	k.keep(&m.Direction)
	for i := range m.Codecs {
		k.keep(&m.Codecs[i].Name)
		k.keep(&m.Codecs[i].Fmtp)
	}
	for i := range m.Candidates {
		c := &m.Candidates[i]
		k.keep(&c.Foundation)
		k.keep(&c.Transport)
		k.keep(&c.Type)
	}
	for i := range m.Crypto {
		k.keep(&m.Crypto[i])
	}
	for i := range m.Lines {
		l := &m.Lines[i]
		k.keep(&l.Media)
		k.keep(&l.Proto)
		for j := range l.Formats {
			k.keep(&l.Formats[j])
		}
	}
}

// keeper replaces strings by constants or copies in two rounds: the first
// sums the sizes of the strings to copy, the second copies them into buf,
// grown to that size once, so they share one allocation. Strings already
// handed out stay valid if buf ever grew again (strings.Builder never
// moves bytes it has written), so a miscount costs an allocation, never
// a wrong string.
type keeper struct {
	size    int
	copying bool
	buf     strings.Builder
}

func (k *keeper) keep(s *string) {
	if *s == "" {
		return
	}
	if c, ok := constants[*s]; ok {
		*s = c
		return
	}
	if !k.copying {
		k.size += len(*s)
		return
	}
	k.buf.WriteString(*s)
	all := k.buf.String()
	*s = all[len(all)-len(*s):]
}

// constants are the strings SDP bodies repeat, kept once for all calls:
// RTP payload type numbers (m= formats, candidate foundations), media,
// protos, directions, the codec names SfB clients and gateways send, and
// ICE transports and candidate types.
var constants = func() map[string]string {
	m := map[string]string{}
	for pt := range 128 {
		s := strconv.Itoa(pt)
		m[s] = s
	}
	for _, s := range []string{
		"audio", "video", "application", "text", "message", "image",
		"RTP/AVP", "RTP/SAVP", "RTP/AVPF", "RTP/SAVPF", "UDP/TLS/RTP/SAVP", "UDP/TLS/RTP/SAVPF", "UDP/BFCP", "TCP/BFCP", "TCP/TLS/BFCP",
		SendRecv, SendOnly, RecvOnly, Inactive,
		"PCMU", "PCMA", "G722", "G729", "GSM", "CN", "RED", "telephone-event", "opus", "SILK", "SIREN", "G7221", "x-msrta", "AAL2-G726-32", "iLBC", "AMR", "AMR-WB",
		"UDP", "TCP", "TCP-ACT", "TCP-PASS", "host", "srflx", "prflx", "relay",
	} {
		m[s] = s
	}
	return m
}()
