package relay

import (
	"bytes"
	"encoding/binary"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation/tone"
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

// startedCall starts a session between fake peers in edge's and gw's
// codecs, and returns it with, as side from sends: the sending and the
// receiving peer, the session's address the sender sends to, and the
// codecs of both.
func startedCall(t *testing.T, a *Allocator, edge, gw Codec, from Side) (c *call, src, dst *fakePeer, toSession netip.AddrPort, inCodec, outCodec Codec) {
	t.Helper()
	c = newCall(t, a)
	c.setLegs(t, edge, gw)
	c.s.Start()
	src, dst, toSession, _ = c.ends(from)
	inCodec, outCodec = edge, gw
	if from == Gateway {
		inCodec, outCodec = gw, edge
	}
	return c, src, dst, toSession, inCodec, outCodec
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
			c, src, dst, toSession, inCodec, outCodec := startedCall(t, a, tt.edge, tt.gw, tt.from)
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

// TestSessionDropsTruncatedEvents: between two legs with telephone-event,
// an event packet shorter than RFC 4733's 4 bytes is malformed, as it is
// towards a leg that plays events as tones: it was relayed as is, to the
// other peer's DTMF detector. The stream runs on without a gap.
func TestSessionDropsTruncatedEvents(t *testing.T) {
	a := newTestAllocator(t, 2)
	c, src, dst, toSession, inCodec, outCodec := startedCall(t, a, codecPCMU, codecPCMA, Edge)
	send := func(seq uint16, pt uint8, body []byte) {
		src.sendRTP(t, toSession, rtp.Header{SequenceNumber: seq, Timestamp: 160 * uint32(seq), SSRC: 9, PayloadType: pt}, body)
	}
	send(1, inCodec.PT, payload(160, 1))
	for i, short := range [][]byte{{}, {5}, {5, 0x0a}, {5, 0x0a, 0}} {
		send(uint16(2+i), inCodec.EventPT, short)
	}
	send(6, inCodec.EventPT, event(5, false, 10, 160))
	send(7, inCodec.PT, payload(160, 7))
	var got []rtp.Packet
	for range 3 {
		p, _ := readRTP(c.ctx, t, dst.rtp)
		got = append(got, p)
	}
	wantPT := []uint8{outCodec.PT, outCodec.EventPT, outCodec.PT}
	for i, p := range got {
		if p.PayloadType != wantPT[i] || p.SequenceNumber != got[0].SequenceNumber+uint16(i) {
			t.Errorf("packet %d: PT %d seq +%d; want PT %d seq +%d", i, p.PayloadType, p.SequenceNumber-got[0].SequenceNumber, wantPT[i], i)
		}
	}
	if n := c.s.Stats().Edge.Dropped.Malformed; n != 4 {
		t.Errorf("%d malformed drops, want the 4 truncated events", n)
	}
}

// TestSessionRendersDTMF: towards a leg without telephone-event, a DTMF
// event becomes its key's two tones in the leg's codec, lasting exactly the
// event's duration, in 20 ms frames on the sender's timeline: updates that
// cover 50 ms each give whole frames as they come, the first end packet
// the rest, its two retransmissions nothing; audio the sender sends for
// the event's time is left out, and the sequence numbers run on without a
// gap (the receiver sees no loss). The event codes with no key (16,
// flash) are dropped as before.
func TestSessionRendersDTMF(t *testing.T) {
	tests := []struct {
		name     string
		edge, gw Codec
		from     Side
		digit    byte
	}{
		{"client PCMU/101 to gateway PCMA without events", codecPCMU, Codec{PT: 8, Name: "PCMA"}, Edge, 5},
		{"gateway PCMA/96 to client PCMU without events", Codec{PT: 0, Name: "PCMU"}, codecPCMA, Gateway, 11},
		{"gateway PCMU/101 to client G.722 without events", Codec{PT: 9, Name: "G722"}, codecPCMU, Gateway, 1},
	}
	type in struct {
		event    bool
		ts       uint32
		marker   bool
		end      bool
		duration uint16
	}
	const start = 160 * 2
	stream := []in{
		{false, 0, true, false, 0}, {false, 160, false, false, 0},
		{true, start, true, false, 400},
		{false, start + 160, false, false, 0}, // audio under the tone: left out
		{true, start, false, false, 800},
		{true, start, false, false, 1200},
		{true, start, false, true, 1320},
		{true, start, false, true, 1320},
		{true, start, false, true, 1320},
		{false, start + 1320, true, false, 0}, {false, start + 1480, false, false, 0},
	}
	// What the receiver gets: the two audio packets, the tone in eight
	// frames of 160 and one of 40 (1320 in all), the audio after it.
	type out struct {
		tone bool
		ts   uint32
		n    int
	}
	var want []out
	want = append(want, out{false, 0, 160}, out{false, 160, 160})
	for ts := uint32(0); ts < 1320; ts += 160 {
		want = append(want, out{true, start + ts, min(160, int(1320-ts))})
	}
	want = append(want, out{false, start + 1320, 160}, out{false, start + 1480, 160})

	a := newTestAllocator(t, 4)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, src, dst, toSession, inCodec, outCodec := startedCall(t, a, tt.edge, tt.gw, tt.from)
			var logs logBuffer
			c.s.SetLogger(zerolog.New(&logs))
			outKind, _ := codecOf(outCodec.Name)
			for i, p := range stream {
				h := rtp.Header{SequenceNumber: uint16(65530 + i), Timestamp: 0xFFFFFF00 + p.ts, SSRC: 9, Marker: p.marker, PayloadType: inCodec.PT}
				body := payload(160, byte(i))
				if p.event {
					h.PayloadType, body = inCodec.EventPT, event(tt.digit, p.end, 10, p.duration)
				}
				src.sendRTP(t, toSession, h, body)
			}
			// A flash (event 16) has no tone: dropped, counted.
			src.sendRTP(t, toSession, rtp.Header{SequenceNumber: 20, Timestamp: start + 2000 - 0x100, SSRC: 9, PayloadType: inCodec.EventPT}, event(16, true, 10, 800))
			var first rtp.Packet
			var tones [][]byte
			for i, w := range want {
				got, _ := readRTP(c.ctx, t, dst.rtp)
				if i == 0 {
					first = got
				}
				wantMarker := i == 0 || (w.tone && w.ts == start) || (!w.tone && i > 2 && want[i-1].tone)
				if got.PayloadType != outCodec.PT || got.Marker != wantMarker || len(got.Payload) != w.n ||
					got.SequenceNumber != first.SequenceNumber+uint16(i) || got.Timestamp != first.Timestamp+w.ts {
					t.Fatalf("packet %d: PT %d marker %v %d bytes seq %d ts %d; want PT %d marker %v %d bytes seq %d ts %d", i,
						got.PayloadType, got.Marker, len(got.Payload), got.SequenceNumber, got.Timestamp,
						outCodec.PT, wantMarker, w.n, first.SequenceNumber+uint16(i), first.Timestamp+w.ts)
				}
				if w.tone {
					tones = append(tones, got.Payload)
				}
			}
			pcm := decodeFrames(outKind, tones)
			rate := rateOf(outKind)
			if outKind == kindG722 {
				pcm = pcm[rate/50:] // the ADPCM predictor's first frame
			}
			if got, ok := tone.DetectDTMF(pcm, rate); !ok || got != tt.digit {
				t.Errorf("the tone frames hold DTMF %d (%v), want %d", got, ok, tt.digit)
			}
			// The level: -10 dBm0 for the pair, -13 dBm0 each.
			wantDB := 20*math.Log10(tone.Amplitude0dBm0/math.Sqrt2/32768) - 10 // a sine's RMS is its peak over √2
			if level := tone.Level(pcm); math.Abs(level-wantDB) > 1.5 {
				t.Errorf("tone at %.1f dBFS, want %.1f (-10 dBm0)", level, wantDB)
			}
			waitFor(c.ctx, t, "the flash counted as dropped", func() bool {
				return c.s.Stats().Side(tt.from).Dropped.UnknownPT == 1
			})
			if n := strings.Count(logs.String(), "as in-band tones"); n != 1 || !strings.Contains(logs.String(), `"side":"`+tt.from.Other().String()+`"`) {
				t.Errorf("%d log lines on the tones, want 1 naming side %s:\n%s", n, tt.from.Other(), logs.String())
			}
			// The reader handled every packet before the flash: anything
			// they made is in the socket already.
			_ = dst.rtp.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			if n, _, err := dst.rtp.ReadFromUDPAddrPort(make([]byte, 1500)); err == nil {
				t.Errorf("a %d-byte packet after the last audio one: a retransmission or the flash was sent", n)
			}
		})
	}
}

// TestSessionRendersDTMFOverRunningAudio: a sender that keeps its audio
// stream running while it sends a digit as events (a gateway doing DTMF
// relay) sends, every 20 ms, an audio frame and the event update that
// covers it, in either order, the end three times (r24-media F5). The leg
// without telephone-event gets one frame per timestamp, +160 each, with
// sequence numbers +1 each: the sender's silence, the tone for the
// digit's time, the silence after it. The one exception is the frame the
// sender's audio took before the event's first packet came (audio first):
// it was relayed, and the tone does not repeat its timestamp. A receiver's
// jitter buffer keeps one frame per timestamp: two would lose the digit.
func TestSessionRendersDTMFOverRunningAudio(t *testing.T) {
	paths := []struct {
		name     string
		edge, gw Codec
	}{
		{"client PCMU/101 to gateway PCMA without events", codecPCMU, Codec{PT: 8, Name: "PCMA"}},
		{"client G.722/101 to gateway PCMU without events", codecG722, Codec{PT: 0, Name: "PCMU"}},
	}
	const (
		digit  = 3
		before = 3            // audio frames before the digit
		ticks  = 8            // 20 ms ticks of the digit: 160 ms
		ends   = 2            // ticks of the end's retransmissions
		after  = 3            // audio frames after them
		start  = before * 160 // the event's timestamp
		frames = before + ticks + ends + after
		base   = 0xFFFFFF00 // the sender's timestamps wrap during the digit
	)
	a := newTestAllocator(t, 4)
	for _, path := range paths {
		for _, audioFirst := range []bool{true, false} {
			name := path.name + ", update before audio"
			if audioFirst {
				name = path.name + ", audio before update"
			}
			t.Run(name, func(t *testing.T) {
				c, src, dst, toSession, inCodec, outCodec := startedCall(t, a, path.edge, path.gw, Edge)
				inKind, _ := codecOf(inCodec.Name)
				outKind, _ := codecOf(outCodec.Name)
				silence := toneFrames(inKind, 0, 1)[0]
				seq := uint16(65530)
				send := func(pt uint8, ts uint32, marker bool, body []byte) {
					src.sendRTP(t, toSession, rtp.Header{PayloadType: pt, SequenceNumber: seq, Timestamp: base + ts, SSRC: 9, Marker: marker}, body)
					seq++
				}
				// The first frame starts the talkspurt, the last one is the
				// sentinel the receiver reads up to: both marked.
				audio := func(i int) { send(inCodec.PT, uint32(i)*160, i == 0 || i == frames-1, silence) }
				update := func(k int) {
					d := min(k+1, ticks)
					send(inCodec.EventPT, start, k == 0, event(digit, d == ticks, 10, uint16(d*160)))
				}
				for i := range before {
					audio(i)
				}
				for k := range ticks + ends {
					if audioFirst {
						audio(before + k)
						update(k)
					} else {
						update(k)
						audio(before + k)
					}
				}
				for i := before + ticks + ends; i < frames; i++ {
					audio(i)
				}
				var got []rtp.Packet
				for {
					p, _ := readRTP(c.ctx, t, dst.rtp)
					got = append(got, p)
					if p.Marker && p.Timestamp-got[0].Timestamp == (frames-1)*160 {
						break
					}
					if len(got) > 3*frames {
						t.Fatalf("%d packets and no sentinel", len(got))
					}
				}
				// The frames the tone takes: the digit's, less the first
				// one when the sender's audio for it came first.
				firstTone := before
				if audioFirst {
					firstTone++
				}
				var tones [][]byte
				var kinds strings.Builder
				for i, p := range got {
					// The tone is at -10 dBm0 (about -16 dBFS); the
					// sender's silence decoded from G.722 is not quite
					// digital silence.
					if tone.Level(decodeFrames(outKind, [][]byte{p.Payload})) > -40 {
						tones = append(tones, p.Payload)
						kinds.WriteByte('T')
					} else {
						kinds.WriteByte('a')
					}
					if i == 0 {
						continue
					}
					if p.SequenceNumber != got[i-1].SequenceNumber+1 || p.Timestamp != got[i-1].Timestamp+160 {
						t.Fatalf("packet %d: seq +%d ts +%d after the one before; want +1, +160 (one frame per timestamp)",
							i, p.SequenceNumber-got[i-1].SequenceNumber, p.Timestamp-got[i-1].Timestamp)
					}
				}
				want := strings.Repeat("a", firstTone) + strings.Repeat("T", before+ticks-firstTone) + strings.Repeat("a", ends+after)
				if len(got) != frames || kinds.String() != want {
					t.Fatalf("received %s (T: tone, a: the sender's audio), want %s", kinds.String(), want)
				}
				if !got[firstTone].Marker {
					t.Error("the tone's first frame is not marked")
				}
				pcm := decodeFrames(outKind, tones)
				if d, ok := tone.DetectDTMF(pcm, rateOf(outKind)); !ok || d != digit {
					t.Errorf("the tone frames hold DTMF %d (%v), want %d", d, ok, digit)
				}
				wantDB := 20*math.Log10(tone.Amplitude0dBm0/math.Sqrt2/32768) - 10
				if level := tone.Level(pcm); math.Abs(level-wantDB) > 1.5 {
					t.Errorf("tone at %.1f dBFS, want %.1f (-10 dBm0)", level, wantDB)
				}
			})
		}
	}
}

// toneRun feeds event and audio packets to a pipeline from a PCMU leg
// with events to a PCMU leg without, on a synthetic clock, and collects
// every datagram the pipeline makes.
type toneRun struct {
	t        *testing.T
	p        *pipeline
	from, to *peer
	seq      uint16
	out      []rtp.Packet
}

func newToneRun(t *testing.T) *toneRun {
	return &toneRun{t: t, p: newPipeline(newRewriter(77, 1000, 5000)),
		from: mustPeer(t, legPCMU), to: mustPeer(t, Leg{RTP: benchAddr, Codec: Codec{PT: 0, Name: "PCMU"}})}
}

// send processes one packet at now: an event (ev != nil) at timestamp ts,
// or 160 bytes of audio; it returns how many datagrams it made.
func (r *toneRun) send(now time.Duration, ts uint32, ev []byte) int {
	r.t.Helper()
	h := rtp.Header{SequenceNumber: r.seq, Timestamp: ts, SSRC: 9, PayloadType: 0}
	body := payload(160, 1)
	if ev != nil {
		h.PayloadType, body = 101, ev
	}
	r.seq++
	before := len(r.out)
	pkt, reason := r.p.process(marshal(r.t, &rtp.Packet{Header: h, Payload: body}), r.from, r.to, now)
	for reason == dropNone && pkt != nil {
		var got rtp.Packet
		if err := got.Unmarshal(pkt); err != nil {
			r.t.Fatalf("output does not parse: %v", err)
		}
		got.Payload = append([]byte(nil), got.Payload...)
		r.out = append(r.out, got)
		pkt, reason = r.p.next()
	}
	if reason != dropNone && reason != dropAbsorbed {
		r.t.Fatalf("packet at ts %d dropped: %s", ts, reason)
	}
	return len(r.out) - before
}

// checkContinuous fails unless the output's sequence numbers run on
// without a gap.
func (r *toneRun) checkContinuous() {
	r.t.Helper()
	for i := 1; i < len(r.out); i++ {
		if r.out[i].SequenceNumber != r.out[i-1].SequenceNumber+1 {
			r.t.Fatalf("packet %d: seq %d after %d", i, r.out[i].SequenceNumber, r.out[i-1].SequenceNumber)
		}
	}
}

// TestToneRenderingRealTime: an event whose updates come in real time
// (every 20 or 50 ms, three end packets) renders exactly its duration, in
// order, as before pacing; one that claims more than wall time allows
// (updates lost, a broken or hostile sender) never makes more than
// maxToneBurst frames at once, nor more than real time pays for, and its
// excess is skipped: the tone resumes at the latest stretch, the sequence
// numbers run on.
func TestToneRenderingRealTime(t *testing.T) {
	const ms = time.Millisecond
	t.Run("10 s event, updates every 20 ms", func(t *testing.T) {
		r := newToneRun(t)
		for i := 1; i <= 500; i++ {
			r.send(time.Duration(i)*20*ms, 8000, event(5, false, 10, uint16(min(i*160, 65535))))
		}
		// 500 frames are 80,000 units: past 65535 a long event goes on
		// as a new event (RFC 4733 §2.5.1.3); here the sender stops at
		// the field's limit, so the tone is 65,535 units.
		for range 3 {
			r.send(10020*ms, 8000, event(5, true, 10, 65535))
		}
		if len(r.out) != 410 {
			t.Fatalf("%d frames, want 410 (65535 units)", len(r.out))
		}
		r.checkContinuous()
		for i, p := range r.out {
			if p.Timestamp != 5000+uint32(i)*160 {
				t.Fatalf("frame %d at ts %d, want %d", i, p.Timestamp, 5000+i*160)
			}
		}
	})
	t.Run("100 ms event, updates every 50 ms, 3 end packets", func(t *testing.T) {
		r := newToneRun(t)
		r.send(0, 8000, event(1, false, 10, 400))
		r.send(50*ms, 8000, event(1, false, 10, 800))
		for range 3 {
			r.send(100*ms, 8000, event(1, true, 10, 800))
		}
		if len(r.out) != 5 {
			t.Fatalf("%d frames, want 5", len(r.out))
		}
		r.checkContinuous()
	})
	t.Run("updates lost for a second", func(t *testing.T) {
		r := newToneRun(t)
		r.send(0, 8000, event(1, false, 10, 160))
		n := r.send(1000*ms, 8000, event(1, false, 10, 8160))
		if n > maxToneBurst {
			t.Fatalf("one update after 1 s made %d frames, want at most %d", n, maxToneBurst)
		}
		// The latest stretch is rendered, the rest skipped.
		last := r.out[len(r.out)-1]
		if last.Timestamp != 5000+8000 || !r.out[1].Marker {
			t.Errorf("last frame at ts %d (want %d), first after the skip marked %v", last.Timestamp, 5000+8000, r.out[1].Marker)
		}
		if got := r.send(1020*ms, 8000, event(1, false, 10, 8320)); got != 1 {
			t.Errorf("the next update in time made %d frames, want 1", got)
		}
		r.checkContinuous()
		if r.p.toneSkipped == 0 {
			t.Error("the skipped stretch is not counted")
		}
	})
	t.Run("one long event per packet", func(t *testing.T) {
		r := newToneRun(t)
		for i := range 20 {
			now := time.Duration(i) * 5 * ms
			r.send(now, 8000+uint32(i)*1000, event(1, true, 10, 65535))
		}
		// 95 ms of wall time pays for 5 frames on top of the burst.
		if max := maxToneBurst + 5 + 1; len(r.out) > max {
			t.Fatalf("20 event packets in 95 ms made %d frames, want at most %d", len(r.out), max)
		}
		r.checkContinuous()
	})
	t.Run("a long claim masks only what is rendered and 200 ms more", func(t *testing.T) {
		r := newToneRun(t)
		r.send(0, 8000, event(1, false, 10, 65535))
		tones := len(r.out)
		if tones == 0 || tones > maxToneBurst {
			t.Fatalf("%d frames for the claim, want 1-%d", tones, maxToneBurst)
		}
		for i := range 50 {
			r.send(time.Duration(i)*20*ms, 8000+uint32(i)*160, nil)
		}
		// While the event goes on (no end packet), audio up to
		// maxToneAhead past the tone is held back for the next update.
		if audio, want := len(r.out)-tones, 50-tones-maxToneBurst; audio != want {
			t.Fatalf("%d of 50 audio packets relayed, want %d (all but those the %d tone frames replace and %d more)", audio, want, tones, maxToneBurst)
		}
		r.checkContinuous()
	})
}

// checkOnePerTimestamp fails unless no two output packets share a
// timestamp.
func (r *toneRun) checkOnePerTimestamp() {
	r.t.Helper()
	seen := make(map[uint32]int, len(r.out))
	for i, p := range r.out {
		if j, ok := seen[p.Timestamp]; ok {
			r.t.Fatalf("packets %d and %d both at ts %d", j, i, p.Timestamp)
		}
		seen[p.Timestamp] = i
	}
}

// TestToneOverRunningAudio: a sender whose audio runs on during a digit,
// each audio frame before the update that covers it, in the cases around
// the common one (TestSessionRendersDTMFOverRunningAudio): the output
// never has two frames on one timestamp, and audio is held back at most
// maxToneAhead past the tone reported.
func TestToneOverRunningAudio(t *testing.T) {
	const ms = time.Millisecond
	const start = 8000
	// tick sends, at 20 ms tick k of the digit, the sender's audio frame
	// for it and then, unless update is 0, the event update.
	tick := func(r *toneRun, k int, update uint16, end bool) {
		now := time.Duration(k) * 20 * ms
		r.send(now, start+uint32(k)*160, nil)
		if update > 0 {
			r.send(now, start, event(4, end, 10, update))
		}
	}
	t.Run("updates lost for 400 ms", func(t *testing.T) {
		r := newToneRun(t)
		for k := range 40 {
			switch {
			case k < 5 || k >= 25 && k < 30:
				tick(r, k, uint16(160*(k+1)), k == 29)
			default:
				tick(r, k, 0, false)
			}
		}
		r.checkContinuous()
		r.checkOnePerTimestamp()
		// The tone resumes with the updates: ticks 26-29 (tick 25's
		// audio came first, beyond what the last update could cover).
		last := r.out[len(r.out)-1]
		if want := uint32(5000 + 39*160); last.Timestamp != want {
			t.Fatalf("last packet at ts %d, want %d (the audio of tick 39)", last.Timestamp, want)
		}
	})
	t.Run("end packets lost", func(t *testing.T) {
		r := newToneRun(t)
		for k := range 40 {
			var update uint16
			if k < 5 {
				update = uint16(160 * (k + 1))
			}
			tick(r, k, update, false)
		}
		r.checkContinuous()
		r.checkOnePerTimestamp()
		// Tick 0's audio, tone for ticks 1-4, the audio of ticks 5-14
		// held back for updates that never come, the rest relayed.
		if want := 1 + 4 + (40 - 5 - maxToneBurst); len(r.out) != want {
			t.Fatalf("%d packets, want %d", len(r.out), want)
		}
		if gap := r.out[5].Timestamp - r.out[4].Timestamp; gap != (1+maxToneBurst)*160 {
			t.Fatalf("audio resumes %d units after the tone, want %d", gap, (1+maxToneBurst)*160)
		}
	})
	t.Run("late audio of the tone's time is held back", func(t *testing.T) {
		r := newToneRun(t)
		r.send(0, start, event(4, false, 10, 480))
		r.send(20*ms, start+160, nil) // under the tone
		r.send(40*ms, start, event(4, true, 10, 480))
		r.send(60*ms, start+480, nil)
		r.send(60*ms, start+320, nil) // late
		r.checkContinuous()
		r.checkOnePerTimestamp()
		if len(r.out) != 4 {
			t.Fatalf("%d packets, want 3 tone frames and the audio after them", len(r.out))
		}
	})
	t.Run("an event older than the audio relayed", func(t *testing.T) {
		r := newToneRun(t)
		for k := range 3 {
			r.send(time.Duration(k)*20*ms, start+uint32(k)*160, nil)
		}
		// The event's first packet comes 60 ms late and says so: the
		// tone takes the time after the audio relayed.
		r.send(60*ms, start, event(4, false, 10, 640))
		r.send(60*ms, start+480, nil)
		r.send(80*ms, start, event(4, true, 10, 800))
		for range 2 {
			r.send(80*ms, start, event(4, true, 10, 800))
		}
		r.send(100*ms, start+800, nil)
		r.checkContinuous()
		r.checkOnePerTimestamp()
		for i, p := range r.out {
			if p.Timestamp != 5000+uint32(i)*160 {
				t.Fatalf("packet %d at ts %d, want %d", i, p.Timestamp, 5000+i*160)
			}
		}
		if len(r.out) != 6 || !r.out[3].Marker {
			t.Fatalf("%d packets (tone marked: %v), want 3 audio, 2 tone (the first marked), 1 audio", len(r.out), r.out[3].Marker)
		}
	})
}

// TestSessionTonesAtRealTimePace: a hostile client sends 20 event packets
// back to back, each a new event claiming 65535 units (8 s) with the E
// bit, then audio: the gateway gets at most maxToneBurst tone frames plus
// what the wall time of the exchange pays for (not thousands), then the
// audio, the sequence numbers run on, and the skip is logged once.
func TestSessionTonesAtRealTimePace(t *testing.T) {
	a := newTestAllocator(t, 2)
	c, src, dst, toSession, inCodec, _ := startedCall(t, a, codecPCMU, Codec{PT: 8, Name: "PCMA"}, Edge)
	var logs logBuffer
	c.s.SetLogger(zerolog.New(&logs))
	began := time.Now()
	seq := uint16(100)
	for i := range 20 {
		src.sendRTP(t, toSession, rtp.Header{SequenceNumber: seq, Timestamp: 8000 + uint32(i)*1000, SSRC: 9, PayloadType: inCodec.EventPT},
			event(1, true, 10, 65535))
		seq++
	}
	// Audio of the stream 2 s after the last event (beyond what it may
	// mask): 50 packets, the last one marked as the sentinel.
	const audio, after = 50, 19000 + 16000
	for i := range audio {
		src.sendRTP(t, toSession, rtp.Header{SequenceNumber: seq, Timestamp: 8000 + after + uint32(i)*160, SSRC: 9,
			PayloadType: inCodec.PT, Marker: i == audio-1}, payload(160, byte(i)))
		seq++
	}
	var got []rtp.Packet
	for {
		p, _ := readRTP(c.ctx, t, dst.rtp)
		got = append(got, p)
		if p.Marker && p.Timestamp == got[0].Timestamp+after+(audio-1)*160 {
			break
		}
		if len(got) > 1000 {
			t.Fatalf("more than 1000 packets for 20 event packets and %d audio ones", audio)
		}
	}
	elapsed := time.Since(began)
	tones := len(got) - audio
	if bound := maxToneBurst + int(elapsed/(20*time.Millisecond)) + 1; tones < 1 || tones > bound {
		t.Fatalf("%d tone frames in %v, want 1 to %d", tones, elapsed, bound)
	}
	for i := 1; i < len(got); i++ {
		if got[i].SequenceNumber != got[i-1].SequenceNumber+1 {
			t.Fatalf("packet %d: seq %d after %d", i, got[i].SequenceNumber, got[i-1].SequenceNumber)
		}
	}
	if n := strings.Count(logs.String(), "more tone than real time allows"); n != 1 {
		t.Errorf("%d log lines on the skipped tone, want 1:\n%s", n, logs.String())
	}
}
