package mediation_test

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"github.com/mediation-emulator/mediation/mediation"
)

// TestReferPerformedByServerSRTPStreamGoesOn: an anchored call whose SBC
// sends SRTP; its stream has wrapped its sequence numbers (rollover
// counter 1) when the client transfers the call. The SBC, re-pointed to
// the transferred call's relay, goes on with its stream and key, and the
// target gets its media. The new relay's receive context started at
// rollover counter 0 and refused all of it (about 22 minutes into a call).
func TestReferPerformedByServerSRTPStreamGoesOn(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newTransferLab(t, func(c *mediation.Config) {
		off := false
		c.Gateways[0].EnableBypass = &off
		c.Gateways[0].SRTP = "required"
	})
	// The SBC answers each offer with its own key, under the offer's tag.
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
	clientMedia := rtpSock(t)
	oc := l.caller.call(ctx, l.srv.EdgeAddr(), "udp", loopSDP(sockPort(clientMedia), "sendrecv", false, "PCMA"))
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("call got %d %s", res.StatusCode, res.Reason)
	}
	if err := oc.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	first := next(ctx, t, l.sbcCalls, "SBC's")
	key, _ := base64.StdEncoding.DecodeString(sbcKey)
	enc := srtpContext(t, key, nil, false)
	seq := uint16(65530)
	// flows sends the SBC's stream on to relay until recv gets a packet of
	// it, at most 100 packets.
	flows := func(what string, relay netip.AddrPort, recv *net.UDPConn) {
		t.Helper()
		buf := make([]byte, 2048)
		for range 100 {
			b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 0x5bc},
				Payload: make([]byte, 160)}).Marshal()
			if err == nil {
				b, err = enc.EncryptRTP(nil, b, nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			seq++
			if _, err := l.sbcMedia.WriteToUDPAddrPort(b, relay); err != nil {
				t.Fatal(err)
			}
			_ = recv.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if n, _, err := recv.ReadFromUDP(buf); err == nil && n > 12 {
				return
			}
		}
		t.Fatalf("%s: none of the SBC's media came through (sequence number now %d)", what, seq)
	}
	relayGW := media(t, "offer to the SBC", first.req.Body()).RTP()
	for seq != 2 { // through the wrap: the relay's context at rollover counter 1
		flows("before the transfer", relayGW, clientMedia)
	}
	referAccepted(ctx, t, oc, "<sip:+15550200@sfb.example.com;user=phone>")
	target := next(ctx, t, l.targets, "transfer")
	reinv := l.sbc.wait(ctx, gosip.INVITE, 2)
	flows("after the transfer", media(t, "re-INVITE to the SBC", reinv.Body()).RTP(), l.targetMedia)
	l.targetHangsUp(ctx, t, target)
}
