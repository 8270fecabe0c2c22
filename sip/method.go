package sip

import (
	"bytes"
	"strings"

	gosip "github.com/emiago/sipgo/sip"
)

// knownMethods are the methods of RFC 3261 and its extensions that the
// mediation server recognises, spelt as on the wire: methods are
// case-sensitive (RFC 3261 §7.1, §25.1), so "invite" is not INVITE.
var knownMethods = map[gosip.RequestMethod]bool{
	gosip.INVITE: true, gosip.ACK: true, gosip.CANCEL: true, gosip.BYE: true, gosip.REGISTER: true,
	gosip.OPTIONS: true, gosip.SUBSCRIBE: true, gosip.NOTIFY: true, gosip.REFER: true, gosip.INFO: true,
	gosip.MESSAGE: true, gosip.PRACK: true, gosip.UPDATE: true, gosip.PUBLISH: true,
}

// KnownMethod reports whether m is a method the server recognises: others
// get 501 Not Implemented (RFC 3261 §8.2.1), known ones it does not handle
// 405 Method Not Allowed.
func KnownMethod(m gosip.RequestMethod) bool { return knownMethods[m] }

// IsVersion2 reports whether req is a SIP/2.0 request, the only version
// the server speaks; others get 505 Version Not Supported (RFC 3261 §21.5.15). The
// version string is case-insensitive (RFC 3261 §7.1).
func IsVersion2(req *gosip.Request) bool { return strings.EqualFold(req.SipVersion, "SIP/2.0") }

// wireMethod puts back the request-line method as it was on the wire.
//
// sipgo's parser upper-cases the request-line method (parseRequestLine:
// strings.ToUpper) and keeps neither the start line nor the token as
// written, so "invite" would be taken for INVITE. raw begins where the
// message does (a UDP datagram; for TCP and TLS, methodTrack). Only its
// first token is compared with the parsed method, case-insensitively, so
// nothing of SIP is parsed here: when they differ only in case the request
// gets the token as written, which no known method matches.
func wireMethod(req *gosip.Request, raw []byte) {
	head := raw[:min(len(raw), maxMethodToken)]
	i := bytes.IndexByte(head, ' ')
	if i < 0 || string(head[:i]) == string(req.Method) {
		return
	}
	if token := string(head[:i]); strings.EqualFold(token, string(req.Method)) {
		req.Method = gosip.RequestMethod(token)
	}
}

// maxMethodToken bounds the bytes looked at for the method token: longer
// tokens are left as sipgo parsed them (no known method is that long).
const maxMethodToken = 64

// methodTrack keeps, for one TCP or TLS connection, the first bytes of the
// message that sipgo's stream parser will hand over next, for wireMethod.
// They are known at two points without framing anything ourselves: a read
// that finds the connection between messages begins with the next
// message, and when the parser hands over a message, what it still holds
// is the start of the next. Only the connection's reading goroutine uses a
// track; the Side's map of them is under Side.mu.
type methodTrack struct {
	stream string // the connection's key in Side.streams
	head   []byte // the next message's first bytes, up to maxMethodToken
	// lost is set when the start of the next message is not known (a
	// start line longer than maxMethodToken): no method is put back.
	lost bool
}

// complete reports that head holds the whole method token.
func (t *methodTrack) complete() bool { return bytes.IndexByte(t.head, ' ') >= 0 }

// add appends the next bytes of the connection while the method token of
// the next message is incomplete. CRLFs before a message are skipped
// (RFC 3261 §7.5, RFC 5626 keep-alives).
func (t *methodTrack) add(data []byte) {
	if t.lost || t.complete() {
		return
	}
	if len(t.head) == 0 {
		data = bytes.TrimLeft(data, "\r\n")
	}
	room := maxMethodToken - len(t.head)
	if len(data) >= room && bytes.IndexByte(data[:room], ' ') < 0 {
		t.lost = true
		return
	}
	t.head = append(t.head, data[:min(len(data), room)]...)
}

// trackKey is the key of a stream connection's methodTrack: what a message
// read on it says of it.
func trackKey(transport, remote string) string { return transportName(transport) + " " + remote }

// trackRead notes a read of a TCP or TLS connection before its parser
// sees it.
func (s *Side) trackRead(props gosip.TransportReadProps, remote string, data []byte) {
	stream := addrString(props.LocalAddr) + ">" + remote
	key := trackKey(props.Transport, remote)
	s.mu.Lock()
	t := s.methods[key]
	if t == nil || s.streams[stream] == nil {
		// A new connection (perhaps from the address of one gone).
		t = &methodTrack{stream: stream}
		if len(s.methods) >= s.pruneMethodsAt {
			s.pruneMethods()
		}
		s.methods[key] = t
	}
	s.mu.Unlock()
	t.add(data)
}

// pruneMethods forgets the tracks of connections that have left sipgo's
// pool; it runs when the map has doubled since the last time. Under s.mu.
func (s *Side) pruneMethods() {
	for k, t := range s.methods {
		if s.streams[t.stream] == nil {
			delete(s.methods, k)
			continue
		}
		if _, remote, _ := strings.Cut(k, " "); !s.ConnectionOpen(remote) {
			delete(s.methods, k)
		}
	}
	s.pruneMethodsAt = max(64, 2*len(s.methods))
}

// streamMethod puts back the method of a request read on a TCP or TLS
// connection as written (wireMethod), and notes where the next message on
// the connection begins. It runs on the connection's reading goroutine,
// from the parser's callback: the parser's buffer holds what follows msg.
func (s *Side) streamMethod(msg gosip.Message) {
	s.mu.Lock()
	t := s.methods[trackKey(msg.Transport(), msg.Source())]
	var st *stream
	if t != nil {
		st = s.streams[t.stream]
	}
	s.mu.Unlock()
	if t == nil {
		return
	}
	if req, ok := msg.(*gosip.Request); ok && !t.lost && t.complete() {
		wireMethod(req, t.head)
	}
	t.head, t.lost = t.head[:0], false
	if st != nil {
		t.add(st.par.Buffer().Bytes())
	}
}
