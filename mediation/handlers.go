package mediation

import (
	"context"
	"runtime/debug"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sip"
)

// registerHandlers wires one side's SIP server to the B2BUA. Calls that
// arrive on the edge side are outbound (client -> PSTN), those on the
// gateway side inbound.
func (s *Server) registerHandlers(side *sip.Side, dir direction) {
	srv := side.Server
	srv.OnInvite(s.guard(side, func(req *gosip.Request, tx gosip.ServerTransaction) { s.onInvite(side, dir, req, tx) }))
	srv.OnAck(s.guard(side, func(req *gosip.Request, tx gosip.ServerTransaction) { s.onAck(side, req, tx) }))
	srv.OnBye(s.guard(side, func(req *gosip.Request, tx gosip.ServerTransaction) { s.onBye(side, req, tx) }))
	srv.OnOptions(s.guard(side, func(req *gosip.Request, tx gosip.ServerTransaction) { s.onOptions(side, req, tx) }))
	// A CANCEL that reaches the handler matched no INVITE transaction (the
	// transaction layer answers the ones that do).
	srv.OnCancel(s.guard(side, func(req *gosip.Request, tx gosip.ServerTransaction) { s.unknownDialog(side, req, tx) }))
	srv.OnNoRoute(s.guard(side, func(req *gosip.Request, tx gosip.ServerTransaction) {
		side.Trace(side.Log(), sip.In, req)
		s.reply(side, tx, req, 405, "Method Not Allowed", gosip.NewHeader("Allow", sip.Allow))
	}))
}

// guard keeps a bug in one request's handling from taking the whole server
// (and every other call) down: the request gets a 500 and the stack is
// logged.
func (s *Server) guard(side *sip.Side, h func(*gosip.Request, gosip.ServerTransaction)) func(*gosip.Request, gosip.ServerTransaction) {
	return func(req *gosip.Request, tx gosip.ServerTransaction) {
		defer func() {
			if r := recover(); r != nil {
				side.Log().Error().Interface("panic", r).Str("stack", string(debug.Stack())).
					Str("method", req.Method.String()).Msg("handler panicked; answered 500")
				if !req.IsAck() {
					_ = tx.Respond(gosip.NewResponseFromRequest(req, 500, "Server Internal Error", nil))
				}
			}
		}()
		h(req, tx)
	}
}

func (s *Server) reply(side *sip.Side, tx gosip.ServerTransaction, req *gosip.Request, code int, phrase string, hdrs ...gosip.Header) {
	res := gosip.NewResponseFromRequest(req, code, phrase, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	res.AppendHeader(gosip.NewHeader("Server", s.userAgent))
	side.Trace(side.Log(), sip.Out, res)
	if err := tx.Respond(res); err != nil {
		side.Log().Debug().Err(err).Int("code", code).Msg("response not sent")
	}
}

func (s *Server) unknownDialog(side *sip.Side, req *gosip.Request, tx gosip.ServerTransaction) {
	side.Trace(side.Log(), sip.In, req)
	s.metrics.sipUnanswered.Inc()
	side.Log().Info().Str("method", req.Method.String()).Str("source", req.Source()).Msg("request for no known call: 481")
	s.reply(side, tx, req, 481, "Call/Transaction Does Not Exist")
}

func (s *Server) malformed(side *sip.Side, req *gosip.Request, tx gosip.ServerTransaction) {
	side.Trace(side.Log(), sip.In, req)
	s.metrics.sipMalformed.Inc()
	side.Log().Warn().Str("source", req.Source()).Msg("malformed request: 400")
	s.reply(side, tx, req, 400, "Bad Request")
}

// callOf finds the call of an in-dialog request by our tag in its To.
func (s *Server) callOf(req *gosip.Request) *call {
	tag, _ := req.To().Params.Get("tag")
	return s.calls.byDialog(string(*req.CallID()), tag)
}

func (s *Server) onInvite(side *sip.Side, dir direction, req *gosip.Request, tx gosip.ServerTransaction) {
	switch sip.Classify(req, s.calls) {
	case sip.Malformed:
		s.malformed(side, req, tx)
	case sip.UnknownDialog:
		s.unknownDialog(side, req, tx)
	case sip.Duplicate:
		// The call exists: its own transaction and dialog answer the caller.
		side.Trace(side.Log(), sip.In, req)
		side.Log().Debug().Msg("INVITE retransmission for an existing call ignored")
	case sip.InDialog:
		if c := s.callOf(req); c != nil {
			c.onReInvite(side, req, tx)
			return
		}
		s.unknownDialog(side, req, tx)
	case sip.Initial:
		s.newCall(side, dir, req, tx)
	}
}

// newCall checks an initial INVITE and runs the call's setup; it returns
// once the caller has a final response.
func (s *Server) newCall(aSide *sip.Side, dir direction, req *gosip.Request, tx gosip.ServerTransaction) {
	c := &call{id: newCallID(), dir: dir, srv: s, aSide: aSide, start: time.Now(), done: make(chan struct{})}
	c.bSide = s.gw
	if dir == inbound {
		c.bSide = s.edge
	}
	c.aCallID = string(*req.CallID())
	c.from, c.to = req.From().Address.User, req.To().Address.User
	c.log = s.log.With().Str("call", c.id).Str("direction", dir.String()).
		Str("a_call_id", c.aCallID).Logger()
	aSide.Trace(&c.log, sip.In, req)

	if s.draining.Load() {
		s.reply(aSide, tx, req, 503, "Service Unavailable", gosip.NewHeader("Retry-After", "30"))
		return
	}
	s.metrics.callsTotal.WithLabelValues(dir.String()).Inc()
	if max := s.cfg.MaxCalls; max > 0 && s.calls.len() >= max {
		s.metrics.failedCalls.WithLabelValues(dir.String(), "overload").Inc()
		c.log.Warn().Int("max_calls", max).Msg("call refused: max_calls reached")
		s.reply(aSide, tx, req, 503, "Service Unavailable", gosip.NewHeader("Retry-After", "5"),
			warning(aSide, "max_calls reached"))
		return
	}
	if sip.MaxForwards(req) <= 1 {
		s.metrics.failedCalls.WithLabelValues(dir.String(), "too_many_hops").Inc()
		s.reply(aSide, tx, req, 483, "Too Many Hops")
		return
	}
	offer, late, err := parseInitialOffer(dir, req.Body())
	if err != nil {
		s.metrics.failedCalls.WithLabelValues(dir.String(), "not_acceptable").Inc()
		phrase := "Not Acceptable Here"
		if err.Error() == reasonHold {
			phrase = reasonHold
		}
		c.log.Info().Str("why", err.Error()).Msg("offer refused: 488")
		s.reply(aSide, tx, req, 488, phrase, warning(aSide, err.Error()))
		return
	}
	if dir == outbound {
		c.trunk, _ = s.gateways.Route(req.Recipient.User)
	} else {
		src, _ := parseSource(req.Source())
		c.trunk = s.gateways.FromSource(src)
	}
	c.media = mediaPlan{dir: dir, offer: offer, lateOffer: late, log: c.log, edgeCodecs: s.cfg.Media.EdgeCodecs, gwSRTP: c.trunk.SRTP, sessionOpts: []relay.SessionOption{
		relay.WithLatching(s.cfg.Media.LatchingEnabled()),
		relay.WithMediaTimeout(s.cfg.Media.Timeout, c.onMediaTimeout),
	}}

	s.metrics.callsCurrent.WithLabelValues(dir.String()).Inc()
	fromTag, _ := req.From().Params.Get("tag")
	s.calls.add(c, string(*req.CallID()), fromTag)

	trying := gosip.NewResponseFromRequest(req, 100, "Trying", nil)
	aSide.Trace(&c.log, sip.Out, trying)
	_ = tx.Respond(trying)
	a, err := aSide.DialogUA(req.Transport()).ReadInvite(req, tx)
	if err != nil {
		c.log.Info().Err(err).Msg("caller's INVITE transaction is gone")
		c.finish("caller_gone", false)
		return
	}
	c.a = a
	toTag, _ := a.InviteRequest.To().Params.Get("tag")
	s.calls.addDialog(c, string(*req.CallID()), toTag)

	ctx, cancel := context.WithCancelCause(context.Background())
	c.mu.Lock()
	c.cancel = cancel
	c.mu.Unlock()
	tx.OnCancel(func(*gosip.Request) {
		aSide.Trace(&c.log, sip.In, req)
		cancel(errCallerCanceled)
	})
	c.setup(ctx, req)
}

func (s *Server) onAck(side *sip.Side, req *gosip.Request, tx gosip.ServerTransaction) {
	c := s.callOf(req)
	if c == nil {
		side.Trace(side.Log(), sip.In, req)
		return // an ACK is never answered
	}
	side.Trace(&c.log, sip.In, req)
	if side == c.aSide && c.a != nil {
		if err := c.a.ReadAck(req, tx); err != nil {
			c.log.Debug().Err(err).Msg("ACK not for our last 2xx")
			return
		}
		c.onLateAnswer(req.Body())
	}
}

func (s *Server) onBye(side *sip.Side, req *gosip.Request, tx gosip.ServerTransaction) {
	if sip.Classify(req, s.calls) == sip.Malformed {
		s.malformed(side, req, tx)
		return
	}
	c := s.callOf(req)
	if c == nil {
		s.unknownDialog(side, req, tx)
		return
	}
	side.Trace(&c.log, sip.In, req)
	c.onBye(side, req, tx)
}

func (s *Server) onOptions(side *sip.Side, req *gosip.Request, tx gosip.ServerTransaction) {
	switch sip.Classify(req, s.calls) {
	case sip.Malformed:
		s.malformed(side, req, tx)
	case sip.UnknownDialog:
		s.unknownDialog(side, req, tx)
	default:
		side.Trace(side.Log(), sip.In, req)
		s.reply(side, tx, req, 200, "OK", sip.CapabilityHeaders()...)
	}
}
