package mediation_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/zaf/g711"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/tone"
)

// lawSDP is a plain RTP/AVP offer or answer for a media socket on
// 127.0.0.1:port listing pts in that order: 0 PCMU, 8 PCMA, any other a
// telephone-event.
func lawSDP(port int, pts ...uint8) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP", port)
	for _, pt := range pts {
		fmt.Fprintf(&b, " %d", pt)
	}
	b.WriteString("\r\n")
	for _, pt := range pts {
		switch pt {
		case 0:
			b.WriteString("a=rtpmap:0 PCMU/8000\r\n")
		case 8:
			b.WriteString("a=rtpmap:8 PCMA/8000\r\n")
		default:
			fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n", pt, pt)
		}
	}
	b.WriteString("a=ptime:20\r\na=sendrecv\r\n")
	return []byte(b.String())
}

// mediaSocket is a test peer's RTP socket on loopback.
func mediaSocket(t *testing.T) (*net.UDPConn, int) {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, c.LocalAddr().(*net.UDPAddr).Port
}

// playTone sends n 20 ms packets of a hz tone from sock to to, in PCMU
// (pt 0) or PCMA (pt 8).
func playTone(t *testing.T, sock *net.UDPConn, to netip.AddrPort, pt uint8, hz float64, n int) {
	t.Helper()
	encode := g711.EncodeUlaw
	if pt == 8 {
		encode = g711.EncodeAlaw
	}
	var phase float64
	for i := range n {
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: uint16(100 + i), Timestamp: uint32(160 * i), SSRC: 0x5151},
			Payload: encode(pcmBytes(tone.Generate(hz, 8000, 160, &phase)))}
		b, _ := pkt.Marshal()
		if _, err := sock.WriteToUDPAddrPort(b, to); err != nil {
			t.Fatal(err)
		}
	}
}

// heard is what a test peer's socket received.
type heard struct {
	packets int
	pts     map[uint8]int
	samples []int16
}

// hear reads RTP on sock until n packets arrived or a second passes
// without one, decoding PCMU and PCMA by each packet's payload type.
func hear(t *testing.T, sock *net.UDPConn, n int) heard {
	t.Helper()
	h := heard{pts: map[uint8]int{}}
	buf := make([]byte, 1500)
	for h.packets < n {
		sock.SetReadDeadline(time.Now().Add(time.Second))
		m, _, err := sock.ReadFromUDP(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var p rtp.Packet
		if p.Unmarshal(buf[:m]) != nil {
			continue
		}
		h.packets++
		h.pts[p.PayloadType]++
		switch p.PayloadType {
		case 0:
			h.samples = append(h.samples, pcmSamples(g711.DecodeUlaw(p.Payload))...)
		case 8:
			h.samples = append(h.samples, pcmSamples(g711.DecodeAlaw(p.Payload))...)
		}
	}
	return h
}

// check fails unless h is about n packets of a hz tone, all in payload
// type pt.
func (h heard) check(t *testing.T, who string, n int, pt uint8, hz float64) {
	t.Helper()
	if h.packets < n*9/10 || len(h.pts) != 1 || h.pts[pt] != h.packets {
		t.Fatalf("%s received %d of %d packets, payload types %v; want them all in PT %d", who, h.packets, n, h.pts, pt)
	}
	if got := tone.Detect(h.samples, 8000); math.Abs(got-hz) > 25 {
		t.Errorf("%s heard %.0f Hz, want %.0f Hz", who, got, hz)
	}
}

// TestGatewaySendsAnyAnsweredLaw: we offer the SBC "0 8 101"; it answers
// "8 0 101" and, as RFC 3264 §6.1 lets it, sends PCMU (the offer's first
// format, listed in its answer too). The client hears it, transcoded to its
// PCMA or passed to its PCMU; what we send the SBC stays its answer's
// first format, PCMA.
func TestGatewaySendsAnyAnsweredLaw(t *testing.T) {
	for _, tc := range []struct {
		name     string
		client   []uint8 // the client's offer
		clientPT uint8   // the codec we answer it
	}{
		{"transcoded to the client's PCMA", []uint8{0, 8, 101}, 8},
		{"passed to the client's PCMU", []uint8{0, 101}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			sbc := startPeer(t, "sbc")
			sbcMedia, sbcPort := mediaSocket(t)
			sbc.invites(func(pi *peerInvite) { pi.respond(200, lawSDP(sbcPort, 8, 0, 101)) })
			srv := serveTo(t, sbc.addr(), "udp", nil)
			client, clientPort := mediaSocket(t)
			d := answeredCall(ctx, t, nil, request(gosip.INVITE, srv.EdgeAddr().String(), "udp", lawSDP(clientPort, tc.client...)))
			answer := media(t, "answer to the client", d.InviteResponse.Body())
			if answer.Codecs[0].PT != tc.clientPT {
				t.Fatalf("client answered PT %d, want %d:\n%s", answer.Codecs[0].PT, tc.clientPT, d.InviteResponse.Body())
			}
			relayGW := media(t, "offer to the SBC", sbc.wait(ctx, gosip.INVITE, 1).Body()).RTP()

			const n = 50
			playTone(t, sbcMedia, relayGW, 0, sbcHz, n)
			hear(t, client, n).check(t, "client", n, tc.clientPT, sbcHz)
			playTone(t, client, answer.RTP(), tc.clientPT, clientHz, n)
			hear(t, sbcMedia, n).check(t, "SBC", n, 8, clientHz)
			if err := d.Bye(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestClientSendsAnyAnsweredLaw: inbound, we offer the client the SBC's
// "8 0 100"; it answers "0 8 100" and sends PCMA, the offer's first
// format. The SBC, answered PCMU, hears it in PCMU.
func TestClientSendsAnyAnsweredLaw(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc, edge := startPeer(t, "sbc"), startPeer(t, "client")
	client, clientPort := mediaSocket(t)
	edge.invites(func(pi *peerInvite) { pi.respond(200, lawSDP(clientPort, 0, 8, 100)) })
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = edge.addr().String() })
	sbcMedia, sbcPort := mediaSocket(t)
	oc := sbc.call(ctx, srv.GatewayAddr(), "udp", lawSDP(sbcPort, 8, 0, 100))
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("SBC got %d", res.StatusCode)
	}
	if err := oc.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	answer := media(t, "answer to the SBC", oc.final.Body())
	if answer.Codecs[0].PT != 0 {
		t.Fatalf("SBC answered PT %d, want the client's PCMU:\n%s", answer.Codecs[0].PT, oc.final.Body())
	}
	relayEdge := media(t, "offer to the client", edge.wait(ctx, gosip.INVITE, 1).Body()).RTP()

	const n = 50
	playTone(t, client, relayEdge, 8, clientHz, n)
	hear(t, sbcMedia, n).check(t, "SBC", n, 0, clientHz)
	playTone(t, sbcMedia, answer.RTP(), 0, sbcHz, n)
	hear(t, client, n).check(t, "client", n, 0, sbcHz)
	byeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := oc.d.Bye(byeCtx); err != nil {
		t.Fatal(err)
	}
}
