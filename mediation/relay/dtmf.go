package relay

// This file renders RFC 4733 DTMF events as in-band tones towards a leg
// whose peer did not negotiate telephone-event, as a media gateway does:
// the peer would otherwise never hear the digits the other side sends as
// events (and an SfB client or an SBC that sees telephone-event answered
// sends its digits as events only, RFC 4733 §2.5.1.2). It happens when the
// two legs' answers disagree: an anchored call's 200 repeats the answer of
// its 183 to the caller (earlyanswer.go), whose telephone-event the
// callee's 200 may drop.
//
// A rendered event is the key's two tones (ITU-T Q.23) at the event's
// volume, for the event's duration, in 20 ms frames of the receiving leg's
// codec on the sender's timeline: the frame at event timestamp + n
// carries the tone from n on, so the tone lasts exactly what the sender's
// updates report, and the three end packets and other retransmissions add
// nothing. The sender's own audio for the same stretch of time, if it
// sends any, is held back (RFC 4733 §2.5.1.2 leaves the receiver the
// choice; two sources of the same instant would garble the digit).

import (
	"encoding/binary"
	"math"

	"github.com/zaf/g711"

	"github.com/mediation-emulator/mediation/mediation/tone"
)

const (
	// toneFrame is the tone's packetisation: 20 ms, the ptime every SfB
	// client and SBC uses.
	toneFrame = 160
	// eventLen is an RFC 4733 event payload: event, E/R/volume, duration.
	eventLen = 4
)

// dtmfState is the event being rendered on one direction's stream.
type dtmfState struct {
	active bool   // an event was seen
	ssrc   uint32 // its stream
	ts     uint32 // its timestamp (the stream's time at its start)
	// dur is the longest duration its packets reported; end says an end
	// packet came; played is how much of it is rendered (timestamp units).
	dur, played uint32
	end         bool
	// The key's tones, their peak amplitude, and the oscillators' phases.
	low, high, amp float64
	phase          [2]float64
}

// dtmfEvent is one parsed RFC 4733 payload.
type dtmfEvent struct {
	code     byte
	end      bool
	volume   byte // -dBm0
	duration uint16
}

func parseEvent(b []byte) (dtmfEvent, bool) {
	if len(b) < eventLen {
		return dtmfEvent{}, false
	}
	return dtmfEvent{code: b[0], end: b[1]&0x80 != 0, volume: b[1] & 0x3f, duration: binary.BigEndian.Uint16(b[2:])}, true
}

// take notes the event packet at ts of stream ssrc and reports whether
// there is tone to render now. A packet of an older event (reordered) or
// one that reports nothing new (an update lost before, a retransmitted end)
// adds nothing.
func (d *dtmfState) take(ssrc, ts uint32, e dtmfEvent, low, high float64) bool {
	if !d.active || ssrc != d.ssrc || ts != d.ts {
		if d.active && ssrc == d.ssrc && int32(ts-d.ts) < 0 {
			return false
		}
		*d = dtmfState{active: true, ssrc: ssrc, ts: ts}
	}
	d.low, d.high = low, high
	// The volume is the dual tone's power; each tone has half of it (-3 dB).
	d.amp = tone.Amplitude0dBm0 * math.Pow(10, (-float64(e.volume)-3.01)/20)
	d.dur = max(d.dur, uint32(e.duration))
	d.end = d.end || e.end
	return d.frame() > 0
}

// frame is the length of the next frame to render: a whole frame while
// the event goes on, the rest once it ended; 0 when none is due.
func (d *dtmfState) frame() uint32 {
	left := d.dur - d.played
	if left >= toneFrame {
		return toneFrame
	}
	if d.end {
		return left
	}
	return 0
}

// masks reports whether audio at ts of stream ssrc falls in the time the
// event covers, which the tone plays instead.
func (d *dtmfState) masks(ssrc, ts uint32) bool {
	if !d.active || ssrc != d.ssrc {
		return false
	}
	since := int32(ts - d.ts)
	return since >= 0 && uint32(since) < max(d.dur, d.played)
}

// renderEvent turns the event packet in p.in into the first tone frame
// for to's peer (next gives the others), or says why there is none.
func (p *pipeline) renderEvent(to *peer) ([]byte, DropReason) {
	e, ok := parseEvent(p.in.Payload)
	if !ok {
		return nil, DropMalformed
	}
	low, high, ok := tone.DTMF(e.code)
	if !ok {
		// Flash and the other non-key events have no tone of their own.
		return nil, DropUnknownPT
	}
	if !p.dtmf.take(p.in.SSRC, p.in.Timestamp, e, low, high) {
		p.rw.skip(&p.in.Header)
		return nil, dropAbsorbed
	}
	p.toneTo = to
	return p.toneFrame(false)
}

// next returns the next datagram due from the packet last forwarded, nil
// when none: the further tone frames of an event update that covers more
// than 20 ms.
func (p *pipeline) next() ([]byte, DropReason) {
	if p.toneTo == nil {
		return nil, dropNone
	}
	if p.dtmf.frame() == 0 {
		p.toneTo = nil
		return nil, dropNone
	}
	return p.toneFrame(true)
}

// toneFrame renders the event's next frame for p.toneTo's peer; another
// says it follows a frame rendered from the same input packet.
func (p *pipeline) toneFrame(another bool) ([]byte, DropReason) {
	d, to := &p.dtmf, p.toneTo
	n := d.frame()
	h := p.in.Header
	h.Timestamp, h.Marker = d.ts+d.played, d.played == 0
	d.played += n
	pcm := p.pcm[:n]
	clear(pcm)
	tone.AddInto(pcm, d.low, d.amp, clockRate, &d.phase[0])
	tone.AddInto(pcm, d.high, d.amp, clockRate, &d.phase[1])
	if another {
		p.rw.another()
	}
	p.rw.rewrite(&h, to.leg.Codec.PT, &p.hdr)
	p.audio = true
	hl, err := p.hdr.MarshalTo(p.out[:])
	if err != nil || hl != rtpHeaderLen {
		return nil, DropMalformed
	}
	payload := p.out[hl:maxPacket]
	switch to.codec {
	case kindPCMU:
		for i, s := range pcm {
			payload[i] = g711.EncodeUlawFrame(s)
		}
		p.payloadLen = len(pcm)
	case kindPCMA:
		for i, s := range pcm {
			payload[i] = g711.EncodeAlawFrame(s)
		}
		p.payloadLen = len(pcm)
	default:
		p.payloadLen = p.tc.encoder().fromPCM(payload, pcm)
	}
	return p.seal(to, hl+p.payloadLen)
}
