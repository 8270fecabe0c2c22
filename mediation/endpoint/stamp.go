package endpoint

// This file carries a send time in an RTP payload, for measuring the
// one-way delay through a relay (mediation bench). A relay rewrites the
// RTP header (its own SSRC, sequence numbers and timestamps, no header
// extensions) and, on a transcoded call, converts every payload byte
// between PCMU and PCMA; so the time goes in the payload, written with a
// 16-symbol alphabet of G.711 codes that the law conversion maps one to
// one (code i in PCMU becomes code i in PCMA and back). The receiver reads
// it with its own law, whichever law the sender used.

import (
	"time"

	"github.com/zaf/g711"
)

// stampLen is the payload bytes a stamp takes: 4 marker symbols, 16
// symbols (4 bits each) of the send time, one check symbol.
const stampLen = 4 + 16 + 1

// stampMarker opens a stamp: a tone (or silence) does not start so.
var stampMarker = [4]uint8{0xA, 0x5, 0xC, 0x3}

// stampSymbols[law][i] is the byte of symbol i in PCMU (0) and PCMA (1).
var stampSymbols [2][16]byte

// stampValues[law][b] is the symbol of byte b, or -1.
var stampValues [2][256]int8

func init() {
	for law := range stampValues {
		for b := range stampValues[law] {
			stampValues[law][b] = -1
		}
	}
	// Loud codes (far from the small magnitudes where the two laws' steps
	// differ) that survive PCMU -> PCMA -> PCMU exactly, whether the
	// conversion is by table or through linear PCM.
	n := 0
	for u := 0; u < 256 && n < 16; u++ {
		a := g711.Ulaw2AlawFrame(uint8(u))
		linear := g711.EncodeAlawFrame(g711.DecodeUlawFrame(uint8(u)))
		if g711.Alaw2UlawFrame(a) != uint8(u) || linear != a ||
			g711.EncodeUlawFrame(g711.DecodeAlawFrame(a)) != uint8(u) || stampValues[1][a] >= 0 {
			continue
		}
		stampSymbols[0][n], stampSymbols[1][n] = uint8(u), a
		stampValues[0][u], stampValues[1][a] = int8(n), int8(n)
		n++
	}
	if n < 16 {
		panic("endpoint: fewer than 16 G.711 codes survive the law conversion")
	}
}

// stampEpoch is the origin of send times: one per process, so a sender and
// a receiver in the same process (the bench's clients and SBC) share it,
// and its monotonic clock reading makes the difference immune to changes
// of the wall clock.
var stampEpoch = time.Now()

// lawIndex is 0 for PCMU, 1 for PCMA.
func lawIndex(codec string) int {
	if codec == PCMA {
		return 1
	}
	return 0
}

// writeStamp puts the time since stampEpoch, in nanoseconds, at the start
// of payload (at least stampLen bytes) in law codec's symbols.
func writeStamp(payload []byte, codec string, now time.Time) {
	syms := &stampSymbols[lawIndex(codec)]
	ns := uint64(now.Sub(stampEpoch))
	var check uint8
	for i, m := range stampMarker {
		payload[i] = syms[m]
	}
	for i := range 16 {
		v := uint8(ns>>(60-4*i)) & 0xF
		check ^= v
		payload[4+i] = syms[v]
	}
	payload[20] = syms[check]
}

// readStamp returns the send time in a payload received in law codec, if
// it carries one whole.
func readStamp(payload []byte, codec string) (time.Time, bool) {
	if len(payload) < stampLen {
		return time.Time{}, false
	}
	vals := &stampValues[lawIndex(codec)]
	for i, m := range stampMarker {
		if vals[payload[i]] != int8(m) {
			return time.Time{}, false
		}
	}
	var ns uint64
	var check uint8
	for i := range 16 {
		v := vals[payload[4+i]]
		if v < 0 {
			return time.Time{}, false
		}
		check ^= uint8(v)
		ns = ns<<4 | uint64(v)
	}
	if vals[payload[20]] != int8(check) {
		return time.Time{}, false
	}
	return stampEpoch.Add(time.Duration(ns)), true
}
