package endpoint

// This file recognises DTMF digits sent in-band: the keys' dual tones in
// the received audio, as a mediation server's relay plays RFC 4733 events
// to a peer that did not negotiate telephone-event (and as phones without
// RFC 4733 send them).

import "github.com/mediation-emulator/mediation/mediation/tone"

// The analysis of in-band DTMF: windows of inbandWindow samples (40 ms,
// the shortest tone ITU-T Q.24 asks receivers to accept) every inbandHop
// (20 ms, one packet). A digit counts once it fills inbandRepeat windows
// in a row (60 ms of tone, so a window straddling two sounds that happens
// to look like a key is no digit) and again only after a window without it.
const (
	inbandWindow = 2 * frameSamples
	inbandHop    = frameSamples
	inbandRepeat = 2
)

// inbandDetector turns decoded audio into in-band DTMF digits. Its memory
// is one window of samples whatever the call's length, and it runs one
// DTMF analysis per 20 ms of audio. It is not safe for concurrent use.
type inbandDetector struct {
	ring   [inbandWindow]int16 // the last window's samples, oldest at next
	window [inbandWindow]int16 // ring in order, for the analysis
	next   int                 // where the next sample goes in ring
	filled int                 // samples in ring, up to inbandWindow
	due    int                 // samples until the next analysis

	key     byte // the key of the current run of windows
	run     int  // windows in a row holding key
	pressed bool // key was counted and has not been released
	digits  []byte
}

// add takes the next decoded sample.
func (d *inbandDetector) add(v int16) {
	d.ring[d.next] = v
	d.next = (d.next + 1) % inbandWindow
	if d.filled < inbandWindow {
		d.filled++
	}
	if d.due > 0 {
		d.due--
	}
	if d.filled == inbandWindow && d.due == 0 {
		d.analyse()
		d.due = inbandHop
	}
}

// analyse runs the DTMF detector over the current window.
func (d *inbandDetector) analyse() {
	n := copy(d.window[:], d.ring[d.next:])
	copy(d.window[n:], d.ring[:d.next])
	event, ok := tone.DetectDTMF(d.window[:], sampleRate)
	if !ok {
		// Silence, the far end's own tone or speech: the key is released.
		d.run, d.pressed = 0, false
		return
	}
	if d.run > 0 && event == d.key {
		d.run++
	} else {
		d.key, d.run, d.pressed = event, 1, false
	}
	if d.run >= inbandRepeat && !d.pressed {
		d.pressed = true
		if digit, ok := eventDigit(event); ok {
			d.digits = append(d.digits, digit)
		}
	}
}
