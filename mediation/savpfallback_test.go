package mediation_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	psdp "github.com/pion/sdp/v3"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestBestEffortSRTPOffer: an SBC's best-effort SRTP offer (an RTP/SAVP
// audio line with its key, then the same audio as plain RTP/AVP) to a
// trunk with SRTP off is answered on the plain line, the RTP/SAVP one
// rejected with port 0 in its place (RFC 3264 §6), whichever comes first;
// the relay sends to the plain line's port, and the SBC's refresh
// re-INVITE repeating that offer is answered without bothering the client.
// Before, the RTP/SAVP line first got 488 ("SRTP is off"). The choice is
// logged at info once a call, not at every refresh. The same with the
// feedback profiles (RTP/SAVPF, then RTP/AVPF, as a WebRTC-leaning SBC
// offers): the RTP/AVPF line is the plain one, answered RTP/AVPF.
func TestBestEffortSRTPOffer(t *testing.T) {
	for _, tt := range []struct {
		savpFirst bool
		f         string // "F": the feedback profiles, RTP/SAVPF and RTP/AVPF
	}{{true, ""}, {false, ""}, {true, "F"}, {false, "F"}} {
		savpFirst, savpProto, avpProto := tt.savpFirst, "RTP/SAVP"+tt.f, "RTP/AVP"+tt.f
		name := "AVP" + tt.f + " first"
		if savpFirst {
			name = "SAVP" + tt.f + " first"
		}
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
			clientRTP, savpRTP, avpRTP := rtpSock(t), rtpSock(t), rtpSock(t)
			edge.invites(func(pi *peerInvite) { pi.respond(200, loopSDP(sockPort(clientRTP), "sendrecv", false, "PCMU")) })
			cfg := labConfig(sbc.addr(), "udp")
			cfg.Edge.Peer = edge.addr().String()
			logs := new(syncBuffer)
			srv := mediationtest.Serve(t, cfg, zerolog.New(logs).Level(zerolog.InfoLevel))
			savp := fmt.Sprintf("m=audio %d %s 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"+
				"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\na=sendrecv\r\n", sockPort(savpRTP), savpProto)
			avp := fmt.Sprintf("m=audio %d %s 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n", sockPort(avpRTP), avpProto)
			lines := avp + savp
			if savpFirst {
				lines = savp + avp
			}
			offer := []byte("v=0\r\no=- 77 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" + lines)
			oc := sbc.call(ctx, srv.GatewayAddr(), "udp", offer)
			res := oc.answer(ctx, nil)
			if res.StatusCode != 200 {
				t.Fatalf("got %d %s (%v)", res.StatusCode, res.Reason, res.GetHeader("Warning"))
			}
			_ = oc.d.Ack(ctx)
			var ans psdp.SessionDescription
			if err := ans.UnmarshalString(string(res.Body())); err != nil {
				t.Fatal(err)
			}
			savpAt, avpAt := 1, 0
			if savpFirst {
				savpAt, avpAt = 0, 1
			}
			if mds := ans.MediaDescriptions; len(mds) != 2 ||
				mds[savpAt].MediaName.Port.Value != 0 || strings.Join(mds[savpAt].MediaName.Protos, "/") != savpProto ||
				mds[avpAt].MediaName.Port.Value == 0 || strings.Join(mds[avpAt].MediaName.Protos, "/") != avpProto {
				t.Fatalf("answer is not the offer's two lines with %s rejected and %s taken:\n%s", savpProto, avpProto, res.Body())
			}
			if strings.Contains(string(res.Body()), "a=crypto") {
				t.Errorf("answer has a key though SRTP is off:\n%s", res.Body())
			}
			relayEdge := media(t, "our offer to the client", edge.wait(ctx, gosip.INVITE, 1).Body()).RTP()
			for seq := uint16(1); ; seq++ {
				sendRTPFrom(t, clientRTP, relayEdge, 0, seq, make([]byte, 160))
				if receivedPT(avpRTP, 0, 100*time.Millisecond) {
					break
				}
				if ctx.Err() != nil {
					t.Fatalf("the client's media never reached the SBC's %s line", avpProto)
				}
			}
			// A session refresh repeating the offer, version and all.
			reinv := gosip.NewRequest(gosip.INVITE, oc.final.Contact().Address)
			reinv.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
			reinv.SetBody(offer)
			if res := doIn(ctx, t, oc, reinv); res.StatusCode != 200 || string(res.Body()) != string(oc.final.Body()) {
				t.Errorf("refresh re-INVITE got %d with\n%s\nwant 200 with our SDP as it was", res.StatusCode, res.Body())
			}
			ack := gosip.NewRequest(gosip.ACK, reinv.Recipient)
			ack.AppendHeader(gosip.HeaderClone(reinv.From()))
			ack.AppendHeader(gosip.HeaderClone(reinv.To()))
			ack.AppendHeader(gosip.HeaderClone(reinv.CallID()))
			ack.AppendHeader(&gosip.CSeqHeader{SeqNo: reinv.CSeq().SeqNo, MethodName: gosip.ACK})
			ack.SetTransport("UDP")
			if err := sbc.stack.Client("udp").WriteRequest(ack); err != nil {
				t.Fatal(err)
			}
			if n := edge.count(gosip.INVITE); n != 1 {
				t.Errorf("the client got %d INVITEs, want only the call's: the refresh changed nothing", n)
			}
			// The refresh was answered, so handled: its log line, if any,
			// is written.
			// (An RTP/AVP line first is plain RTP offered: nothing to say.)
			if n, want := strings.Count(logs.String(), "the gateway offered SRTP and plain RTP"), map[bool]int{true: 1}[savpFirst]; n != want {
				t.Errorf("best-effort SRTP offer logged at info %d times, want %d (the call's offer, not its refresh)", n, want)
			}
			_ = oc.d.Bye(ctx)
			edge.wait(ctx, gosip.BYE, 1)
			waitCalls(t, srv, 0)
		})
	}
}
