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
	telephoneEvent = "telephone-event"
)

// format is one payload type of an m= line with what its rtpmap says.
type format struct {
	pt   uint8
	name string // as in the rtpmap, e.g. "PCMU", "telephone-event"
	rate int
	fmtp string
}

// isG711 tells whether f is a codec the endpoints can send and decode.
func (f format) isG711() bool {
	return f.rate == 8000 && (strings.EqualFold(f.name, PCMU) || strings.EqualFold(f.name, PCMA))
}

func (f format) isEvent() bool {
	return strings.EqualFold(f.name, telephoneEvent)
}

// codecName returns the canonical upper-case name of a G.711 format.
func (f format) codecName() string {
	return strings.ToUpper(f.name)
}

// staticFormats are the static payload types an offer may use without rtpmap.
var staticFormats = map[uint8]format{
	0:  {pt: 0, name: PCMU, rate: 8000},
	8:  {pt: 8, name: PCMA, rate: 8000},
	9:  {pt: 9, name: "G722", rate: 8000},
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
