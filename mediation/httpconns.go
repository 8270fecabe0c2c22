package mediation

// This file caps an HTTP listener's connections without letting anyone
// queue the others behind theirs: at the cap, the connection that has
// waited longest without a request in a handler (one whose request header
// is still incomplete, or an idle keep-alive one) is closed to make room
// for the new one. A cap that queued or refused instead would let 8 hosts
// with 32 half-sent requests each lock /healthz and the web service out.

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/sip"
)

// evictingListener holds at most max accepted connections.
type evictingListener struct {
	net.Listener
	max     int
	evicted *atomic.Uint64
	log     zerolog.Logger
	logs    sip.Limiter

	mu    sync.Mutex
	conns map[*heldConn]struct{}
}

func newEvictingListener(ln net.Listener, max int, evicted *atomic.Uint64, log zerolog.Logger) *evictingListener {
	return &evictingListener{Listener: ln, max: max, evicted: evicted, log: log, logs: sip.Limiter{Every: time.Second},
		conns: map[*heldConn]struct{}{}}
}

// Accept takes the next connection, closing the longest-waiting one not
// in a handler when the listener is full; with every connection in a
// handler, the new one is closed instead.
func (l *evictingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		hc := &heldConn{Conn: c, l: l}
		hc.since.Store(time.Now().UnixNano())
		var victim *heldConn
		l.mu.Lock()
		if len(l.conns) >= l.max {
			for o := range l.conns {
				if o.busy.Load() == 0 && (victim == nil || o.since.Load() < victim.since.Load()) {
					victim = o
				}
			}
			if victim != nil {
				delete(l.conns, victim)
			}
		}
		full := len(l.conns) >= l.max
		if !full {
			l.conns[hc] = struct{}{}
		}
		l.mu.Unlock()
		if victim != nil {
			l.evicted.Add(1)
			if ok, n := l.logs.Allow(); ok {
				l.log.Warn().Str("remote", victim.RemoteAddr().String()).Int("max", l.max).Int("suppressed", n).
					Msg("connection without a request in progress closed to make room for a new one")
			}
			_ = victim.Close()
		}
		if full {
			_ = c.Close()
			continue
		}
		return hc, nil
	}
}

func (l *evictingListener) forget(c *heldConn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// heldConn is a connection of an evictingListener.
type heldConn struct {
	net.Conn
	l *evictingListener
	// busy is the number of its requests in a handler (HTTP/1.1: 0 or 1).
	busy atomic.Int32
	// since is when it was accepted or its last request was answered
	// (UnixNano): how long it has waited without a request in a handler.
	since atomic.Int64
	once  sync.Once
	err   error
}

func (c *heldConn) Close() error {
	c.once.Do(func() {
		c.err = c.Conn.Close()
		c.l.forget(c)
	})
	return c.err
}

type heldConnKey struct{}

// connContext is the http.Server's ConnContext: it lets trackBusy find a
// request's connection.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if hc, ok := c.(*heldConn); ok {
		return context.WithValue(ctx, heldConnKey{}, hc)
	}
	return ctx
}

// trackBusy marks a request's connection as busy while h handles it: its
// header is complete, and it is not closed to make room.
func trackBusy(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hc, _ := r.Context().Value(heldConnKey{}).(*heldConn)
		if hc == nil {
			h.ServeHTTP(w, r)
			return
		}
		// Under the listener's lock: Accept picks a victim among the
		// connections not busy under it, and must not pick this one as
		// its handler starts.
		hc.l.mu.Lock()
		hc.busy.Add(1)
		hc.l.mu.Unlock()
		defer func() {
			hc.since.Store(time.Now().UnixNano())
			hc.busy.Add(-1)
		}()
		h.ServeHTTP(w, r)
	})
}
