package mediation

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp/syntax"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/gateway"
	"github.com/mediation-emulator/mediation/sip"
)

// The configuration of the gateway trunks beyond one SBC: routing by
// number and priority (gateways[].numbers, .priority), the sources each
// trunk may send from (gateways[].trust), fast failover, OPTIONS health,
// and what untrusted sources get.

// FailoverConfig is CCE's EnableFastFailoverTimer: an outbound call not
// answered with any provisional response within Timeout is tried on the
// next trunk, as are 5xx rejections and transport failures.
type FailoverConfig struct {
	// Enabled turns fast failover on (the default, as in CCE). Off, a
	// call tries its first trunk only.
	Enabled bool `yaml:"enabled"`
	// Timeout is how long the next trunk waits for a trunk's first
	// provisional response (10 s).
	Timeout time.Duration `yaml:"timeout"`
}

func (f FailoverConfig) check() *ConfigError {
	if f.Enabled && f.Timeout <= 0 {
		return invalid("gateway_failover.timeout", f.Timeout.String(), "must be positive (CCE: 10s)")
	}
	return nil
}

// HealthConfig is the OPTIONS probing of every trunk.
type HealthConfig struct {
	// Enabled turns probing on (the default).
	Enabled bool `yaml:"enabled"`
	// Interval between probes of a trunk that is up (30 s).
	Interval time.Duration `yaml:"interval"`
	// DownInterval between probes of a trunk that is down (60 s).
	DownInterval time.Duration `yaml:"down_interval"`
	// MaxFails is how many probes in a row may go unanswered before the
	// trunk is down (5).
	MaxFails int `yaml:"max_fails"`
}

func (h HealthConfig) check() *ConfigError {
	if !h.Enabled {
		return nil
	}
	switch {
	case h.Interval <= 0:
		return invalid("gateway_health.interval", h.Interval.String(), "must be positive (CCE: 30s)")
	case h.DownInterval <= 0:
		return invalid("gateway_health.down_interval", h.DownInterval.String(), "must be positive (60s)")
	case h.MaxFails < 1:
		return invalid("gateway_health.max_fails", fmt.Sprint(h.MaxFails), "must be at least 1 (5)")
	}
	return nil
}

// gateway is the health config as the gateway package takes it.
func (h HealthConfig) gateway() gateway.HealthConfig {
	return gateway.HealthConfig{Interval: h.Interval, DownInterval: h.DownInterval, MaxFails: h.MaxFails}
}

// GatewayDNSConfig is how trunks configured by host name are resolved
// (RFC 3263: SRV when no port is given, then A/AAAA) and kept current.
type GatewayDNSConfig struct {
	// Resolver is the DNS server's IP:PORT; "" uses the first nameserver
	// of /etc/resolv.conf.
	Resolver string `yaml:"resolver"`
	// MinTTL and MaxTTL bound how long an answer is used before it is
	// looked up again (5 s, 1 h); a failed lookup is retried after
	// MinTTL, keeping the last good answer.
	MinTTL time.Duration `yaml:"min_ttl"`
	MaxTTL time.Duration `yaml:"max_ttl"`
}

func (d GatewayDNSConfig) check() *ConfigError {
	if d.Resolver != "" {
		if ap, err := netip.ParseAddrPort(d.Resolver); err != nil || ap.Port() == 0 {
			return invalid("gateway_dns.resolver", d.Resolver, "must be IP:PORT of a DNS server (empty: the first nameserver of /etc/resolv.conf)")
		}
	}
	switch {
	case d.MinTTL < time.Second:
		return invalid("gateway_dns.min_ttl", d.MinTTL.String(), "must be at least 1s (5s)")
	case d.MaxTTL < d.MinTTL:
		return invalid("gateway_dns.max_ttl", d.MaxTTL.String(), "must not be below min_ttl (%s)", d.MinTTL)
	}
	return nil
}

// resolver is the config as the gateway package takes it; it looks trunk host names up for a gateway side listening on
// listen: only addresses of its family are kept, the others logged to log.
func (d GatewayDNSConfig) resolver(listen netip.Addr, log zerolog.Logger) *gateway.Resolver {
	return &gateway.Resolver{Server: d.Resolver, MinTTL: d.MinTTL, MaxTTL: d.MaxTTL, Listen: listen, Log: log}
}

// checkTrunkAddress checks gateways[i].address: IP:PORT, HOST:PORT, or a
// bare HOST whose port SRV records give.
func checkTrunkAddress(field, value string) *ConfigError {
	if value == "" {
		return required(field)
	}
	host, _, _, err := gateway.SplitHostPort(value)
	if err != nil {
		return invalid(field, value, "must be IP:PORT, HOST:PORT or HOST (port from DNS SRV): %v", err)
	}
	if host != "" && dottedNumbers(host) {
		// netip's own reason too: "10.0.0.01" has four numbers in 0..255,
		// and only its "leading zero" says what is wrong (r25-reviewB #4).
		_, perr := netip.ParseAddr(host)
		return invalid(field, value, "%q is not a valid IPv4 address (%v; four numbers 0..255 without leading zeros), and digits and dots make no host name", host, perr)
	}
	if host != "" && !validHostname(host) {
		return invalid(field, value, "host %q is neither an IP address nor a host name", host)
	}
	return nil
}

// A peer whose address is a literal IP of the other family than the
// listener our requests to it leave from (UDP from the listening socket,
// TCP and TLS dialled from its IP) can never be reached: every call to it
// would fail with 503 ("non-IPv4 address", "network is unreachable"). So
// it is a configuration error, reported before anything binds. Host names
// are looked up later and keep only the addresses of the listener's
// family (gateway.Resolver.Family, resolveEdgePeer).

// familyMismatch reports whether a listener on listen (checked IP:PORT)
// cannot send to ip: they are of two families. An unspecified listen
// address is let through (the stack refuses it when binding).
func familyMismatch(listen netip.AddrPort, ip netip.Addr) bool {
	return ip.IsValid() && listen.IsValid() && !listen.Addr().IsUnspecified() && ip.Unmap().Is4() != listen.Addr().Unmap().Is4()
}

// checkTrunkFamily refuses gateways[i] (field) at a literal IP of the
// other family than gateway_listen, which every request to it leaves
// from.
func checkTrunkFamily(field string, g GatewayConfig, gatewayListen string) *ConfigError {
	listen, _ := netip.ParseAddrPort(gatewayListen) // checked before
	_, ip, _, err := gateway.SplitHostPort(g.Address)
	if err != nil || !familyMismatch(listen, ip) {
		return nil
	}
	return invalid(field+".address", g.Address, "trunk %q is %s but gateway_listen %s is %s: the gateway side cannot reach it (give both addresses of one family)",
		g.DisplayName(), family(ip), listen, family(listen.Addr()))
}

// checkEdgeFamily refuses an edge.peer at a literal IP of the other family
// than edge.listen.
func checkEdgeFamily(edgeListen, peer string) *ConfigError {
	listen, _ := netip.ParseAddrPort(edgeListen) // checked before
	ap, err := netip.ParseAddrPort(peer)
	if err != nil || !familyMismatch(listen, ap.Addr()) {
		return nil
	}
	return invalid("edge.peer", peer, "edge.peer is %s but edge.listen %s is %s: the edge side cannot reach it (give both addresses of one family)",
		family(ap.Addr()), listen, family(listen.Addr()))
}

// TrunkAddressWarnings names each trunk whose address is an earlier
// trunk's: an inbound call from that address belongs to the first
// (README, Gateway trunks: "the trunk whose address is the source
// IP:PORT"), so the later trunk's settings never apply to inbound calls.
// Legitimate for a trunk that only routes outbound numbers, so a warning
// (serve --validate, and the log at start), not an error. Addresses are
// compared as written, IPs normalised, host names case-insensitively;
// names are not looked up.
func (c *Config) TrunkAddressWarnings() []string {
	var out []string
	first := make(map[string]int, len(c.Gateways))
	for i, g := range c.Gateways {
		host, ip, port, err := gateway.SplitHostPort(g.Address)
		if err != nil {
			continue // Validate reports it
		}
		key := strings.ToLower(strings.TrimSuffix(host, ".")) + ":" + fmt.Sprint(port)
		if ip.IsValid() {
			key = netip.AddrPortFrom(ip, port).String()
		}
		j, dup := first[key]
		if !dup {
			first[key] = i
			continue
		}
		a, b := c.Gateways[j].DisplayName(), g.DisplayName()
		out = append(out, fmt.Sprintf("gateways[%d] %q has the address of gateways[%d] %q (%s): inbound calls from it belong to %q, the first, so %q's settings apply to its outbound calls only",
			i, b, j, a, g.Address, a, b))
	}
	return out
}

// Actions for requests from untrusted sources.
const (
	UntrustedDrop   = "drop"
	UntrustedReject = "403"
)

// UntrustedConfig says what a request from a source neither side trusts
// gets, per transport: "drop" (no answer at all) or "403" (Forbidden,
// statelessly). Dropping is the default over UDP, whose source address can
// be spoofed: an answer would let anyone aim our responses at a victim.
type UntrustedConfig struct {
	UDP string `yaml:"udp"`
	TCP string `yaml:"tcp"`
}

func (u UntrustedConfig) check() *ConfigError {
	for _, f := range []struct{ field, v string }{{"untrusted.udp", u.UDP}, {"untrusted.tcp", u.TCP}} {
		if f.v != UntrustedDrop && f.v != UntrustedReject {
			return invalid(f.field, f.v, `must be "drop" or "403"`)
		}
	}
	return nil
}

// checkTrunk checks the routing and trust keys of gateways[i] (field).
func (g GatewayConfig) checkTrunk(field string) *ConfigError {
	if err := sip.CheckHeaderValue(g.Name); err != nil {
		return invalid(field+".name", g.Name, "%v", err)
	}
	for i, n := range g.Numbers {
		if _, err := gateway.ParsePattern(n); err != nil {
			why := `must be a number prefix as written in the Request-URI (digits, after a + or not), "*" or re:REGEXP`
			var se *syntax.Error
			if strings.HasPrefix(n, "re:") && errors.As(err, &se) {
				// The regexp's own reason, not the pattern's wrapping.
				why = "re: not a valid regular expression: " + se.Code.String()
			}
			return invalid(fmt.Sprintf("%s.numbers[%d]", field, i), n, "%s", why)
		}
	}
	seen := map[string]bool{}
	for i, c := range g.Codecs {
		if c != "PCMU" && c != "PCMA" || seen[c] {
			return invalid(fmt.Sprintf("%s.codecs[%d]", field, i), c, "must be PCMU or PCMA, each at most once (G.711 is what CCE sends gateways)")
		}
		seen[c] = true
	}
	if g.Priority < 0 {
		return invalid(field+".priority", fmt.Sprint(g.Priority), "must not be negative (lower is tried first)")
	}
	if err := checkSubnets(field+".trust", g.Trust); err != nil {
		return err
	}
	if err := checkTLSName(field+".tls_name", g.TLSName); err != nil {
		return err
	}
	return g.HeaderPolicy.check(field)
}

// checkSubnets checks a list of trusted sources: CIDRs or single IPs.
func checkSubnets(field string, list []string) *ConfigError {
	for i, s := range list {
		if _, err := parseSubnet(s); err != nil {
			return invalid(fmt.Sprintf("%s[%d]", field, i), s, "must be a CIDR like 192.0.2.0/24 or an IP address")
		}
	}
	return nil
}

// parseSubnet reads a CIDR or a single IP (a /32 or /128), masked.
func parseSubnet(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return p.Masked(), nil
}

// subnets parses a checked list of CIDRs (or, for trusted sources, bare
// IPs), masked to their network; invalid entries are skipped.
func subnets(list []string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		if p, err := parseSubnet(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// startupLookupTimeout bounds the first resolution of the trunks' host
// names, at start.
const startupLookupTimeout = 15 * time.Second

// trunkPolicy is what a call takes from its trunk's configuration beside
// routing: the call settings of the trunk's leg, the header policy, and
// whether held calls keep their media timeout (rtcp_calls_on_hold).
type trunkPolicy struct {
	calls       CallSettings
	headers     HeaderPolicy
	holdTimeout bool
}

// buildTrunks turns the checked gateways into the routing table (host
// names are resolved here with r, and kept current by Table.Resolve) and
// each trunk's policy by name.
func buildTrunks(gws []GatewayConfig, r *gateway.Resolver, log zerolog.Logger) (*gateway.Table, map[string]trunkPolicy, error) {
	var trunks []gateway.Trunk
	policies := make(map[string]trunkPolicy, len(gws))
	for i, g := range gws {
		policies[g.DisplayName()] = trunkPolicy{calls: g.CallSettings, headers: g.HeaderPolicy, holdTimeout: g.HoldTimeout()}
		host, ip, port, err := gateway.SplitHostPort(g.Address)
		if err != nil {
			return nil, nil, fmt.Errorf("gateways[%d].address: %w", i, err)
		}
		tr := gateway.Trunk{Name: g.DisplayName(), Host: host, Port: port,
			Transport: g.TransportName(), EnableBypass: g.BypassEnabled(), SRTP: g.SRTPMode(), Codecs: g.Codecs,
			Numbers: g.Numbers, Priority: g.Priority, Trust: subnets(g.Trust), TLSName: g.TLSName}
		if ip.IsValid() {
			tr.Addr = netip.AddrPortFrom(ip, port)
		}
		trunks = append(trunks, tr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startupLookupTimeout)
	defer cancel()
	if err := gateway.ResolveTrunks(ctx, r, trunks); err != nil {
		// Start anyway: the trunk takes no calls until its name resolves
		// (Table.Resolve keeps trying), and the others serve meanwhile.
		log.Warn().Err(err).Msg("gateway trunk's host name does not resolve at start: the trunk takes no calls until it does")
	}
	table, err := gateway.NewTable(trunks)
	if err != nil {
		return nil, nil, err
	}
	return table, policies, nil
}

// firstTrunk is where the first trunk is, for the start-up log line: its
// address, or its host name while that does not resolve.
// trunkList is every trunk as name=transport:address, in configuration
// order, for the start line.
func trunkList(t *gateway.Table) []string {
	var list []string
	for _, tr := range t.Trunks() {
		list = append(list, tr.Name+"="+tr.Transport+":"+trunkAddr(tr))
	}
	return list
}

func firstTrunk(t *gateway.Table) string { return trunkAddr(t.Trunks()[0]) }

// trunkAddr is a trunk's address for a log line: its IP:PORT, or its host
// name while that does not resolve.
func trunkAddr(tr gateway.Trunk) string {
	if tr.Addr.IsValid() {
		return tr.Addr.String()
	}
	return tr.Host + " (unresolved)"
}
