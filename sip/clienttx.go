package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

// ResponseSink receives what happens to a client transaction.
type ResponseSink interface {
	// OnResponse gets each response of the transaction (retransmissions
	// too) on the reading goroutine, in wire order. It must not block.
	OnResponse(tx *ClientTx, res *gosip.Response)
	// OnDone is called once, when the transaction has ended: err is nil
	// after a final response, else it says why none came (ErrTimeout,
	// ErrTransport, or a termination by Terminate). One exception: an
	// INVITE given up after its connection closed while ringing
	// (ClosedWait) has OnDone(ErrTransport) at once while its transaction
	// goes on a while to take its final response; responses may then
	// follow OnDone, to be treated as those of an INVITE given up on.
	OnDone(tx *ClientTx, err error)
}

// Errors a client transaction ends with.
var (
	// ErrTimeout: no final response before Timer B/F (64*T1).
	ErrTimeout = errors.New("sip: transaction timed out")
	// ErrTransport: the request could not be sent, or a retransmission
	// failed (TCP connection refused or closed), or the TCP or TLS
	// connection an INVITE went on ended before its final response
	// (lostConnection).
	ErrTransport = errors.New("sip: transport error")
)

// ClientTx is a request this side sent, with sipgo's client transaction
// (retransmissions over UDP, Timer B/F) under it.
type ClientTx struct {
	// Req is the request as sent.
	Req  *gosip.Request
	side *Side
	tx   *gosip.ClientTx
	sink ResponseSink
	// acks is an INVITE's connection, which keeps its ACK of a non-2xx
	// final response (see reack); unused for other methods. A field, not
	// an object of its own: one allocation fewer per call.
	acks ackRecorder
	// conn is the TCP or TLS connection an INVITE went on (nil over UDP,
	// for other methods, or when sipgo dialled it: connwatch.go); final: a
	// final response came; provisional: a 1xx came; elsewhere: a response
	// came over another connection (the peer answers over a new one, RFC
	// 3261 §18.2.2).
	conn                          *watchedConn
	final, provisional, elsewhere atomic.Bool
	// finalFrom is where the final response came from (res.Source()),
	// for an INVITE on a connection the peer opened: its ACK goes back
	// there when that connection has ended (ackRecorder).
	finalFrom atomic.Pointer[string]
	// awayFrom is where the final response came from when that was
	// another connection than the INVITE's (ackRecorder).
	awayFrom atomic.Pointer[string]
}

// heard notes, before the state machine has it, a response read at local
// (the address of our end of its connection).
func (t *ClientTx) heard(res *gosip.Response, local net.Addr) {
	if t.conn == nil {
		if res.StatusCode >= 200 {
			t.final.Store(true)
		} else {
			t.provisional.Store(true)
		}
		return
	}
	// Whether it came over another connection than the INVITE's: worked
	// out once (carried formats our address).
	away := !t.conn.carried(res.Source(), local)
	if res.StatusCode >= 200 {
		t.final.Store(true)
		if t.conn.accepted && t.finalFrom.Load() == nil {
			src := res.Source()
			t.finalFrom.Store(&src)
		}
		if away && t.awayFrom.Load() == nil {
			src := res.Source()
			t.awayFrom.Store(&src)
		}
	} else {
		t.provisional.Store(true)
	}
	if away && !t.elsewhere.Load() {
		t.elsewhere.Store(true)
	}
}

// lostConnection is the end of an INVITE whose connection ended before its
// final response, when that connection was the only way its responses
// came: nothing more can come back on it, and an SBC that resets the
// connection of a call has dropped the call, so the transaction fails now
// as a transport error (RFC 3261 §8.1.3.1, §17.1.4) instead of waiting for
// Timer B or, after a provisional, for ever. nil: the transaction goes on
// (it has its final response, or responses came over another connection,
// which may bring the rest). An orderly close (the peer's FIN, or our own
// close) after a provisional is no loss either: a peer, or a firewall,
// that closes an idle connection during a long ring answers over a new
// one to our Via (RFC 3261 §18.2.2), and failing over then could ring the
// called party twice; only a reset or a read error says the call is gone.
// Such an INVITE waits ClosedWait at most for a response over another
// connection (drain).
func (t *ClientTx) lostConnection() error {
	if t.final.Load() || t.elsewhere.Load() || t.provisional.Load() && t.conn.orderly() {
		return nil
	}
	return fmt.Errorf("%w: connection %s>%s ended before a final response: %w", ErrTransport,
		t.conn.LocalAddr(), t.conn.RemoteAddr(), t.conn.Err())
}

// ackRecorder is the connection of an INVITE's client transaction. It
// keeps the ACK sipgo writes for a non-2xx final response, so that the
// response's retransmissions are ACKed again here (reack) and never fed
// back to sipgo: its state machine waits T2 (4 s) before re-sending that
// ACK (its "ACK loop" guard), on the goroutine that delivered the response,
// which is the socket's reader, so one retransmitted 486 would stall every
// call on the socket for 4 s.
//
// Over TCP or TLS it also takes an ACK that the INVITE's connection can no
// longer carry (the peer closed it and answered over a new one, RFC 3261
// §18.2.2) to the INVITE's destination over another connection, as RFC
// 3261 §17.1.1.3 would have it: sipgo writes it to the old one.
type ackRecorder struct {
	gosip.Connection
	ack atomic.Pointer[gosip.Request]
	// t is the INVITE's transaction when its connection is one we watch.
	t *ClientTx
}

func (c *ackRecorder) WriteMsg(msg gosip.Message) error {
	req, ok := msg.(*gosip.Request)
	if !ok || !req.IsAck() {
		return c.Connection.WriteMsg(msg)
	}
	c.ack.Store(req)
	if c.t != nil {
		select {
		case <-c.t.conn.Dead():
			// Not from here: this is the goroutine that reads the
			// connection the response came on, and a dial may wait.
			// A copy: the recorded ACK may be sent again (reack).
			ack := req.Clone()
			ack.SetDestination(c.t.Req.Destination())
			if from := c.t.finalFrom.Load(); from != nil && *from != "" {
				// The INVITE went on a connection the peer opened, to
				// its ephemeral port, where nothing listens: the ACK
				// goes back the way the response came (the peer's new
				// connection, RFC 5923-style reuse).
				ack.SetDestination(*from)
			}
			ack.SetTransport(c.t.Req.Transport())
			go c.t.side.ackAnew(ack)
			return nil
		default:
		}
		if from := c.t.awayFrom.Load(); from != nil && *from != "" {
			// The final response came over another connection than the
			// INVITE's, which is not seen to have ended: a peer that
			// answers so has often closed it, and the ACK written there
			// before we read its end is lost. A copy goes back the way
			// the response came too: the peer's transaction absorbs a
			// second ACK (RFC 3261 §17.2.1), or, ended (Timer I is 0
			// over TCP), matches it with nothing and drops it.
			ack := req.Clone()
			ack.SetDestination(*from)
			ack.SetTransport(c.t.Req.Transport())
			go c.t.side.ackAnew(ack)
		}
	}
	return c.Connection.WriteMsg(msg)
}

// ackAnew sends ack, the ACK of a non-2xx final response whose INVITE's
// connection has ended, over another connection to the INVITE's
// destination (an open one, else a new one), within the side's dial
// timeout.
func (s *Side) ackAnew(ack *gosip.Request) {
	ctx, cancel := context.WithTimeout(context.Background(), s.dial)
	defer cancel()
	if err := s.WriteRequest(ctx, ack); err != nil {
		s.log.Debug().Err(err).Str("call_id", ack.CallID().Value()).Msg("ACK of a final response over a new connection not sent")
	}
}

// reack answers a retransmission of the non-2xx final response t has ACKed
// already by sending that ACK again (RFC 3261 §17.1.1.2); false when res is
// not one (t is not an INVITE, res is a 1xx or 2xx, or no ACK went yet: the
// first final response goes to sipgo, which builds the ACK).
func (t *ClientTx) reack(res *gosip.Response) bool {
	if t.acks.Connection == nil || res.StatusCode < 300 {
		return false
	}
	ack := t.acks.ack.Load()
	if ack == nil {
		return false
	}
	if err := t.acks.WriteMsg(ack); err != nil {
		t.side.log.Debug().Err(err).Msg("ACK of a retransmitted final response not sent")
	}
	return true
}

// Side is the side that sent the request.
func (t *ClientTx) Side() *Side { return t.side }

// Done is closed when the transaction has ended.
func (t *ClientTx) Done() <-chan struct{} { return t.tx.Done() }

// Terminate ends the transaction now (its sink's OnDone follows, unless
// it came already: see ResponseSink); later responses to it are stray.
func (t *ClientTx) Terminate() { t.tx.Terminate() }

// discard is a sink for transactions whose outcome does not matter (a
// CANCEL: the INVITE's final response says what happened).
type discard struct{}

func (discard) OnResponse(*ClientTx, *gosip.Response) {}
func (discard) OnDone(*ClientTx, error)               {}

// Discard is a sink that ignores everything.
var Discard ResponseSink = discard{}

// Send sends req in a new client transaction; sink gets its responses. req
// must be complete but for Via, which Send adds when missing. Over UDP the
// request leaves from the side's listening socket (the port in our Via),
// whatever its destination; over TCP an open connection to the destination
// is reused, else one is dialled. The error is ErrTransport-wrapped when
// the request could not be written.
func (s *Side) Send(ctx context.Context, req *gosip.Request, sink ResponseSink) (*ClientTx, error) {
	if sink == nil {
		sink = Discard
	}
	conn, err := s.prepare(ctx, req)
	if err != nil {
		return nil, err
	}
	key, err := gosip.ClientTxKeyMake(req)
	if err != nil {
		_, _ = conn.TryClose()
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.Recipient.String(), err)
	}
	ct := &ClientTx{Req: req, side: s, sink: sink}
	if req.IsInvite() {
		ct.conn = watchOf(conn)
		ct.acks.Connection = conn
		if ct.conn != nil {
			ct.acks.t = ct
		}
		conn = &ct.acks
	}
	ct.tx = gosip.NewClientTx(key, req, conn, s.stack.Slog())
	s.mu.Lock()
	if s.clients[key] != nil {
		s.mu.Unlock()
		_, _ = conn.TryClose()
		return nil, fmt.Errorf("%s: transaction %s already exists", req.Method, key)
	}
	s.clients[key] = ct
	s.mu.Unlock()
	ct.tx.OnTerminate(func(key string, _ error) {
		s.mu.Lock()
		if s.clients[key] == ct {
			delete(s.clients, key)
		}
		s.mu.Unlock()
	})
	if err := ct.tx.Init(); err != nil {
		ct.tx.Terminate()
		return nil, fmt.Errorf("send %s to %s: %w: %w", req.Method, req.Destination(), ErrTransport, err)
	}
	go ct.drain()
	return ct, nil
}

// drain reads sipgo's response channel, which blocks the transaction until
// read; the sink already has the responses, in wire order, from dispatch.
func (t *ClientTx) drain() {
	var dead <-chan struct{} // nil (never ready) without a watched connection
	if t.conn != nil {
		dead = t.conn.Dead()
	}
	var lost error
	var wait <-chan time.Time  // after an orderly close while ringing
	var bound <-chan time.Time // after giving up on that wait
	reported := false
	for {
		select {
		case <-t.tx.Responses():
		case <-dead:
			dead = nil
			if lost = t.lostConnection(); lost != nil {
				t.tx.Terminate() // Done follows
			} else if !t.final.Load() && !t.elsewhere.Load() {
				// Closed in order while ringing: a response may come over
				// a new connection, but not for ever (an SBC process that
				// dies closes its connections in order too).
				timer := time.NewTimer(t.side.closedWait)
				defer timer.Stop()
				wait = timer.C
			}
		case <-wait:
			wait = nil
			if !t.final.Load() && !t.elsewhere.Load() {
				lost = fmt.Errorf("%w: connection %s>%s closed while ringing, and no response over another within %v", ErrTransport,
					t.conn.LocalAddr(), t.conn.RemoteAddr(), t.side.closedWait)
				// The peer closed in order and may still ring the
				// called party: CANCEL the INVITE (over a new
				// connection) before the call goes elsewhere, so that
				// it does not ring on, or answer a call no one is on.
				// The sink has the end now; the transaction stays to
				// take the INVITE's final response (its 487 is ACKed,
				// a 2xx goes to the sink, whose call is done with it),
				// for another ClosedWait at most.
				go t.cancelLost()
				t.sink.OnDone(t, lost)
				reported = true
				timer := time.NewTimer(t.side.closedWait)
				defer timer.Stop()
				bound = timer.C
			}
		case <-bound:
			bound = nil
			t.tx.Terminate()
		case <-t.tx.Done():
			if reported {
				return
			}
			err := doneError(t.tx.Err())
			if lost != nil && !t.final.Load() {
				err = lost
			}
			t.sink.OnDone(t, err)
			return
		}
	}
}

func doneError(err error) error {
	switch {
	case err == nil, errors.Is(err, gosip.ErrTransactionTerminated):
		return nil
	case errors.Is(err, gosip.ErrTransactionTimeout):
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	case errors.Is(err, gosip.ErrTransactionTransport):
		return fmt.Errorf("%w: %w", ErrTransport, err)
	}
	return err
}

// prepare adds our Via, pins UDP to the listening socket and finds (or
// dials) the connection for req.
func (s *Side) prepare(ctx context.Context, req *gosip.Request) (gosip.Connection, error) {
	if req.MessageData.Destination() == "" {
		// sipgo works the destination out of the Route or Request-URI on
		// every Destination call (a scan of the headers and a Sprintf), a
		// handful of times per request on its way out: once is enough.
		req.SetDestination(req.Destination())
	}
	// hasHeader, not sipgo's typed getters: they scan and lower-case every
	// header name when the header is absent, as these usually are.
	if !hasHeader(req, "Via") {
		req.PrependHeader(s.Via(req.Transport()))
	}
	if !IsTCP(req) {
		a := s.Addr()
		req.Laddr = gosip.Addr{IP: net.IP(a.Addr().AsSlice()), Port: int(a.Port())}
	} else if ip := s.stack.localIP(); ip.IsValid() {
		// A connection sipgo dials leaves from our listening IP (any
		// port: sipgo reuses an open connection to the destination
		// first, and binds only when it dials).
		req.Laddr = gosip.Addr{IP: net.IP(ip.AsSlice())}
	}
	if !hasHeader(req, "Max-Forwards") {
		mf := gosip.MaxForwardsHeader(70)
		req.AppendHeader(&mf)
	}
	if !hasHeader(req, "User-Agent") && s.ua != "" {
		req.AppendHeader(gosip.NewHeader("User-Agent", s.ua))
	}
	if !hasHeader(req, "Content-Length") {
		cl := gosip.ContentLengthHeader(len(req.Body()))
		req.AppendHeader(&cl)
	}
	if err := checkUDPSize(req.Transport(), req); err != nil {
		// sipgo would refuse the write; say why instead of "transport
		// error" (RFC 3261 §18.1.1 would have us switch to TCP, but a
		// trunk's transport is configured: a UDP-only SBC has no TCP).
		s.tooLarge("request", req, req.StartLine(), req.Destination(), err)
		return nil, fmt.Errorf("send %s to %s: %w", req.Method, req.Destination(), err)
	}
	dctx := ctx
	if IsTCP(req) || !isIPAddrPort(req.Destination()) {
		// A dial, or a DNS lookup, is bounded; a UDP request to an IP
		// address waits for nothing (the socket is the listener's), and
		// a timer per request would cost an allocation or three for
		// nothing.
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(ctx, s.dial)
		defer cancel()
	}
	if err := s.stack.ensureStream(dctx, req); err != nil {
		return nil, fmt.Errorf("send %s to %s: %w: %w", req.Method, req.Destination(), ErrTransport, err)
	}
	conn, err := s.tpl.ClientRequestConnection(dctx, req)
	if err != nil {
		return nil, fmt.Errorf("send %s to %s: %w: %w", req.Method, req.Destination(), ErrTransport, err)
	}
	return s.tapped(conn, req.Transport()), nil
}

// isIPAddrPort reports a destination that is an IP address and port,
// which sipgo resolves without DNS.
func isIPAddrPort(dest string) bool {
	host, _, err := net.SplitHostPort(dest)
	if err != nil {
		return false
	}
	_, err = netip.ParseAddr(host)
	return err == nil
}

// WriteRequest sends req outside any transaction: the ACK of a 2xx.
func (s *Side) WriteRequest(ctx context.Context, req *gosip.Request) error {
	conn, err := s.prepare(ctx, req)
	if err != nil {
		return err
	}
	defer conn.TryClose()
	if err := conn.WriteMsg(req); err != nil {
		return fmt.Errorf("send %s to %s: %w: %w", req.Method, req.Destination(), ErrTransport, err)
	}
	return nil
}

// cancelLost CANCELs an INVITE given up after its connection was closed
// in order while ringing, within the side's dial timeout; its outcome,
// like any CANCEL's, is not reported.
func (t *ClientTx) cancelLost() {
	if t.final.Load() {
		return // answered as the wait ran out: a CANCEL would do nothing (RFC 3261 §9.1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), t.side.dial)
	defer cancel()
	if err := t.Cancel(ctx); err != nil {
		t.side.log.Debug().Err(err).Str("call_id", t.Req.CallID().Value()).Msg("CANCEL of an INVITE whose connection closed while ringing not sent")
	}
}

// Cancel sends a CANCEL for the INVITE of t (RFC 3261 §9.1: same
// Request-URI, Call-ID, From, To, CSeq number and top Via as the INVITE),
// in a transaction of its own whose outcome is not reported: the INVITE's
// final response (487, or a 2xx that raced it) is what counts. extra are
// added to it (the Reason of the CANCEL or BYE that ended the call:
// RFC 3326).
func (t *ClientTx) Cancel(ctx context.Context, extra ...gosip.Header) error {
	inv := t.Req
	if !inv.IsInvite() {
		return fmt.Errorf("cancel: %s is not an INVITE", inv.Method)
	}
	c := cancelOf(inv, extra...)
	c.SetDestination(inv.Destination())
	if _, err := t.side.Send(ctx, c, Discard); err != nil {
		return err
	}
	// RFC 3261 §9.1: with no final response 64*T1 after the CANCEL, the
	// INVITE's transaction is destroyed (a peer may answer the CANCEL and
	// never the INVITE).
	time.AfterFunc(t.side.cancelWait, func() {
		select {
		case <-t.tx.Done():
		default:
			t.side.log.Debug().Str("call_id", inv.CallID().Value()).Msg("CANCELled INVITE without a final response: transaction ended")
			t.tx.Terminate()
		}
	})
	return nil
}

// cancelOf builds the CANCEL of inv (RFC 3261 §9.1), with extra.
func cancelOf(inv *gosip.Request, extra ...gosip.Header) *gosip.Request {
	c := ofTransaction(gosip.CANCEL, inv, inv.To())
	for _, h := range extra {
		c.AppendHeader(h)
	}
	return c
}

// ofTransaction builds a request of inv's transaction, a CANCEL (RFC 3261
// §9.1) or the ACK of a non-2xx (§17.1.1.3): inv's Request-URI, top Via
// (so its branch), Route, From, Call-ID and CSeq number, with to as its To.
func ofTransaction(method gosip.RequestMethod, inv *gosip.Request, to *gosip.ToHeader) *gosip.Request {
	r := gosip.NewRequest(method, inv.Recipient)
	r.SipVersion = inv.SipVersion
	r.AppendHeader(inv.Via().Clone())
	gosip.CopyHeaders("Route", inv, r)
	mf := gosip.MaxForwardsHeader(70)
	r.AppendHeader(&mf)
	for _, h := range []gosip.Header{inv.From(), to, inv.CallID()} {
		if h != nil {
			r.AppendHeader(gosip.HeaderClone(h))
		}
	}
	r.AppendHeader(&gosip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: method})
	r.SetTransport(inv.Transport())
	r.Laddr = inv.Laddr
	return r
}

// CancelLost CANCELs inv, an INVITE of ours whose client transaction ended
// with its TCP or TLS connection (ErrTransport) while its responses still
// come over another one (RFC 3261 §18.2.2), in a transaction of its own
// whose outcome is not reported. It goes to dest, where the far side's
// latest response came from ("" for the INVITE's destination), over the
// connection open there or a new one; not waited for, since a dial may
// take the side's dial timeout.
func (s *Side) CancelLost(inv *gosip.Request, dest string) {
	c := cancelOf(inv)
	if dest == "" {
		dest = inv.Destination()
	}
	c.SetDestination(dest)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.dial)
		defer cancel()
		if _, err := s.Send(ctx, c, Discard); err != nil {
			s.log.Debug().Err(err).Str("call_id", inv.CallID().Value()).Msg("CANCEL of an INVITE whose connection ended not sent")
		}
	}()
}

// AckLost acknowledges res, a non-2xx final response to inv, an INVITE of
// ours whose client transaction ended with its TCP or TLS connection and
// which the far side answered over another one (RFC 3261 §18.2.2): the
// transaction's ACK (§17.1.1.3: the INVITE's top Via, so its branch, and
// its Route, From, Call-ID and CSeq number, with the response's To), back
// over the connection res came on; not waited for, as ackAnew. Without it
// the far side's transaction waits for its Timer H.
func (s *Side) AckLost(inv *gosip.Request, res *gosip.Response) {
	ack := ofTransaction(gosip.ACK, inv, res.To())
	ack.SetDestination(res.Source())
	go s.ackAnew(ack)
}

// LocalAddr is the side's address as a netip value.
func (s *Side) LocalAddr() netip.AddrPort { return s.Addr() }
