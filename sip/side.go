package sip

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

// SideConfig says where one side of the B2BUA listens and how it introduces
// itself.
type SideConfig struct {
	// Name is "edge" or "gateway"; it appears in every log line of the side.
	Name string
	// Listen is IP:PORT for UDP and TCP; port 0 picks one free for both.
	Listen netip.AddrPort
	// UserAgent is the User-Agent / Server header value.
	UserAgent string
	Log       zerolog.Logger
	// Handler receives the side's requests and stray responses.
	Handler Handler
	// Tracer, when set, sees every message the side reads or writes, at
	// the transport: sipgo's own (100 Trying, retransmissions, the ACK of a
	// non-2xx) too.
	Tracer Tracer
	// DialTimeout bounds a TCP connect (sipgo's default is a minute).
	DialTimeout time.Duration
	// ClosedWait is how long an INVITE that has had a provisional waits,
	// once its TCP or TLS connection was closed in order, for a response
	// over a new connection before it fails as a transport error
	// (ClientTx.drain); 0: 70 s, as a ringing UAS sends a provisional at
	// least once a minute (RFC 3261 §13.3.1.1).
	ClosedWait time.Duration
	// CancelWait is how long an INVITE we CANCELled waits for its final
	// response once the CANCEL went before its transaction is ended (RFC
	// 3261 §9.1: 64*T1); 0: sipgo's Timer B (64*T1). A peer that answers
	// the CANCEL but never the INVITE would otherwise keep it for ever.
	CancelWait time.Duration
	// Trust, when set, is the only sources the side takes messages from
	// (trust.go); nil takes every source.
	Trust *Trust
	// TLS, when set, adds a TLS listener and TLS towards peers (tls.go).
	TLS *TLSConfig
	// Conn bounds the TCP and TLS connections peers open (connlimit.go).
	Conn ConnLimits
	// UDPBuffer is StackConfig.UDPBuffer.
	UDPBuffer int
}

// Handler is what a Side hands its traffic to. Both methods run on the
// goroutine that read the message from its socket or connection, in the
// order the messages were read: that order is what keeps a call's events
// in wire order (sipgo's own transaction layer would hand each message to a
// goroutine of its own). They must not block.
type Handler interface {
	// HandleRequest gets every request that is new to its transaction:
	// retransmissions are absorbed by the transaction (which repeats its
	// last response). ACKs come with no transaction.
	HandleRequest(in *Incoming)
	// HandleStrayResponse gets a response that matches no client
	// transaction: a 2xx retransmission after its INVITE transaction ended,
	// or a 2xx of another fork.
	HandleStrayResponse(side *Side, res *gosip.Response)
}

// RefusalHandler is a Handler that is told of each request the side
// refuses by itself, before any transaction (400 for a missing Via or
// CSeq, 415 for a body that is no SDP), once the response is written: a
// request HandleRequest never gets.
type RefusalHandler interface {
	HandleRefused(req *gosip.Request)
}

// Stats are a side's transport-level counters.
type Stats struct {
	// Unparseable counts reads that were not a SIP message.
	Unparseable atomic.Uint64
	// Malformed counts requests refused because they cannot be acted on:
	// 400 (a mandatory header missing or invalid, Content-Length values
	// that differ, ...), 415 (a body that holds no SDP we can read) or 505
	// (a SIP version other than SIP/2.0).
	Malformed atomic.Uint64
	// Retransmissions counts requests absorbed by their transaction.
	Retransmissions atomic.Uint64
	// Untrusted counts requests from sources outside the side's Trust,
	// dropped or refused with 403.
	Untrusted atomic.Uint64
	// UntrustedResponses counts responses from such sources, dropped.
	UntrustedResponses atomic.Uint64
	// ResponsesTooLarge counts responses that did not fit in a UDP
	// datagram (a final one was replaced by 513 Message Too Large);
	// RequestsTooLarge requests that could not be sent for their size.
	ResponsesTooLarge, RequestsTooLarge atomic.Uint64
	// DialBacks counts connections opened back to a peer whose request's
	// TCP or TLS connection had closed before its response (reply.go);
	// DialBackFailures those that could not be opened (the response is
	// lost).
	DialBacks, DialBackFailures atomic.Uint64
}

// Side is one network side of the B2BUA (edge or gateway): a Stack whose
// reads it takes over before sipgo's transaction layer sees them, its own
// table of sipgo server and client transactions, and the request builders
// of a B2BUA. Messages are parsed on the reading goroutine and handed on in
// wire order; responses go back through the transaction they belong to.
type Side struct {
	Name string

	stack      *Stack
	tpl        *gosip.TransportLayer
	parser     *gosip.Parser
	handler    Handler
	tracer     Tracer
	tap        WriteTap
	log        zerolog.Logger
	ua         string
	dial       time.Duration
	closedWait time.Duration
	cancelWait time.Duration
	stats      Stats
	limit      Limiter
	trust      *Trust
	// untrustedLog limits the log of untrusted requests on its own, so
	// that a flood of them does not hide other warnings.
	untrustedLog Limiter
	// sizeLog limits the log of messages too large for UDP (size.go).
	sizeLog Limiter

	mu      sync.Mutex
	servers map[string]*gosip.ServerTx
	clients map[string]*ClientTx
	streams map[string]*stream
	// condemned are the stream connections closed because their framing
	// cannot be trusted (framing.go), by "network remote"; nCondemned is
	// their number, read without the lock on every stream message.
	condemned  map[string]gosip.Connection
	nCondemned atomic.Int32
	// msgTimeout closes a stream connection whose message stays incomplete
	// that long (ConnLimits.MessageTimeout).
	msgTimeout time.Duration
	stop       context.CancelFunc
	swept      chan struct{}
	// streamHandled, when set (by tests, before Start), is told how many
	// bytes of a stream read from remote the side has finished handling.
	streamHandled func(remote string, n int)
}

// NewSide binds the side's sockets and builds its stack. Nothing is read
// until Start.
func NewSide(cfg SideConfig) (*Side, error) {
	if cfg.Handler == nil {
		return nil, fmt.Errorf("%s side: no handler", cfg.Name)
	}
	s := &Side{
		Name: cfg.Name, parser: newParser(), handler: cfg.Handler, tracer: cfg.Tracer,
		ua: cfg.UserAgent, dial: cfg.DialTimeout, closedWait: cfg.ClosedWait, cancelWait: cfg.CancelWait, trust: cfg.Trust, msgTimeout: cfg.Conn.MessageTimeout,
		servers: map[string]*gosip.ServerTx{}, clients: map[string]*ClientTx{}, streams: map[string]*stream{},
	}
	if s.dial <= 0 {
		s.dial = 10 * time.Second
	}
	if s.closedWait <= 0 {
		s.closedWait = 70 * time.Second
	}
	if s.cancelWait <= 0 {
		s.cancelWait = gosip.Timer_B
	}
	s.tap = s.tapWrite(cfg.Tracer)
	cfg.Conn.trust = cfg.Trust // accepted connections are told apart by it (connlimit.go)
	stack, err := NewStack(StackConfig{Name: cfg.Name, Listen: cfg.Listen, UserAgent: cfg.UserAgent, Log: cfg.Log, ReadFilter: s.read, TLS: cfg.TLS, Conn: cfg.Conn, UDPBuffer: cfg.UDPBuffer})
	if err != nil {
		return nil, fmt.Errorf("%s side: %w", cfg.Name, err)
	}
	s.stack, s.tpl, s.log = stack, stack.UA.TransportLayer(), *stack.Log()
	if got := stack.UDPBuffers(); got.short(cfg.UDPBuffer) {
		// The system's cap (net.core.rmem_max) won. The server's operator
		// can act on it; the lab kit's endpoints only note it (debug).
		s.log.Warn().Str("hint", "raise net.core.rmem_max and net.core.wmem_max, or run with CAP_NET_ADMIN").
			Int("udp_buffer_asked_bytes", cfg.UDPBuffer).Int("udp_read_buffer_bytes", got.Read).
			Int("udp_write_buffer_bytes", got.Write).Msg("udp socket buffers smaller than asked")
	}
	return s, nil
}

// Start serves the side's listeners; see Stack.Start.
func (s *Side) Start() error {
	ctx, stop := context.WithCancel(context.Background())
	s.mu.Lock()
	s.stop, s.swept = stop, make(chan struct{})
	s.mu.Unlock()
	go s.sweep(ctx)
	return s.stack.Start()
}

// Wait blocks until ctx is done or a listener fails, then closes the side.
// It returns nil after ctx is done, else the listener's error.
func (s *Side) Wait(ctx context.Context) error {
	var err error
	select {
	case <-ctx.Done():
	case err = <-s.stack.Failed():
	}
	s.Close()
	if ctx.Err() != nil || err == nil {
		return nil
	}
	return fmt.Errorf("%s side: %w", s.Name, err)
}

// Close stops the side: sockets, transactions, connections. Idempotent.
func (s *Side) Close() {
	s.mu.Lock()
	stop, swept := s.stop, s.swept
	s.stop = nil
	s.mu.Unlock()
	if stop != nil {
		stop()
		<-swept
	}
	if err := s.stack.Close(); err != nil {
		s.log.Debug().Err(err).Msg("closing the side")
	}
	// Our transactions are not in sipgo's transaction layer, which the
	// stack has just closed: end them here, with their timers and
	// goroutines.
	s.mu.Lock()
	clients := make([]*ClientTx, 0, len(s.clients))
	for _, ct := range s.clients {
		clients = append(clients, ct)
	}
	servers := make([]*gosip.ServerTx, 0, len(s.servers))
	for _, tx := range s.servers {
		servers = append(servers, tx)
	}
	s.mu.Unlock()
	for _, ct := range clients {
		ct.Terminate()
	}
	for _, tx := range servers {
		tx.Terminate()
	}
}

// Addr is the side's SIP address, the same for UDP and TCP.
func (s *Side) Addr() netip.AddrPort { return s.stack.Addr() }

// Log is the side's logger.
func (s *Side) Log() *zerolog.Logger { return &s.log }

// Stats are the side's transport-level counters.
func (s *Side) Stats() *Stats { return &s.stats }

// Transactions reports the server and client transactions in progress
// (their table entries: a leak check for tests and soaks).
func (s *Side) Transactions() (server, client int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.servers), len(s.clients)
}

// ConnStats counts the TCP and TLS connections the side's limits refused
// or closed.
func (s *Side) ConnStats() *ConnStats { return s.stack.ConnStats() }

// Contact is the side's Contact header for a transport.
func (s *Side) Contact(transport string) gosip.ContactHeader {
	return s.stack.Contact("", transport)
}

// ContactFor is the side's Contact in a response to req over req's
// transport: a SIPS URI when req came over TLS with a SIPS Request-URI,
// a SIPS top Record-Route, or, without Record-Route, a SIPS Contact
// (RFC 3261 §12.1.1, and §8.1.1.8 for the in-dialog requests that then
// target it: the peer's remote target is then sips:, and so is our
// Contact in our own requests of the dialog, Dialog.OurContact).
func (s *Side) ContactFor(req *gosip.Request) gosip.ContactHeader {
	c := s.Contact(req.Transport())
	if !strings.EqualFold(req.Transport(), "tls") {
		return c
	}
	// The top Record-Route, when there is one, is where the dialog's
	// requests go first, else the peer's Contact: that hop is the one
	// whose scheme counts, a sips: Contact behind a sip: proxy does not.
	secure := strings.EqualFold(req.Recipient.Scheme, "sips")
	if rr := req.RecordRoute(); rr != nil {
		secure = secure || strings.EqualFold(rr.Address.Scheme, "sips")
	} else if pc := req.Contact(); pc != nil {
		secure = secure || strings.EqualFold(pc.Address.Scheme, "sips")
	}
	return sipsIf(c, secure)
}

// sipsIf is Contact c as a SIPS URI when secure.
func sipsIf(c gosip.ContactHeader, secure bool) gosip.ContactHeader {
	if secure {
		c.Address.Scheme = "sips"
		c.Address.UriParams = nil // TLS is what sips means (RFC 5630 §3.1.3: transport=tls is deprecated)
	}
	return c
}

// UserAgent is the side's User-Agent / Server value.
func (s *Side) UserAgent() string { return s.ua }

// Via is a new top Via for a request this side sends over transport, with
// a fresh RFC 3261 branch.
func (s *Side) Via(transport string) *gosip.ViaHeader {
	p := gosip.NewParams()
	p.Add("branch", gosip.GenerateBranchN(16))
	return &gosip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: transportName(transport),
		Host: s.stack.Host(), Port: int(s.stack.Port(transport)), Params: p}
}

// transportName is the Via/SetTransport spelling of a transport.
func transportName(t string) string {
	switch {
	case strings.EqualFold(t, "tcp"):
		return "TCP"
	case strings.EqualFold(t, "tls"):
		return "TLS"
	}
	return "UDP"
}

// IsTCP reports a message that came (or goes) over a stream: TCP, or TLS
// over TCP (reliable: no retransmissions, responses on the request's
// connection).
func IsTCP(msg gosip.Message) bool { return isStream(msg.Transport()) }

// isStream reports TCP and TLS.
func isStream(transport string) bool {
	return strings.EqualFold(transport, "tcp") || strings.EqualFold(transport, "tls")
}

// Incoming is a request a side received, with the server transaction its
// responses go through (nil for ACK, which is never answered).
type Incoming struct {
	Req  *gosip.Request
	Side *Side
	tx   *gosip.ServerTx
	// fits is the last response that passed the UDP size check: a 2xx
	// retransmitted until its ACK is not serialised again for it.
	fits atomic.Pointer[gosip.Response]
}

// Answerable reports whether the request has a transaction to answer on.
func (in *Incoming) Answerable() bool { return in.tx != nil }

// Response builds a response to the request. toTag, when not empty, is our
// tag: it goes into To (a response of ours in a dialog always carries it).
// The response leaves for where RFC 3261 §18.2.2 and RFC 3581 say: the
// connection the request came on (TCP), or its source IP and Via port
// (UDP; the source port when the Via asks for rport).
func (in *Incoming) Response(code int, reason string, toTag string, body []byte) *gosip.Response {
	res := newResponse(in.Req, code, reason, toTag, body)
	if body != nil {
		res.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	}
	res.AppendHeader(gosip.NewHeader("Server", in.Side.ua))
	res.SetDestination(responseDestination(in.Req))
	return res
}

// Respond sends res on the request's transaction: sipgo's transaction
// retransmits a final non-2xx response until the ACK (UDP) and repeats the
// last response to a retransmitted request. A 2xx to an INVITE is not
// retransmitted by the transaction (RFC 6026): the dialog does that.
func (in *Incoming) Respond(res *gosip.Response) error {
	if in.tx == nil {
		return errors.New("respond: an ACK has no transaction")
	}
	if err := in.CheckSize(res); err != nil {
		// sipgo would fail the write and end the transaction: the
		// requester would get nothing. A final response becomes 513 (RFC
		// 3261 §21.5.14), with our tag; a provisional one is dropped.
		if res.IsProvisional() {
			return fmt.Errorf("respond %d to %s: %w", res.StatusCode, in.Req.Method, err)
		}
		tag, _ := res.To().Params.Get("tag")
		small := in.Response(513, "Message Too Large", tag, nil)
		if err513 := in.tx.Respond(small); err513 != nil {
			return fmt.Errorf("respond %d to %s: %w; 513 instead: %w", res.StatusCode, in.Req.Method, err, err513)
		}
		return fmt.Errorf("respond %d to %s: %w (513 sent instead)", res.StatusCode, in.Req.Method, err)
	}
	if err := in.tx.Respond(res); err != nil {
		return fmt.Errorf("respond %d to %s: %w", res.StatusCode, in.Req.Method, err)
	}
	if in.Req.IsCancel() && !res.IsProvisional() {
		// sipgo writes a response to a CANCEL past its state machine (it
		// expects CANCEL inside the INVITE's transaction, which would answer
		// the INVITE 487 itself), so the CANCEL's own transaction would
		// never end and stay in the table for ever. A retransmitted CANCEL
		// then reaches the call again, which answers it again.
		in.tx.Terminate()
	}
	return nil
}

// Reply builds and sends a response with no body; toTag as in Response.
func (in *Incoming) Reply(code int, reason, toTag string, hdrs ...gosip.Header) error {
	res := in.Response(code, reason, toTag, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	return in.Respond(res)
}

// Done is closed when the request's transaction has ended.
func (in *Incoming) Done() <-chan struct{} {
	if in.tx == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return in.tx.Done()
}

// responseDestination is where a response to req goes over UDP: the
// request's source IP and the port in its top Via, or the source port when
// the Via has rport (RFC 3581). Over TCP the transaction's connection is
// used and the destination only labels the trace.
func responseDestination(req *gosip.Request) string {
	src := req.Source()
	if IsTCP(req) {
		return src
	}
	via := req.Via()
	ap, err := netip.ParseAddrPort(src)
	if err != nil || via == nil {
		return src
	}
	if via.Params != nil {
		if _, ok := via.Params.Get("rport"); ok {
			return src
		}
	}
	port := via.Port
	if via.Port == 0 && via.Host == "" || port < 0 || port > 65535 {
		// No usable Via port: where the request came from.
		return src
	}
	if port == 0 {
		port = 5060
	}
	return netip.AddrPortFrom(ap.Addr(), uint16(port)).String()
}

// WriteResponse sends a response outside any transaction (a 2xx
// retransmission after its transaction ended, a stateless 400 or 403).
// Over TCP and TLS it goes on the request's connection while that is open,
// else on one opened back to the peer's Via address, as a transaction's
// responses do (reply.go): res carries the request's Via, and its
// destination is the request's source. Not to an untrusted source (a 403):
// nothing is ever dialled to one.
func (s *Side) WriteResponse(res *gosip.Response) error {
	conn, err := s.responseConn(res.Transport(), res.Destination())
	if isStream(res.Transport()) && s.trusted(res.Destination()) {
		if err != nil {
			conn = nil // gone: the writer dials back
		}
		conn = &replyConn{side: s, network: strings.ToLower(res.Transport()), source: res.Destination(), via: res, cur: conn}
	} else if err != nil {
		return err
	}
	defer conn.TryClose()
	return conn.WriteMsg(res)
}

// responseConn is the connection a response or a new server transaction
// uses: the listening socket for UDP (so the peer sees the port it talks
// to), the request's own connection for TCP.
func (s *Side) responseConn(transport, source string) (gosip.Connection, error) {
	if isStream(transport) {
		network := strings.ToLower(transport)
		c, err := s.tpl.GetConnection(network, source)
		if err != nil {
			return nil, fmt.Errorf("%s connection to %s: %w", network, source, err)
		}
		return s.tapped(c, transport), nil
	}
	c, err := s.tpl.GetConnection("udp", s.Addr().String())
	if err != nil {
		return nil, fmt.Errorf("udp listener %s: %w", s.Addr(), err)
	}
	return s.tapped(c, "UDP"), nil
}

// tapped wraps a connection so the tracer sees what is written on it.
func (s *Side) tapped(c gosip.Connection, transport string) gosip.Connection {
	if s.tap == nil {
		return c
	}
	return tapConnection{Connection: c, tap: s.tap, transport: transportName(transport)}
}

// streamFlow reports whether a TCP or TLS connection to addr (IP:PORT as
// the peer's messages came from) is in sipgo's pool and, when it is,
// whether the peer opened it (accepted by one of our listeners) rather
// than we (dialled to an address the peer listens on: a trunk, a Contact,
// a Via for a response; sipgo's own dials of a host name too).
func (s *Side) streamFlow(addr string) (open, accepted bool) {
	for _, network := range []string{"tcp", "tls"} {
		if c, err := s.tpl.GetConnection(network, addr); err == nil {
			w := watchOf(c)
			_, _ = c.TryClose()
			return true, w != nil && w.accepted
		}
	}
	return false, false
}

// ConnectionOpen reports whether a TCP connection to addr (IP:PORT as the
// peer's messages came from) is still in sipgo's pool.
func (s *Side) ConnectionOpen(addr string) bool {
	for _, network := range []string{"tcp", "tls"} {
		if c, err := s.tpl.GetConnection(network, addr); err == nil {
			_, _ = c.TryClose()
			return true
		}
	}
	return false
}
