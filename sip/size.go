package sip

// This file is the UDP size check: sipgo refuses to write a UDP message
// larger than UDPMTUSize-200 bytes (ErrUDPMTUCongestion) and, for a
// response, terminates the server transaction on that error, so the
// requester would get nothing at all. We check first: a final response
// that cannot go is replaced by 513 Message Too Large, a request that
// cannot go fails at once with ErrMessageTooLarge.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	gosip "github.com/emiago/sipgo/sip"
)

// ErrMessageTooLarge is wrapped by the error of a message that is larger
// than UDP takes (UDPLimit) and was to go over UDP.
var ErrMessageTooLarge = errors.New("sip: message too large for UDP")

// UDPLimit is the largest message, in bytes, the stacks write over UDP
// (sipgo's UDPMTUSize less its 200-byte margin).
func UDPLimit() int { return gosip.UDPMTUSize - 200 }

var sizeBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// countWriter counts the bytes written to it.
type countWriter int

func (c *countWriter) WriteString(s string) (int, error) {
	*c += countWriter(len(s))
	return len(s), nil
}

// formatted is what a request and a response have for wireSize to count.
type formatted interface {
	StartLineWrite(io.StringWriter)
	Headers() []gosip.Header
}

// wireSize is the length of msg as sipgo writes it: its start line and
// headers as sipgo formats them, counted rather than copied, and its body's
// length. (sipgo's own StringWrite copies the body into a new string on
// every call: for an INVITE with SDP that was most of the check's cost.)
// TestWireSize holds it to len(msg.String()).
func wireSize(msg gosip.Message) int {
	var compact bool
	switch m := msg.(type) {
	case *gosip.Request:
		compact = m.CompactHeaders
	case *gosip.Response:
		compact = m.CompactHeaders
	}
	m, ok := msg.(formatted)
	if !ok || compact {
		return serialisedSize(msg)
	}
	var n countWriter
	m.StartLineWrite(&n)
	hs := m.Headers()
	for _, h := range hs {
		h.StringWrite(&n) // "Name: value"
	}
	// CRLF after the start line and after each header (after none: one
	// all the same), then the empty line.
	return int(n) + 2 + 2*max(len(hs), 1) + 2 + len(msg.Body())
}

// serialisedSize is the length of msg written out in full.
func serialisedSize(msg gosip.Message) int {
	buf := sizeBufs.Get().(*bytes.Buffer)
	buf.Reset()
	msg.StringWrite(buf)
	n := buf.Len()
	if buf.Cap() <= 64<<10 {
		sizeBufs.Put(buf)
	}
	return n
}

// checkUDPSize returns an error wrapping ErrMessageTooLarge when msg goes
// over UDP (transport, as the message's or its request's) and is larger
// than UDPLimit. Streams take any size.
func checkUDPSize(transport string, msg gosip.Message) error {
	if isStream(transport) {
		return nil
	}
	// Serialised as sipgo will (about a microsecond for a usual message):
	// headers copied from the request (Via, Record-Route) count as much as
	// the body.
	if n := wireSize(msg); n > UDPLimit() {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrMessageTooLarge, n, UDPLimit())
	}
	return nil
}

// CheckSize reports, as an error wrapping ErrMessageTooLarge, a response
// to the request that would not fit in a UDP datagram; the side counts
// and logs it (rate-limited). Over TCP every size fits.
func (in *Incoming) CheckSize(res *gosip.Response) error {
	if in.fits.Load() == res {
		return nil
	}
	err := checkUDPSize(in.Req.Transport(), res)
	if err != nil {
		in.Side.tooLarge("response", in.Req, res.StartLine(), res.Destination(), err)
		return err
	}
	in.fits.Store(res)
	return nil
}

// tooLarge counts and logs (rate-limited) a message not sent for its
// size; kind is "request" or "response", what its start line (in a field
// of its own: "message" is the event's).
func (s *Side) tooLarge(kind string, req *gosip.Request, what, to string, err error) {
	if kind == "request" {
		s.stats.RequestsTooLarge.Add(1)
	} else {
		s.stats.ResponsesTooLarge.Add(1)
	}
	if ok, suppressed := s.sizeLog.Allow(); ok {
		ev := s.log.Warn().Err(err).Str("kind", kind).Str("start_line", what).Str("to", to).Int("suppressed", suppressed)
		if id := req.CallID(); id != nil {
			ev = ev.Str("call_id", id.Value())
		}
		ev.Msg("SIP message too large for UDP: not sent")
	}
}
