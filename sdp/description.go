// Description: the SDP the mediation server sends, and its Marshal.

package sdp

import (
	"net/netip"
	"strconv"
	"strings"

	psdp "github.com/pion/sdp/v3"
)

// Origin is the o= identity of one leg's SDP as sent by the mediation
// server. RFC 3264 §8 requires the version to grow with every new SDP on a
// leg and the session ID to stay, so the caller keeps one Origin per leg.
type Origin struct {
	SessionID uint64
	Version   uint64
}

// Next returns the origin for the next SDP sent on the same leg.
func (o Origin) Next() Origin {
	return Origin{SessionID: o.SessionID, Version: o.Version + 1}
}

// Description is an SDP the mediation server sends: one audio stream and,
// in an answer, the offer's other m-lines rejected around it (Rejected).
// The builders in this package fill everything but Origin, which belongs to
// the leg and is set by the caller.
type Description struct {
	Origin     Origin
	Addr       netip.Addr  // c= and o= address; IPv4 (or IPv4-mapped) gives IN IP4
	Port       int         // RTP port in m=
	RTCPPort   int         // a=rtcp; 0 omits the line
	Codecs     []Codec     // m= formats in this order
	BypassID   string      // a=x-bypassid; "" omits the line
	Candidates []Candidate // a=candidate lines; nil omits them
	Direction  string      // "" means sendrecv
	Ptime      int         // a=ptime; 0 omits the line
	// Crypto are a=crypto lines (SDES). With SAVP the profile is RTP/SAVP;
	// without, crypto lines in RTP/AVP make SRTP optional, as SfB does.
	Crypto []Crypto
	SAVP   bool
	// Rejected are the m-lines of the offer this Description answers other
	// than the audio one, in the offer's order; Marshal writes each with
	// port 0, its Media, Proto and Formats, and no attributes. AudioIndex
	// is where the audio m-line goes among them: the number of Rejected
	// lines before it, clamped to 0..len(Rejected). nil in offers and in
	// answers to audio-only offers, which then have the audio m-line only.
	// Answering fills both from the offer.
	Rejected   []MLine
	AudioIndex int
}

// sessionName is what SfB clients send in s=; peers ignore it.
const sessionName = "session"

// Marshal renders d as a CRLF-terminated SDP body built with pion/sdp.
func (d Description) Marshal() []byte {
	sd := d.session()
	b, err := sd.Marshal()
	if err != nil {
		// pion's Marshal only appends to a buffer and has no failing path;
		// an empty body makes the peer reject the message rather than the
		// mediation server crash.
		return nil
	}
	return b
}

func (d Description) session() *psdp.SessionDescription {
	addrType, addr := addrFields(d.Addr)
	return &psdp.SessionDescription{
		Version: 0,
		Origin: psdp.Origin{
			Username:       "-",
			SessionID:      d.Origin.SessionID,
			SessionVersion: d.Origin.Version,
			NetworkType:    "IN",
			AddressType:    addrType,
			UnicastAddress: addr,
		},
		SessionName: sessionName,
		ConnectionInformation: &psdp.ConnectionInformation{
			NetworkType: "IN",
			AddressType: addrType,
			Address:     &psdp.Address{Address: addr},
		},
		TimeDescriptions:  []psdp.TimeDescription{{Timing: psdp.Timing{}}},
		MediaDescriptions: d.mediaDescriptions(),
	}
}

func (d Description) audio() *psdp.MediaDescription {
	md := &psdp.MediaDescription{
		MediaName: psdp.MediaName{
			Media:   "audio",
			Port:    psdp.RangedPort{Value: d.Port},
			Protos:  d.protos(),
			Formats: make([]string, 0, len(d.Codecs)),
		},
	}
	for _, c := range d.Codecs {
		md.MediaName.Formats = append(md.MediaName.Formats, strconv.Itoa(int(c.PT)))
	}
	add := func(key, value string) {
		md.Attributes = append(md.Attributes, psdp.NewAttribute(key, value))
	}
	for _, c := range d.Codecs {
		add("rtpmap", c.rtpmap())
		if c.Fmtp != "" {
			add("fmtp", strconv.Itoa(int(c.PT))+" "+c.Fmtp)
		}
	}
	if d.Ptime > 0 {
		add("ptime", strconv.Itoa(d.Ptime))
	}
	if d.RTCPPort > 0 {
		add("rtcp", strconv.Itoa(d.RTCPPort))
	}
	if d.BypassID != "" {
		add("x-bypassid", d.BypassID)
	}
	for _, c := range d.Candidates {
		add("candidate", c.String())
	}
	for _, c := range d.Crypto {
		add("crypto", c.String())
	}
	md.Attributes = append(md.Attributes, psdp.NewPropertyAttribute(d.direction()))
	return md
}

func (d Description) protos() []string {
	if d.SAVP {
		return []string{"RTP", "SAVP"}
	}
	return []string{"RTP", "AVP"}
}

func (d Description) direction() string {
	switch strings.ToLower(d.Direction) {
	case SendOnly, RecvOnly, Inactive:
		return strings.ToLower(d.Direction)
	default:
		return SendRecv
	}
}

// addrFields returns the addrtype and address text for o= and c=. An invalid
// address is written as 0.0.0.0 (no media) rather than Go's "invalid IP",
// which no peer could parse.
func addrFields(a netip.Addr) (string, string) {
	switch {
	case !a.IsValid():
		return "IP4", "0.0.0.0"
	case a.Unmap().Is4():
		return "IP4", a.Unmap().String()
	default:
		return "IP6", a.String()
	}
}
