package mediation

import (
	"hash/maphash"
	"slices"
	"strings"
	"sync"

	gosip "github.com/emiago/sipgo/sip"
)

// registry finds a call from any message of either of its dialogs. Keys are
// (Call-ID, our tag): every in-dialog request we receive carries our tag in
// its To header, and every response to our requests in its From, whichever
// side started the dialog. The caller's INVITE is also found by (Call-ID,
// its From-tag), for its CANCEL and its retransmissions.
type registry struct {
	mu      sync.Mutex
	dialogs map[legKey]*call
	invites map[legKey]*call
	callIDs map[string]*call
	calls   map[*call]struct{}
	// ended are the last endedKept Call-IDs of calls that ended, with
	// their (last) call's id, oldest first in endedOrder: a 2xx that comes after
	// its call is over is ours to ACK and hang up only if its Call-ID is
	// one of them, and the trace files a late message under its call.
	ended      map[string]endedCall
	endedOrder []string
	// endedInvites are the ended calls' callers' INVITEs by Call-ID, with
	// what a copy of one is answered (staleinvite.go), kept and dropped
	// with the Call-ID in ended: the same horizon. seed hashes the From-tags.
	endedInvites map[string]endedInvite
	seed         maphash.Seed
}

// endedCall is what the registry keeps of an ended call by each of its
// Call-IDs: its id, and seq, the highest CSeq of our requests in the
// callee's dialogs with that Call-ID (early ones' PRACKs included): the
// BYE to a 2xx that comes later goes above it (latedialogs.go).
type endedCall struct {
	id  string
	seq uint32
}

// endedKept bounds the ended calls' Call-IDs remembered: at 1,000 calls/s
// (two Call-IDs each) some 30 s of them, as long as a far side retransmits
// a 2xx that gets no ACK (64*T1).
const endedKept = 65536

func newRegistry() *registry {
	return &registry{dialogs: map[legKey]*call{}, invites: map[legKey]*call{}, callIDs: map[string]*call{}, calls: map[*call]struct{}{},
		ended: map[string]endedCall{}, endedInvites: map[string]endedInvite{}, seed: maphash.MakeSeed()}
}

// legKey is a dialog's or an INVITE's key: a Call-ID and a tag. A struct
// rather than the two joined into one string: a lookup, made for every
// message, allocates nothing, and the keys a call holds share the strings
// of its dialogs instead of copying them.
type legKey struct{ callID, tag string }

// add records a call under the INVITE that created it.
func (r *registry) add(c *call, callID, fromTag string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[c] = struct{}{}
	k := legKey{callID, fromTag}
	r.invites[k] = c
	if c.keys == nil {
		c.keys, c.dialogKeys, c.callIDs = c.regFirst.keys[:0], c.regFirst.dialogKeys[:0], c.regFirst.callIDs[:0]
	}
	c.keys = append(c.keys, k)
	r.addCallID(c, callID)
}

// addDialog records one of the call's dialogs by our tag.
func (r *registry) addDialog(c *call, callID, localTag string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := legKey{callID, localTag}
	r.dialogs[k] = c
	c.dialogKeys = append(c.dialogKeys, k)
	r.addCallID(c, callID)
}

// addCallID maps callID to c and lists it among c's once. The caller
// holds r.mu.
func (r *registry) addCallID(c *call, callID string) {
	r.callIDs[callID] = c
	if !slices.Contains(c.callIDs, callID) {
		c.callIDs = append(c.callIDs, callID)
	}
}

// rekey replaces the strings of c's keys, in c and in the maps, by the
// equal ones find gives: a settled call's own copies, so that the keys no
// longer pin the set-up messages' header values. Assigning a map entry
// whose key is equal replaces the stored key's strings too (the runtime
// updates string keys on assignment for this very reason);
// TestSettledCallKeysPacked checks that it does.
func (r *registry) rekey(c *call, find func(string) string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	re := func(m map[legKey]*call, keys []legKey) {
		for i, k := range keys {
			k2 := legKey{find(k.callID), find(k.tag)}
			if m[k] == c {
				m[k2] = c
			}
			keys[i] = k2
		}
	}
	re(r.invites, c.keys)
	re(r.dialogs, c.dialogKeys)
	for i, id := range c.callIDs {
		id2 := find(id)
		if r.callIDs[id] == c {
			r.callIDs[id2] = c
		}
		c.callIDs[i] = id2
	}
}

func (r *registry) remove(c *call) {
	var inv endedInvite
	if len(c.keys) > 0 {
		// The caller's INVITE is the first key.
		inv = c.endedInvite(maphash.String(r.seed, c.keys[0].tag))
	}
	// Worked out before the lock, from the call's own state (remove runs
	// on its goroutine, as endedInvite does).
	var seqsFirst [2]uint32
	seqs := seqsFirst[:0]
	for _, id := range c.callIDs {
		seqs = append(seqs, c.ourSeqIn(id))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.calls, c)
	for _, k := range c.keys {
		delete(r.invites, k)
	}
	for _, k := range c.dialogKeys {
		delete(r.dialogs, k)
	}
	// The call's own Call-IDs, not a scan of the map: removing a call
	// must not cost more with thousands of calls up.
	for i, id := range c.callIDs {
		if r.callIDs[id] == c {
			delete(r.callIDs, id)
		}
		if _, ok := r.ended[id]; !ok {
			// A copy: the Call-ID may be a piece of a parsed message,
			// whose whole text the key would keep for endedKept calls.
			id = strings.Clone(id)
			r.endedOrder = append(r.endedOrder, id)
		}
		// The latest call of a Call-ID used again (a new INVITE after a
		// 401 or 3xx, with the next CSeq) is the one late messages and a
		// copy of its INVITE belong to.
		r.ended[id] = endedCall{c.id, seqs[i]}
	}
	if cid := c.keys; len(cid) > 0 {
		// Its Call-ID is among c.callIDs: in ended, dropped with it. A
		// new key is a copy, as there.
		if _, ok := r.endedInvites[cid[0].callID]; ok {
			r.endedInvites[cid[0].callID] = inv
		} else {
			r.endedInvites[strings.Clone(cid[0].callID)] = inv
		}
	}
	for len(r.endedOrder) > endedKept {
		delete(r.ended, r.endedOrder[0])
		delete(r.endedInvites, r.endedOrder[0])
		r.endedOrder[0] = ""
		r.endedOrder = r.endedOrder[1:]
	}
}

// endedInviteOf is what a copy of the caller's INVITE of a call that
// ended recently is answered (staleinvite.go), and that call's id. ok
// reports such a copy: req has no To-tag, and the Call-ID and From-tag of
// that INVITE, and its CSeq number or a lower one (an INVITE the caller
// replaced with that one, as after a 3xx or 422 of ours, which a UAC does
// with the next CSeq, RFC 3261 §8.1.3.4-5: its own answer was not kept,
// so e is 481's). A higher CSeq or another From-tag is a new INVITE. One
// map lookup for an INVITE whose Call-ID is new; the From-tag is hashed
// only when it is not.
func (r *registry) endedInviteOf(req *gosip.Request) (e endedInvite, id string, ok bool) {
	callID := string(*req.CallID())
	r.mu.Lock()
	if e, ok = r.endedInvites[callID]; ok {
		id = r.ended[callID].id
	}
	r.mu.Unlock()
	seq := req.CSeq().SeqNo
	if !ok || seq > e.seq {
		return endedInvite{}, "", false
	}
	tag, _ := req.From().Params.Get("tag")
	if maphash.String(r.seed, tag) != e.fromTag {
		return endedInvite{}, "", false
	}
	if seq < e.seq {
		return endedInvite{}, id, true
	}
	return e, id, true
}

// endedRecently reports whether callID was a leg of a call that ended not
// long ago (the last endedKept Call-IDs).
func (r *registry) endedRecently(callID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.ended[callID]
	return ok
}

// endedSeq reports whether callID was a leg of a call that ended not long
// ago (endedRecently), and then the highest CSeq of our requests in its
// callee's dialogs with callID (endedCall).
func (r *registry) endedSeq(callID string) (uint32, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.ended[callID]
	return e.seq, ok
}

func (r *registry) byDialog(callID, localTag string) *call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dialogs[legKey{callID, localTag}]
}

// byInvite is the call created by an INVITE (for its CANCEL or a
// retransmission).
func (r *registry) byInvite(req *gosip.Request) *call {
	tag, _ := req.From().Params.Get("tag")
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.invites[legKey{string(*req.CallID()), tag}]
}

// byResponse is the call of a response to one of our requests.
func (r *registry) byResponse(res *gosip.Response) *call {
	if res.CallID() == nil || res.From() == nil {
		return nil
	}
	tag, _ := res.From().Params.Get("tag")
	return r.byDialog(string(*res.CallID()), tag)
}

// byCallID is the call in progress one of whose legs has this Call-ID.
func (r *registry) byCallID(callID string) *call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.callIDs[callID]
}

// traceIDs are, for the trace, the id of the call in progress one of
// whose legs has this Call-ID and, when there is none, that of the call
// that ended recently with it ("" for none), under one lock.
func (r *registry) traceIDs(callID string) (live, ended string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.callIDs[callID]; c != nil {
		return c.id, ""
	}
	return "", r.ended[callID].id
}

// HasDialog implements sip.Dialogs.
func (r *registry) HasDialog(callID, localTag string) bool {
	return r.byDialog(callID, localTag) != nil
}

// HasInvite implements sip.Dialogs.
func (r *registry) HasInvite(callID, fromTag string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.invites[legKey{callID, fromTag}] != nil
}

func (r *registry) all() []*call {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*call, 0, len(r.calls))
	for c := range r.calls {
		out = append(out, c)
	}
	return out
}

func (r *registry) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}
