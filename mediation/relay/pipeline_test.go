package relay

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/pion/rtp"
	"github.com/zaf/g711"
)

var (
	benchAddr   = netip.MustParseAddrPort("127.0.0.1:40000")
	legPCMU     = Leg{RTP: benchAddr, Codec: Codec{PT: 0, Name: "PCMU", EventPT: 101}}
	legPCMA     = Leg{RTP: benchAddr, Codec: Codec{PT: 8, Name: "PCMA", EventPT: 96}}
	legPCMUDyn  = Leg{RTP: benchAddr, Codec: Codec{PT: 0, Name: "PCMU", EventPT: 100}}
	testPayload = payload(160, 3)
)

func marshal(t testing.TB, p *rtp.Packet) []byte {
	t.Helper()
	p.Version = 2
	b, err := p.Marshal()
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

func TestPipelineOutput(t *testing.T) {
	ext := rtp.Header{Extension: true, ExtensionProfile: rtp.ExtensionProfileOneByte}
	if err := ext.SetExtension(1, []byte{0xAA, 0xBB}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		from, to    Leg
		in          rtp.Packet
		wantPT      uint8
		wantPayload []byte
	}{
		{"PCMU to PCMA", legPCMU, legPCMA,
			rtp.Packet{Header: rtp.Header{PayloadType: 0, SSRC: 5, Marker: true}, Payload: testPayload},
			8, g711.Ulaw2Alaw(testPayload)},
		{"PCMA to PCMU", legPCMA, legPCMU,
			rtp.Packet{Header: rtp.Header{PayloadType: 8, SSRC: 5}, Payload: testPayload},
			0, g711.Alaw2Ulaw(testPayload)},
		{"pass-through", legPCMU, legPCMUDyn,
			rtp.Packet{Header: rtp.Header{PayloadType: 0, SSRC: 5}, Payload: testPayload},
			0, testPayload},
		{"event remap", legPCMU, legPCMA,
			rtp.Packet{Header: rtp.Header{PayloadType: 101, SSRC: 5}, Payload: []byte{1, 0x0a, 0, 160}},
			96, []byte{1, 0x0a, 0, 160}},
		{"CSRCs, extension and padding stripped", legPCMU, legPCMA,
			rtp.Packet{Header: rtp.Header{PayloadType: 0, SSRC: 5, CSRC: []uint32{9, 10},
				Extension: ext.Extension, ExtensionProfile: ext.ExtensionProfile, Extensions: ext.Extensions,
				Padding: true, PaddingSize: 4}, Payload: testPayload},
			8, g711.Ulaw2Alaw(testPayload)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPipeline(newRewriter(77, 10, 20))
			out, reason := p.process(marshal(t, &tt.in), mustPeer(t, tt.from), mustPeer(t, tt.to), 0)
			if reason != dropNone {
				t.Fatalf("dropped: reason %d", reason)
			}
			var got rtp.Packet
			if err := got.Unmarshal(out); err != nil {
				t.Fatalf("output does not parse: %v", err)
			}
			if len(out) != rtpHeaderLen+len(tt.wantPayload) {
				t.Errorf("output length %d, want %d", len(out), rtpHeaderLen+len(tt.wantPayload))
			}
			if got.PayloadType != tt.wantPT || got.SSRC != 77 || got.SequenceNumber != 10 || got.Timestamp != 20 ||
				got.Marker != tt.in.Marker || len(got.CSRC) != 0 || got.Extension || got.Padding {
				t.Errorf("header %+v, want PT %d SSRC 77 seq 10 ts 20 marker %v, no CSRC/ext/padding",
					got.Header, tt.wantPT, tt.in.Marker)
			}
			if !bytes.Equal(got.Payload, tt.wantPayload) {
				t.Errorf("payload\n got %x\nwant %x", got.Payload, tt.wantPayload)
			}
		})
	}
}

func TestPipelineDrops(t *testing.T) {
	good := marshal(t, &rtp.Packet{Header: rtp.Header{PayloadType: 0}, Payload: testPayload})
	version1 := bytes.Clone(good)
	version1[0] = 1 << 6
	csrcOverrun := bytes.Clone(good[:rtpHeaderLen])
	csrcOverrun[0] |= 0x0F // 15 CSRCs announced, none present
	badPadding := bytes.Clone(good)
	badPadding[0] |= 1 << 5
	badPadding[len(badPadding)-1] = 0 // padding size 0 is invalid
	tests := []struct {
		name     string
		in       []byte
		from, to *peer
		want     DropReason
	}{
		{"empty", nil, mustPeer(t, legPCMU), mustPeer(t, legPCMA), DropMalformed},
		{"short", good[:11], mustPeer(t, legPCMU), mustPeer(t, legPCMA), DropMalformed},
		{"version 1", version1, mustPeer(t, legPCMU), mustPeer(t, legPCMA), DropMalformed},
		{"CSRC count beyond packet", csrcOverrun, mustPeer(t, legPCMU), mustPeer(t, legPCMA), DropMalformed},
		{"zero padding size", badPadding, mustPeer(t, legPCMU), mustPeer(t, legPCMA), DropMalformed},
		{"STUN binding request", []byte{0, 1, 0, 0, 0x21, 0x12, 0xA4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
			mustPeer(t, legPCMU), mustPeer(t, legPCMA), DropSTUN},
		{"version 0 without STUN's magic cookie", []byte{0, 1, 0, 0, 0x21, 0x12, 0xA4, 0x43, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
			mustPeer(t, legPCMU), mustPeer(t, legPCMA), DropMalformed},
		{"short STUN header", []byte{0, 1, 0, 0, 0x21, 0x12, 0xA4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11},
			mustPeer(t, legPCMU), mustPeer(t, legPCMA), DropMalformed},
		{"comfort noise", marshal(t, &rtp.Packet{Header: rtp.Header{PayloadType: 13}, Payload: []byte{40}}),
			mustPeer(t, legPCMU), mustPeer(t, legPCMA), DropUnknownPT},
		{"no destination leg", good, mustPeer(t, legPCMU), nil, DropNoPeer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPipeline(newRewriter(1, 1, 1))
			if out, reason := p.process(tt.in, tt.from, tt.to, 0); reason != tt.want || out != nil {
				t.Fatalf("process = (%x, %d), want (nil, %d)", out, reason, tt.want)
			}
		})
	}
}

// TestRTCPOnRTPPort: a datagram on our RTP port is taken for RTCP (an
// rtcp-mux peer, RFC 5761 §4) when its second byte is an RTCP packet type,
// 192-223, whose low 7 bits are no payload type the leg negotiated; with
// the marker bit, a negotiated payload type of 64-95 (telephone-event on
// 80, a law on 72: RFC 3551 §3 allows dynamic bindings there) is RTP.
// Before, every such start of a digit or talkspurt was dropped as RTCP.
func TestRTCPOnRTPPort(t *testing.T) {
	p := mustPeer(t, Leg{RTP: benchAddr, Codec: Codec{PT: 0, Name: "PCMU", EventPT: 80, Accept: []Format{{PT: 72, Name: "PCMA"}}}})
	for _, tc := range []struct {
		second byte
		rtcp   bool
	}{
		{192, true}, {201, true}, {202, true}, {206, true}, {223, true}, // RTCP types
		{0x80 | 80, false}, {0x80 | 72, false}, // the marker bit with a negotiated PT
		{80, false}, {0x80, false}, {191, false}, {224, false},
	} {
		if got := rtcpOnRTP([]byte{0x80, tc.second}, p); got != tc.rtcp {
			t.Errorf("second byte %d (PT %d, marker %v): taken for RTCP %v, want %v", tc.second, tc.second&0x7f, tc.second&0x80 != 0, got, tc.rtcp)
		}
	}
}

// TestPipelineDoesNotAllocate makes the zero-allocation promise a test, not
// just a benchmark number.
func TestPipelineDoesNotAllocate(t *testing.T) {
	tests := []struct {
		name     string
		from, to Leg
		pt       uint8
	}{
		{"pass-through", legPCMU, legPCMUDyn, 0},
		{"PCMU to PCMA", legPCMU, legPCMA, 0},
		{"event", legPCMU, legPCMA, 101},
		{"dropped CN", legPCMU, legPCMA, 13},
		{"G.722 to PCMU", Leg{RTP: benchAddr, Codec: Codec{PT: 9, Name: "G722"}}, legPCMU, 9},
		{"PCMA to G.722", legPCMA, Leg{RTP: benchAddr, Codec: Codec{PT: 9, Name: "G722"}}, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPipeline(newRewriter(1, 1, 1))
			from, to := mustPeer(t, tt.from), mustPeer(t, tt.to)
			in := marshal(t, &rtp.Packet{Header: rtp.Header{PayloadType: tt.pt, SSRC: 3}, Payload: testPayload})
			if n := testing.AllocsPerRun(200, func() { p.process(in, from, to, 0) }); n != 0 {
				t.Fatalf("%v allocations per packet, want 0", n)
			}
		})
	}
}
