package mediation

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sdp"
	"github.com/mediation-emulator/mediation/sip"
)

// reinviteTimeout bounds the far side's answer to a relayed re-INVITE.
const reinviteTimeout = 10 * time.Second

// errReinvitePending: a re-INVITE arrived while another is in progress.
var errReinvitePending = errors.New("re-INVITE in progress")

// onReInvite relays a re-INVITE (hold, resume, new media address) to the
// other leg with rewritten SDP, keeps the relay (or the bypass) consistent
// and answers the sender with the other side's answer. A re-INVITE without
// SDP (a session refresh) is answered locally with the SDP the leg has.
func (c *call) onReInvite(side *sip.Side, req *gosip.Request, tx gosip.ServerTransaction) {
	side.Trace(&c.log, sip.In, req)
	fromA := side == c.aSide
	c.mu.Lock()
	answered := c.state == stateAnswered
	if fromA {
		_ = c.a.ReadRequest(req, tx)
	} else {
		_ = c.b.ReadRequest(req, tx)
	}
	c.mu.Unlock()
	if !answered {
		c.srv.reply(side, tx, req, 491, "Request Pending")
		return
	}
	if len(req.Body()) == 0 {
		c.answerReInvite(side, req, tx, 200, "OK", c.currentSDP(fromA))
		return
	}
	offer, err := sdp.Parse(req.Body())
	if err != nil {
		c.srv.reply(side, tx, req, 488, "Not Acceptable Here", warning(side, "unparseable SDP in re-INVITE"))
		return
	}
	res, body, err := c.relayReInvite(fromA, offer)
	switch {
	case errors.Is(err, errReinvitePending):
		c.srv.reply(side, tx, req, 491, "Request Pending")
	case err != nil && res != nil:
		c.log.Info().Err(err).Int("code", res.StatusCode).Msg("re-INVITE refused by the far side")
		c.srv.reply(side, tx, req, res.StatusCode, res.Reason)
	case err != nil:
		c.log.Warn().Err(err).Msg("re-INVITE not relayed")
		c.srv.reply(side, tx, req, 488, "Not Acceptable Here", warning(side, err.Error()))
	default:
		c.answerReInvite(side, req, tx, 200, "OK", body)
	}
}

// currentSDP is the SDP we last sent on leg A or B.
func (c *call) currentSDP(legA bool) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if legA {
		return c.media.aSDP.last
	}
	return c.media.bSDP.last
}

func (c *call) answerReInvite(side *sip.Side, req *gosip.Request, tx gosip.ServerTransaction, code int, phrase string, body []byte) {
	res := gosip.NewResponseFromRequest(req, code, phrase, body)
	if body != nil {
		res.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	}
	contact := side.Contact(req.Transport())
	res.AppendHeader(&contact)
	res.AppendHeader(gosip.NewHeader("Server", c.srv.userAgent))
	side.Trace(&c.log, sip.Out, res)
	if err := tx.Respond(res); err != nil {
		c.log.Debug().Err(err).Msg("answering re-INVITE")
	}
}

// relayReInvite sends the other leg a re-INVITE built from offer and returns
// the answer for the sender. res is the far side's final response when it
// refused.
func (c *call) relayReInvite(fromA bool, offer sdp.Media) (*gosip.Response, []byte, error) {
	c.mu.Lock()
	if c.media.reinviting {
		c.mu.Unlock()
		return nil, nil, errReinvitePending
	}
	c.media.reinviting = true
	fromEdge := (c.dir == outbound) == fromA
	d, err := c.media.reOffer(fromEdge, offer)
	legSDP := &c.media.bSDP
	if !fromA {
		legSDP = &c.media.aSDP
	}
	var body []byte
	if err == nil {
		body = legSDP.marshal(d)
	}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.media.reinviting = false
		c.mu.Unlock()
	}()
	if err != nil {
		return nil, nil, err
	}

	ctx, cancel := context.WithTimeout(context.Background(), reinviteTimeout)
	defer cancel()
	res, err := c.sendReInvite(ctx, !fromA, body)
	if err != nil {
		return nil, nil, err
	}
	if !res.IsSuccess() {
		return res, nil, fmt.Errorf("far side answered %d", res.StatusCode)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	answer, err := c.media.reAnswer(fromEdge, offer, res.Body())
	if err != nil {
		return nil, nil, err
	}
	own := &c.media.aSDP
	if !fromA {
		own = &c.media.bSDP
	}
	c.log.Info().Bool("hold", c.media.onHold).Str("from", map[bool]string{true: "edge", false: "gateway"}[fromEdge]).
		Msg("re-INVITE relayed")
	return nil, own.marshal(answer), nil
}

// sendReInvite sends a re-INVITE on leg A (toA) or B and ACKs its 2xx.
func (c *call) sendReInvite(ctx context.Context, toA bool, body []byte) (*gosip.Response, error) {
	var d interface {
		TransactionRequest(context.Context, *gosip.Request) (gosip.ClientTransaction, error)
		WriteRequest(*gosip.Request) error
	}
	var target gosip.Uri
	side := c.bSide
	if toA {
		d, target, side = c.a, c.a.InviteRequest.Contact().Address, c.aSide
	} else {
		d, target = c.b, c.b.InviteRequest.Recipient
		if ct := c.b.InviteResponse.Contact(); ct != nil {
			target = ct.Address
		}
	}
	req := gosip.NewRequest(gosip.INVITE, target)
	req.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(body)
	tx, err := d.TransactionRequest(ctx, req)
	side.Trace(&c.log, sip.Out, req)
	if err != nil {
		return nil, err
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			side.Trace(&c.log, sip.In, res)
			if res.IsProvisional() {
				continue
			}
			if res.IsSuccess() {
				ack := gosip.NewRequest(gosip.ACK, target)
				if err := d.WriteRequest(ack); err != nil {
					c.log.Debug().Err(err).Msg("ACK for re-INVITE")
				}
				side.Trace(&c.log, sip.Out, ack)
			}
			return res, nil
		case <-tx.Done():
			return nil, fmt.Errorf("re-INVITE: %w", tx.Err())
		case <-ctx.Done():
			return nil, fmt.Errorf("re-INVITE: %w", ctx.Err())
		}
	}
}

// reOffer builds the re-INVITE offer for the other side from a new offer
// of the edge peer (fromEdge) or the gateway. The bypass decision of the
// call stands: a bypassed call points each peer at the other, an anchored
// one at the relay, which stops its media timeout while the call is held.
func (p *mediaPlan) reOffer(fromEdge bool, offer sdp.Media) (sdp.Description, error) {
	p.onHold = offer.OnHold()
	if p.relay != nil {
		p.relay.SetHold(p.onHold)
	}
	switch {
	case p.decision.bypass:
		d, err := sdp.GatewayOffer(offer, true, netip.AddrPort{})
		if !fromEdge {
			d.BypassID = p.bypassID
		}
		return d, err
	case fromEdge:
		if err := p.keys[relay.Edge].answerTo(offer, false); err != nil {
			return sdp.Description{}, err
		}
		d, err := sdp.GatewayOffer(offer, false, p.local(relay.Gateway))
		p.keys[relay.Gateway].apply(&d)
		return d, err
	default:
		if p.gwSRTP != srtpOff {
			if err := p.keys[relay.Gateway].answerTo(offer, p.gwSRTP == srtpRequired); err != nil {
				return sdp.Description{}, err
			}
		}
		d, err := sdp.ClientOffer(offer, p.local(relay.Edge), "")
		p.keys[relay.Edge].apply(&d)
		return d, err
	}
}

// reAnswer turns the other side's answer into the answer for the sender and
// re-points the relay.
func (p *mediaPlan) reAnswer(fromEdge bool, offer sdp.Media, body []byte) (sdp.Description, error) {
	ans, err := sdp.Parse(body)
	if err != nil {
		return sdp.Description{}, fmt.Errorf("far side's re-INVITE answer: %w", err)
	}
	if fromEdge {
		p.client, p.gateway = offer, ans
	} else {
		p.gateway, p.client = offer, ans
	}
	switch {
	case p.decision.bypass && fromEdge:
		return sdp.ClientAnswer(offer, ans, true, netip.AddrPort{}, p.bypassID)
	case p.decision.bypass:
		return sdp.GatewayOffer(ans, true, netip.AddrPort{})
	case fromEdge:
		d, err := sdp.ClientAnswerPrefer(offer, ans, p.local(relay.Edge), p.edgeCodecs)
		p.keys[relay.Edge].apply(&d)
		if err == nil && p.keys[relay.Gateway].ours != nil {
			err = p.keys[relay.Gateway].accept(ans, p.gwSRTP == srtpRequired)
		}
		if err == nil && len(ans.G711()) > 0 {
			err = p.pointRelay(relay.Gateway, ans, ans.G711()[0], relay.Edge, offer, d.Codecs[0])
		}
		return d, err
	default:
		d, err := sdp.GatewayAnswer(offer, ans, false, p.local(relay.Gateway))
		p.keys[relay.Gateway].apply(&d)
		if err == nil && p.keys[relay.Edge].ours != nil {
			err = p.keys[relay.Edge].accept(ans, false)
		}
		if err == nil && len(ans.G711()) > 0 {
			err = p.pointRelay(relay.Gateway, offer, d.Codecs[0], relay.Edge, ans, ans.G711()[0])
		}
		return d, err
	}
}
