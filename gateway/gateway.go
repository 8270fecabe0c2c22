// Package gateway holds the SBC / PSTN gateway trunks of a mediation server:
// which trunks an outbound call may go to, in which order (policy.go), which
// trunk an inbound request comes from and which sources are trusted at all
// (this file), and whether each trunk is up (health.go). It knows nothing
// of SIP messages or SDP: the mediation package probes and calls the trunks.
package gateway

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// Trunk is one SBC the mediation server sends outbound calls to and accepts
// inbound calls from.
type Trunk struct {
	// Name identifies the trunk in logs, metrics and call records.
	Name string
	// Addr is the SBC's SIP address: for a trunk configured by host name,
	// the target of its current DNS answer that this call or probe is to
	// use (Route spreads calls over the best targets by SRV weight).
	Addr netip.AddrPort
	// Alternates are the trunk's other targets, in the order to try them
	// when a call to Addr fails at transport level (RFC 3263 §4.3); set by
	// Route, empty for a trunk with one address.
	Alternates []netip.AddrPort
	// Host is the host name the trunk was configured with ("" for an IP).
	Host string
	// Port is the configured port of a host name; 0 means none: SRV
	// records say (resolve.go).
	Port uint16
	// Targets are the addresses Host resolves to now, best first (set by
	// ResolveTrunks and kept current by Table.Resolve); for an IP trunk,
	// Addr alone.
	Targets []Target
	// Transport is "udp", "tcp" or "tls".
	Transport string
	// TLSName is the name the trunk's TLS certificate must carry (its
	// FQDN); "" means Host, else Addr's IP.
	TLSName string
	// EnableBypass is CCE's per-trunk switch (Set-CsTrunkConfiguration
	// -EnableBypass): media bypass needs it on as well as the global setting.
	EnableBypass bool
	// SRTP is "off", "optional" or "required" (CCE's SRTPMode) for the media
	// towards this SBC.
	SRTP string
	// Codecs are the G.711 laws ("PCMU", "PCMA") offered to this SBC, in
	// order; nil: both, PCMU first (in bypass: the client's order).
	Codecs []string
	// Numbers are the called-number patterns the trunk serves (see
	// ParsePattern); none means every number, as a default route.
	Numbers []string
	// Priority orders trunks whose patterns match equally well: lower
	// first, as in DNS SRV. Equal priorities share the calls evenly.
	Priority int
	// Trust are further source subnets the SBC sends from (an SBC cluster,
	// a NAT pool), besides Addr's IP.
	Trust []netip.Prefix

	// ttl is how long Targets are good for after ResolveTrunks.
	ttl time.Duration
}

// ErrNoTrunk means no trunk is configured.
var ErrNoTrunk = errors.New("no gateway trunk configured")

// ErrNoRoute means no trunk serves the called number.
var ErrNoRoute = errors.New("no gateway trunk serves the number")

// ErrUnresolved means the trunks that serve the called number have host
// names that do not resolve (yet).
var ErrUnresolved = errors.New("no trunk that serves the number has resolved its host name")

// Table is the set of trunks, in configuration order, with their routing
// state and health. It is safe for concurrent use.
type Table struct {
	trunks   []Trunk
	patterns [][]Pattern

	// mu guards the trunks' addresses (Addr, Targets), which DNS answers
	// change, and the routing and health state.
	mu sync.Mutex
	// next spreads calls over equal candidates, per set of candidates.
	next   map[string]uint64
	health []trunkHealth
}

// NewTable checks the trunks and keeps them in order.
func NewTable(trunks []Trunk) (*Table, error) {
	if len(trunks) == 0 {
		return nil, ErrNoTrunk
	}
	t := &Table{trunks: append([]Trunk(nil), trunks...), patterns: make([][]Pattern, len(trunks)),
		next: map[string]uint64{}, health: make([]trunkHealth, len(trunks))}
	seen := map[string]bool{}
	for i := range t.trunks {
		tr := &t.trunks[i]
		if tr.Name == "" {
			tr.Name = tr.Addr.String()
		}
		if seen[tr.Name] {
			return nil, fmt.Errorf("gateway %q: name used twice", tr.Name)
		}
		seen[tr.Name] = true
		if len(tr.Targets) == 0 && (tr.Host == "" || tr.Addr.IsValid()) {
			tr.Targets = []Target{{Addr: tr.Addr}}
		}
		// A host name that did not resolve leaves the trunk without
		// targets: routing and probes skip it until Resolve finds them.
		tr.Targets = slices.Clone(tr.Targets)
		for j, tg := range tr.Targets {
			if !tg.Addr.IsValid() || tg.Addr.Port() == 0 {
				return nil, fmt.Errorf("gateway %q: invalid address %s", tr.Name, tg.Addr)
			}
			tr.Targets[j].Addr = netip.AddrPortFrom(tg.Addr.Addr().Unmap(), tg.Addr.Port())
		}
		if len(tr.Targets) > 0 {
			tr.Addr = tr.Targets[0].Addr
		}
		tr.Transport = strings.ToLower(tr.Transport)
		switch tr.Transport {
		case "udp", "tcp", "tls":
		default:
			return nil, fmt.Errorf("gateway %q: unknown transport %q", tr.Name, tr.Transport)
		}
		switch tr.SRTP {
		case "":
			tr.SRTP = "off"
		case "off", "optional", "required":
		default:
			return nil, fmt.Errorf("gateway %q: unknown srtp mode %q", tr.Name, tr.SRTP)
		}
		for _, c := range tr.Codecs {
			if c != "PCMU" && c != "PCMA" {
				return nil, fmt.Errorf("gateway %q: codec %q: only PCMU and PCMA are offered to gateways", tr.Name, c)
			}
		}
		if tr.Priority < 0 {
			return nil, fmt.Errorf("gateway %q: negative priority %d", tr.Name, tr.Priority)
		}
		for _, s := range tr.Numbers {
			p, err := ParsePattern(s)
			if err != nil {
				return nil, fmt.Errorf("gateway %q: %w", tr.Name, err)
			}
			t.patterns[i] = append(t.patterns[i], p)
		}
		tr.Trust = slices.Clone(tr.Trust) // masked here, not in the caller's slice
		for j, p := range tr.Trust {
			tr.Trust[j] = p.Masked()
		}
		t.health[i] = newTrunkHealth(tr.Targets)
	}
	return t, nil
}

// FromSource finds the trunk an inbound request came from, by source
// address: IP and port, then IP alone (SBCs often send from ephemeral
// ports), then the trunks' trust subnets. The addresses are each trunk's
// current targets: all the addresses its host name resolves to. ok is
// false for a source that is no trunk's: such requests are not to be
// served at all.
func (t *Table) FromSource(src netip.AddrPort) (tr Trunk, ok bool) {
	if t == nil {
		return Trunk{}, false
	}
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	t.mu.Lock()
	defer t.mu.Unlock()
	if tr, ok := t.atTarget(src); ok {
		return tr, true
	}
	for _, tr := range t.trunks {
		if tr.hasIP(src.Addr()) {
			return tr, true
		}
	}
	for _, tr := range t.trunks {
		for _, p := range tr.Trust {
			if p.Contains(src.Addr()) {
				return tr, true
			}
		}
	}
	return Trunk{}, false
}

// AtTarget finds the trunk that dest is a current target of (the address
// a call or probe to the trunk is sent to), first in configuration order.
func (t *Table) AtTarget(dest netip.AddrPort) (Trunk, bool) {
	dest = netip.AddrPortFrom(dest.Addr().Unmap(), dest.Port())
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.atTarget(dest)
}

// atTarget is AtTarget with t.mu held and dest unmapped.
func (t *Table) atTarget(dest netip.AddrPort) (Trunk, bool) {
	for _, tr := range t.trunks {
		for _, tg := range tr.Targets {
			if tg.Addr == dest {
				tr.Addr = dest
				return tr, true
			}
		}
	}
	return Trunk{}, false
}

// resolved reports whether the trunk has an address to call.
func (tr Trunk) resolved() bool { return len(tr.Targets) > 0 }

// hasIP reports whether one of the trunk's targets has ip.
func (tr Trunk) hasIP(ip netip.Addr) bool {
	for _, tg := range tr.Targets {
		if tg.Addr.Addr() == ip {
			return true
		}
	}
	return false
}

// Trusted are the source prefixes of every trunk: each current target's
// IP and each trust subnet. The gateway side accepts requests from these
// only; after a DNS answer changes them, Resolve's onChange is the time to
// read them again.
func (t *Table) Trusted() []netip.Prefix {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []netip.Prefix
	for _, tr := range t.trunks {
		for _, tg := range tr.Targets {
			ip := tg.Addr.Addr()
			out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
		}
		out = append(out, tr.Trust...)
	}
	return out
}

// Sends reports whether ip may be a source of the trunk called name: one
// of its current targets' IPs or in its own trust subnets (not another
// trunk's). A call's in-dialog requests on the gateway side must come from
// its own trunk.
func (t *Table) Sends(name string, ip netip.Addr) bool {
	ip = ip.Unmap()
	t.mu.Lock()
	defer t.mu.Unlock()
	i := t.index(name)
	if i < 0 {
		return false
	}
	tr := t.trunks[i]
	if tr.hasIP(ip) {
		return true
	}
	for _, p := range tr.Trust {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// NamesAt are the certificate names of the trunks a TLS peer at ip may
// be: those with a target at that IP or whose trust subnets hold it;
// every trunk's for the invalid address (a peer whose address is not
// known).
func (t *Table) NamesAt(ip netip.Addr) []string {
	ip = ip.Unmap()
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, tr := range t.trunks {
		match := !ip.IsValid() || tr.hasIP(ip)
		for _, p := range tr.Trust {
			match = match || p.Contains(ip)
		}
		if match {
			out = append(out, tr.CertName())
		}
	}
	return out
}

// CertName is the name the trunk's TLS certificate must carry.
func (tr Trunk) CertName() string {
	switch {
	case tr.TLSName != "":
		return tr.TLSName
	case tr.Host != "":
		return tr.Host
	}
	return tr.Addr.Addr().String()
}

// Trunks lists the trunks in order, with their current addresses.
func (t *Table) Trunks() []Trunk {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.trunks)
}

// trunk is trunk i as it is now.
func (t *Table) trunk(i int) Trunk {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.trunks[i]
}

// index is the position of the trunk called name, -1 if none.
func (t *Table) index(name string) int {
	for i, tr := range t.trunks {
		if tr.Name == name {
			return i
		}
	}
	return -1
}

// Status is what is known of one trunk's state, for the admin API and
// readiness checks.
type Status struct {
	Name    string
	Address string
	// Host is the host name the address was resolved from; "" for an IP.
	Host      string
	Transport string
	// Healthy is false after MaxFails missed health probes at every one
	// of the trunk's addresses, until a reply. A healthy trunk may still
	// take no calls: it may be resting (UnavailableUntil) or unresolved.
	Healthy bool
	// Addresses are the trunk's current addresses (all its host name
	// resolves to; its one IP:PORT otherwise), best first, each with its
	// own probes' verdict; none while unresolved.
	Addresses []AddressStatus
	// UnavailableUntil is set while the trunk rests after 503s with
	// Retry-After: every one of its addresses that is up rests (its one
	// address, for a trunk of one); the earliest end of their rests.
	UnavailableUntil time.Time
	// Unresolved: the trunk's host name has not resolved yet (Address is
	// ""); it takes no calls until it does.
	Unresolved bool
}

// AddressStatus is one address of a trunk.
type AddressStatus struct {
	Addr netip.AddrPort
	// Healthy is false after MaxFails missed probes at this address,
	// until a reply: calls try the trunk's other addresses first.
	Healthy bool
	// Answered: one of its probes got a reply (false before the first
	// probe, when Healthy proves nothing).
	Answered bool
	// UnavailableUntil is set while the address rests after its 503 with
	// Retry-After: calls leave it out while the trunk has another.
	UnavailableUntil time.Time
}

// Status reports every trunk's state, in configuration order.
func (t *Table) Status() []Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Status, len(t.trunks))
	now := time.Now()
	for i, tr := range t.trunks {
		h := t.health[i]
		out[i] = Status{Name: tr.Name, Address: tr.Addr.String(), Host: tr.Host, Transport: tr.Transport, Healthy: h.up}
		for _, tg := range tr.Targets {
			out[i].Addresses = append(out[i].Addresses, AddressStatus{Addr: tg.Addr, Healthy: h.addrUp(tg.Addr), Answered: h.addrAnswered(tg.Addr),
				UnavailableUntil: h.addrRestUntil(tg.Addr, now)})
		}
		if !tr.resolved() {
			out[i].Address, out[i].Healthy, out[i].Unresolved = "", false, true
		}
		out[i].UnavailableUntil = h.restingUntil(now)
	}
	return out
}
