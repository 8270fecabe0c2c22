package sip

import (
	"bytes"
	"net"
	"sync"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

// Direction of a traced message, seen from the mediation server.
const (
	In  = "in"
	Out = "out"
)

// Wire is one SIP message as it crossed one of a side's sockets: read
// (In) or about to be written (Out).
type Wire struct {
	Side *Side
	Dir  string
	// Transport is "UDP", "TCP" or "TLS".
	Transport string
	// Local and Remote are the socket's addresses.
	Local, Remote net.Addr
	Time          time.Time
	// Msg is the message parsed (read) or as built (written); nil for
	// bytes that are not SIP.
	Msg gosip.Message
	// Untrusted marks a read from a source outside the side's trust list:
	// it is traced (a capture shows the wire) and then refused, so it is
	// no call's message.
	Untrusted bool
	// data is what Bytes returns: set for a read, serialised on demand
	// for a write (most tracers need only Msg).
	data []byte
	// buf holds a written message serialised by Bytes; it stays with the
	// Wire in wirePool.
	buf *bytes.Buffer
}

// wirePool recycles the Wires shown to tracers: two per message (read on
// one side, written on the other) would otherwise be allocated for every
// message of every call, with the buffer Bytes serialises a written
// message into.
var wirePool = sync.Pool{New: func() any { return new(Wire) }}

// show hands the tracer a Wire from the pool and takes it back when the
// tracer returns: a tracer keeps neither w nor what Bytes returned.
func (s *Side) show(tracer Tracer, dir, transport string, local, remote net.Addr, data []byte, msg gosip.Message, untrusted bool) {
	w := wirePool.Get().(*Wire)
	buf := w.buf
	*w = Wire{Side: s, Dir: dir, Transport: transport, Local: local, Remote: remote, Time: time.Now(), Msg: msg, data: data,
		Untrusted: untrusted, buf: buf}
	tracer(w)
	if buf = w.buf; buf != nil && buf.Cap() > 64<<10 {
		buf = nil // a huge message's buffer is not kept
	}
	*w = Wire{buf: buf} // the pool holds no message, socket or side
	wirePool.Put(w)
}

// Bytes is the message as on the wire (for a TCP read, the message cut
// out of the stream). It is valid only while the tracer runs (a read's is
// the socket's buffer, a write's a pooled one): a tracer that keeps it, or
// hands it to another goroutine, copies it. A written message is
// serialised here, on the first call, rather than for every message
// whether a tracer wants its bytes or not.
func (w *Wire) Bytes() []byte {
	if w.data == nil && w.Msg != nil {
		if w.buf == nil {
			w.buf = new(bytes.Buffer)
		}
		w.buf.Reset()
		w.Msg.StringWrite(w.buf)
		w.data = w.buf.Bytes()
	}
	return w.data
}

// Tracer sees every message a side reads or writes, exactly once, in the
// order of the wire. It runs on the goroutine that reads or writes, so it
// must not block. The Wire is lent for the call: it is reused once the
// tracer returns, so a tracer copies what it keeps of it.
type Tracer func(w *Wire)

// CallID is the message's Call-ID, "" when there is none.
func (w *Wire) CallID() string {
	if w.Msg == nil {
		return ""
	}
	if id := w.Msg.CallID(); id != nil {
		return string(*id)
	}
	return ""
}

// Summary is the message's start line ("INVITE sip:...", "SIP/2.0 200
// OK"), or "unparseable" for bytes that are not SIP.
func (w *Wire) Summary() string {
	switch m := w.Msg.(type) {
	case *gosip.Request:
		return m.StartLine()
	case *gosip.Response:
		return m.StartLine()
	}
	return "unparseable"
}

// Trace logs a whole SIP message at debug level with its side, direction,
// transport, addresses and Call-ID, so an operator can follow one call (and
// find a=x-bypassid in its INVITE, 183 and 200) by grepping one field. log
// should already carry the call's own id.
func Trace(log *zerolog.Logger, w *Wire) {
	if !log.Debug().Enabled() {
		return
	}
	ev := log.Debug().Str("side", w.Side.Name).Str("dir", w.Dir).Str("transport", w.Transport).
		Str("local", addrString(w.Local)).Str("remote", addrString(w.Remote))
	if id := w.CallID(); id != "" {
		ev = ev.Str("sip_call_id", id)
	}
	ev.Str("sip", string(w.Bytes())).Msg("sip " + w.Summary())
}

// traceRead shows the tracer a message read from the network, before it is
// handled.
func (s *Side) traceRead(props gosip.TransportReadProps, data []byte, msg gosip.Message, trusted bool) {
	if s.tracer == nil {
		return
	}
	s.show(s.tracer, In, transportName(props.Transport), props.LocalAddr, props.RemoteAddr, data, msg, !trusted)
}

// tapWrite is a side's WriteTap: it shows what is about to be written to
// the tracer. nil without a tracer.
func (s *Side) tapWrite(tracer Tracer) WriteTap {
	if tracer == nil {
		return nil
	}
	return func(transport string, local, remote net.Addr, msg gosip.Message) {
		s.show(tracer, Out, transport, local, remote, nil, msg, false)
	}
}
