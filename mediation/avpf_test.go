package mediation_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

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

// avpfHost is where the AVPF re-offer test binds everything.
const avpfHost = "127.0.90.1"

// TestRelayedReofferKeepsPeersAVPF: an SBC's call offered in RTP/AVPF is
// answered RTP/AVPF; the client's hold, relayed to the SBC as a re-offer of
// ours, goes in RTP/AVPF too: a re-offer describes the session it modifies
// (RFC 3264 §8), and the SBC's stream is AVPF. It used to go RTP/AVP, as
// our offers always did, while our session refreshes re-send the AVPF
// answer: the SBC's profile flipped with every relayed re-offer, and a peer
// that takes only AVPF refused the hold with 488 (r29-review2 F3).
func TestRelayedReofferKeepsPeersAVPF(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	at := netip.AddrPortFrom(netip.MustParseAddr(avpfHost), 0)
	sbc, edge := startPeerOn(t, "sbc", at, nil), startPeerOn(t, "client", at, nil)
	sdpOn := func(port int, proto, dir string) []byte {
		return fmt.Appendf(nil, "v=0\r\no=p 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"+
			"m=audio %d %s 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=%s\r\n",
			avpfHost, avpfHost, port, proto, dir)
	}
	clientPort, sbcPort := sockPort(rtpSockOn(t, avpfHost)), sockPort(rtpSockOn(t, avpfHost))
	calls := make(chan *peerInvite, 1)
	edge.invites(func(pi *peerInvite) { pi.respond(200, sdpOn(clientPort, "RTP/AVP", "sendrecv")); calls <- pi })
	reoffers := make(chan *gosip.Request, 1)
	sbc.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		reoffers <- req
		sbc.reply(req, tx, 200, sdpOn(sbcPort, "RTP/AVPF", "recvonly"))
	})
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
		listen := at.String()
		c.Edge.Listen, c.GatewayListen, c.HTTPListen, c.Admin.Listen = listen, listen, listen, listen
		c.Media.IP = avpfHost
		c.Edge.Peer = edge.addr().String()
	})
	oc := sbc.call(ctx, srv.GatewayAddr(), "udp", sdpOn(sbcPort, "RTP/AVPF", "sendrecv"))
	res := oc.answer(ctx, nil)
	if res.StatusCode != 200 {
		t.Fatalf("SBC got %d", res.StatusCode)
	}
	if err := oc.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	defer oc.d.Bye(ctx)
	if p := media(t, "answer", res.Body()).Proto; p != "RTP/AVPF" {
		t.Fatalf("the SBC's RTP/AVPF offer answered %s", p)
	}
	pi := next(ctx, t, calls, "client's")
	edge.wait(ctx, gosip.ACK, 1)
	// The SBC's ACK taken: before, the hold would meet our 2xx waiting
	// for it (491, RFC 3261 §14.1).
	for acked := srv.CallersAcked(); len(acked) != 1 || !acked[0]; acked = srv.CallersAcked() {
		if ctx.Err() != nil {
			t.Fatalf("the SBC's ACK was not taken (%v)", acked)
		}
		time.Sleep(5 * time.Millisecond)
	}
	hold := pi.inDialog(gosip.INVITE, 500, sdpOn(clientPort, "RTP/AVP", "sendonly"), gosip.NewHeader("Content-Type", "application/sdp"))
	if r := pi.do(ctx, hold); r.StatusCode != 200 {
		t.Fatalf("client's hold got %d", r.StatusCode)
	} else if p := media(t, "answer to the client's hold", r.Body()).Proto; p != "RTP/AVP" {
		t.Errorf("the client's RTP/AVP hold answered %s", p)
	}
	_ = pi.p.stack.Client("udp").WriteRequest(pi.inDialog(gosip.ACK, 500, nil))
	var reoffer *gosip.Request
	select {
	case reoffer = <-reoffers:
	case <-ctx.Done():
		t.Fatal("no re-INVITE at the SBC")
	}
	if p := media(t, "re-offer to the SBC", reoffer.Body()).Proto; p != "RTP/AVPF" {
		t.Errorf("the SBC's session is RTP/AVPF (our answer said so); our relayed re-offer switches it to %s:\n%s", p, reoffer.Body())
	}
	if strings.Contains(string(reoffer.Body()), "rtcp-fb") {
		t.Errorf("re-offer negotiates RTCP feedback:\n%s", reoffer.Body())
	}
}

// TestReferRepointKeepsPeersAVPF: a transfer the server performs on an
// SBC's call offered in RTP/AVPF re-INVITEs the SBC to the new relay in
// RTP/AVPF, the profile its stream has: the re-point answers the SBC's
// latest SDP anew (sdp.Description.Answering), so it keeps the SBC's
// profile as a relayed re-offer does (RFC 3264 §8; r29-review2 F3).
func TestReferRepointKeepsPeersAVPF(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newTransferLabOn(t, avpfHost, nil)
	l.inboundClient(loopSDP(sockPort(rtpSockOn(t, avpfHost)), "sendrecv", false, "PCMA"))
	offer := bytes.Replace(loopSDP(sockPort(l.sbcMedia), "sendrecv", false, "PCMU", "PCMA"), []byte(" RTP/AVP "), []byte(" RTP/AVPF "), 1)
	oc := l.sbc.call(ctx, l.srv.GatewayAddr(), "udp", offer)
	res := oc.answer(ctx, nil)
	if res.StatusCode != 200 {
		t.Fatalf("call got %d", res.StatusCode)
	}
	_ = oc.d.Ack(ctx)
	defer oc.d.Bye(ctx)
	if p := media(t, "answer", res.Body()).Proto; p != "RTP/AVPF" {
		t.Fatalf("the SBC's RTP/AVPF offer answered %s", p)
	}
	client := next(ctx, t, l.sbcCalls, "client's")
	client.mustWaitAck(ctx)
	refer := client.inDialog(gosip.REFER, 2, nil, gosip.NewHeader("Refer-To", "<tel:+15550200>"))
	if res := client.do(ctx, refer); res.StatusCode != 202 {
		t.Fatalf("REFER got %d, want 202", res.StatusCode)
	}
	next(ctx, t, l.targets, "transfer")
	repoint := l.sbc.wait(ctx, gosip.INVITE, 1) // our re-INVITE to the relay
	if p := media(t, "re-point", repoint.Body()).Proto; p != "RTP/AVPF" {
		t.Errorf("the SBC's session is RTP/AVPF; the transfer's re-point switches it to %s:\n%s", p, repoint.Body())
	}
}
