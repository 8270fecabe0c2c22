package endpoint

import (
	_ "embed"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/pion/sdp/v3"
)

// attrBypassID is the SfB attribute naming the media bypass ID.
const attrBypassID = "x-bypassid"

// sfbTemplate is Fixture A of the project notes (testdata/sdp/sfb-bypass-offer.sdp):
// a real SfB client offer. Copied here because go:embed cannot reach ../testdata.
//
//go:embed sfb-offer.sdp
var sfbTemplate []byte

// parsedTemplate is sfbTemplate parsed once: a load generator builds an
// offer per call, and parsing it each time was a tenth of its CPU.
var parsedTemplate = sync.OnceValues(func() (*sdp.SessionDescription, error) {
	var desc sdp.SessionDescription
	if err := desc.Unmarshal(sfbTemplate); err != nil {
		return nil, fmt.Errorf("sfb template: %w", err)
	}
	return &desc, nil
})

// templateCopy is a copy of the parsed template that apply may change: the
// media descriptions and their format lists are copied; the rest apply
// only replaces, never mutates (rewriteAttributes returns a new attribute
// list, which limitCodecs then compacts in place).
func templateCopy() (sdp.SessionDescription, error) {
	t, err := parsedTemplate()
	if err != nil {
		return sdp.SessionDescription{}, err
	}
	desc := *t
	desc.MediaDescriptions = make([]*sdp.MediaDescription, len(t.MediaDescriptions))
	for i, md := range t.MediaDescriptions {
		c := *md
		c.MediaName.Formats = slices.Clone(md.MediaName.Formats)
		desc.MediaDescriptions[i] = &c
	}
	return desc, nil
}

// localMedia is our own media address as written into SDP.
type localMedia struct {
	ip       netip.Addr
	rtpPort  uint16
	rtcpPort uint16
	ssrc     uint32
}

// sfbSDP describes an SfB-like SDP built from the template.
type sfbSDP struct {
	local localMedia
	// bypassID goes into a=x-bypassid; "" removes the attribute.
	bypassID string
	// formats, when not nil, replace the template's codec list (an answer);
	// nil keeps SfB's full list (an offer).
	formats []format
	// codecs, when not nil, are the only codecs of an offer, in this
	// order (G722, PCMU, PCMA: a client that offers only PCMU); SfB's
	// others, which the client can neither send nor decode (SILK, Siren,
	// ...), go too, while its comfort noise and telephone-event stay.
	codecs []string
}

// build returns the template with our address, ports, SSRC, candidates and
// bypass ID: c=, o=, m= port, a=rtcp and a host candidate per component are
// rewritten; the TCP-ACT and x-candidate-ipv6 candidates are dropped.
func (p sfbSDP) build() ([]byte, error) {
	desc, err := templateCopy()
	if err != nil {
		return nil, err
	}
	if err := p.apply(&desc); err != nil {
		return nil, err
	}
	out, err := desc.Marshal()
	if err != nil {
		return nil, fmt.Errorf("marshal sfb sdp: %w", err)
	}
	return out, nil
}

// apply turns a parse of the template into p's offer or answer.
func (p sfbSDP) apply(desc *sdp.SessionDescription) error {
	setAddress(desc, p.local.ip)
	md := firstAudio(desc)
	if md == nil {
		return fmt.Errorf("sfb template: no audio stream")
	}
	md.MediaName.Port = sdp.RangedPort{Value: int(p.local.rtpPort)}
	md.Attributes = p.rewriteAttributes(md.Attributes)
	if p.formats != nil {
		md.MediaName.Formats = formatList(p.formats)
	} else if p.codecs != nil {
		limitCodecs(md, p.codecs)
	}
	return nil
}

func (p sfbSDP) rewriteAttributes(in []sdp.Attribute) []sdp.Attribute {
	out := make([]sdp.Attribute, 0, len(in))
	codecsDone, bypassDone := false, false
	for _, a := range in {
		switch a.Key {
		case "candidate":
			c, ok := p.rewriteCandidate(a.Value)
			if !ok {
				continue
			}
			a.Value = c
		case "x-candidate-ipv6":
			continue
		case "rtcp":
			a.Value = strconv.Itoa(int(p.local.rtcpPort))
		case "x-ssrc-range":
			a.Value = fmt.Sprintf("%d-%d", p.local.ssrc, p.local.ssrc)
		case attrBypassID:
			bypassDone = true
			if p.bypassID == "" {
				continue
			}
			a.Value = p.bypassID
		case "rtpmap", "fmtp":
			if p.formats == nil {
				break
			}
			if !codecsDone {
				out = append(out, formatAttributes(p.formats)...)
				codecsDone = true
			}
			continue
		}
		out = append(out, a)
	}
	if p.bypassID != "" && !bypassDone {
		out = append(out, sdp.NewAttribute(attrBypassID, p.bypassID))
	}
	return out
}

// rewriteCandidate points a UDP candidate of component 1 (RTP) or 2 (RTCP) at
// our sockets and turns it into a host candidate; others are dropped.
func (p sfbSDP) rewriteCandidate(v string) (string, bool) {
	f := strings.Fields(v)
	if len(f) < 8 || !strings.EqualFold(f[2], "UDP") {
		return "", false
	}
	var port uint16
	switch f[1] {
	case "1":
		port = p.local.rtpPort
	case "2":
		port = p.local.rtcpPort
	default:
		return "", false
	}
	f[4] = p.local.ip.String()
	f[5] = strconv.Itoa(int(port))
	return strings.Join(append(f[:6], "typ", "host"), " "), true
}

// plainSDP builds a plain RFC 3264 audio description as an SBC sends it.
// A bypassID adds a=x-bypassid and host candidates for our RTP and RTCP ports,
// as a CCE mediation server's bypass offer to a client has them.
func plainSDP(local localMedia, formats []format, sessionID uint64, bypassID string) ([]byte, error) {
	return plainSDPVersion(local, formats, sessionID, sessionID, bypassID)
}

// plainSDPVersion is plainSDP with an o= session version of its own.
func plainSDPVersion(local localMedia, formats []format, sessionID, version uint64, bypassID string) ([]byte, error) {
	desc := sdp.SessionDescription{
		Origin: sdp.Origin{
			Username:       "-",
			SessionID:      sessionID,
			SessionVersion: version,
			NetworkType:    "IN",
		},
		SessionName:      "SBC",
		TimeDescriptions: []sdp.TimeDescription{{}},
		MediaDescriptions: []*sdp.MediaDescription{{
			MediaName: sdp.MediaName{
				Media:   "audio",
				Port:    sdp.RangedPort{Value: int(local.rtpPort)},
				Protos:  []string{"RTP", "AVP"},
				Formats: formatList(formats),
			},
		}},
	}
	setAddress(&desc, local.ip)
	md := desc.MediaDescriptions[0]
	if bypassID != "" {
		md.Attributes = append(md.Attributes,
			sdp.NewAttribute("candidate", hostCandidate(1, local.ip, local.rtpPort)),
			sdp.NewAttribute("candidate", hostCandidate(2, local.ip, local.rtcpPort)),
			sdp.NewAttribute(attrBypassID, bypassID))
	}
	md.Attributes = append(md.Attributes, formatAttributes(formats)...)
	md.Attributes = append(md.Attributes,
		sdp.NewAttribute("ptime", "20"),
		sdp.NewPropertyAttribute("sendrecv"))
	out, err := desc.Marshal()
	if err != nil {
		return nil, fmt.Errorf("marshal sdp: %w", err)
	}
	return out, nil
}

// hostCandidate is an MS-ICE2 UDP host candidate line value.
func hostCandidate(component int, ip netip.Addr, port uint16) string {
	priority := 2130706431 - 513*(component-1) // SfB's values: 2130706431, 2130705918
	return fmt.Sprintf("1 %d UDP %d %s %d typ host", component, priority, ip, port)
}

// setAddress writes ip into o= and the session c= line.
func setAddress(desc *sdp.SessionDescription, ip netip.Addr) {
	addrType := "IP4"
	if ip.Is6() && !ip.Is4In6() {
		addrType = "IP6"
	}
	desc.Origin.NetworkType = "IN"
	desc.Origin.AddressType = addrType
	desc.Origin.UnicastAddress = ip.String()
	desc.ConnectionInformation = &sdp.ConnectionInformation{
		NetworkType: "IN",
		AddressType: addrType,
		Address:     &sdp.Address{Address: ip.String()},
	}
}

func formatList(formats []format) []string {
	out := make([]string, len(formats))
	for i, f := range formats {
		out[i] = strconv.Itoa(int(f.pt))
	}
	return out
}

// formatAttributes returns a=rtpmap (and a=fmtp where set) for formats.
func formatAttributes(formats []format) []sdp.Attribute {
	var out []sdp.Attribute
	for _, f := range formats {
		pt := strconv.Itoa(int(f.pt))
		rtpmap := fmt.Sprintf("%s %s/%d", pt, f.name, f.rate)
		if f.channels > 1 {
			rtpmap += "/" + strconv.Itoa(f.channels)
		}
		out = append(out, sdp.NewAttribute("rtpmap", rtpmap))
		if f.fmtp != "" {
			out = append(out, sdp.NewAttribute("fmtp", pt+" "+f.fmtp))
		}
	}
	return out
}

// limitCodecs makes keep (codec names) the only codecs of an offer's m=
// line, in keep's order and with the template's payload types, followed by
// its comfort noise and telephone-event formats; the rtpmap and fmtp lines
// of the formats dropped go too.
func limitCodecs(md *sdp.MediaDescription, keep []string) {
	offered := mediaFormats(md)
	var formats []string
	kept := map[string]bool{}
	add := func(f format) {
		pt := strconv.Itoa(int(f.pt))
		if !kept[pt] {
			kept[pt] = true
			formats = append(formats, pt)
		}
	}
	for _, name := range keep {
		for _, f := range offered {
			if f.clientCodec() && strings.EqualFold(f.name, name) {
				add(f)
			}
		}
	}
	for _, f := range offered {
		if f.isEvent() || strings.EqualFold(f.name, comfortNoise) {
			add(f)
		}
	}
	md.MediaName.Formats = formats
	attrs := md.Attributes[:0]
	for _, a := range md.Attributes {
		if a.Key == "rtpmap" || a.Key == "fmtp" {
			if pt, _, ok := strings.Cut(strings.TrimSpace(a.Value), " "); ok && !kept[pt] {
				continue
			}
		}
		attrs = append(attrs, a)
	}
	md.Attributes = attrs
}
