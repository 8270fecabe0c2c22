package mediation

import (
	"strings"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/sip"
)

// Redirects (3xx) from the callee. A B2BUA cannot pass a 3xx on as it
// came: its Contacts name hosts on the callee's side, which the caller
// cannot reach (an SfB client cannot call the SBC's address, an SBC cannot
// reach the edge's) and which we must not be made to call either (any
// peer could then aim our INVITEs anywhere). So the caller gets the 3xx
// with each Contact pointing at us instead, the number kept: a caller that
// recurses (RFC 3261 §8.1.3.4) calls that number through us, and our
// routing and trust rules decide where it goes, as for any call.

// redirectContacts are the Contacts of the callee's 3xx res for the
// caller: the number (user part of a SIP URI, or a tel: URI's) of each,
// at our side's address. None when no Contact names a number.
func (c *call) redirectContacts(res *gosip.Response) []gosip.Header {
	a := c.caller
	var out []gosip.Header
	for _, h := range sip.HeadersNamed(res, "Contact") {
		ch, ok := h.(*gosip.ContactHeader)
		if !ok {
			continue
		}
		// The number before its RFC 3966 parameters (an ;ext=) makes it
		// one, as for routing (sip.NumberOf); the parameters go on with it.
		number := sip.UserOf(ch.Address)
		if !isNumber(sip.NumberOf(ch.Address)) || ch.Address.Wildcard {
			continue
		}
		ours := a.side.Contact(a.invite.Req.Transport())
		ours.Address.User = number
		if u, _ := ch.Address.UriParams.Get("user"); strings.EqualFold(ch.Address.Scheme, "tel") || strings.EqualFold(u, "phone") {
			if ours.Address.UriParams == nil {
				ours.Address.UriParams = gosip.NewParams()
			}
			ours.Address.UriParams.Add("user", "phone")
		}
		if q, ok := ch.Params.Get("q"); ok {
			ours.Params = gosip.NewParams()
			ours.Params.Add("q", q)
		}
		out = append(out, &ours)
	}
	return out
}

// isNumber reports a telephone number as a SIP user part or tel: URI
// carries one (RFC 3966): an optional +, then digits and the visual
// separators - . ( ). A name ("sbc", "alice") is not one.
func isNumber(s string) bool {
	s = strings.TrimPrefix(s, "+")
	digits := 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return false
		}
	}
	return digits > 0
}
