package endpoint

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

// call is one call in the registry: its dialog, media and report.
type call struct {
	key string
	log zerolog.Logger

	// Exactly one of uas (we answered) and uac (we called) is set before the
	// call is registered, and never changes.
	uas *sipgo.DialogServerSession
	uac *sipgo.DialogClientSession

	media *stream

	mu       sync.Mutex
	localSDP []byte // our current SDP, repeated in answers to re-INVITEs
	dtmfPT   int

	// answered is set once the 2xx was sent and ACKed, or received and ACKed.
	answered atomic.Bool

	byeOnce   sync.Once
	remoteBye chan struct{} // closed when the peer's BYE was answered
}

func newCall(key string, log zerolog.Logger, media *stream) *call {
	return &call{key: key, log: log, media: media, dtmfPT: -1, remoteBye: make(chan struct{})}
}

// byeReceived tells whether the peer hung up.
func (c *call) byeReceived() bool {
	select {
	case <-c.remoteBye:
		return true
	default:
		return false
	}
}

func (c *call) setLocalSDP(body []byte, dtmf int) {
	c.mu.Lock()
	c.localSDP, c.dtmfPT = body, dtmf
	c.mu.Unlock()
}

// callKey identifies a dialog from our side: Call-ID and our own tag. Our tag
// is the To tag of every in-dialog request the peer sends, whichever side
// sent the INVITE.
func callKey(callID, localTag string) string {
	return callID + "|" + localTag
}

// requestKey is the callKey of an in-dialog request from the peer.
func requestKey(req *sip.Request) (string, bool) {
	id, to := req.CallID(), req.To()
	if id == nil || to == nil {
		return "", false
	}
	tag, ok := to.Params.Get("tag")
	if !ok || tag == "" {
		return "", false
	}
	return callKey(id.Value(), tag), true
}

func (a *agent) register(c *call) {
	a.mu.Lock()
	a.calls[c.key] = c
	a.mu.Unlock()
}

func (a *agent) unregister(c *call) {
	a.mu.Lock()
	delete(a.calls, c.key)
	a.mu.Unlock()
}

func (a *agent) lookup(req *sip.Request) *call {
	key, ok := requestKey(req)
	if !ok {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[key]
}

// respond sends a stateless-style response on a server transaction.
func (a *agent) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string) {
	if err := tx.Respond(sip.NewResponseFromRequest(req, code, reason, nil)); err != nil {
		a.log.Debug().Err(err).Int("code", code).Str("method", req.Method.String()).Msg("respond failed")
	}
}

// onInvite dispatches initial INVITEs to the role and re-INVITEs to the call.
func (a *agent) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if _, inDialog := requestKey(req); inDialog {
		a.onReInvite(req, tx)
		return
	}
	if !a.enter() {
		a.respond(req, tx, sip.StatusServiceUnavailable, "Service Unavailable")
		return
	}
	defer a.leave()
	a.answer(req, tx)
}

// onReInvite answers a session refresh or media change with our current SDP,
// so the codec stays what was negotiated, and points our media at the new
// address. An offer without that codec is refused.
func (a *agent) onReInvite(req *sip.Request, tx sip.ServerTransaction) {
	c := a.lookup(req)
	if c == nil {
		a.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	c.mu.Lock()
	local, dtmf := c.localSDP, c.dtmfPT
	c.mu.Unlock()
	if len(req.Body()) > 0 {
		if err := c.media.Renegotiate(req.Body(), dtmf); err != nil {
			c.log.Warn().Err(err).Msg("re-INVITE refused")
			a.respond(req, tx, sip.StatusNotAcceptableHere, reason(sip.StatusNotAcceptableHere))
			return
		}
	}
	res := sip.NewSDPResponseFromRequest(req, local)
	contact := a.contact("", req.Transport())
	res.AppendHeader(&contact)
	if err := tx.Respond(res); err != nil {
		c.log.Debug().Err(err).Msg("answer re-INVITE failed")
	}
}

// onAck confirms the dialogs we answered; ACKs of re-INVITEs and strays are dropped.
func (a *agent) onAck(req *sip.Request, tx sip.ServerTransaction) {
	c := a.lookup(req)
	if c == nil || c.uas == nil {
		return
	}
	if err := c.uas.ReadAck(req, tx); err != nil {
		c.log.Debug().Err(err).Msg("ACK not for the INVITE")
	}
}

// onBye answers the peer's BYE and wakes the call.
func (a *agent) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c := a.lookup(req)
	if c == nil {
		a.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	var err error
	if c.uas != nil {
		err = c.uas.ReadBye(req, tx)
	} else {
		err = c.uac.ReadBye(req, tx)
	}
	if err != nil {
		c.log.Warn().Err(err).Msg("BYE rejected")
		a.respond(req, tx, sip.StatusBadRequest, "Bad Request")
		return
	}
	c.byeOnce.Do(func() { close(c.remoteBye) })
}

// onStrayCancel answers a CANCEL that matched no INVITE transaction; matching
// ones are answered by sipgo's transaction layer.
func (a *agent) onStrayCancel(req *sip.Request, tx sip.ServerTransaction) {
	a.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
}

// onOptions answers keep-alive pings, which a mediation server sends to its gateways.
func (a *agent) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS"))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	if err := tx.Respond(res); err != nil {
		a.log.Debug().Err(err).Msg("answer OPTIONS failed")
	}
}

// hangup sends BYE within a bounded time, even when ctx is already done
// (Close, an expired test deadline): a peer must not be left with a call.
func hangup(ctx context.Context, bye func(context.Context) error) error {
	byeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), byeTimeout)
	defer cancel()
	return bye(byeCtx)
}
