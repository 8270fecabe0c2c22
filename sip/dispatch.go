package sip

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"strings"

	gosip "github.com/emiago/sipgo/sip"
)

// Dispatch: a Side takes every read away from sipgo's transaction layer
// (which would hand each message to a goroutine of its own, so that a 183
// read before a 200 may be handled after it) and routes the parsed
// messages itself, on the reading goroutine, to sipgo transaction objects
// of its own and to its Handler. sipgo's transports (sockets, connection
// pool, dialling), parser and transaction state machines are used as they
// are.

// read is the Side's transport read filter. It never returns an error:
// sipgo ends the read loop of a socket whose filter fails.
func (s *Side) read(props gosip.TransportReadProps, data []byte) (out []byte, _ error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error().Interface("panic", r).Str("stack", string(debug.Stack())).
				Str("remote", addrString(props.RemoteAddr)).Msg("handling a SIP read panicked; message dropped")
			out = nil
		}
	}()
	remote := addrString(props.RemoteAddr)
	// Trust is decided once a read: the trace and admit must agree even
	// when the trust list changes meanwhile (a trunk's name resolving).
	trusted := s.trusted(remote)
	if isStream(props.Transport) {
		s.readStream(props, remote, data, trusted)
		return nil, nil
	}
	if !trusted && s.dropUntrustedDatagram(remote, data) {
		return nil, nil
	}
	if len(bytes.Trim(data, "\r\n")) == 0 { // bytes: no copy of every datagram
		// A CRLF keep-alive over UDP (phones and SBCs send them to keep
		// NAT bindings open): nothing to parse, nothing to answer, no
		// error (RFC 5626 §4.4.1 leaves UDP to STUN, but CRLF is common).
		return nil, nil
	}
	msg, err := s.parser.ParseSIP(data)
	if req, ok := msg.(*gosip.Request); ok && errors.Is(err, gosip.ErrParseReadBodyIncomplete) {
		// RFC 3261 §18.3: a datagram that ends before the body its
		// Content-Length announces is an error; a request SHOULD get 400.
		req.SetTransport("UDP")
		req.SetSource(remote)
		s.traceRead(props, data, nil, trusted)
		if s.admit(req, trusted) {
			s.rejectMalformed(req, "Bad Request - Content-Length larger than the message body",
				fmt.Errorf("Content-Length %s but the datagram ends sooner: %w", contentLength(req), err))
		}
		return nil, nil
	}
	if err != nil {
		s.traceRead(props, data, nil, trusted)
		s.unparseable(remote, "udp", err)
		return nil, nil
	}
	msg.SetTransport("UDP")
	msg.SetSource(remote)
	if req, ok := msg.(*gosip.Request); ok {
		wireMethod(req, data)
	}
	s.traceRead(props, data, msg, trusted)
	s.dispatch(msg, trusted, props.LocalAddr)
	return nil, nil
}

func (s *Side) unparseable(remote, transport string, err error) {
	s.stats.Unparseable.Add(1)
	if ok, dropped := s.limit.Allow(); ok {
		s.log.Warn().Err(err).Str("remote", remote).Str("transport", transport).Int("suppressed", dropped).
			Msg("unparseable SIP message dropped")
	}
}

// canonicalTags spells the From and To tag parameters' names "tag":
// parameter names are case-insensitive (RFC 3261 §7.3.1), but sipgo's
// Params.Get, which dialogs and the call registry use, is not, so a peer
// writing ";TAG=" would have its ACK and BYE miss the dialog and its tag
// left out of our requests.
func canonicalTags(msg gosip.Message) {
	if from := msg.From(); from != nil {
		from.Params = canonicalTag(from.Params)
	}
	if to := msg.To(); to != nil {
		to.Params = canonicalTag(to.Params)
	}
}

// canonicalTag also undoes what sipgo's parser makes of the white space
// RFC 3261 §25.1 allows around a parameter's ";" and "=" (SEMI, EQUAL:
// "<sip:a@h> ;tag=x", a folded line, "; tag = x"): a parameter named " "
// (echoed back as "; ;tag=x", which strict peers refuse) and a tag named
// " tag " with the value " x" (a dialog never matched). Names and values
// are trimmed and nameless parameters dropped.
func canonicalTag(p gosip.HeaderParams) gosip.HeaderParams {
	blank := false
	for i := range p {
		if k := p[i].K; k == "" || k[0] <= ' ' || k[len(k)-1] <= ' ' {
			p[i].K = strings.TrimSpace(k)
			blank = blank || p[i].K == ""
		}
		if v := p[i].V; v != "" && (v[0] <= ' ' || v[len(v)-1] <= ' ') {
			p[i].V = strings.TrimSpace(v)
		}
		if k := p[i].K; len(k) == 3 && k != "tag" && strings.EqualFold(k, "tag") {
			p[i].K = "tag"
		}
	}
	if !blank {
		return p
	}
	kept := p[:0]
	for _, kv := range p {
		if kv.K != "" {
			kept = append(kept, kv)
		}
	}
	return kept
}

// dispatch handles a message read at local (our end of its connection, or
// the UDP socket).
func (s *Side) dispatch(msg gosip.Message, trusted bool, local net.Addr) {
	if !s.admit(msg, trusted) || !s.framed(msg) {
		return
	}
	canonicalTags(msg)
	if !s.takeSessionBody(msg) {
		return
	}
	switch m := msg.(type) {
	case *gosip.Request:
		s.dispatchRequest(m)
	case *gosip.Response:
		s.dispatchResponse(m, local)
	}
}

// dispatchResponse hands a response to its client transaction: first to the
// transaction's sink, in wire order, then to sipgo's state machine (which
// stops retransmissions and ACKs a non-2xx final response).
func (s *Side) dispatchResponse(res *gosip.Response, local net.Addr) {
	// Every response handled on goes into dialogs and calls: one without
	// the headers a dialog is made of (RFC 3261 §8.1.3.1: a response
	// missing them is discarded) stops here.
	if cid := res.CallID(); cid == nil || *cid == "" || res.CSeq() == nil || res.From() == nil || res.To() == nil {
		s.unparseable(res.Source(), res.Transport(), errors.New("response without Call-ID, CSeq, From or To"))
		return
	}
	if !isVersion2(res.SipVersion) {
		// A request in another version gets 505 (RFC 3261 §21.5.15); a
		// response cannot be answered: it is not read as one of SIP/2.0.
		s.unparseable(res.Source(), res.Transport(), fmt.Errorf("response in %q, not SIP/2.0", res.SipVersion))
		return
	}
	key, err := gosip.ClientTxKeyMake(res)
	if err != nil {
		s.unparseable(res.Source(), res.Transport(), fmt.Errorf("response without transaction key: %w", err))
		return
	}
	s.mu.Lock()
	ct := s.clients[key]
	s.mu.Unlock()
	if ct == nil {
		s.handler.HandleStrayResponse(s, res)
		return
	}
	ct.heard(res, local)
	ct.sink.OnResponse(ct, res)
	if ct.reack(res) {
		s.stats.Retransmissions.Add(1)
		return
	}
	ct.tx.Receive(res)
}

// dispatchRequest gives a request its server transaction (a new one, or
// the one it retransmits) and, when new, hands it to the handler. A CANCEL
// gets a transaction of its own and is never fed to the INVITE's: sipgo
// would answer the INVITE 487 itself, with a To-tag of its own.
func (s *Side) dispatchRequest(req *gosip.Request) {
	key, err := gosip.ServerTxKeyMake(req)
	if err != nil {
		s.rejectMalformed(req, "Bad Request", err)
		return
	}
	s.mu.Lock()
	tx := s.servers[key]
	s.mu.Unlock()
	if req.IsAck() {
		if tx != nil {
			// The ACK of a non-2xx final response (same branch as the INVITE).
			_ = tx.Receive(req)
		}
		s.handler.HandleRequest(&Incoming{Req: req, Side: s})
		return
	}
	if tx != nil {
		s.stats.Retransmissions.Add(1)
		_ = tx.Receive(req)
		return
	}
	conn, err := s.replyConnection(req)
	if err != nil {
		s.log.Debug().Err(err).Str("method", req.Method.String()).Msg("no connection to answer on; request dropped")
		return
	}
	tx = gosip.NewServerTx(key, req, conn, s.stack.Slog())
	if err := tx.Init(); err != nil {
		_, _ = conn.TryClose()
		s.log.Debug().Err(err).Msg("server transaction not started")
		return
	}
	s.mu.Lock()
	s.servers[key] = tx
	s.mu.Unlock()
	tx.OnTerminate(func(key string, _ error) {
		s.mu.Lock()
		if s.servers[key] == tx {
			delete(s.servers, key)
		}
		s.mu.Unlock()
	})
	s.handler.HandleRequest(&Incoming{Req: req, Side: s, tx: tx})
}

// rejectMalformed answers statelessly a request no transaction can be made
// of (no Via, CSeq, ...), as sipgo's transaction layer does: without an
// answer the sender would retransmit it for 32 s.
func (s *Side) rejectMalformed(req *gosip.Request, phrase string, why error) {
	s.refuse(req, 400, phrase, why, "malformed request: 400")
}

// refuse answers req statelessly with code (an ACK gets nothing), counted
// as Malformed and logged, rate-limited, with msg.
func (s *Side) refuse(req *gosip.Request, code int, phrase string, why error, msg string, hdrs ...gosip.Header) {
	s.stats.Malformed.Add(1)
	if ok, dropped := s.limit.Allow(); ok {
		s.log.Warn().Err(why).Str("remote", req.Source()).Str("method", req.Method.String()).Int("suppressed", dropped).Msg(msg)
	}
	if req.IsAck() {
		return
	}
	res := newResponse(req, code, phrase, "", nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	res.SetDestination(responseDestination(req))
	if err := s.WriteResponse(res); err != nil {
		s.log.Debug().Err(err).Int("code", code).Msg("response to a refused request not sent")
	}
	if h, ok := s.handler.(RefusalHandler); ok {
		h.HandleRefused(req)
	}
}

// takeSessionBody leaves msg's body the SDP the B2BUA reads (sessionBody).
// An INVITE, UPDATE or PRACK whose body offers nothing we can read gets
// 415 with Accept (RFC 3261 §8.2.3, RFC 5621 §9.1) and goes no further;
// an ACK or response like that goes on as it is, as nothing can refuse it
// (its body is then no usable SDP, as any bad SDP).
func (s *Side) takeSessionBody(msg gosip.Message) bool {
	switch m := msg.(type) {
	case *gosip.Request:
		err := sessionBody(m)
		if err == nil || m.IsAck() || (m.Method != gosip.INVITE && m.Method != gosip.UPDATE && m.Method != gosip.PRACK) {
			return true
		}
		s.refuse(m, 415, "Unsupported Media Type", err, "request body is not SDP: 415",
			gosip.NewHeader("Accept", sdpType))
		return false
	case *gosip.Response:
		_ = sessionBody(m)
	}
	return true
}

// contentLength is the request's Content-Length value, "" without one.
func contentLength(req *gosip.Request) string {
	if cl := req.ContentLength(); cl != nil {
		return cl.Value()
	}
	return ""
}

func addrString(a interface{ String() string }) string {
	if a == nil {
		return ""
	}
	return a.String()
}
