package relay

import (
	"bytes"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

func TestLatch(t *testing.T) {
	sdp := netip.MustParseAddrPort("192.0.2.1:4000")
	nat := netip.MustParseAddrPort("198.51.100.7:31000")
	third := netip.MustParseAddrPort("203.0.113.9:5000")
	p := mustPeer(t, Leg{RTP: sdp, Codec: codecPCMU, Sources: []netip.Addr{netip.MustParseAddr("::ffff:198.51.100.7")}})
	var l latch
	if _, ok := l.addr(p); ok {
		t.Fatal("latched before any packet")
	}
	// Before latching: the peer's own IPs (SDP, signalling, candidates), any port.
	before := []struct {
		src  netip.AddrPort
		want bool
	}{{nat, true}, {sdp, true}, {netip.MustParseAddrPort("192.0.2.1:4010"), true}, {third, false}}
	for _, tt := range before {
		if got := l.accepts(p, sdp, tt.src, 0); got != tt.want {
			t.Errorf("accepts(%s) before latching = %v, want %v", tt.src, got, tt.want)
		}
	}
	if strict := mustPeer(t, Leg{RTP: sdp, Codec: codecPCMU}); l.accepts(strict, sdp, nat, 0) {
		t.Errorf("%s accepted for a peer that does not list it", nat)
	}
	if _, moved := l.commit(p, nat, 0); moved {
		t.Error("the first latch reported as a move")
	}
	if a, ok := l.addr(p); !ok || a != nat {
		t.Fatalf("latched to %s (%v), want %s", a, ok, nat)
	}
	tests := []struct {
		src  netip.AddrPort
		want bool
	}{{nat, true}, {sdp, true}, {third, false}}
	for _, tt := range tests {
		if got := l.accepts(p, sdp, tt.src, time.Millisecond); got != tt.want {
			t.Errorf("accepts(%s) = %v after latching to %s, want %v", tt.src, got, nat, tt.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { l.commit(p, nat, 0) }); n != 0 {
		t.Errorf("re-committing the latched address allocates %v times", n)
	}

	// A NAT rebinding: the peer's media comes from another port of its IP.
	// While the latched port is heard, the new one is not; once it has
	// been silent RelatchAfter, the new port takes the latch. A stranger's
	// IP never does.
	rebound := netip.MustParseAddrPort("198.51.100.7:31222")
	if l.accepts(p, sdp, rebound, RelatchAfter/2) {
		t.Errorf("%s accepted while the latched %s is heard", rebound, nat)
	}
	if !l.accepts(p, sdp, rebound, RelatchAfter) || l.accepts(p, sdp, third, 10*RelatchAfter) {
		t.Errorf("after %v of silence: %s accepted %v, %s accepted %v; want true, false", RelatchAfter,
			rebound, l.accepts(p, sdp, rebound, RelatchAfter), third, l.accepts(p, sdp, third, 10*RelatchAfter))
	}
	if from, moved := l.commit(p, rebound, RelatchAfter); !moved || from != nat {
		t.Errorf("re-latch reported from %s (moved %v), want from %s", from, moved, nat)
	}
	if l.accepts(p, sdp, nat, RelatchAfter+time.Millisecond) {
		t.Errorf("the old port %s accepted right after the re-latch", nat)
	}
	l.commit(p, nat, 0) // back to the first source for what follows

	// A new peer value (SetLeg) starts unlatched unless the latch is carried.
	moved := mustPeer(t, Leg{RTP: netip.MustParseAddrPort("192.0.2.2:4000"), Codec: codecPCMU})
	if _, ok := l.addr(moved); ok || !l.accepts(moved, moved.rtp, netip.MustParseAddrPort("192.0.2.2:4002"), 0) {
		t.Fatal("a new peer inherited the old peer's latch")
	}
	same := mustPeer(t, Leg{RTP: sdp, Codec: codecPCMA})
	l.carry(p, same)
	if a, ok := l.addr(same); !ok || a != nat {
		t.Fatalf("carried latch %s (%v), want %s", a, ok, nat)
	}
	if _, ok := l.addr(p); ok {
		t.Fatal("the replaced peer still sees the latch")
	}
}

// sendSeed sends one PCMU packet whose payload is identified by seed.
func sendSeed(t *testing.T, from *fakePeer, to netip.AddrPort, seq uint16, seed byte) {
	t.Helper()
	from.sendRTP(t, to, rtp.Header{PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: uint32(seed) + 1000}, payload(160, seed))
}

// expectSeed reads one packet at to and checks it carries seed's payload
// (both legs are PCMU in these tests, so payloads pass unchanged).
func expectSeed(t *testing.T, c *call, to *net.UDPConn, seed byte) {
	t.Helper()
	p, _ := readRTP(c.ctx, t, to)
	if !bytes.Equal(p.Payload, payload(160, seed)) {
		t.Fatalf("got payload %x…, want packet %d's", p.Payload[:4], seed)
	}
}

func TestSessionLatching(t *testing.T) {
	c := newCall(t, newTestAllocator(t, 2))
	nat, third := newFakePeer(t), newFakePeer(t)
	c.setLegs(t, codecPCMU, Codec{PT: 0, Name: "PCMU"})
	c.s.Start()

	// Before the client sends, its media goes to the SDP address.
	sendSeed(t, c.gw, c.sessionGW, 1, 1)
	expectSeed(t, c, c.edge.rtp, 1)

	// The client's media comes from a NAT's address: latched.
	sendSeed(t, nat, c.sessionEdge, 1, 2)
	expectSeed(t, c, c.gw.rtp, 2)
	if got := c.s.Stats().Edge.Latched; got != localAddr(nat.rtp) {
		t.Fatalf("Latched = %s, want %s", got, localAddr(nat.rtp))
	}
	sendSeed(t, c.gw, c.sessionGW, 2, 3)
	expectSeed(t, c, nat.rtp, 3)

	// A third address is ignored.
	sendSeed(t, third, c.sessionEdge, 2, 4)
	sendSeed(t, nat, c.sessionEdge, 3, 5)
	expectSeed(t, c, c.gw.rtp, 5)
	if d := c.s.Stats().Edge.Dropped; d.Foreign != 1 || d.Total() != 1 {
		t.Fatalf("drops %+v, want one foreign", d)
	}

	// The signalled address is always heard, and takes the latch back.
	sendSeed(t, c.edge, c.sessionEdge, 4, 6)
	expectSeed(t, c, c.gw.rtp, 6)
	sendSeed(t, c.gw, c.sessionGW, 3, 7)
	expectSeed(t, c, c.edge.rtp, 7)

	// A re-INVITE that keeps the address keeps the latch…
	if err := c.s.SetLeg(Edge, c.edge.leg(Codec{PT: 0, Name: "PCMU", EventPT: 100})); err != nil {
		t.Fatal(err)
	}
	sendSeed(t, nat, c.sessionEdge, 5, 8) // latched to the SDP address: nat is foreign now
	sendSeed(t, c.edge, c.sessionEdge, 6, 9)
	expectSeed(t, c, c.gw.rtp, 9)
	if d := c.s.Stats().Edge.Dropped; d.Foreign != 2 {
		t.Fatalf("drops %+v, want a second foreign", d)
	}

	// …one to a new address resets it: the first source latches again.
	moved := newFakePeer(t)
	if err := c.s.SetLeg(Edge, moved.leg(codecPCMU)); err != nil {
		t.Fatal(err)
	}
	if got := c.s.Stats().Edge.Latched; got.IsValid() {
		t.Fatalf("Latched = %s after the leg moved, want none", got)
	}
	sendSeed(t, third, c.sessionEdge, 7, 10)
	expectSeed(t, c, c.gw.rtp, 10)
	sendSeed(t, c.gw, c.sessionGW, 4, 11)
	expectSeed(t, c, third.rtp, 11)
}

// TestSessionRelatchesAfterRebinding: the client's NAT moves its media
// to another port mid-call. While the latched port is still heard the new
// one is foreign; once the latched port has been silent RelatchAfter, the
// new port's media is relayed and the SBC's goes there. Before, every
// packet from the new port was dropped until the media timeout ended the
// call.
func TestSessionRelatchesAfterRebinding(t *testing.T) {
	c := newCall(t, newTestAllocator(t, 2))
	nat, rebound := newFakePeer(t), newFakePeer(t) // the same IP, two ports
	c.setLegs(t, codecPCMU, Codec{PT: 0, Name: "PCMU"})
	c.s.Start()
	sendSeed(t, nat, c.sessionEdge, 1, 1)
	expectSeed(t, c, c.gw.rtp, 1)
	lastHeard := time.Now()
	sendSeed(t, rebound, c.sessionEdge, 2, 2)
	waitFor(c.ctx, t, "the new port refused while the latched one is heard", func() bool { return c.s.Stats().Edge.Dropped.Foreign == 1 })
	seq := uint16(3)
	waitFor(c.ctx, t, "re-latched to the new port", func() bool {
		if c.s.Stats().Edge.Latched == localAddr(rebound.rtp) {
			return true
		}
		sendSeed(t, rebound, c.sessionEdge, seq, byte(seq))
		seq++
		time.Sleep(20 * time.Millisecond) // a packet every 20 ms, as a phone sends
		return false
	})
	if since := time.Since(lastHeard); since < RelatchAfter {
		t.Errorf("re-latched %v after the latched port's last packet, want at least %v", since, RelatchAfter)
	}
	sendSeed(t, c.gw, c.sessionGW, 1, 200)
	expectSeed(t, c, rebound.rtp, 200)
}

// TestSessionRefusesHijack: before the client's first packet, a stranger
// (another host: 127.0.0.2) sends RTP to the client's relay port, first
// random bytes, then well-formed RTP: none of it is relayed, latched to or
// answered, and it is counted. The client, behind a NAT (its media comes
// from 127.0.0.3, its SIP source, not its SDP address), is then heard and
// latched; a packet from it of a payload type its SDP did not negotiate
// does not latch.
func TestSessionRefusesHijack(t *testing.T) {
	c := newCall(t, newTestAllocator(t, 2))
	stranger := &fakePeer{rtp: listenOn(t, netip.MustParseAddr("127.0.0.2")), rtcp: listenOn(t, netip.MustParseAddr("127.0.0.2"))}
	natIP := netip.MustParseAddr("127.0.0.3")
	nat := &fakePeer{rtp: listenOn(t, natIP), rtcp: listenOn(t, natIP)}
	edge := c.edge.leg(codecPCMU)
	edge.Sources = []netip.Addr{natIP}
	if err := c.s.SetLeg(Edge, edge); err != nil {
		t.Fatal(err)
	}
	if err := c.s.SetLeg(Gateway, c.gw.leg(codecPCMU)); err != nil {
		t.Fatal(err)
	}
	c.s.Start()

	sendRaw(t, stranger.rtp, c.sessionEdge, []byte("\x80\x00 not a call of yours, 160 bytes or so"))
	sendSeed(t, stranger, c.sessionEdge, 1, 1)
	waitFor(c.ctx, t, "stranger's packets refused", func() bool { return c.s.Stats().Edge.Dropped.Foreign == 2 })
	if got := c.s.Stats().Edge.Latched; got.IsValid() {
		t.Fatalf("latched to %s after a stranger's packets", got)
	}
	// The SBC's media goes to the client's SDP address, not the stranger.
	sendSeed(t, c.gw, c.sessionGW, 1, 2)
	expectSeed(t, c, c.edge.rtp, 2)

	// A payload type the client did not negotiate (8: PCMA) is not latched to.
	nat.sendRTP(t, c.sessionEdge, rtp.Header{PayloadType: 8, SequenceNumber: 1, Timestamp: 160, SSRC: 77}, payload(160, 3))
	waitFor(c.ctx, t, "unnegotiated PT dropped", func() bool { return c.s.Stats().Edge.Dropped.UnknownPT == 1 })
	if got := c.s.Stats().Edge.Latched; got.IsValid() {
		t.Fatalf("latched to %s by a packet of an unnegotiated payload type", got)
	}
	// The client's own media from behind its NAT is relayed and latched.
	sendSeed(t, nat, c.sessionEdge, 2, 4)
	expectSeed(t, c, c.gw.rtp, 4)
	if got := c.s.Stats().Edge.Latched; got != localAddr(nat.rtp) {
		t.Fatalf("Latched = %s, want the client's NAT address %s", got, localAddr(nat.rtp))
	}
	sendSeed(t, c.gw, c.sessionGW, 2, 5)
	expectSeed(t, c, nat.rtp, 5)
	// The stranger stays out.
	sendSeed(t, stranger, c.sessionEdge, 3, 6)
	waitFor(c.ctx, t, "stranger refused after latching", func() bool { return c.s.Stats().Edge.Dropped.Foreign == 3 })
	// The SBC got the client's one packet and nothing of the stranger's.
	if got := c.s.Stats().Gateway.RTPSent; got != 1 {
		t.Fatalf("the SBC was sent %d packets, want 1 (the client's)", got)
	}
}

func TestSessionWithoutLatching(t *testing.T) {
	a := newTestAllocator(t, 2)
	s, err := NewSession(a, testLogger(t), WithLatching(false))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := &call{s: s, edge: newFakePeer(t), gw: newFakePeer(t), alloc: a, ctx: testContext(t),
		sessionEdge: s.Local(Edge), sessionGW: s.Local(Gateway)}
	nat, third := newFakePeer(t), newFakePeer(t)
	c.setLegs(t, codecPCMU, Codec{PT: 0, Name: "PCMU"})
	s.Start()
	sendSeed(t, nat, c.sessionEdge, 1, 1)
	expectSeed(t, c, c.gw.rtp, 1)
	sendSeed(t, third, c.sessionEdge, 2, 2)
	expectSeed(t, c, c.gw.rtp, 2)
	sendSeed(t, c.gw, c.sessionGW, 1, 3)
	expectSeed(t, c, c.edge.rtp, 3) // the SDP address, not a source
	if st := s.Stats().Edge; st.Latched.IsValid() || st.Dropped.Total() != 0 {
		t.Fatalf("stats %+v: want no latch, no drops", st)
	}
}

// readReport reads RTCP datagrams at conn until one parses (decrypting with
// crypto when set) and returns its packets.
func readReport(t *testing.T, c *call, conn *net.UDPConn, crypto *clientCrypto) []rtcp.Packet {
	t.Helper()
	b, _, err := readRaw(c.ctx, conn)
	if err != nil {
		t.Fatalf("no RTCP at %s: %v", conn.LocalAddr(), err)
	}
	if crypto != nil {
		if b, err = crypto.rtcpIn.DecryptRTCP(nil, b, nil); err != nil {
			t.Fatalf("client cannot decrypt the session's SRTCP: %v", err)
		}
	}
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		t.Fatalf("report does not parse: %v", err)
	}
	return pkts
}

// TestSessionLatchesRTCP: reports go to the SDP RTCP address, then to the
// port above the latched RTP source (a NAT: another IP than the SDP's),
// then to where the peer's own RTCP comes from; a third RTCP source is
// ignored.
func TestSessionLatchesRTCP(t *testing.T) {
	a := newTestAllocator(t, 2)
	s, err := NewSession(a, testLogger(t), WithRTCPInterval(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := &call{s: s, edge: newFakePeer(t), gw: newFakePeer(t), alloc: a, ctx: testContext(t),
		sessionEdge: s.Local(Edge), sessionGW: s.Local(Gateway)}
	// The NAT, at the client's SIP source address, maps its RTP and RTCP
	// to consecutive ports.
	natIP := netip.MustParseAddr("127.0.1.61")
	low, _ := freeRange(t, 1)
	nat := &fakePeer{rtp: listenAtOn(t, natIP, low), rtcp: listenAtOn(t, natIP, low+1)}
	elsewhere, third := listenLoopback(t), listenLoopback(t)
	edge := c.edge.leg(codecPCMU)
	edge.Sources = []netip.Addr{natIP}
	c.setLegLegs(t, edge, c.gw.leg(Codec{PT: 0, Name: "PCMU"}))
	s.Start()

	readReport(t, c, c.edge.rtcp, nil)

	sendSeed(t, nat, c.sessionEdge, 1, 1)
	expectSeed(t, c, c.gw.rtp, 1)
	readReport(t, c, nat.rtcp, nil)

	rr, err := (&rtcp.ReceiverReport{SSRC: 1000}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	sendRaw(t, elsewhere, rtcpOf(c.sessionEdge), rr)
	readReport(t, c, elsewhere, nil)

	sendRaw(t, third, rtcpOf(c.sessionEdge), rr)
	waitFor(c.ctx, t, "foreign RTCP dropped", func() bool { return s.Stats().Edge.Dropped.Foreign == 1 })
	if got, _ := s.legs[Edge].rtcpDest(s.legs[Edge].peer.Load(), true); got != localAddr(elsewhere) {
		t.Fatalf("reports go to %s after a foreign RTCP packet, want %s", got, localAddr(elsewhere))
	}
}

// TestSessionRTCPToSDPOnSameIP: a peer whose RTP comes from another port
// of its SDP's own IP (an SBC sending from another socket than the one it
// receives on: no NAT) gets our reports at the RTCP address its SDP named
// (a=rtcp, RFC 3605), not at the port above its RTP source, which it
// never named; until its own RTCP comes from elsewhere, which wins.
func TestSessionRTCPToSDPOnSameIP(t *testing.T) {
	a := newTestAllocator(t, 2)
	s, err := NewSession(a, testLogger(t), WithRTCPInterval(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := &call{s: s, edge: newFakePeer(t), gw: newFakePeer(t), alloc: a, ctx: testContext(t),
		sessionEdge: s.Local(Edge), sessionGW: s.Local(Gateway)}
	// The SBC sends its RTP from low, and listens for RTCP at its a=rtcp
	// (c.gw.rtcp, not its RTP port + 1); low+1 would get the guess.
	low, _ := freeRange(t, 1)
	sender := &fakePeer{rtp: listenAt(t, low), rtcp: listenAt(t, low+1)}
	c.setLegs(t, codecPCMU, Codec{PT: 0, Name: "PCMU"})
	s.Start()

	sendSeed(t, sender, c.sessionGW, 1, 1)
	expectSeed(t, c, c.edge.rtp, 1)
	waitFor(c.ctx, t, "the SBC's RTP latched", func() bool { return s.Stats().Gateway.Latched == localAddr(sender.rtp) })
	// Reports sent after the latch: the next one or two at c.gw.rtcp.
	for range 3 {
		readReport(t, c, c.gw.rtcp, nil)
	}
	if got, _ := s.legs[Gateway].rtcpDest(s.legs[Gateway].peer.Load(), true); got != localAddr(c.gw.rtcp) {
		t.Fatalf("reports go to %s, want the SDP's RTCP address %s", got, localAddr(c.gw.rtcp))
	}
	_ = sender.rtcp.SetReadDeadline(time.Now())
	if _, _, err := sender.rtcp.ReadFromUDPAddrPort(make([]byte, 1500)); err == nil {
		t.Fatal("a report went to the port above the SBC's RTP source, which it never named")
	}

	// The SBC's own RTCP from another port of its IP takes the RTCP latch.
	rr, err := (&rtcp.ReceiverReport{SSRC: 1000}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	own := listenLoopback(t)
	sendRaw(t, own, rtcpOf(c.sessionGW), rr)
	readReport(t, c, own, nil)
}

func listenAt(t *testing.T, port int) *net.UDPConn {
	t.Helper()
	return listenAtOn(t, loopback, port)
}

func listenAtOn(t *testing.T, ip netip.Addr, port int) *net.UDPConn {
	t.Helper()
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// TestLatchRTCPKeptOnZeroHold: a peer that holds with c=0.0.0.0 (RFC 2543)
// keeps its RTCP latch: its RTCP, from the media address it used, still
// counts (the media timeout runs on hold), though neither its SDP nor its
// signalling names that address.
func TestLatchRTCPKeptOnZeroHold(t *testing.T) {
	t.Parallel()
	c := newCall(t, newTestAllocator(t, 2))
	c.setLegs(t, codecPCMU, codecPCMU)
	c.s.Start()
	rr, err := (&rtcp.ReceiverReport{SSRC: 9}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	to := rtcpOf(c.sessionGW)
	sendRaw(t, c.gw.rtcp, to, rr)
	waitFor(c.ctx, t, "RTCP latched", func() bool {
		return c.s.Stats().Gateway.RTCPReceived == 1 && c.s.legs[Gateway].rtcpLatch.cur.Load() != nil
	})
	held := c.gw.leg(codecPCMU)
	held.RTP = netip.AddrPortFrom(netip.IPv4Unspecified(), held.RTP.Port())
	held.RTCP = netip.AddrPortFrom(netip.IPv4Unspecified(), held.RTCP.Port())
	if err := c.s.SetLeg(Gateway, held); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		sendRaw(t, c.gw.rtcp, to, rr)
	}
	// The one reader counts a datagram before it handles it, in order: at
	// the fifth, the first three of the hold have been handled.
	waitFor(c.ctx, t, "RTCP on hold read", func() bool { return c.s.Stats().Gateway.RTCPReceived == 5 })
	if d := c.s.Stats().Gateway.Dropped; d.Foreign != 0 {
		t.Fatalf("the held peer's RTCP was dropped as foreign (%d): its latch was lost", d.Foreign)
	}
}

// TestLatchZeroHoldKeepsPeerIPs: a peer that holds with c=0.0.0.0 (RFC
// 2543) keeps the IPs it used as its own: from the media address of its
// SDP before the hold (an SBC's media interface, not its SIP one), its
// music on hold and its RTCP latch on hold though no latch was there to
// carry, after a repeated hold offer too; a stranger's IP still does not;
// once it resumes at another address, the old one is no longer its own.
// Before, only the signalling IP was, and an SBC whose media interface is
// not its SIP one lost its music on hold and its RTCP (a false media
// timeout) as foreign.
func TestLatchZeroHoldKeepsPeerIPs(t *testing.T) {
	sip := netip.MustParseAddr("192.0.2.1")
	media := netip.MustParseAddrPort("192.0.2.50:4000")
	mediaRTCP := netip.AddrPortFrom(media.Addr(), 4001)
	stranger := netip.MustParseAddrPort("203.0.113.9:4000")
	talking := mustPeer(t, Leg{RTP: media, Codec: codecPCMU, Sources: []netip.Addr{sip}})
	zero := Leg{RTP: netip.MustParseAddrPort("0.0.0.0:4000"), Codec: codecPCMU, Sources: []netip.Addr{sip}}
	next := func(leg Leg, prev *peer) *peer {
		t.Helper()
		p, err := newPeer(leg, prev)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	held := next(zero, talking)
	for _, p := range []*peer{held, next(zero, held)} {
		var rtpLatch, rtcpLatch latch
		if !rtpLatch.accepts(p, p.rtp, media, 0) || !rtcpLatch.accepts(p, p.rtcp, mediaRTCP, 0) {
			t.Errorf("on hold (sources %v): the peer's media address %s refused", p.sources, media.Addr())
		}
		if rtpLatch.accepts(p, p.rtp, stranger, 0) || rtcpLatch.accepts(p, p.rtcp, stranger, 0) {
			t.Errorf("on hold (sources %v): the stranger %s accepted", p.sources, stranger)
		}
	}
	if first := mustPeer(t, zero); !slices.Equal(first.sources, []netip.Addr{sip}) {
		t.Errorf("a first leg on hold has sources %v, want %s alone", first.sources, sip)
	}
	var l latch
	if resumed := next(Leg{RTP: netip.MustParseAddrPort("192.0.2.60:4000"), Codec: codecPCMU, Sources: []netip.Addr{sip}}, held); l.accepts(resumed, resumed.rtp, media, 0) {
		t.Errorf("resumed elsewhere (sources %v): the address before the hold %s still accepted", resumed.sources, media)
	}
}
