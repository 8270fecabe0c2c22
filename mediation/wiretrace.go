package mediation

import (
	"strconv"
	"strings"
	"sync"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/sip"
)

// WireSink takes every SIP message both sides read or write, in wire order,
// with the call it belongs to ("" for none): a capture file, a HEP
// collector, the web page. It runs on the reading or writing goroutine, so
// it must not block.
type WireSink interface {
	Wire(w *sip.Wire, call string)
}

// refusalSink is a WireSink that is told when an INVITE its trace gave an
// id started no call (the call book ends it there).
type refusalSink interface {
	refused(id, status string, at time.Time)
}

// wireTrace finds the call of every traced message from the Call-ID of
// either of its legs, logs the message under it and hands it to the sinks.
type wireTrace struct {
	calls *registry
	log   zerolog.Logger
	sinks []WireSink
	// metrics count every message; set before the sides start.
	metrics *metrics

	mu sync.Mutex
	// pending holds, by SIP Call-ID, the id given to an INVITE that may
	// start a call, traced before the call exists: the call takes it
	// (takeID). One its handler refuses (400, 505, 503, ...) keeps it for
	// refusalKept, so that our response, its retransmissions, the ACK and
	// the INVITE's own retransmissions are traced under that id too, not
	// each as a call of its own. An INVITE the side refuses before the
	// handler sees it (no Via) is dropped when pending is full, oldest
	// first.
	pending map[string]*pendingInvite
	order   []string // pending's Call-IDs, oldest first
}

// pendingInvite is the trace's id for an INVITE not yet (or never) a call.
type pendingInvite struct {
	id string
	// req is the INVITE whose handler decides; nil once it did.
	req *gosip.Request
	// decided is when the handler refused the INVITE; zero until then.
	decided time.Time
	// status is our final response to it ("400 Missing Contact").
	status string
	// fromTag and seq tell the INVITE's retransmissions (the same id)
	// from a new INVITE reusing its Call-ID (a new id).
	fromTag string
	seq     uint32
}

// same reports whether req is p's INVITE again.
func (p *pendingInvite) same(req *gosip.Request) bool {
	tag, _ := req.From().Params.Get("tag")
	return tag == p.fromTag && req.CSeq() != nil && req.CSeq().SeqNo == p.seq
}

const (
	// freshIDs bounds the INVITEs waiting for their handler or refused
	// lately.
	freshIDs = 1024
	// refusalKept is how long a decided INVITE's id stays with its Call-ID
	// for the trace: an INVITE transaction's lifetime (64*T1 at RFC 3261's
	// T1), over which the caller may retransmit.
	refusalKept = 32 * time.Second
)

func newWireTrace(calls *registry, log zerolog.Logger, sinks ...WireSink) *wireTrace {
	return &wireTrace{calls: calls, log: log, sinks: sinks, pending: map[string]*pendingInvite{}}
}

// tracer is the sides' sip.Tracer: the SIP counters need every message.
func (t *wireTrace) tracer() sip.Tracer { return t.trace }

// trace sees every message of both sides.
func (t *wireTrace) trace(w *sip.Wire) {
	cid := w.CallID()
	id := ""
	// A stranger's message is traced (captures show the wire) but belongs
	// to no call: its INVITE must not reserve an id, nor take a place in
	// the web page's call book from the trunks' calls.
	if cid != "" && !w.Untrusted {
		// A call in progress first; then an INVITE not (or never) a call,
		// which a new INVITE reusing an ended call's Call-ID is, and its
		// responses; then an ended call (its last messages, a copy of its
		// INVITE).
		live, ended := t.calls.traceIDs(cid)
		if id = live; id == "" {
			if id = t.pendingID(w, cid, ended != ""); id == "" {
				id = ended
			}
		}
	}
	t.metrics.countSIP(w)
	for _, s := range t.sinks {
		s.Wire(w, id)
	}
	if !t.log.Debug().Enabled() {
		return
	}
	log := t.log
	if id != "" {
		// Not the call's own logger: the call's goroutine changes it.
		log = log.With().Str("call", id).Logger()
	}
	sip.Trace(&log, w)
}

// pendingID is the id of a message with Call-ID cid of no call in
// progress: that of the INVITE with that Call-ID not (or never) a call,
// given here to one that may start a call (not to a copy of an ended
// call's INVITE, staleinvite.go, which stays that call's); "" for none.
// Our final response to the INVITE is noted for its refusal.
//
// endedCall says that cid was a leg of a call that ended recently: only
// then can an INVITE be a copy of an ended call's (registry.endedInviteOf,
// whose lookup a new Call-ID is spared).
func (t *wireTrace) pendingID(w *sip.Wire, cid string, endedCall bool) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.pending[cid]
	if p != nil && !p.decided.IsZero() && w.Time.Sub(p.decided) > refusalKept {
		delete(t.pending, cid)
		p = nil
	}
	if req, ok := w.Msg.(*gosip.Request); ok && w.Dir == sip.In && req.IsInvite() && !hasToTag(req) &&
		req.From() != nil && req.CSeq() != nil && (p == nil || !p.same(req)) {
		if endedCall {
			if _, _, stale := t.calls.endedInviteOf(req); stale {
				return ""
			}
		}
		tag, _ := req.From().Params.Get("tag")
		// Copies: the Call-ID and tag share the INVITE's memory, which
		// the entry must not keep once its handler decided.
		p = &pendingInvite{id: newCallID(), req: req, fromTag: strings.Clone(tag), seq: req.CSeq().SeqNo}
		t.add(strings.Clone(cid), p)
		return p.id
	}
	if p == nil {
		return ""
	}
	if res, ok := w.Msg.(*gosip.Response); ok && w.Dir == sip.Out && p.status == "" && res.StatusCode >= 300 &&
		res.CSeq() != nil && res.CSeq().MethodName == gosip.INVITE {
		p.status = strconv.Itoa(res.StatusCode) + " " + res.Reason
	}
	return p.id
}

// add keeps p for cid, dropping the oldest beyond freshIDs.
func (t *wireTrace) add(cid string, p *pendingInvite) {
	t.pending[cid] = p
	t.order = append(t.order, cid)
	for len(t.pending) > freshIDs && len(t.order) > 0 {
		delete(t.pending, t.order[0])
		t.order = t.order[1:]
	}
	if len(t.order) > 2*len(t.pending)+16 {
		// Call-IDs dropped by expiry, or reserved again, linger in order:
		// compact it once they are most of it.
		live := t.order[:0]
		seen := make(map[string]bool, len(t.pending))
		for _, c := range t.order {
			if t.pending[c] != nil && !seen[c] {
				seen[c] = true
				live = append(live, c)
			}
		}
		clear(t.order[len(live):])
		t.order = live
	}
}

func hasToTag(req *gosip.Request) bool {
	if to := req.To(); to != nil && to.Params != nil {
		_, ok := to.Params.Get("tag")
		return ok
	}
	return false
}

// takeID is the id of the call an initial INVITE starts: the one its trace
// line already carries.
func (t *wireTrace) takeID(req *gosip.Request) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cid := callIDOf(req); t.pending[cid] != nil && t.pending[cid].req == req {
		// The call is in the registry before the INVITE's next copy
		// comes (T1 later): the trace finds it there.
		id := t.pending[cid].id
		delete(t.pending, cid)
		return id
	}
	return newCallID()
}

// forget ends the id of an INVITE that started no call: the handler
// refused it. Its trace goes on under the id for a while (pending); the
// log and the sinks that keep calls (the call book) are told it ended,
// with our final response as its reason, so that it is no call in
// progress there for ever.
func (t *wireTrace) forget(req *gosip.Request) {
	cid := callIDOf(req)
	t.mu.Lock()
	p := t.pending[cid]
	if p == nil || p.req != req {
		t.mu.Unlock()
		return
	}
	now := time.Now()
	p.req, p.decided = nil, now
	id, status := p.id, p.status
	t.mu.Unlock()
	if status == "" {
		status = "no response"
	}
	t.refused(id, cid, status, now)
}

// refused tells the log and the sinks that keep calls that the INVITE
// traced under id started no call: it was refused with status, or was a
// copy of an ended call's INVITE answered as that call was (whose entry,
// when the call itself has left the book, the copy began).
func (t *wireTrace) refused(id, cid, status string, at time.Time) {
	t.log.Debug().Str("call", id).Str("sip_call_id", cid).Str("reason", status).
		Msg("INVITE refused: no call")
	for _, s := range t.sinks {
		if r, ok := s.(refusalSink); ok {
			r.refused(id, status, at)
		}
	}
}

// callIDOf is req's Call-ID, "" if it has none.
func callIDOf(req *gosip.Request) string {
	if id := req.CallID(); id != nil {
		return id.Value()
	}
	return ""
}
