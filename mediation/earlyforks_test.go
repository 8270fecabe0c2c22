package mediation

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"

	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sdp"
)

// The plan of an anchored inbound call with two of the client's forks and
// an early UPDATE of the SBC (r23-review2 #1, #2): whatever the order of
// the forks' 18x and the UPDATE, the relay's gateway leg stays where the
// UPDATE put the SBC, in the law the SBC accepted in it, and the 200
// repeats the SDP the SBC last got.

func forkSDP(port, ver int, pts ...int) []byte {
	names := map[int]string{0: "PCMU", 8: "PCMA"}
	m := fmt.Sprintf("v=0\r\no=- 1 %d IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP", ver, port)
	for _, p := range pts {
		m += fmt.Sprintf(" %d", p)
	}
	m += "\r\n"
	for _, p := range pts {
		m += fmt.Sprintf("a=rtpmap:%d %s/8000\r\n", p, names[p])
	}
	return []byte(m + "a=sendrecv\r\n")
}

// forkPlan is an anchored inbound call's plan, the SBC's INVITE offering
// PCMU and PCMA at port 20000.
func forkPlan(t *testing.T) *mediaPlan {
	t.Helper()
	alloc, err := relay.NewAllocator(netip.MustParseAddr("127.0.0.1"), 42000, 42999) // any free pair in it
	if err != nil {
		t.Fatal(err)
	}
	raw := forkSDP(20000, 1, 0, 8)
	off, err := sdp.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	p := &mediaPlan{dir: inbound, offer: off, offerRaw: raw, log: nopCallLog()}
	if _, err := p.planOffer(BypassSettings{}, false, alloc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.closeRelay)
	return p
}

// sbcUpdate is the SBC's early UPDATE moving to port 20002 with the laws
// pts, answered by the client in PCMA only: the answer the SBC gets.
func (p *mediaPlan) sbcUpdate(t *testing.T, pts ...int) []byte {
	t.Helper()
	raw := forkSDP(20002, 2, pts...)
	off, err := sdp.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	ro, _, err := p.reOffer(relay.Gateway, off, raw, false)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.commit(ro, forkSDP(30000, 2, 8), true)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (p *mediaPlan) wantGatewayLeg(t *testing.T, when string) {
	t.Helper()
	l := p.legs[relay.Gateway]
	if l.RTP != netip.MustParseAddrPort("127.0.0.1:20002") || l.Codec.Name != "PCMA" {
		t.Fatalf("%s: relay sends the SBC %s to %v, want PCMA to 127.0.0.1:20002 (its UPDATE)", when, l.Codec.Name, l.RTP)
	}
}

func TestEarlyUpdateWithTwoForks(t *testing.T) {
	p := forkPlan(t)
	if _, err := p.planAnswer(forkSDP(30000, 1, 0, 8), false, "T1"); err != nil { // fork 1's 183
		t.Fatal(err)
	}
	if _, err := p.planAnswer(forkSDP(30010, 1, 0, 8), false, "T2"); err != nil { // fork 2's 183
		t.Fatal(err)
	}
	// Both laws offered, PCMA answered: a 200 built afresh would take
	// PCMU, the first law of both the offer and fork 1's 200.
	upd := p.sbcUpdate(t, 0, 8)
	p.wantGatewayLeg(t, "after the UPDATE")
	out, err := p.planAnswer(forkSDP(30000, 1, 0, 8), true, "T1") // fork 1's 200, its 183's SDP
	if err != nil {
		t.Fatal(err)
	}
	p.wantGatewayLeg(t, "after fork 1's 200")
	if !bytes.Equal(out, upd) {
		t.Fatalf("200 to the SBC\n%s\nwant the SDP of its UPDATE's answer again\n%s", out, upd)
	}
}

func TestForkAfterEarlyUpdate(t *testing.T) {
	p := forkPlan(t)
	if _, err := p.planAnswer(forkSDP(30000, 1, 0, 8), false, "T1"); err != nil { // fork 1's 183
		t.Fatal(err)
	}
	p.sbcUpdate(t, 8)
	p.wantGatewayLeg(t, "after the UPDATE")
	if _, err := p.planAnswer(forkSDP(30010, 1, 0, 8), false, "T2"); err != nil { // fork 2's 183
		t.Fatal(err)
	}
	p.wantGatewayLeg(t, "after fork 2's 183")
	if _, err := p.planAnswer(forkSDP(30010, 1, 0, 8), true, "T2"); err != nil { // fork 2's 200, its 183's SDP
		t.Fatal(err)
	}
	p.wantGatewayLeg(t, "after fork 2's 200")
}
