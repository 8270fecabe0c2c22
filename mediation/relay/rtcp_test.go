package relay

import (
	"slices"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// reportOf returns the SR or RR of a compound packet, its reception blocks
// and whether it carries an SDES CNAME.
func reportOf(pkts []rtcp.Packet) (sr *rtcp.SenderReport, rr *rtcp.ReceiverReport, blocks []rtcp.ReceptionReport, cname bool) {
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.SenderReport:
			sr, blocks = p, p.Reports
		case *rtcp.ReceiverReport:
			rr, blocks = p, p.Reports
		case *rtcp.SourceDescription:
			for _, c := range p.Chunks {
				for _, item := range c.Items {
					cname = cname || (item.Type == rtcp.SDESCNAME && item.Text != "")
				}
			}
		}
	}
	return sr, rr, blocks, cname
}

// waitReport reads reports at the peer until one satisfies ok. Every report
// must be ours: from the SSRC of the stream we send the peer (nothing the
// other peer sent is relayed).
func waitReport(t *testing.T, c *call, p *fakePeer, ours uint32, crypto *clientCrypto, what string, ok func(*rtcp.SenderReport, []rtcp.ReceptionReport) bool) *rtcp.SenderReport {
	t.Helper()
	for {
		if c.ctx.Err() != nil {
			t.Fatalf("no report with %s", what)
		}
		sr, rr, blocks, cname := reportOf(readReport(t, c, p.rtcp, crypto))
		if !cname || (sr == nil) == (rr == nil) {
			t.Fatalf("report without CNAME or without exactly one SR/RR: SR %v RR %v", sr, rr)
		}
		if ssrc := ssrcOf(sr, rr); ssrc != ours {
			t.Fatalf("report from SSRC %#x, want ours %#x", ssrc, ours)
		}
		if ok(sr, blocks) {
			return sr
		}
	}
}

func ssrcOf(sr *rtcp.SenderReport, rr *rtcp.ReceiverReport) uint32 {
	if sr != nil {
		return sr.SSRC
	}
	return rr.SSRC
}

// sendReportFrom sends an RTCP compound packet from the peer to the session.
func sendReportFrom(t *testing.T, c *call, p *fakePeer, side Side, crypto *clientCrypto, pkts ...rtcp.Packet) {
	t.Helper()
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		t.Fatal(err)
	}
	if crypto != nil {
		if b, err = crypto.rtcpOut.EncryptRTCP(nil, b, nil); err != nil {
			t.Fatal(err)
		}
	}
	sendRaw(t, p.rtcp, rtcpOf(c.s.Local(side)), b)
}

// TestSessionTerminatesRTCP: each peer gets our own SR about the stream we
// send it, with a reception block about its stream (loss from skipped
// sequence numbers, LSR/DLSR of its SR), and its reports about our stream
// give a round-trip time. Nothing is relayed between the RTCP ports.
func TestSessionTerminatesRTCP(t *testing.T) {
	const edgeSSRC, gwSSRC = 0xED6E, 0xB0B
	tests := []struct {
		name string
		srtp bool
	}{{"RTP client", false}, {"SRTP client", true}}
	a := newTestAllocator(t, 4)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSession(a, testLogger(t), WithRTCPInterval(30*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			c := &call{s: s, edge: newFakePeer(t), gw: newFakePeer(t), alloc: a, ctx: testContext(t),
				sessionEdge: s.Local(Edge), sessionGW: s.Local(Gateway)}
			edgeLeg := c.edge.leg(codecPCMU)
			var crypto *clientCrypto
			if tt.srtp {
				edgeLeg.SRTP = &SRTP{Profile: ProfileAES128SHA1_80, Recv: sfbKeying(t, "sfb-savp-audio-video-offer.sdp"), Send: ourKeying()}
				crypto = newClientCrypto(t, edgeLeg.SRTP)
			}
			if err := s.SetLeg(Edge, edgeLeg); err != nil {
				t.Fatal(err)
			}
			if err := s.SetLeg(Gateway, c.gw.leg(codecPCMA)); err != nil {
				t.Fatal(err)
			}
			s.Start()

			// 20 packets from the client, 3 sequence numbers skipped.
			skipped := []uint16{105, 110, 111}
			var edgeSent int
			var lastEdgeSeq uint16
			for seq := uint16(100); edgeSent < 20; seq++ {
				if slices.Contains(skipped, seq) {
					continue
				}
				b := marshal(t, &rtp.Packet{Header: rtp.Header{PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: edgeSSRC}, Payload: payload(160, 1)})
				if crypto != nil {
					b = crypto.encryptRTP(t, b)
				}
				sendRaw(t, c.edge.rtp, c.sessionEdge, b)
				edgeSent++
				lastEdgeSeq = seq
			}
			var toGW rtp.Packet
			for range edgeSent {
				toGW, _ = readRTP(c.ctx, t, c.gw.rtp)
			}
			for i := range 10 {
				c.gw.sendRTP(t, c.sessionGW, rtp.Header{PayloadType: 8, SequenceNumber: uint16(7 + i), Timestamp: uint32(i) * 160, SSRC: gwSSRC}, payload(160, 2))
			}
			var toEdge rtp.Header
			for range 10 {
				b, _, err := readRaw(c.ctx, c.edge.rtp)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := toEdge.Unmarshal(b); err != nil { // SRTP leaves the header in clear
					t.Fatal(err)
				}
			}

			// The gateway's SR: our stream of 20 packets, its stream complete.
			waitReport(t, c, c.gw, toGW.SSRC, nil, "20 packets sent and the gateway's 10 received", func(sr *rtcp.SenderReport, b []rtcp.ReceptionReport) bool {
				return sr != nil && sr.SSRC == toGW.SSRC && sr.PacketCount == 20 && sr.OctetCount == 20*160 &&
					len(b) == 1 && b[0].SSRC == gwSSRC && b[0].LastSequenceNumber == 16 && b[0].TotalLost == 0
			})
			// The client's SR: 10 packets to it, 3 of its packets lost.
			sr := waitReport(t, c, c.edge, toEdge.SSRC, crypto, "3 of the client's packets lost", func(sr *rtcp.SenderReport, b []rtcp.ReceptionReport) bool {
				return sr != nil && sr.PacketCount == 10 && len(b) == 1 && b[0].SSRC == edgeSSRC &&
					b[0].TotalLost == 3 && b[0].LastSequenceNumber == uint32(lastEdgeSeq)
			})

			// The client reports on our stream as if it had held our SR for
			// 1 s after a 2 s older LSR: RTT = (arrival - SR time) + 1 s.
			sendReportFrom(t, c, c.edge, Edge, crypto, &rtcp.ReceiverReport{SSRC: edgeSSRC, Reports: []rtcp.ReceptionReport{{
				SSRC: sr.SSRC, LastSenderReport: ntpMiddle(sr.NTPTime) - 2<<16, Delay: 1 << 16,
			}}})
			waitFor(c.ctx, t, "an RTT", func() bool { return s.Stats().Edge.RTT != 0 })
			if rtt, most := s.Stats().Edge.RTT, time.Second+time.Since(s.epoch); rtt < time.Second || rtt > most {
				t.Fatalf("RTT %v, want between 1 s and %v", rtt, most)
			}

			// The client's SR comes back as LSR in our next report.
			clientNTP := ntpTime(time.Now())
			sendReportFrom(t, c, c.edge, Edge, crypto, &rtcp.SenderReport{SSRC: edgeSSRC, NTPTime: clientNTP, PacketCount: 20})
			waitReport(t, c, c.edge, toEdge.SSRC, crypto, "the client's SR as LSR", func(_ *rtcp.SenderReport, b []rtcp.ReceptionReport) bool {
				return len(b) == 1 && b[0].LastSenderReport == ntpMiddle(clientNTP) && shortNTP(b[0].Delay) < testTimeout
			})

			st := s.Stats()
			if st.Edge.Lost != 3 || st.Gateway.Lost != 0 || st.Gateway.RTT != 0 {
				t.Fatalf("lost %d/%d, gateway RTT %v; want 3/0 and none", st.Edge.Lost, st.Gateway.Lost, st.Gateway.RTT)
			}
			if st.Edge.RTCPReceived != 2 || st.Edge.Dropped.Total() != 0 || st.Edge.RTCPSent == 0 || st.Gateway.RTCPSent == 0 {
				t.Fatalf("RTCP counters: edge %+v, gateway %+v", st.Edge, st.Gateway)
			}
		})
	}
}

// TestSessionLossAndJitterStats checks Stats between RTCP reports.
func TestSessionLossAndJitterStats(t *testing.T) {
	a := newTestAllocator(t, 2)
	s, err := NewSession(a, testLogger(t), WithRTCPInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := &call{s: s, edge: newFakePeer(t), gw: newFakePeer(t), alloc: a, ctx: testContext(t),
		sessionEdge: s.Local(Edge), sessionGW: s.Local(Gateway)}
	c.setLegs(t, codecPCMU, codecPCMA)
	s.Start()
	sent := 0
	for seq := uint16(65530); sent < 20; seq++ {
		if seq == 65535 || seq == 3 || seq == 4 {
			continue // 3 lost, across the wrap
		}
		c.edge.sendRTP(t, c.sessionEdge, rtp.Header{PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 4}, payload(160, 0))
		sent++
	}
	waitFor(c.ctx, t, "20 packets relayed", func() bool { return s.Stats().Gateway.RTPSent == 20 })
	st := s.Stats().Edge
	if st.Lost != 3 || st.FractionLost != 3.0/23 || st.Jitter < 0 || st.Codec != "PCMU" || st.Latched != localAddr(c.edge.rtp) {
		t.Fatalf("edge stats %+v; want 3 lost (3/23), codec PCMU, latched to %s", st, localAddr(c.edge.rtp))
	}
	if d := float64(st.JitterUnits) - st.Jitter.Seconds()*clockRate; d > 1 || d < -1 {
		t.Fatalf("jitter %v is not %d units", st.Jitter, st.JitterUnits)
	}
}

// TestSessionLossSurvivesSSRCChange: the client sends 100 packets with
// every 10th missing, then restarts its stream with another SSRC (a
// transfer, a DSP restart) and loses nothing: the leg's loss stays 10,
// while our report block is about the new source alone.
func TestSessionLossSurvivesSSRCChange(t *testing.T) {
	a := newTestAllocator(t, 2)
	c := newCall(t, a, WithRTCPInterval(time.Hour))
	c.setLegs(t, codecPCMU, codecPCMA)
	c.s.Start()
	sent := 0
	for i := range 100 {
		if i%10 == 9 {
			continue
		}
		c.edge.sendRTP(t, c.sessionEdge, rtp.Header{PayloadType: 0, SequenceNumber: uint16(1000 + i), Timestamp: uint32(i) * 160, SSRC: 0xC1}, payload(160, 0))
		sent++
	}
	for i := range 50 {
		c.edge.sendRTP(t, c.sessionEdge, rtp.Header{PayloadType: 0, SequenceNumber: uint16(40000 + i), Timestamp: 7777 + uint32(i)*160, SSRC: 0xD2}, payload(160, 0))
		sent++
	}
	waitFor(c.ctx, t, "every packet relayed", func() bool { return c.s.Stats().Gateway.RTPSent == uint64(sent) })
	if st := c.s.Stats().Edge; st.Lost != 9 || st.RTPAccepted != uint64(sent) {
		t.Fatalf("edge lost %d of %d accepted, want 9 (the 10th, 20th, ... 90th; the 100th is not known lost) of %d", st.Lost, st.RTPAccepted, sent)
	}
	rr, ok := c.s.legs[Edge].recv.report(c.s.now())
	if !ok || rr.SSRC != 0xD2 || rr.TotalLost != 0 {
		t.Fatalf("report block %+v, want one about 0xD2 with no loss", rr)
	}
}

// TestSessionDropsOversizedRTCP: an RTCP compound larger than a datagram
// the relay takes (maxPacket) is dropped as malformed, and the next report
// is read as usual.
func TestSessionDropsOversizedRTCP(t *testing.T) {
	a := newTestAllocator(t, 4)
	c := newCall(t, a)
	c.setLegs(t, codecPCMU, codecPCMA)
	c.s.Start()
	big := &rtcp.ReceiverReport{SSRC: 0xED6E, ProfileExtensions: make([]byte, maxPacket)}
	sendReportFrom(t, c, c.edge, Edge, nil, big)
	sendReportFrom(t, c, c.edge, Edge, nil, &rtcp.ReceiverReport{SSRC: 0xED6E})
	waitFor(c.ctx, t, "both reports read", func() bool { return c.s.Stats().Edge.RTCPReceived == 2 })
	if d := c.s.Stats().Edge.Dropped; d.Malformed != 1 || d.Total() != 1 {
		t.Fatalf("drops %+v, want the oversized report alone, as malformed", d)
	}
}

// TestSessionSaysGoodbye: as an anchored call ends, each peer we sent media
// gets our last report with an RTCP BYE for our stream to it (RFC 3550
// §6.6); a session that sent nothing sends no BYE (§6.3.7).
func TestSessionSaysGoodbye(t *testing.T) {
	a := newTestAllocator(t, 4)
	c := newCall(t, a, WithRTCPInterval(time.Hour))
	c.setLegs(t, codecPCMU, codecPCMA)
	c.s.Start()
	c.edge.sendRTP(t, c.sessionEdge, rtp.Header{PayloadType: 0, SequenceNumber: 1, SSRC: 0xC1}, payload(160, 0))
	c.gw.sendRTP(t, c.sessionGW, rtp.Header{PayloadType: 8, SequenceNumber: 1, SSRC: 0x5B}, payload(160, 0))
	toGW, _ := readRTP(c.ctx, t, c.gw.rtp)
	toEdge, _ := readRTP(c.ctx, t, c.edge.rtp)
	if err := c.s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		peer *fakePeer
		ours uint32
	}{{c.edge, toEdge.SSRC}, {c.gw, toGW.SSRC}} {
		pkts := readReport(t, c, tt.peer.rtcp, nil)
		sr, rr, _, cname := reportOf(pkts)
		bye, ok := pkts[len(pkts)-1].(*rtcp.Goodbye)
		if sr == nil || rr != nil || !cname || ssrcOf(sr, rr) != tt.ours || sr.PacketCount != 1 ||
			!ok || len(bye.Sources) != 1 || bye.Sources[0] != tt.ours {
			t.Fatalf("at %s: %v; want SR (1 packet), SDES and BYE of %#x", tt.peer.rtcp.LocalAddr(), pkts, tt.ours)
		}
	}

	quiet := newCall(t, a, WithRTCPInterval(time.Hour))
	quiet.setLegs(t, codecPCMU, codecPCMA)
	quiet.s.Start()
	if err := quiet.s.Close(); err != nil {
		t.Fatal(err)
	}
	// Close sent whatever it sends before returning: it is in the socket.
	for _, p := range []*fakePeer{quiet.edge, quiet.gw} {
		_ = p.rtcp.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if n, _, err := p.rtcp.ReadFromUDPAddrPort(make([]byte, 1500)); err == nil {
			t.Errorf("%d bytes of RTCP from a session that sent nothing", n)
		}
	}
}
