package sip

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

// Stream framing: the messages of a TCP or TLS connection are cut out of
// its byte stream here (RFC 3261 §18.3), with the RFC 5626 keep-alives
// between them and the timeout of a message that arrives too slowly.

// stream is the parser state of one TCP connection: a read may hold part
// of a message, or several.
type stream struct {
	par       *gosip.ParserStream
	lastRead  time.Time
	transport string // "tcp" or "tls"
	// partialSince is when (UnixNano) the message now in the parser's
	// buffer began; 0 between messages. The reading goroutine sets it, the
	// sweep reads it.
	partialSince atomic.Int64
}

// readStream parses a TCP read in the connection's own stream parser.
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

	// RFC 5626 §3.5.1 keep-alive between messages: CRLFCRLF is a ping,
	// answered with CRLF; a lone CRLF is a pong.
	if len(data) <= 4 && st.par.Buffer().Len() == 0 && len(bytes.Trim(data, "\r\n")) == 0 {
		if len(data) == 4 {
			s.pong(props.Transport, remote)
		}
		return
	}
	err := st.par.ParseSIPStream(data, func(msg gosip.Message) {
		msg.SetTransport(transportName(props.Transport))
		msg.SetSource(remote)
		if s.tracer != nil {
			s.traceRead(props, nil, msg, trusted) // bytes serialised only if a tracer asks (Wire.Bytes)
		}
		s.dispatch(msg, trusted)
	})
	if err != nil && !errors.Is(err, gosip.ErrParseSipPartial) {
		// A framing error leaves no message boundary to resync on.
		s.traceRead(props, data, nil, trusted)
		s.unparseable(remote, strings.ToLower(props.Transport), err)
		st.par.Reset()
		if c, err := s.tpl.GetConnection(props.Transport, remote); err == nil {
			_ = c.Close()
			_, _ = c.TryClose()
		}
	}
	s.checkPartial(st, remote)
}

// checkPartial closes the connection of a stream whose message has been
// arriving for longer than msgTimeout: a sender of one byte a second would
// otherwise hold its connection, and its parser's buffer, for ever. It
// runs on the connection's reading goroutine, which owns the parser.
func (s *Side) checkPartial(st *stream, remote string) {
	if st.par.Buffer().Len() == 0 {
		st.partialSince.Store(0)
		return
	}
	since := st.partialSince.Load()
	if since == 0 {
		st.partialSince.Store(time.Now().UnixNano())
		return
	}
	if s.msgTimeout > 0 && time.Since(time.Unix(0, since)) > s.msgTimeout {
		st.par.Reset()
		st.partialSince.Store(0)
		s.closeSlow(st, remote)
	}
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
	if c, err := s.tpl.GetConnection(st.transport, remote); err == nil {
		_ = c.Close()
		_, _ = c.TryClose()
	}
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
			if since := st.partialSince.Load(); s.msgTimeout > 0 && since != 0 && time.Since(time.Unix(0, since)) > s.msgTimeout {
				// A sender that stopped in the middle of a message.
				st.partialSince.Store(0)
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
