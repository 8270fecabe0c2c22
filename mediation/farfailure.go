package mediation

import (
	"fmt"
	"strings"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/mediation-emulator/mediation/sip"
)

// A callee's failure whose meaning is in a header the RFC makes mandatory
// for its code: a 401's WWW-Authenticate, a 407's Proxy-Authenticate
// (RFC 3261 §21.4.2, §21.4.8), a 415's Accept (§21.4.13), a 422's Min-SE
// (RFC 4028 §6), a 423's Min-Expires (§21.4.17). Relayed with only its
// code, as other failures are, it would reach the caller malformed and
// about an INVITE the caller never sent (ours). A 422 we could not send
// again with its Min-SE and a challenge (we do not authenticate to our
// peers, and the caller cannot answer a challenge meant for us) become a
// code that needs no header, with a Warning saying why; a 415 or 423 is
// relayed with its header, checked as other copied values are. 420 and
// 421 are extmismatch.go's.

// maxRealmLen bounds the challenge's realm in our log line.
const maxRealmLen = 64

// failureFor is our answer to the caller for the callee's final failure
// res (neither a 420 nor a 421): its code and phrase, translated by the
// trunk's response_code_translation, and the headers it carries.
func (c *call) failureFor(res *gosip.Response) (code int, phrase string, hdrs []gosip.Header) {
	peer, peers := "the client", "clients"
	if c.dir == outbound {
		peer, peers = "the gateway", "trunks"
	}
	return c.refusal(res, refusalOf{peer: peer, peers: peers, request: "INVITE", to: c.caller.side, translate: true})
}

// offerFailure is our answer to the offerer of a re-INVITE or UPDATE we
// relayed that the far side refused with res: its code and phrase, except
// for a code whose meaning is in a header, which is mapped as a callee's
// failure is (failureFor; no response_code_translation, which is the
// INVITE's): a challenge, or a 415, 423, 470 or 494, reached the offerer
// with the code alone.
func (c *call) offerFailure(off *relayedOffer, res *gosip.Response) (code int, phrase string, hdrs []gosip.Header) {
	to := c.other(off.from)
	peer, peers := "the client", "clients"
	if to.side == c.deps.gw {
		peer, peers = "the gateway", "trunks"
	}
	return c.refusal(res, refusalOf{peer: peer, peers: peers, request: string(off.method), to: off.from.side})
}

// refusalOf says whose refusal refusal maps: the far peer (for our
// Warnings), the request it refused, the side our answer goes to, and
// whether the trunk's response_code_translation applies.
type refusalOf struct {
	peer, peers, request string
	to                   *sip.Side
	translate            bool
}

// refusal is failureFor and offerFailure's mapping of the far side's
// refusal res.
func (c *call) refusal(res *gosip.Response, r refusalOf) (code int, phrase string, hdrs []gosip.Header) {
	code, phrase = res.StatusCode, res.Reason
	var own []gosip.Header
	switch res.StatusCode {
	case 401, 407:
		c.logChallenge(res, r.request)
		code, phrase = 403, "Forbidden"
		own = []gosip.Header{warning(r.to, fmt.Sprintf(
			"%s challenged the %s (%d); the mediation server does not authenticate to %s", r.peer, r.request, res.StatusCode, r.peers))}
	case 422:
		// Not sent again (onCalleeRejected, onOfferAnswer): its Min-SE
		// is missing, not above what we asked for, or our retry got a
		// 422 too.
		code, phrase = 500, "Server Internal Error"
		own = []gosip.Header{warning(r.to, fmt.Sprintf("%s refused the session interval (422) and the %s could not be sent again with its Min-SE", r.peer, r.request))}
	case 415, 423:
		names := []string{"Min-Expires"}
		if res.StatusCode == 415 {
			names = []string{"Accept", "Accept-Encoding", "Accept-Language"}
		}
		copied, refused := copyNamed(res, names, maxCopiedPerName, maxCopiedValueSize)
		if refused != "" || len(copied) == 0 {
			code, phrase = 500, "Server Internal Error"
			own = []gosip.Header{warning(r.to, fmt.Sprintf("%s answered %d without a usable %s", r.peer, res.StatusCode, names[0]))}
			break
		}
		own = copied
	}
	if m, ok := c.translation(res.StatusCode); ok && r.translate {
		code, phrase = m, sip.ReasonPhrase(m)
	}
	hdrs = append(failureHeaders(res, code), own...)
	if name := missingRequired(code, hdrs); name != "" {
		// A code whose meaning is in a header we do not relay (a 470's
		// Permission-Missing, a 494's Security-Server), or a translation
		// to one (response_code_translation allows any 4xx-6xx).
		why := fmt.Sprintf("%s answered %d, which needs %s", r.peer, res.StatusCode, name)
		if code != res.StatusCode {
			c.log.Warn().Int("received", res.StatusCode).Int("translated", code).Str("missing", name).
				Msg("response_code_translation names a code that needs a header the server has none of: 500 instead")
			why = fmt.Sprintf("%s answered %d, translated to %d, which needs %s", r.peer, res.StatusCode, code, name)
		}
		code, phrase = 500, "Server Internal Error"
		hdrs = append(failureHeaders(res, code), warning(r.to, why))
	}
	return code, phrase, hdrs
}

// missingRequired names the header a failure response of ours with code
// must carry and hdrs lack ("" if none is missing); Allow, which a 405
// needs, is in every response of ours (callerResponse).
func missingRequired(code int, hdrs []gosip.Header) string {
	var need []string
	switch code {
	case 401:
		need = []string{"WWW-Authenticate"}
	case 407:
		need = []string{"Proxy-Authenticate"}
	case 415:
		need = []string{"Accept", "Accept-Encoding", "Accept-Language"}
	case 420:
		need = []string{"Unsupported"}
	case 421:
		need = []string{"Require"}
	case 422:
		need = []string{"Min-SE"}
	case 423:
		need = []string{"Min-Expires"}
	case 470:
		need = []string{"Permission-Missing"} // RFC 5360 §5.9.2
	case 494:
		need = []string{"Security-Server"} // RFC 3329 §2.3.1
	default:
		return ""
	}
	for _, h := range hdrs {
		for _, n := range need {
			if strings.EqualFold(h.Name(), n) {
				return ""
			}
		}
	}
	return need[0]
}

// logChallenge logs (rate-limited: every call to a trunk set up for
// digest gets one) the callee's challenge of our INVITE with its realm,
// which tells the operator which peer wants credentials.
func (c *call) logChallenge(res *gosip.Response, request string) {
	ok, n := c.deps.challengeLog.Allow()
	if !ok {
		return
	}
	name := "WWW-Authenticate"
	if res.StatusCode == 407 {
		name = "Proxy-Authenticate"
	}
	var realm string
	if hs := sip.HeadersNamed(res, name); len(hs) > 0 {
		realm = challengeRealm(hs[0].Value())
	}
	c.log.Warn().Int("code", res.StatusCode).Str("realm", realm).Str("request", request).Int("suppressed", n).
		Msg("far side challenged our INVITE; the mediation server does not authenticate: 403 to the caller")
}

// challengeRealm is the realm of a challenge (RFC 3261 §25.1), at most
// maxRealmLen bytes; "" without one, or when it does not parse.
func challengeRealm(v string) string {
	ch, err := digest.ParseChallenge(v)
	if err != nil {
		return ""
	}
	if len(ch.Realm) > maxRealmLen {
		return ch.Realm[:maxRealmLen]
	}
	return ch.Realm
}
