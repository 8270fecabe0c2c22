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
	// ssrc[y] is the SSRC of our stream towards side y.
	ssrc  [2]uint32
	cname string
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
		s.ssrc[side.Other()] = s.pipes[side].rw.ssrc
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

// Inherit carries side's SRTP receive contexts over from old, a session
// of the same call that has been closed (Close has returned: its readers
// are gone, so its contexts are no goroutine's), to the leg SetLeg gave
// side: a peer whose media moves to this session (a transfer re-points
// the PSTN party to the new call's relay) goes on with its stream, SSRC,
// sequence numbers and rollover counter (RFC 3711 §3.2.1), and a new
// receive context at rollover counter 0 would refuse all of it once that
// stream has wrapped (about 22 minutes in). Under the same receive key
// the old contexts are taken as they are (rollover counters, replay
// window, SRTCP index); under another the new ones start from their
// rollover counters (seededRTP), and the old key has its grace. Our send
// contexts stay this session's: our stream towards the peer is a new one
// (another SSRC). It does nothing when either leg is plain RTP or the
// suites differ.
func (s *Session) Inherit(side Side, old *Session) error {
	if !side.valid() {
		return fmt.Errorf("relay inherit: unknown side %d", int(side))
	}
	if old == nil || old == s {
		return nil
	}
	old.mu.Lock()
	closed := old.closed
	old.mu.Unlock()
	if !closed {
		return errors.New("relay inherit: the old session is still open")
	}
	prev := old.legs[side].peer.Load()
	s.setMu.Lock()
	defer s.setMu.Unlock()
	l := &s.legs[side]
	cur := l.peer.Load()
	if prev == nil || cur == nil || prev.srtp == nil || cur.srtp == nil || prev.srtp.cfg.Profile != cur.srtp.cfg.Profile {
		return nil
	}
	next := *cur
	next.srtp = cur.srtp.inheriting(prev.srtp)
	l.setPeer(&next)
	s.logger().Debug().Stringer("side", side).Msg("SRTP receive state carried over from the call's previous relay")
	return nil
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
