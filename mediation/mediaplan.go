package mediation

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"github.com/mediation-emulator/mediation/gateway"
	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sdp"
)

// The media plan of a call: the offer/answer state towards both peers and,
// for an anchored call, the relay. Each case has its own file beside this
// one: outbound.go (client -> PSTN), inbound.go (PSTN -> client),
// delayedoffer.go (an inbound INVITE without SDP) and reoffer.go (offers
// inside the call: re-INVITE and UPDATE). Everything here is indexed by
// relay.Side (the edge peer, the gateway peer); which leg of the call is on
// which side is the call's business, decided once when it starts.

// errNotAcceptable carries the reason of a 488 to the caller.
type errNotAcceptable struct{ reason string }

func (e errNotAcceptable) Error() string { return e.reason }

// reasonHold is the real Mediation Server's reason phrase for an initial
// offer on hold (seen in the wild, sipwise/rtpengine #702).
const reasonHold = "Invalid incoming Gateway SDP: Call hold not allowed for initial INVITE offer"

// errNoPorts means the media port range is used up: 503.
var errNoPorts = errors.New("no media ports free")

// mediaPlan is one call's offer/answer state on both sides and, for an
// anchored call, its relay. It belongs to the call's goroutine.
type mediaPlan struct {
	dir   direction
	offer sdp.Media // the caller's initial offer
	// offerRaw is the body offer was parsed from (nil: a delayed offer,
	// or changed by us since, as by a trunk's codec list).
	offerRaw []byte
	bypassID string   // outbound: the ID answered to a bypassed client; inbound: the ID offered ("" = none)
	log      *callLog // the call's
	decision decision
	noOffer  decision // inbound: why no bypass ID was offered
	// gwOfferDir is the direction of the gateway's last accepted offer
	// (its own hold, not its answer to the client's): a transfer keeps it.
	gwOfferDir string
	relay      *relay.Session
	// legs are the relay's legs as last set (movedpeer.go moves one), nil
	// until set: a bypassed call has none, and they are large.
	legs *[2]relay.Leg
	// sdp is what we last sent each peer (relay.Edge, relay.Gateway).
	sdp [2]sdpLeg
	// codecs negotiated on each side, for the record.
	codecs [2]string
	// peers are the latest SDP each peer sent (offer or answer), by side,
	// raw the bodies they were parsed from (peersdp.go); packed says which
	// a settled call holds only as its body. peers is nil before the first
	// and once both are packed: not in the call's allocation, which it
	// would make larger for the whole call.
	peers  *[2]sdp.Media
	raw    [2][]byte
	packed [2]bool
	// lateOffer: the gateway's INVITE had no SDP (delayedoffer.go).
	lateOffer bool
	// onHold: the negotiated session does not let media flow both ways
	// on both legs (hold.go); counting: the call is answered, so the
	// relay's media timeout counts (on hold too, if the trunk says so).
	// updated: an offer/answer completed in the dialog (an early UPDATE):
	// each peer's latest SDP, not the caller's INVITE's offer, is what
	// the callee's 200 meets (earlyanswer.go). bestEffortSeen: the
	// gateway's best-effort SRTP offer was logged at info once
	// (usableOffer; its session refreshes repeat it). callerOffered: the
	// caller made the offer of the latest such exchange (its own UPDATE),
	// so its latest SDP is an offer a failover may make again; after the
	// callee's UPDATE it is the caller's answer, narrowed to that offer.
	// Beside packed and lateOffer, in one word.
	onHold, counting, updated, bestEffortSeen, callerOffered bool
	// late is a delayed-offer call's own state (delayedoffer.go), nil
	// for any other call and until needed: one word of the call's for
	// what only such a call uses (TestLongLivedSizeClasses).
	late *delayedState
	// keys are the SDES keying of each side; gwSRTP is the trunk's srtp mode.
	keys   [2]keying
	gwSRTP string
	// gwCodecs is the trunk's codecs: the G.711 laws offered to its SBC,
	// in order (nil: PCMU, PCMA; in bypass the client's order).
	gwCodecs []string
	// edgeCodecs is media.edge_codecs.
	edgeCodecs []string
	// relayOptions configures the relay of an anchored call (nil: none).
	// The options are built only when a relay is opened: a bypassed call
	// would hold them, and the closures in them, for its whole life.
	relayOptions relayOptioner
	// anchored, when set, is the decision of a call that is anchored
	// whatever the bypass rule says (a transfer we perform).
	anchored *decision
	// answer is the callee's last answer as received and parsed: SBCs
	// send the same SDP in their 183 and their 200. A cache the settled
	// call lets go (settle.go); nil: none.
	answer *parsedAnswer
	// early is what an anchored call answered the caller in its
	// provisionals, per early dialog (earlyanswer.go); the set-up's
	// only, let go once settled.
	early []earlyAnswer
	// signalling is the IP each peer's SIP comes from or goes to (the
	// caller's source, the callee's next hop): a peer behind a NAT sends
	// its media from there, so the relay accepts it before latching.
	signalling [2]netip.Addr
}

// sdpLeg remembers the SDP last sent to one peer so that o= stays the same
// for the same session and its version grows with every change (RFC 3264
// §8): its address is the first SDP's c=, whatever c= says later. A version
// is taken only by an SDP that goes to the peer: one built and not sent
// (our answer to an offer that came in an ACK) would have the next SDP
// skip a number.
type sdpLeg struct {
	origin sdp.Origin
	last   []byte
	// formats are what last declares we receive (the audio formats the
	// relay decodes, telephone-event, with their payload types): the peer
	// may send any of them that its own SDP lists too.
	formats declared
	// unsent: last is the session restored after an offer the peer
	// refused (mediaPlan.refuse), stamped with the version after the
	// refused offer's and not sent yet. The refused offer's version was
	// sent, so it is never used again; the next SDP sent, the restored
	// one or another, has the version after it. Beside formats, in the
	// padding.
	unsent bool
	// noSend: last does not let us send the peer media (recvonly or
	// inactive): the relay sends it no RTP (legFor).
	noSend bool
}

func newSDPLeg() sdpLeg {
	return sdpLeg{origin: sdp.Origin{SessionID: rand.Uint64N(1 << 62), Version: 1}}
}

// marshal stamps d with the leg's origin, bumping the version when the SDP
// differs from the last one sent; the caller sends the result to the peer.
func (l *sdpLeg) marshal(d sdp.Description) []byte {
	if !l.origin.Addr.IsValid() && !d.Addr.IsUnspecified() {
		// Not an RFC 2543 hold's 0.0.0.0: the origin would keep it for
		// the leg's life. Until a real address comes, marshal uses c='s.
		l.origin.Addr = d.Addr
	}
	d.Origin = l.origin
	body := d.Marshal()
	if l.last != nil && !bytes.Equal(body, l.last) && !l.unsent {
		l.origin = l.origin.Next()
		d.Origin = l.origin
		body = d.Marshal()
	}
	// Unsent, the origin has the version after the refused offer's
	// already: the next SDP sent takes it, whatever it says.
	l.unsent = false
	l.last = body
	l.formats = declaredIn(d.Codecs)
	l.noSend = !sends(d.Direction)
	return body
}

// restamped is l, its SDP stamped with the version after after's (RFC
// 3264 §8): the same session offered again, as the leg's record from then
// on (refuse, rollback, offerAgain).
func (l sdpLeg) restamped(after sdp.Origin) (sdpLeg, error) {
	next := after.Next()
	body, err := l.origin.Restamp(l.last, next.Version)
	if err != nil {
		return sdpLeg{}, err
	}
	return sdpLeg{origin: next, last: body, formats: l.formats, noSend: l.noSend}, nil
}

// send is last, about to be sent to the peer again (the SDP it already
// has, offered in our 200 to its re-INVITE without SDP, say): a restored
// session not sent yet (unsent) takes its version by going out.
func (l *sdpLeg) send() []byte {
	l.unsent = false
	return l.last
}

// parseInitialOffer checks an initial INVITE's SDP. An inbound INVITE
// without SDP is a delayed offer (late is true): we make the offer, in our
// 200, and the gateway answers in its ACK.
func parseInitialOffer(dir direction, body []byte) (offer sdp.Media, late bool, err error) {
	if dir == inbound && len(bytes.TrimSpace(body)) == 0 {
		return sdp.Media{Codecs: []sdp.Codec{sdp.PCMU, sdp.PCMA, sdp.TelephoneEvent}, Proto: "RTP/AVP"}, true, nil
	}
	offer, err = parseOffer(body)
	return offer, false, err
}

// parseOffer checks the caller's initial offer; the error says which 488.
func parseOffer(body []byte) (sdp.Media, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return sdp.Media{}, errNotAcceptable{"No SDP offer: delayed-offer INVITEs are not supported"}
	}
	m, err := sdp.Parse(body)
	switch {
	case errors.Is(err, sdp.ErrNoAudio):
		return m, errNotAcceptable{"No audio media in the SDP offer"}
	case err != nil:
		return m, errNotAcceptable{"Unparseable SDP offer"}
	case m.OnHold():
		return m, errNotAcceptable{reasonHold}
	}
	return m, nil
}

// usableOffer is offer, parsed from raw, of the peer on side; the
// gateway's is taken as a trunk with SRTP off can take it: when its first audio line is RTP/SAVP and a later one is
// plain RTP (best-effort SRTP by duplicated m-lines), offer is that plain
// line, and the RTP/SAVP one is answered rejected, port 0, with the
// offer's other lines (RFC 3264 §6). raw then comes back nil, so that the
// plan keeps the parsed offer: the body would parse to the RTP/SAVP line
// again (latest). Any other offer comes back as it was.
func (p *mediaPlan) usableOffer(side relay.Side, offer sdp.Media, raw []byte) (sdp.Media, []byte) {
	if side != relay.Gateway || p.gwSRTP != srtpOff || !offer.RequiresSRTP() || len(raw) == 0 {
		return offer, raw
	}
	plain, err := sdp.ParseUsable(raw, func(proto string) bool { return !(sdp.Media{Proto: proto}).RequiresSRTP() })
	if err != nil {
		return offer, raw // no plain audio line: refused as an RTP/SAVP offer
	}
	ev := p.log.Debug()
	if !p.bestEffortSeen {
		// Once a call: an SBC repeats the offer at each session refresh.
		p.bestEffortSeen = true
		ev = p.log.Info()
	}
	ev.Int("audio_line", plain.AudioIndex+1).Str("refused_proto", offer.Proto).
		Msg("the gateway offered SRTP and plain RTP in separate audio lines: SRTP is off for it, so the plain one is taken")
	return plain, nil
}

// fresh is an empty plan for the same call with offer as the caller's SDP
// (a failover to another trunk, a transfer we perform): it keeps what
// belongs to the call rather than to one offer/answer, its logger, the
// edge's codec list, the relay's options and the peers' signalling IPs.
func (p *mediaPlan) fresh(dir direction, offer sdp.Media, raw []byte) mediaPlan {
	return mediaPlan{dir: dir, offer: offer, offerRaw: raw, log: p.log, edgeCodecs: p.edgeCodecs,
		relayOptions: p.relayOptions, signalling: p.signalling}
}

// relayOptioner gives the options of a call's relay (the call does), and
// whether its media timeout runs on hold (the trunk's rtcp_calls_on_hold).
type relayOptioner interface {
	relayOptions() []relay.SessionOption
	holdTimeout() bool
}

// useTrunk makes the plan's gateway side trunk t's: its SRTP mode and codec
// list shape the gateway's offer. Outbound, the trunk's SBC sends its media
// from its own address (relay latching accepts it): the new trunk's after
// a failover or a transfer.
func (p *mediaPlan) useTrunk(t gateway.Trunk) {
	p.gwSRTP, p.gwCodecs = t.SRTP, t.Codecs
	if p.dir == outbound {
		p.signalling[relay.Gateway] = t.Addr.Addr()
	}
}

// planOffer decides what the callee is offered, with the settings in force
// when the call arrived.
func (p *mediaPlan) planOffer(s BypassSettings, trunkBypass bool, alloc *relay.Allocator) ([]byte, error) {
	p.sdp = [2]sdpLeg{newSDPLeg(), newSDPLeg()}
	switch {
	case p.dir == outbound:
		return p.outboundOffer(s, trunkBypass, alloc)
	case p.lateOffer:
		return p.delayedOffer(alloc)
	default:
		return p.inboundOffer(s, trunkBypass, alloc)
	}
}

// planAnswer turns the callee's answer (an 18x or the 200) into the
// caller's answer and points the relay at both peers. final says whether
// this is the 200: an inbound call's bypass releases the relay only then.
// tag is our To-tag of the caller's early dialog the response goes to: an
// anchored call answers each early dialog once (earlyanswer.go).
func (p *mediaPlan) planAnswer(body []byte, final bool, tag string) ([]byte, error) {
	ans, err := p.parseAnswer(body)
	if err != nil {
		return nil, fmt.Errorf("far side's SDP answer: %w", err)
	}
	if len(ans.G711()) == 0 {
		return nil, fmt.Errorf("far side's SDP answer: %w", sdp.ErrNoG711)
	}
	var out []byte
	var d sdp.Description
	e := p.earlyFor(tag)
	switch {
	case p.lateOffer:
		return p.delayedAnswer(ans, body, final, tag)
	case e != nil && e.decision.bypass && p.dir == inbound:
		// Decided afresh: the client's answer says where it sends
		// (earlyanswer.go).
		out, d, err = p.inboundAnswer(ans, body, !final)
		// Any answer that anchors the dialog, an 18x's too (a 200
		// without SDP repeats it): the gateway may keep the first.
		if err == nil {
			e.moved = !p.decision.bypass
		}
	case e != nil && !e.decision.bypass:
		out, err = p.answerAgain(e, ans, body)
	case p.dir == outbound:
		out, d, err = p.outboundAnswer(ans, body, !final)
	default:
		out, d, err = p.inboundAnswer(ans, body, !final)
	}
	if err != nil {
		return nil, err
	}
	if !final {
		peer, raw := p.callerLatest()
		p.keepEarly(tag, d, peer, raw)
	}
	if p.decision.bypass && final {
		p.closeRelay()
	}
	return out, nil
}

// parseAnswer parses the callee's answer; the same body again (the 200
// after a 183 with the same SDP) is not parsed twice: a parsed Media is
// never changed, so the first one serves.
func (p *mediaPlan) parseAnswer(body []byte) (sdp.Media, error) {
	if p.answer != nil && bytes.Equal(body, p.answer.body) {
		return p.answer.media, nil
	}
	ans, err := sdp.Parse(body)
	if err != nil {
		return ans, err
	}
	p.answer = &parsedAnswer{body: body, media: ans}
	return ans, nil
}

// parsedAnswer is an SDP answer as received and as parsed.
type parsedAnswer struct {
	body  []byte
	media sdp.Media
}

// callerSide is the side the caller's SDP comes from.
func (p *mediaPlan) callerSide() relay.Side {
	if p.dir == outbound {
		return relay.Edge
	}
	return relay.Gateway
}

// lastAnswer is the caller's answer already sent, to be sent again (a 200
// without SDP after a 183 with SDP repeats it).
func (p *mediaPlan) lastAnswer() []byte { return p.sdp[p.callerSide()].send() }

// answered starts the relay's media timeout, unless the session the
// answer negotiated is on hold (a queue that answers a=inactive).
func (p *mediaPlan) answered() {
	p.counting = true
	p.negotiated()
}

func (p *mediaPlan) openRelay(alloc *relay.Allocator) error {
	var opts []relay.SessionOption
	if p.relayOptions != nil {
		opts = p.relayOptions.relayOptions()
	}
	r, err := relay.NewSession(alloc, p.log.Logger(), opts...)
	if err != nil {
		if errors.Is(err, relay.ErrExhausted) {
			// With the allocator's reason: its last bind error.
			return fmt.Errorf("%w: %v", errNoPorts, err)
		}
		return fmt.Errorf("media relay: %w", err)
	}
	// The media timeout counts only once the call is answered: a call may
	// ring for longer than the timeout without early media.
	r.SuspendTimeout(true)
	r.Start()
	p.relay = r
	return nil
}

// local is our RTP address on a side, the zero address for a bypassed call.
func (p *mediaPlan) local(side relay.Side) netip.AddrPort {
	if p.relay == nil {
		return netip.AddrPort{}
	}
	return p.relay.Local(side)
}

// relayPeer is one peer as the relay is told of it after an offer/answer.
type relayPeer struct {
	media sdp.Media // the peer's SDP
	codec sdp.Codec // the format we send it, and the first it may send
	ours  declared  // what our SDP to it declares we receive
	// noSend: our SDP to it does not let us send (recvonly, inactive).
	noSend bool
}

// pointRelay tells the relay where each peer takes media and in which codec.
// events says whether telephone-event is negotiated on both legs (the
// relay passes events only then, with each leg's own payload type).
func (p *mediaPlan) pointRelay(gw, edge relayPeer, events bool) error {
	return p.pointRelayEvents(gw, edge, events, events)
}

// pointRelayEvents is pointRelay for legs that may differ in events:
// gwEvents and edgeEvents say whether each peer negotiated telephone-event
// with us (the relay renders a peer's events as tones towards a leg
// without: earlyanswer.go).
func (p *mediaPlan) pointRelayEvents(gw, edge relayPeer, gwEvents, edgeEvents bool) error {
	if p.relay == nil {
		return errors.New("anchored call without a relay")
	}
	gwLeg, edgeLeg := p.legFor(relay.Gateway, gw, gwEvents), p.legFor(relay.Edge, edge, edgeEvents)
	gwLeg.SRTP, edgeLeg.SRTP = p.keys[relay.Gateway].relay(), p.keys[relay.Edge].relay()
	if err := p.relay.SetLeg(relay.Gateway, gwLeg); err != nil {
		return err
	}
	p.codecs[relay.Gateway], p.codecs[relay.Edge] = gw.codec.Name, edge.codec.Name
	if err := p.relay.SetLeg(relay.Edge, edgeLeg); err != nil {
		return err
	}
	p.legs = &[2]relay.Leg{relay.Gateway: gwLeg, relay.Edge: edgeLeg}
	return nil
}

// legFor is the relay's view of the peer on side: where its SDP says to
// send media, in which codec (and events, with its payload type, when both
// legs negotiated them), the other formats it may send us (those of its
// SDP that ours lists too and the relay decodes on side: RFC 3264 §6.1
// lets either end send any format both list, not only the first), and the
// IPs its media may come from before the relay latches to it (its SIP
// peer's, its ICE candidates'). The peer may send its events and audio
// formats with the payload types of our SDP as well as its own: RFC 3264
// §5.1 and §6.1 have each end send with the numbers of the other's SDP
// (an answerer with the offer's, even where its answer renumbered them),
// and many SBCs send with their own; a number of ours that the peer's SDP
// gives to another format is left out (its own numbering wins).
func (p *mediaPlan) legFor(side relay.Side, rp relayPeer, events bool) relay.Leg {
	m, c := rp.media, rp.codec
	// RFC 3264 §5.1, §6.1: we send the peer media only if our SDP to it
	// says we send and its own says it receives; a lax peer that answers
	// our a=inactive with a=sendrecv gets nothing, nor do the other
	// peer's packets reach one that holds.
	noSend := rp.noSend || !receives(m.Direction)
	l := relay.Leg{RTP: m.RTP(), RTCP: m.RTCP(), NoSend: noSend, Codec: relay.Codec{PT: c.PT, Name: c.Name}}
	if ev, ok := m.TelephoneEvent(); ok && events {
		l.Codec.EventPT = ev.PT
		if o := rp.ours.event; o != 0 && o != c.PT && !ptIn(m.Codecs, o) {
			l.Codec.OurEventPT = o
		}
	}
	for _, f := range m.Codecs {
		bit := formatOf(f)
		if bit == 0 || rp.ours.audio&bit == 0 || (side == relay.Gateway && bit == formatG722) {
			continue
		}
		if f.PT != c.PT {
			l.Codec.Accept = append(l.Codec.Accept, relay.Format{PT: f.PT, Name: f.Name})
		}
		// Static numbers (0, 8, 9) are the same in both SDPs; a dynamic
		// one for a G.711 law may not be.
		if o := rp.ours.pt(bit); o != c.PT && !ptIn(m.Codecs, o) {
			l.Codec.Accept = append(l.Codec.Accept, relay.Format{PT: o, Name: f.Name})
		}
	}
	l.Sources = p.sources(side, m)
	return l
}

// ptIn reports whether list has a format of payload type pt.
func ptIn(list []sdp.Codec, pt uint8) bool {
	for _, f := range list {
		if f.PT == pt {
			return true
		}
	}
	return false
}

// sends reports whether an SDP of direction dir lets its sender send
// (sendrecv, sendonly; none or an unknown one is sendrecv).
func sends(dir string) bool {
	d := strings.ToLower(dir)
	return d != sdp.RecvOnly && d != sdp.Inactive
}

// receives reports whether an SDP of direction dir lets its sender receive.
func receives(dir string) bool {
	d := strings.ToLower(dir)
	return d != sdp.SendOnly && d != sdp.Inactive
}

// sources are the IPs the media of side's peer, whose SDP is m, may come
// from before the relay latches to it: its SIP peer's, its ICE candidates'.
func (p *mediaPlan) sources(side relay.Side, m sdp.Media) []netip.Addr {
	var out []netip.Addr
	if ip := p.signalling[side]; ip.IsValid() {
		out = append(out, ip)
	}
	for _, cand := range m.Candidates {
		out = append(out, cand.Addr.Addr())
	}
	return out
}

func (p *mediaPlan) closeRelay() {
	if p.relay != nil {
		p.relay.Close()
		p.relay = nil
	}
}

// legRecords reports each side's media for the call record.
func (p *mediaPlan) legRecords() (edge, gw LegRecord) {
	edge.Codec, gw.Codec = p.codecs[relay.Edge], p.codecs[relay.Gateway]
	if p.relay == nil {
		return edge, gw
	}
	st := p.relay.Stats()
	if before, ok := p.relay.Earlier(); ok {
		// A transfer we performed moved the call to this relay: the
		// record is the whole call's (README "Call quality records").
		// The edge leg's peer was another party then, so its jitter and
		// round trip are the last one's alone.
		cur := st.Edge
		st = st.Plus(before)
		st.Edge.Jitter, st.Edge.RTT = cur.Jitter, cur.RTT
	}
	fill := func(l *LegRecord, s relay.SideStats) {
		l.PacketsSent, l.PacketsReceived = s.RTPSent, s.RTPAccepted
		l.BytesSent, l.BytesReceived = s.RTPSentBytes, s.RTPAcceptedBytes
		l.PacketsLost = s.Lost
		l.JitterMs = float64(s.Jitter) / float64(time.Millisecond)
		l.RTTMs = float64(s.RTT) / float64(time.Millisecond)
		l.PacketsRefused = s.Dropped.Foreign
		l.PacketsDropped = droppedPackets(s.Dropped)
	}
	fill(&edge, st.Edge)
	fill(&gw, st.Gateway)
	return edge, gw
}
