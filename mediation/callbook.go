package mediation

import (
	"bytes"
	"fmt"
	"net"
	"slices"
	"sort"
	"sync"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"golang.org/x/time/rate"

	"github.com/mediation-emulator/mediation/mediation/ladder"
	"github.com/mediation-emulator/mediation/sip"
)

// Bounds of the call book: the calls it remembers (in progress and
// ended, oldest dropped first) and the messages it keeps per call.
const (
	bookCalls    = 100
	bookMessages = 100
	// bookMessageBytes is how much of one message the book keeps (the
	// rest is cut, and the cut said), bookCallBytes how much of a call's
	// messages: a trusted peer's 64 KiB messages (600 a=candidate lines,
	// re-INVITE after re-INVITE) could otherwise park 100 x 100 x 64 KiB,
	// 640 MiB, in a page a person reads a ladder or two of.
	bookMessageBytes = 16 << 10
	bookCallBytes    = 256 << 10
	// bookRate is how many new calls per second the book takes (bursts of
	// bookCalls): above it, the page shows a sample. A person reads a
	// ladder or two; at a thousand calls a second, copying every call's
	// messages for a page nobody can follow was a tenth of the work.
	bookRate = 50
)

// callBook keeps the ladders of the last calls, in progress or ended, for
// the web page: the SIP messages from the trace, the rest from the call's
// record when it ends (and from the live record while it runs). Messages
// are kept as traced and read into ladder form only when the page asks
// (snapshot): at a high call rate most calls leave the book unseen, and
// reading every message of every call would cost more than the call.
type callBook struct {
	mu    sync.Mutex
	calls map[string]*bookCall
	// admitted limits the new calls it takes (bookRate).
	admitted *rate.Limiter
}

// bookCall is one call of the book: what its record says, and its SIP
// messages in the order traced.
type bookCall struct {
	ladder.Call
	wires []bookWire
	// bytes is the size of wires' data.
	bytes int
	// refused: an INVITE that started no call (refusal).
	refused bool
}

// bookWire is a traced message as the book keeps it: not its parsed form,
// which would hold far more memory than its bytes.
type bookWire struct {
	at                   time.Time
	side, dir, transport string
	local, remote        net.Addr
	callID               string
	data                 []byte
}

func newCallBook() *callBook {
	return &callBook{calls: map[string]*bookCall{}, admitted: rate.NewLimiter(bookRate, bookCalls)}
}

// Wire implements WireSink.
func (b *callBook) Wire(w *sip.Wire, id string) {
	if id == "" || w.Msg == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.calls[id]
	if c == nil {
		// A call enters the book with its first message, the caller's
		// INVITE, if the rate allows; a call left out (or dropped as old)
		// stays out rather than come back with half a ladder.
		req, ok := w.Msg.(*gosip.Request)
		if !ok || !req.IsInvite() || w.Dir != sip.In || hasToTag(req) || !b.admitted.AllowN(w.Time, 1) {
			return
		}
		c = b.get(id, w.Time)
	}
	data := w.Bytes()
	if len(c.wires) >= bookMessages || c.bytes+min(len(data), bookMessageBytes) > bookCallBytes {
		return
	}
	kept := bytes.Clone(data[:min(len(data), bookMessageBytes)])
	if len(data) > bookMessageBytes {
		kept = fmt.Appendf(kept, "\r\n[... %d more bytes not kept]\r\n", len(data)-bookMessageBytes)
	}
	c.bytes += len(kept)
	c.wires = append(c.wires, bookWire{at: w.Time, side: w.Side.Name, dir: w.Dir, transport: w.Transport,
		local: w.Local, remote: w.Remote, callID: w.CallID(), data: kept})
}

func addrString(a interface{ String() string }) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// get is the call with this id, created (and the oldest dropped) if new.
func (b *callBook) get(id string, at time.Time) *bookCall {
	c := b.calls[id]
	if c != nil {
		return c
	}
	if len(b.calls) >= bookCalls {
		// The oldest refused INVITE goes first: a client sending broken
		// INVITEs must not push the calls out of the book.
		var oldest *bookCall
		for _, x := range b.calls {
			if oldest == nil || x.refused && !oldest.refused ||
				x.refused == oldest.refused && x.Start.Before(oldest.Start) {
				oldest = x
			}
		}
		delete(b.calls, oldest.ID)
	}
	c = &bookCall{Call: ladder.Call{ID: id, Start: at}}
	b.calls[id] = c
	return c
}

// record takes what a call record says (at the end, or of a call in
// progress).
func (b *callBook) record(r Record, ended bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.calls[r.CallID]
	if c == nil {
		return // not in the book (sampled out, or dropped as old)
	}
	c.Direction, c.From, c.To, c.Gateway = r.Direction, r.From, r.To, r.Gateway
	if r.BypassReason != "" {
		c.Decided, c.Bypass, c.Reason = true, r.MediationServerBypass, r.BypassReason
	}
	if ended {
		c.Ended, c.Answered, c.EndReason = true, r.AnswerTime != nil, r.EndReason
		c.DurationMS = r.EndTime.Sub(r.StartTime).Milliseconds()
	}
}

// refused implements refusalSink: the INVITE traced under id started no
// call; status is our final response to it, the end reason shown.
func (b *callBook) refused(id, status string, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.calls[id]
	if c == nil || c.Ended {
		// A copy of an ended call's INVITE whose call is still in the
		// book: its end stays.
		return
	}
	c.refused = true
	c.Ended, c.Answered, c.EndReason = true, false, status
	c.DurationMS = at.Sub(c.Start).Milliseconds()
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
		out = append(out, c.ladder())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.After(out[j].Start) })
	return out
}

// ladder is the call with its messages read: a copy the caller owns.
func (c *bookCall) ladder() ladder.Call {
	cp := c.Call
	cp.Messages, cp.CallIDs = nil, nil
	for _, w := range c.wires {
		if w.callID != "" && !slices.Contains(cp.CallIDs, w.callID) {
			cp.CallIDs = append(cp.CallIDs, w.callID)
		}
		cp.Add(ladder.NewMessage(w.at, w.side, w.dir, w.transport, addrString(w.local), addrString(w.remote), string(w.data)))
	}
	cp.Update()
	return cp
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
