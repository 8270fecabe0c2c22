package sip

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

// TestSideReacksRetransmittedFinal: a retransmission of a non-2xx final
// response to our INVITE (the peer's Timer G: our ACK was lost or crossed
// it) is ACKed again at once (RFC 3261 §17.1.1.2), and a message read right
// after it is handled at once. Handed to sipgo's state machine, it waited T2
// (4 s) on the socket's reading goroutine before re-sending the ACK, and
// every call on the socket waited with it.
func TestSideReacksRetransmittedFinal(t *testing.T) {
	peer, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	rec := newRecorder()
	s := startSide(t, rec)
	inv := s.NewInvite(Invite{Target: peer.LocalAddr().(*net.UDPAddr).AddrPort(), Transport: "udp", RequestUser: "b", FromUser: "a", ToUser: "b", MaxForwards: 70})
	sink := &sinkRec{done: make(chan error, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Send(ctx, inv, sink); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	// readFrom reads the next message from the side within wait.
	readFrom := func(wait time.Duration, what string) *gosip.Request {
		t.Helper()
		_ = peer.SetReadDeadline(time.Now().Add(wait))
		for {
			n, _, err := peer.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			m, err := gosip.ParseMessage(buf[:n])
			if err != nil {
				t.Fatalf("%s: unparseable %q", what, buf[:n])
			}
			if req, ok := m.(*gosip.Request); ok && (what != "INVITE" || req.IsInvite()) && (what == "INVITE" || req.IsAck()) {
				return req
			}
		}
	}
	req := readFrom(5*time.Second, "INVITE")
	busy := gosip.NewResponseFromRequest(req, 486, "Busy Here", nil)
	busy.To().Params.Add("tag", "t1")
	wire := []byte(busy.String())
	if _, err := peer.WriteToUDPAddrPort(wire, s.Addr()); err != nil {
		t.Fatal(err)
	}
	first := readFrom(5*time.Second, "ACK")
	// The retransmission, then a new request right behind it.
	if _, err := peer.WriteToUDPAddrPort(wire, s.Addr()); err != nil {
		t.Fatal(err)
	}
	opts := request("OPTIONS", "z9hG4bKafter", "", 1)
	if _, err := peer.WriteToUDPAddrPort([]byte(opts), s.Addr()); err != nil {
		t.Fatal(err)
	}
	// Well under sipgo's T2 (4 s), which the old path waited.
	again := readFrom(2*time.Second, "ACK of the retransmission")
	if again.Via().Params.String() != first.Via().Params.String() || again.CSeq().SeqNo != first.CSeq().SeqNo {
		t.Errorf("second ACK %s differs from the first %s", again.StartLine(), first.StartLine())
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(rec.methods()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the OPTIONS read after the retransmission was not handled within 2 s")
		}
		time.Sleep(time.Millisecond)
	}
	if got := sinkCodes(sink); len(got) != 2 || got[0] != 486 || got[1] != 486 {
		t.Errorf("sink got %v, want the 486 and its retransmission", got)
	}
}
