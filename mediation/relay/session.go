package relay

// This file is the media session of one anchored call: two port pairs, the
// two legs, and the goroutines that relay between them.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation/arrival"
)

// readErrorBackoff spaces out retries after an unexpected read error so a
// persistent socket error cannot spin a reader at full CPU.
const readErrorBackoff = 10 * time.Millisecond

// Session relays the media of one anchored call between the edge and the
// gateway side. Create it with NewSession, advertise Local in the SDP, set
// each peer with SetLeg, Start it, and Close it when the call ends.
//
// Per side it runs an RTP reader (which relays to the other side) and an
// RTCP reader (which terminates the peer's RTCP); two timers send our RTCP
// reports and watch for media timeouts (timeout.go).
type Session struct {
	// log is the session's logger, replaced whole by SetLogger while the
	// readers log with it.
	log   atomic.Pointer[zerolog.Logger]
	opts  sessionOptions
	pairs [2]*PortPair
	legs  [2]legState
	// pipes[x] relays RTP received on side x; only x's RTP reader uses it.
	pipes [2]*pipeline
	// ssrc[y] is the SSRC of our stream towards side y: atomic, as
	// Inherit makes it the previous session's while the reporter and the
	// RTCP readers run.
	ssrc  [2]atomic.Uint32
	cname string
	// handover[y] is the state of our stream towards side y that this
	// session carries on from a previous one (Inherit), until y's sending
	// reader (the other side's RTP reader) installs it in its rewriter at
	// its next packet; awaitingStream while it is awaited (Await), when
	// nothing goes to y's peer; nil otherwise.
	handover [2]atomic.Pointer[rewriter]
	// handedOff[y]: our stream towards side y goes on in another session
	// (HandOff), so Close sends y's peer no RTCP BYE for it.
	handedOff [2]atomic.Bool
	// earlier is what the call's previous sessions carried (Continues),
	// nil for none.
	earlier atomic.Pointer[Stats]
	// epoch starts the session clock: durations since it, monotonic.
	epoch time.Time

	suspended atomic.Bool
	timedOut  atomic.Bool
	// lastCheck is the session clock of the last media-timeout check,
	// which tests wait on instead of sleeping.
	lastCheck atomic.Int64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	setMu sync.Mutex // serialises SetLeg

	mu      sync.Mutex
	started bool
	closed  bool
	// reportTimer and checkTimer run the housekeeping; guarded by mu.
	reportTimer, checkTimer *time.Timer

	closeOnce sync.Once
	closeErr  error
}

// NewSession allocates one port pair per side from a. The session relays
// nothing until Start.
func NewSession(a *Allocator, log zerolog.Logger, opts ...SessionOption) (*Session, error) {
	o := defaultSessionOptions()
	for _, opt := range opts {
		opt(&o)
	}
	edge, err := a.allocate(Edge)
	if err != nil {
		return nil, fmt.Errorf("relay session edge ports: %w", err)
	}
	gw, err := a.allocate(Gateway)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("relay session gateway ports: %w", err), edge.Close())
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Session{
		opts:   o,
		pairs:  [2]*PortPair{Edge: edge, Gateway: gw},
		cname:  fmt.Sprintf("%016x@mediation", rand.Uint64()),
		epoch:  time.Now(),
		ctx:    ctx,
		cancel: cancel,
	}
	s.SetLogger(log)
	for _, side := range []Side{Edge, Gateway} {
		// Random starting values (RFC 3550 §5.1) so our streams cannot be
		// confused with an earlier call's on a reused port.
		s.pipes[side] = newPipeline(newRewriter(rand.Uint32(), uint16(rand.Uint32()), rand.Uint32()))
		s.ssrc[side.Other()].Store(s.pipes[side].rw.ssrc)
	}
	return s, nil
}

// SetLogger makes log the base of the session's log lines from now on
// (each adds the session's component and local addresses). A call that
// moves to another trunk keeps its relay, and its relay's lines must name
// the trunk it is with. Safe while the session runs.
func (s *Session) SetLogger(log zerolog.Logger) {
	l := log.With().Str("component", "relay").
		Stringer("edge_rtp", s.pairs[Edge].Addr()).Stringer("gateway_rtp", s.pairs[Gateway].Addr()).Logger()
	s.log.Store(&l)
}

// logger is the session's current logger.
func (s *Session) logger() *zerolog.Logger { return s.log.Load() }

// Local is our RTP address on side (RTCP is the next port), for the SDP.
func (s *Session) Local(side Side) netip.AddrPort {
	if !side.valid() {
		return netip.AddrPort{}
	}
	return s.pairs[side].Addr()
}

// SetLeg tells the session where side's peer expects media, in which codec
// and with which SRTP keys. It may be called before or after Start, and
// again on re-INVITE; the readers pick up the new leg with the next packet.
// A leg whose address changes is latched afresh; SRTP contexts are kept
// when the keys are the same. The leg's media timeout restarts.
func (s *Session) SetLeg(side Side, leg Leg) error {
	if !side.valid() {
		return fmt.Errorf("relay set leg: unknown side %d", int(side))
	}
	s.setMu.Lock()
	defer s.setMu.Unlock()
	l := &s.legs[side]
	p, err := newPeer(leg, l.peer.Load())
	if err != nil {
		return fmt.Errorf("relay set %s leg: %w", side, err)
	}
	if side == Gateway && p.decodes(kindG722) {
		return fmt.Errorf("relay set %s leg: G722 is only supported on the edge side", side)
	}
	l.hear(s.now())
	l.setPeer(p)
	s.logger().Debug().Stringer("side", side).Stringer("peer_rtp", p.rtp).Stringer("peer_rtcp", p.rtcp).
		Str("codec", p.codec.String()).Uint8("pt", leg.Codec.PT).Uint8("event_pt", leg.Codec.EventPT).
		Uint8("our_event_pt", p.leg.Codec.OurEventPT).Bool("srtp", p.srtp != nil).Bool("no_send", leg.NoSend).Msg("leg set")
	return nil
}

// awaitingStream marks a stream awaited from a previous session (Await).
var awaitingStream = &rewriter{}

// Await holds what the session sends side's peer, RTP and RTCP, until
// Inherit gives it the state of our stream towards that peer from the
// call's previous session: a peer whose media moves to this session (a
// transfer re-points the PSTN party to the new call's relay) must not
// get a packet of another stream of ours first. The RTP that would have
// gone meanwhile is dropped as no peer. Call it before side's leg is
// set.
func (s *Session) Await(side Side) {
	if side.valid() {
		s.handover[side].CompareAndSwap(nil, awaitingStream)
	}
}

// HandOff says that our stream towards side's peer goes on in another
// session of the call (Inherit), so Close sends that peer no RTCP BYE
// for it (RFC 3550 §6.3.7: the peer would end the source, whose packets
// then go on). Call it before Close.
func (s *Session) HandOff(side Side) {
	if side.valid() {
		s.handedOff[side].Store(true)
	}
}

// Inherit carries side's streams over from old, a session of the same
// call that has been closed (Close has returned: its readers are gone,
// so its state is no goroutine's), to this one, whose leg on side SetLeg
// gave: a peer whose media moves to this session (a transfer re-points
// the PSTN party to the new call's relay) goes on with its stream, and
// so does ours towards it.
//
// The peer's stream: its SSRC, sequence numbers and rollover counter go
// on (RFC 3711 §3.2.1), and a new receive context at rollover counter 0
// would refuse all of it once that stream has wrapped (about 22 minutes
// in). Under the same receive key the old contexts are taken as they are
// (rollover counters, replay window, SRTCP index); under another the new
// ones start from their rollover counters (seededRTP), and the old key
// has its grace.
//
// Ours: the same SSRC, the next sequence number, the timestamp advanced
// by the wall time since our last packet and the marker bit on the first
// packet (as when the other peer restarts its stream: rewriter.rebase),
// the sender report's counts going on. Under the same send key the old
// send contexts are taken as they are, so that its rollover counter and
// SRTCP index go on (new contexts under that key would repeat key
// stream); under another key the stream is new to the peer's contexts,
// at rollover counter 0, as after a re-offer that changes our key.
//
// Whatever comes of it, a stream Await held is released.
func (s *Session) Inherit(side Side, old *Session) error {
	if !side.valid() {
		return fmt.Errorf("relay inherit: unknown side %d", int(side))
	}
	defer s.handover[side].CompareAndSwap(awaitingStream, nil)
	if old == nil || old == s {
		return nil
	}
	old.mu.Lock()
	closed := old.closed
	old.mu.Unlock()
	if !closed {
		return errors.New("relay inherit: the old session is still open")
	}
	s.setMu.Lock()
	defer s.setMu.Unlock()
	s.inheritSRTP(side, old)
	// After the send contexts: the reader that installs the stream loads
	// the peer, with them, after it (handleRTP).
	s.inheritStream(side, old)
	return nil
}

// inheritSRTP carries side's SRTP contexts over from old (Inherit), when
// both legs use SRTP of one suite. s.setMu is held.
func (s *Session) inheritSRTP(side Side, old *Session) {
	prev := old.legs[side].peer.Load()
	l := &s.legs[side]
	cur := l.peer.Load()
	if prev == nil || cur == nil || prev.srtp == nil || cur.srtp == nil || prev.srtp.cfg.Profile != cur.srtp.cfg.Profile {
		return
	}
	next := *cur
	next.srtp = cur.srtp.inheriting(prev.srtp)
	l.setPeer(&next)
	s.logger().Debug().Stringer("side", side).Bool("send_contexts", next.srtp.rtpOut == prev.srtp.rtpOut).
		Msg("SRTP state carried over from the call's previous relay")
}

// inheritStream makes our stream towards side old's (Inherit): its
// rewriter, SSRC and sender report state, their times moved to this
// session's clock.
func (s *Session) inheritStream(side Side, old *Session) {
	shift := old.epoch.Sub(s.epoch)
	rw := *old.pipes[side.Other()].rw
	if h := old.handover[side].Load(); h != nil && h != awaitingStream {
		// old took the stream over itself and sent nothing since.
		rw = *h
	}
	rw.lastAt += shift
	// The next packet, whatever its input stream, starts a new one of
	// ours from the last packet sent (rebase).
	rw.started = false
	from, to := &old.legs[side].send, &s.legs[side].send
	from.mu.Lock()
	packets, octets, haveTS, lastTS, lastAt := from.packets, from.octets, from.haveTS, from.lastTS, from.lastAt+shift
	from.mu.Unlock()
	to.mu.Lock()
	to.packets, to.octets, to.haveTS, to.lastTS, to.lastAt = packets, octets, haveTS, lastTS, lastAt
	to.mu.Unlock()
	s.ssrc[side].Store(rw.ssrc)
	s.handover[side].Store(&rw)
	s.logger().Debug().Stringer("side", side).Uint32("ssrc", rw.ssrc).Msg("our stream carried over from the call's previous relay")
}

// Continues makes s the successor of old, a closed session of the same
// call (a transfer moved the call to s): Earlier reports old's final
// statistics, with those of the sessions old continued.
func (s *Session) Continues(old *Session) {
	if old == nil || old == s {
		return
	}
	e := old.Stats()
	if before, ok := old.Earlier(); ok {
		e = e.Plus(before)
	}
	s.earlier.Store(&e)
}

// Earlier is what the call's sessions before this one carried
// (Continues); ok is false when there were none.
func (s *Session) Earlier() (Stats, bool) {
	if e := s.earlier.Load(); e != nil {
		return *e, true
	}
	return Stats{}, false
}

// SuspendTimeout suspends the media timeout (on): before the call is
// answered, and on hold when the trunk does not end held calls without
// RTCP. Off, the count restarts from now: each leg gets a full timeout.
// Media keeps being relayed either way.
func (s *Session) SuspendTimeout(on bool) {
	if !on {
		// Restart the count before lifting the suspension, so a concurrent
		// check that sees it lifted also sees the fresh times.
		now := s.now()
		s.legs[Edge].hear(now)
		s.legs[Gateway].hear(now)
	}
	s.suspended.Store(on)
	s.logger().Debug().Bool("suspended", on).Msg("media timeout suspension changed")
}

// Start launches the readers and the reporter. It does nothing if the
// session is already started or closed.
func (s *Session) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return
	}
	s.started = true
	now := s.now()
	for _, side := range []Side{Edge, Gateway} {
		s.legs[side].hear(now)
		s.wg.Add(2)
		go s.readRTP(side)
		go s.readRTCP(side)
	}
	s.startHousekeeping()
	s.logger().Debug().Bool("latching", s.opts.latching).Int64("media_timeout_ms", s.opts.mediaTimeout.Milliseconds()).
		Int64("rtcp_interval_ms", s.opts.rtcpInterval.Milliseconds()).Msg("relay started")
}

// Close stops the goroutines, waits for them, sends each peer an RTCP BYE,
// and returns both port pairs to the allocator. It is idempotent, safe without Start, and safe to call
// from the media-timeout callback.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		started := s.started
		s.stopHousekeeping()
		s.mu.Unlock()
		s.cancel()
		if started {
			// A past deadline wakes readers blocked in ReadFromUDPAddrPort;
			// they see the cancelled context and return.
			for _, p := range s.pairs {
				_ = p.RTP.SetReadDeadline(time.Unix(1, 0))
				_ = p.RTCP.SetReadDeadline(time.Unix(1, 0))
			}
			s.wg.Wait()
			s.sendGoodbyes()
		}
		s.closeErr = errors.Join(s.pairs[Edge].Close(), s.pairs[Gateway].Close())
		s.logger().Debug().Err(s.closeErr).Msg("relay closed")
	})
	return s.closeErr
}

// Stats returns a snapshot of the counters and measurements of both sides.
func (s *Session) Stats() Stats {
	return Stats{
		Edge:    s.legs[Edge].snapshot(s.opts.latching),
		Gateway: s.legs[Gateway].snapshot(s.opts.latching),
	}
}

// now is the session clock: monotonic time since NewSession.
func (s *Session) now() time.Duration { return time.Since(s.epoch) }

// readRTP reads RTP arriving on side x, runs it through the stages and sends
// the result to the other side's peer from our RTP socket on that side, so
// the peer sees media coming from the address we advertised to it.
func (s *Session) readRTP(x Side) {
	defer s.wg.Done()
	y := x.Other()
	in, out := s.pairs[x].RTP, s.pairs[y].RTP
	rx := &s.legs[x]
	pipe := s.pipes[x]
	buf := readBuffer()
	var oob []byte
	if s.opts.delay != nil && arrival.Enable(in) {
		oob = make([]byte, arrival.OOBSize)
	}
	for {
		n, oobn, src, err := arrival.ReadFrom(in, buf, oob)
		if err != nil {
			if s.readFailed(x, "rtp", err) {
				return
			}
			continue
		}
		from := unmap(src)
		if s.opts.tap != nil {
			s.opts.tap(true, s.pairs[x].Addr(), from, buf[:n])
		}
		now := s.now()
		rx.rtpReceived.Add(1)
		rx.rtpReceivedBytes.Add(uint64(n))
		if tooLarge(n) {
			s.dropped(x, DropMalformed, -1)
			continue
		}
		pkt, dst, reason := s.handleRTP(x, buf[:n], from, now)
		sent := false
		for {
			switch reason {
			case dropNone:
			case dropAbsorbed: // used, nothing to send
			case DropSendFailed: // encrypting towards y's peer
				s.dropped(y, reason, -1)
			case DropUnknownPT:
				s.dropped(x, reason, int(pipe.in.PayloadType))
			default:
				s.dropped(x, reason, -1)
			}
			if reason != dropNone || pkt == nil {
				break
			}
			sent = s.sendRTP(y, out, pkt, dst, now) || sent
			if pipe.toneTo != nil && !pipe.toneNoted {
				pipe.toneNoted = true
				s.logger().Info().Stringer("side", y).
					Msg("playing the other peer's DTMF events to this leg as in-band tones: it did not negotiate telephone-event")
			}
			// A DTMF event rendered as tones may have more frames due.
			pkt, reason = pipe.next()
		}
		if pipe.toneSkipped > 0 && !pipe.skipNoted {
			pipe.skipNoted = true
			s.logger().Warn().Stringer("side", y).Uint64("skipped_ms", pipe.toneSkipped*1000/clockRate).
				Msg("a DTMF event reported more tone than real time allows (lost updates, or a broken or hostile sender): the excess is skipped, not played in a burst")
		}
		if !sent {
			continue
		}
		if d, ok := arrival.Age(oob[:oobn], time.Now()); ok {
			s.opts.delay(x, d)
		}
	}
}

// sendRTP sends pkt, built by side y's pipeline, to y's peer at dst from
// our socket out on side y, and accounts it; false if the write failed.
func (s *Session) sendRTP(y Side, out *net.UDPConn, pkt []byte, dst netip.AddrPort, now time.Duration) bool {
	if s.opts.tap != nil {
		s.opts.tap(false, s.pairs[y].Addr(), dst, pkt)
	}
	if _, err := out.WriteToUDPAddrPort(pkt, dst); err != nil {
		s.dropped(y, DropSendFailed, -1)
		return false
	}
	pipe, tx := s.pipes[y.Other()], &s.legs[y]
	tx.rtpSent.Add(1)
	tx.rtpSentBytes.Add(uint64(len(pkt)))
	tx.send.sent(pipe.hdr.Timestamp, pipe.payloadLen, pipe.audio, now)
	return true
}

// handleRTP is the per-packet chain of side x: latch check -> decrypt ->
// parse -> (latch, liveness and reception statistics) -> classify ->
// rewrite -> transcode -> encrypt. It returns the datagram to send and its
// destination, or why the packet is dropped.
func (s *Session) handleRTP(x Side, datagram []byte, src netip.AddrPort, now time.Duration) ([]byte, netip.AddrPort, DropReason) {
	in, out := &s.legs[x], &s.legs[x.Other()]
	from := in.peer.Load()
	if from == nil {
		return nil, netip.AddrPort{}, DropNoPeer
	}
	latching := s.opts.latching
	if latching && !in.rtpLatch.accepts(from, from.rtp, src, now) {
		return nil, netip.AddrPort{}, DropForeign
	}
	pipe := s.pipes[x]
	if r := pipe.receive(datagram, from); r != dropNone {
		return nil, netip.AddrPort{}, r
	}
	in.hear(now)
	// Only the peer's negotiated audio and events are its stream: a packet
	// of another payload type (comfort noise, a probe, a stray packet of
	// an old source) is dropped below, and must neither count in
	// packetsReceived nor move the loss and jitter statistics to its SSRC;
	// one of the stream's own SSRC has its sequence number, which is
	// counted as arrived (not lost), and nothing else (skipped).
	if audio, ok := from.negotiated(pipe.in.PayloadType); ok {
		if latching {
			if old, moved := in.rtpLatch.commit(from, src, now); moved {
				s.relatched(x, "rtp", old, src)
			}
		}
		in.rtpAccepted.Add(1)
		in.rtpAcceptedBytes.Add(uint64(len(datagram)))
		in.recv.update(&pipe.in.Header, now, audio)
	} else {
		// Its sequence number is the source's all the same: not lost.
		in.recv.skipped(&pipe.in.Header)
	}
	if h := s.handover[x.Other()].Load(); h != nil {
		if h == awaitingStream {
			return nil, netip.AddrPort{}, DropNoPeer
		}
		// Before the peer is loaded: with the stream come its send
		// contexts (Inherit).
		if s.handover[x.Other()].CompareAndSwap(h, nil) {
			*pipe.rw = *h
		}
	}
	to := out.peer.Load()
	pkt, r := pipe.forward(from, to, now)
	if r != dropNone {
		return nil, netip.AddrPort{}, r
	}
	return pkt, out.rtpDest(to, latching), dropNone
}

// readFailed handles a read error and reports whether the reader must stop:
// on shutdown, or when the socket is gone. Other errors are logged and
// retried after a short pause.
func (s *Session) readFailed(side Side, kind string, err error) bool {
	if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
		return true
	}
	s.logger().Warn().Err(err).Stringer("side", side).Str("socket", kind).Msg("relay read failed")
	select {
	case <-s.ctx.Done():
		return true
	case <-time.After(readErrorBackoff):
		return false
	}
}
