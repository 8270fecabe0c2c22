package geodns

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

const name = "hybridvoice.adatum.biz"

// twoSites is the CCE docs' example, with loopback client subnets:
// 127.0.0.1 is in Amsterdam, 127.0.0.3 in Seattle, 127.0.0.2 nowhere.
func twoSites(t *testing.T) *Responder {
	t.Helper()
	r, err := Listen(netip.MustParseAddrPort("127.0.0.1:0"), Config{Name: name, TTL: 60 * time.Second, Log: zerolog.Nop(),
		Sites: []Site{
			{Name: "amsterdam", Subnets: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
				Servers: []netip.Addr{netip.MustParseAddr("192.168.1.45"), netip.MustParseAddr("192.168.1.46"), netip.MustParseAddr("fd00::45")}},
			{Name: "seattle", Subnets: []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")},
				Servers: []netip.Addr{netip.MustParseAddr("10.10.1.8")}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// query asks r from the source address src over the network net.
func query(t *testing.T, r *Responder, network, src, qname string, qtype uint16) *dns.Msg {
	t.Helper()
	var local net.Addr = &net.UDPAddr{IP: net.ParseIP(src)}
	if network == "tcp" {
		local = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c := &dns.Client{Net: network, Timeout: 5 * time.Second, Dialer: &net.Dialer{LocalAddr: local, Timeout: 5 * time.Second}}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(qname), qtype)
	res, _, err := c.Exchange(m, r.Addr().String())
	if err != nil {
		t.Fatalf("%s query from %s: %v", network, src, err)
	}
	return res
}

func addrs(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, rr.A.String())
		case *dns.AAAA:
			out = append(out, rr.AAAA.String())
		}
	}
	slices.Sort(out)
	return out
}

func TestPerSite(t *testing.T) {
	r := twoSites(t)
	for _, network := range []string{"udp", "tcp"} {
		for _, tt := range []struct {
			src, qname string
			qtype      uint16
			rcode      int
			want       []string
		}{
			{"127.0.0.1", name, dns.TypeA, dns.RcodeSuccess, []string{"192.168.1.45", "192.168.1.46"}},
			{"127.0.0.1", strings.ToUpper(name), dns.TypeA, dns.RcodeSuccess, []string{"192.168.1.45", "192.168.1.46"}},
			{"127.0.0.1", name, dns.TypeAAAA, dns.RcodeSuccess, []string{"fd00::45"}},
			{"127.0.0.3", name, dns.TypeA, dns.RcodeSuccess, []string{"10.10.1.8"}},
			{"127.0.0.3", name, dns.TypeAAAA, dns.RcodeSuccess, nil},
			{"127.0.0.3", name, dns.TypeMX, dns.RcodeSuccess, nil},
			{"127.0.0.2", name, dns.TypeA, dns.RcodeNameError, nil},
			{"127.0.0.1", "www.example.com", dns.TypeA, dns.RcodeRefused, nil},
			{"127.0.0.2", "www.example.com", dns.TypeA, dns.RcodeRefused, nil},
		} {
			res := query(t, r, network, tt.src, tt.qname, tt.qtype)
			if res.Rcode != tt.rcode || !slices.Equal(addrs(res), tt.want) {
				t.Errorf("%s %s %s from %s: %s %v, want %s %v", network, tt.qname, dns.TypeToString[tt.qtype], tt.src,
					dns.RcodeToString[res.Rcode], addrs(res), dns.RcodeToString[tt.rcode], tt.want)
			}
			if tt.rcode != dns.RcodeRefused && !res.Authoritative {
				t.Errorf("%s %s from %s: not authoritative", network, tt.qname, tt.src)
			}
			for _, rr := range res.Answer {
				if rr.Header().Ttl != 60 {
					t.Errorf("TTL %d, want 60", rr.Header().Ttl)
				}
			}
		}
	}
}

// TestDig queries the responder with Debian's dig (bind9-dnsutils), as an
// administrator troubleshooting a client would.
func TestDig(t *testing.T) {
	dig, err := exec.LookPath("dig")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("dig not installed (.ci/run installs bind9-dnsutils)")
		}
		t.Skip("dig not installed (apt-get install bind9-dnsutils)")
	}
	r := twoSites(t)
	run := func(src string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, dig, "@"+r.Addr().Addr().String(), "-p", r.Addr().String()[strings.LastIndex(r.Addr().String(), ":")+1:],
			"-b", src, "+tries=1", "+time=5", name, "A").CombinedOutput()
		if err != nil {
			t.Fatalf("dig from %s: %v\n%s", src, err, out)
		}
		return string(out)
	}
	out := run("127.0.0.3")
	if !strings.Contains(out, "status: NOERROR") || !strings.Contains(out, "10.10.1.8") || !strings.Contains(out, " aa") {
		t.Errorf("dig from Seattle:\n%s", out)
	}
	if out := run("127.0.0.2"); !strings.Contains(out, "status: NXDOMAIN") {
		t.Errorf("dig from outside every site:\n%s", out)
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDNSConformance: the responder follows the DNS rules resolvers
// depend on: an EDNS query gets an OPT record back, an unknown EDNS
// version BADVERS and two OPT records FORMERR (RFC 6891); NXDOMAIN and
// NODATA carry the SOA for negative caching (RFC 2308); zone transfers are
// REFUSED; ANY gets the addresses; a server listed twice is one record.
func TestDNSConformance(t *testing.T) {
	r, err := Listen(netip.MustParseAddrPort("127.0.0.1:0"), Config{Name: name, TTL: 60 * time.Second, Log: zerolog.Nop(),
		Sites: []Site{{Name: "amsterdam", Subnets: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
			Servers: []netip.Addr{netip.MustParseAddr("192.168.1.45"), netip.MustParseAddr("192.168.1.45"), netip.MustParseAddr("fd00::45")}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	exchange := func(src string, m *dns.Msg) *dns.Msg {
		t.Helper()
		c := &dns.Client{Net: "udp", Timeout: 5 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}}
		res, _, err := c.Exchange(m, r.Addr().String())
		if err != nil {
			t.Fatalf("query from %s: %v", src, err)
		}
		return res
	}
	q := func(qtype uint16) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), qtype)
		return m
	}
	hasSOA := func(m *dns.Msg) bool {
		return len(m.Ns) == 1 && m.Ns[0].Header().Rrtype == dns.TypeSOA
	}

	edns := q(dns.TypeA)
	edns.SetEdns0(4096, false)
	if res := exchange("127.0.0.1", edns); res.IsEdns0() == nil || res.Rcode != dns.RcodeSuccess || res.IsEdns0().UDPSize() != 1232 {
		t.Errorf("EDNS query: rcode %s, OPT %v; want NOERROR with an OPT record advertising 1232 bytes", dns.RcodeToString[res.Rcode], res.IsEdns0())
	}
	v1 := q(dns.TypeA)
	v1.SetEdns0(4096, false)
	v1.IsEdns0().SetVersion(1)
	if res := exchange("127.0.0.1", v1); res.Rcode != dns.RcodeBadVers || res.IsEdns0() == nil {
		t.Errorf("EDNS version 1: rcode %s, want BADVERS with an OPT record", dns.RcodeToString[res.Rcode])
	}
	two := q(dns.TypeA)
	two.SetEdns0(4096, false)
	two.Extra = append(two.Extra, two.Extra[0])
	if res := exchange("127.0.0.1", two); res.Rcode != dns.RcodeFormatError {
		t.Errorf("two OPT records: rcode %s, want FORMERR", dns.RcodeToString[res.Rcode])
	}
	if res := exchange("127.0.0.2", q(dns.TypeA)); res.Rcode != dns.RcodeNameError || !hasSOA(res) {
		t.Errorf("external client: rcode %s, authority %v; want NXDOMAIN with the SOA", dns.RcodeToString[res.Rcode], res.Ns)
	}
	if res := exchange("127.0.0.1", q(dns.TypeTXT)); res.Rcode != dns.RcodeSuccess || len(res.Answer) != 0 || !hasSOA(res) {
		t.Errorf("TXT: rcode %s, %d answers, authority %v; want NODATA with the SOA", dns.RcodeToString[res.Rcode], len(res.Answer), res.Ns)
	}
	for _, qt := range []uint16{dns.TypeAXFR, dns.TypeIXFR} {
		if res := exchange("127.0.0.1", q(qt)); res.Rcode != dns.RcodeRefused {
			t.Errorf("%s: rcode %s, want REFUSED", dns.TypeToString[qt], dns.RcodeToString[res.Rcode])
		}
	}
	if got := addrs(exchange("127.0.0.1", q(dns.TypeANY))); !slices.Equal(got, []string{"192.168.1.45", "fd00::45"}) {
		t.Errorf("ANY answered %v, want each address once", got)
	}
	if got := addrs(exchange("127.0.0.1", q(dns.TypeA))); !slices.Equal(got, []string{"192.168.1.45"}) {
		t.Errorf("A answered %v, want the twice-listed server once", got)
	}
}
