package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/zaf/g711"
)

var (
	codecPCMU = Codec{PT: 0, Name: "PCMU", EventPT: 101}
	codecPCMA = Codec{PT: 8, Name: "PCMA", EventPT: 96}
)

// call is one session with a fake client on the edge and a fake SBC on the
// gateway side.
type call struct {
	s           *Session
	edge, gw    *fakePeer
	alloc       *Allocator
	ctx         context.Context
	sessionEdge netip.AddrPort
	sessionGW   netip.AddrPort
}

func newCall(t *testing.T, a *Allocator, opts ...SessionOption) *call {
	t.Helper()
	s, err := NewSession(a, testLogger(t), opts...)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return &call{
		s: s, edge: newFakePeer(t), gw: newFakePeer(t), alloc: a, ctx: testContext(t),
		sessionEdge: s.Local(Edge), sessionGW: s.Local(Gateway),
	}
}

// setLegs points both sides of the session at the fake peers.
func (c *call) setLegs(t *testing.T, edge, gw Codec) {
	t.Helper()
	c.setLegLegs(t, c.edge.leg(edge), c.gw.leg(gw))
}

// setLegLegs sets both legs as given.
func (c *call) setLegLegs(t *testing.T, edge, gw Leg) {
	t.Helper()
	if err := c.s.SetLeg(Edge, edge); err != nil {
		t.Fatalf("SetLeg edge: %v", err)
	}
	if err := c.s.SetLeg(Gateway, gw); err != nil {
		t.Fatalf("SetLeg gateway: %v", err)
	}
}

// setSRTPEdge points the session at the fake peers in PCMU, the edge's
// under keys.
func (c *call) setSRTPEdge(t *testing.T, keys *SRTP) {
	t.Helper()
	edge := c.edge.leg(codecPCMU)
	edge.SRTP = keys
	c.setLegLegs(t, edge, c.gw.leg(codecPCMU))
}

// ends returns the sending peer, the receiving peer, and the session
// addresses they use, for media flowing from side from.
func (c *call) ends(from Side) (src, dst *fakePeer, toSession, fromSession netip.AddrPort) {
	if from == Edge {
		return c.edge, c.gw, c.sessionEdge, c.sessionGW
	}
	return c.gw, c.edge, c.sessionGW, c.sessionEdge
}

func rtcpOf(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr(), a.Port()+1) }

func TestSessionRelaysRTP(t *testing.T) {
	const n = 50
	pcmuDyn := Codec{PT: 0, Name: "PCMU"}
	tests := []struct {
		name        string
		edge, gw    Codec
		from        Side
		inPT, outPT uint8
		in          []byte
		want        []byte
	}{
		{"edge PCMU to gateway PCMA", codecPCMU, codecPCMA, Edge, 0, 8, payload(160, 1), g711.Ulaw2Alaw(payload(160, 1))},
		{"gateway PCMA to edge PCMU", codecPCMU, codecPCMA, Gateway, 8, 0, payload(160, 2), g711.Alaw2Ulaw(payload(160, 2))},
		{"same law passes unchanged", codecPCMU, pcmuDyn, Edge, 0, 0, payload(160, 3), payload(160, 3)},
		{"same law with different PTs", Codec{PT: 8, Name: "PCMA"}, Codec{PT: 118, Name: "PCMA"}, Gateway, 118, 8,
			payload(160, 4), payload(160, 4)},
		{"telephone-event remapped", Codec{PT: 0, Name: "PCMU", EventPT: 101}, Codec{PT: 8, Name: "PCMA", EventPT: 96},
			Edge, 101, 96, []byte{5, 0x0a, 0x01, 0x40}, []byte{5, 0x0a, 0x01, 0x40}},
		// The SBC answered "8 0" to our "0 8" offer and sends PCMU, the
		// offer's first format: converted by its own PT.
		{"gateway sends its answer's second law", codecPCMA, Codec{PT: 8, Name: "PCMA", Accept: []Format{{0, "PCMU"}}},
			Gateway, 0, 8, payload(160, 6), g711.Ulaw2Alaw(payload(160, 6))},
		// The client answered "0 8" to our "8 0" offer and sends PCMA.
		{"client sends its answer's second law", Codec{PT: 0, Name: "PCMU", Accept: []Format{{8, "PCMA"}}}, codecPCMU,
			Edge, 8, 0, payload(160, 7), g711.Alaw2Ulaw(payload(160, 7))},
		{"second law equal to the other leg's passes", Codec{PT: 0, Name: "PCMU", Accept: []Format{{8, "PCMA"}}}, codecPCMA,
			Edge, 8, 8, payload(160, 8), payload(160, 8)},
	}
	a := newTestAllocator(t, 20)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCall(t, a)
			c.setLegs(t, tt.edge, tt.gw)
			c.s.Start()
			src, dst, toSession, fromSession := c.ends(tt.from)

			for i := range n {
				src.sendRTP(t, toSession, rtp.Header{
					PayloadType: tt.inPT, SequenceNumber: uint16(65530 + i), Timestamp: uint32(i * 160),
					SSRC: 0x1234, Marker: i == 0,
				}, tt.in)
			}
			var first rtp.Packet
			for i := range n {
				p, from := readRTP(c.ctx, t, dst.rtp)
				if from != fromSession {
					t.Fatalf("packet %d came from %s, want the session's %s", i, from, fromSession)
				}
				if i == 0 {
					first = p
					if p.SSRC == 0x1234 {
						t.Errorf("SSRC passed through; want the session's own")
					}
				}
				if p.PayloadType != tt.outPT || p.SSRC != first.SSRC || p.Marker != (i == 0) ||
					p.SequenceNumber != first.SequenceNumber+uint16(i) || p.Timestamp != first.Timestamp+uint32(i*160) {
					t.Fatalf("packet %d header %+v; want PT %d, SSRC %#x, seq %d, ts %d",
						i, p.Header, tt.outPT, first.SSRC, first.SequenceNumber+uint16(i), first.Timestamp+uint32(i*160))
				}
				if !bytes.Equal(p.Payload, tt.want) {
					t.Fatalf("packet %d payload\n got %x\nwant %x", i, p.Payload, tt.want)
				}
			}
			// The sent counter moves just after the write the peer saw.
			waitFor(c.ctx, t, "sent counter", func() bool { return c.s.Stats().Side(tt.from.Other()).RTPSent == n })
			st := c.s.Stats()
			rx, tx := st.Side(tt.from), st.Side(tt.from.Other())
			if rx.RTPReceived != n || tx.RTPSent != n || rx.Dropped.Total() != 0 ||
				rx.RTPReceivedBytes != uint64(n*(rtpHeaderLen+len(tt.in))) || tx.RTPSentBytes != uint64(n*(rtpHeaderLen+len(tt.want))) {
				t.Fatalf("stats: received %+v, sent %+v", rx, tx)
			}
		})
	}
}

// TestSessionDrops sends packets that must not be relayed, then one that
// must: the relay handles a direction's packets in order, so once the good
// packet arrives every earlier one has been counted. Both ways the relay
// reads: plain, and with receive timestamps for a delay observer (as the
// daemon runs it: ReadMsgUDP, whose drops must be the same).
func TestSessionDrops(t *testing.T) {
	for _, observed := range []bool{false, true} {
		t.Run(fmt.Sprintf("observed=%v", observed), func(t *testing.T) { testSessionDrops(t, observed) })
	}
}

func testSessionDrops(t *testing.T, observed bool) {
	good := rtp.Header{PayloadType: 0, SequenceNumber: 9, SSRC: 1}
	tests := []struct {
		name  string
		gw    Codec
		bad   func(t *testing.T, c *call)
		count uint64
		want  func(Drops) uint64
	}{
		{"comfort noise", codecPCMA, func(t *testing.T, c *call) {
			c.edge.sendRTP(t, c.sessionEdge, rtp.Header{PayloadType: 13, SSRC: 1}, []byte{42})
			c.edge.sendRTP(t, c.sessionEdge, rtp.Header{PayloadType: 13, SSRC: 1}, []byte{42})
		}, 2, func(d Drops) uint64 { return d.UnknownPT }},
		{"unnegotiated codec", codecPCMA, func(t *testing.T, c *call) {
			c.edge.sendRTP(t, c.sessionEdge, rtp.Header{PayloadType: 9, SSRC: 1}, payload(160, 0))
		}, 1, func(d Drops) uint64 { return d.UnknownPT }},
		{"event with no tone towards a leg without events", Codec{PT: 8, Name: "PCMA"}, func(t *testing.T, c *call) {
			c.edge.sendRTP(t, c.sessionEdge, rtp.Header{PayloadType: 101, SSRC: 1}, []byte{16, 0, 0, 160}) // flash
		}, 1, func(d Drops) uint64 { return d.UnknownPT }},
		{"short event towards a leg without events", Codec{PT: 8, Name: "PCMA"}, func(t *testing.T, c *call) {
			c.edge.sendRTP(t, c.sessionEdge, rtp.Header{PayloadType: 101, SSRC: 1}, []byte{1, 0, 0})
		}, 1, func(d Drops) uint64 { return d.Malformed }},
		{"malformed", codecPCMA, func(t *testing.T, c *call) {
			sendRaw(t, c.edge.rtp, c.sessionEdge, []byte("not rtp at all"))
			sendRaw(t, c.edge.rtp, c.sessionEdge, []byte{0x40, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff}) // version 1
			sendRaw(t, c.edge.rtp, c.sessionEdge, []byte{0x80, 0})                                     // too short
		}, 3, func(d Drops) uint64 { return d.Malformed }},
		{"larger than a datagram the relay takes", codecPCMA, func(t *testing.T, c *call) {
			// Valid RTP, but one byte over maxPacket, far over it, and
			// over it by its CSRC list with a payload the pipeline would
			// take (truncated, it would still parse and be relayed).
			c.edge.sendRTP(t, c.sessionEdge, rtp.Header{PayloadType: 0, SequenceNumber: 7, SSRC: 1}, payload(maxPacket-rtpHeaderLen+1, 0))
			c.edge.sendRTP(t, c.sessionEdge, rtp.Header{PayloadType: 0, SequenceNumber: 8, SSRC: 1}, payload(4000, 0))
			csrc := make([]uint32, 15)
			c.edge.sendRTP(t, c.sessionEdge, rtp.Header{PayloadType: 0, SequenceNumber: 6, SSRC: 1, CSRC: csrc}, payload(maxPacket-rtpHeaderLen-20, 0))
		}, 3, func(d Drops) uint64 { return d.Malformed }},
	}
	a := newTestAllocator(t, 10)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []SessionOption
			var delays atomic.Int64
			if observed {
				opts = append(opts, WithDelayObserver(func(Side, time.Duration) { delays.Add(1) }))
			}
			c := newCall(t, a, opts...)
			c.setLegs(t, codecPCMU, tt.gw)
			c.s.Start()
			tt.bad(t, c)
			c.edge.sendRTP(t, c.sessionEdge, good, payload(160, 0))
			p, _ := readRTP(c.ctx, t, c.gw.rtp)
			if p.PayloadType != tt.gw.PT || len(p.Payload) != 160 {
				t.Fatalf("first relayed packet %+v is not the good one", p.Header)
			}
			waitFor(c.ctx, t, "sent counter", func() bool { return c.s.Stats().Gateway.RTPSent == 1 })
			st := c.s.Stats()
			if got := tt.want(st.Edge.Dropped); got != tt.count || st.Edge.Dropped.Total() != tt.count {
				t.Fatalf("drops %+v, want %d of the tested reason and no other", st.Edge.Dropped, tt.count)
			}
			if st.Edge.RTPReceived != tt.count+1 || st.Gateway.RTPSent != 1 {
				t.Fatalf("stats %+v, want %d received on edge and 1 sent to gateway", st, tt.count+1)
			}
			if observed && runtime.GOOS == "linux" {
				waitFor(c.ctx, t, "the good packet's delay", func() bool { return delays.Load() >= 1 })
				if n := delays.Load(); n != 1 {
					t.Fatalf("%d delays observed, want the good packet's alone", n)
				}
			}
		})
	}
}

func TestSessionLegsSetAfterStart(t *testing.T) {
	c := newCall(t, newTestAllocator(t, 4))
	c.s.Start()

	// No leg yet: counted as dropped, nothing to send to.
	for i := range 3 {
		c.edge.sendRTP(t, c.sessionEdge, rtp.Header{PayloadType: 0, SequenceNumber: uint16(i), SSRC: 1}, payload(160, 0))
	}
	waitFor(c.ctx, t, "3 packets dropped for lack of a peer", func() bool { return c.s.Stats().Edge.Dropped.NoPeer == 3 })

	// Only the gateway leg: still no codec for what the edge sends.
	if err := c.s.SetLeg(Gateway, c.gw.leg(codecPCMA)); err != nil {
		t.Fatal(err)
	}
	c.edge.sendRTP(t, c.sessionEdge, rtp.Header{PayloadType: 0, SequenceNumber: 3, SSRC: 1}, payload(160, 0))
	waitFor(c.ctx, t, "packet dropped with only one leg", func() bool { return c.s.Stats().Edge.Dropped.NoPeer == 4 })

	if err := c.s.SetLeg(Edge, c.edge.leg(codecPCMU)); err != nil {
		t.Fatal(err)
	}
	c.edge.sendRTP(t, c.sessionEdge, rtp.Header{PayloadType: 0, SequenceNumber: 4, Timestamp: 640, SSRC: 1}, payload(160, 0))
	first, _ := readRTP(c.ctx, t, c.gw.rtp)
	if first.PayloadType != 8 {
		t.Fatalf("PT %d, want 8", first.PayloadType)
	}

	// Re-INVITE: the gateway moves to a new address and switches to PCMU
	// with another PT; our stream towards it continues.
	moved := newFakePeer(t)
	if err := c.s.SetLeg(Gateway, moved.leg(Codec{PT: 0, Name: "PCMU"})); err != nil {
		t.Fatal(err)
	}
	in := payload(160, 9)
	c.edge.sendRTP(t, c.sessionEdge, rtp.Header{PayloadType: 0, SequenceNumber: 5, Timestamp: 800, SSRC: 1}, in)
	p, from := readRTP(c.ctx, t, moved.rtp)
	if from != c.sessionGW || p.PayloadType != 0 || !bytes.Equal(p.Payload, in) {
		t.Fatalf("after re-INVITE got PT %d from %s payload %x", p.PayloadType, from, p.Payload)
	}
	if p.SSRC != first.SSRC || p.SequenceNumber != first.SequenceNumber+1 || p.Timestamp != first.Timestamp+160 {
		t.Fatalf("stream not continuous across re-INVITE: %+v after %+v", p.Header, first.Header)
	}
}

func TestSessionPeerRestartKeepsStreamContinuous(t *testing.T) {
	c := newCall(t, newTestAllocator(t, 4))
	c.setLegs(t, codecPCMU, codecPCMA)
	c.s.Start()
	inputs := []rtp.Header{
		{SSRC: 1, SequenceNumber: 100, Timestamp: 1000},
		{SSRC: 1, SequenceNumber: 101, Timestamp: 1160},
		{SSRC: 2, SequenceNumber: 7, Timestamp: 99999, Marker: true}, // client restarted its stream
		{SSRC: 2, SequenceNumber: 8, Timestamp: 100159},
	}
	var first rtp.Packet
	for i, h := range inputs {
		c.edge.sendRTP(t, c.sessionEdge, h, payload(160, 0))
		p, _ := readRTP(c.ctx, t, c.gw.rtp)
		if i == 0 {
			first = p
		}
		if p.SSRC != first.SSRC || p.SequenceNumber != first.SequenceNumber+uint16(i) ||
			p.Timestamp != first.Timestamp+uint32(160*i) || p.Marker != h.Marker {
			t.Fatalf("packet %d: %+v, want continuation of %+v", i, p.Header, first.Header)
		}
	}
}

func TestSessionSetLegRejectsBadLegs(t *testing.T) {
	c := newCall(t, newTestAllocator(t, 2))
	good := c.gw.leg(codecPCMA)
	tests := []struct {
		name string
		side Side
		leg  Leg
	}{
		{"unknown side", Side(2), good},
		{"unknown codec", Gateway, Leg{RTP: good.RTP, Codec: Codec{PT: 18, Name: "G729"}}},
		{"no address", Gateway, Leg{Codec: codecPCMA}},
		{"G.722 on the gateway side", Gateway, Leg{RTP: good.RTP, Codec: Codec{PT: 9, Name: "G722"}}},
		{"G.722 accepted on the gateway side", Gateway, Leg{RTP: good.RTP, Codec: Codec{PT: 8, Name: "PCMA", Accept: []Format{{9, "G722"}}}}},
		{"undecodable accepted format", Edge, Leg{RTP: good.RTP, Codec: Codec{PT: 0, Name: "PCMU", Accept: []Format{{18, "G729"}}}}},
		{"bad SRTP profile", Edge, Leg{RTP: good.RTP, Codec: codecPCMU, SRTP: &SRTP{Profile: "F8_128_HMAC_SHA1_80", Recv: ourKeying(), Send: ourKeying()}}},
		{"short SRTP key", Edge, Leg{RTP: good.RTP, Codec: codecPCMU, SRTP: &SRTP{Profile: ProfileAES128SHA1_80, Recv: Keying{Master: []byte{1}}, Send: ourKeying()}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := c.s.SetLeg(tt.side, tt.leg); err == nil {
				t.Fatal("SetLeg accepted a bad leg")
			}
			if tt.side.valid() && c.s.legs[tt.side].peer.Load() != nil {
				t.Fatal("a rejected leg was installed")
			}
		})
	}
	if got := c.s.Local(Side(5)); got.IsValid() {
		t.Fatalf("Local of an unknown side = %s, want the zero AddrPort", got)
	}
}

func TestSessionCloseReleasesPorts(t *testing.T) {
	tests := []struct {
		name  string
		start bool
	}{
		{"started", true},
		{"never started", false},
	}
	a := newTestAllocator(t, 4)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSession(a, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			if got := a.InUse(); got != 2 {
				t.Fatalf("InUse = %d with one session, want 2", got)
			}
			if e, g := a.InUseOn(Edge), a.InUseOn(Gateway); e != 1 || g != 1 {
				t.Fatalf("InUseOn edge %d, gateway %d with one session, want 1 and 1", e, g)
			}
			if tt.start {
				s.Start()
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			s.Start() // after Close: must not start readers on closed sockets
			if got := a.InUse(); got != 0 {
				t.Fatalf("InUse = %d after Close, want 0", got)
			}
			if e, g := a.InUseOn(Edge), a.InUseOn(Gateway); e != 0 || g != 0 {
				t.Fatalf("InUseOn edge %d, gateway %d after Close, want 0", e, g)
			}
			for _, side := range []Side{Edge, Gateway} {
				for _, addr := range []netip.AddrPort{s.Local(side), rtcpOf(s.Local(side))} {
					conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(addr))
					if err != nil {
						t.Fatalf("%s still bound after Close: %v", addr, err)
					}
					_ = conn.Close()
				}
			}
		})
	}
}

func TestSessionFailsWhenPortsRunOut(t *testing.T) {
	a := newTestAllocator(t, 3)
	s, err := NewSession(a, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := NewSession(a, testLogger(t)); !errors.Is(err, ErrExhausted) {
		t.Fatalf("second session: err = %v, want ErrExhausted", err)
	}
	if got := a.InUse(); got != 2 {
		t.Fatalf("InUse = %d, want 2: a failed session must release its first pair", got)
	}
}

func TestConcurrentSessionsNeverSharePorts(t *testing.T) {
	const sessions = 6
	a := newTestAllocator(t, 2*sessions)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		all  []*Session
		errs = make(chan error, sessions)
	)
	for range sessions {
		wg.Go(func() {
			s, err := NewSession(a, testLogger(t))
			if err != nil {
				errs <- err
				return
			}
			s.Start()
			mu.Lock()
			all = append(all, s)
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("NewSession: %v", err)
	}
	seen := map[netip.AddrPort]bool{}
	for _, s := range all {
		for _, side := range []Side{Edge, Gateway} {
			if seen[s.Local(side)] {
				t.Errorf("%s used by two sessions", s.Local(side))
			}
			seen[s.Local(side)] = true
		}
	}
	for _, s := range all {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	if got := a.InUse(); got != 0 {
		t.Fatalf("InUse = %d after closing all sessions, want 0", got)
	}
}

// BenchmarkRelayLoopback measures one packet's round through real sockets:
// fake client -> session (PCMU->PCMA) -> fake SBC.
func BenchmarkRelayLoopback(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchmarkRelayLoopback(b) })
	// As the daemon runs it: every packet read with its receive
	// timestamp and its delay observed.
	var observed atomic.Int64
	b.Run("delay-observed", func(b *testing.B) {
		observed.Store(0)
		benchmarkRelayLoopback(b, WithDelayObserver(func(Side, time.Duration) { observed.Add(1) }))
		if runtime.GOOS == "linux" && observed.Load() == 0 {
			b.Fatal("no packet's delay observed: the case measured the plain read")
		}
	})
}

func benchmarkRelayLoopback(b *testing.B, opts ...SessionOption) {
	a := newTestAllocator(b, 2)
	s, err := NewSession(a, testLogger(b), opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	edge, gw := newFakePeer(b), newFakePeer(b)
	if err := s.SetLeg(Edge, edge.leg(codecPCMU)); err != nil {
		b.Fatal(err)
	}
	if err := s.SetLeg(Gateway, gw.leg(codecPCMA)); err != nil {
		b.Fatal(err)
	}
	s.Start()
	ctx := testContext(b)
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 1}, Payload: payload(160, 0)}
	buf := make([]byte, maxPacket)
	deadline, _ := ctx.Deadline()
	if err := gw.rtp.SetReadDeadline(deadline); err != nil {
		b.Fatal(err)
	}
	to := s.Local(Edge)
	b.ReportAllocs()
	for b.Loop() {
		pkt.SequenceNumber++
		pkt.Timestamp += 160
		n, err := pkt.MarshalTo(buf)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := edge.rtp.WriteToUDPAddrPort(buf[:n], to); err != nil {
			b.Fatal(err)
		}
		if _, _, err := gw.rtp.ReadFromUDPAddrPort(buf); err != nil {
			b.Fatalf("relayed packet not received: %v", err)
		}
	}
}

// TestSessionDroppedPTsLeaveNoSequenceGap: the client mixes in packets the
// relay drops on purpose (PCMA it did not negotiate, comfort noise, a
// dynamic PT, G.728): the gateway's stream has no sequence gap for them,
// so the SBC counts no loss, and its timestamps keep the sender's; the
// client's stream shows no loss either.
func TestSessionDroppedPTsLeaveNoSequenceGap(t *testing.T) {
	a := newTestAllocator(t, 2)
	c := newCall(t, a)
	c.setLegs(t, Codec{PT: 0, Name: "PCMU"}, codecPCMA)
	c.s.Start()
	pts := []uint8{0, 0, 8, 8, 13, 0, 96, 96, 18, 0, 0}
	var want []uint32 // timestamps of the relayed packets
	for i, pt := range pts {
		ts := uint32(i) * 160
		c.edge.sendRTP(t, c.sessionEdge, rtp.Header{PayloadType: pt, SequenceNumber: uint16(65530 + i), Timestamp: ts, SSRC: 3}, payload(160, byte(i)))
		if pt == 0 {
			want = append(want, ts)
		}
	}
	var first rtp.Packet
	for i, ts := range want {
		got, _ := readRTP(c.ctx, t, c.gw.rtp)
		if i == 0 {
			first = got
		}
		if got.SequenceNumber != first.SequenceNumber+uint16(i) || got.Timestamp-first.Timestamp != ts {
			t.Fatalf("packet %d: seq %d ts %d; want seq %d ts +%d", i, got.SequenceNumber, got.Timestamp-first.Timestamp,
				first.SequenceNumber+uint16(i), ts)
		}
	}
	if d := c.s.Stats().Edge.Dropped.UnknownPT; d != 6 {
		t.Fatalf("%d unknown PT drops, want 6", d)
	}
	// Nor is there loss on the client's side: the dropped packets'
	// sequence numbers arrived (the records and our RTCP to the client
	// said 6 of 11 lost on a clean path).
	if st := c.s.Stats().Edge; st.Lost != 0 || st.FractionLost != 0 {
		t.Errorf("the client's stream: lost %d, fraction %v; want none", st.Lost, st.FractionLost)
	}
}

// TestSessionNewSSRCAfterSilenceKeepsWallTime: the client sends 5
// packets, falls silent for 300 ms (the sender's silence, not a wait for
// the relay), then restarts its stream under a new SSRC: the gateway sees
// one stream whose timestamp advanced by about the 300 ms, not by one
// 20 ms packet.
func TestSessionNewSSRCAfterSilenceKeepsWallTime(t *testing.T) {
	const silence = 300 * time.Millisecond
	a := newTestAllocator(t, 2)
	c := newCall(t, a)
	c.setLegs(t, codecPCMU, codecPCMA)
	c.s.Start()
	began := time.Now()
	for i := range 5 {
		c.edge.sendRTP(t, c.sessionEdge, rtp.Header{PayloadType: 0, SequenceNumber: uint16(i), Timestamp: uint32(i) * 160, SSRC: 0xC1}, payload(160, 0))
	}
	var last rtp.Packet
	for range 5 {
		last, _ = readRTP(c.ctx, t, c.gw.rtp)
	}
	<-time.After(silence)
	c.edge.sendRTP(t, c.sessionEdge, rtp.Header{PayloadType: 0, SequenceNumber: 40000, Timestamp: 123, SSRC: 0xD2, Marker: true}, payload(160, 0))
	got, _ := readRTP(c.ctx, t, c.gw.rtp)
	gap := time.Since(began)
	adv := got.Timestamp - last.Timestamp
	// At least the silence, less one packet's rounding; at most the time
	// from the first send to the new packet's read, plus one packet.
	if lo, hi := units(silence)-160, units(gap)+160; got.SequenceNumber != last.SequenceNumber+1 || adv < lo || adv > hi {
		t.Fatalf("new source at seq +%d, ts +%d; want seq +1, ts +%d to +%d", got.SequenceNumber-last.SequenceNumber, adv, lo, hi)
	}
}

// TestSessionNewSSRCMarksTheJump: a sender that restarts its stream under
// a new SSRC without the marker bit (r24-media F6): our stream runs on
// (seq +1, the timestamp advanced by the wall time), and its first packet
// after that timestamp jump carries the marker, as RFC 3551 §4.1 asks of
// the first packet after a discontinuity, so the receiver's adaptive
// jitter buffer re-anchors on it; the packets after it do not. The
// sender's own markers pass as they are, also on a new stream's first
// packet, and our stream's first packet is not marked unless the sender's
// is.
func TestSessionNewSSRCMarksTheJump(t *testing.T) {
	a := newTestAllocator(t, 2)
	c := newCall(t, a)
	c.setLegs(t, codecPCMU, codecPCMA)
	c.s.Start()
	type in struct {
		ssrc   uint32
		seq    uint16
		ts     uint32
		marker bool
		want   bool // the marker we send
	}
	stream := []in{
		{0xC1, 1, 0, false, false}, {0xC1, 2, 160, false, false}, {0xC1, 3, 320, true, true}, {0xC1, 4, 480, false, false},
		{0xD2, 900, 777777, false, true}, {0xD2, 901, 777937, false, false}, {0xD2, 902, 778097, true, true},
		{0xE3, 50, 5, true, true}, {0xE3, 51, 165, false, false},
	}
	var got []rtp.Packet
	for i, p := range stream {
		c.edge.sendRTP(t, c.sessionEdge, rtp.Header{PayloadType: 0, SequenceNumber: p.seq, Timestamp: p.ts, SSRC: p.ssrc, Marker: p.marker}, payload(160, byte(i)))
		// One at a time: the new streams come after the old ones.
		pkt, _ := readRTP(c.ctx, t, c.gw.rtp)
		got = append(got, pkt)
	}
	for i, p := range got {
		if p.Marker != stream[i].want {
			t.Errorf("packet %d (SSRC %#x seq %d): marker %v, want %v", i, stream[i].ssrc, stream[i].seq, p.Marker, stream[i].want)
		}
		if i > 0 && (p.SequenceNumber != got[i-1].SequenceNumber+1 || int32(p.Timestamp-got[i-1].Timestamp) < 160) {
			t.Errorf("packet %d: seq +%d ts +%d; want +1 and at least +160", i, p.SequenceNumber-got[i-1].SequenceNumber, p.Timestamp-got[i-1].Timestamp)
		}
	}
}
