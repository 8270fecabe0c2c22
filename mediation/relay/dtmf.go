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
// choice; two sources of the same instant would garble the digit, and a
// receiver's jitter buffer keeps one frame per timestamp, usually the
// first): each timestamp carries one frame, the tone's or the audio's.
// Many senders (gateways doing DTMF relay) keep their audio stream
// running and send each audio frame just before the event update that
// covers it, so while an event goes on its audio is held back ahead of
// the tone, up to maxToneAhead past the duration reported so far: the
// next update covers it. Audio already relayed when the event's packet
// covering its time comes (sent before the event's first packet, or so
// far ahead of the updates that it was not held back) keeps its stretch:
// the tone for it is skipped, not sent a second time on the same
// timestamps.
//
// The tone is played at the real-time pace a media gateway plays it, never
// faster, so that one packet (a hostile or broken sender's, or an update
// after lost ones) cannot turn into a burst of hundreds of frames:
//   - an event's duration counts only as far as wall time since its first
//     packet allows (plus maxToneBurst frames of slack): a packet that
//     claims 8 s of tone at once is taken for what could have elapsed;
//   - the frames rendered draw on a per-direction budget that refills at
//     one frame per 20 ms of wall time up to maxToneBurst frames (a new
//     event does not refill it). What an update makes due beyond the
//     budget is skipped, oldest first: the tone resumes at the latest
//     stretch (a timestamp jump, the sequence numbers run on), rather than
//     back-filling the past in a burst;
//   - the sender's audio is held back only for the stretch rendered (and
//     what is due but not rendered yet) and, while the event goes on,
//     maxToneAhead past it, not for the duration claimed: a lost end
//     packet or a claim ahead of wall time mutes at most 200 ms more.

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/zaf/g711"

	"github.com/mediation-emulator/mediation/mediation/tone"
)

const (
	// toneFrame is the tone's packetisation: 20 ms, the ptime every SfB
	// client and SBC uses.
	toneFrame = 160
	// eventLen is an RFC 4733 event payload: event, E/R/volume, duration.
	eventLen = 4
	// maxToneBurst is the most tone frames rendered at once: the budget's
	// capacity and an event's slack ahead of wall time. A sender's jitter
	// and the first packet's duration fit in it; it bounds what one packet
	// can make the relay send.
	maxToneBurst = 10
	// maxToneAhead is maxToneBurst in timestamp units.
	maxToneAhead = maxToneBurst * toneFrame
)

// units is d in timestamp units (clockRate), saturated far above any
// duration an RFC 4733 event may report.
func units(d time.Duration) uint32 {
	if d <= 0 {
		return 0
	}
	return uint32(min(int64(d)*clockRate/int64(time.Second), 1<<24))
}

// toneBudget paces the tone frames of one direction at real time: credit
// (timestamp units) grows with wall time up to maxToneAhead and each
// frame rendered spends one frame's worth.
type toneBudget struct {
	started bool
	credit  uint32
	at      time.Duration // when credit was last refilled (session clock)
}

// refill adds the wall time since the last refill to the credit; a new
// budget starts full.
func (b *toneBudget) refill(now time.Duration) {
	if !b.started {
		b.started, b.credit, b.at = true, maxToneAhead, now
		return
	}
	if now > b.at {
		b.credit = min(maxToneAhead, b.credit+units(now-b.at))
		b.at = now
	}
}

// frames is how many frames the credit pays for.
func (b *toneBudget) frames() uint32 { return b.credit / toneFrame }

// spend pays for one frame.
func (b *toneBudget) spend() { b.credit -= min(b.credit, toneFrame) }

// dtmfState is the event being rendered on one direction's stream.
type dtmfState struct {
	active bool   // an event was seen
	ssrc   uint32 // its stream
	ts     uint32 // its timestamp (the stream's time at its start)
	// claimed is the longest duration its packets reported, dur the part
	// of it wall time allows so far (timestamp units); end says an end
	// packet came, final that dur reached the end's duration.
	claimed, dur uint32
	end, final   bool
	// played is how much of the event is rendered or skipped, from the
	// start of the stretch rendered since the last skip.
	played, from uint32
	// first is when the event's first packet arrived (session clock).
	first time.Duration
	// The key's tones, their peak amplitude, and the oscillators' phases.
	low, high, amp float64
	phase          [2]float64
}

// heardAudio is the newest audio of one direction relayed as audio (not
// held back for a tone): its stream, and the timestamp its payload ends
// at. Every codec the relay handles takes one byte per timestamp unit
// (G.711, and 64 kbit/s G.722 on its 8 kHz RTP clock), so the payload's
// length is its duration.
type heardAudio struct {
	ok        bool
	ssrc, end uint32
}

// note records audio of stream ssrc at ts, n units long, relayed.
func (h *heardAudio) note(ssrc, ts uint32, n int) {
	end := ts + uint32(n)
	if !h.ok || ssrc != h.ssrc || int32(end-h.end) > 0 {
		h.ok, h.ssrc, h.end = true, ssrc, end
	}
}

// after is how far past ts, on stream ssrc, relayed audio reaches (0 if
// it does not).
func (h *heardAudio) after(ssrc, ts uint32) uint32 {
	if !h.ok || ssrc != h.ssrc {
		return 0
	}
	return uint32(max(0, int32(h.end-ts)))
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

// take notes the event packet at ts of stream ssrc, which arrived at now
// (session clock), and reports whether there is tone to render now, and
// how much of the event's time (timestamp units) it skipped because the
// budget b could not pay for it. A packet of an older event (reordered) or
// one that reports nothing new (an update lost before, a retransmitted
// end) adds nothing. heard is the audio relayed so far: the tone starts
// after it.
func (d *dtmfState) take(ssrc, ts uint32, e dtmfEvent, low, high float64, now time.Duration, b *toneBudget, heard *heardAudio) (bool, uint32) {
	if !d.active || ssrc != d.ssrc || ts != d.ts {
		if d.active && ssrc == d.ssrc && int32(ts-d.ts) < 0 {
			return false, 0
		}
		*d = dtmfState{active: true, ssrc: ssrc, ts: ts, first: now}
	}
	d.low, d.high = low, high
	// The volume is the dual tone's power; each tone has half of it (-3 dB).
	d.amp = tone.Amplitude0dBm0 * math.Pow(10, (-float64(e.volume)-3.01)/20)
	d.claimed = max(d.claimed, uint32(e.duration))
	d.end = d.end || e.end
	d.dur = max(d.dur, min(d.claimed, units(now-d.first)+maxToneAhead))
	d.final = d.end && d.dur == d.claimed
	d.cover(heard.after(ssrc, ts))
	b.refill(now)
	skipped := d.skip(b.frames())
	return d.frame() > 0, skipped
}

// cover moves played on past the first heard units of the event, which
// the sender's audio already took on the receiver's timeline: a second
// frame on the same timestamps would be one too many. Before any tone
// (since the last skip) the tone starts there, with the marker; after
// some, the audio fills the stretch between tone frames, and the tone
// already played stays held back from the sender's late audio.
func (d *dtmfState) cover(heard uint32) {
	to := min(heard, d.dur)
	if to <= d.played {
		return
	}
	if d.played == d.from {
		d.from = to
	}
	d.played = to
}

// skip moves played on so that at most allow frames are due, skipping the
// oldest part of what is due, and returns how much it skipped.
func (d *dtmfState) skip(allow uint32) uint32 {
	left := d.dur - d.played
	due, rest := left/toneFrame, left%toneFrame
	if d.final && rest > 0 {
		due++
	} else {
		rest = 0 // a fragment waits for the next update
	}
	if due <= allow {
		return 0
	}
	// Keep the last allow frames: the partial one at the end, if any, and
	// whole ones before it.
	keep := allow * toneFrame
	if rest > 0 && allow > 0 {
		keep = (allow-1)*toneFrame + rest
	}
	skipped := d.dur - keep - d.played
	d.played += skipped
	d.from = d.played
	return skipped
}

// frame is the length of the next frame to render: a whole frame while
// the event goes on, the rest once it ended; 0 when none is due.
func (d *dtmfState) frame() uint32 {
	left := d.dur - d.played
	if left >= toneFrame {
		return toneFrame
	}
	if d.final {
		return left
	}
	return 0
}

// masks reports whether audio at ts of stream ssrc falls in the stretch
// of the event rendered since the last skip, or due to be, or, while the
// event goes on, up to maxToneAhead past it (a sender's audio may come
// just before the update that covers its time): the tone plays instead.
// A duration claimed ahead of wall time, or skipped, masks nothing more.
func (d *dtmfState) masks(ssrc, ts uint32) bool {
	if !d.active || ssrc != d.ssrc {
		return false
	}
	since := int32(ts - d.ts)
	until := d.dur
	if !d.final {
		until += maxToneAhead
	}
	return since >= 0 && uint32(since) >= d.from && uint32(since) < until
}

// renderEvent turns the event packet in p.in into the first tone frame
// for to's peer (next gives the others), or says why there is none.
func (p *pipeline) renderEvent(to *peer, now time.Duration) ([]byte, DropReason) {
	e, ok := parseEvent(p.in.Payload)
	if !ok {
		p.rw.skip(&p.in.Header)
		return nil, DropMalformed
	}
	low, high, ok := tone.DTMF(e.code)
	if !ok {
		// Flash and the other non-key events have no tone of their own.
		p.rw.skip(&p.in.Header)
		return nil, DropUnknownPT
	}
	render, skipped := p.dtmf.take(p.in.SSRC, p.in.Timestamp, e, low, high, now, &p.budget, &p.heard)
	p.toneSkipped += uint64(skipped)
	if !render {
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
	// The marker starts the tone, and the tone again after a skip.
	h.Timestamp, h.Marker = d.ts+d.played, d.played == d.from
	d.played += n
	p.budget.spend()
	pcm := p.pcm[:n]
	clear(pcm)
	tone.AddInto(pcm, d.low, d.amp, clockRate, &d.phase[0])
	tone.AddInto(pcm, d.high, d.amp, clockRate, &d.phase[1])
	if another {
		p.rw.another()
	}
	p.rw.rewrite(&h, to.leg.Codec.PT, 0, &p.hdr, p.at)
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
