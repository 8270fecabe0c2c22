package sip

import (
	"strings"

	gosip "github.com/emiago/sipgo/sip"
)

// Malformed is why a request cannot be processed: answer 400 with Phrase as
// the reason phrase (RFC 3261 §21.4.1 allows a descriptive phrase, e.g.
// "Missing Call-ID header field"), e.g. "Bad Request - Missing Contact".
type Malformed struct{ Phrase string }

// Error returns the phrase, so that logs show what the peer is told.
func (m *Malformed) Error() string { return m.Phrase }

func malformed(what string) error { return &Malformed{Phrase: "Bad Request - " + what} }

// maxCSeq is the largest CSeq number RFC 3261 §8.1.1.5 allows (2**31 - 1).
const maxCSeq = 1<<31 - 1

// CheckRequest returns a *Malformed when req lacks what RFC 3261 requires
// of it before a UAS may act on it, so that every such request gets a 400
// instead of being dropped or crashing a handler. nil when fine. It checks:
//
//   - Call-ID, From, To, CSeq and a top Via are present (RFC 3261 §8.1.1;
//     sipgo's parser accepts messages without them);
//   - the CSeq method equals the request method (RFC 3261 §8.1.1.5; PROTOS
//     c07-sip sends INVITEs whose CSeq names another method) and its number
//     is below 2**31;
//   - the From has a tag (RFC 3261 §8.1.1.3; every RFC 3261 UA sends one);
//   - the top Via has a host, and its sent-by port, when present, is in
//     1..65535 (RFC 3261 §20.42, §25.1). sipgo stores whatever
//     strconv.Atoi makes of the port: "5060000" and "-1" arrive as
//     5060000 and -1, a non-number leaves Host empty, and ":0" is stored
//     as 0, which is also sipgo's "no port", so a zero port reads as absent
//     (the default port) and is accepted;
//   - the values a B2BUA copies on (users, display names) hold no control
//     characters (CheckHeaderValue);
//   - Max-Forwards, when present, is one number 0..255 (RFC 3261 §20.22;
//     sipgo's parser accepts up to 2**32-1, and the Side's parser keeps a
//     value it cannot read, "-1", "abc", "2 3", as a generic header:
//     parser.go);
//   - Contact, for INVITE, UPDATE (target refresh requests, RFC 3261
//     §8.1.1.8, §12.2.1.1, RFC 3311 §5) and SUBSCRIBE: exactly one, with a
//     sip: or sips: URI. It is mandatory in a request that creates a
//     dialog (no To-tag: RFC 3261 §8.1.1.8 "MUST be present"); inside a
//     dialog RFC 3261 §12.2.1.1 only says SHOULD and the remote target is
//     then kept, so there an absent Contact passes but a bad one does not.
func CheckRequest(req *gosip.Request) error {
	if req == nil {
		return malformed("Empty Request")
	}
	if cid := req.CallID(); cid == nil || strings.TrimSpace(string(*cid)) == "" {
		return malformed("Missing Call-ID")
	}
	from := req.From()
	if from == nil {
		return malformed("Missing From")
	}
	to := req.To()
	if to == nil {
		return malformed("Missing To")
	}
	cseq := req.CSeq()
	if cseq == nil {
		return malformed("Missing CSeq")
	}
	via := req.Via()
	if via == nil {
		return malformed("Missing Via")
	}
	if cseq.MethodName != req.Method {
		return malformed("CSeq Method Mismatch")
	}
	if cseq.SeqNo > maxCSeq {
		return malformed("Invalid CSeq")
	}
	if tag, _ := param(from.Params, "tag"); tag == "" {
		return malformed("Missing From Tag")
	}
	if strings.TrimSpace(via.Host) == "" {
		return malformed("Malformed Via")
	}
	if via.Port < 0 || via.Port > 65535 {
		return malformed("Invalid Via Port")
	}
	if invalidMaxForwards(req) {
		return malformed("Invalid Max-Forwards")
	}
	if err := checkCopiedValues(req); err != nil {
		return err
	}
	switch req.Method {
	case gosip.INVITE, gosip.UPDATE, gosip.SUBSCRIBE:
		toTag, _ := param(to.Params, "tag")
		if err := checkContact(req, toTag == ""); err != nil {
			return err
		}
	}
	return nil
}

// checkContact checks a target refresh request's Contact: exactly one
// header value with a sip: or sips: URI (RFC 3261 §8.1.1.8); required
// tells whether an absent Contact is an error.
func checkContact(req *gosip.Request, required bool) error {
	n := 0
	contact := nameOf("Contact")
	for _, h := range req.Headers() {
		if !contact.matches(h.Name()) {
			continue
		}
		// Parsed Contacts are split at commas by sipgo; a generic one
		// (built in code) may still hold a list.
		if _, parsed := h.(*gosip.ContactHeader); !parsed && strings.Contains(h.Value(), ",") {
			n++
		}
		n++
	}
	switch {
	case n == 0 && !required:
		return nil
	case n == 0:
		return malformed("Missing Contact")
	case n > 1:
		return malformed("Multiple Contacts")
	}
	c := req.Contact()
	if c == nil {
		return malformed("Malformed Contact")
	}
	if c.Address.Wildcard || (c.Address.Scheme != "sip" && c.Address.Scheme != "sips") || c.Address.Host == "" {
		return malformed("Contact Not SIP URI")
	}
	return nil
}

// param is a header parameter by case-insensitive name (RFC 3261 §7.3.1:
// parameter names are case-insensitive; sipgo's Get is case-sensitive).
func param(p gosip.HeaderParams, name string) (string, bool) {
	for _, kv := range p {
		if strings.EqualFold(kv.K, name) {
			return kv.V, true
		}
	}
	return "", false
}

// invalidMaxForwards reports a first Max-Forwards (the one sipgo and we
// read) that is not one number 0..255: above 255, or kept unparsed by the
// Side's parser (a generic header whose value sipgo's typed getter cannot
// parse either: it returns nil).
func invalidMaxForwards(req *gosip.Request) bool {
	if mf := req.MaxForwards(); mf != nil {
		return mf.Val() > 255
	}
	return hasHeader(req, "Max-Forwards")
}
