package endpoint

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

// agent is the SIP user agent under both endpoints: sockets, sipgo stack,
// call registry, report queue and shutdown. The roles (Client, SBC) supply the
// SDP and the answering behaviour.
type agent struct {
	role      string
	log       zerolog.Logger
	addr      netip.AddrPort
	mediaIP   netip.Addr
	userAgent string
	toneHz    float64

	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	udp     *sipgo.Client // pinned to the listen socket: replies come back to it
	tcp     *sipgo.Client // unpinned: sipgo misroutes TCP when pinned
	udpConn *net.UDPConn
	tcpLn   *net.TCPListener

	// ctx ends when Close is called or the parent context is done; every call
	// runs under it.
	ctx    context.Context
	cancel context.CancelFunc

	// answer handles a new inbound INVITE; it returns after the call ended.
	answer func(req *sip.Request, tx sip.ServerTransaction)

	mu       sync.Mutex
	stopWait func() bool // unregisters the parent context's close
	closed   bool        // no new calls
	finished bool        // every call has ended: NextCall will get no more reports
	calls    map[string]*call
	reports  []CallReport
	reported chan struct{} // signalled (non-blocking) when a report is queued

	// lastRead is when the last SIP message was read (UnixNano), and deaf
	// makes the stack drop what it reads: both for drain.
	lastRead atomic.Int64
	deaf     atomic.Bool

	callWG    sync.WaitGroup // INVITE handlers and outbound calls
	serveWG   sync.WaitGroup // the UDP and TCP serve loops
	closeOnce sync.Once
	closeErr  error
}

// agentConfig is what a role passes to startAgent.
type agentConfig struct {
	role      string
	listen    string
	mediaIP   netip.Addr
	userAgent string
	toneHz    float64
	log       zerolog.Logger
}

// startAgent binds the SIP sockets and serves them until ctx is done or close.
// The role must set a.answer before the first INVITE can arrive, so it is
// passed in rather than assigned afterwards.
func startAgent(ctx context.Context, cfg agentConfig, answer func(*agent) func(*sip.Request, sip.ServerTransaction)) (*agent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	udpConn, tcpLn, addr, err := bindSIP(cfg.listen)
	if err != nil {
		return nil, err
	}
	mediaIP := cfg.mediaIP
	if !mediaIP.IsValid() {
		mediaIP = addr.Addr()
	}
	log := cfg.log.With().Str("endpoint", cfg.role).Stringer("sip", addr).Logger()
	a := &agent{
		role:      cfg.role,
		log:       log,
		addr:      addr,
		mediaIP:   mediaIP,
		userAgent: cfg.userAgent,
		toneHz:    cfg.toneHz,
		udpConn:   udpConn,
		tcpLn:     tcpLn,
		calls:     map[string]*call{},
		reported:  make(chan struct{}, 1),
	}
	a.answer = answer(a)
	if err := a.buildStack(); err != nil {
		_ = udpConn.Close()
		_ = tcpLn.Close()
		return nil, err
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.serve()
	if err := a.waitServing(); err != nil {
		_ = a.close()
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = a.close() })
	a.mu.Lock()
	a.stopWait = stop // close may already run if ctx just ended; it then finds nil
	a.mu.Unlock()
	a.log.Debug().Msg("listening")
	return a, nil
}

// waitServing waits until sipgo has registered the UDP listener in its pool:
// until then a request pinned to the listen address would make sipgo bind a
// second socket on it and fail with "address already in use".
func (a *agent) waitServing() error {
	pool := a.ua.TransportLayer().Pool("udp")
	deadline := time.Now().Add(5 * time.Second)
	for pool.Size() == 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("sip udp %s: not serving after 5s", a.addr)
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// buildStack creates the sipgo UA, server and clients, with sipgo's slog
// output bridged into our zerolog logger (per UA, not the process-wide default).
func (a *agent) buildStack() error {
	sl := slog.New(zerolog.NewSlogHandler(a.log.With().Str("component", "sipgo").Logger()))
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(a.userAgent),
		sipgo.WithUserAgentHostname(uriHost(a.addr.Addr())),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(sl),
			// A peer's TCP connection that drops fails its pending transactions
			// at once instead of after Timer B/F: a ringing call ends.
			sip.WithTransactionLayerTerminateOnConnClose(),
			sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) {
				a.log.Debug().Str("response", r.StartLine()).Msg("unmatched response (retransmission)")
			}),
		),
		sipgo.WithUserAgentTransportLayerOptions(
			sip.WithTransportLayerLogger(sl),
			sip.WithTransportLayerReadFilter(a.filterRead),
		),
	)
	if err != nil {
		return fmt.Errorf("sip user agent: %w", err)
	}
	host := uriHost(a.addr.Addr())
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(sl))
	if err == nil {
		a.udp, err = sipgo.NewClient(ua, sipgo.WithClientLogger(sl), sipgo.WithClientHostname(host),
			sipgo.WithClientPort(int(a.addr.Port())), sipgo.WithClientConnectionAddr(a.addr.String()))
	}
	if err == nil {
		a.tcp, err = sipgo.NewClient(ua, sipgo.WithClientLogger(sl), sipgo.WithClientHostname(host))
	}
	if err != nil {
		_ = ua.Close()
		return fmt.Errorf("sip stack: %w", err)
	}
	a.ua, a.srv = ua, srv
	srv.OnInvite(a.onInvite)
	srv.OnAck(a.onAck)
	srv.OnBye(a.onBye)
	srv.OnCancel(a.onStrayCancel)
	srv.OnOptions(a.onOptions)
	return nil
}

func (a *agent) serve() {
	a.serveWG.Add(2)
	go func() {
		defer a.serveWG.Done()
		if err := a.srv.ServeUDP(a.udpConn); err != nil && !errors.Is(err, net.ErrClosed) {
			a.log.Error().Err(err).Msg("udp serve stopped")
		}
	}()
	go func() {
		defer a.serveWG.Done()
		if err := a.srv.ServeTCP(a.tcpLn); err != nil && !errors.Is(err, net.ErrClosed) {
			a.log.Error().Err(err).Msg("tcp serve stopped")
		}
	}()
}

// close ends every call (BYE or CANCEL where one is due), then stops the SIP
// stack and waits for every goroutine. Safe to call more than once.
func (a *agent) close() error {
	a.closeOnce.Do(func() {
		a.mu.Lock()
		a.closed = true
		stop := a.stopWait
		a.mu.Unlock()
		if stop != nil {
			stop()
		}
		a.cancel()
		a.callWG.Wait() // calls still need the stack for their BYE/CANCEL
		a.mu.Lock()
		a.finished = true
		a.mu.Unlock()
		a.drain()
		// Stop reading before sipgo clears its connection pool: a request read
		// after the clear would make sipgo open a new socket nobody closes.
		_ = a.udpConn.Close()
		_ = a.tcpLn.Close()
		a.serveWG.Wait()
		if err := a.ua.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			a.closeErr = fmt.Errorf("close %s: %w", a.role, err)
		}
		a.signal()
		a.log.Debug().Msg("closed")
	})
	return a.closeErr
}

// Shutdown waits this long for the SIP traffic of ended calls (an ACK for a
// 487, a retransmission) to settle; see drain.
const (
	drainQuiet = 50 * time.Millisecond
	drainMax   = 300 * time.Millisecond
)

// drain lets the SIP traffic of ended calls settle before the stack goes
// away. sipgo handles each message on a goroutine of its own; one still
// running when the connection pool is cleared finds no connection for its
// response and opens a socket that nobody closes. So drain waits for a quiet
// spell, stops passing messages to sipgo, and waits for another quiet spell,
// which covers any message that slipped in between.
func (a *agent) drain() {
	a.waitQuiet()
	a.deaf.Store(true)
	a.waitQuiet()
}

// waitQuiet waits until no message was read for drainQuiet, at most drainMax.
func (a *agent) waitQuiet() {
	deadline := time.Now().Add(drainMax)
	for {
		quiet := time.Since(time.Unix(0, a.lastRead.Load()))
		if quiet >= drainQuiet || time.Now().After(deadline) {
			return
		}
		time.Sleep(drainQuiet - quiet)
	}
}

// filterRead runs on sipgo's reading goroutines before a message is parsed.
// It stamps the time first and checks deaf second, so drain's second wait
// sees every message that got through.
func (a *agent) filterRead(_ sip.TransportReadProps, data []byte) ([]byte, error) {
	a.lastRead.Store(time.Now().UnixNano())
	if a.deaf.Load() {
		return nil, nil // dropped
	}
	return data, nil
}

// enter registers a call (inbound handler or outbound Call) unless closing.
func (a *agent) enter() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	a.callWG.Add(1)
	return true
}

func (a *agent) leave() { a.callWG.Done() }

// clientFor returns the sipgo client for a transport name.
func (a *agent) clientFor(transport string) *sipgo.Client {
	if strings.EqualFold(transport, "tcp") {
		return a.tcp
	}
	return a.udp
}

// contact is our Contact header for a transport.
func (a *agent) contact(user, transport string) sip.ContactHeader {
	uri := sip.Uri{Scheme: "sip", User: user, Host: uriHost(a.addr.Addr()), Port: int(a.addr.Port())}
	if strings.EqualFold(transport, "tcp") {
		uri.UriParams = sip.NewParams()
		uri.UriParams.Add("transport", "tcp")
	}
	return sip.ContactHeader{Address: uri}
}

// dialogUA returns the sipgo dialog handle for a transport. RewriteContact
// sends in-dialog requests to where the peer's messages came from, which
// reuses the peer's TCP connection and survives a wrong Contact.
func (a *agent) dialogUA(user, transport string) *sipgo.DialogUA {
	return &sipgo.DialogUA{Client: a.clientFor(transport), ContactHDR: a.contact(user, transport), RewriteContact: true}
}

// push queues the report of a call this endpoint answered.
func (a *agent) push(r CallReport) {
	a.mu.Lock()
	a.reports = append(a.reports, r)
	a.mu.Unlock()
	a.signal()
}

func (a *agent) signal() {
	select {
	case a.reported <- struct{}{}:
	default:
	}
}

// nextCall returns the oldest queued report, waiting for one.
func (a *agent) nextCall(ctx context.Context) (CallReport, error) {
	for {
		a.mu.Lock()
		if len(a.reports) > 0 {
			r := a.reports[0]
			a.reports = a.reports[1:]
			more := len(a.reports) > 0
			a.mu.Unlock()
			if more {
				a.signal() // another waiter may take the next one
			}
			return r, nil
		}
		finished := a.finished
		a.mu.Unlock()
		if finished {
			return CallReport{}, fmt.Errorf("next call: %w", ErrClosed)
		}
		select {
		case <-a.reported:
		case <-ctx.Done():
			return CallReport{}, fmt.Errorf("next call: %w", ctx.Err())
		}
	}
}

// uriHost writes an IP as SIP wants it in URIs and Via: IPv6 in brackets.
// sipgo builds destinations as host:port, so a bare IPv6 host would not parse.
func uriHost(ip netip.Addr) string {
	if ip.Is6() && !ip.Is4In6() {
		return "[" + ip.String() + "]"
	}
	return ip.String()
}
