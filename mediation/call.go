package mediation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/gateway"
	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sip"
)

// direction of a call, named as CCE's counters name them.
type direction int

const (
	// outbound: a Skype for Business client calls the PSTN (edge -> gateway).
	outbound direction = iota
	// inbound: the PSTN calls a client (gateway -> edge).
	inbound
)

func (d direction) String() string {
	if d == inbound {
		return "inbound"
	}
	return "outbound"
}

type callState int

const (
	stateSetup callState = iota
	stateAnswered
	stateEnded
)

// Causes that end a call's setup, so the setup goroutine knows what the
// caller has already been told.
var (
	errCallerCanceled = errors.New("caller sent CANCEL")
	errShutdown       = errors.New("mediation server shutting down")
)

// byeTimeout bounds a BYE we send; a peer that is gone must not hold up the
// end of a call (or of the server) for Timer F's 32 s.
const byeTimeout = 5 * time.Second

// call is one B2BUA call: leg A is the caller's dialog (we are its UAS), leg
// B the dialog we start on the other side (we are its UAC). mu serialises
// the call's events, which sipgo delivers on separate goroutines.
type call struct {
	id    string
	dir   direction
	srv   *Server
	log   zerolog.Logger
	trunk gateway.Trunk
	start time.Time

	// For the call record, set before the call is shared.
	from, to         string
	aCallID, bCallID string
	answerTime       time.Time

	aSide, bSide *sip.Side
	a            *sipgo.DialogServerSession
	b            *sipgo.DialogClientSession

	// Registry bookkeeping, guarded by the registry's lock.
	keys, dialogKeys []string

	mu       sync.Mutex
	state    callState
	media    mediaPlan
	cancel   context.CancelCauseFunc
	finished bool
	done     chan struct{}
}

func newCallID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// setup runs in leg A's INVITE handler and returns once leg A has its final
// response (sipgo's rule: the handler must not return before that).
func (c *call) setup(ctx context.Context, req *gosip.Request) {
	s := c.srv
	c.mu.Lock()
	body, err := c.media.planOffer(s.Settings(), c.trunk.EnableBypass, s.alloc)
	c.mu.Unlock()
	if err != nil {
		c.failSetup(err)
		return
	}
	if c.dir == outbound {
		c.log.Info().Bool("bypass", c.media.decision.bypass).Str("why", c.media.decision.reason).
			Str("gateway", c.trunk.Name).Msg("media bypass decision")
	}
	target, transport := s.edgePeer, s.edgeTransport
	if c.dir == outbound {
		target, transport = c.trunk.Addr, c.trunk.Transport
	}
	breq := c.bSide.NewInvite(sip.Invite{
		Target:      target,
		Transport:   transport,
		RequestUser: req.Recipient.User,
		FromUser:    req.From().Address.User,
		FromDisplay: req.From().DisplayName,
		ToUser:      req.To().Address.User,
		MaxForwards: sip.MaxForwards(req) - 1,
		Body:        body,
		UserAgent:   s.userAgent,
	})
	tag, _ := breq.From().Params.Get("tag")
	c.mu.Lock()
	c.bCallID = string(*breq.CallID())
	c.mu.Unlock()
	s.calls.addDialog(c, c.bCallID, tag)
	c.log.Debug().Str("b_call_id", string(*breq.CallID())).Str("target", target.String()).
		Str("transport", transport).Msg("calling the other side")

	b, err := c.bSide.DialogUA(transport).WriteInvite(ctx, breq)
	c.bSide.Trace(&c.log, sip.Out, breq)
	if err != nil {
		c.log.Warn().Err(err).Str("target", target.String()).Msg("cannot send INVITE to the next hop")
		c.failSetup(setupError{503, "Service Unavailable", "next hop unreachable"})
		return
	}
	c.mu.Lock()
	c.b = b
	c.mu.Unlock()
	err = c.waitAnswer(ctx)
	c.afterAnswer(ctx, err)
}

// setupError is a final response for leg A and the failure reason to count.
type setupError struct {
	code   int
	phrase string
	reason string
}

func (e setupError) Error() string { return fmt.Sprintf("%d %s", e.code, e.phrase) }

// failSetup answers leg A with the error's response and ends the call.
func (c *call) failSetup(err error) {
	var se setupError
	var na errNotAcceptable
	switch {
	case errors.As(err, &se):
	case errors.As(err, &na):
		se = setupError{488, "Not Acceptable Here", "not_acceptable"}
		if na.reason == reasonHold {
			se.phrase = reasonHold
		}
	case errors.Is(err, errNoPorts):
		se = setupError{503, "Service Unavailable", "no_media_ports"}
	default:
		se = setupError{500, "Server Internal Error", "internal_error"}
	}
	c.log.Info().Err(err).Int("code", se.code).Msg("call setup failed")
	var hdrs []gosip.Header
	if se.code == 488 || se.code == 500 {
		hdrs = append(hdrs, warning(c.aSide, err.Error()))
	}
	c.respondA(se.code, se.phrase, nil, hdrs...)
	c.finish(se.reason, false)
}

// warning is a Warning header (RFC 3261 §20.43, code 399: miscellaneous)
// that tells an SBC engineer why we refused.
func warning(side *sip.Side, text string) gosip.Header {
	text = strings.ReplaceAll(text, `"`, `'`)
	return gosip.NewHeader("Warning", fmt.Sprintf(`399 %s "%s"`, side.Addr().Addr(), text))
}

// waitAnswer waits for leg B's final response, relaying its provisionals.
func (c *call) waitAnswer(ctx context.Context) error {
	for {
		err := c.b.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: c.onResponseB})
		// sipgo gives up after 11 responses; SBCs that repeat 180/183 keep going.
		if err != nil && strings.Contains(err.Error(), "more than 10 responses") {
			continue
		}
		return err
	}
}

// onResponseB relays leg B's provisional responses to leg A. It never
// returns an error: that would make sipgo abandon leg B without a CANCEL.
func (c *call) onResponseB(res *gosip.Response) error {
	c.bSide.Trace(&c.log, sip.In, res)
	if !res.IsProvisional() || res.StatusCode == 100 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateSetup {
		return nil
	}
	var body []byte
	if len(res.Body()) > 0 {
		var err error
		if body, err = c.media.planAnswer(res.Body(), false); errors.Is(err, errNoEarlyOffer) {
			body = nil
		} else if err != nil {
			c.log.Warn().Err(err).Int("code", res.StatusCode).Msg("early SDP not usable; relaying the provisional without SDP")
			body = nil
		}
	}
	c.respondA(res.StatusCode, res.Reason, body)
	return nil
}

// respondA sends a response on leg A's INVITE transaction. For a final
// response it blocks until the ACK (sipgo's dialog session handles 2xx
// retransmission).
func (c *call) respondA(code int, phrase string, body []byte, hdrs ...gosip.Header) error {
	res := gosip.NewResponseFromRequest(c.a.InviteRequest, code, phrase, body)
	if body != nil {
		res.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	}
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if code >= 200 {
		res.AppendHeader(gosip.NewHeader("Allow", sip.Allow))
	}
	res.AppendHeader(gosip.NewHeader("Server", c.srv.userAgent))
	if code > 100 && code < 300 {
		// Set here rather than by sipgo so that the trace shows it.
		contact := c.aSide.Contact(c.a.InviteRequest.Transport())
		res.AppendHeader(&contact)
	}
	c.aSide.Trace(&c.log, sip.Out, res)
	err := c.a.WriteResponse(res)
	if err != nil {
		c.log.Debug().Err(err).Int("code", code).Msg("response to the caller not delivered")
	}
	return err
}

// afterAnswer completes the setup once leg B's INVITE is over.
func (c *call) afterAnswer(ctx context.Context, err error) {
	var rejected *sipgo.ErrDialogResponse
	switch {
	case err == nil:
		c.answered(ctx)
	case errors.As(err, &rejected):
		res := rejected.Res
		c.log.Info().Int("code", res.StatusCode).Str("reason", res.Reason).Msg("far side rejected the call")
		c.respondA(res.StatusCode, res.Reason, nil)
		c.finish(fmt.Sprintf("%d", res.StatusCode), false)
	case ctx.Err() != nil:
		c.endCanceledSetup(context.Cause(ctx))
	default:
		c.log.Info().Err(err).Msg("no final answer from the far side")
		c.respondA(408, "Request Timeout", nil)
		c.finish("timeout", false)
	}
}

// endCanceledSetup cleans up a setup stopped by CANCEL or shutdown. sipgo
// already sent CANCEL on leg B; if leg B answered in the meantime it is
// acknowledged and hung up.
func (c *call) endCanceledSetup(cause error) {
	if res := c.b.InviteResponse; res != nil && res.IsSuccess() {
		bctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
		defer cancel()
		_ = c.b.Ack(bctx)
		_ = c.b.Bye(bctx)
	}
	if errors.Is(cause, errCallerCanceled) {
		// The transaction layer already sent 200 to the CANCEL and 487 to the INVITE.
		c.log.Info().Msg("caller canceled the call")
		c.finish("canceled", false)
		return
	}
	c.respondA(503, "Service Unavailable", nil)
	c.finish("shutdown", false)
}

// answered relays leg B's 200 to leg A: ACK leg B at once (early offer: the
// SDP exchange is complete), then answer leg A and wait for its ACK.
func (c *call) answered(ctx context.Context) {
	bctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	defer cancel()
	if err := c.b.Ack(bctx); err != nil {
		c.log.Warn().Err(err).Msg("ACK to the far side failed")
	}
	c.mu.Lock()
	if c.state != stateSetup {
		c.mu.Unlock()
		_ = c.b.Bye(bctx)
		return
	}
	body, err := c.answerBody(c.b.InviteResponse.Body())
	if err != nil {
		c.mu.Unlock()
		c.log.Warn().Err(err).Msg("far side's 200 OK has no usable SDP; hanging up")
		_ = c.b.Bye(bctx)
		c.respondA(488, "Not Acceptable Here", nil, warning(c.aSide, err.Error()))
		c.finish("bad_answer_sdp", false)
		return
	}
	c.state = stateAnswered
	c.answerTime = time.Now()
	c.media.answered()
	bypass := c.media.decision.bypass
	c.mu.Unlock()
	if bypass {
		c.srv.metrics.bypassActive.WithLabelValues(c.dir.String()).Inc()
		c.srv.metrics.bypassTotal.WithLabelValues(c.dir.String()).Inc()
	}
	c.log.Info().Bool("bypass", bypass).Str("why", c.media.decision.reason).Msg("call answered")
	if err := c.respondA(200, "OK", body); err != nil {
		// A BYE that overtook the ACK (sipgo hands each request to its own
		// goroutine) also ends the wait; that call is already being ended.
		c.mu.Lock()
		ended := c.state == stateEnded
		c.mu.Unlock()
		if !ended {
			c.hangup(nil, "no ACK from the caller")
		}
	}
}

// answerBody is leg A's final SDP: built from the 200's SDP, or the early
// answer again when the 200 carries none.
func (c *call) answerBody(b []byte) ([]byte, error) {
	if len(b) > 0 {
		return c.media.planAnswer(b, true)
	}
	if last := c.media.lastAnswer(); last != nil {
		if c.media.decision.bypass {
			c.media.closeRelay()
		}
		return last, nil
	}
	return nil, errors.New("no SDP answer in 18x or 200")
}

// onLateAnswer completes a delayed-offer call with the SDP of the
// gateway's ACK; without a usable one the call is hung up (RFC 3261 §13.2.2.4).
func (c *call) onLateAnswer(body []byte) {
	c.mu.Lock()
	if !c.media.lateOffer || c.media.pendingEdge == nil || c.state != stateAnswered {
		c.mu.Unlock()
		return
	}
	err := c.media.lateAnswer(body)
	c.mu.Unlock()
	if err != nil {
		c.log.Warn().Err(err).Msg("delayed offer: no usable answer in the ACK; hanging up")
		go c.hangup(nil, "bad_ack_sdp")
	}
}

// onBye handles a BYE from either leg: answer it, hang up the other leg.
func (c *call) onBye(side *sip.Side, req *gosip.Request, tx gosip.ServerTransaction) {
	c.mu.Lock()
	if c.state != stateAnswered {
		c.mu.Unlock()
		// A BYE racing our own end of the call: the dialog is over anyway.
		res := gosip.NewResponseFromRequest(req, 200, "OK", nil)
		side.Trace(&c.log, sip.Out, res)
		_ = tx.Respond(res)
		return
	}
	c.state = stateEnded
	c.mu.Unlock()
	var err error
	if side == c.aSide {
		err = c.a.ReadBye(req, tx)
	} else {
		err = c.b.ReadBye(req, tx)
	}
	if err != nil {
		c.log.Debug().Err(err).Msg("answering BYE")
	}
	c.hangup(side, "bye from "+side.Name)
}

// hangup sends BYE on every leg but from (nil: both) and ends the call.
func (c *call) hangup(from *sip.Side, reason string) {
	c.mu.Lock()
	c.state = stateEnded
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	defer cancel()
	var wg sync.WaitGroup
	if from != c.aSide {
		wg.Go(func() {
			if err := c.a.Bye(ctx); err != nil {
				c.log.Debug().Err(err).Msg("BYE to the caller")
			}
		})
	}
	if from != c.bSide {
		wg.Go(func() {
			if err := c.b.Bye(ctx); err != nil {
				c.log.Debug().Err(err).Msg("BYE to the callee")
			}
		})
	}
	wg.Wait()
	c.finish(reason, true)
}

// onMediaTimeout is the relay's report that a leg has been silent (no RTP,
// no RTCP) for media.timeout: CCE ends such calls with BYE on both legs.
func (c *call) onMediaTimeout(side relay.Side) {
	c.mu.Lock()
	answered := c.state == stateAnswered
	c.mu.Unlock()
	if !answered {
		return
	}
	c.log.Warn().Str("leg", side.String()).Dur("timeout", c.srv.cfg.Media.Timeout).
		Msg("no RTP or RTCP received: ending the call")
	go c.hangup(nil, "media timeout")
}

// stateOf reads the call's state.
func (c *call) stateOf() callState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// terminate ends the call for a server shutdown. It reports false when the
// call is too early in its setup to be stopped yet (try again).
func (c *call) terminate() bool {
	c.mu.Lock()
	state, cancel := c.state, c.cancel
	c.mu.Unlock()
	switch state {
	case stateSetup:
		if cancel == nil {
			return false
		}
		cancel(errShutdown)
	case stateAnswered:
		c.hangup(nil, "shutdown")
	}
	return true
}

// finish releases everything the call holds; only the first call counts.
func (c *call) finish(reason string, wasAnswered bool) {
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		return
	}
	c.finished = true
	c.state = stateEnded
	rec := c.record(reason)
	c.media.closeRelay()
	bypass := c.media.decision.bypass
	c.mu.Unlock()
	if err := c.srv.records.write(rec); err != nil {
		c.log.Error().Err(err).Msg("call record not written")
	}
	if !rec.MediationServerBypass {
		c.srv.metrics.observeLeg("edge", rec.EdgeLeg)
		c.srv.metrics.observeLeg("gateway", rec.GatewayLeg)
	}

	s := c.srv
	s.calls.remove(c)
	dir := c.dir.String()
	s.metrics.callsCurrent.WithLabelValues(dir).Dec()
	if wasAnswered && bypass {
		s.metrics.bypassActive.WithLabelValues(dir).Dec()
	}
	if !wasAnswered {
		s.metrics.failedCalls.WithLabelValues(dir, reason).Inc()
	}
	if c.cancel != nil {
		c.cancel(nil)
	}
	c.log.Info().Str("reason", reason).Bool("answered", wasAnswered).Bool("bypass", bypass).
		Dur("duration", time.Since(c.start)).Msg("call ended")
	close(c.done)
}

// record is the call's quality record; c.mu is held.
func (c *call) record(reason string) Record {
	r := Record{
		CallID: c.id, Direction: c.dir.String(), From: c.from, To: c.to, Gateway: c.trunk.Name,
		StartTime: c.start, EndTime: time.Now(), EndReason: reason,
		MediationServerBypass: c.media.decision.bypass,
		EdgeCallID:            c.aCallID, GatewayCallID: c.bCallID,
	}
	if c.dir == inbound {
		r.EdgeCallID, r.GatewayCallID = c.bCallID, c.aCallID
	}
	if !c.answerTime.IsZero() {
		t := c.answerTime
		r.AnswerTime = &t
	}
	r.EdgeLeg, r.GatewayLeg = c.media.legRecords()
	return r
}
