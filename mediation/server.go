package mediation

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/gateway"
	"github.com/mediation-emulator/mediation/mediation/capture"
	"github.com/mediation-emulator/mediation/mediation/geodns"
	"github.com/mediation-emulator/mediation/mediation/logstream"
	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sip"
)

// UserAgent is what the mediation server calls itself in User-Agent and
// Server headers. The real CCE Mediation Server says RTCC/<version>
// MediationServer; the suffix tells the two apart in a trace.
const UserAgent = "RTCC/6.0.0.0 MediationServer (mediation emulator)"

// drainTimeout bounds how long a shutdown waits for calls to end.
const drainTimeout = 10 * time.Second

// Server is one mediation server: both SIP sides, the media relay, the bypass
// web service and the metrics.
type Server struct {
	cfg       *Config
	log       zerolog.Logger
	userAgent string
	// httpConns counts HTTP connections refused beyond an IP's share.
	httpConns sip.ConnStats
	// httpEvicted counts HTTP connections closed to make room at the cap.
	httpEvicted atomic.Uint64

	settings settingsStore
	gateways *gateway.Table
	// resolver looks the trunks' host names up, at start and while the
	// server runs (trunkdns.go): one, so that its warnings are not repeated.
	resolver      *gateway.Resolver
	edgePeer      netip.AddrPort
	edgeTransport string
	internal      []netip.Prefix
	mediaIP       netip.Addr
	mediaLow      int
	mediaHigh     int
	// mediaProbe checks at start that media.ip can be bound
	// (probeMediaIP; a test's stand-in for an address not on the host).
	mediaProbe func(netip.Addr) error

	calls    *registry
	records  *recordWriter
	metrics  *metrics
	alloc    *relay.Allocator
	draining atomic.Bool
	// drainStart is when the drain began (Run's goroutine only).
	drainStart time.Time
	deps       *callDeps
	wires      *wireTrace
	book       *callBook
	// pcap is the capture file (capture.pcap), nil without one.
	pcap *capture.Pcap
	// tls holds the TLS files in use, re-read at SIGHUP; nil without TLS.
	tls *tlsStore

	trunks       map[string]trunkPolicy
	unknownLog   sip.Limiter
	strayLog     sip.Limiter
	staleLog     sip.Limiter
	malformedLog sip.Limiter
	refusedLog   sip.Limiter
	perSource    *sourceLimiter
	// hungUp are the dialogs late 2xx were hung up in (latedialogs.go).
	hungUp hungUpDialogs

	edge, gw *sip.Side
	// gwTrust is the gateway side's trust list, renewed when a trunk's
	// host name resolves to new addresses (trunkdns.go).
	gwTrust *sip.Trust
	httpLn  net.Listener
	ready   chan struct{}

	// The admin API: its listener, bearer token ("" for none) and the
	// rate limit of its refusals' log lines.
	adminLn      net.Listener
	adminToken   string
	adminAuthLog sip.Limiter
	// dns is the geo DNS responder; nil without dns.listen.
	dns *geodns.Responder
	// originLog logs where the settings in force at start came from.
	originLog func()
	// logStream serves GET /log/stream; nil: not enabled (SetLogStream).
	logStream *logstream.Hub
}

// NewServer checks cfg and prepares a server; nothing is bound until Run.
func NewServer(cfg *Config, log zerolog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, userAgent: UserAgent, calls: newRegistry(), ready: make(chan struct{}),
		perSource: newSourceLimiter(cfg.RateLimit.PerSecond, cfg.RateLimit.Burst), mediaProbe: probeMediaIP}
	initial, err := s.initialSettings(cfg)
	if err != nil {
		return nil, err
	}
	s.settings.store(initial)
	gwListen, _ := netip.ParseAddrPort(cfg.GatewayListen) // validated
	s.resolver = cfg.GatewayDNS.resolver(gwListen.Addr(), log)
	if s.gateways, s.trunks, err = buildTrunks(cfg.Gateways, s.resolver, log); err != nil {
		return nil, err
	}
	edgeListen, _ := netip.ParseAddrPort(cfg.Edge.Listen) // validated
	if s.edgePeer, err = resolveEdgePeer(net.DefaultResolver, cfg.Edge.Peer, edgeListen.Addr()); err != nil {
		return nil, err
	}
	for _, tr := range s.gateways.Trunks() {
		cfg.warnSelfTrunk(tr, log)
	}
	cfg.warnSelfEdgePeer(s.edgePeer, log)
	s.edgeTransport = strings.ToLower(cfg.Edge.PeerTransport)
	s.internal = cfg.InternalPrefixes()
	s.mediaIP = netip.MustParseAddr(cfg.Media.IP)
	s.mediaLow, s.mediaHigh = cfg.MediaPortRange()
	if s.adminToken, err = cfg.Admin.loadToken(); err != nil {
		return nil, err
	}
	return s, nil
}

// resolveEdgePeer is edge.peer's address, its host name looked up with r.
// A name that does not resolve is a *ConfigError naming edge.peer: like a
// bad value, it stops the start with one line and exit code 2 (a typo is
// the likely cause), before anything binds. Only an address of listen's
// family (edge.listen's) will do: the edge side sends from there, and
// cannot reach the other family (Validate refuses such a literal IP).
func resolveEdgePeer(r *net.Resolver, hostPort string, listen netip.Addr) (netip.AddrPort, error) {
	ap, err := resolve(r, hostPort, listen)
	if err != nil {
		return netip.AddrPort{}, invalid("edge.peer", hostPort, "%v", err)
	}
	return ap, nil
}

// resolve turns HOST:PORT into an address, looking the host up with r if
// needed: its first address a listener on listen can send to (any, when
// listen is invalid or unspecified).
func resolve(r *net.Resolver, hostPort string, listen netip.Addr) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(hostPort); err == nil {
		return ap, nil
	}
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return netip.AddrPort{}, err
	}
	addrs, err := r.LookupNetIP(context.Background(), "ip", host)
	if err != nil || len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("cannot resolve %q: %v", host, err)
	}
	for i, a := range addrs {
		if !familyMismatch(netip.AddrPortFrom(listen, 0), a) {
			return netip.ParseAddrPort(net.JoinHostPort(a.Unmap().String(), port))
		}
		addrs[i] = a.Unmap()
	}
	return netip.AddrPort{}, fmt.Errorf("%q resolves to %s addresses only (%v), the listener %s is %s", host, family(addrs[0]), addrs, listen, family(listen))
}

// Run binds every listener and serves until ctx is done, then shuts down
// gracefully: new calls get 503, calls in progress are ended with BYE on
// both legs (or CANCEL), and the listeners close. It returns a listener's
// error, or nil after a clean shutdown.
func (s *Server) Run(ctx context.Context) error {
	s.book = newCallBook()
	s.wires = newWireTrace(s.calls, s.log, s.book)
	if err := s.bind(); err != nil {
		return err
	}
	// The capture files are begun only once every listener is bound: a
	// start that fails (a port in use, as when the same server is started
	// twice) leaves an earlier capture.pcap as it was, not truncated under
	// the server still writing it. Nothing is missed: the sides serve only
	// from Start, below.
	closeCapture, err := s.openCapture()
	if err != nil {
		s.closeBound()
		return err
	}
	defer closeCapture()
	for _, side := range []*sip.Side{s.edge, s.gw} {
		if err := side.Start(); err != nil {
			s.closeBound()
			return err
		}
	}
	s.ownWebService(s.HTTPAddr())
	s.log.Info().Str("edge", s.edge.Addr().String()).Str("gateway_side", s.gw.Addr().String()).
		Str("http", s.httpLn.Addr().String()).Str("admin", s.adminLn.Addr().String()).Str("bypass_id", s.Settings().BypassID).
		Str("web_service_url", s.Settings().WebServiceURL).
		Bool("bypass_enabled", s.Settings().Enabled).Str("gateway", firstTrunk(s.gateways)).Strs("gateways", trunkList(s.gateways)).
		Str("edge_peer", s.edgePeer.String()).Str("gateway_tls", addrOrNone(s.gw.TLSAddr())).
		Str("edge_tls", addrOrNone(s.edge.TLSAddr())).Msg("mediation server listening")
	if s.originLog != nil {
		s.originLog()
	}
	close(s.ready)
	stopHealth := s.startHealth()
	stopResolve := s.startResolve()

	sipCtx, stopSIP := context.WithCancel(context.Background())
	defer stopSIP()
	services := []*httpService{
		newHTTPService("http_listen", s.httpLn, s.httpHandler(), httpWriteTimeout, &s.httpConns, &s.httpEvicted, s.log),
		newHTTPService("admin.listen", s.adminLn, s.adminHandler(sipCtx.Done()), adminWriteTimeout, &s.httpConns, &s.httpEvicted, s.log),
	}
	errc := make(chan error, 3+len(services))
	go func() { errc <- s.edge.Wait(sipCtx) }()
	go func() { errc <- s.gw.Wait(sipCtx) }()
	pending := 2 + len(services)
	if s.dns != nil {
		go func() { errc <- s.dns.Wait(sipCtx) }()
		pending++
	}
	for _, h := range services {
		go func() { errc <- h.serve() }()
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		pending--
	}
	s.drain()
	s.leaveRotation()
	stopHealth()
	stopResolve()
	stopSIP()
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, h := range services {
		_ = h.srv.Shutdown(shutCtx)
	}
	for ; pending > 0; pending-- {
		if err := <-errc; err != nil && runErr == nil {
			runErr = err
		}
	}
	s.deps.workers.close(5 * time.Second)
	if err := s.records.close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("records: %w", err)
	}
	s.log.Info().Err(runErr).Msg("mediation server stopped")
	return runErr
}

// closeBound closes what bind opened, for a start that fails after it.
func (s *Server) closeBound() {
	s.edge.Close()
	s.gw.Close()
	s.httpLn.Close()
	s.adminLn.Close()
	s.closeDNS()
	s.records.close()
}

// bind opens every socket; on failure it closes what it opened.
func (s *Server) bind() error {
	edgeAddr, err := netip.ParseAddrPort(s.cfg.Edge.Listen)
	if err != nil {
		return fmt.Errorf("edge.listen: %w", err)
	}
	gwAddr, err := netip.ParseAddrPort(s.cfg.GatewayListen)
	if err != nil {
		return fmt.Errorf("gateway_listen: %w", err)
	}
	if s.alloc, err = relay.NewAllocator(s.mediaIP, s.mediaLow, s.mediaHigh, relay.WithQuarantine(s.cfg.Media.Quarantine)); err != nil {
		return err
	}
	if err := s.mediaProbe(s.mediaIP); err != nil {
		return &ListenError{Listener: "media.ip", Addr: s.mediaIP.String(), Err: err}
	}
	s.metrics = newMetrics(s.alloc)
	s.metrics.addOps(func() bool { return s.Settings().Enabled })
	s.wires.metrics = s.metrics
	if s.tls, err = newTLSStore(s.cfg.TLS); err != nil {
		return err
	}
	if s.tls != nil {
		if w := s.cfg.TLS.leafWarning(s.tls.leaf(), time.Now()); w != "" {
			s.log.Warn().Str("cert", s.cfg.TLS.Cert).Msg(w)
		}
	}
	s.registerTLSMetrics()
	for _, w := range s.cfg.TrunkAddressWarnings() {
		s.log.Warn().Msg(w)
	}
	for _, w := range s.cfg.TLSListenerWarnings() {
		s.log.Warn().Msg(w)
	}
	edgeTLS, err := s.tls.sideTLS(s.cfg.TLS.EdgeListen, nil)
	if err != nil {
		return err
	}
	if edgeTLS != nil {
		edgeTLS.Dial = edgeDial(s.edgePeer, s.cfg.Edge.CertName(), s.tls, edgeTLS.Client)
	}
	gwTLS, err := s.tls.sideTLS(s.cfg.TLS.GatewayListen, s.gateways.NamesAt)
	if err != nil {
		return err
	}
	if gwTLS != nil {
		gwTLS.Dial = trunkDial(s.gateways, s.tls, gwTLS.Client)
	}
	if s.edge, err = sip.NewSide(sip.SideConfig{Name: "edge", Listen: edgeAddr, UserAgent: s.userAgent, Log: s.log,
		Handler: sideHandler{s, outbound}, Tracer: s.wires.tracer(), Trust: s.edgeTrust(), TLS: edgeTLS, Conn: s.cfg.SIP.TCP.Limits(), UDPBuffer: s.cfg.SIP.UDPBufferBytes}); err != nil {
		return &ListenError{Listener: "edge.listen", Addr: edgeAddr.String(), Err: err}
	}
	if s.gw, err = sip.NewSide(sip.SideConfig{Name: "gateway", Listen: gwAddr, UserAgent: s.userAgent, Log: s.log,
		Handler: sideHandler{s, inbound}, Tracer: s.wires.tracer(), Trust: s.gatewayTrust(), TLS: gwTLS, Conn: s.cfg.SIP.TCP.Limits(), UDPBuffer: s.cfg.SIP.UDPBufferBytes}); err != nil {
		s.edge.Close()
		return &ListenError{Listener: "gateway_listen", Addr: gwAddr.String(), Err: err}
	}
	s.registerTrustMetrics()
	s.registerInputMetrics()
	s.registerSizeMetrics()
	s.registerDialBackMetrics()
	if s.httpLn, err = net.Listen("tcp", s.cfg.HTTPListen); err != nil {
		s.edge.Close()
		s.gw.Close()
		return &ListenError{Listener: "http_listen", Addr: s.cfg.HTTPListen, Err: err}
	}
	if s.adminLn, err = net.Listen("tcp", s.cfg.Admin.Listen); err != nil {
		s.edge.Close()
		s.gw.Close()
		s.httpLn.Close()
		return &ListenError{Listener: "admin.listen", Addr: s.cfg.Admin.Listen, Err: err}
	}
	if s.cfg.DNS.Listen != "" {
		if s.dns, err = geodns.Listen(netip.MustParseAddrPort(s.cfg.DNS.Listen), s.cfg.geoDNSConfig(s.log)); err != nil {
			s.edge.Close()
			s.gw.Close()
			s.httpLn.Close()
			s.adminLn.Close()
			return &ListenError{Listener: "dns.listen", Addr: s.cfg.DNS.Listen, Err: err}
		}
	}
	// The records file is opened once every socket is bound: a start that
	// fails to bind (a second `serve` while one runs) creates no empty
	// records file where none was.
	if s.records, err = openRecords(s.cfg.Records.Path, s.log); err != nil {
		s.closeBound()
		return err
	}
	s.registerRecordMetrics()
	s.deps = &callDeps{
		log: s.log, metrics: s.metrics, records: teeRecords{s.records, s.book}, index: s.calls, settings: s.Settings,
		alloc: s.alloc, gateways: s.gateways, edge: s.edge, gw: s.gw, gwTrust: s.gwTrust,
		edgePeer: s.edgePeer, edgeTransport: s.edgeTransport,
		edgeCalls: s.cfg.Edge.CallSettings, trunks: s.trunks,
		sip: s.cfg.SIP, media: s.cfg.Media,
		failover: s.cfg.GatewayFailover, trunkMetrics: newTrunkMetrics(s.metrics.reg, s.gateways.Trunks()),
		lateAnswer: func(side *sip.Side, inv *gosip.Request, res *gosip.Response, seq uint32) {
			// Marked here, in the order the 2xx came: its copy, close
			// behind it, gets the ACK only.
			go s.answerLate(side, inv, res, s.hungUp.add(res), seq)
		},
		hungUp:       &s.hungUp,
		ackLate:      func(side *sip.Side, inv *gosip.Request, res *gosip.Response) { go s.ackLate(side, inv, res) },
		workers:      newWorkers(workerIdle),
		noPortsLog:   &sip.Limiter{Every: 10 * time.Second},
		foreignLog:   &sip.Limiter{Every: 10 * time.Second},
		forkLog:      &sip.Limiter{Every: 10 * time.Second},
		challengeLog: &sip.Limiter{Every: 10 * time.Second},
	}
	return nil
}

// drain refuses new calls and ends the ones in progress.
func (s *Server) drain() {
	s.drainStart = time.Now()
	s.draining.Store(true)
	if n := s.calls.len(); n > 0 {
		s.log.Info().Int("calls", n).Msg("ending calls in progress")
	}
	// Every call ends itself on its own goroutine (BYE on both legs of an
	// answered call, CANCEL and 503 for a ringing one) and leaves the
	// registry when it is over; a call whose INVITE raced the drain is
	// told on a later pass.
	told := map[*call]bool{}
	deadline := time.Now().Add(drainTimeout)
	for {
		calls := s.calls.all()
		if len(calls) == 0 {
			return
		}
		for _, c := range calls {
			if !told[c] {
				told[c] = c.push(evShutdown{})
			}
		}
		if time.Now().After(deadline) {
			s.log.Warn().Int("calls", len(calls)).Msg("calls still in progress after the drain timeout")
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// leaveRotation keeps the listeners open until sip.leave_rotation has
// passed since the drain began, answering 503 with Retry-After: an idle
// server would otherwise close them at once, before a load balancer's
// next probe, and the load balancer's next call to it would wait for its
// own timer before trying another (r28-pool F4).
func (s *Server) leaveRotation() {
	if wait := s.cfg.SIP.LeaveRotation - time.Since(s.drainStart); wait > 0 {
		s.log.Info().Int64("wait_ms", wait.Milliseconds()).Msg("staying 503 to probes before closing the SIP listeners (sip.leave_rotation)")
		time.Sleep(wait)
	}
}

// Ready is closed once every listener is bound and the addresses are known.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// EdgeAddr is the edge side's SIP address (UDP and TCP). Valid after Ready.
func (s *Server) EdgeAddr() netip.AddrPort { return s.edge.Addr() }

// GatewayAddr is the gateway side's SIP address (UDP and TCP). Valid after Ready.
func (s *Server) GatewayAddr() netip.AddrPort { return s.gw.Addr() }

// HTTPAddr is the web service, /metrics and /healthz address. Valid after Ready.
func (s *Server) HTTPAddr() netip.AddrPort {
	return netip.MustParseAddrPort(s.httpLn.Addr().String())
}

// AdminAddr is the admin API's address. Valid after Ready.
func (s *Server) AdminAddr() netip.AddrPort {
	return netip.MustParseAddrPort(s.adminLn.Addr().String())
}

// DNSAddr is the geo DNS responder's address (UDP and TCP); invalid without
// dns.listen. Valid after Ready.
func (s *Server) DNSAddr() netip.AddrPort {
	if s.dns == nil {
		return netip.AddrPort{}
	}
	return s.dns.Addr()
}

func (s *Server) closeDNS() {
	if s.dns != nil {
		s.dns.Close()
	}
}

// Transactions reports the SIP transactions in progress on both sides
// (server and client ones): after the calls are over and the protocol
// timers have run, none should be left.
func (s *Server) Transactions() int {
	es, ec := s.edge.Transactions()
	gs, gc := s.gw.Transactions()
	return es + ec + gs + gc
}

// ActiveCalls is the number of calls in progress.
func (s *Server) ActiveCalls() int { return s.calls.len() }
