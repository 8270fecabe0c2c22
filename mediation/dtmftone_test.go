package mediation_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/zaf/g711"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/tone"
)

// TestEarlyEventsBecomeTones: the callee's 183 lists telephone-event and
// its 200 does not; the caller keeps the 183's answer (RFC 3261
// §13.2.1), with events, and sends a digit as RFC 4733 events (a 200 ms
// event: a start, updates every 50 ms, three end packets). The callee,
// which agreed to no events in the end, hears the digit as in-band DTMF in
// its law: the key's two tones for exactly the event's 200 ms, in 20 ms
// packets, nothing for the retransmitted end packets (the caller's audio
// after the event comes next, in sequence).
func TestEarlyEventsBecomeTones(t *testing.T) {
	const digit = 7 // 852 + 1209 Hz
	run := func(t *testing.T, caller *peer, target netip.AddrPort, callerMedia, calleeMedia *net.UDPConn, callee *peer) {
		t.Helper()
		ctx := testCtx(t, 30*time.Second)
		oc := answeredPeerCall(ctx, t, caller, target, callerMedia)
		ans := media(t, "answer to the caller", oc.final.Body())
		ev, ok := ans.TelephoneEvent()
		if !ok {
			t.Fatalf("the caller's answer [%s] lost telephone-event: it must repeat the 183's", codecNames(ans))
		}
		callee.wait(ctx, gosip.INVITE, 1)
		durations := []uint16{400, 800, 1200, 1600, 1600, 1600, 1600}
		for i, d := range durations {
			end := byte(0)
			if i >= 3 {
				end = 0x80
			}
			payload := []byte{digit, end | 10, 0, 0}
			binary.BigEndian.PutUint16(payload[2:], d)
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: ev.PT, SequenceNumber: uint16(100 + i),
				Timestamp: 8000, SSRC: 0x77, Marker: i == 0}, Payload: payload}
			b, _ := pkt.Marshal()
			if _, err := callerMedia.WriteToUDPAddrPort(b, ans.RTP()); err != nil {
				t.Fatal(err)
			}
		}
		// Then audio (µ-law silence) from the end of the event on: the
		// callee's next packet after the tone, in sequence.
		silence := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(100 + len(durations)),
			Timestamp: 8000 + 1600, SSRC: 0x77, Marker: true}, Payload: bytes.Repeat([]byte{0xff}, 160)}
		b, _ := silence.Marshal()
		if _, err := callerMedia.WriteToUDPAddrPort(b, ans.RTP()); err != nil {
			t.Fatal(err)
		}
		// What the callee hears: PCMU (its 200's only law), 1600 samples
		// in ten 20 ms packets, then the silence.
		var heard []int16
		var first rtp.Header
		buf := make([]byte, 1500)
		for i := 0; ; i++ {
			_ = calleeMedia.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := calleeMedia.Read(buf)
			if err != nil {
				t.Fatalf("after %d samples in %d packets: %v", len(heard), i, err)
			}
			var p rtp.Packet
			if p.Unmarshal(buf[:n]) != nil || p.PayloadType != 0 {
				t.Fatalf("callee got %d bytes, not PCMU RTP (PT %d)", n, p.PayloadType)
			}
			if i == 0 {
				first = p.Header
			}
			if p.SequenceNumber != first.SequenceNumber+uint16(i) || p.Timestamp != first.Timestamp+uint32(160*i) || len(p.Payload) != 160 {
				t.Fatalf("packet %d: seq %d ts %d, %d samples; want seq %d ts %d, 160", i, p.SequenceNumber, p.Timestamp,
					len(p.Payload), first.SequenceNumber+uint16(i), first.Timestamp+uint32(160*i))
			}
			if bytes.Equal(p.Payload, silence.Payload) {
				if i != 10 {
					t.Fatalf("the silence after %d packets of tone, want 10 (200 ms)", i)
				}
				break
			}
			heard = append(heard, pcmSamples(g711.DecodeUlaw(p.Payload))...)
		}
		if got, ok := tone.DetectDTMF(heard, 8000); !ok || got != digit {
			t.Errorf("the callee heard DTMF %d (%v), want %d", got, ok, digit)
		}
		_ = oc.d.Bye(ctx)
		callee.wait(ctx, gosip.BYE, 1)
	}
	t.Run("outbound", func(t *testing.T) {
		sbcMedia := rtpSock(t)
		sbc := startPeer(t, "sbc")
		sbc.invites(func(pi *peerInvite) {
			pi.respond(183, loopSDP(sockPort(sbcMedia), "sendrecv", true, "PCMU"))
			pi.respond(200, loopSDP(sockPort(sbcMedia), "sendrecv", false, "PCMU"))
		})
		srv := serveTo(t, sbc.addr(), "udp", nil)
		run(t, startPeer(t, "caller"), srv.EdgeAddr(), rtpSock(t), sbcMedia, sbc)
	})
	t.Run("inbound", func(t *testing.T) {
		clientMedia := rtpSock(t)
		sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
		edge.invites(func(pi *peerInvite) {
			pi.respond(183, loopSDP(sockPort(clientMedia), "sendrecv", true, "PCMU"))
			pi.respond(200, loopSDP(sockPort(clientMedia), "sendrecv", false, "PCMU"))
		})
		srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = edge.addr().String() })
		run(t, sbc, srv.GatewayAddr(), rtpSock(t), clientMedia, edge)
	})
}
