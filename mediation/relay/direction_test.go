package relay

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// TestSessionNoSendHoldsRTP: a leg set NoSend (our SDP to its peer is
// recvonly or inactive: RFC 3264 §5.1) gets no RTP from the relay, nor
// DTMF events, whatever the other peer sends (a lax SBC that ignores the
// client's hold): each such packet is dropped as no_peer on the side it
// came from. The held peer's own RTP is still relayed (a sendonly hold's
// music), and our RTCP reports still reach it. Once it may be sent to
// again, its stream resumes with the next sequence number (the packets
// held back are not lost to it) and the marker bit.
func TestSessionNoSendHoldsRTP(t *testing.T) {
	c := newCall(t, newTestAllocator(t, 2), WithRTCPInterval(20*time.Millisecond))
	c.setLegs(t, codecPCMU, codecPCMU)
	c.s.Start()

	send := func(from *fakePeer, to netip.AddrPort, seq uint16) {
		t.Helper()
		from.sendRTP(t, to, rtp.Header{PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 0x5bc}, payload(160, byte(seq)))
	}
	for seq := uint16(1); seq <= 3; seq++ {
		send(c.gw, c.sessionGW, seq)
	}
	var last rtp.Packet
	for range 3 {
		last, _ = readRTP(c.ctx, t, c.edge.rtp)
	}

	// The client holds: our SDP to it says we do not send.
	held := c.edge.leg(codecPCMU)
	held.NoSend = true
	if err := c.s.SetLeg(Edge, held); err != nil {
		t.Fatal(err)
	}
	for seq := uint16(4); seq <= 8; seq++ {
		send(c.gw, c.sessionGW, seq)
	}
	// A DTMF event from the SBC: not relayed to the held client either.
	ev := make([]byte, 4)
	ev[0], ev[1] = 5, 10
	binary.BigEndian.PutUint16(ev[2:], 160)
	c.gw.sendRTP(t, c.sessionGW, rtp.Header{PayloadType: 101, SequenceNumber: 9, Timestamp: 9 * 160, SSRC: 0x5bc, Marker: true}, ev)
	waitFor(c.ctx, t, "the SBC's packets dropped as no peer", func() bool { return c.s.Stats().Gateway.Dropped.NoPeer == 6 })
	_ = c.edge.rtp.SetReadDeadline(time.Now())
	if _, _, err := c.edge.rtp.ReadFromUDPAddrPort(make([]byte, 1500)); err == nil {
		t.Fatal("the held client got RTP")
	}
	if st := c.s.Stats().Edge; st.RTPSent != 3 {
		t.Fatalf("edge RTPSent %d, want 3", st.RTPSent)
	}

	// The held client's own RTP (music on hold) still reaches the SBC.
	c.edge.sendRTP(t, c.sessionEdge, rtp.Header{PayloadType: 0, SequenceNumber: 1, Timestamp: 160, SSRC: 0xc1}, payload(160, 77))
	if p, _ := readRTP(c.ctx, t, c.gw.rtp); p.Payload[0] != 77 {
		t.Fatalf("SBC got payload %x…, want the client's", p.Payload[:4])
	}
	// Our reports still reach the held client.
	sent := c.s.Stats().Edge.RTCPSent
	waitFor(c.ctx, t, "reports to the held client", func() bool { return c.s.Stats().Edge.RTCPSent >= sent+2 })
	readReport(t, c, c.edge.rtcp, nil)

	// Resume: the SBC's audio reaches the client again, our stream runs
	// on from the last packet sent, with the marker bit.
	if err := c.s.SetLeg(Edge, c.edge.leg(codecPCMU)); err != nil {
		t.Fatal(err)
	}
	send(c.gw, c.sessionGW, 10)
	p, _ := readRTP(c.ctx, t, c.edge.rtp)
	if p.SequenceNumber != last.SequenceNumber+1 || !p.Marker || p.Payload[0] != 10 {
		t.Fatalf("after resume got seq %d marker %v payload %x, want seq %d, marker, payload of packet 10",
			p.SequenceNumber, p.Marker, p.Payload[0], last.SequenceNumber+1)
	}
	if got, want := p.Timestamp-last.Timestamp, uint32(7*160); got != want {
		t.Fatalf("timestamp advanced %d, want the sender's %d", got, want)
	}
}
