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
}

// ConnStats count what the limits did.
type ConnStats struct {
	// Refused counts connections closed at once: over MaxPerIP or Max.
	Refused atomic.Uint64
	// Idle counts connections closed for IdleTimeout.
	Idle atomic.Uint64
	// Slow counts connections closed for MessageTimeout.
	Slow atomic.Uint64
	// ReadErrors counts connections whose read failed (a peer's reset,
	// mostly), as sipgo reports them: closed by sipgo.
	ReadErrors atomic.Uint64
}

// limitedListener applies ConnLimits to the connections it accepts.
type limitedListener struct {
	net.Listener
	lim   ConnLimits
	stats *ConnStats
	log   zerolog.Logger
	logs  Limiter

	mu    sync.Mutex
	perIP map[netip.Addr]int
	conns map[*trackedConn]struct{}
	stop  chan struct{}
	once  sync.Once
}

// limitListener wraps ln with lim; ln itself when lim limits nothing.
// LimitListener applies lim's MaxPerIP, Max and IdleTimeout to the
// connections ln accepts (MessageTimeout needs a Side's parsing and is not
// applied), counting in stats and logging refusals at most once a second:
// for listeners other than a Side's, such as the HTTP ones.
func LimitListener(ln net.Listener, lim ConnLimits, stats *ConnStats, log zerolog.Logger) net.Listener {
	return limitListener(ln, lim, stats, log)
}

func limitListener(ln net.Listener, lim ConnLimits, stats *ConnStats, log zerolog.Logger) net.Listener {
	if lim.MaxPerIP <= 0 && lim.Max <= 0 && lim.IdleTimeout <= 0 {
		return ln
	}
	l := &limitedListener{Listener: ln, lim: lim, stats: stats, log: log, logs: Limiter{Every: time.Second},
		perIP: map[netip.Addr]int{}, conns: map[*trackedConn]struct{}{}, stop: make(chan struct{})}
	if lim.IdleTimeout > 0 {
		go l.janitor()
	}
	return l
}

// Accept returns the next connection within the limits; the others are
// closed as they come.
func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if tc := l.track(c); tc != nil {
			return tc, nil
		}
		_ = c.Close()
		l.refused(c.RemoteAddr().String(), "connection refused: too many connections")
	}
}

// adopt puts a connection the stack dialled (a connection back to a peer,
// reply.go) under the limits, as if accepted: it counts towards the
// peer's IP and the total, and is closed when idle. Beyond the limits it
// is refused with an error (the caller closes it).
func (l *limitedListener) adopt(c net.Conn) (net.Conn, error) {
	if tc := l.track(c); tc != nil {
		return tc, nil
	}
	l.refused(c.RemoteAddr().String(), refusedBack)
	return nil, errTooManyConns
}

const refusedBack = "connection back to a peer not opened: too many connections"

// roomFor is nil when one more connection with dest's IP is within the
// limits; else it counts and logs the refusal (the stack does not dial).
func (l *limitedListener) roomFor(dest netip.AddrPort) error {
	l.mu.Lock()
	full := l.full(dest.Addr().Unmap())
	l.mu.Unlock()
	if full {
		l.refused(dest.String(), refusedBack)
		return errTooManyConns
	}
	return nil
}

// errTooManyConns refuses a connection beyond MaxPerIP or Max.
var errTooManyConns = errors.New("too many connections")

func (l *limitedListener) full(ip netip.Addr) bool {
	return (l.lim.MaxPerIP > 0 && l.perIP[ip] >= l.lim.MaxPerIP) || (l.lim.Max > 0 && len(l.conns) >= l.lim.Max)
}

// track counts c in, or returns nil when it is beyond the limits.
func (l *limitedListener) track(c net.Conn) *trackedConn {
	ip := remoteIP(c)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.full(ip) {
		return nil
	}
	tc := &trackedConn{Conn: c, l: l, ip: ip}
	tc.last.Store(time.Now().UnixNano())
	l.perIP[ip]++
	l.conns[tc] = struct{}{}
	return tc
}

// refused counts and logs (rate-limited) a connection the limits refused.
func (l *limitedListener) refused(remote, msg string) {
	l.stats.Refused.Add(1)
	if ok, n := l.logs.Allow(); ok {
		l.log.Warn().Str("remote", remote).Int("max_per_ip", l.lim.MaxPerIP).
			Int("max", l.lim.Max).Int("suppressed", n).Msg(msg)
	}
}

// Close stops the janitor and closes the listener.
func (l *limitedListener) Close() error {
	l.once.Do(func() { close(l.stop) })
	return l.Listener.Close()
}

// janitor closes the connections that stayed silent for IdleTimeout.
func (l *limitedListener) janitor() {
	t := time.NewTicker(max(l.lim.IdleTimeout/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case now := <-t.C:
			var idle []*trackedConn
			l.mu.Lock()
			for c := range l.conns {
				if now.Sub(time.Unix(0, c.last.Load())) >= l.lim.IdleTimeout {
					idle = append(idle, c)
				}
			}
			l.mu.Unlock()
			for _, c := range idle {
				l.stats.Idle.Add(1)
				if ok, n := l.logs.Allow(); ok {
					l.log.Info().Str("remote", c.RemoteAddr().String()).Int64("idle_timeout_ms", l.lim.IdleTimeout.Milliseconds()).
						Int("suppressed", n).Msg("idle connection closed")
				}
				_ = c.Close()
			}
		}
	}
}

func (l *limitedListener) forget(c *trackedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.conns[c]; !ok {
		return
	}
	delete(l.conns, c)
	if l.perIP[c.ip]--; l.perIP[c.ip] <= 0 {
		delete(l.perIP, c.ip)
	}
}

// trackedConn is an accepted connection the limits keep count of.
type trackedConn struct {
	net.Conn
	l    *limitedListener
	ip   netip.Addr
	last atomic.Int64 // UnixNano of the last read that returned data
	once sync.Once
	err  error
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
