package endpoint

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// remoteMedia is what an endpoint needs from the peer's SDP (offer or answer).
type remoteMedia struct {
	// addr is the c= address and m= port of the first audio stream.
	addr netip.AddrPort
	// hostCandidate is the first "a=candidate ... UDP ... typ host" of
	// component 1; invalid when there is none.
	hostCandidate netip.AddrPort
	// formats are the audio payload types in m= order.
	formats []format
	// bypassID is the value of a=x-bypassid, "" when absent.
	bypassID string
}

var errNoSDP = errors.New("no SDP body")

// parseRemote extracts remoteMedia from an SDP body.
func parseRemote(body []byte) (remoteMedia, error) {
	if len(body) == 0 {
		return remoteMedia{}, errNoSDP
	}
	var desc sdp.SessionDescription
	if err := desc.Unmarshal(body); err != nil {
		return remoteMedia{}, fmt.Errorf("parse sdp: %w", err)
	}
	md := firstAudio(&desc)
	if md == nil {
		return remoteMedia{}, errors.New("sdp: no active audio stream")
	}
	addr, err := connectionAddr(&desc, md)
	if err != nil {
		return remoteMedia{}, err
	}
	port := md.MediaName.Port.Value
	if port <= 0 || port > 65535 {
		return remoteMedia{}, fmt.Errorf("sdp: audio port %d out of range", port)
	}
	rm := remoteMedia{
		addr:          netip.AddrPortFrom(addr, uint16(port)),
		hostCandidate: firstHostCandidate(md),
		formats:       mediaFormats(md),
	}
	if v, ok := md.Attribute(attrBypassID); ok {
		rm.bypassID = strings.TrimSpace(v)
	} else if v, ok := desc.Attribute(attrBypassID); ok {
		rm.bypassID = strings.TrimSpace(v)
	}
	return rm, nil
}

// parsedSDP is the peer's SDP last parsed: an SBC sends the same SDP in
// its 183 and its 200, and the report asks again whether it had a bypass
// ID, so each distinct body is parsed once.
type parsedSDP struct {
	body []byte
	rm   remoteMedia
	err  error
}

// parse is parseRemote(body), from memory when body has the bytes of the
// one parsed last.
func (p *parsedSDP) parse(body []byte) (remoteMedia, error) {
	if p.body == nil || !bytes.Equal(body, p.body) {
		p.body = body
		p.rm, p.err = parseRemote(body)
	}
	return p.rm, p.err
}

// hasBypassID tells whether the SDP body carries a=x-bypassid.
func (p *parsedSDP) hasBypassID(body []byte) bool {
	rm, err := p.parse(body)
	return err == nil && rm.bypassID != ""
}

func firstAudio(desc *sdp.SessionDescription) *sdp.MediaDescription {
	for _, md := range desc.MediaDescriptions {
		if md.MediaName.Media == "audio" && md.MediaName.Port.Value != 0 {
			return md
		}
	}
	return nil
}

// connectionAddr returns the media-level c= address, else the session-level one.
func connectionAddr(desc *sdp.SessionDescription, md *sdp.MediaDescription) (netip.Addr, error) {
	ci := md.ConnectionInformation
	if ci == nil {
		ci = desc.ConnectionInformation
	}
	if ci == nil || ci.Address == nil {
		return netip.Addr{}, errors.New("sdp: no c= line for audio")
	}
	addr, err := netip.ParseAddr(ci.Address.Address)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("sdp: c= address %q: %w", ci.Address.Address, err)
	}
	return addr, nil
}

// mediaFormats lists the m= line's payload types with their rtpmap and fmtp.
func mediaFormats(md *sdp.MediaDescription) []format {
	rtpmaps := map[uint8]format{}
	fmtps := map[uint8]string{}
	for _, a := range md.Attributes {
		pt, rest, ok := splitPT(a.Value)
		if !ok {
			continue
		}
		switch a.Key {
		case "rtpmap":
			if f, ok := parseRtpmap(pt, rest); ok {
				rtpmaps[pt] = f
			}
		case "fmtp":
			fmtps[pt] = rest
		}
	}
	var out []format
	for _, s := range md.MediaName.Formats {
		n, err := strconv.ParseUint(s, 10, 7)
		if err != nil {
			continue
		}
		pt := uint8(n)
		f, ok := rtpmaps[pt]
		if !ok {
			if f, ok = staticFormats[pt]; !ok {
				f = format{pt: pt}
			}
		}
		f.fmtp = fmtps[pt]
		out = append(out, f)
	}
	return out
}

// splitPT splits "101 0-16" into 101 and "0-16".
func splitPT(v string) (uint8, string, bool) {
	head, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
	n, err := strconv.ParseUint(head, 10, 7)
	if err != nil {
		return 0, "", false
	}
	return uint8(n), strings.TrimSpace(rest), true
}

// parseRtpmap parses "PCMU/8000[/1]" (encoding name, clock rate, channels).
func parseRtpmap(pt uint8, v string) (format, bool) {
	parts := strings.Split(v, "/")
	if len(parts) < 2 {
		return format{}, false
	}
	rate, err := strconv.Atoi(parts[1])
	if err != nil {
		return format{}, false
	}
	f := format{pt: pt, name: parts[0], rate: rate}
	if len(parts) > 2 {
		// Channels: stereo G.722 (SfB's PT 117) is not the mono codec we decode.
		if f.channels, err = strconv.Atoi(parts[2]); err != nil {
			return format{}, false
		}
	}
	return f, true
}

// candidate is one MS-ICE2 a=candidate line:
// foundation component transport priority address port "typ" type [...].
type candidate struct {
	component string
	transport string
	addr      netip.AddrPort
	typ       string
}

func parseCandidate(v string) (candidate, bool) {
	f := strings.Fields(v)
	if len(f) < 8 || f[6] != "typ" {
		return candidate{}, false
	}
	ip, err := netip.ParseAddr(f[4])
	if err != nil {
		return candidate{}, false
	}
	port, err := strconv.ParseUint(f[5], 10, 16)
	if err != nil {
		return candidate{}, false
	}
	return candidate{component: f[1], transport: f[2], addr: netip.AddrPortFrom(ip, uint16(port)), typ: f[7]}, true
}

func firstHostCandidate(md *sdp.MediaDescription) netip.AddrPort {
	for _, a := range md.Attributes {
		if a.Key != "candidate" {
			continue
		}
		c, ok := parseCandidate(a.Value)
		if ok && c.component == "1" && strings.EqualFold(c.transport, "UDP") && c.typ == "host" {
			return c.addr
		}
	}
	return netip.AddrPort{}
}
