// Package mediationtest runs a mediation server in-process on ephemeral
// loopback ports, with a simulated SBC on its gateway side and a simulated
// Skype for Business client as its edge next hop — in the spirit of
// net/http/httptest — for this project's tests and for anyone's CI.
//
// In a test, Start builds a lab that t.Cleanup tears down. Outside one
// (a tool, a demo, TestMain), New and Close do the same. Clients of each kind
// come from NewClient, which fetches the bypass web service like a real
// client: SupportedVersion from 127.0.0.1 gets bypass, Lync2013Version does
// not, and a client whose SourceIP is outside the server's internal subnets
// is refused (403). CallOut and CallIn place a call through the server and
// return what both ends saw, with the media path it took:
//
//	lab, err := mediationtest.New(ctx, mediationtest.Options{})
//	...
//	defer lab.Close()
//	client, err := lab.NewClient(ctx, mediationtest.ClientOptions{Version: mediationtest.SupportedVersion})
//	...
//	call, err := lab.CallOut(ctx, client, endpoint.CallOptions{})
//	// call.Media() == mediationtest.MediaBypassed, call.AudioOK() == true
package mediationtest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/logstream"
)

// DefaultBypassID is the bypass ID of the embedded default configuration.
const DefaultBypassID = "be38f190-a24a-4a72-b66c-b09fd0909ebc"

// Tones of the lab's endpoints unless configured otherwise: each end checks
// it heard the other's, so a relay that mixes up codecs is caught.
const (
	DefaultClientHz = 1000.0
	DefaultSBCHz    = 440.0
	// ToneTolerance is how far a detected tone may be from the one sent.
	ToneTolerance = 25.0
)

var loopback = netip.MustParseAddr("127.0.0.1")

// Server start-up and shutdown bounds: a server that needs longer is broken.
const (
	readyTimeout = 10 * time.Second
	stopTimeout  = 30 * time.Second
)

// Options shape a lab. The zero value is the embedded default: bypass on,
// UDP everywhere.
type Options struct {
	// BypassDisabled turns MediaBypassSettings.Enabled off.
	BypassDisabled bool
	// GatewayTransport is how the server reaches the SBC: "udp" (default) or "tcp".
	GatewayTransport string
	// EdgeTransport is how the server reaches the edge next hop: "udp" (default) or "tcp".
	EdgeTransport string
	// ClientBypassID is the bypass ID the edge next hop's client puts in its
	// answers to inbound calls; "" plays a client that did not get bypass.
	// NewEdgePeer replaces that client with one that asked the web service.
	ClientBypassID string
	// SBC tunes the simulated SBC (Listen and MediaIP are set by the lab;
	// ToneHz defaults to DefaultSBCHz). A zero SBC.Log gives the SBC a
	// child of Log, with "endpoint":"sbc"; a non-zero one is used instead,
	// with that field added.
	SBC endpoint.SBCConfig
	// Configure edits the server's config last, before it is validated.
	Configure func(*mediation.Config)
	// Log receives every component's log; the default discards it.
	Log zerolog.Logger
	// LogStream serves the server's live log on the admin API's
	// GET /log/stream; Log must write to it (LogStream.Logger builds one).
	LogStream *logstream.Hub
}

// Lab is a running mediation server with its simulated neighbours.
type Lab struct {
	Server *mediation.Server
	Config *mediation.Config
	// SBC answers the server's outbound calls and can place inbound ones.
	SBC *endpoint.SBC
	// Client is the edge next hop: it answers the server's inbound calls.
	// NewEdgePeer replaces it.
	Client *endpoint.Client

	log   zerolog.Logger
	life  context.Context // ends at Close or when New's context ends
	stop  context.CancelFunc
	run   *running
	sbcHz float64
	calls atomic.Uint64 // numbers handed out by nextNumber

	mu      sync.Mutex
	edge    *Client   // the current edge next hop
	clients []*Client // every client started, closed by Close

	closeOnce sync.Once
	closeErr  error
	// closed is set, under mu, when Close starts: no client is added after.
	closed bool
}

// New starts a lab: the SBC, the edge next hop's client and the server, all
// on ephemeral loopback ports. ctx bounds the lab's life: when it ends the
// lab shuts down as if Close were called. Close must be called in any case;
// it waits for every goroutine and socket of the lab to be gone.
func New(ctx context.Context, opt Options) (*Lab, error) {
	life, stop := context.WithCancel(ctx)
	l := &Lab{log: opt.Log, life: life, stop: stop, sbcHz: opt.SBC.ToneHz}
	if l.sbcHz <= 0 {
		l.sbcHz = DefaultSBCHz
	}
	if err := l.start(opt); err != nil {
		_ = l.Close()
		return nil, err
	}
	return l, nil
}

func (l *Lab) start(opt Options) error {
	sbcCfg := opt.SBC
	sbcCfg.Listen = "127.0.0.1:0"
	sbcCfg.MediaIP = loopback
	sbcCfg.ToneHz = l.sbcHz
	sbcLog := opt.Log
	if !reflect.ValueOf(opt.SBC.Log).IsZero() {
		sbcLog = opt.SBC.Log
	}
	sbcCfg.Log = sbcLog.With().Str("endpoint", "sbc").Logger()
	sbc, err := endpoint.StartSBC(l.life, sbcCfg)
	if err != nil {
		return fmt.Errorf("mediationtest: start SBC: %w", err)
	}
	l.SBC = sbc
	client, err := endpoint.StartClient(l.life, endpoint.ClientConfig{
		Listen: "127.0.0.1:0", MediaIP: loopback, BypassID: opt.ClientBypassID, ToneHz: DefaultClientHz,
		Log: opt.Log.With().Str("endpoint", "edge-client").Logger(),
	})
	if err != nil {
		return fmt.Errorf("mediationtest: start client: %w", err)
	}
	l.setEdge(&Client{Client: client, UserAgent: endpoint.DefaultClientUserAgent, SourceIP: loopback,
		ToneHz: DefaultClientHz, Grant: endpoint.BypassGrant{Enabled: opt.ClientBypassID != "", BypassID: opt.ClientBypassID}})

	cfg := mediation.DefaultConfig()
	cfg.Edge.Listen = "127.0.0.1:0"
	cfg.GatewayListen = "127.0.0.1:0"
	cfg.HTTPListen = "127.0.0.1:0"
	cfg.Admin.Listen = "127.0.0.1:0"
	cfg.Edge.Peer = client.Addr().String()
	cfg.Edge.PeerTransport = orDefault(opt.EdgeTransport, "udp")
	cfg.Gateways[0].Address = sbc.Addr().String()
	cfg.Gateways[0].Transport = orDefault(opt.GatewayTransport, "udp")
	cfg.Bypass.Enabled = !opt.BypassDisabled
	if opt.Configure != nil {
		opt.Configure(cfg)
	}
	l.Config = cfg
	if l.run, err = startServer(l.life, cfg, opt.Log, opt.LogStream); err != nil {
		return err
	}
	l.Server = l.run.srv
	return nil
}

// Close stops the server (calls in progress end with BYE or CANCEL), then
// every client and the SBC, and waits for them. It is idempotent.
func (l *Lab) Close() error {
	l.closeOnce.Do(func() {
		var errs []error
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		if l.run != nil {
			errs = append(errs, l.run.shutdown())
		}
		l.mu.Lock()
		clients := l.clients
		l.mu.Unlock()
		for _, c := range clients {
			errs = append(errs, c.Close())
		}
		if l.SBC != nil {
			errs = append(errs, l.SBC.Close())
		}
		l.stop()
		if err := errors.Join(errs...); err != nil {
			l.closeErr = fmt.Errorf("mediationtest: close lab: %w", err)
		}
	})
	return l.closeErr
}

// errClosed is what a lab that was closed, or whose context ended, answers
// a request for a new client.
var errClosed = errors.New("mediationtest: lab closed")

// alive says why the lab can take no new client, nil while it can. Called
// with l.mu held.
func (l *Lab) alive() error {
	switch {
	case l.closed:
		return errClosed
	case l.life.Err() != nil:
		return fmt.Errorf("%w: its context ended: %w", errClosed, context.Cause(l.life))
	}
	return nil
}

// Start builds a lab and registers its teardown with t.Cleanup.
func Start(t TB, opt Options) *Lab {
	t.Helper()
	l, err := New(context.Background(), opt)
	if err != nil {
		t.Fatal(err) // says "mediationtest: " already
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return l
}

// Serve runs a mediation server on cfg until the test ends, and returns it
// once its listeners are bound.
func Serve(t TB, cfg *mediation.Config, log zerolog.Logger) *mediation.Server {
	t.Helper()
	run, err := startServer(context.Background(), cfg, log, nil)
	if err != nil {
		t.Fatal(err) // says "mediationtest: " already
	}
	t.Cleanup(func() {
		if err := run.shutdown(); err != nil {
			t.Errorf("mediationtest: stop server: %v", err)
		}
	})
	return run.srv
}

// running is a server whose Run goroutine the lab owns.
type running struct {
	srv    *mediation.Server
	cancel context.CancelFunc
	done   chan error
}

// startServer runs a server until ctx ends or shutdown, and returns once
// its listeners are bound; stream, if not nil, is its live log.
func startServer(ctx context.Context, cfg *mediation.Config, log zerolog.Logger, stream *logstream.Hub) (*running, error) {
	srv, err := mediation.NewServer(cfg, log)
	if err != nil {
		return nil, fmt.Errorf("mediationtest: %w", err)
	}
	if stream != nil {
		srv.SetLogStream(stream)
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &running{srv: srv, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- srv.Run(ctx) }()
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case <-srv.Ready():
		return r, nil
	case err := <-r.done:
		cancel()
		return nil, fmt.Errorf("mediationtest: server failed to start: %w", err)
	case <-timer.C:
		cancel()
		<-r.done
		return nil, fmt.Errorf("mediationtest: server not ready within %s", readyTimeout)
	}
}

// shutdown stops the server and waits for Run to return.
func (r *running) shutdown() error {
	r.cancel()
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case err := <-r.done:
		r.done <- err // a second shutdown gets the same answer
		if err != nil {
			return fmt.Errorf("server stopped with %w", err)
		}
		return nil
	case <-timer.C:
		return fmt.Errorf("server did not stop within %s", stopTimeout)
	}
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
