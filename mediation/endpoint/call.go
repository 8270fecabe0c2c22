package endpoint

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/sdp/v3"

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
	// reInvites are the directions of the re-INVITE offers answered.
	reInvites []string

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
	dir := offeredDirection(req.Body())
	c.mu.Lock()
	c.reInvites = append(c.reInvites, dir)
	c.mu.Unlock()
	res := sip.NewSDPResponseFromRequest(req, answerDirection(local, dir))
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

// reInviteDirections returns the directions of the re-INVITEs answered.
func (c *call) reInviteDirections() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.reInvites...)
}

// offeredDirection is the direction of an offer's audio stream; a
// c=0.0.0.0 offer is the RFC 2543 way of saying sendonly.
func offeredDirection(body []byte) string {
	var desc sdp.SessionDescription
	if len(body) == 0 || desc.Unmarshal(body) != nil {
		return "sendrecv"
	}
	md := firstAudio(&desc)
	if md == nil {
		return "sendrecv"
	}
	for _, d := range []string{"sendonly", "recvonly", "inactive", "sendrecv"} {
		if _, ok := md.Attribute(d); ok {
			return d
		}
	}
	if c := md.ConnectionInformation; c != nil && c.Address != nil && c.Address.Address == "0.0.0.0" {
		return "sendonly"
	}
	if c := desc.ConnectionInformation; c != nil && c.Address != nil && c.Address.Address == "0.0.0.0" {
		return "sendonly"
	}
	return "sendrecv"
}

// answerDirection returns our SDP with the direction RFC 3264 §6.1 asks of
// an answer to an offer in direction offered: recvonly to sendonly, sendonly
// to recvonly, inactive to inactive.
func answerDirection(local []byte, offered string) []byte {
	want := map[string]string{"sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}[offered]
	if want == "" {
		want = "sendrecv"
	}
	var desc sdp.SessionDescription
	if desc.Unmarshal(local) != nil {
		return local
	}
	md := firstAudio(&desc)
	if md == nil {
		return local
	}
	attrs := md.Attributes[:0]
	for _, a := range md.Attributes {
		switch a.Key {
		case "sendonly", "recvonly", "inactive", "sendrecv":
			continue
		}
		attrs = append(attrs, a)
	}
	md.Attributes = append(attrs, sdp.NewPropertyAttribute(want))
	out, err := desc.Marshal()
	if err != nil {
		return local
	}
	return out
}

// sendDigits starts sending DTMF digits; the channel is closed once they
// were sent, and is nil when there are none.
func (c *call) sendDigits(digits string) <-chan struct{} {
	if digits == "" {
		return nil
	}
	return c.media.SendDigits(digits)
}

// await waits until hangup has fired and dtmf is closed (a nil channel is
// done already; a nil hangup never fires), or ctx ends. It returns false
// when the peer's BYE came first.
func (c *call) await(ctx context.Context, hangup <-chan time.Time, dtmf <-chan struct{}) bool {
	due := false
	for {
		select {
		case <-c.remoteBye:
			return false
		case <-hangup:
			hangup, due = nil, true
		case <-dtmf:
			dtmf = nil
		case <-ctx.Done():
			return true
		}
		if due && dtmf == nil {
			return true
		}
	}
}
