package mediation

// This file caps the rate at which each source address may start calls,
// so that one host cannot take every call slot (max_calls) or the relay's
// ports from everybody else.

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxLimitedSources bounds the memory of the per-source limiter: a flood
// of spoofed UDP sources gets one shared bucket beyond it.
const maxLimitedSources = 1 << 16

// sourceLimiter is a token bucket per source IP: perSecond new calls, in
// bursts of up to burst. Safe for concurrent use; the zero rate allows
// everything.
type sourceLimiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	sources map[netip.Addr]*rate.Limiter
	// overflow is shared by the sources that find the map full.
	overflow *rate.Limiter
}

func newSourceLimiter(perSecond float64, burst int) *sourceLimiter {
	if burst <= 0 {
		burst = max(int(perSecond), 1)
	}
	l := &sourceLimiter{limit: rate.Limit(perSecond), burst: burst}
	if perSecond > 0 {
		l.sources = map[netip.Addr]*rate.Limiter{}
		l.overflow = rate.NewLimiter(l.limit, l.burst)
	}
	return l
}

// allow reports whether src may start a call at now, and takes a token.
func (l *sourceLimiter) allow(src netip.Addr, now time.Time) bool {
	if l.limit <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.sources[src]
	if !ok {
		if len(l.sources) >= maxLimitedSources {
			l.forgetIdle(now)
		}
		if len(l.sources) >= maxLimitedSources {
			return l.overflow.AllowN(now, 1)
		}
		lim = rate.NewLimiter(l.limit, l.burst)
		l.sources[src] = lim
	}
	return lim.AllowN(now, 1)
}

// forgetIdle drops the sources whose bucket has refilled: a new bucket
// would be the same. l.mu must be held.
func (l *sourceLimiter) forgetIdle(now time.Time) {
	for src, lim := range l.sources {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.sources, src)
		}
	}
}
