package main

import (
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
	{name: "pcap-max-size", usage: "rotate the pcap file at this many `BYTES`; 0: never (capture.pcap_max_size)",
		get: func(c *mediation.Config) string { return strconv.FormatInt(c.Capture.PcapMaxSize, 10) },
		set: func(c *mediation.Config, v string) { c.Capture.PcapMaxSize = parseSize(v) }},
	{name: "hep", usage: "send every SIP message as HEPv3 to the collector at `IP:PORT` (capture.hep)",
		get: func(c *mediation.Config) string { return c.Capture.HEP },
		set: func(c *mediation.Config, v string) { c.Capture.HEP = v }},
	{name: "hep-id", usage: "HEP capture agent `ID` (capture.hep_capture_id)",
		get: func(c *mediation.Config) string { return strconv.FormatUint(uint64(c.Capture.HEPCaptureID), 10) },
		set: func(c *mediation.Config, v string) {
			n, _ := strconv.ParseUint(v, 10, 32)
			c.Capture.HEPCaptureID = uint32(n)
		}},
}

func init() { serveFlags = append(serveFlags, captureFlags...) }

// parseSize reads a byte count; what is not one becomes -1, which the
// config's validation refuses with the field's name.
func parseSize(v string) int64 {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return -1
	}
	return n
}
