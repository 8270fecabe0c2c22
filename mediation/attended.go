package mediation

import (
	"strconv"
	"strings"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/sip"
)

// Attended transfer (RFC 5589 §7) across the B2BUA, with the trunk's REFER
// support: a client in two calls of this server to the same SBC (the call
// to transfer, A, and the consultation call, B) sends a REFER in A whose
// Refer-To carries a Replaces (RFC 3891) naming its own leg of B. Relayed as
// written it names a dialog the SBC has never seen. Translated, it names
// B's gateway leg, a dialog the SBC holds, and the Refer-To targets the
// SBC's Contact in it: the SBC replaces its own dialog, joining its two
// parties itself (what SBCs do with a REFER whose Replaces is local), and
// ends both gateway legs, which ends both calls here. The server cannot
// join two calls itself: without refer support the REFER gets 501.

// replacedWait bounds how long call A waits for call B to look up its legs:
// B's event loop answers at once unless it is stuck.
const replacedWait = 2 * time.Second

// replacedLeg is what call B tells call A about the dialog a Replaces names:
// why it cannot be used ("" when it can), B's trunk, and the Replaces and
// target (the SBC's Contact) that name B's gateway leg to the SBC.
type replacedLeg struct {
	why      string
	trunk    string
	replaces sip.Replaces
	target   string
	// client is who B's edge leg is with (clientOf).
	client clientID
}

// clientID tells a client apart: the URI it is known by in the dialog
// (From of its INVITE, To of ours) and its remote target (its Contact: a
// GRUU for SfB clients), both without parameters.
type clientID struct{ uri, contact string }

// clientOf is the client of an edge dialog.
func clientOf(d *sip.Dialog) clientID {
	bare := func(u gosip.Uri) string { return strings.ToLower(u.User + "@" + u.Host + ":" + strconv.Itoa(u.Port)) }
	return clientID{bare(d.Remote), bare(d.RemoteTarget)}
}

// same reports whether a and b are one client: one URI or one Contact.
func (a clientID) same(b clientID) bool { return a.uri == b.uri || a.contact == b.contact }

// evAttended carries call B's answer back to call A's loop.
type evAttended struct {
	from *leg
	in   *sip.Incoming
	b    replacedLeg
}

// onAttendedRefer handles a REFER whose Refer-To carries a Replaces: rep,
// or err when it cannot be read.
func (c *call) onAttendedRefer(l *leg, in *sip.Incoming, rep sip.Replaces, err error) {
	if err != nil {
		_ = in.Reply(400, "Bad Request - Invalid Replaces", "", warning(l.side, err.Error()))
		return
	}
	refuse := func(why string) { refuseAttended(c, l, in, why) }
	switch {
	case !c.referSupport():
		refuse("the trunk's enable_refer_support is off, and this server cannot join two calls itself")
		return
	case l.side != c.deps.edge:
		refuse("only a client's attended transfer is supported, not the gateway's")
		return
	}
	b := c.deps.index.byDialog(rep.CallID, rep.ToTag)
	if b == nil || b == c {
		refuse("its Replaces names no other call of this server")
		return
	}
	// B's state is B's goroutine's: asked there, answered into our loop.
	go func() {
		var r replacedLeg
		if !b.query(func() { r = b.replacedLeg(rep) }, replacedWait) {
			r.why = "the call its Replaces names ended"
		}
		if !c.push(evAttended{from: l, in: in, b: r}) {
			goneAnswer(in)
		}
	}()
}

// replacedLeg (on call B's goroutine) checks that rep names the edge leg of
// this answered call and says which gateway dialog stands for it.
func (c *call) replacedLeg(rep sip.Replaces) replacedLeg {
	e, g := c.legOf(c.deps.edge), c.legOf(c.deps.gw)
	switch {
	case c.state != stateAnswered:
		return replacedLeg{why: "the call its Replaces names is not answered"}
	case e == nil || e.dialog == nil || e.dialog.CallID != rep.CallID || e.dialog.LocalTag != rep.ToTag || e.dialog.RemoteTag != rep.FromTag:
		return replacedLeg{why: "its Replaces names no dialog of this server"}
	case g == nil || g.dialog == nil:
		return replacedLeg{why: "the call its Replaces names has no gateway leg"}
	}
	// The SBC receives the INVITE with Replaces: its tag is the to-tag.
	target := g.dialog.RemoteTarget
	target.Headers = nil
	return replacedLeg{trunk: c.trunk.Name, target: target.String(), client: clientOf(e.dialog),
		replaces: sip.Replaces{CallID: g.dialog.CallID, ToTag: g.dialog.RemoteTag, FromTag: g.dialog.LocalTag, EarlyOnly: rep.EarlyOnly}}
}

// onAttended relays the REFER once call B has answered.
func (c *call) onAttended(e evAttended) {
	refuse := func(why string) { refuseAttended(c, e.from, e.in, why) }
	switch {
	case e.b.why != "":
		refuse(e.b.why)
	case !e.b.client.same(clientOf(e.from.dialog)):
		// Its Replaces names another client's call (RFC 3891 §7: a
		// Replaces must be authorised): the SBC would hand that call
		// to this one's PSTN party.
		refuse("its Replaces names a call of another client")
	case e.b.trunk != c.trunk.Name:
		refuse("the two calls are on different trunks (" + c.trunk.Name + ", " + e.b.trunk + "): neither SBC holds both")
	default:
		referTo := "<" + e.b.target + "?Replaces=" + e.b.replaces.URIHeader() + ">"
		c.log.Info().Str("replaces", e.b.replaces.String()).Msg("attended transfer: REFER relayed with its Replaces naming the other call's gateway leg")
		c.relayRequest(e.from, e.in, relaySet{referTo: referTo}, "Refer-To", "Referred-By", "Refer-Sub")
	}
}

// refuseAttended answers an attended transfer's REFER 501 with a Warning
// saying why; the calls stay as they were.
func refuseAttended(c *call, l *leg, in *sip.Incoming, why string) {
	c.log.Info().Str("why", why).Msg("REFER with Replaces (attended transfer) refused")
	_ = in.Reply(501, "Not Implemented", "", warning(l.side, "attended transfer: "+why+"; use a blind transfer"))
}
