package endpoint

// This file is RFC 4733 telephone-event for DTMF: the digit <-> event code
// table, the 4-byte event payload, and the schedule by which a stream turns
// digits into event packets between its audio packets.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// dtmfDigits are the DTMF characters in event code order (RFC 4733 §3.2):
// 0-9 are events 0-9, * is 10, # is 11, A-D are 12-15.
const dtmfDigits = "0123456789*#ABCD"

// RFC 4733 event payload layout and what the endpoints send.
const (
	eventPayloadLen = 4
	eventEndBit     = 0x80
	eventVolumeMask = 0x3f
	// eventVolume is the power level, in -dBm0, of the digits we send:
	// -10 dBm0, a usual keypad level.
	eventVolume = 10
)

// The schedule of one digit, in 20 ms packets: eventFrames packets of
// increasing duration (100 ms of tone), the last of which carries the E bit
// and is sent endPackets times in all (RFC 4733 §2.5.1.4, so that a lost
// end packet does not leave the digit pressed), then pauseFrames audio
// packets before the next digit.
const (
	eventFrames = 5
	endPackets  = 3
	pauseFrames = 5
)

// ErrBadDigits is returned for DTMF strings with characters other than
// 0-9, *, # and A-D.
var ErrBadDigits = errors.New("DTMF digits: want 0-9, *, # and A-D")

// CheckDigits validates a DTMF string: 0-9, *, # and A-D (a-d too). The
// empty string is valid and sends nothing.
func CheckDigits(digits string) error {
	for _, r := range digits {
		if !strings.ContainsRune(dtmfDigits, toUpper(r)) {
			return fmt.Errorf("%w: %q", ErrBadDigits, digits)
		}
	}
	return nil
}

func toUpper(r rune) rune {
	if r >= 'a' && r <= 'd' {
		return r - 'a' + 'A'
	}
	return r
}

// eventCode is the RFC 4733 event of a DTMF character.
func eventCode(digit byte) (uint8, bool) {
	i := strings.IndexRune(dtmfDigits, toUpper(rune(digit)))
	if i < 0 {
		return 0, false
	}
	return uint8(i), true
}

// eventDigit is the DTMF character of an event code; other events (flash,
// tones) are no digits.
func eventDigit(code uint8) (byte, bool) {
	if int(code) >= len(dtmfDigits) {
		return 0, false
	}
	return dtmfDigits[code], true
}

// dtmfEvent is one RFC 4733 event payload.
type dtmfEvent struct {
	code   uint8
	end    bool
	volume uint8  // 0..63, in -dBm0
	dur    uint16 // in timestamp units since the event's timestamp
}

// marshal writes the 4-byte payload: event, E|R|volume, duration.
func (e dtmfEvent) marshal() []byte {
	b := make([]byte, eventPayloadLen)
	b[0] = e.code
	b[1] = e.volume & eventVolumeMask
	if e.end {
		b[1] |= eventEndBit
	}
	binary.BigEndian.PutUint16(b[2:], e.dur)
	return b
}

// parseEvent reads an event payload; longer payloads (RFC 4733 §2.5.1.5
// redundancy via RED is not negotiated here) keep only the first event.
func parseEvent(payload []byte) (dtmfEvent, bool) {
	if len(payload) < eventPayloadLen {
		return dtmfEvent{}, false
	}
	return dtmfEvent{
		code:   payload[0],
		end:    payload[1]&eventEndBit != 0,
		volume: payload[1] & eventVolumeMask,
		dur:    binary.BigEndian.Uint16(payload[2:]),
	}, true
}

// eventFrame is what the DTMF schedule puts in one 20 ms slot.
type eventFrame struct {
	ev dtmfEvent
	// start says the slot begins a new event: the packet has the marker
	// bit and the event's timestamp is the slot's; its later packets repeat it.
	start bool
	// last says the digit is complete once this packet is sent.
	last bool
}

// dtmfPlayer turns queued digits into event frames, one per 20 ms slot,
// with audio slots for the pauses. It is not safe for concurrent use.
type dtmfPlayer struct {
	queue  []byte
	packet int // packets of the current digit sent so far
	pause  int // audio slots left before the next digit
	done   []chan struct{}
}

// enqueue adds digits (checked by CheckDigits) and returns a channel closed
// once they all were sent, their pauses included.
func (p *dtmfPlayer) enqueue(digits string) <-chan struct{} {
	done := make(chan struct{})
	if digits == "" {
		close(done)
		return done
	}
	p.queue = append(p.queue, strings.ToUpper(digits)...)
	p.done = append(p.done, done)
	return done
}

// busy tells whether digits remain to be sent or paused after.
func (p *dtmfPlayer) busy() bool { return len(p.queue) > 0 || p.pause > 0 }

// next returns the frame of the next slot; ok is false for an audio slot.
func (p *dtmfPlayer) next() (f eventFrame, ok bool) {
	if p.pause > 0 {
		p.pause--
		if p.pause == 0 && len(p.queue) == 0 {
			p.finish()
		}
		return eventFrame{}, false
	}
	if len(p.queue) == 0 {
		return eventFrame{}, false
	}
	code, _ := eventCode(p.queue[0])
	n := p.packet
	f = eventFrame{ev: dtmfEvent{code: code, volume: eventVolume}, start: n == 0}
	if n < eventFrames-1 {
		f.ev.dur = uint16((n + 1) * frameSamples)
	} else {
		f.ev.dur = uint16(eventFrames * frameSamples)
		f.ev.end = true
	}
	p.packet++
	if p.packet == eventFrames-1+endPackets {
		f.last = true
		p.queue = p.queue[1:]
		p.packet = 0
		p.pause = pauseFrames
	}
	return f, true
}

// finish releases everyone waiting for the queue to drain.
func (p *dtmfPlayer) finish() {
	for _, d := range p.done {
		close(d)
	}
	p.done = nil
}

// abandon drops the digits not sent yet (telephone-event renegotiated
// away, the stream closing) and releases the waiters.
func (p *dtmfPlayer) abandon() {
	p.queue, p.packet, p.pause = nil, 0, 0
	p.finish()
}

// dtmfDecoder collects the digits of received events. Every packet of an
// event carries the event's timestamp, the end packet three times, so a
// digit is taken once per (SSRC, timestamp), from whichever of its packets
// arrives first.
type dtmfDecoder struct {
	have   bool
	ssrc   uint32
	ts     uint32
	digits []byte
}

// add accounts one telephone-event packet.
func (d *dtmfDecoder) add(ssrc, ts uint32, payload []byte) {
	ev, ok := parseEvent(payload)
	if !ok {
		return
	}
	if d.have && d.ssrc == ssrc && d.ts == ts {
		return // a later or redundant packet of the same event
	}
	d.have, d.ssrc, d.ts = true, ssrc, ts
	if digit, ok := eventDigit(ev.code); ok {
		d.digits = append(d.digits, digit)
	}
}
