package mediation

import (
	gosip "github.com/emiago/sipgo/sip"
)

// Forked early dialogs of an inbound call. The edge may answer our INVITE
// from several places at once (a client on several devices): 18x with
// different To-tags, each an early dialog (RFC 3261 §12.1.2). Each is
// relayed to the gateway as an early dialog of its own, with a To-tag of
// ours per fork, its SDP answer planned on its own (so bypass is decided
// per early dialog). The fork that answers 200 is the call: our 200 carries
// its tag, and the gateway drops the other early dialogs (RFC 3261
// §13.2.2.4); a fork that answers later is ACKed and hung up. CCE's
// MaxEarlyDialogs bounds the forks relayed; later ones share the last tag.

// maxEarlyDialogs is CCE's MaxEarlyDialogs.
const maxEarlyDialogs = 20

// fork is one early dialog of the callee, seen from the caller.
type fork struct {
	// tag is ours towards the caller for this fork.
	tag string
	// sdp is the fork's latest SDP answer, as the callee sent it.
	sdp []byte
}

// forkTag is the To-tag of our response to the caller that relays res:
// for an inbound call, the tag of res's fork (a new one for a new fork);
// otherwise, and for the first fork, our one tag.
func (c *call) forkTag(res *gosip.Response) string {
	a := c.caller
	remote, _ := res.To().Params.Get("tag")
	if c.dir != inbound || remote == "" {
		return a.tag
	}
	if c.forks == nil {
		c.forks = map[string]*fork{}
	}
	f := c.forks[remote]
	if f == nil {
		f = &fork{tag: a.tag}
		if len(c.forks) > 0 && len(c.forks) < maxEarlyDialogs {
			f.tag = gosip.GenerateTagN(16)
			// The caller's PRACKs, UPDATEs and ACK in this early dialog
			// must find the call.
			c.deps.index.addDialog(c, a.dialog.CallID, f.tag)
			c.log.Info().Str("fork_tag", remote).Str("tag", f.tag).Msg("callee forked: new early dialog towards the caller")
		}
		c.forks[remote] = f
	}
	if len(res.Body()) > 0 {
		f.sdp = res.Body()
	}
	return f.tag
}

// answeredFork makes the fork of the callee's 2xx the caller's dialog, and
// returns the SDP the caller's 200 is to be built from: the 2xx's own, or
// the fork's early answer when the 2xx has none.
func (c *call) answeredFork(res *gosip.Response) []byte {
	a := c.caller
	tag := c.forkTag(res)
	if tag != a.tag {
		c.log.Info().Str("tag", tag).Msg("a later fork answered: the call continues in its dialog")
		a.tag = tag
		a.dialog.LocalTag = tag
	}
	if len(res.Body()) > 0 || c.forks == nil || len(c.forks) < 2 {
		return res.Body()
	}
	remote, _ := res.To().Params.Get("tag")
	if f := c.forks[remote]; f != nil && f.sdp != nil {
		// Another fork's early answer may have been relayed last: the
		// caller gets this fork's.
		return f.sdp
	}
	return nil
}
