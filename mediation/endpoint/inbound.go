package endpoint

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

// answerPlan is how a role answers one INVITE, decided from its offer.
type answerPlan struct {
	// reject > 0 answers 100 and then this final code.
	reject int
	// progress is the provisional response before the answer:
	// ProgressSession sends 183 with the answer SDP and starts media with
	// it; ProgressRinging 180 without SDP; ProgressNone nothing after the
	// 100. Without 183, media starts with the 200.
	progress string
	// delay is the time from the 18x (or the 100) to the 200.
	delay time.Duration
	// noAnswer never sends the 200; the call waits for CANCEL.
	noAnswer bool
	// hangupAfter > 0 sends BYE that long after the answer.
	hangupAfter time.Duration
	codec       format
	dtmf        int // telephone-event PT, -1 if none
	// digits are DTMF digits to send once the call is answered.
	digits string
	dest   netip.AddrPort
	// sdp builds our answer once our media address is known, with
	// a=x-bypassid bypassID ("" none).
	sdp      func(localMedia) ([]byte, error)
	bypassID string
	// early, if set, is another answer for the 183 than the 200's.
	early *earlyPlan
}

// earlyPlan is a 183's answer that the 200 changes (SBCConfig.EarlyTelephoneEvent).
type earlyPlan struct {
	dtmf int // telephone-event PT of the 183, -1 if none
	sdp  func(localMedia) ([]byte, error)
}

// inbound is one call we answer, from INVITE to report.
type inbound struct {
	a    *agent
	tx   sip.ServerTransaction
	dlg  *sipgo.DialogServerSession
	c    *call
	p    answerPlan
	r    CallReport
	done bool
}

// serveInvite answers an initial INVITE according to the role's plan and
// queues the report once the call ended. It runs in sipgo's OnInvite handler
// for the whole call, so the INVITE transaction never ends before its final
// response.
func (a *agent) serveInvite(req *sip.Request, tx sip.ServerTransaction, plan func(remoteMedia) (answerPlan, error)) {
	r := CallReport{Direction: Inbound, Transport: req.Transport(), OfferSDP: req.Body(), ReceivedPT: -1, EventPT: -1}
	if id := req.CallID(); id != nil {
		r.CallID = id.Value()
	}
	if f := req.From(); f != nil {
		r.From = f.Address.User
	}
	if t := req.To(); t != nil {
		r.To = t.Address.User
	}
	log := a.log.With().Str("call_id", r.CallID).Str("dir", Inbound).Logger()

	rm, err := parseRemote(req.Body())
	var p answerPlan
	if err == nil {
		r.BypassOffered = rm.bypassID != ""
		p, err = plan(rm)
	}
	if err != nil {
		log.Info().Err(err).Msg("offer refused with 488")
		a.respond(req, tx, sip.StatusNotAcceptableHere, reason(sip.StatusNotAcceptableHere))
		r.Code, r.EndedBy, r.Err = sip.StatusNotAcceptableHere, EndedRejected, err
		a.push(r)
		return
	}
	dlg, err := a.dialogUA(r.To, req.Transport()).ReadInvite(req, tx)
	if err != nil {
		a.respond(req, tx, sip.StatusBadRequest, reason(sip.StatusBadRequest))
		r.Code, r.EndedBy, r.Err = sip.StatusBadRequest, EndedError, fmt.Errorf("call %s: %w", r.CallID, err)
		a.push(r)
		return
	}
	in := &inbound{a: a, tx: tx, dlg: dlg, p: p, r: r}
	in.run(log)
	a.push(in.r)
}

// run answers the INVITE: 100, then the rejection or 18x, 200 and the call.
func (in *inbound) run(log zerolog.Logger) {
	if err := in.dlg.Respond(sip.StatusTrying, "Trying", nil); err != nil {
		in.end(EndedError, fmt.Errorf("call %s: 100: %w", in.r.CallID, err))
		return
	}
	in.r.Provisional = append(in.r.Provisional, sip.StatusTrying)
	if in.p.reject > 0 {
		in.final(in.p.reject, nil)
		return
	}
	media, err := newStream(in.a.mediaIP, in.a.toneHz, in.a.delays, in.a.silent, log)
	if err != nil {
		in.final(sip.StatusInternalServerError, err)
		return
	}
	tag, _ := in.dlg.InviteRequest.To().Params.Get("tag")
	in.c = newCall(callKey(in.r.CallID, tag), log, media)
	in.c.uas = in.dlg
	in.a.register(in.c)
	defer in.a.unregister(in.c)
	defer func() { in.r.fillMedia(media.Close()) }()

	body, err := in.p.sdp(media.local)
	if err != nil {
		in.final(sip.StatusInternalServerError, err)
		return
	}
	in.c.setLocalSDP(body, in.p.dtmf)
	early, earlyDTMF := body, in.p.dtmf
	if e := in.p.early; e != nil {
		if early, err = e.sdp(media.local); err != nil {
			in.final(sip.StatusInternalServerError, err)
			return
		}
		earlyDTMF = e.dtmf
	}
	if in.ring(early, earlyDTMF) && in.answer(body) {
		in.talk()
	}
}

// final sends a non-2xx final response.
func (in *inbound) final(code int, cause error) {
	in.r.Code = code
	if err := in.dlg.Respond(code, reason(code), nil); err != nil && cause == nil {
		cause = fmt.Errorf("call %s: %d: %w", in.r.CallID, code, err)
	}
	by := EndedRejected
	if code >= 500 && code < 600 && cause != nil {
		by = EndedError
	}
	in.end(by, cause)
}

// ring sends the 18x, if any (a 183 with body, on which media starts with
// telephone-event PT dtmf), and waits until it is time to answer; false
// when the call ended meanwhile (CANCEL, Close).
func (in *inbound) ring(body []byte, dtmf int) bool {
	var err error
	switch in.p.progress {
	case ProgressSession:
		ct := sip.ContentTypeHeader("application/sdp")
		err = in.dlg.Respond(sip.StatusSessionInProgress, "Session Progress", body, &ct)
		in.r.Provisional = append(in.r.Provisional, sip.StatusSessionInProgress)
		in.r.EarlySDP = body
		in.c.media.Start(in.p.dest, in.p.codec, dtmf)
	case ProgressRinging:
		err = in.dlg.Respond(sip.StatusRinging, "Ringing", nil)
		in.r.Provisional = append(in.r.Provisional, sip.StatusRinging)
	}
	if err != nil {
		in.ended(err)
		return false
	}
	var answer <-chan time.Time
	if !in.p.noAnswer {
		t := time.NewTimer(in.p.delay)
		defer t.Stop()
		answer = t.C
	}
	select {
	case <-answer:
		return true
	case <-in.dlg.Context().Done():
		in.ended(context.Cause(in.dlg.Context()))
	case <-in.a.ctx.Done():
		in.final(sip.StatusTemporarilyUnavailable, ErrClosed)
	}
	return false
}

// ended records a dialog that ended before the answer: CANCEL or an error.
func (in *inbound) ended(cause error) {
	if errors.Is(cause, sip.ErrTransactionCanceled) {
		in.r.Code = sip.StatusRequestTerminated
		in.end(EndedCancel, nil)
		return
	}
	if cause == nil {
		cause = errors.New("INVITE transaction ended")
	}
	in.end(EndedError, fmt.Errorf("call %s: %w", in.r.CallID, cause))
}

// answer sends the 200 with our SDP and waits for the ACK.
func (in *inbound) answer(body []byte) bool {
	in.c.media.Start(in.p.dest, in.p.codec, in.p.dtmf)
	in.r.Code = sip.StatusOK
	in.r.AnswerSDP = body
	// sipgo retransmits the 200 until the ACK, up to 64*T1; Close must not wait that long.
	stop := context.AfterFunc(in.a.ctx, in.tx.Terminate)
	err := in.dlg.RespondSDP(body)
	stop()
	switch {
	case in.c.byeReceived():
		in.end(EndedRemoteBye, nil) // BYE overtook the ACK
		return false
	case err != nil:
		in.end(EndedError, fmt.Errorf("call %s: 200 not acknowledged: %w", in.r.CallID, err))
		_ = hangup(in.a.ctx, in.dlg.Bye)
		return false
	}
	in.c.answered.Store(true)
	return true
}

// talk sends the plan's DTMF digits and keeps the answered call up until
// the peer's BYE, our HangupAfter (but not before the digits are sent) or Close.
func (in *inbound) talk() {
	var hang <-chan time.Time
	if in.p.hangupAfter > 0 {
		t := time.NewTimer(in.p.hangupAfter)
		defer t.Stop()
		hang = t.C
	}
	if !in.c.await(in.a.ctx, hang, in.c.sendDigits(in.p.digits)) {
		in.end(EndedRemoteBye, nil)
		return
	}
	var cause error
	if in.a.ctx.Err() != nil {
		cause = ErrClosed
	}
	if err := hangup(in.a.ctx, in.dlg.Bye); err != nil && cause == nil {
		cause = fmt.Errorf("call %s: BYE: %w", in.r.CallID, err)
	}
	in.end(EndedLocalBye, cause)
}

func (in *inbound) end(by string, err error) {
	if in.done {
		return
	}
	in.done = true
	in.r.EndedBy, in.r.Err = by, err
	if in.c != nil {
		in.r.ReInvites = in.c.reInviteDirections()
	}
	// Our answer, early or final, is the plan's SDP.
	in.r.BypassAnswered = (len(in.r.AnswerSDP) > 0 || len(in.r.EarlySDP) > 0) && in.p.bypassID != ""
}
