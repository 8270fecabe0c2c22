package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"time"

	"github.com/miekg/dns"
)

// webServiceName is the outcome of resolving the web service's host name
// as a client does: through the site's DNS, from the client's address, so
// that a geo DNS policy answers for the client's subnet.
type webServiceName struct {
	Host  string
	Addrs []netip.Addr
	// URL is the web service URL with the host replaced by the first
	// address; "" when the name did not resolve.
	URL string
	// Rcode is the DNS answer's (NOERROR, NXDOMAIN, REFUSED, ...).
	Rcode string
}

// resolveWebService looks up the host of rawURL (A, then AAAA) at the DNS
// server dnsAddr over UDP from source. A host that is already an address
// needs no lookup. The error is for a query that got no answer at all.
func resolveWebService(ctx context.Context, rawURL string, dnsAddr netip.AddrPort, source netip.Addr) (webServiceName, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return webServiceName{}, fmt.Errorf("%q is not a URL", rawURL)
	}
	n := webServiceName{Host: u.Hostname()}
	if ip, err := netip.ParseAddr(n.Host); err == nil {
		n.Addrs, n.URL, n.Rcode = []netip.Addr{ip}, rawURL, dns.RcodeToString[dns.RcodeSuccess]
		return n, nil
	}
	dialer := &net.Dialer{Timeout: 3 * time.Second}
	if source.IsValid() {
		dialer.LocalAddr = &net.UDPAddr{IP: source.AsSlice()}
	}
	c := &dns.Client{Net: "udp", Timeout: 3 * time.Second, Dialer: dialer}
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		q := new(dns.Msg)
		q.SetQuestion(dns.Fqdn(n.Host), qtype)
		res, _, err := c.ExchangeContext(ctx, q, dnsAddr.String())
		if err != nil {
			return n, fmt.Errorf("DNS %s: %w", dnsAddr, err)
		}
		n.Rcode = dns.RcodeToString[res.Rcode]
		if res.Rcode != dns.RcodeSuccess {
			return n, nil
		}
		for _, rr := range res.Answer {
			switch rr := rr.(type) {
			case *dns.A:
				if ip, ok := netip.AddrFromSlice(rr.A.To4()); ok {
					n.Addrs = append(n.Addrs, ip)
				}
			case *dns.AAAA:
				if ip, ok := netip.AddrFromSlice(rr.AAAA); ok {
					n.Addrs = append(n.Addrs, ip)
				}
			}
		}
		if len(n.Addrs) > 0 {
			break
		}
	}
	if len(n.Addrs) > 0 {
		r := *u
		r.Host = n.Addrs[0].String()
		if p := u.Port(); p != "" {
			r.Host = net.JoinHostPort(n.Addrs[0].String(), p)
		} else if n.Addrs[0].Is6() {
			r.Host = "[" + n.Addrs[0].String() + "]"
		}
		n.URL = r.String()
	}
	return n, nil
}

// unresolvedReason is why a client whose name lookup failed counts as
// external, for its report.
func (n webServiceName) unresolvedReason() string {
	if n.Rcode == dns.RcodeToString[dns.RcodeSuccess] {
		return fmt.Sprintf("web service name %s has no address: external client", n.Host)
	}
	return fmt.Sprintf("web service name %s does not resolve (%s): external client", n.Host, n.Rcode)
}
