package relay

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/pion/rtp"
)

// event is an RFC 4733 telephone-event payload.
func event(digit byte, end bool, volume byte, duration uint16) []byte {
	b := []byte{digit, volume & 0x3f, 0, 0}
	if end {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], duration)
	return b
}

// TestSessionRelaysDTMF sends audio, one RFC 4733 event (start with marker,
// updates, three end packets, all on the event's timestamp) and audio
// again: the event payloads arrive byte for byte with the other leg's event
// PT, and every timestamp keeps its distance to the others.
func TestSessionRelaysDTMF(t *testing.T) {
	g722 := Codec{PT: 9, Name: "G722", EventPT: 101}
	tests := []struct {
		name     string
		edge, gw Codec
		from     Side
	}{
		{"client PCMU/101 to gateway PCMA/96", codecPCMU, codecPCMA, Edge},
		{"gateway PCMA/96 to client PCMU/101", codecPCMU, codecPCMA, Gateway},
		{"client G.722/101 to gateway PCMU/101", g722, codecPCMU, Edge},
		{"gateway PCMA/96 to client G.722/101", g722, codecPCMA, Gateway},
	}
	type in struct {
		event   bool
		ts      uint32
		marker  bool
		payload []byte
	}
	const start = 160 * 3
	stream := []in{
		{false, 0, true, nil}, {false, 160, false, nil}, {false, 320, false, nil},
		{true, start, true, event(5, false, 10, 160)},
		{true, start, false, event(5, false, 10, 320)},
		{true, start, false, event(5, false, 10, 480)},
		{true, start, false, event(5, true, 10, 640)},
		{true, start, false, event(5, true, 10, 640)},
		{true, start, false, event(5, true, 10, 640)},
		{false, start + 640, true, nil}, {false, start + 800, false, nil},
	}
	a := newTestAllocator(t, 4)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCall(t, a)
			c.setLegs(t, tt.edge, tt.gw)
			c.s.Start()
			src, dst, toSession, _ := c.ends(tt.from)
			inCodec, outCodec := tt.edge, tt.gw
			if tt.from == Gateway {
				inCodec, outCodec = tt.gw, tt.edge
			}
			for i, p := range stream {
				h := rtp.Header{SequenceNumber: uint16(65533 + i), Timestamp: 0xFFFFFF00 + p.ts, SSRC: 9, Marker: p.marker, PayloadType: inCodec.PT}
				body := payload(160, byte(i))
				if p.event {
					h.PayloadType, body = inCodec.EventPT, p.payload
				}
				src.sendRTP(t, toSession, h, body)
			}
			var first rtp.Packet
			for i, p := range stream {
				got, _ := readRTP(c.ctx, t, dst.rtp)
				if i == 0 {
					first = got
				}
				wantPT := outCodec.PT
				if p.event {
					wantPT = outCodec.EventPT
				}
				if got.PayloadType != wantPT || got.Marker != p.marker ||
					got.SequenceNumber != first.SequenceNumber+uint16(i) || got.Timestamp != first.Timestamp+p.ts {
					t.Fatalf("packet %d: PT %d marker %v seq %d ts %d; want PT %d marker %v seq %d ts %d", i,
						got.PayloadType, got.Marker, got.SequenceNumber, got.Timestamp,
						wantPT, p.marker, first.SequenceNumber+uint16(i), first.Timestamp+p.ts)
				}
				if p.event && !bytes.Equal(got.Payload, p.payload) {
					t.Fatalf("event packet %d: payload %x, want %x", i, got.Payload, p.payload)
				}
				if !p.event && len(got.Payload) != 160 {
					t.Fatalf("audio packet %d: %d bytes", i, len(got.Payload))
				}
			}
		})
	}
}
