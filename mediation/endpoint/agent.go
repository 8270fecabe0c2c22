package endpoint

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	mediationsip "github.com/mediation-emulator/mediation/sip"
)

// agent is the SIP user agent under both endpoints: the SIP stack (sockets,
// sipgo user agent, server and clients, built by sip.NewStack like the
// mediation server's sides), call registry, report queue and shutdown. The
// roles (Client, SBC) supply the SDP and the answering behaviour.
type agent struct {
	role      string
	log       zerolog.Logger
	addr      netip.AddrPort
	mediaIP   netip.Addr
	userAgent string
	toneHz    float64
	silent    bool // send no media (signalling-only load)
	// delays, when set, has the media stamped and receives its delays.
	delays *DelayHistogram

	stack *mediationsip.Stack
	srv   *sipgo.Server

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
	silent    bool // send no media (signalling-only load)
	delays    *DelayHistogram
	log       zerolog.Logger
}

// startAgent binds the SIP sockets and serves them until ctx is done or close.
// The role must set a.answer before the first INVITE can arrive, so it is
// passed in rather than assigned afterwards.
func startAgent(ctx context.Context, cfg agentConfig, answer func(*agent) func(*sip.Request, sip.ServerTransaction)) (*agent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	listen := cfg.listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	want, err := netip.ParseAddrPort(listen)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", listen, err)
	}
	a := &agent{
		role:      cfg.role,
		userAgent: cfg.userAgent,
		toneHz:    cfg.toneHz,
		silent:    cfg.silent,
		delays:    cfg.delays,
		calls:     map[string]*call{},
		reported:  make(chan struct{}, 1),
	}
	a.stack, err = mediationsip.NewStack(mediationsip.StackConfig{
		Name: cfg.role, Listen: want, UserAgent: cfg.userAgent, Log: cfg.log,
		ReadFilter: a.filterRead,
		UDPBuffer:  mediationsip.DefaultUDPBuffer,
		TransactionOptions: []sip.TransactionLayerOption{
			// A peer's TCP connection that drops fails its pending transactions
			// at once instead of after Timer B/F: a ringing call ends.
			sip.WithTransactionLayerTerminateOnConnClose(),
			sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) {
				a.log.Debug().Str("response", r.StartLine()).Msg("unmatched response (retransmission)")
			}),
		},
	})
	if err != nil {
		return nil, err
	}
	a.addr = a.stack.Addr()
	a.mediaIP = cfg.mediaIP
	if !a.mediaIP.IsValid() {
		a.mediaIP = a.addr.Addr()
	}
	a.log = cfg.log.With().Str("endpoint", cfg.role).Stringer("sip", a.addr).Logger()
	a.answer = answer(a)
	a.srv = a.stack.Server
	a.srv.OnInvite(a.onInvite)
	a.srv.OnAck(a.onAck)
	a.srv.OnBye(a.onBye)
	a.srv.OnCancel(a.onStrayCancel)
	a.srv.OnOptions(a.onOptions)
	a.ctx, a.cancel = context.WithCancel(context.Background())
	if err := a.stack.Start(); err != nil {
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
		if err := a.stack.Close(); err != nil {
			a.closeErr = err
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
func (a *agent) clientFor(transport string) *sipgo.Client { return a.stack.Client(transport) }

// contact is our Contact header for a transport.
func (a *agent) contact(user, transport string) sip.ContactHeader {
	return a.stack.Contact(user, transport)
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
func uriHost(ip netip.Addr) string { return mediationsip.URIHost(ip) }
