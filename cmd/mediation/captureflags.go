package main

import (
	"fmt"
	"strconv"

	"github.com/mediation-emulator/mediation/mediation"
)

// captureFlags are the serve flags of the capture config (pcap, HEP). They
// join serveFlags here so that the capture's flags stay beside each other.
var captureFlags = []serveFlag{
	{name: "pcap", usage: "write every SIP message sent and received to this pcap `FILE` (capture.pcap)",
		get: func(c *mediation.Config) string { return c.Capture.Pcap },
		set: func(c *mediation.Config, v string) { c.Capture.Pcap = v }},
	{name: "pcap-media", isBool: true, usage: "add the RTP and RTCP of anchored calls to the pcap file (capture.pcap_media)",
		get: func(c *mediation.Config) string { return strconv.FormatBool(c.Capture.PcapMedia) },
		set: func(c *mediation.Config, v string) { c.Capture.PcapMedia = v == "true" }},
	{name: "pcap-max-size", isNumber: true, usage: "rotate the pcap file at this many `BYTES`; 0: never (capture.pcap_max_size)",
		get:   func(c *mediation.Config) string { return strconv.FormatInt(c.Capture.PcapMaxSize, 10) },
		set:   func(c *mediation.Config, v string) { c.Capture.PcapMaxSize, _ = strconv.ParseInt(v, 10, 64) },
		check: func(v string) error { return checkNumber(v, 63, "capture.pcap_max_size") }},
	{name: "hep", usage: "send every SIP message as HEPv3 to the collector at `IP:PORT` (capture.hep)",
		get: func(c *mediation.Config) string { return c.Capture.HEP },
		set: func(c *mediation.Config, v string) { c.Capture.HEP = v }},
	{name: "hep-id", isNumber: true, usage: "HEP capture agent `ID` (capture.hep_capture_id)",
		get: func(c *mediation.Config) string { return strconv.FormatUint(uint64(c.Capture.HEPCaptureID), 10) },
		set: func(c *mediation.Config, v string) {
			n, _ := strconv.ParseUint(v, 10, 32)
			c.Capture.HEPCaptureID = uint32(n)
		},
		check: func(v string) error { return checkNumber(v, 32, "capture.hep_capture_id") }},
}

func init() { serveFlags = append(serveFlags, captureFlags...) }

// checkNumber refuses v, the value of config field field, unless it is a whole number from 0 to the
// largest of bits bits: what ParseUint would silently turn into 0 or the
// maximum (a typo, "-1", an overflow) becomes a usage error.
func checkNumber(v string, bits int, field string) error {
	if _, err := strconv.ParseUint(v, 10, bits); err != nil {
		return fmt.Errorf("%s: want a whole number from 0 to %d", field, uint64(1)<<bits-1)
	}
	return nil
}
