package mediation

import (
	"strconv"
	"strings"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/gateway"
	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sip"
)

// Fast failover of an outbound call (CCE's EnableFastFailoverTimer): when
// the trunk sends no provisional response within gateway_failover.timeout,
// rejects the call with a 5xx, or a 420 or 421 (it refuses our INVITE's
// extensions: extmismatch.go), or cannot be reached, the call's INVITE goes
// to the next trunk that serves the number (Route's order). Other 4xx and
// 6xx are the callee's answer and final. Before that, a trunk whose host name
// gave several addresses (SRV targets, A records) is tried at its next
// address when the failure is the address's own: unreachable, no
// response or a 503 (RFC 3263 §4.3), or no provisional within the timer. The caller sees one call: its
// INVITE's transaction, tag and early answers carry on; the record lists
// the trunks tried. It all runs on the call's goroutine, as events of the
// call.

// useTrunk makes t the trunk of the call's first attempt, or of its next
// one after a failover: a trunk tried, named in the call's record.
func (c *call) useTrunk(t gateway.Trunk) {
	c.tried = append(c.tried, t.Name)
	c.caller.policy = c.deps.edgeCalls
	c.atTrunk(t)
}

// atTrunk points the call's callee leg at trunk t (whichever of its
// addresses t.Addr is) with t's call settings: session_timer, prack and
// ring_timeout are the trunk's, not an address's. The one place they reach
// an outbound callee leg: the first attempt, a failover to the next trunk
// and a retry at the same trunk's next address (RFC 3263 §4.3) all come
// here, so that no new leg goes out with empty settings (r28-trunks F1).
func (c *call) atTrunk(t gateway.Trunk) {
	c.trunk = t
	c.callee.policy = c.deps.trunks[t.Name].calls
}

// canFailover reports whether a failed attempt may go to another trunk.
func (c *call) canFailover() bool {
	return c.dir == outbound && c.deps.failover.Enabled && len(c.next) > 0 && c.live() && c.caller.final() == 0
}

// canRetryTarget reports whether a failed attempt may go to another
// address of the same trunk (its host name's next SRV target or A record:
// RFC 3263 §4.3, whatever the failover setting).
func (c *call) canRetryTarget() bool {
	return c.dir == outbound && len(c.trunk.Alternates) > 0 && c.live() && c.caller.final() == 0
}

// retryElsewhere moves a call whose attempt failed at transport level, or
// got no answer, to the trunk's next address, else to the next trunk.
// False when it has neither (or may not): the failure stays.
func (c *call) retryElsewhere(reason string) bool {
	return c.retryTarget(reason) || c.failover(reason)
}

// retryTarget sends the call's INVITE to the trunk's next address (RFC
// 3263 §4.3: a transport failure or a timeout moves to the next target).
// The call record keeps the trunk's name once; the log and
// mediationserver_gateway_target_retries_total tell of the address.
func (c *call) retryTarget(reason string) bool {
	if !c.canRetryTarget() {
		return false
	}
	next := c.trunk
	next.Addr, next.Alternates = next.Alternates[0], next.Alternates[1:]
	c.deps.trunkMetrics.targetRetries.WithLabelValues(next.Name, reason).Inc()
	c.log.Warn().Str("reason", reason).Str("address", c.trunk.Addr.String()).
		Str("next_address", next.Addr.String()).Msg("gateway trunk's address failed the call: trying the trunk's next address")
	c.restartCallee()
	c.atTrunk(next)
	c.reinvite()
	return true
}

// attempted counts an INVITE sent to the call's trunk and, when another
// trunk could take over, arms the fast failover timer: the trunk must send
// a provisional response within gateway_failover.timeout.
func (c *call) attempted() {
	if c.dir != outbound {
		return
	}
	c.deps.trunkMetrics.attempts.WithLabelValues(c.trunk.Name).Inc()
	if !c.deps.failover.Enabled || !c.canFailover() && !c.canRetryTarget() {
		return
	}
	b := c.callee
	c.after(c.deps.failover.Timeout, func() {
		if c.callee == b && !b.provisional && b.final == 0 {
			c.retryElsewhere("no_provisional")
		}
	})
}

// failover moves the call to its next trunk, if it has one and may;
// reason labels the metric. False when the call stays with its failure.
func (c *call) failover(reason string) bool {
	if !c.canFailover() {
		return false
	}
	failed := c.trunk.Name
	next := c.next[0]
	c.next = c.next[1:]
	c.deps.trunkMetrics.failovers.WithLabelValues(failed, reason).Inc()
	c.log.Warn().Str("reason", reason).Str("next_gateway", next.Name).
		Msg("gateway trunk failed the call: trying the next trunk")
	c.restartCallee()
	c.useTrunk(next)
	c.reinvite()
	return true
}

// restartCallee gives up the callee's attempt for a new one, whose trunk
// (and with it its settings) atTrunk gives.
func (c *call) restartCallee() {
	c.abandon(c.callee)
	c.callee = &calleeLeg{leg: leg{role: "callee", side: c.deps.gw, media: relay.Gateway}}
}

// reinvite sends the new attempt's INVITE to the call's (new) trunk
// address, with a media plan made for it.
func (c *call) reinvite() {
	// The new trunk, and no Call-ID of ours until the INVITE: the relay the
	// plan opens copies the logger, the last attempt's must not be in it.
	c.relog("")
	body, err := c.replan()
	if err != nil {
		logNoPorts(&c.log, c.deps.noPortsLog, err)
		c.failSetup(mediaFailure(err), warningFor(c.caller.side, err)...)
		return
	}
	c.inviteCallee(body)
}

// abandon gives up an attempt that has no final response: its INVITE is
// CANCELled (at once, or on its first provisional response: RFC 3261 §9.1
// allows none before), a 2xx that still comes is ACKed and hung up, and
// nothing else of it reaches the call.
func (c *call) abandon(b *calleeLeg) {
	c.cancel(b.trying)
	c.cancel(b.ringTimer)
	if b.final == 0 {
		c.abandonInvite(b.inv, b.provisional, b.side, b.rel, b.early)
	}
}

// replan makes the media plan afresh for the call's new trunk (its bypass
// switch and SRTP mode decide the offer), keeping the caller's SDP session
// so that what the caller hears next is a new version of the same session
// (RFC 3264 §8). An anchored call whose caller already has an early answer
// keeps it instead, with the relay and the caller's keys it names: the
// caller ignores any later answer (earlyanswer.go), and the new trunk is
// offered the same relay, which takes its answer as a changed callee. A
// bypassed client, whose answer the next trunk's bypassed 200 may
// contradict, keeps its record of that answer too (earlymove.go).
func (c *call) replan() ([]byte, error) {
	old := c.media
	keep := old.relay != nil && len(old.early) > 0 && !old.decision.bypass
	if !keep {
		c.media.closeRelay()
	}
	// The caller's latest offer: after its own UPDATE in the failed
	// attempt's early dialog, the INVITE's offer describes an address it
	// may have left. After the failed trunk's UPDATE the caller's latest
	// SDP is its answer to that trunk, narrowed to that trunk's codecs and
	// direction: the INVITE's offer is the offer then.
	offer, raw := old.offer, old.offerRaw
	if old.updated && old.callerOffered {
		offer, raw = old.callerLatest()
	}
	c.media = old.fresh(old.dir, offer, raw)
	if c.dir == outbound {
		c.forks = nil // the failed attempt's SBC forks
	}
	c.media.lateOffer = old.lateOffer
	if keep {
		c.media.relay, c.media.early, c.media.decision = old.relay, old.early, old.decision
		// The relay's lines from now on name the new trunk, as a relay
		// opened for this attempt would, not the trunk that failed.
		c.media.relay.SetLogger(c.media.log.Logger())
		c.media.keys[relay.Edge] = old.keys[relay.Edge]
	}
	body, err := c.offerFor()
	c.media.sdp[relay.Edge] = old.sdp[relay.Edge]
	if err == nil && c.dir == outbound && old.decision.bypass && c.media.decision.bypass {
		// A bypassed client keeps the failed trunk's answer it got in a
		// reliable 18x, whatever the next trunk answers: its 200 is
		// compared with that one (earlymove.go), and that trunk's 18x
		// are not the client's answer.
		c.media.early = old.earlyBypassed()
	}
	return body, err
}

// restTrunk keeps calls away from the address of the call's trunk that
// answered 503 with Retry-After, for as long as it says (RFC 3261
// §21.5.4): the trunk's other addresses take its calls meanwhile (an SBC
// pair behind one name, one box drained at a time); a trunk of one
// address, or whose every address rests, is skipped by routing (CCE rests
// the gateway).
func (c *call) restTrunk(res *gosip.Response) {
	if c.dir != outbound || res.StatusCode != 503 {
		return
	}
	secs, ok := retryAfter(res)
	if !ok || secs == 0 {
		return
	}
	until := time.Now().Add(time.Duration(secs) * time.Second)
	if c.deps.gateways.MarkUnavailable(c.trunk.Name, c.trunk.Addr, until) {
		c.log.Warn().Int("retry_after_s", secs).Str("address", c.trunk.Addr.String()).
			Msg("gateway trunk's address answered 503 with Retry-After: no calls to it until then (the trunk's other addresses take them; a trunk with none left is skipped by routing)")
	}
}

// maxRetryAfter bounds a trunk's rest: a typo on the SBC must not take it
// out of service for days.
const maxRetryAfter = 3600

// retryAfter reads the seconds of a Retry-After header (RFC 3261 §20.33:
// delta-seconds, then an optional comment and parameters), at most
// maxRetryAfter; false without one.
func retryAfter(res *gosip.Response) (int, bool) {
	h := sip.HeaderNamed(res, "Retry-After")
	if h == nil {
		return 0, false
	}
	v := strings.TrimSpace(h.Value())
	end := 0
	for end < len(v) && v[end] >= '0' && v[end] <= '9' {
		end++
	}
	secs, err := strconv.Atoi(v[:end])
	if err != nil {
		return 0, false
	}
	return min(secs, maxRetryAfter), true
}
