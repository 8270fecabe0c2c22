package mediation

import (
	"fmt"
	"net/netip"

	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sdp"
)

// An anchored call relays from media.ip, one address of one family: a
// peer whose SDP address is of the other family (a server whose clients
// are on IPv4 and whose SBC is on IPv6, or the reverse) cannot be sent
// media from it nor reach it. Such a call is refused, not answered with a
// relay address the peer cannot use (README "IPv6"); a bypassed call does
// not use the relay and is not concerned.

// errFamily is a peer media address of another family than the relay's:
// 488, failed-call reason address_family.
type errFamily struct {
	peer       string // "client" or "gateway"
	addr, ours netip.Addr
}

func (e errFamily) Error() string {
	return fmt.Sprintf("Anchored media needs one address family: the %s's media address %s is %s, the relay's (media.ip) %s is %s",
		e.peer, e.addr, family(e.addr), e.ours, family(e.ours))
}

func family(a netip.Addr) string {
	if a.Unmap().Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// checkFamily refuses the SDP m of the peer on side when the relay
// anchors its media and m's address is of the other family; an
// unspecified address (on hold) says nothing. The first offer and answer
// of a call are checked here, and in an anchored call every re-offer and
// its answer (reoffer.go, with familyErr: the call is not refused then,
// only the re-offer or the answer, and the caller's own warning says so).
func (p *mediaPlan) checkFamily(side relay.Side, m sdp.Media) error {
	err := p.familyErr(side, m)
	if e, ok := err.(errFamily); ok {
		p.log.Warn().Str("peer", e.peer).Str("peer_media_ip", e.addr.String()).Str("media_ip", e.ours.String()).
			Msg("anchored call refused: the peer's media address is of another family than media.ip")
	}
	return err
}

// familyErr is checkFamily without the log: an errFamily when m's address
// is of the other family than the relay's, nil otherwise.
func (p *mediaPlan) familyErr(side relay.Side, m sdp.Media) error {
	ours, addr := p.local(side).Addr(), m.Addr.Unmap()
	if !ours.IsValid() || !addr.IsValid() || addr.IsUnspecified() || ours.Unmap().Is4() == addr.Is4() {
		return nil
	}
	peer := "client"
	if side == relay.Gateway {
		peer = "gateway"
	}
	return errFamily{peer: peer, addr: addr, ours: ours.Unmap()}
}
