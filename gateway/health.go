package gateway

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Health: each address of each trunk (all its host name resolves to) is
// probed (SIP OPTIONS, sent by whoever implements Pinger) every Interval;
// MaxFails probes missed in a row mark the address down, and calls try it
// after the trunk's other addresses; while down it is probed every
// DownInterval and its first reply brings it back. The trunk is up while
// one of its addresses is; when all are down, routing skips the trunk.
// Apart from the probes, a 503 with Retry-After rests the address that
// sent it for that long (MarkUnavailable): calls leave it out while the
// trunk has another address to try, and routing skips the trunk while all
// its addresses that are up rest.

// trunkHealth is one trunk's state, guarded by the table's lock.
type trunkHealth struct {
	// up: one of the trunk's addresses is up (or it has none yet).
	up bool
	// addrs is the health of each of the trunk's current targets.
	addrs map[netip.AddrPort]*addrHealth
}

// addrHealth is one address's probe record.
type addrHealth struct {
	up     bool
	missed int
	// answered: a probe got a reply since the address became the
	// trunk's (an address is up before its first probe, unproven).
	answered bool
	// restUntil: the address answered 503 with Retry-After, and is not
	// to be sent calls before then (RFC 3261 §21.5.4).
	restUntil time.Time
}

// newTrunkHealth is the state of a trunk at targets: every address up
// until its probes fail.
func newTrunkHealth(targets []Target) trunkHealth {
	h := trunkHealth{up: true}
	h.setTargets(targets)
	return h
}

// setTargets keeps the health of the addresses still in targets, takes
// new ones as up (as at start: up until the probes fail), forgets the
// others, and updates the trunk's state.
func (h *trunkHealth) setTargets(targets []Target) {
	addrs := make(map[netip.AddrPort]*addrHealth, len(targets))
	for _, tg := range targets {
		if a, ok := h.addrs[tg.Addr]; ok {
			addrs[tg.Addr] = a
		} else {
			addrs[tg.Addr] = &addrHealth{up: true}
		}
	}
	h.addrs = addrs
	h.refresh()
}

// refresh sets the trunk up when one of its addresses is up; a trunk
// without addresses (unresolved) keeps its state.
func (h *trunkHealth) refresh() {
	if len(h.addrs) > 0 {
		h.up = h.upCount() > 0
	}
}

// upCount is how many of the trunk's addresses are up.
func (h trunkHealth) upCount() int {
	n := 0
	for _, a := range h.addrs {
		if a.up {
			n++
		}
	}
	return n
}

// addrAnswered reports whether a probe at address a has got a reply.
func (h trunkHealth) addrAnswered(a netip.AddrPort) bool {
	ah, ok := h.addrs[a]
	return ok && ah.answered
}

// addrUp reports whether address a is not known to be down.
func (h trunkHealth) addrUp(a netip.AddrPort) bool {
	ah, ok := h.addrs[a]
	return !ok || ah.up
}

// addrResting reports whether address a rests at now after a 503 with
// Retry-After.
func (h trunkHealth) addrResting(a netip.AddrPort, now time.Time) bool {
	ah, ok := h.addrs[a]
	return ok && now.Before(ah.restUntil)
}

// addrRestUntil is when address a's rest ends; zero when it does not rest
// at now.
func (h trunkHealth) addrRestUntil(a netip.AddrPort, now time.Time) time.Time {
	if !h.addrResting(a, now) {
		return time.Time{}
	}
	return h.addrs[a].restUntil
}

// restingUntil is when the trunk takes calls again if every one of its
// addresses that is up (every one, when none is) rests at now: the
// earliest end of their rests; zero when one of them does not rest.
func (h trunkHealth) restingUntil(now time.Time) time.Time {
	var until time.Time
	for _, ah := range h.addrs {
		if h.up && !ah.up {
			continue
		}
		if !now.Before(ah.restUntil) {
			return time.Time{}
		}
		if until.IsZero() || ah.restUntil.Before(until) {
			until = ah.restUntil
		}
	}
	return until
}

// available reports whether routing may pick the trunk now: up, and not
// resting at every address that is up.
func (h trunkHealth) available(now time.Time) bool {
	return h.up && h.restingUntil(now).IsZero()
}

// MarkUnavailable rests address addr of the trunk until until: our answer
// to its 503 with Retry-After (RFC 3261 §21.5.4; CCE rests the gateway, which
// for a trunk of one address is the same). Calls leave the address out
// while the trunk has another to try (RFC 3263 §4.3: an SBC pair behind
// one name, one box drained at a time), and routing skips the trunk while
// every address of it that is up rests. It returns false for an unknown
// name or an address that is no longer the trunk's (its DNS moved).
func (t *Table) MarkUnavailable(name string, addr netip.AddrPort, until time.Time) bool {
	i := t.index(name)
	if i < 0 {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	ah, ok := t.health[i].addrs[addr]
	if !ok {
		return false
	}
	if until.After(ah.restUntil) {
		ah.restUntil = until
	}
	return true
}

// Healthy reports whether the trunk answers its health probes (at one of
// its addresses at least).
func (t *Table) Healthy(name string) bool {
	i := t.index(name)
	if i < 0 {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.health[i].up
}

// probeOutcome is what one probe changed.
type probeOutcome struct {
	// addrChanged: the address went up or down; addrUp is its state.
	addrChanged, addrUp bool
	// trunkChanged: so did the trunk; trunkUp is its state.
	trunkChanged, trunkUp bool
	// upAddrs and addrs count the trunk's addresses that are up, and all.
	upAddrs, addrs int
}

// probed records a probe's outcome at address a of trunk i. A probe of an
// address the trunk no longer has (its DNS answer changed meanwhile)
// changes nothing.
func (t *Table) probed(i int, a netip.AddrPort, replied bool, maxFails int) probeOutcome {
	t.mu.Lock()
	defer t.mu.Unlock()
	h := &t.health[i]
	out := probeOutcome{trunkUp: h.up}
	ah, ok := h.addrs[a]
	if !ok {
		out.upAddrs, out.addrs = h.upCount(), len(h.addrs)
		return out
	}
	wasAddr, wasTrunk := ah.up, h.up
	if replied {
		ah.missed, ah.up, ah.answered = 0, true, true
	} else {
		ah.missed++
		if ah.missed >= maxFails {
			ah.up = false
		}
	}
	h.refresh()
	return probeOutcome{addrChanged: ah.up != wasAddr, addrUp: ah.up, trunkChanged: h.up != wasTrunk, trunkUp: h.up,
		upAddrs: h.upCount(), addrs: len(h.addrs)}
}

// Pinger probes a trunk at tr.Addr (each of a trunk's addresses in turn
// gets a Ping of its own): nil when it answered (with any response), an
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

// Check probes every address of every trunk until ctx ends, one
// goroutine per trunk (its addresses are probed side by side), and
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
	// due is when each address is to be probed next. The first probe
	// waits an interval too: a trunk is up until it fails. An address
	// that appears later (a new DNS answer) is probed at the next round.
	due := map[netip.AddrPort]time.Time{}
	first := time.Now().Add(cfg.Interval)
	for _, tg := range t.trunk(i).Targets {
		due[tg.Addr] = first
	}
	wait := time.NewTimer(cfg.Interval)
	defer wait.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wait.C:
		}
		tr := t.trunk(i) // at its current addresses
		now := time.Now()
		var addrs []netip.AddrPort
		for _, tg := range tr.Targets {
			if d, ok := due[tg.Addr]; !ok || !now.Before(d) {
				addrs = append(addrs, tg.Addr)
			}
		}
		errs := pingAll(ctx, p, tr, addrs, cfg.Timeout)
		if ctx.Err() != nil {
			return
		}
		done := time.Now()
		for k, a := range addrs {
			o := t.probed(i, a, errs[k] == nil, cfg.MaxFails)
			logProbe(log, tr.Name, a, errs[k], o, cfg.MaxFails)
			if o.trunkChanged && onChange != nil {
				onChange(tr, o.trunkUp)
			}
			due[a] = done.Add(cfg.Interval)
			if !o.addrUp {
				due[a] = done.Add(cfg.DownInterval)
			}
		}
		// Wake for the next address due, and at least every Interval to
		// find the addresses of a new DNS answer.
		next := done.Add(cfg.Interval)
		current := make(map[netip.AddrPort]bool, len(tr.Targets))
		for _, tg := range tr.Targets {
			current[tg.Addr] = true
			if d := due[tg.Addr]; d.Before(next) {
				next = d
			}
		}
		for a := range due {
			if !current[a] {
				delete(due, a)
			}
		}
		wait.Reset(max(time.Until(next), 0))
	}
}

// pingAll probes tr at each of addrs side by side, each for at most
// timeout, and returns each probe's error.
func pingAll(ctx context.Context, p Pinger, tr Trunk, addrs []netip.AddrPort, timeout time.Duration) []error {
	errs := make([]error, len(addrs))
	var wg sync.WaitGroup
	for k, a := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			at := tr
			at.Addr, at.Alternates = a, nil
			errs[k] = p.Ping(pctx, at)
		}()
	}
	wg.Wait()
	return errs
}

// logProbe logs a probe that changed the state of its address or trunk:
// the trunk's change when there is one, else the address's (a trunk with
// one address logs only the former).
func logProbe(log zerolog.Logger, name string, a netip.AddrPort, err error, o probeOutcome, maxFails int) {
	switch {
	case o.trunkChanged && o.trunkUp:
		log.Info().Str("gateway", name).Str("address", a.String()).Msg("gateway trunk answers OPTIONS again: up")
	case o.trunkChanged:
		log.Warn().Err(err).Str("gateway", name).Str("address", a.String()).Int("missed", maxFails).
			Msg("gateway trunk does not answer OPTIONS: down, skipped by routing")
	case o.addrChanged && o.addrUp:
		log.Info().Str("gateway", name).Str("address", a.String()).Int("addresses_up", o.upAddrs).Int("addresses", o.addrs).
			Msg("gateway trunk's address answers OPTIONS again: up")
	case o.addrChanged:
		log.Warn().Err(err).Str("gateway", name).Str("address", a.String()).Int("missed", maxFails).
			Int("addresses_up", o.upAddrs).Int("addresses", o.addrs).
			Msg("gateway trunk's address does not answer OPTIONS: down, calls try the trunk's other addresses first")
	}
}
