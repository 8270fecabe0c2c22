package sip

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
	// ClientFor, when set, gives the settings of a connection the side
	// dials itself that Dial has none for, checking the peer's
	// certificate against serverName, as they are at the dial (a
	// certificate reload changes them). nil: Client with that ServerName.
	ClientFor func(serverName string) *tls.Config
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
	return newHandshakeListener(limited, cfg.Server, messageTimeout, stats, log), addr, nil
}

// NameError is a TLS peer's certificate refused for the names it carries:
// valid otherwise, but naming none of those taken at the peer's address
// (a trunk's, on the gateway side's listener). A tls.Config's
// VerifyConnection returns it so that the listener counts the refusal as
// not_trunk.
type NameError struct{ Msg string }

func (e *NameError) Error() string { return e.Msg }

// errNoClientCert is how crypto/tls words a mutual-TLS refusal of a peer
// that sent no certificate (an untyped error).
const errNoClientCert = "didn't provide a certificate"

// handshakeFailure is why a handshake on our listener failed (ctxErr: its
// context's, set when it ran out of time), the counter of that reason, and
// the log message; quiet when not worth a warning: a peer that closed (or
// reset) the connection before any handshake, as a TCP check of the port
// does.
func handshakeFailure(err, ctxErr error, h *HandshakeFailures) (n *atomic.Uint64, reason, msg string, quiet bool) {
	var verr *tls.CertificateVerificationError
	var nerr *NameError
	var invalid x509.CertificateInvalidError
	var unknown x509.UnknownAuthorityError
	switch {
	case ctxErr != nil:
		return &h.Timeout, "timeout", "TLS handshake not done within the message timeout: connection closed", false
	case errors.Is(err, net.ErrClosed):
		// We closed it under the handshake: a stranger's connection at
		// its idle timeout (sip.tcp.untrusted_idle_timeout), shorter
		// than the message timeout.
		return &h.Timeout, "timeout", "TLS handshake not done within the connection's idle timeout: connection closed", false
	case errors.As(err, &nerr):
		return &h.NotTrunk, "not_trunk", "TLS handshake refused: the peer's certificate names no trunk at its address", false
	case strings.Contains(err.Error(), errNoClientCert):
		return &h.NoCertificate, "no_certificate", "TLS handshake refused: the peer sent no client certificate", false
	case errors.As(err, &verr), errors.As(err, &invalid), errors.As(err, &unknown),
		strings.Contains(err.Error(), "client certificate"):
		return &h.BadCertificate, "bad_certificate", "TLS handshake refused: the peer's certificate is not valid", false
	}
	// A check that closes with a reset (SO_LINGER 0, as load balancers'
	// TCP checks do) is as quiet as one that closes in order.
	return &h.Other, "other", "TLS handshake failed: connection closed", errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// handshakeListener hands out TLS connections whose handshake is done,
// each run on a goroutine of its own and bounded by timeout (the message
// timeout: a ClientHello is a message too; 0: unbounded). tls.NewListener's
// connections shake hands on their first read instead, unbounded but for
// the idle timeout (30 min by default): five bytes of a ClientHello held a
// connection slot that long. Every failed handshake is counted by reason
// and logged at warn, one line a second at most (a peer that closed the
// connection before any handshake, at info): a trunk whose certificate is
// refused is seen in the log at warn level and in /metrics.
type handshakeListener struct {
	net.Listener
	cfg     *tls.Config
	timeout time.Duration
	stats   *ConnStats
	log     zerolog.Logger
	logs    Limiter
	// quietLogs limits the info lines of peers that closed before any
	// handshake apart, so that a TCP check of the port every second
	// cannot take the warnings' turn.
	quietLogs Limiter
	conns     chan net.Conn
	done      chan struct{}
	once      sync.Once
	err       error // the raw listener's, once conns is closed
}

func newHandshakeListener(raw net.Listener, cfg *tls.Config, timeout time.Duration, stats *ConnStats, log zerolog.Logger) *handshakeListener {
	l := &handshakeListener{Listener: raw, cfg: cfg, timeout: timeout, stats: stats, log: log,
		logs: Limiter{Every: time.Second}, quietLogs: Limiter{Every: time.Second}, conns: make(chan net.Conn), done: make(chan struct{})}
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
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if l.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, l.timeout)
	}
	defer cancel()
	if err := c.HandshakeContext(ctx); err != nil {
		n, reason, msg, quiet := handshakeFailure(err, ctx.Err(), &l.stats.Handshakes)
		n.Add(1)
		// One closed at its idle timeout counts as idle already.
		slow := reason == "timeout" && ctx.Err() != nil
		if slow {
			l.stats.Slow.Add(1)
		}
		_ = c.Close()
		logs, ev := &l.logs, l.log.Warn()
		if quiet {
			logs, ev = &l.quietLogs, l.log.Info()
		}
		if ok, suppressed := logs.Allow(); ok {
			ev = ev.Err(err).Str("remote", raw.RemoteAddr().String()).Str("reason", reason)
			if slow {
				ev = ev.Int64("message_timeout_ms", l.timeout.Milliseconds())
			}
			ev.Int("suppressed", suppressed).Msg(msg)
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
