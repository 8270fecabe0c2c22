package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/gateway"
	"github.com/mediation-emulator/mediation/gateway/dnstest"
)

func lookupCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestLookupSRV: without a port the transport's SRV records are used, in
// priority order, heaviest first; each target's A and AAAA records give
// the addresses; the TTL is the smallest, bounded.
func TestLookupSRV(t *testing.T) {
	z := dnstest.Start(t)
	z.Set(
		"_sip._tcp.sbc.test. 30 IN SRV 10 10 5070 b.sbc.test.",
		"_sip._tcp.sbc.test. 30 IN SRV 0 20 5080 a.sbc.test.",
		"_sip._tcp.sbc.test. 30 IN SRV 0 80 5090 c.sbc.test.",
		"_sip._udp.sbc.test. 30 IN SRV 0 0 6000 a.sbc.test.",
		"a.sbc.test. 20 IN A 127.0.0.2",
		"b.sbc.test. 30 IN A 127.0.0.3",
		"c.sbc.test. 40 IN AAAA ::1",
	)
	r := &gateway.Resolver{Server: z.Addr(), MinTTL: time.Second}
	got, ttl, err := r.Lookup(lookupCtx(t), "sbc.test", 0, "tcp")
	if err != nil {
		t.Fatal(err)
	}
	want := []gateway.Target{
		{Addr: netip.MustParseAddrPort("[::1]:5090"), Priority: 0, Weight: 80},
		{Addr: netip.MustParseAddrPort("127.0.0.2:5080"), Priority: 0, Weight: 20},
		{Addr: netip.MustParseAddrPort("127.0.0.3:5070"), Priority: 10, Weight: 10},
	}
	if len(got) != len(want) {
		t.Fatalf("targets %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("target %d: %v, want %v", i, got[i], want[i])
		}
	}
	if ttl != 20*time.Second {
		t.Errorf("ttl %v, want 20s (the A record's)", ttl)
	}
	// UDP asks _sip._udp; TLS asks _sips._tcp, and without SRV records
	// falls back to the name's own A records on 5061.
	if got, _, err := r.Lookup(lookupCtx(t), "sbc.test", 0, "udp"); err != nil || len(got) != 1 || got[0].Addr.Port() != 6000 {
		t.Errorf("udp: %v, %v; want 127.0.0.2:6000", got, err)
	}
	z.Set("sbc.test. 1 IN A 127.0.0.4")
	got, ttl, err = r.Lookup(lookupCtx(t), "sbc.test", 0, "tls")
	if err != nil || len(got) != 1 || got[0].Addr != netip.MustParseAddrPort("127.0.0.4:5061") {
		t.Errorf("tls without SRV: %v, %v; want 127.0.0.4:5061", got, err)
	}
	if ttl != time.Second {
		t.Errorf("ttl %v, want the 1s minimum", ttl)
	}
	if n := z.Queries("_sips._tcp.sbc.test"); n != 1 {
		t.Errorf("%d _sips._tcp queries, want 1", n)
	}
	// With a port: A/AAAA only, no SRV query.
	before := z.Queries("_sip._udp.sbc.test")
	got, _, err = r.Lookup(lookupCtx(t), "sbc.test", 5999, "udp")
	if err != nil || len(got) != 1 || got[0].Addr != netip.MustParseAddrPort("127.0.0.4:5999") {
		t.Errorf("with a port: %v, %v", got, err)
	}
	if z.Queries("_sip._udp.sbc.test") != before {
		t.Error("SRV asked although the port was given")
	}
	// A name that does not exist, and a failing server: errors.
	if _, _, err := r.Lookup(lookupCtx(t), "nowhere.test", 5060, "udp"); err == nil {
		t.Error("no error for a name without records")
	}
	z.Fail()
	if _, _, err := r.Lookup(lookupCtx(t), "sbc.test", 0, "udp"); err == nil {
		t.Error("no error for SERVFAIL")
	}
}

// TestLookupTTLBounds: a TTL is kept within the resolver's bounds.
func TestLookupTTLBounds(t *testing.T) {
	z := dnstest.Start(t)
	z.Set("sbc.test. 0 IN A 127.0.0.2")
	r := &gateway.Resolver{Server: z.Addr()}
	if _, ttl, err := r.Lookup(lookupCtx(t), "sbc.test", 5060, "udp"); err != nil || ttl != gateway.DefaultMinTTL {
		t.Errorf("ttl %v (%v), want %v", ttl, err, gateway.DefaultMinTTL)
	}
	z.Set("sbc.test. 86400 IN A 127.0.0.2")
	if _, ttl, err := r.Lookup(lookupCtx(t), "sbc.test", 5060, "udp"); err != nil || ttl != gateway.DefaultMaxTTL {
		t.Errorf("ttl %v (%v), want %v", ttl, err, gateway.DefaultMaxTTL)
	}
}

// TestResolveFollowsTTL: a trunk configured by name routes, probes and
// trusts its SRV target; when the record changes the new address takes
// over after the TTL; while lookups fail the last answer stays.
func TestResolveFollowsTTL(t *testing.T) {
	z := dnstest.Start(t)
	z.Set("_sip._udp.sbc.test. 1 IN SRV 0 1 5070 a.sbc.test.", "a.sbc.test. 1 IN A 127.0.0.2")
	r := &gateway.Resolver{Server: z.Addr(), MinTTL: time.Second}
	trunks := []gateway.Trunk{{Name: "sbc", Host: "sbc.test", Transport: "udp"}}
	if err := gateway.ResolveTrunks(lookupCtx(t), r, trunks); err != nil {
		t.Fatal(err)
	}
	table, err := gateway.NewTable(trunks)
	if err != nil {
		t.Fatal(err)
	}
	first := netip.MustParseAddrPort("127.0.0.2:5070")
	routeTo := func() netip.AddrPort {
		t.Helper()
		route, err := table.Route("+15550100")
		if err != nil {
			t.Fatal(err)
		}
		return route[0].Addr
	}
	if got := routeTo(); got != first {
		t.Fatalf("routed to %v, want the SRV target %v", got, first)
	}
	if _, ok := table.FromSource(netip.MustParseAddrPort("127.0.0.2:40000")); !ok {
		t.Error("the SRV target's IP is not trusted")
	}

	ctx, cancel := context.WithCancel(lookupCtx(t))
	changed := make(chan gateway.Trunk, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		table.Resolve(ctx, r, zerolog.Nop(), func(tr gateway.Trunk) { changed <- tr })
	}()
	defer func() { cancel(); <-done }()

	second := netip.MustParseAddrPort("127.0.0.3:5080")
	z.Set("_sip._udp.sbc.test. 1 IN SRV 0 1 5080 b.sbc.test.", "b.sbc.test. 1 IN A 127.0.0.3")
	select {
	case tr := <-changed:
		if tr.Addr != second {
			t.Fatalf("changed to %v, want %v", tr.Addr, second)
		}
	case <-ctx.Done():
		t.Fatal("the new record was not picked up")
	}
	if got := routeTo(); got != second {
		t.Errorf("routed to %v after the change, want %v", got, second)
	}
	if _, ok := table.FromSource(netip.MustParseAddrPort("127.0.0.2:5070")); ok {
		t.Error("the old address is still trusted")
	}
	if _, ok := table.FromSource(netip.MustParseAddrPort("127.0.0.3:5080")); !ok {
		t.Error("the new address is not trusted")
	}
	if names := table.NamesAt(netip.MustParseAddr("127.0.0.3")); len(names) != 1 || names[0] != "sbc.test" {
		t.Errorf("names at the new address: %v, want [sbc.test]", names)
	}

	// The server fails: lookups go on (after MinTTL) and the address stays.
	z.Fail()
	n := z.Queries("_sip._udp.sbc.test")
	for z.Queries("_sip._udp.sbc.test") < n+2 {
		select {
		case <-ctx.Done():
			t.Fatal("no lookups while the server fails")
		case tr := <-changed:
			t.Fatalf("changed to %v while the lookups fail", tr.Addr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if got := routeTo(); got != second {
		t.Errorf("routed to %v while the lookups fail, want the last good %v", got, second)
	}
	if st := table.Status(); st[0].Address != second.String() || st[0].Host != "sbc.test" {
		t.Errorf("status %+v", st[0])
	}
}

// TestRouteSpreadsByWeight: calls are spread over the best-priority SRV
// targets by weight; lower-priority ones get none.
func TestRouteSpreadsByWeight(t *testing.T) {
	heavy, light := netip.MustParseAddrPort("127.0.0.2:5060"), netip.MustParseAddrPort("127.0.0.3:5060")
	table, err := gateway.NewTable([]gateway.Trunk{{Name: "sbc", Host: "sbc.test", Transport: "udp", Targets: []gateway.Target{
		{Addr: heavy, Weight: 75}, {Addr: light, Weight: 25}, {Addr: netip.MustParseAddrPort("127.0.0.4:5060"), Priority: 1, Weight: 100},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[netip.AddrPort]int{}
	const calls = 2000
	for range calls {
		route, err := table.Route("+15550100")
		if err != nil {
			t.Fatal(err)
		}
		counts[route[0].Addr]++
	}
	// 75 % of 2000 = 1500; five standard deviations (~19 each) either way.
	if counts[heavy] < 1400 || counts[heavy] > 1600 || counts[heavy]+counts[light] != calls {
		t.Errorf("spread %v, want about 1500/500 and none to the lower priority", counts)
	}
}

// TestRouteAlternates: each call's other targets come after its first in
// RFC 3263's order: the rest of the best priority (drawn by weight), then
// the next priority; every target exactly once.
func TestRouteAlternates(t *testing.T) {
	a, b, c, d := netip.MustParseAddrPort("127.0.0.2:5060"), netip.MustParseAddrPort("127.0.0.3:5060"),
		netip.MustParseAddrPort("127.0.0.4:5060"), netip.MustParseAddrPort("127.0.0.5:5060")
	table, err := gateway.NewTable([]gateway.Trunk{{Name: "sbc", Host: "sbc.test", Transport: "udp", Targets: []gateway.Target{
		{Addr: a, Weight: 90}, {Addr: b, Weight: 10}, {Addr: c, Priority: 1}, {Addr: d, Priority: 1},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	secondIsA := 0
	const calls = 1000
	for range calls {
		route, err := table.Route("+15550100")
		if err != nil {
			t.Fatal(err)
		}
		tr := route[0]
		order := append([]netip.AddrPort{tr.Addr}, tr.Alternates...)
		if len(order) != 4 {
			t.Fatalf("order %v: want all four targets", order)
		}
		best := map[netip.AddrPort]bool{order[0]: true, order[1]: true}
		next := map[netip.AddrPort]bool{order[2]: true, order[3]: true}
		if !best[a] || !best[b] || !next[c] || !next[d] {
			t.Fatalf("order %v: want a and b (priority 0) before c and d (priority 1)", order)
		}
		if order[1] == a {
			secondIsA++
		}
	}
	// a (weight 90) comes second when b is drawn first: about 10 %.
	if secondIsA < 50 || secondIsA > 150 {
		t.Errorf("the heavy target came second in %d of %d calls, want about 100", secondIsA, calls)
	}
	ip, err := gateway.NewTable([]gateway.Trunk{{Name: "ip", Addr: a, Transport: "udp"}})
	if err != nil {
		t.Fatal(err)
	}
	if route, _ := ip.Route("+1"); len(route[0].Alternates) != 0 {
		t.Errorf("an IP trunk has alternates %v", route[0].Alternates)
	}
}

// TestUnresolvedTrunk: a trunk whose host name did not resolve is in the
// table without an address: routing skips it (ErrUnresolved when it is
// the only one that serves the number), its status says so, and once
// its name resolves it takes calls.
func TestUnresolvedTrunk(t *testing.T) {
	trunks := []gateway.Trunk{
		{Name: "named", Host: "sbc.test", Transport: "udp", Numbers: []string{"+1"}},
		{Name: "ip", Addr: netip.MustParseAddrPort("127.0.0.9:5060"), Transport: "udp", Numbers: []string{"+4"}},
	}
	err := gateway.ResolveTrunks(lookupCtx(t), &gateway.Resolver{Server: dnstest.Start(t).Addr(), Timeout: time.Second}, trunks)
	if err == nil || !strings.Contains(err.Error(), `gateway "named"`) {
		t.Fatalf("ResolveTrunks: %v; want an error naming the trunk", err)
	}
	table, err := gateway.NewTable(trunks)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := table.Route("+15550100"); !errors.Is(err, gateway.ErrUnresolved) {
		t.Errorf("Route to the unresolved trunk's number: %v, want ErrUnresolved", err)
	}
	if route, err := table.Route("+44"); err != nil || route[0].Name != "ip" {
		t.Errorf("Route(+44) = %v, %v", route, err)
	}
	if st := table.Status()[0]; !st.Unresolved || st.Healthy || st.Address != "" {
		t.Errorf("status %+v, want unresolved, down, no address", st)
	}
	if len(table.Trusted()) != 1 {
		t.Errorf("trusted %v: the unresolved trunk adds none", table.Trusted())
	}
	addr := netip.MustParseAddrPort("127.0.0.8:5060")
	if !table.SetTargets("named", []gateway.Target{{Addr: addr}}) {
		t.Fatal("SetTargets: no change")
	}
	if route, err := table.Route("+15550100"); err != nil || route[0].Addr != addr {
		t.Errorf("Route once resolved = %v, %v", route, err)
	}
	if st := table.Status()[0]; st.Unresolved || !st.Healthy {
		t.Errorf("status once resolved %+v", st)
	}
}

// TestLookupHostsFile: with the system's resolver (no server configured)
// /etc/hosts answers first, as the C library's resolver would: localhost
// resolves without any DNS server.
func TestLookupHostsFile(t *testing.T) {
	r := &gateway.Resolver{}
	got, ttl, err := r.Lookup(lookupCtx(t), "localhost", 5062, "tcp")
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Addr.Port() != 5062 || !got[0].Addr.Addr().IsLoopback() {
		t.Errorf("localhost: %v, want a loopback address on 5062", got)
	}
	if ttl != gateway.DefaultMinTTL {
		t.Errorf("ttl %v, want %v (re-read at the minimum)", ttl, gateway.DefaultMinTTL)
	}
}

// TestSplitHostPort reads the forms of a trunk address.
func TestSplitHostPort(t *testing.T) {
	for _, c := range []struct {
		in   string
		host string
		ip   string
		port uint16
		bad  bool
	}{
		{in: "127.0.0.1:5060", ip: "127.0.0.1", port: 5060},
		{in: "[::1]:5061", ip: "::1", port: 5061},
		{in: "sbc.test:5062", host: "sbc.test", port: 5062},
		{in: "sbc.test", host: "sbc.test"},
		{in: "127.0.0.1", bad: true},
		{in: "sbc.test:0", bad: true},
		{in: "127.0.0.1:0", bad: true},
		{in: "[::1]:0", bad: true},
		{in: "sbc.test:99999", bad: true},
		{in: "", bad: true},
	} {
		host, ip, port, err := gateway.SplitHostPort(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("%q: no error", c.in)
			}
			continue
		}
		ipStr := ""
		if ip.IsValid() {
			ipStr = ip.String()
		}
		if err != nil || host != c.host || ipStr != c.ip || port != c.port {
			t.Errorf("%q: %q %q %d %v; want %q %q %d", c.in, host, ipStr, port, err, c.host, c.ip, c.port)
		}
	}
}

// logLines is a log sink that hands each event (one Write) to the test.
type logLines chan string

func (l logLines) Write(p []byte) (int, error) {
	select {
	case l <- string(p):
	default: // the test has what it needs
	}
	return len(p), nil
}

// TestUnresolvedTrunkLog: the log line of a trunk whose name does not
// resolve names the trunk and its host, and no address (it has none: a
// zero address printed "invalid AddrPort").
func TestUnresolvedTrunkLog(t *testing.T) {
	z := dnstest.Start(t)
	r := &gateway.Resolver{Server: z.Addr(), MinTTL: time.Second, Timeout: time.Second}
	trunks := []gateway.Trunk{{Name: "gone", Host: "gone.test", Port: 5060, Transport: "udp"}}
	if err := gateway.ResolveTrunks(lookupCtx(t), r, trunks); err == nil {
		t.Fatal("ResolveTrunks: no error for a name without records")
	}
	table, err := gateway.NewTable(trunks)
	if err != nil {
		t.Fatal(err)
	}
	logs := make(logLines, 8)
	ctx, cancel := context.WithCancel(lookupCtx(t))
	done := make(chan struct{})
	go func() {
		defer close(done)
		table.Resolve(ctx, r, zerolog.New(logs), nil)
	}()
	defer func() { cancel(); <-done }()
	var line string
	select {
	case line = <-logs:
	case <-ctx.Done():
		t.Fatal("no log line for the unresolved trunk")
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(line), &ev); err != nil || !strings.Contains(line, "does not resolve") {
		t.Fatalf("log %q: %v", line, err)
	}
	if _, has := ev["address"]; has || strings.Contains(line, "invalid AddrPort") || ev["gateway"] != "gone" || ev["host"] != "gone.test" {
		t.Errorf("log line %s: want gateway and host, no address", line)
	}
}

// TestLookupKeepsTheListenersFamily: with Listen set, a name's addresses
// of the other family are left out (the gateway side could not send to
// them: every call would fail) and logged at warn once while unchanged; a
// name with only those fails the lookup, so routing skips the trunk
// (r23-sbc2 F2).
func TestLookupKeepsTheListenersFamily(t *testing.T) {
	z := dnstest.Start(t)
	z.Set(
		"both.test. 30 IN A 127.0.0.2",
		"both.test. 30 IN AAAA ::1",
		"six.test. 30 IN AAAA ::1",
	)
	var logs strings.Builder
	r := &gateway.Resolver{Server: z.Addr(), MinTTL: time.Second, Listen: netip.MustParseAddr("127.0.0.1"), Log: zerolog.New(&logs)}
	for range 2 {
		got, _, err := r.Lookup(lookupCtx(t), "both.test", 5060, "udp")
		if err != nil || len(got) != 1 || got[0].Addr != netip.MustParseAddrPort("127.0.0.2:5060") {
			t.Fatalf("Lookup(both.test) = %v, %v; want the IPv4 address only", got, err)
		}
	}
	if n := strings.Count(logs.String(), "left out"); n != 1 || !strings.Contains(logs.String(), `"skipped":["[::1]:5060"]`) {
		t.Errorf("warnings logged %d times, want once naming [::1]:5060:\n%s", n, logs.String())
	}
	if got, _, err := r.Lookup(lookupCtx(t), "six.test", 5060, "udp"); !errors.Is(err, gateway.ErrWrongFamily) ||
		!strings.Contains(err.Error(), "[::1]:5060") || !strings.Contains(err.Error(), "IPv4 127.0.0.1") {
		t.Errorf("Lookup(six.test) = %v, %v; want ErrWrongFamily naming the address and the listener", got, err)
	}
	// Without Listen (or listening on both), every address is kept.
	r6 := &gateway.Resolver{Server: z.Addr(), MinTTL: time.Second, Listen: netip.MustParseAddr("::")}
	if got, _, err := r6.Lookup(lookupCtx(t), "both.test", 5060, "udp"); err != nil || len(got) != 2 {
		t.Errorf("Lookup(both.test) listening on :: = %v, %v; want both addresses", got, err)
	}
}
