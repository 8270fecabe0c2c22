package relay

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
)

// TestSeededROCNotPoisonedByFailedPacket: a packet that fails every
// seeded try leaves a guessed rollover counter in the new receive context
// (pion's SetROC creates the SSRC's state); a second re-key of the peer
// before any packet authenticated under the first new key seeds from the
// stream's real counter, not from that guess (r25-reviewA #1).
func TestSeededROCNotPoisonedByFailedPacket(t *testing.T) {
	keying := func(b byte) *SRTP {
		return &SRTP{Profile: ProfileAES128SHA1_80, Recv: Keying{Master: bytes.Repeat([]byte{b}, 30), MKI: []byte{1}}, Send: ourKeying()}
	}
	first := mustPeer(t, Leg{RTP: benchAddr, Codec: codecPCMU, SRTP: keying(2)})
	client := newClientCrypto(t, keying(2))
	packet := func(c *clientCrypto, seq uint16) []byte {
		return c.encryptRTP(t, marshal(t, &rtp.Packet{Header: rtp.Header{PayloadType: 0, SequenceNumber: seq, SSRC: 5}, Payload: payload(160, byte(seq))}))
	}
	p := newPipeline(newRewriter(1, 1, 1))
	for _, seq := range []uint16{65535, 0, 30000, 60000, 10} { // ROC 2 at the end
		if r := p.receive(packet(client, seq), first); r != dropNone {
			t.Fatalf("packet %d under the first key: %v", seq, r)
		}
	}
	if roc, _ := first.srtp.rtpIn.ROC(5); roc != 2 {
		t.Fatalf("ROC %d, want 2", roc)
	}
	second, err := newPeer(Leg{RTP: benchAddr, Codec: codecPCMU, SRTP: keying(3)}, first)
	if err != nil {
		t.Fatal(err)
	}
	// One packet of SSRC 5 that authenticates under no key (a stray, a
	// duplicate, a forgery from the peer's address).
	stranger := newClientCrypto(t, keying(7))
	if p.receive(packet(stranger, 11), second) == dropNone {
		t.Fatal("stranger's packet accepted")
	}
	third, err := newPeer(Leg{RTP: benchAddr, Codec: codecPCMU, SRTP: keying(4)}, second)
	if err != nil {
		t.Fatal(err)
	}
	renewed := newClientCrypto(t, keying(4))
	renewed.rtpOut.SetROC(5, 2)
	for _, seq := range []uint16{12, 13, 14} {
		if r := p.receive(packet(renewed, seq), third); r != dropNone {
			t.Errorf("packet %d under the third key (ROC 2): %v", seq, r)
		}
	}
}
