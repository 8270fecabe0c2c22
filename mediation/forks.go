package mediation

import (
	"errors"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/sip"
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

// An outbound call (the SBC forking) keeps one dialog towards the client,
// which sees the latest fork's 18x; the forks are tracked all the same, by
// the SBC's To-tag, each with its latest SDP: the fork that answers with a
// 200 without SDP is the call with its own early answer, not with the SDP
// of whichever fork was heard last (RFC 3261 §13.2.2.4, RFC 3262 §5).

// maxEarlyDialogs is CCE's MaxEarlyDialogs.
const maxEarlyDialogs = 20

// fork is one early dialog of the callee, seen from the caller.
type fork struct {
	// tag is ours towards the caller for this fork (outbound: our one tag).
	tag string
	// sdp is the fork's latest SDP, as the callee sent it: the answer of
	// its 18x, or its side of an offer/answer completed in its early
	// dialog by an UPDATE (earlyOfferDone).
	sdp []byte
	// remoteSeq is the CSeq of the caller's last request in this early
	// dialog (0: none yet) when its tag is not the caller dialog's: a
	// caller counts each early dialog's CSeq apart (RFC 3261 §12.1.2).
	remoteSeq uint32
	// hungUp: the fork answered 2xx after the call's, and was ACKed and
	// sent BYE (hangUpFork); its 2xx again gets the ACK only. (In the
	// word remoteSeq leaves half empty.)
	hungUp bool
}

// checkRemoteSeq is RFC 3261 §12.2.2's CSeq check of a request from l's
// peer in dialog d, or, for a request of the caller in the early dialog
// of a later fork, in that fork's own count.
func (c *call) checkRemoteSeq(l *leg, d *sip.Dialog, req *gosip.Request) error {
	if f := c.laterFork(l, req); f != nil {
		return sip.CheckSeq(req, &f.remoteSeq)
	}
	return d.CheckRemoteSeq(req)
}

// laterFork is the fork whose early dialog a request from the caller is
// in, when that is not the caller dialog's own tag (nil otherwise).
func (c *call) laterFork(l *leg, req *gosip.Request) *fork {
	if l != &c.caller.leg || len(c.forks) < 2 {
		return nil
	}
	tag, _ := req.To().Params.Get("tag")
	if tag == c.caller.tag {
		return nil
	}
	for _, f := range c.forks {
		if f.tag == tag {
			return f
		}
	}
	return nil
}

// forkTag is the To-tag of our response to the caller that relays res:
// for an inbound call, the tag of res's fork (a new one for a new fork);
// otherwise, and for the first fork, our one tag. Either way it notes
// res's SDP as its fork's latest.
func (c *call) forkTag(res *gosip.Response) string {
	a := c.caller
	remote, _ := res.To().Params.Get("tag")
	if remote == "" {
		return a.tag
	}
	if c.forks == nil {
		c.forks = map[string]*fork{}
	}
	f := c.forks[remote]
	if f == nil {
		f = &fork{tag: a.tag}
		if c.dir == inbound && len(c.forks) > 0 && len(c.forks) < maxEarlyDialogs {
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

// forkHungUp marks the callee's fork tag hung up (hangUpFork). A fork
// heard of first by its 2xx is added to c.forks, up to maxEarlyDialogs
// forks in all, and not once the call has settled (c.forks released).
func (c *call) forkHungUp(tag string) {
	f := c.forks[tag]
	if f == nil {
		if c.caller.settled() || len(c.forks) >= maxEarlyDialogs {
			return
		}
		if c.forks == nil {
			c.forks = map[string]*fork{}
		}
		// No tag of ours: the caller never heard of this fork.
		f = &fork{}
		c.forks[tag] = f
	}
	f.hungUp = true
}

// ownEarlyDialog reports whether the early dialog of the callee's fork
// that res (a provisional) is in has an early dialog of its own towards
// the caller: only on an inbound call, for a fork the caller has heard of
// that shares its tag with no other (beyond maxEarlyDialogs forks share
// one). A 199 Early Dialog Terminated of that fork is relayed there (RFC
// 6228); of any other, it would end the caller's early dialog of forks
// that go on.
func (c *call) ownEarlyDialog(res *gosip.Response) bool {
	remote, _ := res.To().Params.Get("tag")
	f := c.forks[remote]
	if c.dir != inbound || f == nil {
		return false
	}
	for other, g := range c.forks {
		if other != remote && g.tag == f.tag {
			return false
		}
	}
	return true
}

// errForkNoAnswer: the callee forked, and the fork that answered 2xx
// gave no SDP answer, in its 2xx nor in its early dialog (another fork's
// early answer is not its).
var errForkNoAnswer = errors.New("no SDP answer in the answering fork's 18x or 200")

// answeredFork makes the fork of the callee's 2xx the caller's dialog, and
// returns the SDP the caller's 200 is to be built from: the 2xx's own, or
// the fork's early answer when the 2xx has none. errForkNoAnswer when the
// 2xx has none and its fork gave none either, while the callee forked:
// the early answers heard were other forks' (RFC 3261 §13.2.2.4: each
// fork is a UAS of its own), and a 2xx without SDP to an INVITE with an
// offer must carry the answer unless a reliable 18x of its dialog did
// (RFC 3261 §13.3.1.1, RFC 3262 §5). The call then fails as a non-forked
// callee's 2xx without any answer makes it (onCalleeAnswer): it is not
// waited on for the other forks, whose pending branches the forking
// proxy cancels at the first 2xx (RFC 3261 §16.7 step 10). The caller's
// dialog stays as it was then.
func (c *call) answeredFork(res *gosip.Response) ([]byte, error) {
	a := c.caller
	remote, _ := res.To().Params.Get("tag")
	if f := c.forks[remote]; len(res.Body()) == 0 && remote != "" && (f == nil || f.sdp == nil) {
		// Forked: another fork than this one (a fork of its own or not
		// yet heard of) sent 18x. A callee that did not fork fails with
		// answerBody's error as it always did.
		if forks := len(c.forks); (f == nil && forks >= 1) || forks >= 2 {
			c.log.Info().Str("fork_tag", remote).Msg("a fork without an answer of its own answered 2xx without SDP")
			return nil, errForkNoAnswer
		}
	}
	tag := c.forkTag(res)
	if tag != a.tag {
		c.log.Info().Str("tag", tag).Msg("a later fork answered: the call continues in its dialog")
		a.tag = tag
		a.dialog.LocalTag = tag
		if f := c.forks[remote]; f != nil {
			// The caller's CSeq in this dialog is the fork's count.
			a.dialog.RemoteSeq = f.remoteSeq
		}
	}
	if len(res.Body()) > 0 || len(c.forks) < 2 {
		return res.Body(), nil
	}
	if f := c.forks[remote]; f != nil && f.sdp != nil {
		// Another fork's early answer may have been relayed last: the
		// caller's 200 is built from this fork's, and an anchored call's
		// relay goes back to it (outbound, the caller's one early
		// dialog got the forks' SDP in turn).
		return f.sdp, nil
	}
	return nil, nil
}

// earlyOfferDone notes the callee's SDP of an offer/answer that off (an
// UPDATE, relayed either way) completed with res in one of the callee's
// early dialogs: that fork's latest, which its 200 without SDP stands on.
func (c *call) earlyOfferDone(off *relayedOffer, res *gosip.Response) {
	if c.state == stateAnswered || len(c.forks) == 0 {
		return
	}
	var remote string
	var body []byte
	switch {
	case off.from != &c.callee.leg:
		remote, body = off.out.dialog.RemoteTag, res.Body()
	case off.in != nil:
		remote, _ = off.in.Req.From().Params.Get("tag")
		body = off.in.Req.Body()
	}
	if f := c.forks[remote]; f != nil && len(body) > 0 {
		f.sdp = body
	}
}

// forkDialog is the client's early dialog that an offer of the SBC (in,
// an UPDATE from the leg from) made in our early dialog of one of the
// client's forks goes to: that fork's, paired with ours by forkTag. The
// callee leg's dialog is the fork heard last, and the offer went there
// whichever fork it was made towards, its answer then filed under that
// other fork (earlyOfferDone). nil when the offer is not such (outbound:
// the client has one dialog with us; answered: the call has one dialog
// with the client).
func (c *call) forkDialog(from *leg, in *sip.Incoming) *sip.Dialog {
	if c.dir != inbound || c.state == stateAnswered || from != &c.caller.leg || in == nil || len(c.forks) < 2 {
		return nil
	}
	tag, _ := in.Req.To().Params.Get("tag")
	for remote, f := range c.forks {
		// Beyond maxEarlyDialogs later forks share the last tag: the
		// first found of them, as good as any.
		if f.tag == tag {
			return c.callee.early[remote]
		}
	}
	return nil
}

// callerForkTag is our tag in the caller's early dialog that an offer of
// the client (in, an UPDATE from the leg from) made in the early dialog
// of one of its forks goes to: that fork's, paired with it by forkTag,
// when it is not the caller dialog's own; "" otherwise. The caller's
// dialog carries the tag of the fork heard first (or of the one that
// answered), and the offer went there whichever fork made it.
func (c *call) callerForkTag(from *leg, in *sip.Incoming) string {
	if c.dir != inbound || c.state == stateAnswered || from != &c.callee.leg || in == nil || len(c.forks) < 2 {
		return ""
	}
	remote, _ := in.Req.From().Params.Get("tag")
	if f := c.forks[remote]; f != nil && f.tag != c.caller.tag {
		return f.tag
	}
	return ""
}

// forkGone reports whether our early dialog of tag towards the caller (an
// offer's ourTag) has ended: the call was answered in another.
func (c *call) forkGone(tag string) bool {
	return tag != "" && c.state == stateAnswered && tag != c.caller.tag
}

// newRequestAs is d.NewRequest with tag as our tag, when not "": a request
// in our early dialog of another fork towards the caller, which is d but
// for our tag. The CSeq count stays d's, one for all: it only grows in
// each of them (RFC 3261 §12.2.1.1).
func newRequestAs(d *sip.Dialog, tag string, method gosip.RequestMethod, body []byte, contact *gosip.ContactHeader) *gosip.Request {
	if tag == "" || tag == d.LocalTag {
		return d.NewRequest(method, 0, body, contact)
	}
	own := d.LocalTag
	d.LocalTag = tag
	req := d.NewRequest(method, 0, body, contact)
	d.LocalTag = own
	return req
}
