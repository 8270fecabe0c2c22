// Package gateway holds the SBC / PSTN gateway trunks of a mediation server
// and picks the trunk an outbound call goes to. It knows nothing of SIP
// messages or SDP.
package gateway

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Trunk is one SBC the mediation server sends outbound calls to and accepts
// inbound calls from.
type Trunk struct {
	// Name identifies the trunk in logs and metrics.
	Name string
	// Addr is the SBC's SIP address.
	Addr netip.AddrPort
	// Transport is "udp" or "tcp".
	Transport string
	// EnableBypass is CCE's per-trunk switch (Set-CsTrunkConfiguration
	// -EnableBypass): media bypass needs it on as well as the global setting.
	EnableBypass bool
	// SRTP is "off", "optional" or "required" (CCE's SRTPMode) for the media
	// towards this SBC.
	SRTP string
}

// ErrNoTrunk means no trunk can take a call.
var ErrNoTrunk = errors.New("no gateway trunk configured")

// Table is the set of trunks, in configuration order.
type Table struct {
	trunks []Trunk
}

// NewTable checks the trunks and keeps them in order.
func NewTable(trunks []Trunk) (*Table, error) {
	if len(trunks) == 0 {
		return nil, ErrNoTrunk
	}
	for i, t := range trunks {
		if !t.Addr.IsValid() || t.Addr.Port() == 0 {
			return nil, fmt.Errorf("gateway %q: invalid address %s", t.Name, t.Addr)
		}
		switch strings.ToLower(t.Transport) {
		case "udp", "tcp":
		default:
			return nil, fmt.Errorf("gateway %q: unknown transport %q", t.Name, t.Transport)
		}
		if t.Name == "" {
			trunks[i].Name = t.Addr.String()
		}
		switch t.SRTP {
		case "":
			trunks[i].SRTP = "off"
		case "off", "optional", "required":
		default:
			return nil, fmt.Errorf("gateway %q: unknown srtp mode %q", t.Name, t.SRTP)
		}
	}
	return &Table{trunks: append([]Trunk(nil), trunks...)}, nil
}

// Route picks the trunk for an outbound call to number. CCE splits calls
// over the gateways of a site; this emulator sends every call to the first
// trunk until routing and failover are configurable.
func (t *Table) Route(number string) (Trunk, error) {
	if t == nil || len(t.trunks) == 0 {
		return Trunk{}, ErrNoTrunk
	}
	return t.trunks[0], nil
}

// FromSource finds the trunk an inbound request came from, by source
// address (IP and port, then IP alone). An unknown source gets the first
// trunk's settings: lab SBCs often send from ephemeral ports.
func (t *Table) FromSource(src netip.AddrPort) Trunk {
	for _, tr := range t.trunks {
		if tr.Addr == src {
			return tr
		}
	}
	for _, tr := range t.trunks {
		if tr.Addr.Addr() == src.Addr() {
			return tr
		}
	}
	return t.trunks[0]
}

// Trunks lists the trunks in order.
func (t *Table) Trunks() []Trunk { return append([]Trunk(nil), t.trunks...) }
