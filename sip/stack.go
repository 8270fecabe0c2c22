package sip

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

func init() {
	// Skype for Business INVITEs carry ICE candidates, several crypto lines
	// and ms-* headers; they are well over sipgo's 1300-byte UDP default.
	// 10000 leaves room for the largest SfB offers seen (about 5 KB).
	if gosip.UDPMTUSize < 10000 {
		gosip.UDPMTUSize = 10000
	}
}

// readyTimeout bounds the wait for sipgo to take over a bound socket; a
// listener not serving by then is broken.
const readyTimeout = 5 * time.Second

// StackConfig says where a SIP stack listens and how it is built.
type StackConfig struct {
	// Name appears in every log line of the stack ("edge", "gateway",
	// "sbc", ...).
	Name string
	// Listen is IP:PORT for UDP and TCP; port 0 picks one free for both.
	// The IP goes into Via and Contact, so it must be a concrete address.
	Listen netip.AddrPort
	// UserAgent names the stack in User-Agent and Server headers.
	UserAgent string
	Log       zerolog.Logger
	// ReadFilter, when set, sees every read of every transport before sipgo
	// parses it (see gosip.WithTransportLayerReadFilter).
	ReadFilter gosip.TransportReadFilter
	// TransactionOptions are added to sipgo's transaction layer options.
	TransactionOptions []gosip.TransactionLayerOption
	// TLS, when set, adds a TLS listener and the TLS client settings.
	TLS *TLSConfig
	// Conn bounds the TCP and TLS connections peers open (connlimit.go).
	Conn ConnLimits
	// UDPBuffer is the size in bytes asked for the UDP socket's kernel
	// receive and send buffers (udpbuffer.go); 0 keeps the system's.
	UDPBuffer int
}

// Stack is one sipgo user agent serving a UDP socket and a TCP listener on
// the same address, with a server and one client per transport: the UDP
// client is pinned to the listen socket (peers see requests come from the
// port they talk to), the TCP one is not (sipgo would reuse an accepted
// connection of another peer). The mediation server's sides and the
// simulated endpoints are both built on it.
type Stack struct {
	// UA is the sipgo user agent; Server serves its listeners.
	UA     *sipgo.UserAgent
	Server *sipgo.Server

	name      string
	addr      netip.AddrPort
	log       zerolog.Logger
	slog      *slog.Logger
	udpConn   *net.UDPConn
	tcpLn     *net.TCPListener
	tcpServe  net.Listener // tcpLn within the connection limits
	tlsLn     net.Listener // nil without TLS
	connStats ConnStats
	// writeTimeout is ConnLimits.WriteTimeout (watchedConn).
	writeTimeout time.Duration
	tlsAddr      netip.AddrPort
	tlsDial      *tlsDialer  // nil: sipgo dials every TLS connection
	tlsClient    *tls.Config // the UA's TLS client settings; nil without TLS
	feeds        dialFeeds   // connections the stack dials itself (dialer.go)

	tlsClientFor func(serverName string) *tls.Config // TLSConfig.ClientFor
	udpClient    *sipgo.Client
	tcpClient    *sipgo.Client
	udpBufs      UDPBuffers // as the kernel reports them; zero when not set

	// limits keeps the side's connection counts (nil: no limits): one
	// set for its TCP and TLS listeners and the connections it dials back
	// to peers, so that sip.tcp's limits are the side's, not each
	// listener's.
	limits *connLimiter

	errc      chan error // one slot per serve loop (at most 5)
	serving   sync.WaitGroup
	startOnce sync.Once
	closeOnce sync.Once
	closeErr  error
}

// NewStack binds the sockets and builds the user agent, server and
// clients. Nothing is read until Start.
func NewStack(cfg StackConfig) (*Stack, error) {
	if !cfg.Listen.Addr().IsValid() || cfg.Listen.Addr().IsUnspecified() {
		// The address goes into Via and Contact; a wildcard there is useless.
		return nil, fmt.Errorf("%s: listen address %s: need a concrete IP", cfg.Name, cfg.Listen)
	}
	udpConn, tcpLn, err := ListenPair(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Name, err)
	}
	addr := netip.AddrPortFrom(cfg.Listen.Addr(), udpConn.LocalAddr().(*net.UDPAddr).AddrPort().Port())
	log := cfg.Log.With().Str("side", cfg.Name).Logger()
	var udpBufs UDPBuffers
	if cfg.UDPBuffer > 0 {
		got, err := setUDPBuffers(udpConn, cfg.UDPBuffer)
		if err != nil {
			udpConn.Close()
			tcpLn.Close()
			return nil, fmt.Errorf("%s: %w", cfg.Name, err)
		}
		log.Debug().Int("udp_buffer_asked_bytes", cfg.UDPBuffer).Int("udp_read_buffer_bytes", got.Read).
			Int("udp_write_buffer_bytes", got.Write).Msg("udp socket buffers")
		udpBufs = got
	}
	s := &Stack{name: cfg.Name, addr: addr, log: log, udpConn: udpConn, tcpLn: tcpLn, udpBufs: udpBufs, errc: make(chan error, 8)}
	sl := newSipgoLogger(log, &s.connStats.ReadErrors)
	s.slog = sl
	s.limits = newConnLimiter(cfg.Conn, &s.connStats, log)
	s.writeTimeout = cfg.Conn.WriteTimeout
	s.tcpServe = s.limits.listen(tcpLn)
	uaOpts := []sipgo.UserAgentOption{}
	if cfg.TLS != nil && cfg.TLS.Server != nil {
		if s.tlsLn, s.tlsAddr, err = listenTLS(cfg.TLS, s.limits, cfg.Conn.MessageTimeout, &s.connStats, log); err != nil {
			udpConn.Close()
			s.tcpServe.Close()
			return nil, fmt.Errorf("%s: %w", cfg.Name, err)
		}
	}
	s.feeds = dialFeeds{tcp: newConnFeed(addr), dialing: map[dialKey]chan struct{}{}}
	if cfg.TLS != nil {
		feedAddr := addr
		if s.tlsLn != nil {
			feedAddr = s.tlsAddr
		}
		s.feeds.tls = newConnFeed(feedAddr)
	}
	if cfg.TLS != nil && cfg.TLS.Dial != nil {
		s.tlsDial = &tlsDialer{config: cfg.TLS.Dial}
	}
	if cfg.TLS != nil {
		client := cfg.TLS.Client
		if client == nil {
			client = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		s.tlsClient, s.tlsClientFor = client, cfg.TLS.ClientFor
		uaOpts = append(uaOpts, sipgo.WithUserAgenTLSConfig(client))
	}
	closeAll := func() {
		udpConn.Close()
		s.tcpServe.Close()
		if s.tlsLn != nil {
			s.tlsLn.Close()
		}
	}

	tpOpts := []gosip.TransportLayerOption{gosip.WithTransportLayerLogger(sl)}
	if cfg.ReadFilter != nil {
		tpOpts = append(tpOpts, gosip.WithTransportLayerReadFilter(cfg.ReadFilter))
	}
	txOpts := append([]gosip.TransactionLayerOption{gosip.WithTransactionLayerLogger(sl)}, cfg.TransactionOptions...)
	host := URIHost(addr.Addr())
	ua, err := sipgo.NewUA(append(uaOpts,
		sipgo.WithUserAgent(cfg.UserAgent),
		sipgo.WithUserAgentHostname(host),
		sipgo.WithUserAgentTransactionLayerOptions(txOpts...),
		sipgo.WithUserAgentTransportLayerOptions(tpOpts...),
	)...)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("%s: user agent: %w", cfg.Name, err)
	}
	s.UA = ua
	if s.Server, err = sipgo.NewServer(ua, sipgo.WithServerLogger(sl)); err == nil {
		s.udpClient, err = sipgo.NewClient(ua, sipgo.WithClientLogger(sl),
			sipgo.WithClientHostname(host), sipgo.WithClientPort(int(addr.Port())),
			sipgo.WithClientConnectionAddr(addr.String()))
	}
	if err == nil {
		tcpOpts := []sipgo.ClientOption{sipgo.WithClientLogger(sl), sipgo.WithClientHostname(host)}
		if ip := s.localIP(); ip.IsValid() {
			// Connections dialled for requests sent through sipgo's client
			// (the lab endpoints') leave from our IP too, any port.
			tcpOpts = append(tcpOpts, sipgo.WithClientConnectionAddr(netip.AddrPortFrom(ip, 0).String()))
		}
		s.tcpClient, err = sipgo.NewClient(ua, tcpOpts...)
	}
	if err != nil {
		closeAll()
		_ = ua.Close()
		return nil, fmt.Errorf("%s: %w", cfg.Name, err)
	}
	return s, nil
}

// listenAttempts bounds the search for a port free on both UDP and TCP;
// a handful always suffices.
const listenAttempts = 64

// ListenPair binds UDP and TCP on the same address, so one SIP address
// serves both transports. With port 0 it lets the kernel pick a UDP port
// and retries until TCP can have the same one.
func ListenPair(addr netip.AddrPort) (*net.UDPConn, *net.TCPListener, error) {
	for range listenAttempts {
		udp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
		if err != nil {
			return nil, nil, err // a *net.OpError: "listen udp ADDR: bind: ..."
		}
		got := netip.AddrPortFrom(addr.Addr(), udp.LocalAddr().(*net.UDPAddr).AddrPort().Port())
		tcp, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(got))
		if err == nil {
			return udp, tcp, nil
		}
		udp.Close()
		if addr.Port() != 0 || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, err // names tcp and the address already
		}
	}
	return nil, nil, fmt.Errorf("listen %s: no port free for both UDP and TCP after %d attempts", addr, listenAttempts)
}

// Start serves UDP and TCP in the background and returns once sipgo has
// taken over the UDP socket (until then a request pinned to the listen
// address would make sipgo bind a second socket there and fail). It returns
// an error when a listener stopped or is not serving within readyTimeout.
func (s *Stack) Start() error {
	started := false
	s.startOnce.Do(func() {
		started = true
		var udp net.PacketConn = s.udpConn
		s.serving.Add(2)
		go func() { defer s.serving.Done(); s.errc <- s.Server.ServeUDP(udp) }()
		go func() {
			defer s.serving.Done()
			s.errc <- s.Server.ServeTCP(watchListener{s.tcpServe, s.writeLimit()})
		}()
		if s.tlsLn != nil {
			s.serving.Add(1)
			go func() {
				defer s.serving.Done()
				s.errc <- s.Server.ServeTLS(watchListener{s.tlsLn, s.writeLimit()})
			}()
		}
		s.serving.Add(1)
		go func() { defer s.serving.Done(); s.errc <- s.Server.ServeTCP(s.feeds.tcp) }()
		if s.feeds.tls != nil {
			s.serving.Add(1)
			go func() { defer s.serving.Done(); s.errc <- s.Server.ServeTLS(s.feeds.tls) }()
		}
	})
	if !started {
		return fmt.Errorf("%s: already started", s.name)
	}
	tl := s.UA.TransportLayer()
	deadline := time.Now().Add(readyTimeout)
	wait := time.Millisecond
	for {
		if c, err := tl.GetConnection("udp", s.addr.String()); err == nil {
			_, _ = c.TryClose() // GetConnection took a reference
			if err := s.open(); err != nil {
				return fmt.Errorf("%s: listener not serving: %w", s.name, err)
			}
			return nil
		}
		select {
		case err := <-s.errc:
			s.errc <- err // Wait reports it too
			return fmt.Errorf("%s: listener stopped before serving: %w", s.name, err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: udp %s not serving after %s", s.name, s.addr, readyTimeout)
		}
		time.Sleep(wait)
		wait = min(2*wait, 20*time.Millisecond)
	}
}

// open checks that both sockets are still open (sipgo may have taken a
// socket that was closed under it).
func (s *Stack) open() error {
	for _, sc := range []interface {
		SyscallConn() (syscall.RawConn, error)
	}{s.udpConn, s.tcpLn} {
		rc, err := sc.SyscallConn()
		if err == nil {
			err = rc.Control(func(uintptr) {})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// ConnStats counts the connections the limits refused or closed.
func (s *Stack) ConnStats() *ConnStats { return &s.connStats }

// writeLimit is the stack's write timeout for its stream connections.
func (s *Stack) writeLimit() writeLimit {
	return writeLimit{timeout: s.writeTimeout, timeouts: &s.connStats.WriteTimeouts}
}

// Failed delivers the error of a listener that stopped on its own (not by
// Close).
func (s *Stack) Failed() <-chan error { return s.errc }

// Close stops reading, waits for the serve loops and closes the user agent
// (every transaction and connection). It is idempotent.
func (s *Stack) Close() error {
	s.closeOnce.Do(func() {
		// Stop reading before sipgo clears its connection pool: a request
		// read after the clear would make sipgo open a socket nobody closes.
		s.udpConn.Close()
		s.tcpServe.Close()
		if s.tlsLn != nil {
			s.tlsLn.Close()
		}
		s.feeds.tcp.Close()
		if s.feeds.tls != nil {
			s.feeds.tls.Close()
		}
		s.serving.Wait()
		if err := s.UA.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			s.closeErr = fmt.Errorf("%s: close: %w", s.name, err)
		}
	})
	return s.closeErr
}

// Name is the stack's name in logs.
func (s *Stack) Name() string { return s.name }

// UDPBuffers are the UDP socket's buffer sizes as the kernel reported them
// when StackConfig.UDPBuffer set them (zero otherwise, or where they cannot
// be read back).
func (s *Stack) UDPBuffers() UDPBuffers { return s.udpBufs }

// Addr is the stack's SIP address, the same for UDP and TCP.
func (s *Stack) Addr() netip.AddrPort { return s.addr }

// localIP is the address the stack's own TCP and TLS connections leave
// from: the listening IP, the one its Via and Contact advertise (an SBC
// that admits peers by IP sees that one, not whichever the kernel would
// pick); invalid when the stack listens on every address.
func (s *Stack) localIP() netip.Addr {
	if a := s.addr.Addr(); !a.IsUnspecified() {
		return a
	}
	return netip.Addr{}
}

// Host is the stack's IP as written in URIs and Via.
func (s *Stack) Host() string { return URIHost(s.addr.Addr()) }

// Log is the stack's logger.
func (s *Stack) Log() *zerolog.Logger { return &s.log }

// Slog is the stack's logger in log/slog form, for sipgo objects.
func (s *Stack) Slog() *slog.Logger { return s.slog }

// Client returns the sipgo client for a transport ("udp", "tcp", "tls").
func (s *Stack) Client(transport string) *sipgo.Client {
	if isStream(transport) {
		return s.tcpClient
	}
	return s.udpClient
}

// Contact is the stack's Contact for a transport, with user as user part
// ("" for none).
func (s *Stack) Contact(user, transport string) gosip.ContactHeader {
	uri := gosip.Uri{Scheme: "sip", User: user, Host: s.Host(), Port: int(s.Port(transport))}
	if isStream(transport) {
		uri.UriParams = gosip.NewParams()
		uri.UriParams.Add("transport", strings.ToLower(transport))
	}
	return gosip.ContactHeader{Address: uri}
}

// Port is the stack's port for a transport: the TLS listener's for TLS,
// else the one UDP and TCP share.
func (s *Stack) Port(transport string) uint16 {
	if strings.EqualFold(transport, "tls") && s.tlsLn != nil {
		return s.tlsAddr.Port()
	}
	return s.addr.Port()
}

// URIHost writes an IP as SIP wants it in URIs and Via: IPv6 in brackets.
// sipgo builds destinations as host:port, so a bare IPv6 host would not
// parse.
func URIHost(ip netip.Addr) string {
	if ip.Is6() && !ip.Is4In6() {
		return "[" + ip.String() + "]"
	}
	return ip.String()
}

// SetDefaultLogger sends the logs of sipgo code paths that use its
// process-wide default logger (connection pools, stray responses) to log
// instead of this package's default (zerolog on stderr at warn level,
// sipgolog.go). It changes process state, so only a program's main should
// call it, before any Stack is built.
func SetDefaultLogger(log zerolog.Logger) {
	gosip.SetDefaultLogger(newSipgoLogger(log, nil))
}
