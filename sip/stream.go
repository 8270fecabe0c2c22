package sip

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

// Stream framing: the messages of a TCP or TLS connection are cut out of
// its byte stream here (RFC 3261 §18.3), with the RFC 5626 keep-alives
// between them and the timeout of a message that arrives too slowly.

// stream is the parser state of one TCP connection: a read may hold part
// of a message, or several, or keep-alives between them.
//
// Whether the connection is between messages is tracked here, not read off
// sipgo's parser: its buffer is empty after every complete header line, in
// the middle of a message as well as between two.
type stream struct {
	par       *gosip.ParserStream
	lastRead  time.Time
	transport string // "tcp" or "tls"
	// inMessage: a byte of a message has gone to the parser since the last
	// complete message. The reading goroutine's only.
	inMessage bool
	// keepAlive is how much of a CRLFCRLF ping has been read between
	// messages (0 to 3 bytes). The reading goroutine's only.
	keepAlive int
	// method is the method token of the message now arriving, with the
	// space after it, as written (for wireMethod), once its first bytes
	// are in; methodSeen: looked for already (found, or the start line
	// had no space in its first maxMethodToken bytes). The reading
	// goroutine's only.
	method     []byte
	methodSeen bool
	// length is what the message's header lines have said of its length
	// (framing.go). The reading goroutine's only.
	length lengthScan
	// partialSince is when (UnixNano) the message now arriving began (its
	// first byte); 0 between messages. The reading goroutine sets it; the
	// sweep reads it, and clears it (CompareAndSwap) when it closes the
	// connection of a sender that stalled.
	partialSince atomic.Int64
}

// ping is an RFC 5626 §3.5.1 keep-alive ping; its pong is a single CRLF.
const ping = "\r\n\r\n"

// skipKeepAlive consumes the CR and LF bytes that lead data between
// messages (RFC 3261 §7.5 has them ignored before a start line; RFC 5626
// §3.5.1 makes CRLFCRLF a ping and CRLF a pong). It returns how many bytes
// it consumed and how many pings they completed; a ping may be split over
// reads. A message's first byte ends what was read so far: a CRLF before
// it was a pong.
func (st *stream) skipKeepAlive(data []byte) (n, pings int) {
	for ; n < len(data); n++ {
		switch b := data[n]; {
		case b == ping[st.keepAlive]:
			st.keepAlive++
		case b == '\r':
			st.keepAlive = 1
		case b == '\n':
			st.keepAlive = 0
		default:
			st.keepAlive = 0
			return n, pings
		}
		if st.keepAlive == len(ping) {
			pings++
			st.keepAlive = 0
		}
	}
	return n, pings
}

// readStream frames a TCP or TLS read (RFC 3261 §18.3) in the connection's
// own stream parser: keep-alives between messages are answered or skipped
// here, the messages' bytes go to the parser whatever their segmentation,
// and each complete message is dispatched on this goroutine.
func (s *Side) readStream(props gosip.TransportReadProps, remote string, data []byte, trusted bool) {
	key := addrString(props.LocalAddr) + ">" + remote
	s.mu.Lock()
	st := s.streams[key]
	if st == nil {
		st = &stream{par: s.parser.NewSIPStream(), transport: strings.ToLower(props.Transport)}
		s.streams[key] = st
	}
	st.lastRead = time.Now()
	s.mu.Unlock()
	if s.streamHandled != nil {
		defer s.streamHandled(remote, len(data))
	}

	buf := st.par.Buffer()
	buf.Write(data)
	for buf.Len() > 0 {
		if !st.inMessage {
			n, pings := st.skipKeepAlive(buf.Bytes())
			st.par.Discard(n)
			for range pings {
				s.pong(props.Transport, remote)
			}
			if buf.Len() == 0 {
				break
			}
			st.inMessage = true
			st.method, st.methodSeen = st.method[:0], false
			st.length = lengthScan{}
			st.partialSince.Store(time.Now().UnixNano())
		}
		if !st.methodSeen {
			// The buffer begins with the message until its start line is
			// complete, which it is not before its first space.
			st.noteMethod(buf.Bytes())
		}
		st.length.scan(buf.Bytes())
		before := buf.Len()
		msg, _, err := st.par.ParseNext()
		if errors.Is(err, io.ErrUnexpectedEOF) && st.length.cutShort() {
			// Its Content-Length values differ: its end is not to be
			// known, and its body is not waited for.
			s.traceRead(props, data, nil, trusted)
			if msg, err = s.cutLength(st); err == nil && conflictingLength(msg) {
				msg.SetTransport(transportName(props.Transport))
				msg.SetSource(remote)
				s.dispatch(msg, trusted, props.LocalAddr) // refused (framed): 400, and the connection closed
			} else {
				if err == nil {
					// sipgo read its lengths otherwise: its body is not
					// the peer's, so it is not handled either.
					err = errors.New("Content-Length values differ in the header lines, not as parsed")
				}
				s.unparseable(remote, st.transport, err)
				s.closeStream(props.Transport, remote)
			}
			st.reset()
			return
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			st.length.consumed(before - buf.Len())
			break // the rest of the message is still to come
		}
		if err != nil {
			// A framing error leaves no message boundary to resync on.
			s.traceRead(props, data, nil, trusted)
			s.unparseable(remote, st.transport, err)
			st.reset()
			s.closeStream(props.Transport, remote)
			return
		}
		st.inMessage = false
		st.partialSince.Store(0)
		msg.SetTransport(transportName(props.Transport))
		msg.SetSource(remote)
		if req, ok := msg.(*gosip.Request); ok && len(st.method) > 0 {
			wireMethod(req, st.method)
		}
		if s.tracer != nil {
			s.traceRead(props, nil, msg, trusted) // bytes serialised only if a tracer asks (Wire.Bytes)
		}
		s.dispatch(msg, trusted, props.LocalAddr)
	}
	s.checkPartial(st, remote)
}

// closeStream closes the connection of a stream that cannot go on.
func (s *Side) closeStream(network, remote string) {
	if c, err := s.tpl.GetConnection(network, remote); err == nil {
		closeUnreadable(c)
	}
}

// noteMethod keeps the method token at the start of head, a message's
// first bytes, once they hold it (sipgo upper-cases the one it parses).
func (st *stream) noteMethod(head []byte) {
	head = head[:min(len(head), maxMethodToken)]
	if i := bytes.IndexByte(head, ' '); i >= 0 {
		st.method = append(st.method[:0], head[:i+1]...)
		st.methodSeen = true
	} else if len(head) == maxMethodToken {
		st.methodSeen = true // no method is that long: left as parsed
	}
}

// reset forgets the message and keep-alive in progress (the connection is
// being closed).
func (st *stream) reset() {
	st.par.Reset()
	st.inMessage, st.keepAlive = false, 0
	st.partialSince.Store(0)
}

// checkPartial closes the connection of a stream whose message has been
// arriving for longer than msgTimeout: a sender of one byte, or one header
// line, a second would otherwise hold its connection, and its parser's
// buffer, for ever. It runs on the connection's reading goroutine, which
// owns the parser.
func (s *Side) checkPartial(st *stream, remote string) {
	since := st.partialSince.Load()
	if s.msgTimeout <= 0 || since == 0 || time.Since(time.Unix(0, since)) <= s.msgTimeout {
		return
	}
	if st.partialSince.CompareAndSwap(since, 0) { // else the sweep closed it
		s.closeSlow(st, remote)
	}
	st.reset()
}

// closeSlow closes a connection whose message did not complete in time
// (from the reading goroutine, or from the sweep for a sender that went
// quiet in the middle of a message).
func (s *Side) closeSlow(st *stream, remote string) {
	s.stack.connStats.Slow.Add(1)
	if ok, dropped := s.limit.Allow(); ok {
		s.log.Warn().Str("remote", remote).Str("transport", st.transport).Int64("message_timeout_ms", s.msgTimeout.Milliseconds()).
			Int("suppressed", dropped).Msg("connection closed: a message took too long to arrive")
	}
	s.closeStream(st.transport, remote)
}

// pong answers a CRLFCRLF keep-alive ping.
func (s *Side) pong(network, remote string) {
	c, err := s.tpl.GetConnection(network, remote)
	if err != nil {
		return
	}
	defer c.TryClose()
	if w, ok := c.(interface{ Write([]byte) (int, error) }); ok {
		_, _ = w.Write([]byte("\r\n"))
	}
}

// sweepEvery is how often the parsers of closed TCP connections are freed.
const sweepEvery = 10 * time.Second

// sweep frees the stream parsers of connections that are gone.
func (s *Side) sweep(ctx context.Context) {
	defer close(s.swept)
	every := sweepEvery
	if s.msgTimeout > 0 {
		every = min(every, max(s.msgTimeout/4, 10*time.Millisecond))
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// The connections may still be read until the stack closes:
			// leave their parsers to the garbage collector.
			s.mu.Lock()
			clear(s.streams)
			s.mu.Unlock()
			return
		case <-t.C:
		}
		s.mu.Lock()
		for k, st := range s.streams {
			_, remote, _ := strings.Cut(k, ">")
			if since := st.partialSince.Load(); s.msgTimeout > 0 && since != 0 && time.Since(time.Unix(0, since)) > s.msgTimeout &&
				st.partialSince.CompareAndSwap(since, 0) {
				// A sender that stopped in the middle of a message (the
				// reading goroutine, blocked in its read, cannot tell).
				s.closeSlow(st, remote)
			}
			if time.Since(st.lastRead) > sweepEvery && !s.ConnectionOpen(remote) {
				// Gone from the pool: its reading goroutine has ended.
				st.par.Close()
				delete(s.streams, k)
			}
		}
		s.mu.Unlock()
	}
}
