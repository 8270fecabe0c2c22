package mediation

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

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
	c.relayRequest(l, in, relaySet{}, "Refer-To", "Referred-By", "Replaces", "Refer-Sub")
}

// onNotify relays a NOTIFY (a transfer's progress) to the other leg: only
// one of the implicit subscription of a REFER relayed to l's peer (Event:
// refer), its id (the CSeq of our REFER in l's dialog) rewritten to the
// CSeq of the REFER its issuer sent (referSubs). Any other matches no
// subscription of ours: 481 (RFC 6665 §4.1.3), whatever its Event (talk,
// check-sync: remote control of the client), and so does a refer NOTIFY
// whose id names no REFER we relayed to l's peer, or one of a subscription
// that ended (a final NOTIFY relayed, the REFER refused, or declined by
// Refer-Sub: false).
func (c *call) onNotify(l *leg, in *sip.Incoming) {
	var sub *referSub
	id, hasID := "", false
	if referEvent(in.Req) {
		id, hasID = eventID(headerOf(in.Req, "Event"))
		sub = c.refers.find(l, id, hasID)
	}
	if sub == nil {
		c.log.Info().Str("leg", l.role).Str("event", headerOf(in.Req, "Event")).Msg("NOTIFY matching no REFER relayed to its sender: 481")
		_ = in.Reply(481, "Subscription Does Not Exist", "")
		return
	}
	// A NOTIFY without id is the first REFER's (RFC 3515 §2.4.6); it
	// goes on with the issuer's id all the same, which names its REFER
	// whatever REFERs the issuer sent before in its dialog.
	event := withEventID(headerOf(in.Req, "Event"), sub.theirs)
	if terminated(headerOf(in.Req, "Subscription-State")) {
		// The subscription ends with this NOTIFY (RFC 6665 §4.1.2.4):
		// another for it matches nothing.
		c.refers.drop(sub)
	}
	c.relayRequest(l, in, relaySet{event: event}, "Event", "Subscription-State")
}

// onSubscribe takes an in-dialog SUBSCRIBE from l's peer: a refresh (or,
// with Expires: 0, the end) of the implicit subscription of a REFER it
// sent (RFC 3515 §2.4.4, RFC 6665 §4.1.2.2-4.1.2.3). One of a REFER we
// relayed goes to the other leg's peer, the notifier, its id the CSeq of
// our REFER there (the reverse of onNotify's mapping), and its answer
// comes back; one of the transfer we perform ourselves is answered here
// (refreshTransfer). Answering 405 instead made the issuer drop its
// subscription (RFC 6665 §4.1.2.2) and miss the transfer's outcome. Any
// other is no subscription of ours: 489 for another event package (RFC
// 6665 §4.2.1.1), 481 for a refer id of no REFER whose subscription is on.
func (c *call) onSubscribe(l *leg, in *sip.Incoming) {
	if n := len(sip.HeadersNamed(in.Req, "Event")); n != 1 {
		// A SUBSCRIBE names exactly one event (RFC 3265 §3.1.2, kept by
		// RFC 6665): with two, which subscription it refreshes is a guess,
		// and relayed it would carry both.
		c.log.Info().Str("leg", l.role).Int("event_headers", n).Msg("SUBSCRIBE without exactly one Event header: 400")
		_ = in.Reply(400, "Bad Request - Exactly One Event Header", "")
		return
	}
	if !referEvent(in.Req) {
		c.log.Info().Str("leg", l.role).Str("event", headerOf(in.Req, "Event")).Msg("SUBSCRIBE of an event package other than refer: 489")
		_ = in.Reply(489, "Bad Event", "", gosip.NewHeader("Allow-Events", "refer"))
		return
	}
	event := headerOf(in.Req, "Event")
	id, hasID := eventID(event)
	if x := c.xfer; x != nil && l.side == c.deps.edge && !x.transferorGone && !x.subEnded && (!hasID || id == strconv.FormatUint(uint64(x.referSeq), 10)) {
		c.refreshTransfer(l, x, in)
		return
	}
	sub := c.refers.findIssued(c.other(l), id, hasID)
	if sub == nil {
		c.log.Info().Str("leg", l.role).Str("event", event).Msg("SUBSCRIBE matching no REFER relayed from its sender: 481")
		_ = in.Reply(481, "Subscription Does Not Exist", "")
		return
	}
	c.relayRequest(l, in, relaySet{event: withEventID(event, sub.ours), sub: sub}, "Event", "Expires", "Accept")
}

// refreshTransfer answers the transferor's SUBSCRIBE of x's subscription:
// 200 with the Expires it asked for, at most what is left of the
// subscription (RFC 6665 §4.2.1.2: a notifier may shorten, never
// lengthen, an interval; the target rings no longer than that), which
// is now when the subscription ends: later NOTIFYs count down from it,
// and should the target still ring then, the subscription ends with a
// final NOTIFY. An Expires: 0 gets 200 and that final NOTIFY at once (RFC
// 6665 §4.1.2.3). The transfer goes on either way (RFC 3515 §2.4.4 ties
// no transfer to its subscription), telling the transferor no more.
func (c *call) refreshTransfer(l *leg, x *transfer, in *sip.Incoming) {
	left := x.expiresLeft()
	if v := headerOf(in.Req, "Expires"); v != "" {
		asked, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
		if err != nil {
			_ = in.Reply(400, "Bad Request - Invalid Expires", "")
			return
		}
		left = min(left, int64(asked))
	}
	c.log.Info().Int64("expires_s", left).Msg("transferor refreshed its REFER's subscription")
	answerSubscribe(l, in, 200, "OK", gosip.NewHeader("Expires", strconv.FormatInt(left, 10)))
	if left == 0 {
		c.endTransferSubscription(l, x)
		return
	}
	granted := time.Duration(left) * time.Second
	x.subscribedUntil = time.Now().Add(granted)
	c.cancel(x.subTimer)
	x.subTimer = c.after(granted, func() {
		if c.xfer == x && !x.transferorGone && !x.subEnded {
			c.endTransferSubscription(l, x)
		}
	})
}

// referEvent reports a request whose Event package is refer (RFC 3515 §3;
// an id parameter may follow).
func referEvent(req *gosip.Request) bool {
	pkg, _, _ := strings.Cut(headerOf(req, "Event"), ";")
	return strings.EqualFold(strings.TrimSpace(pkg), "refer")
}

// headerOf is the value of msg's header name (compact form too), "" if none.
func headerOf(msg gosip.Message, name string) string {
	if h := sip.HeaderNamed(msg, name); h != nil {
		return h.Value()
	}
	return ""
}

// relaySet are the values relayRequest puts in place of the received
// request's: a Refer-To (attended.go's, naming the other call's gateway
// leg; else referTarget's), an Event (a NOTIFY's, its id the issuer's; a
// SUBSCRIBE's, its id ours). sub is the subscription a SUBSCRIBE is for.
type relaySet struct {
	referTo, event string
	sub            *referSub
}

// relayRequest sends in's request in the other leg's dialog with the
// headers named (and its body), and answers in with the final response. A
// Refer-To is pointed at us (referTarget: our Contact in the other leg's
// dialog), unless set says otherwise.
func (c *call) relayRequest(l *leg, in *sip.Incoming, set relaySet, headers ...string) {
	to := c.other(l)
	if to.dialog == nil || c.state != stateAnswered {
		_ = in.Reply(481, "Call/Transaction Does Not Exist", "")
		return
	}
	// A REFER creates a subscription, and a NOTIFY is a target refresh
	// request: both carry our Contact (RFC 3515 §2.4.1; RFC 6665 §7.1,
	// where a NOTIFY without one is a 400 to a strict issuer).
	ct := to.dialog.OurContact()
	req := to.dialog.NewRequest(in.Req.Method, 0, nil, &ct)
	refer := in.Req.Method == gosip.REFER
	for _, name := range headers {
		for _, h := range sip.HeadersNamed(in.Req, name) {
			v := h.Value()
			switch {
			case name == "Refer-To" && set.referTo != "":
				v = set.referTo
			case name == "Refer-To":
				target, refused := referTarget(v, ct)
				if refused != nil {
					c.log.Info().Str("refer_to", v).Str("why", refused.why).Msg("REFER not relayed")
					_ = in.Reply(refused.code, refused.phrase, "", warning(l.side, refused.why))
					return
				}
				v = target
			case name == "Event" && set.event != "":
				v = set.event
			}
			if sip.CheckHeaderValue(v) != nil {
				_ = in.Reply(400, "Bad Request - Control Character In Header", "")
				return
			}
			req.AppendHeader(gosip.NewHeader(name, v))
		}
	}
	if refer && sip.HasOptionTag(in.Req, "Supported", "norefersub") {
		// Its issuer can do without the subscription (RFC 4488): the
		// peer may then answer Refer-Sub: false, which goes back to it.
		req.AppendHeader(sip.OptionHeader("Supported", "norefersub"))
	}
	if body := in.Req.Body(); len(body) > 0 {
		if ct := in.Req.ContentType(); ct != nil {
			req.AppendHeader(gosip.NewHeader("Content-Type", ct.Value()))
		}
		req.SetBody(body)
	}
	method := in.Req.Method.String()
	var sub *referSub
	_, err := c.sendIn(to, to.dialog, req, func(res *gosip.Response) {
		if res.IsProvisional() {
			return
		}
		var hdrs []gosip.Header
		if set.sub != nil {
			if endsSubscription(res.StatusCode) {
				// The issuer takes its subscription for ended: a NOTIFY
				// of it from now on matches nothing.
				c.refers.drop(set.sub)
			}
			answerSubscribe(l, in, res.StatusCode, res.Reason, subscribeAnswerHeaders(res)...)
			return
		}
		if refer {
			hdrs = referAnswerHeaders(res)
			if !res.IsSuccess() || noReferSub(res) {
				// Refused, or accepted without a subscription (RFC 4488
				// §4): no NOTIFY of it is to come.
				c.refers.drop(sub)
			}
		}
		_ = in.Reply(res.StatusCode, res.Reason, "", hdrs...)
	}, func(err error) {
		c.log.Warn().Err(err).Str("method", method).Msg("relayed request got no answer")
		c.refers.drop(sub)
		_ = in.Reply(408, "Request Timeout", "")
	})
	if err != nil {
		c.log.Warn().Err(err).Str("method", method).Msg("request not relayed")
		_ = in.Reply(503, "Service Unavailable", "")
		return
	}
	if refer {
		// Its implicit subscription's NOTIFYs may come back (onNotify),
		// naming our REFER by its CSeq in to's dialog.
		sub = c.addReferSub(referSub{to: to, ours: req.CSeq().SeqNo, theirs: in.Req.CSeq().SeqNo})
	}
	c.log.Info().Str("method", method).Str("to", to.role).Msg("in-dialog request relayed")
}

// referAnswerHeaders are the headers of the peer's final response to a
// relayed REFER that go back to its issuer: Refer-Sub (RFC 4488 §4: false,
// no subscription was made) and a norefersub in its Supported.
func referAnswerHeaders(res *gosip.Response) []gosip.Header {
	hdrs := copyValid(res, "Refer-Sub")
	if sip.HasOptionTag(res, "Supported", "norefersub") {
		hdrs = append(hdrs, sip.OptionHeader("Supported", "norefersub"))
	}
	return hdrs
}

// subscribeAnswerHeaders are the headers of the notifier's final response
// to a relayed SUBSCRIBE that go back to its issuer, those without which
// the answer means nothing: a 2xx's Expires, how long (RFC 6665 §4.2.1.1:
// it must say), a 423's Min-Expires, the shortest interval the notifier
// takes (RFC 6665 §4.2.1.1, RFC 3261 §21.4.17), and a 489's Allow-Events,
// the packages it knows (RFC 6665 §4.2.1.1). Nothing else of the other
// dialog's crosses.
func subscribeAnswerHeaders(res *gosip.Response) []gosip.Header {
	switch {
	case res.IsSuccess():
		return copyValid(res, "Expires")
	case res.StatusCode == 423:
		return copyValid(res, "Min-Expires")
	case res.StatusCode == 489:
		return copyValid(res, "Allow-Events")
	}
	return nil
}

// answerSubscribe answers in, an in-dialog SUBSCRIBE of l's peer, with
// code and hdrs; a 2xx carries our Contact, which the header table of RFC
// 6665 §7.1 makes mandatory in a 2xx to SUBSCRIBE (a target refresh
// request, §4.1.2.1), as inDialogResponse puts it in other 2xx responses.
func answerSubscribe(l *leg, in *sip.Incoming, code int, reason string, hdrs ...gosip.Header) {
	if code >= 200 && code < 300 {
		contact := l.side.ContactFor(in.Req)
		hdrs = append(hdrs, &contact)
	}
	_ = in.Reply(code, reason, "", hdrs...)
}

// copyValid are res's headers named name, those whose value has no
// control character.
func copyValid(res *gosip.Response, name string) []gosip.Header {
	var hdrs []gosip.Header
	for _, h := range sip.HeadersNamed(res, name) {
		if sip.CheckHeaderValue(h.Value()) == nil {
			hdrs = append(hdrs, gosip.NewHeader(name, h.Value()))
		}
	}
	return hdrs
}

// endsSubscription reports a response to a refresh SUBSCRIBE that makes
// the subscriber consider its subscription terminated (RFC 6665
// §4.1.2.2): 404, 405, 410, 416, 480-485, 489, 501, 604.
func endsSubscription(code int) bool {
	switch code {
	case 404, 405, 410, 416, 489, 501, 604:
		return true
	}
	return code >= 480 && code <= 485
}

// noReferSub reports a REFER's 2xx that made no subscription: Refer-Sub:
// false (RFC 4488 §4).
func noReferSub(res *gosip.Response) bool {
	v, _, _ := strings.Cut(headerOf(res, "Refer-Sub"), ";")
	return res.IsSuccess() && strings.EqualFold(strings.TrimSpace(v), "false")
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

// maxReferSubs bounds the REFERs a call remembers for their NOTIFYs: a
// peer that REFERs over and over (and whose subscriptions never end) must
// not grow the call. The oldest is forgotten first.
const maxReferSubs = 8

// referSub is a REFER we relayed, whose implicit subscription's NOTIFYs
// come back from to's peer: ours is the CSeq of our REFER in to's dialog,
// the id those NOTIFYs carry; theirs the CSeq of the REFER its issuer
// sent, the id it expects (RFC 3515 §2.4.6, RFC 6665 §8.2.1: the id names
// the REFER's subscription in its own dialog, and the two dialogs' CSeqs
// differ).
type referSub struct {
	to           *leg
	ours, theirs uint32
	// first: the first REFER relayed into to's dialog, whose NOTIFYs
	// may come without id (RFC 3515 §2.4.6).
	first bool
}

// referSubs are a call's REFERs relayed whose subscriptions may still send
// NOTIFYs, oldest first; nil until the first (most calls transfer
// nothing, and the call's allocation has no room to spare: README
// "Performance").
type referSubs struct {
	subs []*referSub
	// referred are the legs a REFER was ever relayed to: a later REFER
	// there is not its dialog's first.
	referred []*leg
}

// addReferSub remembers a relayed REFER.
func (c *call) addReferSub(s referSub) *referSub {
	if c.refers == nil {
		c.refers = &referSubs{}
	}
	r := c.refers
	if len(r.subs) >= maxReferSubs {
		c.log.Info().Uint32("refer_cseq", r.subs[0].ours).Msg("too many REFERs relayed: the oldest one's NOTIFYs now get 481")
		r.subs = slices.Delete(r.subs, 0, 1)
	}
	if !slices.Contains(r.referred, s.to) {
		s.first = true
		r.referred = append(r.referred, s.to)
	}
	sub := &s
	r.subs = append(r.subs, sub)
	return sub
}

// find is the subscription a NOTIFY from to's peer is for: the REFER whose
// CSeq its id names, or without id the dialog's first REFER (RFC 3515
// §2.4.6: only its NOTIFYs may omit the id), while its subscription is on;
// nil when none (a later REFER's NOTIFY without id is no NOTIFY of it).
func (r *referSubs) find(to *leg, id string, hasID bool) *referSub {
	return r.match(to, id, hasID, func(s *referSub) uint32 { return s.ours })
}

// findIssued is the subscription a SUBSCRIBE from its issuer is for: the
// REFER relayed to to whose issuer's CSeq its id names, or without id the
// first REFER relayed there (RFC 3515 §2.4.6, as for find); nil when none.
func (r *referSubs) findIssued(to *leg, id string, hasID bool) *referSub {
	return r.match(to, id, hasID, func(s *referSub) uint32 { return s.theirs })
}

// match is the subscription of a REFER relayed to to whose id (idOf: in
// to's dialog, or in its issuer's) is id, or without id the first one.
func (r *referSubs) match(to *leg, id string, hasID bool, idOf func(*referSub) uint32) *referSub {
	if r == nil {
		return nil
	}
	var n uint64
	if hasID {
		var err error
		if n, err = strconv.ParseUint(id, 10, 32); err != nil {
			return nil
		}
	}
	for _, s := range r.subs {
		if s.to == to && (hasID && uint64(idOf(s)) == n || !hasID && s.first) {
			return s
		}
	}
	return nil
}

// drop forgets a subscription (nil: nothing).
func (r *referSubs) drop(sub *referSub) {
	if r == nil || sub == nil {
		return
	}
	r.subs = slices.DeleteFunc(r.subs, func(s *referSub) bool { return s == sub })
}

// eventID is the id parameter of an Event header's value (RFC 6665
// §8.2.1), hasID false when it has none.
func eventID(event string) (id string, hasID bool) {
	_, params, _ := strings.Cut(event, ";")
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "id") {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// withEventID is an Event header's value with its id set to id, its other
// parameters kept.
func withEventID(event string, id uint32) string {
	pkg, params, _ := strings.Cut(event, ";")
	out := strings.TrimSpace(pkg) + ";id=" + strconv.FormatUint(uint64(id), 10)
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		if k, _, _ := strings.Cut(p, "="); !strings.EqualFold(strings.TrimSpace(k), "id") && strings.TrimSpace(p) != "" {
			out += ";" + strings.TrimSpace(p)
		}
	}
	return out
}

// terminated reports a Subscription-State of terminated (RFC 6665 §8.2.3).
func terminated(state string) bool {
	v, _, _ := strings.Cut(state, ";")
	return strings.EqualFold(strings.TrimSpace(v), "terminated")
}
