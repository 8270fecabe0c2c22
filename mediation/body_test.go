package mediation_test

import (
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
)

// TestSessionBodies: an SBC interworking with ISUP (SIP-I/SIP-T) sends a
// multipart/mixed body, the SDP beside an application/isup part; its SDP is
// used (RFC 5621) and only the SDP goes on. A body we cannot take an offer
// from (another type, or an ISUP part whose handling is required) gets 415
// with Accept: application/sdp (RFC 3261 §8.2.3), not a 488 saying the SDP
// is unparseable. A multipart/alternative body (Lync's legacy fallback)
// is answered from its last SDP part.
func TestSessionBodies(t *testing.T) {
	multipart := func(t *testing.T, handling string) (string, []byte) {
		sdp := string(fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
		body := "--unique-boundary-1\r\nContent-Type: application/sdp\r\n\r\n" + sdp +
			"\r\n--unique-boundary-1\r\nContent-Type: application/isup;version=itu-t92+\r\n" +
			"Content-Disposition: signal;handling=" + handling + "\r\n\r\n\x01\x00\x49\x00\x00\x03\x02\x00\x07\x04\x10\x00\x33\x63\x21\x43\x00\x00\x03" +
			"\r\n--unique-boundary-1--\r\n"
		return "multipart/mixed;boundary=unique-boundary-1", []byte(body)
	}
	tests := []struct {
		name string
		body func(t *testing.T) (string, []byte)
		want int
	}{
		{"SIP-I, ISUP optional", func(t *testing.T) (string, []byte) { return multipart(t, "optional") }, 200},
		{"SIP-I, ISUP required", func(t *testing.T) (string, []byte) { return multipart(t, "required") }, 415},
		{"text/plain", func(t *testing.T) (string, []byte) { return "text/plain", []byte("hello\r\n") }, 415},
		// Lync's ms-proxy-2007fallback: a legacy SDP first (here one we
		// would refuse, G.729 only), the one to use last (RFC 2046 §5.1.4).
		{"multipart/alternative, the last SDP", func(t *testing.T) (string, []byte) {
			legacy := "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=session\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"
			body := "--alt\r\nContent-Type: application/sdp\r\nContent-Disposition: session; handling=optional; ms-proxy-2007fallback\r\n\r\n" + legacy +
				"\r\n--alt\r\nContent-Type: application/sdp\r\n\r\n" + string(fixtureBody(t, "sbc-offer-pcma-pcmu.sdp")) + "\r\n--alt--\r\n"
			return "multipart/alternative;boundary=alt", []byte(body)
		}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
			edge.invites(func(pi *peerInvite) { pi.respond(200, fixtureBody(t, "sfb-answer-no-bypassid.sdp")) })
			srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = edge.addr().String() })
			ct, body := tt.body(t)
			inv := request(gosip.INVITE, srv.GatewayAddr().String(), "udp", nil)
			inv.RemoveHeader("Contact")
			contact := sbc.stack.Contact("sbc", "udp")
			inv.AppendHeader(&contact)
			from := &gosip.FromHeader{Address: gosip.Uri{Scheme: "sip", User: "+14255550100", Host: "127.0.0.1"}, Params: gosip.NewParams()}
			from.Params.Add("tag", gosip.GenerateTagN(10))
			inv.AppendHeader(from)
			inv.AppendHeader(gosip.NewHeader("Content-Type", ct))
			inv.SetBody(body)
			dua := &sipgo.DialogUA{Client: sbc.stack.Client("udp"), ContactHDR: contact}
			d, err := dua.WriteInvite(ctx, inv)
			if err != nil {
				t.Fatal(err)
			}
			oc := &outCall{p: sbc, inv: inv, d: d}
			res := oc.answer(ctx, nil)
			if res.StatusCode != tt.want {
				t.Fatalf("INVITE with %s got %d %s, want %d", ct, res.StatusCode, res.Reason, tt.want)
			}
			if tt.want == 415 {
				if a := res.GetHeader("Accept"); a == nil || a.Value() != "application/sdp" {
					t.Errorf("415 with Accept %v, want application/sdp", a)
				}
				return
			}
			_ = d.Ack(ctx)
			got := edge.wait(ctx, gosip.INVITE, 1)
			if ct := got.ContentType(); ct == nil || ct.Value() != "application/sdp" || !strings.HasPrefix(string(got.Body()), "v=0") {
				t.Errorf("client's INVITE has Content-Type %v and body %q, want our SDP alone", ct, got.Body())
			}
			_ = d.Bye(ctx)
			edge.wait(ctx, gosip.BYE, 1)
		})
	}
}
