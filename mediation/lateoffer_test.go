package mediation_test

import (
	"fmt"
	"math"
	"net"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation/mediationtest"
	"github.com/mediation-emulator/mediation/mediation/tone"
)

// TestDelayedOfferFromGateway: an SBC's INVITE without SDP gets our offer
// in the 200 and answers in its ACK; the call is anchored and the tones
// cross the relay.
func TestDelayedOfferFromGateway(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	lab := mediationtest.Start(t, mediationtest.Options{ClientBypassID: mediationtest.DefaultBypassID})
	sock, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	dua := sipgo.DialogUA{Client: sipClient(t), ContactHDR: gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: 5999}}}
	d, err := dua.WriteInvite(ctx, request(gosip.INVITE, lab.Server.GatewayAddr().String(), "udp", nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		t.Fatal(err)
	}
	offer := media(t, "offer in the 200", d.InviteResponse.Body())
	if offer.BypassID != "" || len(offer.G711()) != 2 || len(offer.Crypto) != 0 {
		t.Fatalf("offer in the 200:\n%s", d.InviteResponse.Body())
	}
	port := sock.LocalAddr().(*net.UDPAddr).Port
	answer := fmt.Sprintf("v=0\r\no=sbc 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n", port)
	ack := gosip.NewRequest(gosip.ACK, d.InviteResponse.Contact().Address)
	ack.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	ack.SetBody([]byte(answer))
	if err := d.WriteAck(ctx, ack); err != nil {
		t.Fatal(err)
	}
	// Play 1 s of PCMA at the relay and listen to what comes back.
	heard := rawPeer{sock: sock, law: "PCMA"}.exchange(t, offer.RTP(), sbcHz, 50)
	if err := d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	client, err := lab.Client.NextCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if client.BypassOffered || client.BypassAnswered {
		t.Errorf("delayed-offer call offered bypass to the client")
	}
	if math.Abs(client.DetectedHz-sbcHz) > 25 {
		t.Errorf("client heard %.0f Hz, want %.0f", client.DetectedHz, sbcHz)
	}
	if len(heard) < 4000 {
		t.Fatalf("only %d samples came back to the SBC", len(heard))
	}
	if hz := tone.Detect(heard, 8000); math.Abs(hz-clientHz) > 25 {
		t.Errorf("SBC heard %.0f Hz, want the client's %.0f", hz, clientHz)
	}
}
