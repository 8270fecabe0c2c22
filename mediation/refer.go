package mediation

import (
	"fmt"
	"strings"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/sip"
)

// REFER across the B2BUA (CCE's EnableReferSupport, per trunk, on by
// default): a REFER from one leg's peer (a client transferring the PSTN
// party) is relayed in the other leg's dialog, its Refer-To pointed at our
// side towards that peer (the transfer's new INVITE comes back through
// us); the NOTIFYs of the implicit subscription (RFC 3515, message/sipfrag)
// are relayed back the same way. Each relayed request's final response is
// relayed to its sender. With it off, the server performs the transfer
// (transfer.go).

// referSupport is the call's trunk's enable_refer_support.
func (c *call) referSupport() bool {
	p := c.headerPolicy().EnableReferSupport
	return p == nil || *p
}

// onRefer relays a REFER to the other leg.
func (c *call) onRefer(l *leg, in *sip.Incoming) {
	switch {
	case c.state != stateAnswered:
		_ = in.Reply(403, "Forbidden", "", warning(l.side, "REFER before the call is answered"))
	case sip.HeaderNamed(in.Req, "Refer-To") == nil:
		_ = in.Reply(400, "Bad Request - Missing Refer-To", "")
	case len(sip.HeadersNamed(in.Req, "Refer-To")) > 1:
		// RFC 3515 §2.4.1: exactly one.
		_ = in.Reply(400, "Bad Request - More Than One Refer-To", "")
	case refersReplaces(sip.HeaderNamed(in.Req, "Refer-To").Value()):
		// An attended transfer (attended.go).
		c.onAttendedRefer(l, in, sip.HeaderNamed(in.Req, "Refer-To").Value())
	case !c.referSupport():
		c.performTransfer(l, in)
	default:
		c.relayRequest(l, in, "", "Refer-To", "Referred-By", "Replaces")
	}
}

// onNotify relays a NOTIFY (a transfer's progress) to the other leg.
func (c *call) onNotify(l *leg, in *sip.Incoming) {
	c.relayRequest(l, in, "", "Event", "Subscription-State")
}

// relayRequest sends in's request in the other leg's dialog with the
// headers named (and its body), and answers in with the final response. A
// Refer-To is pointed at our side towards the other peer (referTarget),
// or is referTo when that is set.
func (c *call) relayRequest(l *leg, in *sip.Incoming, referTo string, headers ...string) {
	to := c.other(l)
	if to.dialog == nil || c.state != stateAnswered {
		_ = in.Reply(481, "Call/Transaction Does Not Exist", "")
		return
	}
	var contact *gosip.ContactHeader
	if in.Req.Method == gosip.REFER {
		// A REFER creates a subscription: RFC 3515 wants our Contact.
		ct := to.side.Contact(to.dialog.Transport)
		contact = &ct
	}
	req := to.dialog.NewRequest(in.Req.Method, 0, nil, contact)
	for _, name := range headers {
		for _, h := range sip.HeadersNamed(in.Req, name) {
			v := h.Value()
			if name == "Refer-To" {
				v = referTarget(v, to.side)
				if referTo != "" {
					v = referTo
				}
			}
			if sip.CheckHeaderValue(v) != nil {
				_ = in.Reply(400, "Bad Request - Control Character In Header", "")
				return
			}
			req.AppendHeader(gosip.NewHeader(name, v))
		}
	}
	if body := in.Req.Body(); len(body) > 0 {
		if ct := in.Req.ContentType(); ct != nil {
			req.AppendHeader(gosip.NewHeader("Content-Type", ct.Value()))
		}
		req.SetBody(body)
	}
	method := in.Req.Method.String()
	_, err := c.sendIn(to, to.dialog, req, func(res *gosip.Response) {
		if res.IsProvisional() {
			return
		}
		_ = in.Reply(res.StatusCode, res.Reason, "")
	}, func(err error) {
		c.log.Warn().Err(err).Str("method", method).Msg("relayed request got no answer")
		_ = in.Reply(408, "Request Timeout", "")
	})
	if err != nil {
		c.log.Warn().Err(err).Str("method", method).Msg("request not relayed")
		_ = in.Reply(503, "Service Unavailable", "")
		return
	}
	c.log.Info().Str("method", method).Str("to", to.role).Msg("in-dialog request relayed")
}

// referTarget points a Refer-To at side (keeping the user, the number to
// transfer to, and the URI's parameters but transport and maddr, which
// named the old host's): the referred party's INVITE must come to us, not
// to a host it cannot reach.
func referTarget(value string, side *sip.Side) string {
	var u gosip.Uri
	var params gosip.HeaderParams
	if _, err := gosip.ParseAddressValue(value, &u, &params); err != nil {
		return value
	}
	phone := sip.IsPhone(u)
	if u.User = sip.UserOf(u); u.User == "" {
		return value
	}
	addr := side.Addr()
	target := fmt.Sprintf("sip:%s@%s:%d", u.User, sip.URIHost(addr.Addr()), addr.Port())
	if strings.EqualFold(u.Scheme, "tel") && phone {
		target += ";user=phone" // a tel: number, as a SIP URI (RFC 3261 §19.1.6)
	}
	for _, kv := range u.UriParams {
		if i := strings.IndexByte(kv.K, '?'); i >= 0 {
			// sipgo reads "sip:n@h;ob?X=1" as a parameter "ob?X=1" beside
			// the header X=1: the parameter is "ob".
			kv.K, kv.V = kv.K[:i], ""
		}
		if kv.K == "" || strings.EqualFold(kv.K, "transport") || strings.EqualFold(kv.K, "maddr") {
			continue
		}
		target += ";" + kv.K
		if kv.V != "" {
			target += "=" + kv.V
		}
	}
	if u.Headers != nil && u.Headers.Length() > 0 {
		target += "?" + u.Headers.String()
	}
	return "<" + target + ">"
}

// refersReplaces reports a Refer-To whose URI carries a Replaces header
// (RFC 3891 §5: an attended transfer).
func refersReplaces(value string) bool {
	var u gosip.Uri
	var params gosip.HeaderParams
	if _, err := gosip.ParseAddressValue(value, &u, &params); err != nil || u.Headers == nil {
		return false
	}
	for _, kv := range u.Headers {
		if strings.EqualFold(kv.K, "Replaces") {
			return true
		}
	}
	return false
}
