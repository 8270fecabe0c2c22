package mediation

import (
	"sync"
	"testing"
	"time"
	"unsafe"
	"weak"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sdp"
	"github.com/mediation-emulator/mediation/sip"
)

// WeakCalls are weak pointers to the calls in progress: a test holds them
// past the calls' end to see that nothing keeps an ended call alive.
func (s *Server) WeakCalls() []weak.Pointer[call] {
	var out []weak.Pointer[call]
	for _, c := range s.calls.all() {
		out = append(out, weak.Make(c))
	}
	return out
}

// EdgeServerTransactions is how many server transactions the edge side
// holds: a test waits for an INVITE's to be gone (Timer I).
func (s *Server) EdgeServerTransactions() int {
	n, _ := s.edge.Transactions()
	return n
}

// BookCalls is the number of calls the web page's call book holds.
func (s *Server) BookCalls() int { return len(s.book.snapshot()) }

// SetupState is what a call in progress holds of its set-up (settle.go):
// whether it has let it go, and weak pointers to our INVITE to the callee
// and our ACK of its 2xx as the call holds them now (zero once let go).
type SetupState struct {
	Settled     bool
	Invite, Ack weak.Pointer[gosip.Request]
	// AnswerKept: the callee's parsed answer is still kept.
	AnswerKept bool
	// ParsedSDP is how many parsed SDPs the plan holds (the caller's
	// offer, each peer's latest), Latest each peer's latest SDP as the
	// call reads it (edge, gateway).
	ParsedSDP int
	Latest    [2]sdp.Media
	// Forks is how many of the callee's early dialogs the call tracks,
	// ForkSDP the bytes of their SDP it holds.
	Forks, ForkSDP int
}

// SetupStates are the SetupState of the calls in progress.
func (s *Server) SetupStates() []SetupState {
	var out []SetupState
	for _, c := range s.calls.all() {
		var st SetupState
		if c.query(func() {
			st.Settled = c.caller.settled()
			st.AnswerKept = c.media.answer != nil
			st.Forks = len(c.forks)
			for _, f := range c.forks {
				st.ForkSDP += len(f.sdp)
			}
			ms := []sdp.Media{c.media.offer}
			if c.media.peers != nil {
				ms = append(ms, c.media.peers[:]...)
			}
			for _, m := range ms {
				if m.Lines != nil {
					st.ParsedSDP++
				}
			}
			st.Latest = [2]sdp.Media{c.media.latest(relay.Edge), c.media.latest(relay.Gateway)}
			if r := c.callee.inviteReq(); r != nil {
				st.Invite = weak.Make(r)
			}
			if c.callee.ack != nil {
				st.Ack = weak.Make(c.callee.ack)
			}
		}, 5*time.Second) {
			out = append(out, st)
		}
	}
	return out
}

// StringsSpan is, for each call in progress, the distance between the
// first and the last byte of the strings its dialogs, its numbers and its
// keys in the registry's maps hold: a few hundred bytes once they share
// one buffer (settle.go's packStrings), much more while they are pieces
// of the set-up messages.
func (s *Server) StringsSpan() []uintptr {
	var out []uintptr
	for _, c := range s.calls.all() {
		var strs []string
		if !c.query(func() {
			for _, d := range []*sip.Dialog{c.caller.dialog, c.callee.dialog} {
				strs = append(strs, d.CallID, d.LocalTag, d.RemoteTag, d.Local.User, d.Local.Host,
					d.Remote.User, d.Remote.Host, d.RemoteTarget.Host, d.Flow)
			}
			strs = append(strs, c.from, c.to, c.callee.invCallID, c.log.aCallID, c.log.bCallID)
		}, 5*time.Second) {
			continue
		}
		s.calls.mu.Lock()
		for k, v := range s.calls.invites {
			if v == c {
				strs = append(strs, k.callID, k.tag)
			}
		}
		for k, v := range s.calls.dialogs {
			if v == c {
				strs = append(strs, k.callID, k.tag)
			}
		}
		for k, v := range s.calls.callIDs {
			if v == c {
				strs = append(strs, k)
			}
		}
		s.calls.mu.Unlock()
		lo, hi := ^uintptr(0), uintptr(0)
		for _, str := range strs {
			if str == "" {
				continue
			}
			p := uintptr(unsafe.Pointer(unsafe.StringData(str)))
			lo, hi = min(lo, p), max(hi, p+uintptr(len(str)))
		}
		out = append(out, hi-lo)
	}
	return out
}

// DoneChannels is how many calls in progress have made the channel closed
// at their end (doneSignal): none unless something waits for an end.
func (s *Server) DoneChannels() int {
	n := 0
	for _, c := range s.calls.all() {
		c.done.mu.Lock()
		if c.done.ch != nil {
			n++
		}
		c.done.mu.Unlock()
	}
	return n
}

// BlockCall keeps the goroutine of the call in progress with this call ID
// or SIP Call-ID busy, as a transfer waiting for its replaced call does,
// until release is called; false if there is no such call.
func (s *Server) BlockCall(id string) (release func(), ok bool) {
	c := s.findCall(id)
	if c == nil {
		return nil, false
	}
	started, unblock := make(chan struct{}), make(chan struct{})
	if !c.push(evQuery{fn: func() { close(started); <-unblock }, done: make(chan struct{})}) {
		return nil, false
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		close(unblock)
		return nil, false
	}
	return func() { close(unblock) }, true
}

// BookEnds is, for each call in the web page's call book, its end reason,
// "in progress" while it has not ended.
func (s *Server) BookEnds() map[string]string {
	out := map[string]string{}
	for _, c := range s.book.snapshot() {
		if c.Ended {
			out[c.ID] = c.EndReason
		} else {
			out[c.ID] = "in progress"
		}
	}
	return out
}

// HoldProvisionals holds each provisional response with Call-ID callID,
// as it reaches its call's sink, until that call has ended (10 s at most),
// for the rest of the test t: a caller's CANCEL then crosses the first
// provisional of our INVITE, which the call never sees. The channel is
// closed once the first is held.
func HoldProvisionals(t testing.TB, callID string) <-chan struct{} {
	held := make(chan struct{})
	var once sync.Once
	h := func(s *callSink, res *gosip.Response) {
		if !res.IsProvisional() || res.CallID().Value() != callID {
			return
		}
		once.Do(func() { close(held) })
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			c := s.c.Load()
			if c == nil {
				return
			}
			c.box.mu.Lock()
			closed := c.box.closed
			c.box.mu.Unlock()
			if closed {
				return
			}
		}
	}
	testHookSinkResponse.Store(&h)
	t.Cleanup(func() { testHookSinkResponse.Store(nil) })
	return held
}

// CallersAcked says, for each call in progress, whether it is answered
// and has taken the caller's ACK of our 200 (no 2xx of ours to the caller
// awaits one): what follows that ACK (a re-offer of ours, earlymove.go)
// has gone out by then.
func (s *Server) CallersAcked() []bool {
	var out []bool
	for _, c := range s.calls.all() {
		var acked bool
		if c.query(func() { acked = c.state == stateAnswered && c.caller.ok == nil }, 5*time.Second) {
			out = append(out, acked)
		}
	}
	return out
}

// SetGlareWait makes RFC 3261 §14.1's wait before an INVITE that met 491
// goes again d on the server cfg configures (SIPConfig.glareWait), in
// place of its random 2.1-4 s or 0-2 s: a test sets it far beyond its own
// deadline to prove that something went on an event, not on that wait.
func SetGlareWait(cfg *Config, d time.Duration) { cfg.SIP.glareWait = d }
