package relay

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// FuzzPacket feeds arbitrary datagrams to both legs' RTP and RTCP paths,
// from the peer's own address and from a stranger's, on plain and SRTP
// legs with transcoding: nothing panics, a datagram is relayed at most
// once, and the counters stay consistent (nothing sent that was not
// received, every received packet either relayed or dropped for a reason).
func FuzzPacket(f *testing.F) {
	audio, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1, Timestamp: 160, SSRC: 7}, Payload: make([]byte, 160)}).Marshal()
	event, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, Marker: true, SequenceNumber: 2, Timestamp: 320, SSRC: 7}, Payload: []byte{1, 0x8a, 0, 160}}).Marshal()
	rr, _ := (&rtcp.ReceiverReport{SSRC: 7, Reports: []rtcp.ReceptionReport{{SSRC: 9, TotalLost: 3}}}).Marshal()
	for _, seed := range [][]byte{audio, event, rr, {}, {0x80}, {0x80, 0x00, 0x00}, audio[:12], append(audio[:12:12], 0xff)} {
		for _, stranger := range []bool{false, true} {
			f.Add(seed, stranger, false)
			f.Add(seed, stranger, true)
		}
	}
	// One session for the whole run (binding ports per input would make
	// parallel workers collide): state carried from input to input is part
	// of what is fuzzed.
	a := newTestAllocator(f, 2)
	s, err := NewSession(a, testLogger(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	edge := netip.MustParseAddrPort("127.0.0.1:40000")
	gw := netip.MustParseAddrPort("127.0.0.1:40002")
	if err := s.SetLeg(Edge, Leg{RTP: edge, Codec: Codec{PT: 0, Name: "PCMU", EventPT: 101}}); err != nil {
		f.Fatal(err)
	}
	if err := s.SetLeg(Gateway, Leg{RTP: gw, Codec: Codec{PT: 8, Name: "PCMA", EventPT: 96}}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, datagram []byte, stranger, rtcpPath bool) {
		src := edge
		if stranger {
			src = netip.MustParseAddrPort("127.0.0.9:40000")
		}
		in := append([]byte(nil), datagram...)
		if rtcpPath {
			_ = s.handleRTCP(Edge, in, src, time.Now())
			return
		}
		pkt, dst, reason := s.handleRTP(Edge, in, src, time.Second)
		switch {
		case reason == dropNone && (len(pkt) == 0 || dst != gw):
			t.Fatalf("relayed %d bytes to %s, want a packet to the gateway %s", len(pkt), dst, gw)
		case reason == dropNone && stranger:
			t.Fatalf("a stranger's packet was relayed")
		case reason != dropNone && pkt != nil:
			t.Fatalf("dropped (%d) yet a packet to send", reason)
		}
		if reason == dropNone {
			var out rtp.Packet
			if err := out.Unmarshal(pkt); err != nil {
				t.Fatalf("relayed packet does not parse: %v", err)
			}
			if out.PayloadType != 8 && out.PayloadType != 96 {
				t.Fatalf("relayed payload type %d, want the gateway's 8 or 96", out.PayloadType)
			}
		}
	})
}
