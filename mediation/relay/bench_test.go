package relay

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// packetPath is one per-packet path through a session's handler, without
// sockets: what the RTP reader does between reading and writing.
type packetPath struct {
	name     string
	edge, gw Codec
	srtp     bool // the edge leg (the sender) uses SRTP
	from     Side
}

var (
	pathEdgeAddr = netip.MustParseAddrPort("127.0.0.1:40000")
	pathGWAddr   = netip.MustParseAddrPort("127.0.0.1:40002")
	codecG722    = Codec{PT: 9, Name: "G722", EventPT: 101}
	packetPaths  = []packetPath{
		{"pass-through", codecPCMU, Codec{PT: 0, Name: "PCMU", EventPT: 101}, false, Edge},
		{"PCMU to PCMA", codecPCMU, codecPCMA, false, Edge},
		{"PCMA to PCMU", codecPCMU, codecPCMA, false, Gateway},
		{"G.722 to PCMU", codecG722, codecPCMU, false, Edge},
		{"PCMU to G.722", codecG722, codecPCMU, false, Gateway},
		{"SRTP to RTP", codecPCMU, Codec{PT: 0, Name: "PCMU"}, true, Edge},
		{"RTP to SRTP", codecPCMU, Codec{PT: 0, Name: "PCMU"}, true, Gateway},
	}
)

// newPathSession returns a session (not started: the test drives the
// handler itself) with the legs of path.
func newPathSession(tb testing.TB, path packetPath) (*Session, *SRTP) {
	tb.Helper()
	a := newTestAllocator(tb, 2)
	s, err := NewSession(a, testLogger(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	edge := Leg{RTP: pathEdgeAddr, Codec: path.edge}
	var keys *SRTP
	if path.srtp {
		keys = &SRTP{Profile: ProfileAES128SHA1_80, Recv: sfbKeying(tb, "sfb-savp-audio-video-offer.sdp"), Send: ourKeying()}
		edge.SRTP = keys
	}
	if err := s.SetLeg(Edge, edge); err != nil {
		tb.Fatal(err)
	}
	if err := s.SetLeg(Gateway, Leg{RTP: pathGWAddr, Codec: path.gw}); err != nil {
		tb.Fatal(err)
	}
	return s, keys
}

// pathPacket is one 20 ms packet of the path's sender.
func pathPacket(tb testing.TB, path packetPath, seq uint16) []byte {
	pt := path.edge.PT
	if path.from == Gateway {
		pt = path.gw.PT
	}
	return marshal(tb, &rtp.Packet{Header: rtp.Header{PayloadType: pt, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 3}, Payload: testPayload})
}

func senderAddr(from Side) netip.AddrPort {
	if from == Edge {
		return pathEdgeAddr
	}
	return pathGWAddr
}

// TestPacketPathDoesNotAllocate makes the zero-allocation promise a test,
// not just a benchmark number: the whole handler (latch, reception
// statistics, classify, rewrite, transcode, encrypt) runs per packet.
func TestPacketPathDoesNotAllocate(t *testing.T) {
	for _, path := range packetPaths {
		if path.srtp && path.from == Edge {
			continue // needs fresh ciphertext per packet: see BenchmarkPacket
		}
		t.Run(path.name, func(t *testing.T) {
			s, _ := newPathSession(t, path)
			in := pathPacket(t, path, 1)
			src := senderAddr(path.from)
			seq := uint16(1)
			n := testing.AllocsPerRun(200, func() {
				seq++
				in[2], in[3] = byte(seq>>8), byte(seq)
				if _, _, r := s.handleRTP(path.from, in, src, time.Duration(seq)*20*time.Millisecond); r != dropNone {
					t.Fatalf("dropped: %d", r)
				}
			})
			if n != 0 {
				t.Fatalf("%v allocations per packet, want 0", n)
			}
		})
	}
}

// BenchmarkPacket measures the per-packet handler for each path. One op is
// one packet, so ns/op and allocs/op are per packet.
func BenchmarkPacket(b *testing.B) {
	for _, path := range packetPaths {
		b.Run(path.name, func(b *testing.B) {
			s, keys := newPathSession(b, path)
			src := senderAddr(path.from)
			b.ReportAllocs()
			if path.srtp && path.from == Edge {
				benchmarkSRTPIn(b, s, path, keys, src)
			} else {
				in := pathPacket(b, path, 1)
				seq := uint16(1)
				for b.Loop() {
					seq++
					in[2], in[3] = byte(seq>>8), byte(seq)
					if _, _, r := s.handleRTP(path.from, in, src, time.Duration(seq)*20*time.Millisecond); r != dropNone {
						b.Fatalf("dropped: %d", r)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/packet")
		})
	}
}

// benchmarkSRTPIn feeds the handler SRTP packets encrypted ahead, in
// batches with the timer stopped: replay protection refuses any repeat.
func benchmarkSRTPIn(b *testing.B, s *Session, path packetPath, keys *SRTP, src netip.AddrPort) {
	const batch = 1024
	b.StopTimer()
	client := newClientCrypto(b, keys)
	plain := pathPacket(b, path, 0)
	ring := make([][]byte, batch)
	for i := range ring {
		ring[i] = make([]byte, 0, maxPacket)
	}
	var hdr rtp.Header
	seq := uint16(0)
	encryptBatch := func(ctx *srtp.Context) {
		for i := range ring {
			seq++
			plain[2], plain[3] = byte(seq>>8), byte(seq)
			out, err := ctx.EncryptRTP(ring[i][:0], plain, &hdr)
			if err != nil {
				b.Fatal(err)
			}
			ring[i] = out
		}
	}
	encryptBatch(client.rtpOut)
	b.ResetTimer()
	b.StartTimer()
	for i := range b.N {
		if i%batch == 0 && i > 0 {
			b.StopTimer()
			encryptBatch(client.rtpOut)
			b.StartTimer()
		}
		if _, _, r := s.handleRTP(Edge, ring[i%batch], src, time.Duration(i)*20*time.Millisecond); r != dropNone {
			b.Fatalf("packet %d dropped: %d", i, r)
		}
	}
}
