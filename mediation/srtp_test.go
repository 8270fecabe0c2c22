package mediation_test

import (
	"encoding/base64"
	"fmt"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/pion/srtp/v3"

	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
	"github.com/mediation-emulator/mediation/mediation/tone"
	"github.com/mediation-emulator/mediation/sdp"
)

// The key of the SfB fixtures' a=crypto lines.
const fixtureKey = "IQ+Q4YcN8irlbEovMTkF8LL/uMV0JIGFWrAxrrpY"

// srtpOffer is fixture C's audio in RTP/SAVP with the SfB MKI form, pointed
// at the test's own media socket and offering PCMU only.
func srtpOffer(t *testing.T, port int) []byte {
	t.Helper()
	s := string(fixtureBody(t, "sfb-edge-srtp-optional-offer.sdp"))
	s = strings.Replace(s, "m=audio 50052 RTP/AVP 117 104 114 9 112 111 0 8 103 116 115 97 13 118 119 101",
		fmt.Sprintf("m=audio %d RTP/SAVP 0 101", port), 1)
	s = strings.Replace(s, "a=rtcp:50053", fmt.Sprintf("a=rtcp:%d", port+1), 1)
	return []byte(s)
}

// plainOffer is srtpOffer as plain RTP: RTP/AVP and no a=crypto lines.
func plainOffer(t *testing.T, port int) []byte {
	t.Helper()
	offer := strings.Replace(string(srtpOffer(t, port)), "RTP/SAVP", "RTP/AVP", 1)
	var plain []string
	for _, l := range strings.Split(offer, "\n") {
		if !strings.HasPrefix(l, "a=crypto") {
			plain = append(plain, l)
		}
	}
	return []byte(strings.Join(plain, "\n"))
}

func srtpContext(t *testing.T, master []byte, mki []byte, inbound bool) *srtp.Context {
	t.Helper()
	opts := []srtp.ContextOption{}
	if mki != nil {
		opts = append(opts, srtp.MasterKeyIndicator(mki))
	}
	if inbound {
		opts = append(opts, srtp.SRTPReplayProtection(64))
	}
	c, err := srtp.CreateContext(master[:16], master[16:], srtp.ProtectionProfileAes128CmHmacSha1_80, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSRTPClientToRTPGateway: a client that insists on SRTP (RTP/SAVP,
// SfB's |2^31|1:1 MKI) talks to a plain-RTP SBC through the relay; its tone
// arrives intact, and the SBC's tone comes back encrypted with our key.
func TestSRTPClientToRTPGateway(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	lab := mediationtest.Start(t, mediationtest.Options{SBC: endpoint.SBCConfig{Codecs: []string{"PCMA"}, ToneHz: sbcHz}})
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	port := conn.LocalAddr().(*net.UDPAddr).Port
	d := answeredCall(ctx, t, nil, request(gosip.INVITE, lab.Server.EdgeAddr().String(), "udp", srtpOffer(t, port)))
	answer := media(t, "answer", d.InviteResponse.Body())
	if answer.Proto != "RTP/SAVP" || len(answer.SRTP()) != 1 {
		t.Fatalf("answer is not SRTP:\n%s", d.InviteResponse.Body())
	}
	ours := answer.SRTP()[0]
	if ours.Suite != sdp.SuiteAES80 || string(ours.MKI) != "\x01" || base64.StdEncoding.EncodeToString(ours.Master) == fixtureKey {
		t.Fatalf("answer crypto %s: want our own key, the offer's suite and a 1-byte MKI", ours)
	}
	clientKey, _ := base64.StdEncoding.DecodeString(fixtureKey)
	enc := srtpContext(t, clientKey, []byte{1}, false)
	dec := srtpContext(t, ours.Master, ours.MKI, true)

	// Send 1 s of a 1000 Hz tone in SRTP, and read what comes back.
	heard := rawPeer{sock: conn, law: "PCMU", enc: enc, dec: dec}.exchange(t, answer.RTP(), clientHz, 50)
	if err := d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	sbc, err := lab.SBC.NextCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	offer := media(t, "offer to the SBC", sbc.OfferSDP)
	if offer.Proto != "RTP/AVP" || len(offer.Crypto) != 0 {
		t.Errorf("SBC was offered SRTP:\n%s", sbc.OfferSDP)
	}
	if math.Abs(sbc.DetectedHz-clientHz) > 25 || sbc.Codec != "PCMA" {
		t.Errorf("SBC heard %.0f Hz in %s, want %.0f Hz in PCMA", sbc.DetectedHz, sbc.Codec, clientHz)
	}
	if len(heard) < 8000/4 {
		t.Fatalf("only %d samples came back", len(heard))
	}
	if hz := tone.Detect(heard, 8000); math.Abs(hz-sbcHz) > 25 {
		t.Errorf("client heard %.0f Hz, want the SBC's %.0f Hz", hz, sbcHz)
	}
}
