package mediation

import (
	"net/netip"
	"strconv"
)

// minPcapMaxSize keeps a rotated capture file able to hold SIP messages.
const minPcapMaxSize = 64 * 1024

// CaptureConfig says where the server records the SIP messages (and, if
// asked, the anchored media) it sends and receives: a pcap file for
// Wireshark and tshark, a HEPv3 collector for Homer.
type CaptureConfig struct {
	// Pcap is a pcap file every SIP message sent and received is written
	// to, as UDP or TCP packets with their real addresses; "" writes none.
	Pcap string `yaml:"pcap"`
	// PcapMedia adds the RTP and RTCP of anchored calls to the pcap file.
	PcapMedia bool `yaml:"pcap_media"`
	// PcapMaxSize rotates the file at this many bytes: FILE becomes
	// FILE.1 and a new FILE begins. 0: no rotation.
	PcapMaxSize int64 `yaml:"pcap_max_size"`
	// HEP is the IP:PORT of a HEPv3 collector (UDP) every SIP message is
	// sent to; "" sends none.
	HEP string `yaml:"hep"`
	// HEPCaptureID is the capture agent id in every HEP packet.
	HEPCaptureID uint32 `yaml:"hep_capture_id"`
}

func (c CaptureConfig) check() *ConfigError {
	switch {
	case c.PcapMaxSize < 0 || c.PcapMaxSize > 0 && c.PcapMaxSize < minPcapMaxSize:
		return invalid("capture.pcap_max_size", strconv.FormatInt(c.PcapMaxSize, 10),
			"must be 0 (no rotation) or at least %d bytes", minPcapMaxSize)
	case c.PcapMedia && c.Pcap == "":
		return invalid("capture.pcap_media", "true", "needs capture.pcap")
	}
	if err := checkFilePath("capture.pcap", c.Pcap); err != nil {
		return err
	}
	if c.HEP != "" {
		if ap, err := netip.ParseAddrPort(c.HEP); err != nil || ap.Port() == 0 {
			return invalid("capture.hep", c.HEP, "must be IP:PORT of a HEP collector")
		}
	}
	return nil
}
