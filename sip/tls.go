package sip

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// TLSConfig is a side's SIP over TLS (RFC 3261 §26.2): a listener of its
// own (TLS has its own port: 5061 by convention, 5067 on CCE's gateway
// side) and the settings for the connections the side dials.
type TLSConfig struct {
	// Listen is IP:PORT of the TLS listener; port 0 picks a free one.
	Listen netip.AddrPort
	// Server has the certificate and, for mutual TLS, ClientAuth and
	// ClientCAs (and any check of the peer's name); nil: no listener, TLS
	// only towards peers.
	Server *tls.Config
	// Client is used for every connection the side dials: RootCAs, a
	// client certificate for peers that ask for one, name checks.
	Client *tls.Config
	// Dial, when set, gives the settings of a connection to dest that
	// the side dials itself (tlsdial.go): its ServerName is sent as SNI
	// and the certificate must carry it. nil from Dial (or no Dial): sipgo
	// dials with Client, by IP, without SNI.
	Dial func(dest netip.AddrPort) *tls.Config
}

// listenTLS binds the TLS listener, within limits (the side's, shared with
// its TCP listener); handshakes not done within messageTimeout (0: no
// bound) are given up.
func listenTLS(cfg *TLSConfig, limits *connLimiter, messageTimeout time.Duration, stats *ConnStats, log zerolog.Logger) (net.Listener, netip.AddrPort, error) {
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(cfg.Listen))
	if err != nil {
		return nil, netip.AddrPort{}, fmt.Errorf("listen tls %s: %w", cfg.Listen, err)
	}
	addr := netip.AddrPortFrom(cfg.Listen.Addr(), ln.Addr().(*net.TCPAddr).AddrPort().Port())
	// The limits apply to the raw connections, under TLS: a peer that
	// never completes its handshake is idle too.
	limited := limits.listen(ln)
	if messageTimeout > 0 {
		return newHandshakeListener(limited, cfg.Server, messageTimeout, stats, log), addr, nil
	}
	return tls.NewListener(limited, cfg.Server), addr, nil
}

// handshakeListener hands out TLS connections whose handshake is done,
// each run on a goroutine of its own and bounded by timeout (the message
// timeout: a ClientHello is a message too). tls.NewListener's connections
// shake hands on their first read instead, unbounded but for the idle
// timeout (30 min by default): five bytes of a ClientHello held a
// connection slot that long.
type handshakeListener struct {
	net.Listener
	cfg     *tls.Config
	timeout time.Duration
	stats   *ConnStats
	log     zerolog.Logger
	logs    Limiter
	conns   chan net.Conn
	done    chan struct{}
	once    sync.Once
	err     error // the raw listener's, once conns is closed
}

func newHandshakeListener(raw net.Listener, cfg *tls.Config, timeout time.Duration, stats *ConnStats, log zerolog.Logger) *handshakeListener {
	l := &handshakeListener{Listener: raw, cfg: cfg, timeout: timeout, stats: stats, log: log,
		logs: Limiter{Every: time.Second}, conns: make(chan net.Conn), done: make(chan struct{})}
	go l.accept()
	return l
}

func (l *handshakeListener) accept() {
	defer close(l.conns)
	for {
		raw, err := l.Listener.Accept()
		if err != nil {
			l.err = err
			return
		}
		go l.handshake(raw)
	}
}

func (l *handshakeListener) handshake(raw net.Conn) {
	c := tls.Server(raw, l.cfg)
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	if err := c.HandshakeContext(ctx); err != nil {
		if ctx.Err() != nil {
			l.stats.Slow.Add(1)
		}
		_ = c.Close()
		if ok, n := l.logs.Allow(); ok {
			l.log.Info().Err(err).Str("remote", raw.RemoteAddr().String()).Int64("message_timeout_ms", l.timeout.Milliseconds()).
				Int("suppressed", n).Msg("TLS handshake failed or not done in time: connection closed")
		}
		return
	}
	select {
	case l.conns <- c:
	case <-l.done:
		_ = c.Close()
	}
}

// Accept returns the next connection whose handshake is done.
func (l *handshakeListener) Accept() (net.Conn, error) {
	select {
	case c, ok := <-l.conns:
		if !ok {
			return nil, l.err
		}
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting; connections mid-handshake are closed when done.
func (l *handshakeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// TLSAddr is the stack's TLS address; invalid without TLS.
func (s *Stack) TLSAddr() netip.AddrPort { return s.tlsAddr }

// TLSAddr is the side's TLS address; invalid without TLS.
func (s *Side) TLSAddr() netip.AddrPort { return s.stack.tlsAddr }
