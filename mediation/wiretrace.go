package mediation

import (
	"sync"

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

// wireTrace finds the call of every traced message from the Call-ID of
// either of its legs, logs the message under it and hands it to the sinks.
type wireTrace struct {
	calls *registry
	log   zerolog.Logger
	sinks []WireSink
	// metrics count every message; set before the sides start.
	metrics *metrics

	mu sync.Mutex
	// fresh holds the id given to an INVITE that starts a call, traced
	// before the call exists; the call takes it (takeID) and the handler
	// drops what no call took (forget). An INVITE the side refuses before
	// the handler sees it (no Via, a retransmission of a refused one) is
	// dropped when fresh is full, oldest first.
	fresh      map[*gosip.Request]string
	freshOrder []*gosip.Request
}

// freshIDs bounds the INVITEs waiting for their handler.
const freshIDs = 1024

func newWireTrace(calls *registry, log zerolog.Logger, sinks ...WireSink) *wireTrace {
	return &wireTrace{calls: calls, log: log, sinks: sinks, fresh: map[*gosip.Request]string{}}
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
		if id = t.calls.idOf(cid); id == "" {
			if req, ok := w.Msg.(*gosip.Request); ok && w.Dir == sip.In && req.IsInvite() && !hasToTag(req) {
				id = newCallID()
				t.reserve(req, id)
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
	id, ok := t.fresh[req]
	t.drop(req)
	if ok {
		return id
	}
	return newCallID()
}

// forget drops the id of an INVITE that started no call.
func (t *wireTrace) forget(req *gosip.Request) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.drop(req)
}

func (t *wireTrace) drop(req *gosip.Request) {
	delete(t.fresh, req)
	// freshOrder still points at the requests taken or forgotten (each an
	// INVITE with its SDP): compact it once they are most of it, or it
	// would keep up to freshIDs whole INVITEs alive for nothing.
	if len(t.freshOrder) > 2*len(t.fresh)+16 {
		live := t.freshOrder[:0]
		for _, r := range t.freshOrder {
			if _, ok := t.fresh[r]; ok {
				live = append(live, r)
			}
		}
		clear(t.freshOrder[len(live):])
		t.freshOrder = live
	}
}

// reserve keeps the id traced for an INVITE until its handler runs.
func (t *wireTrace) reserve(req *gosip.Request, id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fresh[req] = id
	t.freshOrder = append(t.freshOrder, req)
	for len(t.freshOrder) > freshIDs {
		delete(t.fresh, t.freshOrder[0])
		t.freshOrder[0] = nil
		t.freshOrder = t.freshOrder[1:]
	}
}
