package mediation_test

import (
	"encoding/base64"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
	"github.com/mediation-emulator/mediation/mediation/tone"
	"github.com/mediation-emulator/mediation/sdp"
)

// srtpSBC is an SBC that answers with SRTP (RTP/SAVP, its own key) and
// plays a tone in SRTP, for testing gateways[].srtp: required.
type srtpSBC struct {
	addr  string
	media *net.UDPConn
	mu    sync.Mutex
	offer []byte
	bye   chan struct{}
}

const sbcKey = "wPc6ZtvQBLSMAs2zYkSrt0smBKnHNbyzN2VLC4GV" // 30 bytes, base64

func startSRTPSBC(t *testing.T) *srtpSBC {
	t.Helper()
	s := &srtpSBC{bye: make(chan struct{}, 1)}
	var err error
	if s.media, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.media.Close() })
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = conn.LocalAddr().String()
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	port := s.media.LocalAddr().(*net.UDPAddr).Port
	srv.OnInvite(func(req *gosip.Request, tx gosip.ServerTransaction) {
		s.mu.Lock()
		s.offer = req.Body()
		s.mu.Unlock()
		body := fmt.Sprintf("v=0\r\no=sbc 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
			"m=audio %d RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:%s\r\na=sendrecv\r\n", port, sbcKey)
		res := gosip.NewResponseFromRequest(req, 200, "OK", []byte(body))
		res.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
		res.AppendHeader(&gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: conn.LocalAddr().(*net.UDPAddr).Port}})
		tx.Respond(res)
	})
	srv.OnAck(func(*gosip.Request, gosip.ServerTransaction) {})
	srv.OnBye(func(req *gosip.Request, tx gosip.ServerTransaction) {
		tx.Respond(gosip.NewResponseFromRequest(req, 200, "OK", nil))
		select {
		case s.bye <- struct{}{}:
		default:
		}
	})
	done := make(chan struct{})
	go func() { srv.ServeUDP(conn); close(done) }()
	t.Cleanup(func() { ua.Close(); conn.Close(); <-done })
	return s
}

func (s *srtpSBC) offered(t *testing.T) sdp.Media {
	s.mu.Lock()
	defer s.mu.Unlock()
	return media(t, "offer to the SBC", s.offer)
}

// TestGatewaySRTPRequired: with gateways[].srtp: required an anchored call
// offers the SBC RTP/SAVP with our key, takes the SBC's key from its answer,
// and the tones cross the relay between a plain-RTP client and the SRTP SBC.
func TestGatewaySRTPRequired(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc := startSRTPSBC(t)
	lab := mediationtest.Start(t, mediationtest.Options{Configure: func(c *mediation.Config) {
		c.Gateways[0].Address = sbc.addr
		c.Gateways[0].SRTP = "required"
	}})
	client := startClient(t, ctx, "", "PCMU")
	type result struct {
		rep endpoint.CallReport
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := client.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr(), Duration: 1500 * time.Millisecond})
		done <- result{rep, err}
	}()
	// Wait for the INVITE, then play SRTP to the relay and listen.
	var offer sdp.Media
	for {
		sbc.mu.Lock()
		got := sbc.offer != nil
		sbc.mu.Unlock()
		if got {
			offer = sbc.offered(t)
			break
		}
		if ctx.Err() != nil {
			t.Fatal("no INVITE at the SBC")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if offer.Proto != "RTP/SAVP" || len(offer.SRTP()) != 1 || strings.Contains(string(sbc.offer), "x-") {
		t.Fatalf("SBC offer is not a plain SRTP offer:\n%s", sbc.offer)
	}
	ours := offer.SRTP()[0]
	key, _ := base64.StdEncoding.DecodeString(sbcKey)
	enc := srtpContext(t, key, nil, false)
	dec := srtpContext(t, ours.Master, ours.MKI, true)
	heard := rawPeer{sock: sbc.media, law: "PCMU", enc: enc, dec: dec}.exchange(t, offer.RTP(), sbcHz, 60)
	r := <-done
	if r.err != nil || r.rep.Code != 200 {
		t.Fatalf("client call: %d %v", r.rep.Code, r.err)
	}
	if math.Abs(r.rep.DetectedHz-sbcHz) > 25 {
		t.Errorf("client heard %.0f Hz, want the SBC's %.0f Hz", r.rep.DetectedHz, sbcHz)
	}
	if len(heard) < 4000 {
		t.Fatalf("SBC decrypted only %d samples from the relay", len(heard))
	}
	if hz := tone.Detect(heard, 8000); math.Abs(hz-clientHz) > 25 {
		t.Errorf("SBC heard %.0f Hz, want the client's %.0f Hz", hz, clientHz)
	}
	answer := media(t, "answer to the client", r.rep.AnswerSDP)
	if len(answer.Crypto) != 0 || answer.Proto != "RTP/AVP" {
		t.Errorf("plain client got SRTP:\n%s", r.rep.AnswerSDP)
	}
}

// TestGatewaySRTPOffRefusesSAVPAnswer: to a trunk with srtp: off we offer
// plain RTP/AVP; an SBC that answers RTP/SAVP with its key gives no usable
// answer: the client gets 488 with a Warning saying why and the SBC a BYE
// (after the ACK), as for any unusable answer, rather than a call in
// which the SBC gets plain RTP.
func TestGatewaySRTPOffRefusesSAVPAnswer(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc := startSRTPSBC(t)
	lab := mediationtest.Start(t, mediationtest.Options{Configure: func(c *mediation.Config) {
		c.Gateways[0].Address = sbc.addr
		c.Gateways[0].SRTP = "off"
	}})
	client := startClient(t, ctx, "", "PCMU")
	rep, _ := client.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr(), Duration: 500 * time.Millisecond})
	if rep.Code != 488 {
		t.Fatalf("client got %d, want 488", rep.Code)
	}
	if offer := sbc.offered(t); offer.Proto != "RTP/AVP" || len(offer.SRTP()) != 0 {
		t.Fatalf("offer to a trunk with srtp off:\n%s", sbc.offer)
	}
	select {
	case <-sbc.bye:
	case <-ctx.Done():
		t.Fatal("the SBC got no BYE")
	}
}
