package mediation

import (
	"time"
	"weak"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sdp"
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
}

// SetupStates are the SetupState of the calls in progress.
func (s *Server) SetupStates() []SetupState {
	var out []SetupState
	for _, c := range s.calls.all() {
		var st SetupState
		if c.query(func() {
			st.Settled = c.caller.settled()
			st.AnswerKept = c.media.answer != nil
			for _, m := range []sdp.Media{c.media.offer, c.media.client, c.media.gateway} {
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
