package mediation

import (
	"fmt"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/sip"
)

// invite is an initial INVITE with Call-ID cid.
func invite(cid string) *gosip.Request {
	req := gosip.NewRequest(gosip.INVITE, gosip.Uri{Host: "127.0.0.1"})
	req.AppendHeader(gosip.NewHeader("Call-ID", cid))
	req.AppendHeader(&gosip.FromHeader{Address: gosip.Uri{Host: "127.0.0.1"}, Params: gosip.HeaderParams{{K: "tag", V: "f1"}}})
	req.AppendHeader(&gosip.CSeqHeader{SeqNo: 1, MethodName: gosip.INVITE})
	return req
}

// refusals is a refusalSink that keeps what it is told.
type refusals map[string]string

func (r refusals) Wire(*sip.Wire, string)                 {}
func (r refusals) refused(id, status string, _ time.Time) { r[id] = status }

// TestFreshIDsBounded: ids traced for INVITEs that never reach their
// handler (refused by the side first) do not pile up; the call of an
// INVITE that does takes the id its trace carries.
func TestFreshIDsBounded(t *testing.T) {
	tr := newWireTrace(newRegistry(), zerolog.Nop())
	now := time.Now()
	var last *gosip.Request
	var lastID string
	for i := range 3 * freshIDs {
		last = invite(fmt.Sprint("c", i))
		lastID = tr.pendingID(&sip.Wire{Dir: sip.In, Msg: last, Time: now}, last.CallID().Value(), true)
	}
	if len(tr.pending) > freshIDs || len(tr.order) > 2*freshIDs+16 {
		t.Fatalf("%d ids, %d in order: want at most %d", len(tr.pending), len(tr.order), freshIDs)
	}
	if id := tr.takeID(last); id != lastID || id == "" {
		t.Errorf("takeID = %q, want the traced id %q", id, lastID)
	}
	if id := tr.takeID(last); id == lastID || id == "" {
		t.Errorf("second takeID = %q, want a new id", id)
	}
}

// TestRefusedInviteKeepsItsID: an INVITE its handler refuses (no call) is
// ended for the sinks that keep calls, with our final response as the
// reason; our response and the INVITE's retransmissions are traced under
// its id, not as new calls, until an INVITE transaction's lifetime has
// passed.
func TestRefusedInviteKeepsItsID(t *testing.T) {
	told := refusals{}
	tr := newWireTrace(newRegistry(), zerolog.Nop(), told)
	now := time.Now()
	req := invite("refused-1")
	id := tr.pendingID(&sip.Wire{Dir: sip.In, Msg: req, Time: now}, "refused-1", true)
	res := gosip.NewResponseFromRequest(req, 400, "Missing Contact", nil)
	if got := tr.pendingID(&sip.Wire{Dir: sip.Out, Msg: res, Time: now}, "refused-1", true); got != id || id == "" {
		t.Fatalf("our 400 traced under %q, the INVITE under %q", got, id)
	}
	tr.forget(req)
	if told[id] != "400 Missing Contact" {
		t.Errorf("the sink was told %v, want %s ended with our 400", told, id)
	}
	again := invite("refused-1")
	if got := tr.pendingID(&sip.Wire{Dir: sip.In, Msg: again, Time: now.Add(time.Second)}, "refused-1", true); got != id {
		t.Errorf("a retransmission traced under %q, want %q", got, id)
	}
	tr.forget(again) // absorbed by the transaction in truth; a second refusal tells nothing
	if len(told) != 1 {
		t.Errorf("told %v, want one refusal", told)
	}
	if got := tr.pendingID(&sip.Wire{Dir: sip.In, Msg: again, Time: now.Add(refusalKept + 2*time.Second)}, "refused-1", true); got == id || got == "" {
		t.Errorf("an INVITE past the transaction's lifetime traced under %q, want a new id", got)
	}
	// A new INVITE reusing the Call-ID (the next CSeq) is a call of its
	// own, and our response to it its.
	next := invite("refused-1")
	next.CSeq().SeqNo = 2
	nextID := tr.pendingID(&sip.Wire{Dir: sip.In, Msg: next, Time: now.Add(refusalKept + 3*time.Second)}, "refused-1", true)
	if nextID == id || nextID == "" {
		t.Errorf("an INVITE with the next CSeq traced under %q, want a new id", nextID)
	}
	res2 := gosip.NewResponseFromRequest(next, 503, "Service Unavailable", nil)
	if got := tr.pendingID(&sip.Wire{Dir: sip.Out, Msg: res2, Time: now.Add(refusalKept + 3*time.Second)}, "refused-1", true); got != nextID {
		t.Errorf("our 503 to it traced under %q, want %q", got, nextID)
	}
}
