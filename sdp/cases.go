// Cases: the four SDP builders of a CCE call, outbound and inbound,
// bypassed or anchored.

package sdp

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ErrBadAnchor means the anchor address given to a builder cannot carry an
// RTP/RTCP port pair.
var ErrBadAnchor = errors.New("sdp: invalid anchor address")

// defaultPtime is the a=ptime an anchored SDP carries when the other peer
// gave none: 20 ms, G.711's default packetisation (RFC 3551 §4.5) and what
// SfB clients and every G.711 gateway send. The relay never repacketises,
// so what a peer is told is the other peer's packetisation (packetisation).
const defaultPtime = 20

// Local preferences rank host candidates in SDP sent to clients: the
// gateway's own address first, so a bypass-capable client tries it before
// falling back to the mediation server's anchor.
const (
	prefFirst  uint16 = 65535
	prefSecond uint16 = 65534
)

// GatewayOffer builds the offer sent to the gateway for an outbound call,
// from the client's offer. In bypass mode it is a plain RFC 3264 offer
// pointing at the client's own RTP address with only the client's G.711 and
// telephone-event formats (ErrNoG711 if the client offered no G.711);
// otherwise it points at anchor and offers PCMU, PCMA and telephone-event.
// Like ClientOffer it offers audio only: the client's video is rejected in
// the answer to the client (ClientAnswer) and never offered on.
func GatewayOffer(client Media, bypass bool, anchor netip.AddrPort) (Description, error) {
	return GatewayOfferPrefer(client, bypass, anchor, nil)
}

// GatewayOfferPrefer is GatewayOffer with the gateway trunk's G.711
// preference: prefer names PCMU and PCMA in the order the gateway is
// offered them, and only those are offered. Anchored, the offer lists them
// in that order; in bypass, the client's G.711 formats among them, in that
// order (with the client's payload types), then its telephone-event, and
// ErrNoG711 when the client offered none of them. Empty prefer is PCMU, PCMA
// anchored and the client's own order in bypass.
func GatewayOfferPrefer(client Media, bypass bool, anchor netip.AddrPort, prefer []string) (Description, error) {
	if !bypass {
		codecs := G711Order([]Codec{PCMU, PCMA}, prefer)
		// Events only if the client has them: the relay gives events to
		// the client only with a payload type it offered, and an SBC that
		// sees them negotiated sends its DTMF as events alone (RFC 4733
		// §2.5.1.2), which would then be lost.
		if _, ok := client.TelephoneEvent(); ok {
			codecs = append(codecs, TelephoneEvent)
		}
		d, err := anchored(anchor, codecs, peerDirection(client), client)
		if err != nil {
			return Description{}, fmt.Errorf("gateway offer: %w", err)
		}
		return d, nil
	}
	g711 := G711Order(client.Codecs, prefer)
	if len(g711) == 0 && len(prefer) > 0 {
		return Description{}, fmt.Errorf("gateway offer: client offered %s, the gateway takes %s: %w", codecNames(client.Codecs), strings.Join(prefer, ", "), ErrNoG711)
	}
	if len(g711) == 0 {
		return Description{}, fmt.Errorf("gateway offer: client offered %s: %w", codecNames(client.Codecs), ErrNoG711)
	}
	if len(prefer) == 0 {
		return direct(client, g711AndEvents(client.Codecs)), nil
	}
	for _, c := range client.Codecs {
		if c.IsTelephoneEvent() {
			g711 = append(g711, c)
		}
	}
	return direct(client, g711), nil
}

// LimitG711 is offer as seen through a gateway trunk's codec list
// (gateways[].codecs): its G.711 codecs only those named in prefer, in
// prefer's order, ahead of its other codecs (which keep theirs); an
// answer built from it uses only those laws. Empty prefer returns offer
// as it is. ErrNoG711 when the offer has none of them.
func LimitG711(offer Media, prefer []string) (Media, error) {
	if len(prefer) == 0 {
		return offer, nil
	}
	codecs := G711Order(offer.Codecs, prefer)
	if len(codecs) == 0 {
		return offer, fmt.Errorf("gateway offered %s, the trunk allows %s: %w", codecNames(offer.Codecs), strings.Join(prefer, ", "), ErrNoG711)
	}
	for _, c := range offer.Codecs {
		if !c.IsG711() {
			codecs = append(codecs, c)
		}
	}
	offer.Codecs = codecs
	return offer, nil
}

// G711Order is the G.711 codecs of list whose names are in prefer, in
// prefer's order; empty prefer keeps list's G.711 codecs as they are.
func G711Order(list []Codec, prefer []string) []Codec {
	if len(prefer) == 0 {
		return filterCodecs(list, Codec.IsG711)
	}
	var out []Codec
	for _, name := range prefer {
		for _, c := range list {
			if c.IsG711() && strings.EqualFold(c.Name, name) {
				out = append(out, c)
			}
		}
	}
	return out
}

// ClientAnswer builds the answer sent to the client for an outbound call,
// from the client's offer and the gateway's answer (183 or 200). In bypass
// mode it points at the gateway's media address, carries bypassID and a host
// candidate pair for the gateway; otherwise it points at anchor with the
// codec the client should send so that, when possible, no transcoding is
// needed. Payload types are always the client's, as RFC 3264 §6.1 asks.
// The client's other m-lines (video, a second audio) are kept, rejected
// (see Answering). ErrNoG711 when the two sides share no G.711 (bypass) or
// either side has none (anchored).
func ClientAnswer(client, gateway Media, bypass bool, anchor netip.AddrPort, bypassID string) (Description, error) {
	if bypass {
		return clientAnswerBypass(client, gateway, bypassID)
	}
	return clientAnswerAnchored(client, gateway, anchor)
}

func clientAnswerBypass(client, gateway Media, bypassID string) (Description, error) {
	var codec Codec
	found := false
	for _, g := range gateway.Codecs {
		if !g.IsG711() {
			continue
		}
		if codec, found = findCodec(client.Codecs, g); found {
			break
		}
	}
	if !found {
		return Description{}, fmt.Errorf("client answer: gateway answered %s to client offer %s: %w",
			codecNames(gateway.Codecs), codecNames(client.Codecs), ErrNoG711)
	}
	codecs := append(make([]Codec, 0, 2), codec)
	// The client sends its events straight to the gateway, so it must use
	// the payload type the gateway declared it receives them on, which
	// need not be the one the client offered (RFC 3264 §6.1 allows it).
	if _, ok := client.TelephoneEvent(); ok {
		if te, ok := gateway.TelephoneEvent(); ok {
			codecs = append(codecs, te)
		}
	}
	d := direct(gateway, codecs)
	d.BypassID = bypassID
	d.Candidates = hostPair("1", prefFirst, gateway.RTP(), gateway.RTCP())
	return d.Answering(client), nil
}

func clientAnswerAnchored(client, gateway Media, anchor netip.AddrPort) (Description, error) {
	return ClientAnswerPrefer(client, gateway, anchor, nil)
}

// ClientAnswerPrefer is ClientAnswer for an anchored call with a codec
// preference for the client's leg: the first codec of the client's offer
// (in the offer's order) whose name is in prefer, where a G.711 law the
// gateway chose counts before the other (no transcoding needed). nil prefer
// means G.711 only. Only mono G.722 is taken (SfB also offers a stereo one).
func ClientAnswerPrefer(client, gateway Media, anchor netip.AddrPort, prefer []string) (Description, error) {
	// The gateway was offered only G.711, and the relay needs its choice.
	chosen := gateway.G711()
	if len(chosen) == 0 {
		return Description{}, fmt.Errorf("client answer: gateway answered %s: %w", codecNames(gateway.Codecs), ErrNoG711)
	}
	codec, ok := preferredCodec(client, chosen[0], prefer)
	if !ok {
		return Description{}, fmt.Errorf("client answer: client offered %s: %w", codecNames(client.Codecs), ErrNoG711)
	}
	codecs := append(make([]Codec, 0, 2), codec)
	if te, ok := eventsBoth(client, gateway); ok {
		codecs = append(codecs, te)
	}
	d, err := anchored(anchor, codecs, peerDirection(gateway), gateway)
	if err != nil {
		return Description{}, fmt.Errorf("client answer: %w", err)
	}
	d.Candidates = hostPair("1", prefFirst, anchor, rtcpOf(anchor))
	return d.Answering(client), nil
}

// CheckClientCodec reports, as ClientAnswerPrefer would once the gateway
// has answered, a client offer with none of the codecs an anchored leg can
// take (prefer's laws at 8 kHz mono, G.711 or G.722; empty prefer is PCMU,
// PCMA): ErrNoG711. A client's re-offer is checked before it goes to the
// gateway, which must not take an offer the client then gets refused.
func CheckClientCodec(client Media, prefer []string) error {
	_, err := ClientCodec(client, prefer)
	return err
}

// ClientCodec is the codec an anchored client leg takes from the client's
// SDP: its first format at 8 kHz mono that prefer (media.edge_codecs;
// empty: PCMU, PCMA) allows, G.711 or G.722; ErrNoG711 when none is.
func ClientCodec(client Media, prefer []string) (Codec, error) {
	c, ok := preferredCodec(client, Codec{}, prefer)
	if !ok {
		return Codec{}, fmt.Errorf("client offered %s: %w", codecNames(client.Codecs), ErrNoG711)
	}
	return c, nil
}

// preferredCodec picks the client's codec for an anchored leg.
func preferredCodec(client Media, gatewayLaw Codec, prefer []string) (Codec, bool) {
	if prefer == nil {
		prefer = []string{"PCMU", "PCMA"}
	}
	allowed := func(c Codec) bool {
		for _, name := range prefer {
			if strings.EqualFold(c.Name, name) && c.Rate == 8000 && channels(c) == 1 {
				return c.IsG711() || strings.EqualFold(c.Name, "G722")
			}
		}
		return false
	}
	for _, c := range client.Codecs {
		if !allowed(c) {
			continue
		}
		if c.IsG711() {
			// A G.711 pick: the gateway's law if the client has it.
			if same, ok := findCodec(client.G711(), gatewayLaw); ok && allowed(same) {
				return same, true
			}
		}
		return c, true
	}
	return Codec{}, false
}

// ClientOffer builds the offer sent to the client for an inbound call, from
// the gateway's offer. It always points at anchor, so clients that cannot
// bypass still get media, and offers the gateway's G.711 and
// telephone-event formats with the gateway's payload types (ErrNoG711 if
// the gateway offered no G.711). With a bypassID it also carries
// a=x-bypassid and the gateway's address as the preferred host candidate
// pair: a client whose own bypass ID matches then sends media straight to
// the gateway, which is how CCE lets the client make the inbound decision.
func ClientOffer(gateway Media, anchor netip.AddrPort, bypassID string) (Description, error) {
	if len(gateway.G711()) == 0 {
		return Description{}, fmt.Errorf("client offer: gateway offered %s: %w", codecNames(gateway.Codecs), ErrNoG711)
	}
	d, err := anchored(anchor, g711AndEvents(gateway.Codecs), peerDirection(gateway), gateway)
	if err != nil {
		return Description{}, fmt.Errorf("client offer: %w", err)
	}
	if bypassID == "" {
		d.Candidates = hostPair("1", prefFirst, anchor, rtcpOf(anchor))
		return d, nil
	}
	d.BypassID = bypassID
	d.Candidates = append(hostPair("1", prefFirst, gateway.RTP(), gateway.RTCP()),
		hostPair("2", prefSecond, anchor, rtcpOf(anchor))...)
	return d, nil
}

// ClientReofferAnchored builds the offer sent to the client of an anchored
// call from the gateway's re-offer (its hold, its resume, a new address):
// ClientOffer without a bypass ID, plus the G.711 laws of client, the
// client's latest SDP of the call, that the gateway's offer lacks and
// prefer (media.edge_codecs; nil: PCMU, PCMA) allows. The relay
// transcodes PCMU <-> PCMA, as it does when an outbound call's first
// answer gives the client its own law (ClientAnswerPrefer), so an SBC
// that re-offers only the other law (a resume in PCMA alone, legal by RFC
// 3264 §8.3.2) does not leave a client that has only its own law nothing
// to accept (488, the call stuck on hold). The gateway's laws come first,
// the added ones after them: a client that has the gateway's law answers
// it and the call runs without transcoding. An added law keeps the
// client's payload type, or takes its static one when the gateway's offer
// uses that number for another format, and is left out when both are
// taken. A client whose leg is on G.722 (the codec ClientAnswerPrefer
// picks from its latest SDP) gets G.722 first, ahead of the gateway's
// laws: an SBC's hold or resume does not take the client's wideband
// audio away for the rest of the call.
func ClientReofferAnchored(gateway Media, anchor netip.AddrPort, client Media, prefer []string) (Description, error) {
	d, err := ClientOffer(gateway, anchor, "")
	if err != nil {
		return d, err
	}
	if prefer == nil {
		prefer = []string{"PCMU", "PCMA"}
	}
	if c, ok := preferredCodec(client, Codec{}, prefer); ok && !c.IsG711() && !ptUsed(d.Codecs, c.PT) {
		c.Fmtp = ""
		d.Codecs = append([]Codec{c}, d.Codecs...)
	}
	var added []Codec
	for _, law := range G711Order(client.Codecs, prefer) {
		if _, ok := findCodec(d.Codecs, law); ok {
			continue
		}
		if _, ok := findCodec(added, law); ok {
			continue
		}
		law.Fmtp = ""
		if ptUsed(d.Codecs, law.PT) || ptUsed(added, law.PT) {
			law.PT = PCMU.PT
			if law.Same(PCMA) {
				law.PT = PCMA.PT
			}
			if ptUsed(d.Codecs, law.PT) || ptUsed(added, law.PT) {
				continue
			}
		}
		added = append(added, law)
	}
	if len(added) == 0 {
		return d, nil
	}
	// After the gateway's last G.711 format, ahead of its events.
	at := 0
	for i, c := range d.Codecs {
		if c.IsG711() {
			at = i + 1
		}
	}
	d.Codecs = append(d.Codecs[:at:at], append(added, d.Codecs[at:]...)...)
	return d, nil
}

// ptUsed reports whether list has a format with payload type pt.
func ptUsed(list []Codec, pt uint8) bool {
	for _, c := range list {
		if c.PT == pt {
			return true
		}
	}
	return false
}

// ClientReoffer builds the offer sent to the client of a bypassed call from
// the gateway's re-offer (hold, resume, a new media address): the
// gateway's own address, as GatewayOffer in bypass, with a=x-bypassid and
// that address as the client's preferred host candidate pair, as the
// client's first SDP of the call had it (ClientAnswer, ClientOffer): an
// ICE client reads candidates missing from a later offer as withdrawn
// (RFC 5245 §9.1.2.2). The anchor's candidates of an inbound first offer
// are not repeated: the relay is gone once the call is bypassed. A gateway
// holding with c=0.0.0.0 has no address to offer: no candidates.
func ClientReoffer(gateway Media, bypassID string) (Description, error) {
	d, err := GatewayOffer(gateway, true, netip.AddrPort{})
	if err != nil {
		return Description{}, err
	}
	d.BypassID = bypassID
	if d.Addr.IsValid() && !d.Addr.IsUnspecified() && d.Port > 0 && d.Port < 65535 {
		rtp := netip.AddrPortFrom(d.Addr.Unmap(), uint16(d.Port))
		rtcp := rtcpOf(rtp)
		if d.RTCPPort > 0 {
			rtcp = netip.AddrPortFrom(rtp.Addr(), uint16(d.RTCPPort))
		}
		d.Candidates = hostPair("1", prefFirst, rtp, rtcp)
	}
	return d, nil
}

// GatewayAnswer builds the answer sent to the gateway for an inbound call,
// from the gateway's offer and the client's answer. In bypass mode it points
// at the client's RTP address with the codec the client chose (it must be
// one the gateway offered); otherwise it points at anchor with the client's
// codec if the gateway offered it, else the gateway's first G.711. Payload
// types are always the gateway's, and the gateway's other m-lines are kept,
// rejected (see Answering).
func GatewayAnswer(gateway, client Media, bypass bool, anchor netip.AddrPort) (Description, error) {
	if bypass {
		return gatewayAnswerBypass(gateway, client)
	}
	return gatewayAnswerAnchored(gateway, client, anchor)
}

func gatewayAnswerBypass(gateway, client Media) (Description, error) {
	var codec Codec
	found := false
	for _, c := range client.G711() {
		if codec, found = findCodec(gateway.Codecs, c); found {
			break
		}
	}
	if !found {
		return Description{}, fmt.Errorf("gateway answer: client answered %s to gateway offer %s: %w",
			codecNames(client.Codecs), codecNames(gateway.Codecs), ErrNoG711)
	}
	codecs := append(make([]Codec, 0, 2), codec)
	if te, ok := gateway.TelephoneEvent(); ok {
		if _, ok := client.TelephoneEvent(); ok {
			codecs = append(codecs, te)
		}
	}
	return direct(client, codecs).Answering(gateway), nil
}

func gatewayAnswerAnchored(gateway, client Media, anchor netip.AddrPort) (Description, error) {
	offered := gateway.G711()
	if len(offered) == 0 {
		return Description{}, fmt.Errorf("gateway answer: gateway offered %s: %w", codecNames(gateway.Codecs), ErrNoG711)
	}
	codec := offered[0]
	if chosen := client.G711(); len(chosen) > 0 {
		if c, ok := findCodec(offered, chosen[0]); ok {
			codec = c
		}
	}
	codecs := append(make([]Codec, 0, 2), codec)
	if te, ok := eventsBoth(gateway, client); ok {
		codecs = append(codecs, te)
	}
	d, err := anchored(anchor, codecs, peerDirection(client), client)
	if err != nil {
		return Description{}, fmt.Errorf("gateway answer: %w", err)
	}
	return d.Answering(gateway), nil
}

// eventsBoth is the telephone-event format of offer, the SDP an anchored
// call answers, when the other leg's SDP has events too: the relay passes
// events only between two legs that both negotiated them, so an answer
// that listed them alone would make the offerer send its DTMF as events
// (RFC 4733 §2.5.1.2) that go nowhere. Without them it sends in-band
// tones, which the relay carries as audio (RFC 3264 §6.1: an answer lists
// only what the answerer will take).
func eventsBoth(offer, other Media) (Codec, bool) {
	te, ok := offer.TelephoneEvent()
	if !ok {
		return Codec{}, false
	}
	if _, ok := other.TelephoneEvent(); !ok {
		return Codec{}, false
	}
	return te, true
}

// direct describes peer's own media address, for bypass: the other side
// sends straight to it, at the peer's packetisation: its c=/m= address,
// which in an SfB client's own offer is its best host candidate (the
// address CCE gives the gateway). When c=/m= names one of the peer's host
// candidates but not its best one, the SDP was put together by a B2BUA:
// SfB Online sending a PSTN call back through us (call forwarding,
// simultaneous ring) hands on our own offer, whose c= is our relay port
// (our second host candidate) and whose best host candidate is the first
// SBC; the bypassed media must go there (our relay closes once that leg
// is bypassed). A c=/m= that no candidate lists (a client that moved its
// media without new candidates) is taken as it is.
func direct(peer Media, codecs []Codec) Description {
	d := Description{
		Addr:      peer.Addr,
		Port:      peer.Port,
		RTCPPort:  peer.RTCPPort,
		Codecs:    codecs,
		Direction: peerDirection(peer),
		Ptime:     int(peer.Ptime),
		MaxPtime:  int(peer.MaxPtime),
	}
	if rtp, rtcp, ok := bestHost(peer); ok && !peer.Addr.IsUnspecified() && rtp != peer.RTP() && isHostCandidate(peer, peer.RTP()) {
		d.Addr, d.Port, d.RTCPPort = rtp.Addr(), int(rtp.Port()), int(rtcp.Port())
	}
	return d
}

// isHostCandidate reports whether addr is one of peer's UDP host
// candidates of the RTP component.
func isHostCandidate(peer Media, addr netip.AddrPort) bool {
	for _, c := range peer.Candidates {
		if c.Component == ComponentRTP && strings.EqualFold(c.Type, "host") && strings.EqualFold(c.Transport, "UDP") && c.Addr == addr {
			return true
		}
	}
	return false
}

// bestHost is peer's highest-priority UDP host candidate of the RTP
// component in the family of its c= address, and the RTCP address that
// goes with it: the component-2 candidate of the same foundation, else
// a=rtcp's port when the host is the c= address, else the next port.
func bestHost(peer Media) (rtp, rtcp netip.AddrPort, ok bool) {
	var best *Candidate
	for i := range peer.Candidates {
		c := &peer.Candidates[i]
		if c.Component != ComponentRTP || !strings.EqualFold(c.Type, "host") || !strings.EqualFold(c.Transport, "UDP") ||
			c.Addr.Addr().Is4() != peer.Addr.Is4() || (best != nil && c.Priority <= best.Priority) {
			continue
		}
		best = c
	}
	if best == nil {
		return rtp, rtcp, false
	}
	rtp = best.Addr
	rtcp = netip.AddrPortFrom(rtp.Addr(), rtp.Port()+1)
	if rtp.Addr() == peer.Addr && rtp.Port() == uint16(peer.Port) && peer.RTCPPort > 0 {
		rtcp = netip.AddrPortFrom(rtp.Addr(), uint16(peer.RTCPPort))
	}
	for _, c := range peer.Candidates {
		if c.Component == ComponentRTCP && c.Foundation == best.Foundation && c.Addr.Addr() == rtp.Addr() {
			rtcp = c.Addr
		}
	}
	return rtp, rtcp, true
}

// anchored describes the mediation server's own port pair, with the
// packetisation of other, the peer whose media the relay forwards to the
// one this SDP goes to.
func anchored(anchor netip.AddrPort, codecs []Codec, dir string, other Media) (Description, error) {
	if !anchor.Addr().IsValid() || anchor.Addr().IsUnspecified() || anchor.Port() == 0 || anchor.Port() == 65535 {
		return Description{}, fmt.Errorf("%w: %v", ErrBadAnchor, anchor)
	}
	ptime, maxptime := packetisation(other)
	return Description{
		Addr:      anchor.Addr().Unmap(),
		Port:      int(anchor.Port()),
		RTCPPort:  int(anchor.Port()) + 1,
		Codecs:    codecs,
		Direction: dir,
		Ptime:     ptime,
		MaxPtime:  maxptime,
	}, nil
}

// relayMaxPtime is the longest packet, in ms, an anchored SDP lets a peer
// send: what one datagram the relay takes (at most 1472 bytes, the UDP
// payload of a 1,500-byte MTU; larger ones are dropped as malformed) holds
// of the audio the anchor carries. G.711 and G.722 are 8 bytes a ms, so
// (1472 - 12 RTP header - 10 SRTP tag - 4 MKI) / 8 = 182 ms; 180 is a
// multiple of 10, 20 and 30 ms and leaves room for a sender's header
// extension. A flat cap: every audio codec an anchored leg takes is one of
// these, and telephone-event packets are far smaller.
const relayMaxPtime = 180

// packetisation is the a=ptime and a=maxptime an anchored SDP carries:
// the other peer's, as its SDP gave them. The relay forwards each packet
// as it comes (transcoding G.711 keeps its duration), so the peer this SDP
// goes to receives the other peer's packets: a=ptime tells it what it
// will get, and, as a relay that does not repacketise must, a=maxptime
// passes on the longest packet the other peer takes, so that this peer
// packs within it (RFC 4566 §6). No a=ptime from the other peer is G.711's
// default (defaultPtime), or the other peer's a=maxptime if that is
// shorter; no a=maxptime stays none. Both are capped at relayMaxPtime:
// the relay itself receives the packets, and drops any it cannot carry
// (a peer's a=maxptime:200 would invite 200 ms packets of 1,612 bytes).
// The a=maxptime written is never below the a=ptime written (a peer's own
// a=ptime:30 a=maxptime:20 goes on as 30, 30): an SDP that contradicts
// itself leaves the receiver to guess, and the other peer's packets are
// what its a=ptime says.
func packetisation(other Media) (ptime, maxptime int) {
	maxptime = min(int(other.MaxPtime), relayMaxPtime) // 0: none (Parse keeps only positive values)
	ptime = int(other.Ptime)
	if ptime <= 0 {
		ptime = defaultPtime
		if maxptime > 0 {
			ptime = min(ptime, maxptime)
		}
	}
	ptime = min(ptime, relayMaxPtime)
	if maxptime > 0 && maxptime < ptime {
		maxptime = ptime
	}
	return ptime, maxptime
}

func rtcpOf(rtp netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(rtp.Addr().Unmap(), rtp.Port()+1)
}

// ForwardedDirection is the direction a B2BUA forwards on behalf of peer
// (peerDirection).
func ForwardedDirection(peer Media) string { return peerDirection(peer) }

// peerDirection is the direction to forward on behalf of peer. An RFC 2543
// hold (c=0.0.0.0) is forwarded as sendonly, because the anchor address that
// replaces it would otherwise invite the other side to send again.
func peerDirection(peer Media) string {
	if peer.Direction == SendRecv && peer.Addr.IsUnspecified() {
		return SendOnly
	}
	return peer.Direction
}

// g711AndEvents keeps PCMU, PCMA and telephone-event in their original order
// and payload types: the formats a gateway and a bypassing client share.
func g711AndEvents(list []Codec) []Codec {
	return filterCodecs(list, func(c Codec) bool { return c.IsG711() || c.IsTelephoneEvent() })
}

// codecNames renders a codec list for error messages.
func codecNames(list []Codec) string {
	if len(list) == 0 {
		return "no codecs"
	}
	names := make([]string, len(list))
	for i, c := range list {
		names[i] = fmt.Sprintf("%d %s/%d", c.PT, c.Name, c.Rate)
	}
	return "[" + strings.Join(names, ", ") + "]"
}
