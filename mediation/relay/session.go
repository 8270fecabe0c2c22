package relay

// This file is the media session of one anchored call: two port pairs, the
// two legs, and the reader goroutines that relay between them.

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
)

// readErrorBackoff spaces out retries after an unexpected read error so a
// persistent socket error cannot spin a reader at full CPU.
const readErrorBackoff = 10 * time.Millisecond

// Session relays the media of one anchored call between the edge and the
// gateway side. Create it with NewSession, advertise Local in the SDP, set
// each peer with SetLeg, Start it, and Close it when the call ends.
type Session struct {
	log      zerolog.Logger
	pairs    [2]*PortPair
	peers    [2]atomic.Pointer[peer]
	counters [2]counters
	// pipes[x] relays RTP received on side x; only x's RTP reader uses it.
	pipes [2]*pipeline

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	started  bool
	closed   bool
	closeErr error
}

// NewSession allocates one port pair per side from a. The session relays
// nothing until Start.
func NewSession(a *Allocator, log zerolog.Logger) (*Session, error) {
	edge, err := a.Allocate()
	if err != nil {
		return nil, fmt.Errorf("relay session edge ports: %w", err)
	}
	gw, err := a.Allocate()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("relay session gateway ports: %w", err), edge.Close())
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Session{
		pairs:  [2]*PortPair{Edge: edge, Gateway: gw},
		ctx:    ctx,
		cancel: cancel,
	}
	s.log = log.With().Str("component", "relay").
		Stringer("edge_rtp", edge.Addr()).Stringer("gateway_rtp", gw.Addr()).Logger()
	for _, side := range []Side{Edge, Gateway} {
		// Random starting values (RFC 3550 §5.1) so our streams cannot be
		// confused with an earlier call's on a reused port.
		s.pipes[side] = newPipeline(newRewriter(rand.Uint32(), uint16(rand.Uint32()), rand.Uint32()))
	}
	return s, nil
}

// Local is our RTP address on side (RTCP is the next port), for the SDP.
func (s *Session) Local(side Side) netip.AddrPort {
	if !side.valid() {
		return netip.AddrPort{}
	}
	return s.pairs[side].Addr()
}

// SetLeg tells the session where side's peer expects media and in which
// codec. It may be called before or after Start, and again on re-INVITE; the
// readers pick up the new leg with the next packet.
func (s *Session) SetLeg(side Side, leg Leg) error {
	if !side.valid() {
		return fmt.Errorf("relay set leg: unknown side %d", int(side))
	}
	p, err := newPeer(leg)
	if err != nil {
		return fmt.Errorf("relay set %s leg: %w", side, err)
	}
	s.peers[side].Store(p)
	s.log.Debug().Stringer("side", side).Stringer("peer_rtp", p.rtp).Stringer("peer_rtcp", p.rtcp).
		Str("codec", leg.Codec.Name).Uint8("pt", leg.Codec.PT).Uint8("event_pt", leg.Codec.EventPT).
		Msg("leg set")
	return nil
}

// Start launches the RTP and RTCP readers of both sides. It does nothing if
// the session is already started or closed.
func (s *Session) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return
	}
	s.started = true
	for _, side := range []Side{Edge, Gateway} {
		s.wg.Add(2)
		go s.relayRTP(side)
		go s.relayRTCP(side)
	}
	s.log.Debug().Msg("relay started")
}

// Close stops the readers, waits for them, and returns both port pairs to
// the allocator. It is idempotent and safe without Start.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.closeErr
	}
	s.closed = true
	s.cancel()
	if s.started {
		// A past deadline wakes readers blocked in ReadFromUDPAddrPort; they
		// see the cancelled context and return.
		for _, p := range s.pairs {
			_ = p.RTP.SetReadDeadline(time.Unix(1, 0))
			_ = p.RTCP.SetReadDeadline(time.Unix(1, 0))
		}
		s.wg.Wait()
	}
	s.closeErr = errors.Join(s.pairs[Edge].Close(), s.pairs[Gateway].Close())
	s.log.Debug().Err(s.closeErr).Msg("relay closed")
	return s.closeErr
}

// Stats returns a snapshot of the counters of both sides.
func (s *Session) Stats() Stats {
	return Stats{Edge: s.counters[Edge].snapshot(), Gateway: s.counters[Gateway].snapshot()}
}

// relayRTP reads RTP arriving on side x, runs it through x's pipeline and
// sends the result to the other side's peer from our RTP socket on that side,
// so the peer sees media coming from the address we advertised to it.
func (s *Session) relayRTP(x Side) {
	defer s.wg.Done()
	y := x.other()
	in, out := s.pairs[x].RTP, s.pairs[y].RTP
	rx, tx := &s.counters[x], &s.counters[y]
	pipe := s.pipes[x]
	buf := make([]byte, maxPacket)
	for {
		n, _, err := in.ReadFromUDPAddrPort(buf)
		if err != nil {
			if s.readFailed(x, "rtp", err) {
				return
			}
			continue
		}
		rx.rtpReceived.Add(1)
		rx.rtpReceivedBytes.Add(uint64(n))
		to := s.peers[y].Load()
		pkt, reason := pipe.process(buf[:n], s.peers[x].Load(), to)
		if reason != dropNone {
			rx.drop(reason)
			continue
		}
		if _, err := out.WriteToUDPAddrPort(pkt, to.rtp); err != nil {
			rx.sendFailed.Add(1)
			continue
		}
		tx.rtpSent.Add(1)
		tx.rtpSentBytes.Add(uint64(len(pkt)))
	}
}

// relayRTCP forwards RTCP arriving on side x unchanged to the other side's
// peer. This is a stopgap: a later issue terminates RTCP per leg (our own
// SR/RR per stream, as the SSRC/sequence rewrite makes the peers' reports
// describe streams the other peer never sees).
func (s *Session) relayRTCP(x Side) {
	defer s.wg.Done()
	y := x.other()
	in, out := s.pairs[x].RTCP, s.pairs[y].RTCP
	rx, tx := &s.counters[x], &s.counters[y]
	buf := make([]byte, maxPacket)
	for {
		n, _, err := in.ReadFromUDPAddrPort(buf)
		if err != nil {
			if s.readFailed(x, "rtcp", err) {
				return
			}
			continue
		}
		rx.rtcpReceived.Add(1)
		rx.rtcpReceivedBytes.Add(uint64(n))
		to := s.peers[y].Load()
		if to == nil || !to.rtcpOK {
			rx.noPeer.Add(1)
			continue
		}
		if _, err := out.WriteToUDPAddrPort(buf[:n], to.rtcp); err != nil {
			rx.sendFailed.Add(1)
			continue
		}
		tx.rtcpSent.Add(1)
		tx.rtcpSentBytes.Add(uint64(n))
	}
}

// readFailed handles a read error and reports whether the reader must stop:
// on shutdown, or when the socket is gone. Other errors are logged and
// retried after a short pause.
func (s *Session) readFailed(side Side, kind string, err error) bool {
	if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
		return true
	}
	s.log.Warn().Err(err).Stringer("side", side).Str("socket", kind).Msg("relay read failed")
	select {
	case <-s.ctx.Done():
		return true
	case <-time.After(readErrorBackoff):
		return false
	}
}
