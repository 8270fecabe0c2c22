package sip

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	gosip "github.com/emiago/sipgo/sip"
)

// RAck is the RAck header value of a PRACK: the RSeq of the response
// acknowledged and the CSeq number and method of its request (RFC 3262
// §7.2: RAck = "RAck" HCOLON response-num LWS CSeq-num LWS Method).
type RAck struct {
	RSeq   uint32
	CSeq   uint32
	Method gosip.RequestMethod
}

// String renders the header value, e.g. "776656 1 INVITE".
func (r RAck) String() string {
	return strconv.FormatUint(uint64(r.RSeq), 10) + " " + strconv.FormatUint(uint64(r.CSeq), 10) + " " + string(r.Method)
}

// errNoRAck and errBadNum are wrapped by ParseRAck and RSeq.
var (
	errNoRAck = errors.New("no RAck header")
	errBadNum = errors.New("not a number in 1..4294967295")
)

// ParseRAck reads req's RAck header. The error (absent or malformed) means
// the PRACK cannot be matched and must be answered 400 (RFC 3262 §7.2 gives
// the grammar; RFC 3261 §8.2 the 400). sipgo keeps RAck as a generic
// header, so its value is split here.
func ParseRAck(req *gosip.Request) (RAck, error) {
	if req == nil {
		return RAck{}, fmt.Errorf("parse RAck: %w", errNoRAck)
	}
	h := HeaderNamed(req, "RAck")
	if h == nil {
		return RAck{}, fmt.Errorf("parse RAck: %w", errNoRAck)
	}
	v := h.Value()
	f := strings.Fields(v)
	if len(f) != 3 {
		return RAck{}, fmt.Errorf("parse RAck %q: want \"RSeq CSeq Method\"", v)
	}
	rseq, err := parseSeq(f[0])
	if err != nil {
		return RAck{}, fmt.Errorf("parse RAck %q: response-num: %w", v, err)
	}
	cseq, err := strconv.ParseUint(f[1], 10, 32)
	if err != nil || !allDigits(f[1]) {
		return RAck{}, fmt.Errorf("parse RAck %q: CSeq-num %q is not a 32-bit number", v, f[1])
	}
	if !isToken(f[2]) {
		return RAck{}, fmt.Errorf("parse RAck %q: method %q is not a token", v, f[2])
	}
	return RAck{RSeq: rseq, CSeq: uint32(cseq), Method: gosip.RequestMethod(f[2])}, nil
}

// RSeq returns a provisional response's RSeq (RFC 3262 §7.1: RSeq =
// "RSeq" HCOLON response-num, response-num = 1*DIGIT, 1 to 2**32 - 1); ok
// false when absent; error when malformed.
func RSeq(res *gosip.Response) (rseq uint32, ok bool, err error) {
	if res == nil {
		return 0, false, nil
	}
	h := HeaderNamed(res, "RSeq")
	if h == nil {
		return 0, false, nil
	}
	n, err := parseSeq(strings.TrimSpace(h.Value()))
	if err != nil {
		return 0, true, fmt.Errorf("parse RSeq %q: %w", h.Value(), err)
	}
	return n, true, nil
}

// IsReliable reports a reliable provisional response (RFC 3262 §3): a
// 101..199 (a 100 is hop-by-hop and never reliable) with Require: 100rel
// and a valid RSeq.
func IsReliable(res *gosip.Response) bool {
	if res == nil || res.StatusCode <= 100 || res.StatusCode >= 200 {
		return false
	}
	if !HasOptionTag(res, "Require", Ext100rel) {
		return false
	}
	_, ok, err := RSeq(res)
	return ok && err == nil
}

// NewRSeq picks a random initial RSeq in 1..2^31-1 (RFC 3262 §3: chosen
// uniformly, and it SHOULD be less than 2**31 so that it cannot wrap).
func NewRSeq() uint32 {
	return rand.Uint32N(1<<31-1) + 1
}

// ReliableReceiver is the UAC side of RFC 3262 §4 for one INVITE
// transaction (one per early dialog when the INVITE forks: each UAS numbers
// its own responses): it decides which reliable provisionals are new. The
// zero value is ready.
type ReliableReceiver struct {
	started bool
	last    uint32 // RSeq of the last in-order reliable provisional
}

// Accept is called with the RSeq of each reliable provisional response
// received, in arrival order. It returns true when the response must be
// PRACKed and processed: the first one (RFC 3262 §4 initialises the
// sequence from it), or one whose RSeq is exactly one more than the last
// accepted. Retransmissions (same RSeq) and out-of-order ones (lower, or
// more than one higher) return false: RFC 3262 §4 says they MUST NOT be
// PRACKed or processed further.
func (r *ReliableReceiver) Accept(rseq uint32) bool {
	if !r.started {
		r.started, r.last = true, rseq
		return true
	}
	if uint64(rseq) != uint64(r.last)+1 {
		return false
	}
	r.last = rseq
	return true
}

// ReliableSender is the UAS side of RFC 3262 §3 for one INVITE transaction:
// RSeq numbering and PRACK matching. Only one reliable provisional may be
// outstanding (unacknowledged) at a time (RFC 3262 §3: the UAS MUST NOT
// send a second one until the first is acknowledged); later ones wait.
type ReliableSender struct {
	next        uint32 // RSeq of the next reliable provisional
	out         uint32 // RSeq awaiting a PRACK, when outstanding
	outstanding bool
	sent        bool // at least one was sent
	// lastRSeq and lastPRACK are the RSeq last acknowledged and the CSeq
	// of the PRACK that did (acked: there is one).
	lastRSeq, lastPRACK uint32
	acked               bool
}

// NewReliableSender starts numbering at first (from NewRSeq in production,
// fixed in tests). A first of 0, which is not a valid RSeq, starts at 1.
func NewReliableSender(first uint32) *ReliableSender {
	if first == 0 {
		first = 1
	}
	return &ReliableSender{next: first}
}

// Send assigns the RSeq for a new reliable provisional: each one is one
// higher than the last (RFC 3262 §3). ok is false while an earlier one is
// still unacknowledged (the caller must queue this one and call Send again
// after Acknowledge).
func (s *ReliableSender) Send() (rseq uint32, ok bool) {
	if s.outstanding {
		return 0, false
	}
	s.out, s.outstanding, s.sent = s.next, true, true
	s.next++
	if s.next == 0 {
		// 0 is no RSeq (RFC 3262 §7.1: 1*DIGIT, at least 1); only a start
		// at or above 2**31, against RFC 3262 §3's SHOULD, gets here.
		s.next = 1
	}
	return s.out, true
}

// Outstanding reports the RSeq awaiting a PRACK, if any.
func (s *ReliableSender) Outstanding() (rseq uint32, ok bool) {
	return s.out, s.outstanding
}

// Acknowledge applies a PRACK's RAck (RFC 3262 §4) for the INVITE whose
// CSeq is inviteCSeq; prackCSeq is the PRACK's own CSeq. It reports whether
// the PRACK matches: true for the outstanding reliable provisional, which
// is then acknowledged, and for a copy of the PRACK that acknowledged the
// last one (same RAck, same CSeq: a retransmission that outlived its
// transaction, whose UAC has already had the 200 and could end the early
// dialog on a 481, RFC 3261 §12.2.1.2). Any other PRACK, a new one for a
// provisional already acknowledged included, matches nothing: 481 (RFC
// 3262 §3).
func (s *ReliableSender) Acknowledge(r RAck, inviteCSeq, prackCSeq uint32) bool {
	if r.Method != gosip.INVITE || r.CSeq != inviteCSeq || r.RSeq == 0 || !s.sent {
		return false
	}
	if s.outstanding && r.RSeq == s.out {
		s.outstanding = false
		s.lastRSeq, s.lastPRACK, s.acked = r.RSeq, prackCSeq, true
		return true
	}
	return s.acked && r.RSeq == s.lastRSeq && prackCSeq == s.lastPRACK
}

// parseSeq parses an RSeq response-num: 1*DIGIT in 1..2**32-1.
func parseSeq(s string) (uint32, error) {
	if !allDigits(s) {
		return 0, fmt.Errorf("%q: %w", s, errBadNum)
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q: %w", s, errBadNum)
	}
	return uint32(n), nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isToken reports an RFC 3261 §25.1 token, the grammar of a Method.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-.!%*_+`'~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// ReliableReceivers keeps a ReliableReceiver per early dialog of one
// INVITE, by the To-tag of its provisionals: the forks of an INVITE number
// their reliable provisionals each from a start of their own (RFC 3262 §3:
// each UAS picks its first RSeq at random), so one sequence for the whole
// INVITE would take a second fork's 183 for an out-of-order one and never
// PRACK it. The first dialog needs no map.
type ReliableReceivers struct {
	first  string
	r      ReliableReceiver
	others map[string]*ReliableReceiver
}

// Accept is ReliableReceiver.Accept for the early dialog of tag.
func (rs *ReliableReceivers) Accept(tag string, rseq uint32) bool {
	switch {
	case !rs.r.started || rs.first == tag:
		rs.first = tag
		return rs.r.Accept(rseq)
	case rs.others == nil:
		rs.others = map[string]*ReliableReceiver{}
	}
	r := rs.others[tag]
	if r == nil {
		r = &ReliableReceiver{}
		rs.others[tag] = r
	}
	return r.Accept(rseq)
}
