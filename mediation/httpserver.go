package mediation

import (
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/net/netutil"

	"github.com/mediation-emulator/mediation/sip"
)

// Limits of both HTTP servers. A client that sends its request slowly, or
// never reads the answer, holds a connection for at most these; the cap on
// connections keeps a flood from exhausting file descriptors that SIP and
// RTP need.
const (
	httpReadHeaderTimeout = 10 * time.Second
	httpReadTimeout       = 30 * time.Second
	httpWriteTimeout      = 30 * time.Second
	// adminWriteTimeout lets /debug/pprof/profile run its default 30 s.
	adminWriteTimeout = 2 * time.Minute
	httpIdleTimeout   = 2 * time.Minute
	// httpMaxConns is per listener; connections beyond it wait in the
	// kernel's accept queue.
	httpMaxConns = 256
	// httpMaxConnsPerIP caps one IP's connections on each listener (a
	// client holds one or two, a browser six): beyond it a connection is
	// closed at once, so that one host's idle keep-alive connections
	// cannot take all httpMaxConns from the clients and the monitoring.
	httpMaxConnsPerIP = 32
)

// httpService is one HTTP listener and its server.
type httpService struct {
	name string // the listener's config key
	ln   net.Listener
	srv  *http.Server
}

// newHTTPService limits ln and serves h on it with the timeouts above;
// refused counts the connections beyond an IP's share.
func newHTTPService(name string, ln net.Listener, h http.Handler, writeTimeout time.Duration, refused *atomic.Uint64, log zerolog.Logger) *httpService {
	ln = &perIPListener{Listener: netutil.LimitListener(ln, httpMaxConns), max: httpMaxConnsPerIP, refused: refused,
		log: log.With().Str("component", name).Logger(), logs: sip.Limiter{Every: time.Second}, open: map[netip.Addr]int{}}
	return &httpService{name: name, ln: ln, srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    1 << 16,
		ErrorLog:          zerologStdLog(log.With().Str("component", name).Logger()),
	}}
}

// serve runs until Shutdown; nil then, else the listener's error.
func (h *httpService) serve() error {
	if err := h.srv.Serve(h.ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: %w", h.name, err)
	}
	return nil
}

// zerologStdLog routes net/http's own complaints (TLS handshakes, bad
// requests it answers itself, accept errors) to the structured log.
func zerologStdLog(log zerolog.Logger) *stdlog.Logger {
	return stdlog.New(warnWriter{log}, "", 0)
}

type warnWriter struct{ log zerolog.Logger }

func (w warnWriter) Write(p []byte) (int, error) {
	w.log.Warn().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}

// perIPListener closes at once a connection from an IP that already has
// max open, counted and logged (rate-limited).
type perIPListener struct {
	net.Listener
	max     int
	refused *atomic.Uint64
	log     zerolog.Logger
	logs    sip.Limiter
	mu      sync.Mutex
	open    map[netip.Addr]int
}

func (l *perIPListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		var ip netip.Addr
		if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			ip = a.AddrPort().Addr().Unmap()
		}
		l.mu.Lock()
		full := l.open[ip] >= l.max
		if !full {
			l.open[ip]++
		}
		l.mu.Unlock()
		if !full {
			return &perIPConn{Conn: c, l: l, ip: ip}, nil
		}
		_ = c.Close()
		l.refused.Add(1)
		if ok, n := l.logs.Allow(); ok {
			l.log.Warn().Str("remote", c.RemoteAddr().String()).Int("max_per_ip", l.max).Int("suppressed", n).
				Msg("HTTP connection refused: too many from this IP")
		}
	}
}

// perIPConn gives its IP's place back when closed.
type perIPConn struct {
	net.Conn
	l    *perIPListener
	ip   netip.Addr
	once sync.Once
}

func (c *perIPConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		if c.l.open[c.ip]--; c.l.open[c.ip] <= 0 {
			delete(c.l.open, c.ip)
		}
		c.l.mu.Unlock()
	})
	return err
}
