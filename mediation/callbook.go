package mediation

import (
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/mediation-emulator/mediation/mediation/ladder"
	"github.com/mediation-emulator/mediation/sip"
)

// Bounds of the call book: the calls it remembers (in progress and
// ended, oldest dropped first) and the messages it keeps per call.
const (
	bookCalls    = 100
	bookMessages = 100
)

// callBook keeps the ladders of the last calls, in progress or ended, for
// the web page: the SIP messages from the trace, the rest from the call's
// record when it ends (and from the live record while it runs).
type callBook struct {
	mu    sync.Mutex
	calls map[string]*ladder.Call
}

func newCallBook() *callBook { return &callBook{calls: map[string]*ladder.Call{}} }

// Wire implements WireSink.
func (b *callBook) Wire(w *sip.Wire, id string) {
	if id == "" || w.Msg == nil {
		return
	}
	m := ladder.NewMessage(w.Time, w.Side.Name, w.Dir, w.Transport, addrString(w.Local), addrString(w.Remote), string(w.Data))
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.get(id, w.Time)
	if cid := w.CallID(); cid != "" && !slices.Contains(c.CallIDs, cid) {
		c.CallIDs = append(c.CallIDs, cid)
	}
	if len(c.Messages) < bookMessages {
		c.Add(m)
	}
}

func addrString(a interface{ String() string }) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// get is the call with this id, created (and the oldest dropped) if new.
func (b *callBook) get(id string, at time.Time) *ladder.Call {
	c := b.calls[id]
	if c != nil {
		return c
	}
	if len(b.calls) >= bookCalls {
		var oldest *ladder.Call
		for _, x := range b.calls {
			if oldest == nil || x.Start.Before(oldest.Start) {
				oldest = x
			}
		}
		delete(b.calls, oldest.ID)
	}
	c = &ladder.Call{ID: id, Start: at}
	b.calls[id] = c
	return c
}

// record takes what a call record says (at the end, or of a call in
// progress).
func (b *callBook) record(r Record, ended bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.get(r.CallID, r.StartTime)
	c.Direction, c.From, c.To, c.Gateway = r.Direction, r.From, r.To, r.Gateway
	if r.BypassReason != "" {
		c.Decided, c.Bypass, c.Reason = true, r.MediationServerBypass, r.BypassReason
	}
	if ended {
		c.Ended, c.Answered, c.EndReason = true, r.AnswerTime != nil, r.EndReason
		c.DurationMS = r.EndTime.Sub(r.StartTime).Milliseconds()
	}
	c.Update()
}

// write implements recordSink: a call's record at its end.
func (b *callBook) write(r Record) error {
	b.record(r, true)
	return nil
}

// snapshot copies the calls, newest first.
func (b *callBook) snapshot() []ladder.Call {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]ladder.Call, 0, len(b.calls))
	for _, c := range b.calls {
		cp := *c
		cp.Messages = append([]ladder.Message(nil), c.Messages...)
		cp.CallIDs = append([]string(nil), c.CallIDs...)
		out = append(out, cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.After(out[j].Start) })
	return out
}

// teeRecords writes a call's record to the records file and the book.
type teeRecords []recordSink

func (t teeRecords) write(r Record) error {
	var first error
	for _, s := range t {
		if err := s.write(r); err != nil && first == nil {
			first = err
		}
	}
	return first
}
