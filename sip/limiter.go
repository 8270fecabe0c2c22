package sip

import (
	"sync"
	"time"
)

// Limiter rate-limits a kind of log event (a flood of malformed messages
// must not flood the log): at most one event per Every, with a count of
// the ones suppressed since the last. The zero value allows one a second.
type Limiter struct {
	Every time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// Allow reports whether an event may be logged now, and how many were
// suppressed before it.
func (l *Limiter) Allow() (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	every := l.Every
	if every <= 0 {
		every = time.Second
	}
	if !l.last.IsZero() && now.Sub(l.last) < every {
		l.suppressed++
		return false, 0
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	return true, n
}
