package mediation_test

import (
	"errors"
	"net"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestStrangerCannotHijackMedia: in an anchored call, another host
// (127.0.0.2) that guesses the client's relay port and sends RTP before the
// client does takes nothing: the SBC's audio still goes to the client's SDP
// address, the stranger hears nothing, and its packets are counted in the
// call's record and in mediationserver_media_packets_refused_total, as
// they come.
func TestStrangerCannotHijackMedia(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	lab := mediationtest.Start(t, mediationtest.Options{})
	client, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	stranger, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()

	body := plainOffer(t, client.LocalAddr().(*net.UDPAddr).Port)
	d := answeredCall(ctx, t, nil, request(gosip.INVITE, lab.Server.EdgeAddr().String(), "udp", body))
	relayPort := media(t, "answer", d.InviteResponse.Body()).RTP()

	const strangers = 10
	for i := range strangers {
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i), Timestamp: uint32(160 * i), SSRC: 666},
			Payload: make([]byte, 160)}
		b, _ := pkt.Marshal()
		if _, err := stranger.WriteToUDPAddrPort(b, relayPort); err != nil {
			t.Fatal(err)
		}
	}
	// The SBC's tone reaches the client, at its SDP address.
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	for got := 0; got < 5; {
		n, _, err := client.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("client heard %d packets of the SBC: %v", got, err)
		}
		var p rtp.Packet
		if p.Unmarshal(buf[:n]) == nil {
			got++
		}
	}
	// By now, anything sent to the stranger has arrived: there is none.
	stranger.SetReadDeadline(time.Now())
	if n, src, err := stranger.ReadFromUDPAddrPort(buf); err == nil {
		t.Fatalf("the stranger got %d bytes from %s", n, src)
	} else if ne := (net.Error)(nil); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatal(err)
	}
	waitCall := func(cond func(refused uint64) bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			calls := lab.Server.Calls()
			if len(calls) == 1 && cond(calls[0].EdgeLeg.PacketsRefused) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("call's edge leg: %+v", calls)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitCall(func(n uint64) bool { return n == strangers })
	// Counted as they come, while the call is up: an injection into a
	// long call shows before it ends.
	mediationtest.WaitMetric(t, lab.Server, strangers, "mediationserver_media_packets_refused_total", "side", "edge")
	if err := d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	waitCalls(t, lab.Server, 0)
	// Once only: the call's record at its end adds nothing.
	for side, want := range map[string]float64{"edge": strangers, "gateway": 0} {
		if n, err := mediationtest.Metric(lab.Server, "mediationserver_media_packets_refused_total", "side", side); err != nil || n != want {
			t.Errorf("refused on the %s side after the call: %v (%v), want %v", side, n, err, want)
		}
	}
}
