package sip

import (
	"errors"
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
	_ = c.Close()
	_, _ = c.TryClose()
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
