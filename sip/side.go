package sip

import (
	"context"
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

// SideConfig says where one side listens and how it introduces itself.
type SideConfig struct {
	// Name is "edge" or "gateway"; it appears in every log line of the side.
	Name string
	// Listen is IP:PORT for UDP and TCP; port 0 picks one free for both.
	Listen netip.AddrPort
	// UserAgent is the User-Agent / Server header value.
	UserAgent string
	Log       zerolog.Logger
}

// Side is one network side of the B2BUA: a UDP socket and a TCP listener on
// the same port, one sipgo user agent and server, and one client per
// transport (UDP pinned to the listen socket so peers see replies from the
// port they talk to; TCP unpinned, since sipgo would otherwise reuse an
// accepted connection for a different peer).
type Side struct {
	Name   string
	Server *sipgo.Server

	ua        *sipgo.UserAgent
	udpClient *sipgo.Client
	tcpClient *sipgo.Client
	udpConn   net.PacketConn
	tcpLn     net.Listener
	addr      netip.AddrPort
	log       zerolog.Logger

	errc      chan error
	closeOnce sync.Once
}

// NewSide binds the side's sockets and builds its user agent, server and
// clients. Nothing is served until Serve.
func NewSide(cfg SideConfig) (*Side, error) {
	udpConn, tcpLn, err := ListenPair(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("%s side: %w", cfg.Name, err)
	}
	addr := netip.MustParseAddrPort(udpConn.LocalAddr().String())
	log := cfg.Log.With().Str("side", cfg.Name).Logger()
	sl := slog.New(zerolog.NewSlogHandler(log.With().Str("component", "sipgo").Logger()))

	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(cfg.UserAgent),
		sipgo.WithUserAgentHostname(addr.Addr().String()),
		sipgo.WithUserAgentTransactionLayerOptions(gosip.WithTransactionLayerLogger(sl)),
		sipgo.WithUserAgentTransportLayerOptions(gosip.WithTransportLayerLogger(sl)),
	)
	if err != nil {
		udpConn.Close()
		tcpLn.Close()
		return nil, fmt.Errorf("%s side: user agent: %w", cfg.Name, err)
	}
	s := &Side{Name: cfg.Name, ua: ua, udpConn: udpConn, tcpLn: tcpLn, addr: addr, log: log}
	host, port := addr.Addr().String(), int(addr.Port())
	if s.Server, err = sipgo.NewServer(ua, sipgo.WithServerLogger(sl)); err == nil {
		s.udpClient, err = sipgo.NewClient(ua, sipgo.WithClientLogger(sl),
			sipgo.WithClientHostname(host), sipgo.WithClientPort(port),
			sipgo.WithClientConnectionAddr(addr.String()))
	}
	if err == nil {
		s.tcpClient, err = sipgo.NewClient(ua, sipgo.WithClientLogger(sl),
			sipgo.WithClientHostname(host), sipgo.WithClientPort(port))
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("%s side: %w", cfg.Name, err)
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
			return nil, nil, fmt.Errorf("listen udp %s: %w", addr, err)
		}
		got := netip.AddrPortFrom(addr.Addr(), udp.LocalAddr().(*net.UDPAddr).AddrPort().Port())
		tcp, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(got))
		if err == nil {
			return udp, tcp, nil
		}
		udp.Close()
		if addr.Port() != 0 || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, fmt.Errorf("listen tcp %s: %w", got, err)
		}
	}
	return nil, nil, fmt.Errorf("listen %s: no port free for both UDP and TCP after %d attempts", addr, listenAttempts)
}

// Addr is the side's SIP address, the same for UDP and TCP.
func (s *Side) Addr() netip.AddrPort { return s.addr }

// Start serves UDP and TCP in the background and returns once sipgo has
// registered the UDP socket: before that, the pinned UDP client would try to
// bind the listen address itself and fail.
func (s *Side) Start() {
	s.errc = make(chan error, 2)
	go func() { s.errc <- s.Server.ServeUDP(s.udpConn) }()
	go func() { s.errc <- s.Server.ServeTCP(s.tcpLn) }()
	tl := s.ua.TransportLayer()
	for i := 0; i < 2000; i++ {
		if _, err := tl.GetConnection("udp", s.addr.String()); err == nil {
			return
		}
		time.Sleep(time.Millisecond)
	}
	s.log.Warn().Msg("UDP listener not registered after 2s")
}

// Wait blocks until ctx is done or a listener fails, then closes the side.
// It returns nil after ctx is done, else the listener's error.
func (s *Side) Wait(ctx context.Context) error {
	var first error
	select {
	case <-ctx.Done():
	case first = <-s.errc:
	}
	s.Close()
	second := <-s.errc
	if ctx.Err() != nil {
		return nil
	}
	if first == nil {
		first = second
	}
	return fmt.Errorf("%s side: %w", s.Name, first)
}

// Close closes the sockets and the user agent (all transactions). It is
// idempotent.
func (s *Side) Close() {
	s.closeOnce.Do(func() {
		s.udpConn.Close()
		s.tcpLn.Close()
		if err := s.ua.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Debug().Err(err).Msg("closing user agent")
		}
	})
}

// Client returns the client for a transport ("udp" or "tcp").
func (s *Side) Client(transport string) *sipgo.Client {
	if strings.EqualFold(transport, "tcp") {
		return s.tcpClient
	}
	return s.udpClient
}

// Contact is the side's Contact header for a transport.
func (s *Side) Contact(transport string) gosip.ContactHeader {
	uri := gosip.Uri{Scheme: "sip", Host: s.addr.Addr().String(), Port: int(s.addr.Port())}
	if strings.EqualFold(transport, "tcp") {
		uri.UriParams = gosip.NewParams()
		uri.UriParams.Add("transport", "tcp")
	}
	return gosip.ContactHeader{Address: uri}
}

// DialogUA is the dialog user agent for dialogs on this side over a
// transport. In-dialog requests go to the address the peer's messages came
// from, which keeps TCP calls on their connection and copes with peers whose
// Contact is not reachable.
func (s *Side) DialogUA(transport string) *sipgo.DialogUA {
	return &sipgo.DialogUA{Client: s.Client(transport), ContactHDR: s.Contact(transport), RewriteContact: true}
}

// Log is the side's logger.
func (s *Side) Log() *zerolog.Logger { return &s.log }

// SetDefaultLogger sends the logs of sipgo code paths that use its
// process-wide default logger (connection pools, stray responses) to log
// instead of stderr. It changes process state, so only a program's main
// should call it, before any Side is built.
func SetDefaultLogger(log zerolog.Logger) {
	gosip.SetDefaultLogger(slog.New(zerolog.NewSlogHandler(log.With().Str("component", "sipgo").Logger())))
}
