package sip

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	gosip "github.com/emiago/sipgo/sip"
)

// Framing: a message with two Content-Length header fields (long or
// compact form) whose values differ has no knowable end (RFC 3261 §7.3.1
// allows one value; RFC 4475 §3.3.9, mcl01). sipgo keeps every header
// field a message has (Headers, GetHeaders) but frames the message with
// the last Content-Length it read. Over UDP the datagram's end is the
// message's end, so only the message is refused: 400. Over TCP and TLS
// whatever followed was cut where the peer did not mean it to be: the
// request is answered 400 and the connection closed, and what was read
// behind it on that connection is dropped unseen.

// A stream message whose last Content-Length is larger than what follows
// its header section (Content-Length: 0, then Content-Length: 9000) would
// have sipgo's stream parser wait for a body its first value said was not
// there, until the message timeout. lengthScan reads the header lines as
// they arrive, before the parser takes them, and tells readStream once the
// header section is complete with values that differ: it is refused then
// (cutLength), without waiting for the body.

// lengthScan is what the header lines of the stream message now arriving
// have said of its length so far. The reading goroutine's only.
type lengthScan struct {
	// scanned is how many bytes at the head of the parser's buffer have
	// been read already (the parser takes whole lines from there).
	scanned int
	// started: the start line is behind; done: so is the header section.
	started, done bool
	// first and last are the first and the last Content-Length value,
	// seen once there is one; conflict once one differs from the first.
	first, last uint64
	seen        bool
	conflict    bool
}

// scan reads the complete lines of buf (the parser's buffer) not read yet,
// up to the end of the header section.
func (ls *lengthScan) scan(buf []byte) {
	for !ls.done && ls.scanned < len(buf) {
		i := bytes.IndexByte(buf[ls.scanned:], '\n')
		if i < 0 {
			return // a line still to be completed
		}
		line := bytes.TrimSuffix(buf[ls.scanned:ls.scanned+i], []byte("\r"))
		ls.scanned += i + 1
		switch {
		case !ls.started:
			ls.started = true
		case len(line) == 0:
			ls.done = true
		default:
			ls.header(line)
		}
	}
}

// header notes a header line's Content-Length (long or compact form).
func (ls *lengthScan) header(line []byte) {
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return // a folded continuation, or a line sipgo will refuse
	}
	name = bytes.TrimSpace(name)
	if !bytes.EqualFold(name, []byte("Content-Length")) && !bytes.EqualFold(name, []byte("l")) {
		return
	}
	n, err := strconv.ParseUint(string(bytes.TrimSpace(value)), 10, 64)
	switch {
	case err != nil: // sipgo's parser refuses it
	case !ls.seen:
		ls.first, ls.last, ls.seen = n, n, true
	default:
		ls.last = n
		ls.conflict = ls.conflict || n != ls.first
	}
}

// consumed moves the scan past n bytes the parser took from its buffer.
func (ls *lengthScan) consumed(n int) { ls.scanned = max(ls.scanned-n, 0) }

// cutShort reports a message whose header section is complete with
// Content-Length values that differ (readStream asks while its body is
// awaited).
func (ls *lengthScan) cutShort() bool { return ls.done && ls.conflict }

// cutLength hands on the message the parser holds, whose header section
// is complete but whose Content-Length values differ and whose body is
// being awaited: the body is filled in with zero bytes (as many as the
// last value says, more than enough) so that the parser gives the message
// up, for framed to refuse (400) and close the connection. What was read
// behind the header section went into that body; the rest of the buffer
// is to be dropped.
func (s *Side) cutLength(st *stream) (gosip.Message, error) {
	// The parser frames by the last value, and has refused a message
	// that would be larger than its maximum with it.
	if st.length.last > uint64(s.parser.MaxMessageLength) {
		return nil, fmt.Errorf("Content-Length values differ, the last %d: %w", st.length.last, gosip.ErrMessageTooLarge)
	}
	st.par.Buffer().Write(make([]byte, st.length.last))
	msg, _, err := st.par.ParseNext()
	if err != nil {
		return nil, fmt.Errorf("Content-Length values differ; the message with its body filled in: %w", err)
	}
	return msg, nil
}

// conflictingLength reports Content-Length values that differ.
func conflictingLength(msg gosip.Message) bool {
	m, ok := msg.(interface{ Headers() []gosip.Header })
	if !ok {
		return false
	}
	var first *gosip.ContentLengthHeader
	for _, h := range m.Headers() {
		cl, ok := h.(*gosip.ContentLengthHeader)
		switch {
		case !ok:
		case first == nil:
			first = cl
		case *cl != *first:
			return true
		}
	}
	return false
}

// framed reports whether a message may be handled on: false for one with
// conflicting Content-Length values (refused here) and for anything read
// behind one on the same connection.
func (s *Side) framed(msg gosip.Message) bool {
	stream := isStream(msg.Transport())
	if stream && s.nCondemned.Load() > 0 && s.isCondemned(msg) {
		return false
	}
	if !conflictingLength(msg) {
		return true
	}
	why := errors.New("Content-Length values differ")
	if req, ok := msg.(*gosip.Request); ok {
		s.rejectMalformed(req, "Bad Request - Conflicting Content-Length", why)
	} else {
		s.unparseable(msg.Source(), strings.ToLower(msg.Transport()), why)
	}
	if stream {
		s.condemn(msg)
	}
	return false
}

// condemn closes the connection a message came on, and remembers it so
// that the messages already read behind it are dropped.
func (s *Side) condemn(msg gosip.Message) {
	network, remote := strings.ToLower(msg.Transport()), msg.Source()
	c, err := s.tpl.GetConnection(network, remote)
	if err != nil {
		return
	}
	s.mu.Lock()
	if s.condemned == nil {
		s.condemned = map[string]gosip.Connection{}
	}
	// Forget the connections that have left the pool (their reading
	// goroutines are done), so the map holds live connections only.
	for k, old := range s.condemned {
		n, r, _ := strings.Cut(k, " ")
		if cur, err := s.tpl.GetConnection(n, r); err != nil || cur != old {
			delete(s.condemned, k)
		} else {
			_, _ = cur.TryClose()
		}
	}
	s.condemned[network+" "+remote] = c
	s.nCondemned.Store(int32(len(s.condemned)))
	s.mu.Unlock()
	closeUnreadable(c)
}

// isCondemned reports a message read on a connection condemn closed.
func (s *Side) isCondemned(msg gosip.Message) bool {
	network, remote := strings.ToLower(msg.Transport()), msg.Source()
	key := network + " " + remote
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.condemned[key]
	if !ok {
		return false
	}
	cur, err := s.tpl.GetConnection(network, remote)
	if err != nil {
		return true // gone from the pool: it was the condemned one
	}
	_, _ = cur.TryClose()
	if cur != c {
		// A new connection from the same address and port.
		delete(s.condemned, key)
		s.nCondemned.Store(int32(len(s.condemned)))
		return false
	}
	return true
}
