package mediation

import "fmt"

// callState is where a call is in its life. Every change goes through
// setState, which refuses the transitions this table does not list, so
// that hangup, shutdown, media timeout and a BYE can never both end a call.
type callState int

const (
	// stateSetup: the caller's INVITE is being handled; the callee has not
	// answered with a provisional response yet.
	stateSetup callState = iota
	// stateEarly: the callee sent a provisional response; the caller has it.
	stateEarly
	// stateAnswered: the callee answered 2xx and the caller has our 2xx.
	stateAnswered
	// stateEnding: BYE or CANCEL is on its way to the legs that need one.
	stateEnding
	// stateEnded: the call's record is written and its resources released.
	stateEnded
)

var stateNames = [...]string{"setup", "early", "answered", "ending", "ended"}

func (s callState) String() string { return stateNames[s] }

// transitions lists, for each state, the states it may go to.
var transitions = map[callState][]callState{
	stateSetup:    {stateEarly, stateAnswered, stateEnding, stateEnded},
	stateEarly:    {stateAnswered, stateEnding, stateEnded},
	stateAnswered: {stateEnding},
	stateEnding:   {stateEnded},
}

// canGo reports whether from -> to is a transition of the machine.
func canGo(from, to callState) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// setState moves the call to a new state; a transition not in the table
// is a bug, reported as an error and not made.
func (c *call) setState(to callState) error {
	if !canGo(c.state, to) {
		err := fmt.Errorf("call state %s -> %s is not a transition", c.state, to)
		c.log.Error().Err(err).Msg("call state machine")
		return err
	}
	c.log.Debug().Str("from", c.state.String()).Str("to", to.String()).Msg("call state")
	c.state = to
	return nil
}

// live reports a call that has not started ending.
func (c *call) live() bool { return c.state < stateEnding }
