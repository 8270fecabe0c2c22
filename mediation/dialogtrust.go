package mediation

import (
	"net/netip"
	"slices"
	"strings"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/sip"
)

// A call's in-dialog requests come from its own peers only. The sides'
// trust lists (trust.go) admit every trunk on the gateway side and all of
// edge.trust on the edge side; within a call that is not enough: another
// trunk's SBC that learnt a call's dialog ids could end it, move its
// remote target and media, or transfer it. So on the gateway side a
// request in a call's dialog must come from the call's trunk (its
// addresses now, those the call pinned, its own trust subnets); on either
// side it may come from the IP the leg's dialog was set up with (the
// caller's INVITE source, the callee's answer source) or that of its
// remote target (the peer's Contact), and on the edge side from edge.peer. Any port. Others get 403 and the call does not hear of it.

// fromOwnPeer reports whether in, a request for leg l, came from one of
// the call's own peers on that side.
func (c *call) fromOwnPeer(l *leg, in *sip.Incoming) bool {
	src := sip.SourceIP(in.Req)
	if !src.IsValid() {
		return false // an unknown source is no peer (the zero Addr matches nothing)
	}
	if d := c.dialogOf(l, in.Req); d != nil && d.Origin == src {
		return true
	}
	if l.dialog != nil && (l.dialog.Origin == src || targetIP(l.dialog) == src) {
		// The dialog's remote target (the peer's Contact) is where its
		// requests come from when a proxy on the way in did not
		// Record-Route (RFC 3261 §12.2.1.1; the README's Kamailio pool).
		return true
	}
	if l.side != c.deps.gw {
		return src == c.deps.edgePeer.Addr().Unmap()
	}
	return slices.Contains(c.pins, src) || c.trunk.Addr.Addr().Unmap() == src || c.deps.gateways.Sends(c.trunk.Name, src)
}

// refuseForeign answers a request from a trusted source that is not the
// call's peer: 403, counted and logged (rate-limited). An ACK (most
// likely that of our 403 to its INVITE) is dropped quietly.
func (c *call) refuseForeign(l *leg, in *sip.Incoming) {
	if in.Req.IsAck() {
		return
	}
	c.deps.metrics.sipForeign.WithLabelValues(l.side.Name).Inc()
	if ok, suppressed := c.deps.foreignLog.Allow(); ok {
		c.log.Warn().Str("side", l.side.Name).Str("method", in.Req.Method.String()).Str("source", in.Req.Source()).
			Int("suppressed", suppressed).Msg("in-dialog request from a source that is not the call's peer: 403")
	}
	_ = in.Reply(403, "Forbidden", "", warning(l.side, "not the call's peer"))
}

// ownPeerChecked reports whether a request of method, with or without a
// To-tag, must come from the call's own peer: all but a new INVITE (a
// retransmission or a loop of the caller's, onDuplicateInvite) and a
// CANCEL (matched to its INVITE's transaction by its branch).
func ownPeerChecked(method gosip.RequestMethod, toTag string) bool {
	switch method {
	case gosip.CANCEL:
		return false
	case gosip.INVITE:
		return toTag != ""
	}
	return true
}

// targetIP is the IP of d's remote target, the zero Addr when its host is
// a name (not looked up here).
func targetIP(d *sip.Dialog) netip.Addr {
	ip, err := netip.ParseAddr(strings.Trim(d.RemoteTarget.Host, "[]"))
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap()
}
