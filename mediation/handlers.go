package mediation

import (
	"context"
	"errors"
	"net/netip"
	"runtime/debug"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/sip"
)

// The server as both sides' sip.Handler: every request is checked,
// classified and handed to its call's queue, or answered here when it
// belongs to no call. This runs on the reading goroutine of the socket or
// connection the request came on, so it never blocks: a call's work is
// done by the call's own goroutine.

// sideHandler is the sip.Handler of one side.
type sideHandler struct {
	s   *Server
	dir direction // of the calls whose INVITE arrives on this side
}

// HandleRequest implements sip.Handler.
func (h sideHandler) HandleRequest(in *sip.Incoming) {
	s := h.s
	defer func() {
		if r := recover(); r != nil {
			in.Side.Log().Error().Interface("panic", r).Str("stack", string(debug.Stack())).
				Str("method", in.Req.Method.String()).Msg("request handler panicked; answered 500")
			if in.Answerable() {
				_ = in.Reply(500, "Server Internal Error", "")
			}
		}
	}()
	req := in.Req
	defer s.wires.forget(req)
	if !sip.IsVersion2(req) {
		// RFC 3261 §7.1, §21.5.15: a version we do not speak is refused
		// before anything else in the request is believed.
		s.malformed(in, 505, "Version Not Supported")
		return
	}
	if !sip.KnownMethod(req.Method) {
		// RFC 3261 §8.2.1: a method the server does not recognise gets
		// 501, whatever else is wrong with the request (RFC 4475 §3.1.2.18).
		s.notImplemented(in)
		return
	}
	if !req.IsAck() {
		var bad *sip.Malformed
		if err := sip.CheckRequest(req); errors.As(err, &bad) {
			s.malformed(in, 400, bad.Phrase)
			return
		}
	}
	if !handledMethod(req.Method) {
		s.reply(in, 405, "Method Not Allowed", gosip.NewHeader("Allow", sip.Allow))
		return
	}
	switch sip.Classify(req, s.calls) {
	case sip.Invalid:
		s.malformed(in, 400, "Bad Request")
	case sip.Initial:
		if s.staleInvite(in) {
			return // a copy of an ended call's INVITE (staleinvite.go)
		}
		s.newCall(in, h.dir)
	case sip.Duplicate, sip.Cancel:
		s.toCall(in, s.calls.byInvite(req))
	case sip.InDialog:
		s.toCall(in, s.callOf(req))
	case sip.OutOfDialog:
		if req.Method == gosip.OPTIONS {
			if s.draining.Load() {
				// A load balancer probing the pool (Kamailio's dispatcher)
				// takes us out before we stop.
				s.reply(in, 503, "Service Unavailable", gosip.NewHeader("Retry-After", "30"))
				return
			}
			if in.Side == s.edge && !s.trunkTakesCalls() {
				// Nor should it send us the clients' calls while no trunk
				// can take one (/readyz says so too): they would wait for
				// Timer B, where another server of the pool could place
				// them (r28-pool F2).
				s.reply(in, 503, "Service Unavailable", gosip.NewHeader("Retry-After", "5"),
					warning(in.Side, "no gateway trunk takes calls"))
				return
			}
			s.reply(in, 200, "OK", sip.CapabilityHeaders(s.sideCalls(in).optionTags()...)...)
			return
		}
		if req.Method == gosip.REFER {
			// RFC 3515 §2.4.2 allows a REFER outside a dialog; we take one
			// only in an answered call's (RFC 3261 §8.2.1: 405, not the
			// 481 of a dialog that does not exist).
			s.reply(in, 405, "Method Not Allowed", gosip.NewHeader("Allow", sip.AllowOutOfDialog),
				warning(in.Side, "REFER is taken only in the dialog of an answered call"))
			return
		}
		s.reply(in, 405, "Method Not Allowed", gosip.NewHeader("Allow", sip.Allow))
	case sip.UnknownDialog:
		if req.Method == gosip.CANCEL && !hasToTag(req) {
			if e, _, ok := s.calls.endedInviteOf(req); ok && e.code >= 300 {
				// A copy of the caller's CANCEL (our 200 to it lost) of an
				// INVITE whose call ended at the CANCEL and left the
				// registry, while our final response to that INVITE is
				// still being retransmitted: it matched a transaction,
				// so 200 again, not 481 (RFC 3261 §9.2, §17.2.2). Not
				// for an INVITE answered 2xx (its transaction ended with
				// the 2xx) or one the caller replaced (e.code 0): 481.
				s.reply(in, 200, "OK")
				return
			}
		}
		s.unknownDialog(in)
	}
}

// HandleRefused implements sip.RefusalHandler: an INVITE the side refused
// by itself (415, a 400 before any transaction) started no call, as one
// the handler refuses.
func (h sideHandler) HandleRefused(req *gosip.Request) { h.s.wires.forget(req) }

// sideCalls are the call settings of the peer a request came from: the
// edge's, or the trunk's on the gateway side.
func (s *Server) sideCalls(in *sip.Incoming) CallSettings {
	if in.Side == s.edge {
		return s.cfg.Edge.CallSettings
	}
	src, _ := netip.ParseAddrPort(in.Req.Source())
	t, _ := s.gateways.FromSource(src)
	return s.trunks[t.Name].calls
}

// handledMethod reports the methods the server implements; other methods
// it knows (sip.KnownMethod: INFO, MESSAGE, ...) get 405 wherever they
// come from, unknown ones 501. A SUBSCRIBE is taken only in a call's
// dialog, a refresh of a REFER's subscription (onSubscribe); outside one
// it gets 405 as before.
func handledMethod(m gosip.RequestMethod) bool {
	switch m {
	case gosip.INVITE, gosip.ACK, gosip.BYE, gosip.CANCEL, gosip.OPTIONS, gosip.PRACK, gosip.UPDATE, gosip.REFER, gosip.NOTIFY, gosip.SUBSCRIBE:
		return true
	}
	return false
}

// HandleStrayResponse implements sip.Handler: a 2xx retransmission whose
// transaction we ended goes to its call to be ACKed again.
func (h sideHandler) HandleStrayResponse(side *sip.Side, res *gosip.Response) {
	if c := h.s.calls.byResponse(res); c != nil && c.push(evStray{side, res}) {
		return
	}
	if res.IsSuccess() && res.CSeq() != nil && res.CSeq().MethodName == gosip.INVITE {
		if seq, ok := h.s.calls.endedSeq(string(*res.CallID())); ok {
			// A 2xx for a call that is over (its INVITE given up): ACK it
			// and hang up, or the far side keeps a call nobody is on;
			// the BYE above our last request in that dialog.
			go h.s.answerLate(side, nil, res, h.s.hungUp.add(res), seq)
			return
		}
	}
	// Nothing of ours: a response to a request we never sent (or long
	// forgotten) is dropped. Answering a stray 2xx with ACK and BYE to
	// whatever its Contact names would let any peer aim our messages
	// (and DNS lookups) anywhere.
	h.s.metrics.sipStray.WithLabelValues(side.Name).Inc()
	if ok, n := h.s.strayLog.Allow(); ok {
		side.Log().Info().Int("code", res.StatusCode).Str("source", res.Source()).Str("sip_call_id", string(*res.CallID())).
			Int("suppressed", n).Msg("response for no transaction or call of ours: dropped")
	}
}

// toCall queues a request on its call; a call that just ended answers
// nothing more, so the request is answered here.
func (s *Server) toCall(in *sip.Incoming, c *call) {
	if c == nil || !c.push(evRequest{in}) {
		if c == nil && in.Req.IsAck() {
			return
		}
		goneAnswer(in)
	}
}

// newCall creates the call of an initial INVITE and starts its goroutine.
// Its dialogs are registered here, before anything is sent, so that the
// next message read (a CANCEL right behind the INVITE) finds the call.
func (s *Server) newCall(in *sip.Incoming, dir direction) {
	if s.draining.Load() {
		s.reply(in, 503, "Service Unavailable", gosip.NewHeader("Retry-After", "30"))
		return
	}
	s.metrics.callsTotal.WithLabelValues(dir.String()).Inc()
	if src := sourceIP(in.Req); !s.perSource.allow(src, time.Now()) {
		s.refuse(in, dir, "rate_limited", "1", "rate limit of the source reached", zerolog.Dict().Str("source", src.String()))
		return
	}
	if max := s.cfg.MaxCalls; max > 0 && s.calls.len() >= max {
		s.refuse(in, dir, "overload", "5", "max_calls reached", zerolog.Dict().Int("max_calls", max))
		return
	}
	c := newCall(s.deps, dir, in, s.wires.takeID(in.Req))
	s.metrics.callsCurrent.WithLabelValues(dir.String()).Inc()
	fromTag, _ := in.Req.From().Params.Get("tag")
	s.calls.add(c, string(*in.Req.CallID()), fromTag)
	s.calls.addDialog(c, string(*in.Req.CallID()), c.caller.tag)
	c.box.start(c, s.deps.workers)
}

// refuse answers a new call 503 with Retry-After for lack of capacity,
// counted as a failed call for reason and logged (rate-limited: a flood
// must not turn into a flood of log lines).
func (s *Server) refuse(in *sip.Incoming, dir direction, reason, retryAfter, why string, fields *zerolog.Event) {
	s.metrics.failedCalls.WithLabelValues(dir.String(), reason).Inc()
	if ok, n := s.refusedLog.Allow(); ok {
		in.Side.Log().Warn().Dict("limit", fields).Str("why", why).Int("suppressed", n).Msg("call refused: 503")
	}
	s.reply(in, 503, "Service Unavailable", gosip.NewHeader("Retry-After", retryAfter), warning(in.Side, why))
}

func (s *Server) reply(in *sip.Incoming, code int, phrase string, hdrs ...gosip.Header) {
	if !in.Answerable() {
		return
	}
	if err := in.Reply(code, phrase, "", hdrs...); err != nil {
		in.Side.Log().Debug().Err(err).Int("code", code).Msg("response not sent")
	}
}

func (s *Server) unknownDialog(in *sip.Incoming) {
	if in.Req.IsAck() {
		return // an ACK is never answered
	}
	s.metrics.sipUnanswered.Inc()
	if ok, n := s.unknownLog.Allow(); ok {
		in.Side.Log().Info().Str("method", in.Req.Method.String()).Str("source", in.Req.Source()).
			Int("suppressed", n).Msg("request for no known call: 481")
	}
	s.reply(in, 481, "Call/Transaction Does Not Exist")
}

// malformed refuses a request that cannot be acted on (400, or 505 for
// its SIP version), counted with the side's malformed requests and logged
// (rate-limited). An ACK is never answered.
func (s *Server) malformed(in *sip.Incoming, code int, phrase string) {
	in.Side.Stats().Malformed.Add(1)
	if ok, n := s.malformedLog.Allow(); ok {
		in.Side.Log().Warn().Str("source", in.Req.Source()).Str("method", in.Req.Method.String()).
			Str("version", in.Req.SipVersion).Int("code", code).Str("why", phrase).Int("suppressed", n).
			Msg("malformed request refused")
	}
	if in.Req.IsAck() {
		return
	}
	s.reply(in, code, phrase)
}

// notImplemented answers a request whose method the server does not know
// (RFC 3261 §8.2.1, §21.5.2): 501, with the methods it does handle.
func (s *Server) notImplemented(in *sip.Incoming) {
	if in.Req.IsAck() {
		return
	}
	s.reply(in, 501, "Not Implemented", gosip.NewHeader("Allow", sip.Allow))
}

// callOf finds the call of an in-dialog request by our tag in its To.
func (s *Server) callOf(req *gosip.Request) *call {
	tag, _ := req.To().Params.Get("tag")
	return s.calls.byDialog(string(*req.CallID()), tag)
}

// ackLate ACKs again a retransmission of a 2xx that lateAnswer already
// hung up (RFC 3261 §13.2.2.4): its dialog is over, a BYE in it would
// only be refused.
func (s *Server) ackLate(side *sip.Side, invite *gosip.Request, res *gosip.Response) {
	s.answerLate(side, invite, res, false, 0)
}

// answerLate hangs up a call that the callee answered after it was over
// (a 2xx racing our CANCEL, or one to an INVITE we gave up): it ACKs the
// 2xx in the dialog it makes, and sends that dialog a BYE (RFC 3261 §15)
// when bye is set (not for a copy of a 2xx already hung up: hungUp), with
// a CSeq above seq, our last request's in that dialog (latedialogs.go).
// invite is nil when only the response is known.
func (s *Server) answerLate(side *sip.Side, invite *gosip.Request, res *gosip.Response, bye bool, seq uint32) {
	defer func() {
		// It runs on a goroutine of its own, outside the read path's
		// recovery: a response no dialog can be made of must not take
		// the process down.
		if r := recover(); r != nil {
			side.Log().Error().Interface("panic", r).Str("stack", string(debug.Stack())).Msg("hanging up a late 2xx panicked")
		}
	}()
	d := sip.NewUACDialog(side, invite, res)
	ctx, cancel := context.WithTimeout(context.Background(), maxByeWait)
	defer cancel()
	if _, err := d.Ack(ctx, res.CSeq().SeqNo, nil); err != nil {
		side.Log().Debug().Err(err).Msg("ACK of a late 2xx")
	}
	if !bye {
		return
	}
	d.LocalSeq = max(d.LocalSeq, seq)
	byeReq := d.NewRequest(gosip.BYE, 0, nil, nil)
	if _, _, err := d.Send(ctx, byeReq, sip.Discard); err != nil {
		side.Log().Debug().Err(err).Msg("BYE after a late 2xx")
	}
}
