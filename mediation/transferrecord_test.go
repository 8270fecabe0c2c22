package mediation_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/mediation-emulator/mediation/mediation"
)

// TestReferPerformedByServerRecord: an anchored call, the PSTN party and
// the client exchanging RTP, then a transfer the server performs, the
// target answering and exchanging RTP with the PSTN party, with and
// without SRTP on the trunk. The PSTN party gets our media from the new
// relay's port, a stream of its own (with SRTP under the new key of the
// re-INVITE). The call record counts the whole call: the gateway leg
// both periods' packets, the edge leg both parties', with the target's
// codec. Before, the record counted only the media after the transfer
// (r26-failmedia F2).
func TestReferPerformedByServerRecord(t *testing.T) {
	const before, after = 20, 30
	for _, withSRTP := range []bool{false, true} {
		t.Run(fmt.Sprintf("srtp %v", withSRTP), func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			l := newTransferLab(t, func(c *mediation.Config) {
				off := false
				c.Gateways[0].EnableBypass = &off
				if withSRTP {
					c.Gateways[0].SRTP = "required"
				}
			})
			sbcKeyBytes, _ := base64.StdEncoding.DecodeString(sbcKey)
			if withSRTP {
				// The SBC answers each offer with its own key, under the
				// offer's tag.
				answer := func(offer []byte) []byte {
					tag := 1
					if c := media(t, "offer to the SBC", offer).SRTP(); len(c) > 0 {
						tag = c[0].Tag
					}
					return fmt.Appendf(nil, "v=0\r\no=sbc 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
						"m=audio %d RTP/SAVP 8\r\na=rtpmap:8 PCMA/8000\r\na=crypto:%d AES_CM_128_HMAC_SHA1_80 inline:%s\r\na=sendrecv\r\n",
						sockPort(l.sbcMedia), tag, sbcKey)
				}
				l.sbc.invites(func(pi *peerInvite) {
					pi.respond(200, answer(pi.req.Body()))
					l.sbcCalls <- pi
				})
				l.sbc.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) { l.sbc.reply(req, tx, 200, answer(req.Body())) })
			}
			clientMedia := rtpSock(t)
			oc := l.caller.call(ctx, l.srv.EdgeAddr(), "udp", loopSDP(sockPort(clientMedia), "sendrecv", false, "PCMA"))
			res := oc.answer(ctx, nil)
			if res.StatusCode != 200 {
				t.Fatalf("call got %d %s", res.StatusCode, res.Reason)
			}
			if err := oc.d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
			relayEdge := media(t, "answer to the client", res.Body()).RTP()
			first := next(ctx, t, l.sbcCalls, "SBC's")
			offer := media(t, "offer to the SBC", first.req.Body())
			relayGW := offer.RTP()

			// The PSTN party's end: its stream (SSRC 0x5bc) and the one
			// receive context for ours.
			var sbcOut, sbcIn *srtp.Context
			var ourKey []byte
			if withSRTP {
				if len(offer.SRTP()) == 0 {
					t.Fatal("no a=crypto in the offer to the SBC")
				}
				ourKey = offer.SRTP()[0].Master
				sbcOut = srtpContext(t, sbcKeyBytes, nil, false)
				sbcIn = srtpContext(t, ourKey, offer.SRTP()[0].MKI, true)
			}
			sbcSeq := uint16(100)
			sbcSends := func(to netip.AddrPort) {
				t.Helper()
				b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: sbcSeq, Timestamp: uint32(sbcSeq) * 160, SSRC: 0x5bc},
					Payload: make([]byte, 160)}).Marshal()
				if err == nil && sbcOut != nil {
					b, err = sbcOut.EncryptRTP(nil, b, nil)
				}
				if err != nil {
					t.Fatal(err)
				}
				sbcSeq++
				if _, err := l.sbcMedia.WriteToUDPAddrPort(b, to); err != nil {
					t.Fatal(err)
				}
			}
			// sbcGets is the next packet of ours the PSTN party gets,
			// decrypted by its one context, and where it came from.
			sbcGets := func(what string) (rtp.Packet, netip.AddrPort) {
				t.Helper()
				b, from := readPacket(t, l.sbcMedia, what)
				if sbcIn != nil {
					var err error
					if b, err = sbcIn.DecryptRTP(nil, b, nil); err != nil {
						t.Fatalf("%s: the PSTN party's receive context cannot decrypt our stream: %v", what, err)
					}
				}
				var p rtp.Packet
				if err := p.Unmarshal(b); err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				return p, from
			}
			other := func(from *net.UDPConn, to netip.AddrPort, ssrc uint32, seq uint16, recv *net.UDPConn, what string) {
				t.Helper()
				b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: ssrc},
					Payload: make([]byte, 160)}).Marshal()
				if _, err := from.WriteToUDPAddrPort(b, to); err != nil {
					t.Fatal(err)
				}
				if recv != nil {
					readPacket(t, recv, what)
				}
			}

			var last rtp.Packet
			for i := range uint16(before) {
				other(clientMedia, relayEdge, 0xc1, 1+i, nil, "")
				last, _ = sbcGets("before the transfer")
				sbcSends(relayGW)
				readPacket(t, clientMedia, "client, before the transfer")
			}

			referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
			target := next(ctx, t, l.targets, "transfer")
			targetOffer := media(t, "transfer INVITE", target.req.Body())
			reinv := l.sbc.wait(ctx, gosip.INVITE, 2)
			again := media(t, "re-INVITE to the SBC", reinv.Body())
			newGW := again.RTP()
			if newGW == relayGW {
				t.Fatalf("re-INVITE to the SBC with the old relay's %s", relayGW)
			}
			if withSRTP {
				// A new stream of ours from a new address: under a new key.
				if len(again.SRTP()) == 0 || bytes.Equal(again.SRTP()[0].Master, ourKey) {
					t.Fatalf("re-INVITE to the SBC with a=crypto %+v, want a new key of ours", again.SRTP())
				}
				sbcIn = srtpContext(t, again.SRTP()[0].Master, again.SRTP()[0].MKI, true)
			}
			for i := range uint16(after) {
				other(l.targetMedia, targetOffer.RTP(), 0x7a, 500+i, nil, "")
				p, from := sbcGets("after the transfer")
				if from != newGW {
					t.Fatalf("our packet from %s, want the new relay's %s", from, newGW)
				}
				if i > 0 && (p.SSRC != last.SSRC || p.SequenceNumber != last.SequenceNumber+1) {
					t.Fatalf("packet %d after the transfer: SSRC %x seq %d, want %x and %d", i, p.SSRC, p.SequenceNumber, last.SSRC, last.SequenceNumber+1)
				}
				last = p
				sbcSends(newGW)
				readPacket(t, l.targetMedia, "target, after the transfer")
			}
			// The relay counts a packet once its write returned, which
			// may be after the peer read it: the record is taken when
			// every packet read is counted. GET /calls shows the whole
			// call too.
			for {
				calls := l.srv.Calls()
				if len(calls) == 1 && calls[0].GatewayLeg.PacketsSent == before+after && calls[0].EdgeLeg.PacketsSent == before+after {
					break
				}
				select {
				case <-ctx.Done():
					t.Fatalf("calls in progress %+v, want %d packets sent to each peer over the whole call", calls, before+after)
				case <-time.After(5 * time.Millisecond):
				}
			}
			l.targetHangsUp(ctx, t, target)

			recs := readRecords(t, l.records)
			if len(recs) != 1 {
				t.Fatalf("%d records, want 1", len(recs))
			}
			gw, edge := recs[0].GatewayLeg, recs[0].EdgeLeg
			if gw.PacketsSent != before+after || gw.PacketsReceived != before+after || gw.BytesReceived == 0 || gw.PacketsLost != 0 {
				t.Errorf("gatewayLeg %+v, want %d packets each way over the whole call, none lost", gw, before+after)
			}
			if edge.PacketsSent != before+after || edge.PacketsReceived != before+after || edge.Codec != "PCMA" {
				t.Errorf("edgeLeg %+v, want %d packets each way (both parties), codec PCMA", edge, before+after)
			}
			if wantBytes := uint64(before+after) * 172; edge.BytesReceived != wantBytes {
				t.Errorf("edgeLeg bytesReceived %d, want %d", edge.BytesReceived, wantBytes)
			}
		})
	}
}

// readPacket reads the next datagram on c, failing after 5 s.
func readPacket(t *testing.T, c *net.UDPConn, what string) ([]byte, netip.AddrPort) {
	t.Helper()
	buf := make([]byte, 2048)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("%s: no packet: %v", what, err)
	}
	return buf[:n], netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
}
