package mediation

import (
	"errors"
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
	referTo := sip.HeaderNamed(in.Req, "Refer-To")
	switch {
	case c.state != stateAnswered:
		_ = in.Reply(403, "Forbidden", "", warning(l.side, "REFER before the call is answered"))
		return
	case referTo == nil:
		_ = in.Reply(400, "Bad Request - Missing Refer-To", "")
		return
	case len(sip.HeadersNamed(in.Req, "Refer-To")) > 1:
		// RFC 3515 §2.4.1: exactly one.
		_ = in.Reply(400, "Bad Request - More Than One Refer-To", "")
		return
	}
	// A Replaces in its URI (RFC 3891 §5) is an attended transfer's, even
	// one that cannot be read (400 there); an unparseable Refer-To is not.
	if rep, err := sip.ReplacesOfReferTo(referTo.Value()); !errors.Is(err, sip.ErrNoReplaces) && !errors.Is(err, sip.ErrBadReferTo) {
		c.onAttendedRefer(l, in, rep, err)
		return
	}
	if !c.referSupport() {
		c.performTransfer(l, in)
		return
	}
	c.relayRequest(l, in, "", "Refer-To", "Referred-By", "Replaces")
}

// onNotify relays a NOTIFY (a transfer's progress) to the other leg: only
// one of the implicit subscription of a REFER relayed to l's peer (Event:
// refer). Any other matches no subscription of ours: 481 (RFC 6665
// §4.1.3), whatever its Event (talk, check-sync: remote control of the
// client).
func (c *call) onNotify(l *leg, in *sip.Incoming) {
	if !l.referred || !referEvent(in.Req) {
		c.log.Info().Str("leg", l.role).Str("event", headerOf(in.Req, "Event")).Msg("NOTIFY matching no REFER relayed to its sender: 481")
		_ = in.Reply(481, "Subscription Does Not Exist", "")
		return
	}
	c.relayRequest(l, in, "", "Event", "Subscription-State")
}

// referEvent reports a request whose Event package is refer (RFC 3515 §3;
// an id parameter may follow).
func referEvent(req *gosip.Request) bool {
	pkg, _, _ := strings.Cut(headerOf(req, "Event"), ";")
	return strings.EqualFold(strings.TrimSpace(pkg), "refer")
}

// headerOf is the value of req's header name (compact form too), "" if none.
func headerOf(req *gosip.Request, name string) string {
	if h := sip.HeaderNamed(req, name); h != nil {
		return h.Value()
	}
	return ""
}

// relayRequest sends in's request in the other leg's dialog with the
// headers named (and its body), and answers in with the final response. A
// Refer-To is pointed at us (referTarget: our Contact in the other leg's
// dialog), or is referTo when that is set.
func (c *call) relayRequest(l *leg, in *sip.Incoming, referTo string, headers ...string) {
	to := c.other(l)
	if to.dialog == nil || c.state != stateAnswered {
		_ = in.Reply(481, "Call/Transaction Does Not Exist", "")
		return
	}
	ct := to.dialog.OurContact()
	var contact *gosip.ContactHeader
	if in.Req.Method == gosip.REFER {
		// A REFER creates a subscription: RFC 3515 wants our Contact.
		contact = &ct
	}
	req := to.dialog.NewRequest(in.Req.Method, 0, nil, contact)
	for _, name := range headers {
		for _, h := range sip.HeadersNamed(in.Req, name) {
			v := h.Value()
			if name == "Refer-To" && referTo != "" {
				v = referTo
			} else if name == "Refer-To" {
				target, refused := referTarget(v, ct)
				if refused != nil {
					c.log.Info().Str("refer_to", v).Str("why", refused.why).Msg("REFER not relayed")
					_ = in.Reply(refused.code, refused.phrase, "", warning(l.side, refused.why))
					return
				}
				v = target
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
	if in.Req.Method == gosip.REFER {
		// Its implicit subscription's NOTIFYs may come back (onNotify),
		// for the call's life.
		to.referred = true
	}
	c.log.Info().Str("method", method).Str("to", to.role).Msg("in-dialog request relayed")
}

// referRefusal is why a Refer-To cannot be relayed, as a response.
type referRefusal struct {
	code        int
	phrase, why string
}

// referTarget points a Refer-To at us as contact, our Contact in the
// dialog the REFER goes in: its scheme (sips: in a SIPS dialog), host,
// port and transport, so that the peer's transfer INVITE comes over the
// transport of that dialog to the listener of that transport (TLS to the
// TLS port, TCP with transport=tcp; the plain listener's address made a
// TLS trunk's SBC send it in clear over UDP). It keeps the user, the
// number to transfer to, and the URI's parameters but transport and maddr,
// which named the old host's: the referred party's INVITE must come to us,
// not to a host it cannot reach. One that cannot be parsed (400) or names
// no user (404: relayed, the peer would send its transfer's INVITE to the
// host named, bypassing our routing) is refused. Of the URI's headers
// (RFC 3261 §19.1.5: they become headers of the transfer's INVITE, a Route
// or a P-Asserted-Identity among them) only Replaces is kept.
func referTarget(value string, contact gosip.ContactHeader) (string, *referRefusal) {
	var u gosip.Uri
	var params gosip.HeaderParams
	_, err := gosip.ParseAddressValue(value, &u, &params)
	if err == nil && u.Host == "" && !strings.EqualFold(u.Scheme, "tel") {
		// sipgo reads a Refer-To without its closing '>' as "<sip:>".
		err = errors.New("no host")
	}
	if err != nil {
		return "", &referRefusal{400, "Bad Request - Invalid Refer-To", "Refer-To cannot be parsed: " + err.Error()}
	}
	phone := sip.IsPhone(u)
	if u.User = sip.UserOf(u); u.User == "" {
		return "", &referRefusal{404, "Not Found", "Refer-To names no telephone number or user"}
	}
	us := contact.Address
	target := fmt.Sprintf("%s:%s@%s:%d", us.Scheme, u.User, us.Host, us.Port)
	if phone {
		target += ";user=phone" // a tel: number as a SIP URI too (RFC 3261 §19.1.6)
	}
	// The parameters that name what is called, not how to reach the old
	// host (the same as an inbound INVITE's Request-URI keeps).
	for _, kv := range sip.KeptURIParams(u) {
		target += ";" + kv.K
		if kv.V != "" {
			target += "=" + kv.V
		}
	}
	if tr, ok := us.UriParams.Get("transport"); ok && tr != "" {
		// How to reach us: our Contact's (none for UDP, nor in a sips:
		// URI, where TLS is implied).
		target += ";transport=" + tr
	}
	// No URI header goes on (RFC 3261 §19.1.5 makes them headers of the
	// peer's INVITE: a Route, a forged identity); a Replaces never comes
	// here (attended.go builds its own Refer-To).
	return "<" + target + ">", nil
}
