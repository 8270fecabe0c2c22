package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Health: each trunk is probed (SIP OPTIONS, sent by whoever implements
// Pinger) every Interval; MaxFails probes missed in a row mark it down,
// and routing skips it; while down it is probed every DownInterval and the
// first reply brings it back. Apart from the probes, a 503 with
// Retry-After rests a trunk for that long (MarkUnavailable).

// trunkHealth is one trunk's state, guarded by the table's lock.
type trunkHealth struct {
	up               bool
	missed           int
	unavailableUntil time.Time
}

// available reports whether routing may pick the trunk now.
func (h trunkHealth) available(now time.Time) bool {
	return h.up && !now.Before(h.unavailableUntil)
}

// MarkUnavailable keeps routing away from the trunk until until: CCE's
// answer to a 503 with Retry-After. It returns false for an unknown name.
func (t *Table) MarkUnavailable(name string, until time.Time) bool {
	i := t.index(name)
	if i < 0 {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if until.After(t.health[i].unavailableUntil) {
		t.health[i].unavailableUntil = until
	}
	return true
}

// Healthy reports whether the trunk answers its health probes.
func (t *Table) Healthy(name string) bool {
	i := t.index(name)
	if i < 0 {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.health[i].up
}

// probed records a probe's outcome and reports a change of state.
func (t *Table) probed(i int, replied bool, maxFails int) (changed, up bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	h := &t.health[i]
	was := h.up
	if replied {
		h.missed, h.up = 0, true
	} else {
		h.missed++
		if h.missed >= maxFails {
			h.up = false
		}
	}
	return h.up != was, h.up
}

// Pinger probes a trunk: nil when it answered (with any response), an
// error when it did not before ctx ended.
type Pinger interface {
	Ping(ctx context.Context, tr Trunk) error
}

// HealthConfig sets the probing of every trunk. Zero values take CCE's
// defaults.
type HealthConfig struct {
	// Interval between probes of a trunk that is up (30 s).
	Interval time.Duration
	// DownInterval between probes of a trunk that is down (60 s).
	DownInterval time.Duration
	// MaxFails is how many probes in a row may go unanswered before the
	// trunk is down (5).
	MaxFails int
	// Timeout is how long a probe waits for its reply (Interval, at most
	// 32 s: RFC 3261's Timer F).
	Timeout time.Duration
}

func (c HealthConfig) withDefaults() HealthConfig {
	if c.Interval <= 0 {
		c.Interval = 30 * time.Second
	}
	if c.DownInterval <= 0 {
		c.DownInterval = 60 * time.Second
	}
	if c.MaxFails <= 0 {
		c.MaxFails = 5
	}
	if c.Timeout <= 0 {
		c.Timeout = min(c.Interval, 32*time.Second)
	}
	return c
}

// Check probes every trunk until ctx ends, one goroutine per trunk, and
// returns when they have all stopped. onChange (may be nil) is told of
// every change of a trunk's state, after it has been logged.
func (t *Table) Check(ctx context.Context, p Pinger, cfg HealthConfig, log zerolog.Logger, onChange func(tr Trunk, up bool)) {
	cfg = cfg.withDefaults()
	var wg sync.WaitGroup
	for i := range t.trunks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.checkTrunk(ctx, i, p, cfg, log, onChange)
		}()
	}
	wg.Wait()
}

func (t *Table) checkTrunk(ctx context.Context, i int, p Pinger, cfg HealthConfig, log zerolog.Logger, onChange func(Trunk, bool)) {
	// The first probe waits an interval too: a trunk is up until it fails.
	wait := time.NewTimer(cfg.Interval)
	defer wait.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wait.C:
		}
		tr := t.trunk(i) // at its current address
		if !tr.resolved() {
			// Nowhere to probe until the host name resolves.
			wait.Reset(cfg.Interval)
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		err := p.Ping(pctx, tr)
		cancel()
		if ctx.Err() != nil {
			return
		}
		changed, up := t.probed(i, err == nil, cfg.MaxFails)
		if changed {
			if up {
				log.Info().Str("gateway", tr.Name).Str("address", tr.Addr.String()).Msg("gateway trunk answers OPTIONS again: up")
			} else {
				log.Warn().Err(err).Str("gateway", tr.Name).Str("address", tr.Addr.String()).Int("missed", cfg.MaxFails).
					Msg("gateway trunk does not answer OPTIONS: down, skipped by routing")
			}
			if onChange != nil {
				onChange(tr, up)
			}
		}
		next := cfg.Interval
		if !up {
			next = cfg.DownInterval
		}
		wait.Reset(next)
	}
}
