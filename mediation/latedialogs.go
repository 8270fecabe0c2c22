package mediation

import (
	"strings"
	"sync"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/sip"
)

// A callee's 2xx that comes for a call, or a fork, no longer wanted (a
// 200 crossing the caller's CANCEL, a second fork's 200, an INVITE given
// up) is ACKed and its dialog hung up with BYE (RFC 3261 §15). Two things
// make that BYE right for a strict UAS:
//
//   - Its CSeq: the dialog the 2xx confirms is the early dialog of its
//     To-tag (§12.1.2, §13.2.2.4), in which our PRACKs (and a relayed
//     UPDATE) already counted up: the BYE's number follows theirs
//     (§12.2.1.1). A BYE at the INVITE's CSeq + 1, our PRACK's number, is
//     refused with 500 (pjsip: "Invalid CSeq") and the far side keeps a
//     call nobody is on (r27-early F1).
//   - Once: a copy of the 2xx (its UAS resends it until our ACK reaches
//     it, §13.3.1.4) is ACKed again without another BYE, which would be a
//     request in a dialog already ended, reusing the first BYE's CSeq
//     (r27-early F5). hungUpDialogs remembers the dialogs so hung up.

// hungUpKept bounds the dialogs hungUpDialogs remembers: a copy of a 2xx
// comes within 64*T1 (32 s) of the first.
const hungUpKept = 4096

// hungUpDialogs are the dialogs (Call-ID, the callee's To-tag) a late 2xx
// was hung up in, the latest hungUpKept of them. Safe for concurrent use.
type hungUpDialogs struct {
	mu      sync.Mutex
	dialogs map[legKey]struct{}
	order   []legKey
}

// answeredDialog is the dialog a 2xx to an INVITE makes: its Call-ID and
// To-tag; ok is false without a Call-ID.
func answeredDialog(res *gosip.Response) (k legKey, ok bool) {
	if res.CallID() == nil {
		return legKey{}, false
	}
	tag, _ := res.To().Params.Get("tag")
	return legKey{string(*res.CallID()), tag}, true
}

// seen reports whether the dialog of res, a 2xx to an INVITE, was hung up.
func (h *hungUpDialogs) seen(res *gosip.Response) bool {
	k, ok := answeredDialog(res)
	if !ok {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok = h.dialogs[k]
	return ok
}

// add records the dialog of res, a 2xx to an INVITE, and reports whether
// it is new: false for a copy of a 2xx already hung up.
func (h *hungUpDialogs) add(res *gosip.Response) bool {
	k, ok := answeredDialog(res)
	if !ok {
		return true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.dialogs[k]; ok {
		return false
	}
	if h.dialogs == nil {
		h.dialogs = map[legKey]struct{}{}
	}
	// Copies: the key would keep the whole response's text.
	k = legKey{strings.Clone(k.callID), strings.Clone(k.tag)}
	h.dialogs[k] = struct{}{}
	h.order = append(h.order, k)
	if len(h.order) > hungUpKept {
		delete(h.dialogs, h.order[0])
		h.order[0] = legKey{}
		h.order = h.order[1:]
	}
	return true
}

// earlySeq is the CSeq of our last request in the callee's early dialog
// of tag: its PRACKs, a relayed UPDATE (0: none).
func (c *call) earlySeq(tag string) uint32 {
	if d := c.callee.early[tag]; d != nil {
		return d.LocalSeq
	}
	return 0
}

// ourSeqIn is the highest CSeq of our requests in any dialog of the
// callee's with callID that the call knows of, early or not, its own or
// its sink's copies (an abandoned INVITE's): a late 2xx's BYE goes above
// it once the call has ended (registry.remove keeps it).
func (c *call) ourSeqIn(callID string) uint32 {
	var seq uint32
	b := c.callee
	if b == nil {
		return 0
	}
	if b.dialog != nil && b.dialog.CallID == callID {
		seq = b.dialog.LocalSeq
	}
	for _, d := range b.early {
		if d.CallID == callID {
			seq = max(seq, d.LocalSeq)
		}
	}
	if c.sink != nil {
		seq = max(seq, c.sink.seqIn(callID))
	}
	return seq
}

// earlySeq is the CSeq of the sink's last PRACK in its copy of tx's early
// dialog of tag, tx being an INVITE it was given (abandon); 0 for none.
func (s *callSink) earlySeq(tx *sip.ClientTx, tag string) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.abandoned[tx]; a != nil {
		if d := a.early[tag]; d != nil {
			return d.LocalSeq
		}
	}
	return 0
}

// seqIn is the highest CSeq of the sink's requests in its copies of early
// dialogs with callID.
func (s *callSink) seqIn(callID string) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var seq uint32
	for _, a := range s.abandoned {
		for _, d := range a.early {
			if d.CallID == callID {
				seq = max(seq, d.LocalSeq)
			}
		}
	}
	return seq
}
