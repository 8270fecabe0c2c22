package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"
)

// Resolution of trunks configured by host name, as RFC 3263 §4 locates a
// SIP server: without a port, the SRV records of _sip._udp, _sip._tcp or
// _sips._tcp (by the trunk's transport), ordered by priority and weight
// (RFC 2782), each target's A and AAAA records; with a port, or when the
// name has no SRV records, the name's own A and AAAA records (port 5060,
// 5061 for TLS). NAPTR is not consulted: the trunk's transport is
// configured. Answers are kept for their TTL (bounded) and then looked up
// again (Table.Resolve).

// Default bounds of how long an answer is kept.
const (
	DefaultMinTTL = 5 * time.Second
	DefaultMaxTTL = time.Hour
)

// Target is one address a trunk's host name resolves to, with the SRV
// priority and weight it came with (0 and 0 for a plain A/AAAA answer).
type Target struct {
	Addr     netip.AddrPort
	Priority uint16
	Weight   uint16
}

// Resolver looks trunk host names up with DNS queries of its own (not the
// C library's), so that it sees SRV records and TTLs.
type Resolver struct {
	// Server is the DNS server's IP:PORT; "" takes the first nameserver
	// of /etc/resolv.conf, and looks A/AAAA names up in /etc/hosts first.
	Server string
	// MinTTL and MaxTTL bound how long an answer is kept, and MinTTL is
	// also how soon a failed lookup is tried again (DefaultMinTTL,
	// DefaultMaxTTL when zero).
	MinTTL, MaxTTL time.Duration
	// Timeout of one query (2 s when zero).
	Timeout time.Duration
	// Listen is the IP requests to the trunks leave from (gateway_listen):
	// addresses of the other family cannot be reached from it, so Lookup
	// leaves them out (an answer with nothing else fails), and Log is told
	// of them at warn, once per name until they change. Invalid or
	// unspecified: every address is kept.
	Listen netip.Addr
	Log    zerolog.Logger

	mu sync.Mutex
	// skipped are the addresses last left out, by host name.
	skipped map[string]string
}

// ErrWrongFamily: a name resolves only to addresses of the other family
// than Resolver.Listen.
var ErrWrongFamily = errors.New("no address of the gateway side's family")

// reachable leaves out of targets (host's) those of the other family than
// r.Listen, logging them at warn when they differ from last time; an
// error when none is left.
func (r *Resolver) reachable(host string, targets []Target) ([]Target, error) {
	if !r.Listen.IsValid() || r.Listen.IsUnspecified() {
		return targets, nil
	}
	want4 := r.Listen.Unmap().Is4()
	var kept []Target
	var skipped []string
	for _, t := range targets {
		if t.Addr.Addr().Unmap().Is4() == want4 {
			kept = append(kept, t)
		} else {
			skipped = append(skipped, t.Addr.String())
		}
	}
	fam := "IPv6"
	if want4 {
		fam = "IPv4"
	}
	list := strings.Join(skipped, ",")
	r.mu.Lock()
	changed := r.skipped[host] != list
	if r.skipped == nil {
		r.skipped = map[string]string{}
	}
	r.skipped[host] = list
	r.mu.Unlock()
	if len(kept) == 0 {
		return nil, fmt.Errorf("dns %s: %w (%s): the gateway side listens on %s %s", host, ErrWrongFamily, list, fam, r.Listen)
	}
	if changed && len(skipped) > 0 {
		r.Log.Warn().Str("host", host).Strs("skipped", skipped).Str("listen", r.Listen.String()).
			Msg("gateway trunk's host name has addresses of the other family than gateway_listen: left out, they cannot be reached")
	}
	return kept, nil
}

// resolvConf is where the system's DNS servers are configured.
const resolvConf = "/etc/resolv.conf"

func (r *Resolver) server() (string, error) {
	if r.Server != "" {
		return r.Server, nil
	}
	cc, err := dns.ClientConfigFromFile(resolvConf)
	if err != nil {
		return "", fmt.Errorf("dns: no resolver configured and %s unreadable: %w", resolvConf, err)
	}
	if len(cc.Servers) == 0 {
		return "", fmt.Errorf("dns: no nameserver in %s", resolvConf)
	}
	return net.JoinHostPort(cc.Servers[0], cc.Port), nil
}

// bound clamps a TTL to [MinTTL, MaxTTL].
func (r *Resolver) bound(ttl time.Duration) time.Duration {
	lo, hi := r.MinTTL, r.MaxTTL
	if lo <= 0 {
		lo = DefaultMinTTL
	}
	if hi <= 0 {
		hi = DefaultMaxTTL
	}
	return min(max(ttl, lo), max(hi, lo))
}

// retry is how soon a failed lookup is tried again.
func (r *Resolver) retry() time.Duration { return r.bound(0) }

// srvPrefix is the SRV service and protocol of a transport (RFC 3263
// §4.2): SIP over TLS is "sips" over TCP.
func srvPrefix(transport string) string {
	switch transport {
	case "tls":
		return "_sips._tcp."
	case "tcp":
		return "_sip._tcp."
	}
	return "_sip._udp."
}

// defaultPort is the port of a name without SRV records (RFC 3263 §4.2).
func defaultPort(transport string) uint16 {
	if transport == "tls" {
		return 5061
	}
	return 5060
}

// Lookup resolves host (port 0: none configured, SRV first) for a trunk of
// transport, and says how long the answer may be kept (the smallest TTL
// of the records used, bounded). The targets come in the order to use
// them: SRV priority, then the heaviest weight, then by address (a
// stable order, so that an unchanged answer compares equal; Route draws
// each call's target by weight).
func (r *Resolver) Lookup(ctx context.Context, host string, port uint16, transport string) ([]Target, time.Duration, error) {
	server, err := r.server()
	q := querier{server: server, serverErr: err, timeout: r.Timeout, hosts: r.Server == "", hostsTTL: r.bound(0)}
	if q.timeout <= 0 {
		q.timeout = 2 * time.Second
	}
	name := dns.Fqdn(host)
	if port == 0 {
		srvs, ttl, err := q.srv(ctx, srvPrefix(transport)+name)
		if err != nil {
			return nil, 0, err
		}
		if len(srvs) > 0 {
			var out []Target
			var lastErr error
			for _, s := range srvs {
				ips, ipTTL, err := q.ips(ctx, s.Target)
				if err != nil {
					lastErr = err
					continue
				}
				ttl = min(ttl, ipTTL)
				for _, ip := range ips {
					out = append(out, Target{Addr: netip.AddrPortFrom(ip, s.Port), Priority: s.Priority, Weight: s.Weight})
				}
			}
			sortTargets(out)
			if len(out) == 0 {
				return nil, 0, fmt.Errorf("dns: no SRV target of %s resolves: %w", srvPrefix(transport)+name, lastErr)
			}
			if out, err = r.reachable(host, out); err != nil {
				return nil, 0, err
			}
			return out, r.bound(ttl), nil
		}
		port = defaultPort(transport)
	}
	ips, ttl, err := q.ips(ctx, name)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Target, len(ips))
	for i, ip := range ips {
		out[i] = Target{Addr: netip.AddrPortFrom(ip, port)}
	}
	sortTargets(out)
	if out, err = r.reachable(host, out); err != nil {
		return nil, 0, err
	}
	return out, r.bound(ttl), nil
}

// sortTargets orders targets by priority, heaviest weight, address.
func sortTargets(ts []Target) {
	slices.SortStableFunc(ts, func(a, b Target) int {
		if c := cmp.Compare(a.Priority, b.Priority); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Weight, a.Weight); c != 0 {
			return c
		}
		return a.Addr.Compare(b.Addr)
	})
}

// querier sends queries to one server.
type querier struct {
	server string
	// serverErr says why there is no server to ask (/etc/hosts may
	// still answer).
	serverErr error
	timeout   time.Duration
	// hosts: look names up in /etc/hosts before DNS, as the system's
	// resolver does (the "files dns" of nsswitch.conf); its answers are
	// kept for hostsTTL.
	hosts    bool
	hostsTTL time.Duration
}

// hostsFile is the system's static table of host names.
const hostsFile = "/etc/hosts"

// fromHosts are the addresses of name in /etc/hosts (none when it is not
// there or the file is unreadable).
func fromHosts(name string) []netip.Addr {
	data, err := os.ReadFile(hostsFile)
	if err != nil {
		return nil
	}
	name = strings.TrimSuffix(name, ".")
	var out []netip.Addr
	for _, line := range strings.Split(string(data), "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		ip, err := netip.ParseAddr(f[0])
		if err != nil || ip.Zone() != "" {
			continue
		}
		for _, h := range f[1:] {
			if strings.EqualFold(h, name) && !slices.Contains(out, ip.Unmap()) {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

// errNoAddress means a name has neither A nor AAAA records.
var errNoAddress = errors.New("no A or AAAA record")

// exchange asks one question, over UDP and again over TCP when the answer
// was truncated. A name that does not exist is no error: no records.
func (q querier) exchange(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	if q.serverErr != nil {
		return nil, q.serverErr
	}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(4096, false)
	c := &dns.Client{Net: "udp", Timeout: q.timeout}
	res, _, err := c.ExchangeContext(ctx, m, q.server)
	if err == nil && res.Truncated {
		c.Net = "tcp"
		res, _, err = c.ExchangeContext(ctx, m, q.server)
	}
	if err != nil {
		return nil, fmt.Errorf("dns %s %s at %s: %w", dns.TypeToString[qtype], name, q.server, err)
	}
	if res.Rcode != dns.RcodeSuccess && res.Rcode != dns.RcodeNameError {
		return nil, fmt.Errorf("dns %s %s at %s: %s", dns.TypeToString[qtype], name, q.server, dns.RcodeToString[res.Rcode])
	}
	return res, nil
}

// srv are the SRV records of name and their smallest TTL. A single
// record with target "." says the service is not offered (RFC 2782).
func (q querier) srv(ctx context.Context, name string) ([]*dns.SRV, time.Duration, error) {
	res, err := q.exchange(ctx, name, dns.TypeSRV)
	if err != nil {
		return nil, 0, err
	}
	var out []*dns.SRV
	ttl := time.Duration(-1)
	for _, rr := range res.Answer {
		if s, ok := rr.(*dns.SRV); ok && s.Target != "." {
			out = append(out, s)
			ttl = minTTL(ttl, s.Hdr.Ttl)
		}
	}
	return out, ttl, nil
}

// ips are the A and AAAA addresses of name (IPv4 first) and their
// smallest TTL; with q.hosts, those of /etc/hosts if it has the name.
func (q querier) ips(ctx context.Context, name string) ([]netip.Addr, time.Duration, error) {
	if q.hosts {
		if ips := fromHosts(name); len(ips) > 0 {
			return ips, q.hostsTTL, nil
		}
	}
	var out []netip.Addr
	ttl := time.Duration(-1)
	var errs []error
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		res, err := q.exchange(ctx, name, qtype)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, rr := range res.Answer {
			var ip net.IP
			switch a := rr.(type) {
			case *dns.A:
				ip = a.A
			case *dns.AAAA:
				ip = a.AAAA
			default:
				continue
			}
			if addr, ok := netip.AddrFromSlice(ip); ok {
				out = append(out, addr.Unmap())
				ttl = minTTL(ttl, rr.Header().Ttl)
			}
		}
	}
	if len(out) == 0 {
		if len(errs) > 0 {
			return nil, 0, errors.Join(errs...)
		}
		return nil, 0, fmt.Errorf("dns %s: %w", name, errNoAddress)
	}
	return out, ttl, nil
}

// minTTL is the smaller of a TTL so far (-1: none yet) and a record's.
func minTTL(sofar time.Duration, secs uint32) time.Duration {
	d := time.Duration(secs) * time.Second
	if sofar < 0 || d < sofar {
		return d
	}
	return sofar
}

// SplitHostPort reads a trunk address: IP:PORT, HOST:PORT, or a bare
// HOST (port 0: found by SRV). ip is valid when the host is an IP.
func SplitHostPort(address string) (host string, ip netip.Addr, port uint16, err error) {
	if ap, err := netip.ParseAddrPort(address); err == nil {
		// Port 0 is no trunk's port (it means "any" only to a listener):
		// refused here as for a host name, so that the config check
		// catches it before anything binds.
		if ap.Port() == 0 {
			return "", netip.Addr{}, 0, fmt.Errorf("address %q: port must be 1..65535", address)
		}
		return "", ap.Addr().Unmap(), ap.Port(), nil
	}
	h, p, err := net.SplitHostPort(address)
	if err != nil {
		// No port: a bare host name (an IP needs its port).
		if _, perr := netip.ParseAddr(address); perr == nil || address == "" {
			return "", netip.Addr{}, 0, fmt.Errorf("address %q: an IP address needs a port", address)
		}
		return address, netip.Addr{}, 0, nil
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return "", netip.Addr{}, 0, fmt.Errorf("address %q: port must be 1..65535", address)
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return "", a.Unmap(), uint16(n), nil
	}
	return h, netip.Addr{}, uint16(n), nil
}

// ResolveTrunks looks up the host names of the trunks that have one (Host
// set, Addr not), before NewTable. A trunk that does not resolve is left
// without targets (NewTable accepts it; routing skips it and Resolve
// keeps trying), and the error names each such trunk: the caller logs it
// and starts anyway, since DNS that is down at boot often comes back.
func ResolveTrunks(ctx context.Context, r *Resolver, trunks []Trunk) error {
	var errs []error
	for i := range trunks {
		tr := &trunks[i]
		if tr.Host == "" || tr.Addr.IsValid() {
			continue
		}
		targets, ttl, err := r.Lookup(ctx, tr.Host, tr.Port, tr.Transport)
		if err != nil {
			errs = append(errs, fmt.Errorf("gateway %q: %w", tr.Name, err))
			continue
		}
		tr.Targets, tr.ttl = targets, ttl
	}
	return errors.Join(errs...)
}

// SetTargets replaces a trunk's addresses (best first) and reports
// whether they changed; false also for an unknown name or no targets.
func (t *Table) SetTargets(name string, targets []Target) bool {
	i := t.index(name)
	if i < 0 || len(targets) == 0 {
		return false
	}
	targets = slices.Clone(targets)
	for j, tg := range targets {
		targets[j].Addr = netip.AddrPortFrom(tg.Addr.Addr().Unmap(), tg.Addr.Port())
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	tr := &t.trunks[i]
	if slices.Equal(tr.Targets, targets) {
		return false
	}
	tr.Targets, tr.Addr = targets, targets[0].Addr
	t.health[i].setTargets(targets)
	return true
}

// Resolve keeps the trunks configured by host name resolved until ctx
// ends, one goroutine per such trunk, and returns when they have all
// stopped. Each answer is looked up again when its TTL (bounded by
// r.MinTTL and r.MaxTTL) runs out; a lookup that fails keeps the last
// good answer and is tried again after r.MinTTL, and failures are logged
// at most once a minute per trunk. onChange (may be nil) is told of every
// trunk whose addresses changed, after it has been logged.
func (t *Table) Resolve(ctx context.Context, r *Resolver, log zerolog.Logger, onChange func(Trunk)) {
	var wg sync.WaitGroup
	for i := range t.trunks {
		if t.trunks[i].Host == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.resolveTrunk(ctx, i, r, log, onChange)
		}()
	}
	wg.Wait()
}

// failureLogEvery rate-limits the log of a trunk's failing lookups.
const failureLogEvery = time.Minute

func (t *Table) resolveTrunk(ctx context.Context, i int, r *Resolver, log zerolog.Logger, onChange func(Trunk)) {
	// The start-up answer is good for its TTL (0 for a name that did not
	// resolve: look it up again at once).
	wait := time.NewTimer(t.trunk(i).ttl)
	defer wait.Stop()
	var lastLogged time.Time
	suppressed := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-wait.C:
		}
		tr := t.trunk(i)
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		targets, ttl, err := r.Lookup(lctx, tr.Host, tr.Port, tr.Transport)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if now := time.Now(); now.Sub(lastLogged) >= failureLogEvery {
				msg := "gateway trunk's host name does not resolve: keeping its last addresses"
				if !tr.resolved() {
					msg = "gateway trunk's host name does not resolve: the trunk takes no calls until it does"
				}
				ev := log.Warn().Err(err).Str("gateway", tr.Name).Str("host", tr.Host)
				if tr.resolved() {
					// An unresolved trunk has no address to name.
					ev = ev.Str("address", tr.Addr.String())
				}
				ev.Int("suppressed", suppressed).Msg(msg)
				lastLogged, suppressed = now, 0
			} else {
				suppressed++
			}
			wait.Reset(r.retry())
			continue
		}
		if t.SetTargets(tr.Name, targets) {
			now := t.trunk(i)
			addrs := make([]string, len(now.Targets))
			for j, tg := range now.Targets {
				addrs[j] = tg.Addr.String()
			}
			log.Info().Str("gateway", tr.Name).Str("host", tr.Host).Strs("addresses", addrs).
				Int64("ttl_ms", ttl.Milliseconds()).Msg("gateway trunk's host name resolves to new addresses")
			if onChange != nil {
				onChange(now)
			}
		}
		wait.Reset(ttl)
	}
}
