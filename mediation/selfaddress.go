package mediation

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/gateway"
)

// A trunk or an edge.peer at one of the server's own SIP listeners sends
// every call back to the server: the INVITE comes in again as a new call
// (fresh Call-ID and branch, so no 482), goes out again, and so on until
// Max-Forwards runs out, 35 to 70 full calls for one INVITE, each holding
// a max_calls slot (r25-loop F1). A copy/paste slip, never a plan, so
// Validate refuses it before anything binds when the address is certainly
// ours; a host name that resolves to us is only known at start and is
// logged as a warning (selfAddressWarnings).

// sipListener is one of the server's SIP listeners: its key, address, and
// whether it is a TLS listener (tls.*, TCP only) or a plain one
// (gateway_listen, edge.listen: UDP and TCP on the same address).
type sipListener struct {
	field string
	addr  netip.AddrPort
	tls   bool
}

// reaches reports whether requests sent with transport (udp, tcp or tls)
// can arrive at l: udp and tcp at a plain listener only, tls at a TLS one
// only. A UDP trunk at the IP:PORT of a TLS listener reaches nothing of
// ours (the TLS listener takes TCP alone, and checkListenConflicts keeps
// the plain ones off its port), so it is a working configuration, e.g. a
// lab SBC on this host on 5061/udp; a TLS trunk at a plain listener's
// TCP port gets a handshake our SIP reader cannot frame, no call.
func (l sipListener) reaches(transport string) bool {
	return strings.EqualFold(transport, "tls") == l.tls
}

// sipListeners are the server's SIP listeners that are bound to a known
// port (port 0 is picked at bind time and cannot be compared).
func (c *Config) sipListeners() []sipListener {
	var out []sipListener
	for _, l := range []struct {
		field, v string
		tls      bool
	}{
		{"gateway_listen", c.GatewayListen, false}, {"edge.listen", c.Edge.Listen, false},
		{"tls.gateway_listen", c.TLS.GatewayListen, true}, {"tls.edge_listen", c.TLS.EdgeListen, true},
	} {
		if ap, err := netip.ParseAddrPort(l.v); err == nil && ap.Port() != 0 {
			out = append(out, sipListener{l.field, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), l.tls})
		}
	}
	return out
}

// isSelf reports whether a request sent to target certainly reaches the
// listener on listen: the same IP:PORT, or the same port on a listener
// bound to every address (0.0.0.0 or ::) when target is of its family and
// a loopback, unspecified or local interface address (local looks
// interfaces up, lazily). An IPv4 target of a :: listener is not compared:
// whether :: also takes IPv4 depends on the system (bindv6only).
func isSelf(listen, target netip.AddrPort, local func(netip.Addr) bool) bool {
	t := target.Addr().Unmap()
	if listen.Port() != target.Port() || !t.IsValid() {
		return false
	}
	l := listen.Addr()
	if t == l {
		return true
	}
	if !l.IsUnspecified() || t.Is4() != l.Is4() {
		return false
	}
	return t.IsLoopback() || t.IsUnspecified() || local(t)
}

// localAddrs returns a lookup of the host's interface addresses, read once
// on first use; none when they cannot be read.
func localAddrs() func(netip.Addr) bool {
	var set map[netip.Addr]bool
	return func(a netip.Addr) bool {
		if set == nil {
			set = map[netip.Addr]bool{}
			addrs, _ := net.InterfaceAddrs()
			for _, ia := range addrs {
				if n, ok := ia.(*net.IPNet); ok {
					if ip, ok := netip.AddrFromSlice(n.IP); ok {
						set[ip.Unmap()] = true
					}
				}
			}
		}
		return set[a]
	}
}

// selfListener is the first of the server's SIP listeners that requests
// sent to target over transport certainly reach, if any.
func (c *Config) selfListener(target netip.AddrPort, transport string, local func(netip.Addr) bool) (sipListener, bool) {
	for _, l := range c.sipListeners() {
		if l.reaches(transport) && isSelf(l.addr, target, local) {
			return l, true
		}
	}
	return sipListener{}, false
}

// checkSelfAddresses refuses a trunk or an edge.peer with an IP address
// that is one of the server's own SIP listeners.
func (c *Config) checkSelfAddresses() *ConfigError {
	local := localAddrs()
	for i, g := range c.Gateways {
		_, ip, port, err := gateway.SplitHostPort(g.Address)
		if err != nil || !ip.IsValid() {
			continue // a host name: checked when resolved (selfAddressWarnings)
		}
		if l, ok := c.selfListener(netip.AddrPortFrom(ip, port), g.TransportName(), local); ok {
			field := fmt.Sprintf("gateways[%d].address", i)
			return invalid(field, g.Address, "trunk %q is this server's own %s (%s): every call to it would come back to us and loop until Max-Forwards runs out (give the SBC's address)",
				g.DisplayName(), l.field, l.addr)
		}
	}
	if peer, err := netip.ParseAddrPort(c.Edge.Peer); err == nil {
		if l, ok := c.selfListener(peer, c.Edge.PeerTransport, local); ok {
			return invalid("edge.peer", c.Edge.Peer, "is this server's own %s (%s): every inbound call would come back to us and loop until Max-Forwards runs out (give the Online edge's next hop)",
				l.field, l.addr)
		}
	}
	return nil
}

// warnSelfTrunk logs a trunk configured by host name whose current
// addresses include one of the server's own SIP listeners: its calls loop
// as a literal address's would (checkSelfAddresses), but a name may
// resolve elsewhere later, so a warning (at start and when the answer
// changes), not an error.
func (c *Config) warnSelfTrunk(tr gateway.Trunk, log zerolog.Logger) {
	if tr.Host == "" {
		return
	}
	local := localAddrs()
	for _, tg := range tr.Targets {
		if l, ok := c.selfListener(tg.Addr, tr.Transport, local); ok {
			log.Warn().Str("trunk", tr.Name).Str("host", tr.Host).Stringer("addr", tg.Addr).Str("listener", l.field).
				Msg("gateway trunk's host name resolves to this server's own SIP listener: calls to that address loop until Max-Forwards runs out")
			return
		}
	}
}

// warnSelfEdgePeer logs an edge.peer host name that resolved (at start)
// to one of the server's own SIP listeners.
func (c *Config) warnSelfEdgePeer(edgePeer netip.AddrPort, log zerolog.Logger) {
	if _, err := netip.ParseAddrPort(c.Edge.Peer); err == nil {
		return // a literal address: Validate refused it already
	}
	if l, ok := c.selfListener(edgePeer, c.Edge.PeerTransport, localAddrs()); ok {
		log.Warn().Str("peer", c.Edge.Peer).Stringer("addr", edgePeer).Str("listener", l.field).
			Msg("edge.peer's host name resolves to this server's own SIP listener: inbound calls loop until Max-Forwards runs out")
	}
}
