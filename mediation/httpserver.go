package mediation

import (
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

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
	// httpMaxConns is per listener; at the cap a new connection closes
	// the one that has waited longest without a request in a handler
	// (httpconns.go).
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
// refused counts in stats.Refused the connections beyond an IP's share,
// evicted those closed to make room at the cap.
func newHTTPService(name string, ln net.Listener, h http.Handler, writeTimeout time.Duration, stats *sip.ConnStats, evicted *atomic.Uint64, log zerolog.Logger) *httpService {
	clog := log.With().Str("component", name).Logger()
	ln = newEvictingListener(sip.LimitListener(ln, sip.ConnLimits{MaxPerIP: httpMaxConnsPerIP}, stats, clog), httpMaxConns, evicted, clog)
	return &httpService{name: name, ln: ln, srv: &http.Server{
		Handler:           trackBusy(h),
		ConnContext:       connContext,
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
