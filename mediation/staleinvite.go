package mediation

import (
	"strconv"
	"strings"
	"time"

	"github.com/mediation-emulator/mediation/sip"
)

// A copy of a call's INVITE that comes after the call has ended and its
// server transaction is gone (over UDP Timer I, 5 s after the ACK of a
// non-2xx; Timer L, 64*T1 after a 2xx) is no new call: a delayed datagram,
// a caller's late retransmission or a replay would otherwise ring the
// callee a second time and answer the caller, for a transaction it has
// completed, whatever the second attempt ends with. RFC 3261 §8.2.2.2
// matches it to that very request by its Call-ID, From-tag and CSeq (the
// Via branch, §17.2.3's key, is not compared: a copy resent by another
// hop or stack may carry another). So the registry
// remembers, for as long as it remembers the ended call's Call-IDs
// (endedKept), the caller's INVITE by its Call-ID with a hash of its
// From-tag, its CSeq number and what the caller was answered; the copy is
// answered from that alone, without a call, a record or a trunk.

// endedInvite is an ended call's caller's INVITE and what a copy of it is
// answered: the call's failure response again (its code and phrase, with
// our To-tag, so that the caller's stack matches it to the dialog it
// already has), or 481 after an answered call. 48 bytes, nothing a call
// or a message held: no pointer but the phrase, which is set (a copy)
// only when it is not the code's usual one.
type endedInvite struct {
	// fromTag is the caller's From-tag hashed with the registry's seed:
	// 8 bytes instead of the tag, which would pin the INVITE's text.
	fromTag uint64
	seq     uint32
	// code is the final status the caller got, 0 for an answered call.
	code   uint16
	tagLen uint8
	// tag is our To-tag: one of ours (gosip.GenerateTagN(16)) fits.
	tag    [16]byte
	phrase string
}

// endedInvite is what the registry keeps of the caller's INVITE as the
// call ends (it runs on the call's goroutine, from finish), fromTag being
// the hash of its From-tag.
func (c *call) endedInvite(fromTag uint64) endedInvite {
	a := c.caller
	e := endedInvite{fromTag: fromTag, seq: a.seq}
	tag := a.tag
	if code := a.final(); code >= 300 && code < 700 {
		e.code = uint16(code)
		if res := a.finalRes; res != nil {
			// The tag and phrase the caller really got (an inbound
			// call's early dialogs have tags of their own, forks.go).
			if t, ok := res.To().Params.Get("tag"); ok {
				tag = t
			}
			if res.Reason != sip.ReasonPhrase(code) {
				// A trunk's own phrase: a copy, not a piece of its
				// response.
				e.phrase = strings.Clone(res.Reason)
			}
		}
	}
	if len(tag) <= len(e.tag) {
		e.tagLen = uint8(copy(e.tag[:], tag))
	}
	return e
}

// answer is the response to a copy of the INVITE.
//
// After an answered call the copy gets 481 Call/Transaction Does Not
// Exist, not our 2xx again as while the call lives (onDuplicateInvite):
// the dialog that 2xx would confirm is over, and a caller's stack that
// took it (a UA whose INVITE transaction still waits, RFC 6026's Accepted
// state, passes a 2xx up) would ACK into nothing and believe in a call no
// one is on. The INVITE transaction it belongs to (§17.2.3) and its dialog
// no longer exist, which is what 481 says (§21.4.19); it is a final
// non-2xx, which ends such a transaction without creating a dialog. Nor
// 482 (a merged request, §8.2.2.2, is one against a transaction still in
// progress).
func (e endedInvite) answer() (code int, phrase, tag string) {
	tag = string(e.tag[:e.tagLen])
	if e.code == 0 || headerBound(int(e.code)) {
		return 481, "Call/Transaction Does Not Exist", tag
	}
	if phrase = e.phrase; phrase == "" {
		phrase = sip.ReasonPhrase(int(e.code))
	}
	return int(e.code), phrase, tag
}

// headerBound reports a failure whose meaning is in headers not kept: a
// 3xx's Contact, a 401 or 407's challenge, a 405's Allow, a 415's Accept,
// a 420's Unsupported, a 421's Require, a 422's Min-SE, a 423's
// Min-Expires.
// Repeated without them it would be malformed (RFC 3261 §20), so a copy
// after one gets 481, as after an answered call.
func headerBound(code int) bool {
	switch code {
	case 401, 405, 407, 415, 420, 421, 422, 423:
		return true
	}
	return code >= 300 && code < 400
}

// staleInvite answers an initial INVITE that is a copy of the INVITE of a
// call that ended recently, counted and logged (rate-limited), and reports
// whether it was one. Its answer goes through the transaction the side
// made for it, which retransmits it until the ACK and absorbs the copy's
// own retransmissions. Another From-tag or a higher CSeq (a new INVITE
// reusing the Call-ID: the next CSeq after a 3xx, a 401 or our 422) is a
// new call.
func (s *Server) staleInvite(in *sip.Incoming) bool {
	e, id, ok := s.calls.endedInviteOf(in.Req)
	if !ok {
		return false
	}
	code, phrase, tag := e.answer()
	s.metrics.sipStaleInvites.WithLabelValues(in.Side.Name).Inc()
	if ok, n := s.staleLog.Allow(); ok {
		in.Side.Log().Info().Str("call", id).Str("sip_call_id", string(*in.Req.CallID())).Str("source", in.Req.Source()).
			Int("code", code).Int("suppressed", n).Msg("copy of an ended call's INVITE: answered as the call was, no new call")
	}
	if err := in.Reply(code, phrase, tag); err != nil {
		in.Side.Log().Debug().Err(err).Int("code", code).Msg("response to a copy of an ended call's INVITE not sent")
	}
	// The ended call may have left the web page's book by now (it keeps
	// 100): the copy's INVITE began an entry there, which nothing else
	// would end.
	s.wires.refused(id, string(*in.Req.CallID()), strconv.Itoa(code)+" "+phrase+" (a copy of an ended call's INVITE)", time.Now())
	return true
}
