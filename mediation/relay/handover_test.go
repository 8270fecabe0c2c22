package relay

import (
	"bytes"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// TestSessionInheritContinuesOurStream: a transfer re-points the
// gateway's peer to another session of the call. Our stream to it goes
// on there (README "Headers"): the same SSRC, the next sequence number,
// the timestamp advanced by the wall time, the marker bit, the sender
// report's counts, and no RTCP BYE from the old session. Under the same
// send key the old send context goes on too: our stream had wrapped its
// sequence numbers (rollover counter 1), and the peer's one receive
// context decrypts the new session's packets. Under a new send key the
// stream is new to the peer's new context (rollover counter 0). Nothing
// of another stream of ours reaches the peer before the old one is
// carried over (Await), and the new session's Earlier is the old one's
// final counts. Before, the new session sent a stream of its own: new
// SSRC, random sequence number and timestamp, no marker.
func TestSessionInheritContinuesOurStream(t *testing.T) {
	peerKey := Keying{Master: bytes.Repeat([]byte{7}, 30), MKI: []byte{1}}
	tests := []struct {
		name      string
		srtp      bool
		newOurKey bool
	}{
		{"plain RTP", false, false},
		{"SRTP, same key", true, false},
		{"SRTP, new key of ours", true, true},
	}
	a := newTestAllocator(t, 4)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := &SRTP{Profile: ProfileAES128SHA1_80, Recv: peerKey, Send: ourKeying()}
			first := newCall(t, a)
			// Our stream to the gateway wraps within the first packets.
			first.s.pipes[Edge].rw = newRewriter(0xabc, 65533, 1000)
			first.s.ssrc[Gateway].Store(0xabc)
			gw := first.gw.leg(codecPCMU)
			if tt.srtp {
				gw.SRTP = old
			}
			first.setLegLegs(t, first.edge.leg(codecPCMU), gw)
			first.s.Start()
			var sbc *clientCrypto // the gateway's peer: one receive context
			if tt.srtp {
				sbc = newClientCrypto(t, old)
			}
			// received reads the gateway peer's next packet, decrypted.
			received := func(c *call) rtp.Packet {
				t.Helper()
				b, _, err := readRaw(c.ctx, c.gw.rtp)
				if err != nil {
					t.Fatal(err)
				}
				if sbc != nil {
					b = sbc.decryptRTP(t, b)
				}
				var p rtp.Packet
				if err := p.Unmarshal(b); err != nil {
					t.Fatal(err)
				}
				return p
			}
			var last rtp.Packet
			for i := range uint16(5) {
				first.edge.sendRTP(t, first.sessionEdge, rtp.Header{PayloadType: 0, SequenceNumber: 10 + i, Timestamp: 160 * uint32(i), SSRC: 7}, payload(160, byte(i)))
				last = received(first)
			}
			if last.SSRC != 0xabc || last.SequenceNumber != 1 {
				t.Fatalf("first session's last packet SSRC %x seq %d, want abc 1 (wrapped)", last.SSRC, last.SequenceNumber)
			}
			first.s.HandOff(Gateway)
			if err := first.s.Close(); err != nil {
				t.Fatal(err)
			}
			// Close sent what it sends before it returned: on loopback it
			// is queued already.
			buf := make([]byte, 1500)
			for {
				_ = first.gw.rtcp.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
				n, _, err := first.gw.rtcp.ReadFromUDP(buf)
				if err != nil {
					break
				}
				if sbc == nil {
					if pkts, err := rtcp.Unmarshal(buf[:n]); err == nil {
						for _, p := range pkts {
							if _, bye := p.(*rtcp.Goodbye); bye {
								t.Fatal("the old session sent the gateway's peer an RTCP BYE for our stream, which goes on")
							}
						}
					}
				} else {
					t.Fatalf("the old session sent the gateway's peer RTCP (%d bytes) at its close", n)
				}
			}

			second := newCall(t, a)
			second.edge, second.gw = newFakePeer(t), first.gw // the target; the same gateway peer
			second.s.Await(Gateway)
			renewed := &SRTP{Profile: ProfileAES128SHA1_80, Recv: peerKey, Send: ourKeying()}
			if tt.newOurKey {
				renewed.Send = Keying{Master: bytes.Repeat([]byte{9}, 30)}
			}
			gw = second.gw.leg(codecPCMU)
			if tt.srtp {
				gw.SRTP = renewed
			}
			second.setLegLegs(t, second.edge.leg(codecPCMU), gw)
			second.s.Start()
			// The target's media before the old stream is carried over
			// goes nowhere.
			second.edge.sendRTP(t, second.sessionEdge, rtp.Header{PayloadType: 0, SequenceNumber: 500, Timestamp: 9000, SSRC: 9}, payload(160, 50))
			waitFor(second.ctx, t, "the held packet dropped", func() bool { return second.s.Stats().Edge.Dropped.NoPeer == 1 })
			second.s.Continues(first.s)
			if err := second.s.Inherit(Gateway, first.s); err != nil {
				t.Fatal(err)
			}
			if tt.newOurKey {
				sbc = newClientCrypto(t, renewed)
			}
			second.edge.sendRTP(t, second.sessionEdge, rtp.Header{PayloadType: 0, SequenceNumber: 501, Timestamp: 9160, SSRC: 9}, payload(160, 51))
			p := received(second)
			if p.SSRC != last.SSRC || p.SequenceNumber != last.SequenceNumber+1 || !p.Marker {
				t.Fatalf("first packet after the handover: SSRC %x seq %d marker %v, want %x %d true", p.SSRC, p.SequenceNumber, p.Marker, last.SSRC, last.SequenceNumber+1)
			}
			if d := p.Timestamp - last.Timestamp; d < 160 || d%160 != 0 || d > 8000*uint32(testTimeout/time.Second) {
				t.Fatalf("timestamp advanced by %d, want whole packets of the wall time since the last", d)
			}
			if !bytes.Equal(p.Payload, payload(160, 51)) {
				t.Fatalf("payload %x…, want the target's", p.Payload[:4])
			}
			second.edge.sendRTP(t, second.sessionEdge, rtp.Header{PayloadType: 0, SequenceNumber: 502, Timestamp: 9320, SSRC: 9}, payload(160, 52))
			if q := received(second); q.SequenceNumber != p.SequenceNumber+1 || q.Timestamp != p.Timestamp+160 || q.Marker {
				t.Fatalf("next packet seq %d ts %d marker %v, want %d %d false", q.SequenceNumber, q.Timestamp, q.Marker, p.SequenceNumber+1, p.Timestamp+160)
			}
			// A packet is counted once its write returned, which may be
			// after the peer read it.
			var report *rtcp.SenderReport
			waitFor(second.ctx, t, "a sender report counting both periods' 7 packets", func() bool {
				report, _ = second.s.buildReport(Gateway, time.Now())[0].(*rtcp.SenderReport)
				return report != nil && report.PacketCount == 7 && second.s.Stats().Gateway.RTPSent == 2
			})
			if report.SSRC != last.SSRC {
				t.Fatalf("sender report to the gateway of SSRC %x, want %x", report.SSRC, last.SSRC)
			}
			before, ok := second.s.Earlier()
			if !ok || before.Gateway.RTPSent != 5 || before.Edge.RTPAccepted != 5 {
				t.Fatalf("earlier statistics %+v (%v), want the first session's 5 packets each way", before, ok)
			}
			if all := second.s.Stats().Plus(before); all.Gateway.RTPSent != 7 || all.Edge.RTPAccepted != 8 || all.Edge.Dropped.NoPeer != 1 {
				t.Fatalf("the call's statistics %+v, want 7 sent to the gateway, 8 accepted from the edge, 1 held", all)
			}
		})
	}
}
