package mediation_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mediation-emulator/mediation/mediation"
)

// linphoneOffer is Linphone 5.1's offer as the SBC (linphonec with [rtp]
// avpf=1, rtcp_mux=1; r29-linphone), byte for byte but for the addresses,
// the port and proto, and crypto: an a=crypto line or none.
func linphoneOffer(port int, proto, crypto string) []byte {
	return fmt.Appendf(nil, "v=0\r\n"+
		"o=sbc 2112 1251 IN IP4 127.0.0.1\r\n"+
		"s=Talk\r\n"+
		"c=IN IP4 127.0.0.1\r\n"+
		"t=0 0\r\n"+
		"a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r\n"+
		"m=audio %d %s 96 97 98 0 8 18 99 100 101\r\n"+
		"a=rtpmap:96 opus/48000/2\r\n"+
		"a=fmtp:96 useinbandfec=1\r\n"+
		"a=rtpmap:97 speex/16000\r\n"+
		"a=fmtp:97 vbr=on\r\n"+
		"a=rtpmap:98 speex/8000\r\n"+
		"a=fmtp:98 vbr=on\r\n"+
		"a=fmtp:18 annexb=yes\r\n"+
		"a=rtpmap:99 telephone-event/48000\r\n"+
		"a=rtpmap:100 telephone-event/16000\r\n"+
		"a=rtpmap:101 telephone-event/8000\r\n"+
		"%s"+
		"a=rtcp-mux\r\n"+
		"a=rtcp-fb:* trr-int 5000\r\n"+
		"a=rtcp-fb:* ccm tmmbr\r\n", port, proto, crypto)
}

// TestLinphoneAVPFOfferAnsweredInItsProfile: Linphone 5.1 as the SBC, with
// AVPF on, offers its audio in RTP/AVPF (RFC 4585), and with SDES-SRTP in
// RTP/SAVPF (RFC 5124). An answer cannot change the offer's transport
// protocol (RFC 3264 §6; RFC 4585 §4.2 leaves an answerer only the profile
// or rejection), so the server answers in the offer's profile, with no
// a=rtcp-fb (the relay sends no feedback; AVPF then has only its timing
// rules), and with our key in RTP/SAVPF. It used to answer RTP/AVP and
// RTP/SAVP (r29-linphone F1), which Linphone tolerates and a strict peer
// need not.
func TestLinphoneAVPFOfferAnsweredInItsProfile(t *testing.T) {
	for _, tt := range []struct{ proto, srtp, crypto string }{
		{"RTP/AVPF", "off", ""},
		{"RTP/SAVPF", "required", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n"},
	} {
		t.Run(tt.proto, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			sbc, edge := startPeer(t, "sbc"), startPeer(t, "client")
			_, clientPort := mediaSocket(t)
			edge.invites(func(pi *peerInvite) { pi.respond(200, lawSDP(clientPort, 0, 101)) })
			srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
				c.Edge.Peer = edge.addr().String()
				c.Gateways[0].SRTP = tt.srtp
			})
			_, sbcPort := mediaSocket(t)
			oc := sbc.call(ctx, srv.GatewayAddr(), "udp", linphoneOffer(sbcPort, tt.proto, tt.crypto))
			res := oc.answer(ctx, nil)
			if res.StatusCode != 200 {
				t.Fatalf("SBC got %d %s (%v)", res.StatusCode, res.Reason, res.GetHeader("Warning"))
			}
			if err := oc.d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
			defer oc.d.Bye(ctx)
			answer := media(t, "answer to the SBC", res.Body())
			if answer.Proto != tt.proto || answer.RTP().Port() == 0 {
				t.Errorf("the %s offer was answered %s on port %d, want %s:\n%s",
					tt.proto, answer.Proto, answer.RTP().Port(), tt.proto, res.Body())
			}
			if (tt.crypto != "") != (len(answer.SRTP()) == 1) || strings.Contains(string(res.Body()), "rtcp-fb") {
				t.Errorf("answer's keys %v (want one: %v) or RTCP feedback:\n%s", answer.SRTP(), tt.crypto != "", res.Body())
			}
		})
	}
}
