package endpoint

import (
	"fmt"
	"strings"

	"github.com/zaf/g711"
)

// Codec and event names as they appear in a=rtpmap.
const (
	PCMU           = "PCMU"
	PCMA           = "PCMA"
	G722           = "G722"
	telephoneEvent = "telephone-event"
	comfortNoise   = "CN"
)

// format is one payload type of an m= line with what its rtpmap says.
type format struct {
	pt   uint8
	name string // as in the rtpmap, e.g. "PCMU", "telephone-event"
	rate int
	// channels is the rtpmap's third field, 0 when absent (one channel).
	channels int
	fmtp     string
}

// isG711 tells whether f is a G.711 law, which both endpoints send and decode.
func (f format) isG711() bool {
	return f.rate == 8000 && f.channels <= 1 && (strings.EqualFold(f.name, PCMU) || strings.EqualFold(f.name, PCMA))
}

// isG722 tells whether f is mono G.722 (RTP clock 8000 for 16 kHz audio,
// RFC 3551 §4.5.2), which the client sends and decodes too; SfB's stereo
// G.722 (PT 117, G722/8000/2) is not.
func (f format) isG722() bool {
	return f.rate == 8000 && f.channels <= 1 && strings.EqualFold(f.name, G722)
}

// clientCodec tells whether the client can send and decode f.
func (f format) clientCodec() bool {
	return f.isG711() || f.isG722()
}

func (f format) isEvent() bool {
	return strings.EqualFold(f.name, telephoneEvent)
}

// codecName returns the canonical upper-case name of a codec format.
func (f format) codecName() string {
	return strings.ToUpper(f.name)
}

// staticFormats are the static payload types an offer may use without rtpmap.
var staticFormats = map[uint8]format{
	0:  {pt: 0, name: PCMU, rate: 8000},
	8:  {pt: 8, name: PCMA, rate: 8000},
	9:  {pt: 9, name: G722, rate: 8000},
	13: {pt: 13, name: "CN", rate: 8000},
	18: {pt: 18, name: "G729", rate: 8000},
}

// defaultFormat returns the format we offer for a codec name.
func defaultFormat(name string) (format, error) {
	switch strings.ToUpper(name) {
	case PCMU:
		return staticFormats[0], nil
	case PCMA:
		return staticFormats[8], nil
	}
	return format{}, fmt.Errorf("codec %q: only PCMU and PCMA are supported", name)
}

// dtmfFormat is telephone-event as offered by the SBC.
var dtmfFormat = format{pt: 101, name: telephoneEvent, rate: 8000, fmtp: "0-16"}

// firstG711 returns the first PCMU or PCMA format in offer order.
func firstG711(formats []format) (format, bool) {
	for _, f := range formats {
		if f.isG711() {
			return f, true
		}
	}
	return format{}, false
}

// firstClientCodec returns the first format in offer order that the client
// can send and decode: G.711 or G.722.
func firstClientCodec(formats []format) (format, bool) {
	for _, f := range formats {
		if f.clientCodec() {
			return f, true
		}
	}
	return format{}, false
}

// sameCodec returns the format of formats that is codec (another
// negotiation's format), with this negotiation's payload type.
func sameCodec(formats []format, codec format) (format, bool) {
	for _, f := range formats {
		if f.clientCodec() && strings.EqualFold(f.name, codec.name) {
			return f, true
		}
	}
	return format{}, false
}

// preferredG711 returns the offered format of the first codec in prefs that
// the offer contains.
func preferredG711(formats []format, prefs []string) (format, bool) {
	for _, p := range prefs {
		for _, f := range formats {
			if f.isG711() && strings.EqualFold(f.name, p) {
				return f, true
			}
		}
	}
	return format{}, false
}

// eventFormat returns the offered telephone-event format at 8 kHz.
func eventFormat(formats []format) (format, bool) {
	for _, f := range formats {
		if f.isEvent() && f.rate == 8000 {
			return f, true
		}
	}
	return format{}, false
}

// encoder returns the G.711 sample encoder of a codec name.
func encoder(name string) func(int16) uint8 {
	if strings.EqualFold(name, PCMA) {
		return g711.EncodeAlawFrame
	}
	return g711.EncodeUlawFrame
}

// decoder returns the G.711 sample decoder of a codec name.
func decoder(name string) func(uint8) int16 {
	if strings.EqualFold(name, PCMA) {
		return g711.DecodeAlawFrame
	}
	return g711.DecodeUlawFrame
}
