package sip

// This file bounds what TCP and TLS peers may hold of a stack: accepted
// connections per remote IP and in all, and how long an accepted
// connection may stay silent. Without it 2,000 half-open connections hold
// 2,000 descriptors (which the relay's RTP sockets share) for ever.

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// ConnLimits bound the TCP and TLS connections peers open to a stack. The
// zero value limits nothing.
type ConnLimits struct {
	// MaxPerIP caps the accepted connections from one IP; 0: no cap.
	MaxPerIP int
	// Max caps the accepted connections in all; 0: no cap.
	Max int
	// IdleTimeout closes an accepted connection that sent nothing for this
	// long; 0: never.
	IdleTimeout time.Duration
	// MessageTimeout closes a connection whose message is still incomplete
	// this long after its first byte arrived (a slow sender); 0: never. It
	// is applied by the Side, which parses the stream.
	MessageTimeout time.Duration
	// MaxUntrusted caps the accepted connections from sources outside the
	// side's Trust, so that strangers cannot take the places trusted peers
	// need: these keep Max-MaxUntrusted for themselves. 0: only Max.
	MaxUntrusted int
	// UntrustedIdleTimeout closes an accepted connection from an
	// untrusted source that sent nothing for this long (it can only ever
	// get 403s); 0: IdleTimeout.
	UntrustedIdleTimeout time.Duration
	// WriteTimeout closes a connection, accepted or dialled, a write to
	// which does not finish within it (the peer reads nothing: watchedConn);
	// 0: never.
	WriteTimeout time.Duration

	// trust, set by the Side, tells trusted sources from the others at
	// accept; when it drops untrusted TCP requests (not RejectTCP), an
	// untrusted source's connection is closed at once. nil: all trusted.
	trust *Trust
}

// ConnStats count what the limits did.
type ConnStats struct {
	// Refused counts connections closed at once: over MaxPerIP or Max.
	Refused atomic.Uint64
	// Idle counts connections closed for IdleTimeout.
	Idle atomic.Uint64
	// Slow counts connections closed for MessageTimeout.
	Slow atomic.Uint64
	// WriteTimeouts counts connections closed for WriteTimeout.
	WriteTimeouts atomic.Uint64
	// Untrusted counts connections from untrusted sources closed at
	// accept, as their requests would be dropped anyway.
	Untrusted atomic.Uint64
	// ReadErrors counts connections whose read failed (a peer's reset,
	// mostly), as sipgo reports them: closed by sipgo.
	ReadErrors atomic.Uint64
	// Handshakes counts the TLS handshakes on the side's listener that
	// failed, by why (tls.go); one timed out at MessageTimeout counts in
	// Slow too, one closed at its idle timeout in Idle.
	Handshakes HandshakeFailures
}

// HandshakeFailures count the TLS handshakes a side's listener gave up
// on, by reason.
type HandshakeFailures struct {
	// Timeout: not done within MessageTimeout, or closed under the
	// handshake at a stranger's UntrustedIdleTimeout.
	Timeout atomic.Uint64
	// NoCertificate: mutual TLS, and the peer sent no client certificate.
	NoCertificate atomic.Uint64
	// BadCertificate: the peer's certificate is not valid for us:
	// expired, from a CA we do not trust, without a TLS usage, unreadable.
	BadCertificate atomic.Uint64
	// NotTrunk: a valid certificate that names none of the names taken
	// at the peer's address (NameError).
	NotTrunk atomic.Uint64
	// Other: anything else (the peer refused our certificate, spoke no
	// TLS, closed the connection, no common version or cipher suite).
	Other atomic.Uint64
}

// ByReason is each counter with its reason as /metrics names it.
func (h *HandshakeFailures) ByReason() map[string]*atomic.Uint64 {
	return map[string]*atomic.Uint64{"timeout": &h.Timeout, "no_certificate": &h.NoCertificate,
		"bad_certificate": &h.BadCertificate, "not_trunk": &h.NotTrunk, "other": &h.Other}
}

// connLimiter keeps the counts ConnLimits bound: one per side, shared by
// all of its stream listeners (TCP and TLS, whatever their addresses) and
// the connections it dials back to peers, so that the limits hold for the
// side as README says, not once per listener (a side with TCP and TLS
// listeners let one IP hold twice MaxPerIP, r25-tcp F1).
type connLimiter struct {
	lim   ConnLimits
	stats *ConnStats
	log   zerolog.Logger
	logs  Limiter

	mu    sync.Mutex
	perIP map[netip.Addr]int
	conns map[*trackedConn]struct{}
	// untrusted is the number of conns from untrusted sources.
	untrusted int
	// listeners is the number of open listeners under the limiter: the
	// janitor stops when the last one closes.
	listeners int
	stop      chan struct{}
	once      sync.Once
}

// newConnLimiter is the limiter of lim, its janitor running; nil when lim
// limits nothing.
func newConnLimiter(lim ConnLimits, stats *ConnStats, log zerolog.Logger) *connLimiter {
	if lim.MaxPerIP <= 0 && lim.Max <= 0 && lim.IdleTimeout <= 0 &&
		(lim.trust == nil || lim.trust.RejectTCP && lim.MaxUntrusted <= 0 && lim.UntrustedIdleTimeout <= 0) {
		return nil
	}
	l := &connLimiter{lim: lim, stats: stats, log: log, logs: Limiter{Every: time.Second},
		perIP: map[netip.Addr]int{}, conns: map[*trackedConn]struct{}{}, stop: make(chan struct{})}
	if lim.IdleTimeout > 0 || lim.trust != nil && (lim.UntrustedIdleTimeout > 0 || lim.MaxUntrusted > 0) {
		// Also for MaxUntrusted alone: the janitor promotes connections
		// whose source became trusted.
		go l.janitor()
	}
	return l
}

// listen puts ln's connections under l (ln itself when l is nil). The
// janitor stops when every listener l wraps is closed.
func (l *connLimiter) listen(ln net.Listener) net.Listener {
	if l == nil {
		return ln
	}
	l.mu.Lock()
	l.listeners++
	l.mu.Unlock()
	return &limitedListener{Listener: ln, l: l}
}

// limitedListener hands out the connections its listener accepts within
// the limits of l.
type limitedListener struct {
	net.Listener
	l    *connLimiter
	once sync.Once
}

// LimitListener applies lim's MaxPerIP, Max and IdleTimeout to the
// connections ln accepts (MessageTimeout needs a Side's parsing and is not
// applied), counting in stats and logging refusals at most once a second:
// for listeners other than a Side's, such as the HTTP ones. The counts are
// ln's alone.
func LimitListener(ln net.Listener, lim ConnLimits, stats *ConnStats, log zerolog.Logger) net.Listener {
	return newConnLimiter(lim, stats, log).listen(ln)
}

// Accept returns the next connection within the limits; the others are
// closed as they come.
func (ll *limitedListener) Accept() (net.Conn, error) {
	l := ll.l
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		untrusted := l.lim.trust != nil && !l.lim.trust.Allows(ip)
		if untrusted && !l.lim.trust.RejectTCP {
			l.stats.Untrusted.Add(1)
			_ = c.Close()
			if ok, n := l.logs.Allow(); ok {
				l.log.Warn().Str("remote", c.RemoteAddr().String()).Int("suppressed", n).
					Msg("connection from an untrusted source closed")
			}
			continue
		}
		if tc := l.track(c, untrusted); tc != nil {
			return tc, nil
		}
		// Counted before it is closed, so a peer seeing the close sees the count.
		l.refused(c.RemoteAddr().String(), "connection refused: too many connections")
		_ = c.Close()
	}
}

// adopt puts a connection the stack dialled (a connection back to a peer,
// reply.go) under the limits, as if accepted: it counts towards the
// peer's IP and the total, and is closed when idle. Beyond the limits it
// is refused with an error (the caller closes it).
func (l *connLimiter) adopt(c net.Conn) (net.Conn, error) {
	if tc := l.track(c, false); tc != nil {
		return tc, nil
	}
	l.refused(c.RemoteAddr().String(), refusedBack)
	return nil, errTooManyConns
}

const refusedBack = "connection back to a peer not opened: too many connections"

// roomFor is nil when one more connection with dest's IP is within the
// limits; else it counts and logs the refusal (the stack does not dial).
func (l *connLimiter) roomFor(dest netip.AddrPort) error {
	l.mu.Lock()
	full := l.full(dest.Addr().Unmap(), false)
	l.mu.Unlock()
	if full {
		l.refused(dest.String(), refusedBack)
		return errTooManyConns
	}
	return nil
}

// errTooManyConns refuses a connection beyond MaxPerIP or Max.
var errTooManyConns = errors.New("too many connections")

// full reports whether one more connection with ip (from an untrusted
// source: untrusted) is beyond the limits.
func (l *connLimiter) full(ip netip.Addr, untrusted bool) bool {
	return (l.lim.MaxPerIP > 0 && l.perIP[ip] >= l.lim.MaxPerIP) || (l.lim.Max > 0 && len(l.conns) >= l.lim.Max) ||
		(untrusted && l.lim.MaxUntrusted > 0 && l.untrusted >= l.lim.MaxUntrusted)
}

// track counts c in, or returns nil when it is beyond the limits.
// untrusted: c was accepted from a source outside the trust list (the
// connections the stack dials are its own, never).
func (l *connLimiter) track(c net.Conn, untrusted bool) *trackedConn {
	ip := remoteIP(c)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.full(ip, untrusted) {
		return nil
	}
	tc := &trackedConn{Conn: c, l: l, ip: ip, untrusted: untrusted}
	tc.last.Store(time.Now().UnixNano())
	l.perIP[ip]++
	l.conns[tc] = struct{}{}
	if untrusted {
		l.untrusted++
	}
	return tc
}

// refused counts and logs (rate-limited) a connection the limits refused.
func (l *connLimiter) refused(remote, msg string) {
	l.stats.Refused.Add(1)
	if ok, n := l.logs.Allow(); ok {
		l.log.Warn().Str("remote", remote).Int("max_per_ip", l.lim.MaxPerIP).
			Int("max", l.lim.Max).Int("suppressed", n).Msg(msg)
	}
}

// Close closes the listener, and stops the janitor when it was the last
// one open under its limiter.
func (ll *limitedListener) Close() error {
	ll.once.Do(func() {
		l := ll.l
		l.mu.Lock()
		l.listeners--
		last := l.listeners == 0
		l.mu.Unlock()
		if last {
			l.once.Do(func() { close(l.stop) })
		}
	})
	return ll.Listener.Close()
}

// idleTimeout is how long c may stay silent; 0: for ever.
func (l *connLimiter) idleTimeout(c *trackedConn) time.Duration {
	if c.untrusted && l.lim.UntrustedIdleTimeout > 0 {
		return l.lim.UntrustedIdleTimeout
	}
	return l.lim.IdleTimeout
}

// janitor closes the connections that stayed silent for their idle
// timeout.
func (l *connLimiter) janitor() {
	tick := l.lim.IdleTimeout
	if u := l.lim.UntrustedIdleTimeout; u > 0 && l.lim.trust != nil && (tick <= 0 || u < tick) {
		tick = u
	}
	if tick <= 0 {
		tick = 4 * time.Second // promotions only: a second is soon enough
	}
	t := time.NewTicker(max(tick/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case now := <-t.C:
			var idle []*trackedConn
			l.mu.Lock()
			for c := range l.conns {
				if c.untrusted && l.lim.trust.Allows(c.ip) {
					// Trusted since it was accepted (a trunk's host
					// name resolved to it, a trust list reloaded): it
					// is a trusted peer's connection now, with its
					// idle timeout and out of the strangers' share.
					c.untrusted = false
					l.untrusted--
				}
				if d := l.idleTimeout(c); d > 0 && now.Sub(time.Unix(0, c.last.Load())) >= d {
					idle = append(idle, c)
				}
			}
			l.mu.Unlock()
			for _, c := range idle {
				l.stats.Idle.Add(1)
				if ok, n := l.logs.Allow(); ok {
					l.log.Info().Str("remote", c.RemoteAddr().String()).Int64("idle_timeout_ms", l.idleTimeout(c).Milliseconds()).
						Bool("untrusted", c.untrusted).Int("suppressed", n).Msg("idle connection closed")
				}
				_ = c.Close()
			}
		}
	}
}

func (l *connLimiter) forget(c *trackedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.conns[c]; !ok {
		return
	}
	delete(l.conns, c)
	if c.untrusted {
		l.untrusted--
	}
	if l.perIP[c.ip]--; l.perIP[c.ip] <= 0 {
		delete(l.perIP, c.ip)
	}
}

// trackedConn is an accepted connection the limits keep count of.
type trackedConn struct {
	net.Conn
	l  *connLimiter
	ip netip.Addr
	// untrusted: accepted from a source outside the trust list.
	untrusted bool
	last      atomic.Int64 // UnixNano of the last read that returned data
	once      sync.Once
	err       error
}

func (c *trackedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.last.Store(time.Now().UnixNano())
	}
	return n, err
}

// Close closes the connection once and gives its place back.
func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.err = c.Conn.Close()
		c.l.forget(c)
	})
	return c.err
}

func remoteIP(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
