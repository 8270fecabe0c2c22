package mediation

import (
	"context"
	"fmt"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/gateway"
	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sip"
)

// Transfer performed by the mediation server: with a trunk's
// enable_refer_support off, CCE does not pass a client's REFER to the
// gateway; it carries the transfer out itself. The client's REFER gets 202
// and NOTIFYs (message/sipfrag) of the progress; the mediation server
// INVITEs the Refer-To number on the gateway side, and once it answers,
// hangs up the old gateway leg (BYE) and re-INVITEs the client towards its
// relay: a transferred call is always anchored, a bypassed one too (as
// CCE's documentation says). If the target does not answer, the call goes
// on as it was.

// transfer is a transfer in progress.
type transfer struct {
	refer  *sip.Incoming
	number string
	trunk  gateway.Trunk // the target's trunk
	plan   mediaPlan
	out    *outgoing
	// provisional: the target sent a 1xx (a CANCEL may go).
	provisional bool
	// policy is the target trunk's call settings: its INVITE asks for
	// 100rel and session timers as that trunk's own calls would.
	policy      CallSettings
	requestedSE time.Duration
	// rel and early are the target's reliable provisionals PRACKed so far
	// and their early dialogs, by its tag (RFC 3262 §4).
	rel   sip.ReliableReceiver
	early map[string]*sip.Dialog
}

// performTransfer starts the transfer a REFER from the edge leg l asks for.
func (c *call) performTransfer(l *leg, in *sip.Incoming) {
	if l.side != c.deps.edge {
		// Nothing is pending: a 491 would only make the SBC try again
		// (RFC 3261 §14.1).
		_ = in.Reply(403, "Forbidden", "", warning(l.side, "transfers from the gateway side are not supported with enable_refer_support false"))
		return
	}
	if c.xfer != nil || c.offer != nil {
		_ = in.Reply(491, "Request Pending", "")
		return
	}
	var u gosip.Uri
	var params gosip.HeaderParams
	_, err := gosip.ParseAddressValue(sip.HeaderNamed(in.Req, "Refer-To").Value(), &u, &params)
	if u.User = sip.UserOf(u); err != nil || u.User == "" {
		_ = in.Reply(400, "Bad Request - Refer-To has no number", "")
		return
	}
	if sip.CheckHeaderValue(u.User) != nil {
		_ = in.Reply(400, "Bad Request - Control Character In Header", "")
		return
	}
	if !isNumber(u.User) {
		// A user or an application (SfB call park's orbit), not a
		// number: the gateway cannot call it (as a redirect's Contact
		// without a number: redirect.go).
		_ = in.Reply(404, "Not Found", "", warning(l.side, "Refer-To names no telephone number: "+u.User))
		return
	}
	trunks, err := c.deps.gateways.Route(u.User)
	if err != nil {
		_ = in.Reply(404, "Not Found", "", warning(l.side, "no gateway trunk serves "+u.User))
		return
	}
	trunk := trunks[0]
	// The new gateway leg is offered our relay with the client's media.
	x := &transfer{refer: in, number: u.User, trunk: trunk, plan: c.media.fresh(outbound, c.media.latest(relay.Edge), c.media.raw[relay.Edge]),
		policy: c.deps.trunks[trunk.Name].calls}
	x.plan.useTrunk(trunk)
	x.plan.anchored = &transferred
	body, err := x.plan.planOffer(c.deps.settings(), false, c.deps.alloc)
	if err != nil {
		x.plan.closeRelay()
		logNoPorts(&c.log, c.deps.noPortsLog, err)
		_ = in.Reply(mediaFailure(err).code, mediaFailure(err).phrase, "")
		return
	}
	x.plan.sdp[relay.Edge] = c.media.sdp[relay.Edge]
	_ = in.Reply(202, "Accepted", "")
	c.xfer = x
	c.notifyTransfer(l, "SIP/2.0 100 Trying", false)

	g := c.other(l)
	// The target's trunk gets the extensions its calls get: an SBC that
	// requires 100rel would refuse (421) an INVITE without it.
	hdrs := []gosip.Header{sip.OptionHeader("Supported", x.policy.optionTags()...)}
	if x.policy.PrackMode() == PrackRequired {
		hdrs = append(hdrs, sip.OptionHeader("Require", sip.Ext100rel))
	}
	if st := x.policy.SessionTimer; st.Enabled {
		x.requestedSE = st.Interval()
		hdrs = append(hdrs, sip.RequestHeaders(st.Interval(), st.Min())...)
	}
	inv := c.deps.gw.NewInvite(sip.Invite{Target: trunk.Addr, Transport: trunk.Transport, RequestUser: x.number,
		FromUser: l.dialog.Remote.User, ToUser: x.number, MaxForwards: 70, Body: body, Headers: hdrs})
	tag, _ := inv.From().Params.Get("tag")
	c.deps.index.addDialog(c, string(*inv.CallID()), tag)
	c.log.Info().Str("number", x.number).Str("transfer_gateway", trunk.Name).Msg("REFER with refer support off: transferring the call ourselves")
	tx, err := c.deps.gw.Send(context.Background(), inv, c.sink)
	if err != nil {
		c.transferFailed(l, 503, "Service Unavailable")
		return
	}
	c.pinPeer(trunk, trunk.Addr.Addr())
	x.out = &outgoing{leg: g, req: inv, onFail: func(error) { c.transferFailed(l, 408, "Request Timeout") }}
	x.out.onResponse = func(res *gosip.Response) { c.onTransferResponse(l, g, res) }
	c.track(tx, x.out)
}

// onTransferResponse takes the transfer target's responses.
func (c *call) onTransferResponse(edge, old *leg, res *gosip.Response) {
	x := c.xfer
	switch {
	case x == nil:
		if res.IsSuccess() {
			c.deps.lateAnswer(c.deps.gw, nil, res)
		}
	case res.IsProvisional():
		x.provisional = true
		if sip.IsReliable(res) {
			c.prackTransfer(x, old, res)
		}
	case !res.IsSuccess():
		c.transferFailed(edge, res.StatusCode, res.Reason)
	default:
		c.transferAnswered(edge, old, res)
	}
}

// prackTransfer PRACKs a reliable provisional of the transfer target
// (RFC 3262 §4) in its early dialog, once per RSeq in order.
func (c *call) prackTransfer(x *transfer, old *leg, res *gosip.Response) {
	rseq, _, err := sip.RSeq(res)
	if tag, _ := res.To().Params.Get("tag"); tag == "" || err != nil || !x.rel.Accept(rseq) {
		return
	}
	c.prack(old, earlyDialogOf(&x.early, c.deps.gw, x.out.req, res), x.out.req.CSeq().SeqNo, rseq)
}

// transferAnswered completes the transfer: ACK the target, BYE the old
// gateway leg, anchor the client on the relay and tell it.
func (c *call) transferAnswered(edge, old *leg, res *gosip.Response) {
	x := c.xfer
	c.xfer = nil
	// The early dialog a PRACK went in, if any, carries on: its CSeq is
	// past the PRACK's.
	d := earlyDialogOf(&x.early, c.deps.gw, x.out.req, res)
	if d == nil {
		d = sip.NewUACDialog(c.deps.gw, x.out.req, res) // a 2xx without To-tag
	}
	if _, err := d.Ack(context.Background(), x.out.req.CSeq().SeqNo, nil); err != nil {
		c.log.Debug().Err(err).Msg("ACK to the transfer target")
	}
	c.terminate(x.out)
	clientSDP, err := x.plan.planAnswer(res.Body(), true, "")
	if err != nil {
		c.log.Warn().Err(err).Msg("transfer target's answer not usable; hanging it up")
		_, _, _ = d.Send(context.Background(), d.NewRequest(gosip.BYE, 0, nil, nil), sip.Discard)
		x.plan.closeRelay()
		c.notifyTransfer(edge, "SIP/2.0 488 Not Acceptable Here", true)
		return
	}
	// The old gateway leg goes; its peer gets BYE.
	if old.dialog != nil {
		bye := old.dialog.NewRequest(gosip.BYE, 0, nil, nil)
		if _, _, err := old.dialog.Send(context.Background(), bye, sip.Discard); err != nil {
			c.log.Debug().Err(err).Msg("BYE to the transferred gateway leg")
		}
	}
	c.cancel(old.timerID)
	// The leg is the target trunk's now: its settings and the session
	// timer its 2xx set (RFC 4028 §7.2; refreshed by us if it says so).
	old.dialog, old.timer, old.lastAck = d, sip.NegotiateUAC(res, x.requestedSE), nil
	old.policy = x.policy
	// The call is anchored from now on.
	c.media.closeRelay()
	if c.bypassCounted {
		c.bypassCounted = false
		c.deps.metrics.bypassActive.WithLabelValues(c.dir.String()).Dec()
	}
	c.media = x.plan
	c.media.answered()
	// The call is with the target's trunk now: its log lines, its
	// relay's and its record name that trunk and the new leg's Call-ID.
	c.trunk = x.trunk
	c.relog(string(*x.out.req.CallID()))
	if c.media.relay != nil {
		c.media.relay.SetLogger(*c.media.log)
	}
	c.armSessionTimer(old)
	c.log.Info().Str("number", x.number).Msg("transfer answered: old gateway leg hung up, call anchored")
	contact := edge.side.Contact(edge.dialog.Transport)
	reinv := edge.dialog.NewRequest(gosip.INVITE, 0, clientSDP, &contact)
	_, err = c.sendIn(edge, edge.dialog, reinv, func(r *gosip.Response) {
		if r.IsSuccess() {
			edge.dialog.Refresh(r) // the new target, before the ACK is built (RFC 3261 §13.2.2.4)
			ack, err := edge.dialog.Ack(context.Background(), reinv.CSeq().SeqNo, nil)
			if err != nil {
				c.log.Debug().Err(err).Msg("ACK of the transfer re-INVITE")
			}
			edge.lastAck = ack
		}
	}, func(err error) { c.log.Warn().Err(err).Msg("client did not answer the transfer re-INVITE") })
	if err != nil {
		c.log.Warn().Err(err).Msg("transfer re-INVITE to the client not sent")
	}
	c.notifyTransfer(edge, "SIP/2.0 200 OK", true)
}

// transferFailed ends a transfer that did not happen: the call goes on as
// it was; the client's subscription says why.
func (c *call) transferFailed(edge *leg, code int, reason string) {
	x := c.xfer
	if x == nil {
		return
	}
	c.xfer = nil
	x.plan.closeRelay()
	c.log.Info().Int("code", code).Str("number", x.number).Msg("transfer failed; the call goes on")
	c.notifyTransfer(edge, fmt.Sprintf("SIP/2.0 %d %s", code, reason), true)
}

// notifyTransfer sends the REFER's subscriber a NOTIFY with frag.
func (c *call) notifyTransfer(l *leg, frag string, final bool) {
	state := "active;expires=60"
	if final {
		state = "terminated;reason=noresource"
	}
	n := l.dialog.NewRequest(gosip.NOTIFY, 0, nil, nil)
	n.AppendHeader(gosip.NewHeader("Event", "refer"))
	n.AppendHeader(gosip.NewHeader("Subscription-State", state))
	n.AppendHeader(gosip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
	n.SetBody([]byte(frag + "\r\n"))
	if _, err := c.sendIn(l, l.dialog, n, nil, nil); err != nil {
		c.log.Debug().Err(err).Msg("NOTIFY of the transfer not sent")
	}
}
