package endpoint

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// outboundPlan is what a role adds to an outgoing INVITE.
type outboundPlan struct {
	opt   CallOptions
	offer func(localMedia) ([]byte, error)
	// bypassID is the a=x-bypassid offer carries ("" none): the report
	// need not parse our own SDP back.
	bypassID string
	headers  []sip.Header
}

// errCancelOnRinging marks the CANCEL the caller asked for.
var errCancelOnRinging = errors.New("cancel on ringing")

// errNoResponse marks an INVITE abandoned after CallOptions.ResponseTimeout
// without a response.
var errNoResponse = errors.New("no response")

// NoResponseError is an INVITE nobody answered at all: no provisional or
// final response before Timer B or CallOptions.ResponseTimeout. No server
// sent anything, so the report's Code is 0, not the 408 that RFC 3261 has
// the transaction user imagine.
type NoResponseError struct {
	CallID string
	Target string // IP:port/transport
	// Timeout is the wait that ran out: CallOptions.ResponseTimeout or
	// Timer B.
	Timeout   time.Duration
	timerBErr error
}

func (e *NoResponseError) Error() string {
	return fmt.Sprintf("call %s: no response from %s (timeout after %s)", e.CallID, e.Target, e.Timeout)
}

// Unwrap keeps sipgo's transaction timeout, when that is what ended it.
func (e *NoResponseError) Unwrap() error { return e.timerBErr }

// outbound is one call we place, from INVITE to report.
type outbound struct {
	// parsed is the peer's SDP startMedia read last, so that neither the
	// 200 after a 183 with the same SDP nor the report parse it again.
	parsed parsedSDP
	a      *agent
	opt    CallOptions
	c      *call
	dlg    *sipgo.DialogClientSession
	r      CallReport
	ctx    context.Context
	done   bool // the report is final (EndedBy set)
	// sent is when the INVITE left, for SetupTime.
	sent time.Time
}

// dial places a call and returns its report once it ended. The returned
// error is the report's Err.
func (a *agent) dial(ctx context.Context, plan outboundPlan) (CallReport, error) {
	r := CallReport{Direction: Outbound, From: plan.opt.From, To: plan.opt.To, ReceivedPT: -1, EventPT: -1}
	fail := func(err error) (CallReport, error) {
		r.EndedBy, r.Err = EndedError, err
		return r, err
	}
	if !a.enter() {
		return fail(fmt.Errorf("call: %w", ErrClosed))
	}
	defer a.leave()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(a.ctx, cancel)()

	media, err := newStream(a.mediaIP, a.toneHz, a.delays, a.silent, a.log)
	if err != nil {
		return fail(fmt.Errorf("call: %w", err))
	}
	body, err := plan.offer(media.local)
	if err != nil {
		media.Close()
		return fail(fmt.Errorf("call: %w", err))
	}
	req := a.newInvite(plan, body)
	r.CallID = req.CallID().Value()
	r.Transport = req.Transport()
	r.OfferSDP = body
	r.BypassOffered = plan.bypassID != ""
	log := a.log.With().Str("call_id", r.CallID).Str("dir", Outbound).Logger()
	sent := time.Now()
	dlg, err := a.dialogUA(plan.opt.From, plan.opt.Transport).WriteInvite(ctx, req)
	if err != nil {
		media.Close()
		return fail(fmt.Errorf("call %s: send INVITE to %s: %w", r.CallID, plan.opt.Target, err))
	}
	tag, _ := req.From().Params.Get("tag")
	c := newCall(callKey(r.CallID, tag), log, media)
	c.uac = dlg
	c.setLocalSDP(body, -1)
	a.register(c)
	defer a.unregister(c)

	o := &outbound{a: a, opt: plan.opt, c: c, dlg: dlg, r: r, ctx: ctx, sent: sent}
	log.Debug().Stringer("target", plan.opt.Target).Str("transport", plan.opt.Transport).Msg("INVITE sent")
	if o.ring() {
		o.talk()
	}
	return o.finish()
}

// newInvite builds an INVITE with our From/To/Contact, the role's headers and body.
func (a *agent) newInvite(plan outboundPlan, body []byte) *sip.Request {
	opt := plan.opt
	transport := strings.ToUpper(opt.Transport)
	target := sip.Uri{Scheme: "sip", User: opt.To, Host: uriHost(opt.Target.Addr()), Port: int(opt.Target.Port())}
	if transport == "TCP" {
		target.UriParams = sip.NewParams()
		target.UriParams.Add("transport", "tcp")
	}
	req := sip.NewRequest(sip.INVITE, target)
	req.SetTransport(transport)
	from := sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: opt.From, Host: uriHost(a.addr.Addr())}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: opt.To, Host: uriHost(opt.Target.Addr())}}
	contact := a.contact(opt.From, transport)
	callID := sip.CallIDHeader(sip.GenerateTagN(32))
	req.AppendHeader(&callID)
	req.AppendHeader(&from)
	req.AppendHeader(&to)
	req.AppendHeader(&contact)
	req.AppendHeader(sip.NewHeader("User-Agent", a.userAgent))
	req.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS"))
	for _, h := range plan.headers {
		req.AppendHeader(h)
	}
	ct := sip.ContentTypeHeader("application/sdp")
	req.AppendHeader(&ct)
	req.SetBody(body)
	return req
}

// ring waits for the final response; it reports whether the call was answered.
func (o *outbound) ring() bool {
	err := o.waitAnswer()
	o.r.SetupTime = time.Since(o.sent)
	if err == nil {
		return o.answered()
	}
	var rejected *sipgo.ErrDialogResponse
	switch {
	case errors.As(err, &rejected):
		o.r.Code = rejected.Res.StatusCode
		o.end(EndedRejected, nil)
	case o.ctx.Err() != nil || errors.Is(err, context.Canceled):
		o.cancelled()
	case errors.Is(err, errNoResponse) || errors.Is(err, sip.ErrTransactionTimeout) && len(o.r.Provisional) == 0:
		nr := &NoResponseError{CallID: o.r.CallID, Target: o.opt.Target.String() + "/" + o.opt.Transport, Timeout: o.opt.ResponseTimeout}
		if errors.Is(err, sip.ErrTransactionTimeout) {
			nr.Timeout = sip.Timer_B
			nr.timerBErr = sip.ErrTransactionTimeout // not err: sipgo's text spans lines
		}
		o.end(EndedError, nr)
	case errors.Is(err, sip.ErrTransactionTimeout):
		o.r.Code = sip.StatusRequestTimeout
		o.end(EndedError, fmt.Errorf("call %s: no final response: %w", o.r.CallID, sip.ErrTransactionTimeout))
	default:
		o.end(EndedError, fmt.Errorf("call %s: %w", o.r.CallID, err))
	}
	return false
}

// waitAnswer runs sipgo's WaitAnswer, which sends CANCEL when its context is
// cancelled after a provisional response. CANCEL must not precede the first
// provisional, so when our context ends before one arrived we wait up to
// cancelGrace for it, then abandon the INVITE (sipgo would wait Timer B).
func (o *outbound) waitAnswer() error {
	waitCtx, cancelWait := context.WithCancelCause(context.Background())
	defer cancelWait(nil)
	var provisional atomic.Bool
	abandon := time.AfterFunc(time.Hour, func() { cancelWait(sipgo.WaitAnswerForceCancelErr) })
	abandon.Stop()
	defer abandon.Stop()
	// Without a response there is nothing to CANCEL: the INVITE is
	// abandoned as after cancelGrace.
	var gaveUp atomic.Bool
	if d := o.opt.ResponseTimeout; d > 0 {
		noResponse := time.AfterFunc(d, func() {
			if !provisional.Load() {
				gaveUp.Store(true)
				cancelWait(sipgo.WaitAnswerForceCancelErr)
			}
		})
		defer noResponse.Stop()
	}
	defer context.AfterFunc(o.ctx, func() {
		if provisional.Load() {
			cancelWait(context.Cause(o.ctx))
		} else {
			abandon.Reset(cancelGrace)
		}
	})()
	opts := sipgo.AnswerOptions{OnResponse: func(res *sip.Response) error {
		if res.IsProvisional() {
			provisional.Store(true)
			o.provisional(res)
			switch {
			case o.ctx.Err() != nil:
				cancelWait(context.Cause(o.ctx)) // ended while we waited for this response
			case o.opt.CancelOnRinging && res.StatusCode >= 180 && res.StatusCode < 190:
				cancelWait(errCancelOnRinging)
			}
		}
		return nil
	}}
	for {
		err := o.dlg.WaitAnswer(waitCtx, opts)
		// sipgo gives up after 11 responses; a peer repeating 18x is legal.
		if err != nil && waitCtx.Err() == nil && strings.Contains(err.Error(), "more than 10 responses") {
			continue
		}
		if errors.Is(context.Cause(waitCtx), errCancelOnRinging) {
			return context.Canceled
		}
		if gaveUp.Load() && err != nil {
			return errNoResponse
		}
		return err
	}
}

// provisional records an 18x and starts early media when it carries SDP.
func (o *outbound) provisional(res *sip.Response) {
	o.r.Provisional = append(o.r.Provisional, res.StatusCode)
	if res.StatusCode == 100 || len(res.Body()) == 0 {
		return
	}
	o.r.EarlySDP = res.Body()
	if err := o.startMedia(res.Body()); err != nil {
		o.c.log.Warn().Err(err).Int("code", res.StatusCode).Msg("unusable early SDP")
	}
}

// startMedia points our media at the peer's answer.
func (o *outbound) startMedia(body []byte) error {
	rm, err := o.parsed.parse(body)
	if err != nil {
		return err
	}
	codec, ok := firstClientCodec(rm.formats)
	if !ok {
		return errors.New("answer has no PCMU, PCMA or G722")
	}
	dtmf := -1
	if ev, ok := eventFormat(rm.formats); ok {
		dtmf = int(ev.pt)
	}
	o.c.setLocalSDP(o.r.OfferSDP, dtmf)
	o.c.media.Start(rm.addr, codec, dtmf)
	return nil
}

// answered ACKs the 2xx and starts media; a 2xx without usable SDP is hung up.
func (o *outbound) answered() bool {
	res := o.dlg.InviteResponse
	o.r.Code = res.StatusCode
	o.r.AnswerSDP = res.Body()
	if err := o.dlg.Ack(o.ctx); err != nil {
		o.end(EndedError, fmt.Errorf("call %s: ACK: %w", o.r.CallID, err))
		return false
	}
	if err := o.startMedia(res.Body()); err != nil {
		o.end(EndedError, fmt.Errorf("call %s: answer: %w", o.r.CallID, err))
		_ = o.bye()
		return false
	}
	o.c.answered.Store(true)
	return true
}

// cancelled records a CANCEL we sent; a 2xx that crossed it is ACKed and hung up.
func (o *outbound) cancelled() {
	var err error
	if o.ctx.Err() != nil {
		err = o.a.cause(o.ctx)
	}
	res := o.dlg.InviteResponse
	if res != nil && !res.IsProvisional() {
		o.r.Code = res.StatusCode
	}
	if res != nil && res.IsSuccess() {
		o.r.AnswerSDP = res.Body()
		if ackErr := o.dlg.Ack(context.WithoutCancel(o.ctx)); ackErr == nil {
			_ = o.bye()
		}
	}
	if len(o.r.Provisional) == 0 {
		// Nothing to CANCEL yet: sipgo abandoned the INVITE without one.
		o.end(EndedError, err)
		return
	}
	o.end(EndedCancel, err)
}

// talk sends the DTMF digits and keeps the call up for Duration, and at
// least until the digits are sent, or until the peer's BYE.
func (o *outbound) talk() {
	var timeout <-chan time.Time
	if !o.opt.WaitRemoteHangup {
		t := time.NewTimer(o.opt.Duration)
		defer t.Stop()
		timeout = t.C
	}
	if !o.c.await(o.ctx, timeout, o.c.sendDigits(o.opt.DTMF)) {
		o.end(EndedRemoteBye, nil)
		return
	}
	if o.ctx.Err() != nil {
		o.r.Err = o.a.cause(o.ctx)
	}
	if err := o.bye(); err != nil && o.r.Err == nil {
		o.r.Err = err
	}
	o.end(EndedLocalBye, o.r.Err)
}

func (o *outbound) bye() error {
	if err := hangup(o.ctx, o.dlg.Bye); err != nil {
		return fmt.Errorf("call %s: BYE: %w", o.r.CallID, err)
	}
	return nil
}

// end sets how the call ended, once.
func (o *outbound) end(by string, err error) {
	if o.done {
		return
	}
	o.done = true
	o.r.EndedBy, o.r.Err = by, err
}

// finish stops the media and completes the report.
func (o *outbound) finish() (CallReport, error) {
	o.r.fillMedia(o.c.media.Close())
	if len(o.r.AnswerSDP) > 0 {
		o.r.BypassAnswered = o.parsed.hasBypassID(o.r.AnswerSDP)
	} else if len(o.r.EarlySDP) > 0 {
		o.r.BypassAnswered = o.parsed.hasBypassID(o.r.EarlySDP)
	}
	o.r.ReInvites = o.c.reInviteDirections()
	o.c.log.Debug().Int("code", o.r.Code).Str("ended_by", o.r.EndedBy).Err(o.r.Err).Msg("call ended")
	return o.r, o.r.Err
}

// fillMedia copies the media statistics into the report.
func (r *CallReport) fillMedia(s mediaStats) {
	r.Codec = s.codec
	r.MediaTo, r.MediaFrom, r.MediaLocal = s.to, s.from, s.local
	r.PacketsSent, r.PacketsReceived = s.sent, s.received
	r.PacketsExpected, r.PacketsLost, r.Jitter = s.expected, s.lost, s.jitter
	r.ReceivedPT, r.EventPT = s.receivedPT, s.eventPT
	r.DigitsSent, r.DigitsReceived, r.DigitsReceivedInBand = s.digitsSent, s.digitsReceived, s.digitsInBand
	r.DetectedHz = s.detectedHz
}

// cause explains why ctx ended: ErrClosed when the endpoint is closing.
func (a *agent) cause(ctx context.Context) error {
	if a.ctx.Err() != nil {
		return ErrClosed
	}
	return context.Cause(ctx)
}
