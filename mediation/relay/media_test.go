package relay

import (
	"bytes"
	"context"
	"net/netip"
	"testing"

	"github.com/mediation-emulator/mediation/mediation/tone"
	"github.com/pion/rtp"
)

// mediaLeg is one leg of a media test: its codec and, for an SRTP leg, the
// keys (with the client's matching contexts made by the test).
type mediaLeg struct {
	codec Codec
	srtp  *SRTP
}

func (m mediaLeg) kind(t testing.TB) codecKind {
	t.Helper()
	k, err := codecOf(m.codec.Name)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sendFrames sends payloads as one RTP stream from src to the session,
// encrypted when crypto is set.
func sendFrames(t testing.TB, src *fakePeer, to netip.AddrPort, pt uint8, frames [][]byte, crypto *clientCrypto) {
	t.Helper()
	for i, f := range frames {
		h := rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: uint16(1000 + i), Timestamp: uint32(5000 + i*frameSamples), SSRC: 0xABCD, Marker: i == 0}
		b, err := (&rtp.Packet{Header: h, Payload: f}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if crypto != nil {
			b = crypto.encryptRTP(t, b)
		}
		sendRaw(t, src.rtp, to, b)
	}
}

// receiveFrames reads n RTP packets at dst and returns their payloads,
// checking PT and the SRTP trailer (MKI) on the way.
func receiveFrames(ctx context.Context, t testing.TB, dst *fakePeer, n int, wantPT uint8, crypto *clientCrypto, mki []byte, tagLen int) [][]byte {
	t.Helper()
	frames := make([][]byte, 0, n)
	for i := range n {
		b, _, err := readRaw(ctx, dst.rtp)
		if err != nil {
			t.Fatalf("packet %d of %d not received: %v", i, n, err)
		}
		if crypto != nil {
			if got := b[len(b)-tagLen-len(mki) : len(b)-tagLen]; !bytes.Equal(got, mki) {
				t.Fatalf("SRTP packet carries MKI %x, want %x", got, mki)
			}
			b = crypto.decryptRTP(t, b)
		}
		var p rtp.Packet
		if err := p.Unmarshal(b); err != nil {
			t.Fatalf("packet %d does not parse: %v", i, err)
		}
		if p.PayloadType != wantPT || len(p.Payload) != frameSamples {
			t.Fatalf("packet %d: PT %d with %d bytes, want PT %d with %d", i, p.PayloadType, len(p.Payload), wantPT, frameSamples)
		}
		frames = append(frames, p.Payload)
	}
	return frames
}

// TestSessionMediaPaths sends a tone each way through the session for every
// codec pairing and SRTP profile the edge supports, and checks the frequency
// and level that arrive.
func TestSessionMediaPaths(t *testing.T) {
	sfb := sfbKeying(t, "sfb-savp-audio-video-offer.sdp")
	srtp80 := &SRTP{Profile: ProfileAES128SHA1_80, Recv: sfb, Send: ourKeying()}
	srtp32 := &SRTP{Profile: ProfileAES128SHA1_32, Recv: sfb, Send: ourKeying()}
	g722 := Codec{PT: 9, Name: "G722", EventPT: 101}
	tests := []struct {
		name     string
		edge, gw mediaLeg
	}{
		{"SRTP_80 PCMU client (SfB key, MKI) and RTP PCMA gateway", mediaLeg{codecPCMU, srtp80}, mediaLeg{codecPCMA, nil}},
		{"SRTP_32 PCMU client and RTP PCMU gateway", mediaLeg{codecPCMU, srtp32}, mediaLeg{Codec{PT: 0, Name: "PCMU"}, nil}},
		{"SRTP_80 G.722 client and RTP PCMU gateway", mediaLeg{g722, srtp80}, mediaLeg{codecPCMU, nil}},
		{"G.722 and PCMU", mediaLeg{g722, nil}, mediaLeg{codecPCMU, nil}},
		{"G.722 and PCMA", mediaLeg{g722, nil}, mediaLeg{codecPCMA, nil}},
		{"PCMA and PCMU", mediaLeg{Codec{PT: 8, Name: "PCMA"}, nil}, mediaLeg{codecPCMU, nil}},
		{"PCMU and PCMA", mediaLeg{codecPCMU, nil}, mediaLeg{codecPCMA, nil}},
	}
	const frames = 40
	a := newTestAllocator(t, 4)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCall(t, a)
			edgeLeg, gwLeg := c.edge.leg(tt.edge.codec), c.gw.leg(tt.gw.codec)
			edgeLeg.SRTP = tt.edge.srtp
			if err := c.s.SetLeg(Edge, edgeLeg); err != nil {
				t.Fatal(err)
			}
			if err := c.s.SetLeg(Gateway, gwLeg); err != nil {
				t.Fatal(err)
			}
			c.s.Start()
			var crypto *clientCrypto
			var tagLen int
			var mki []byte
			if tt.edge.srtp != nil {
				crypto = newClientCrypto(t, tt.edge.srtp)
				tagLen = map[string]int{ProfileAES128SHA1_80: 10, ProfileAES128SHA1_32: 4}[tt.edge.srtp.Profile]
				mki = tt.edge.srtp.Send.MKI
			}
			edgeKind, gwKind := tt.edge.kind(t), tt.gw.kind(t)

			// Client to gateway: 1020 Hz.
			sendFrames(t, c.edge, c.sessionEdge, tt.edge.codec.PT, toneFrames(edgeKind, 1020, frames), crypto)
			got := receiveFrames(c.ctx, t, c.gw, frames, tt.gw.codec.PT, nil, nil, 0)
			checkTone(t, decodeFrames(gwKind, got), rateOf(gwKind), 1020)

			// Gateway to client: 630 Hz.
			sendFrames(t, c.gw, c.sessionGW, tt.gw.codec.PT, toneFrames(gwKind, 630, frames), nil)
			got = receiveFrames(c.ctx, t, c.edge, frames, tt.edge.codec.PT, crypto, mki, tagLen)
			checkTone(t, decodeFrames(edgeKind, got), rateOf(edgeKind), 630)

			waitFor(c.ctx, t, "sent counters", func() bool {
				st := c.s.Stats()
				return st.Edge.RTPSent == frames && st.Gateway.RTPSent == frames
			})
			st := c.s.Stats()
			if st.Edge.Dropped.Total() != 0 || st.Gateway.Dropped.Total() != 0 {
				t.Fatalf("drops: edge %+v, gateway %+v", st.Edge.Dropped, st.Gateway.Dropped)
			}
			if st.Edge.Codec != edgeKind.String() || st.Gateway.Codec != gwKind.String() {
				t.Fatalf("codecs in stats %q/%q, want %q/%q", st.Edge.Codec, st.Gateway.Codec, edgeKind, gwKind)
			}
		})
	}
}

// TestSessionG722OutOfBandToneIsFiltered sends a 6 kHz tone, which G.722
// carries and G.711 cannot: the decimation filter must remove it rather
// than fold it down to 2 kHz.
func TestSessionG722OutOfBandToneIsFiltered(t *testing.T) {
	c := newCall(t, newTestAllocator(t, 2))
	c.setLegs(t, Codec{PT: 9, Name: "G722"}, codecPCMU)
	c.s.Start()
	const frames = 40
	sendFrames(t, c.edge, c.sessionEdge, 9, toneFrames(kindG722, 6000, frames), nil)
	got := decodeFrames(kindPCMU, receiveFrames(c.ctx, t, c.gw, frames, 0, nil, nil, 0))
	if level := tone.Level(got[warmupFrames*frameSamples:]); level > -45 {
		t.Fatalf("6 kHz tone arrived at %.1f dBFS (%.0f Hz), want it filtered below -45 dBFS",
			level, tone.Detect(got, 8000))
	}
}
