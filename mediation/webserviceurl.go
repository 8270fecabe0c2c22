package mediation

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"

	"github.com/mediation-emulator/mediation/mediation/hybridconfig"
)

// The HybridConfigServiceInternalUrl a server advertises. Left out of the
// config (bypass.web_service_url empty), it is the server's own web
// service: http_listen as bound, so a server on :0 or moved by
// --http-listen never sends operators, clients or `mediation check` to
// another host's port.

// WebServiceURLAt is the URL of the bypass web service on a listener at
// addr: an unspecified address (0.0.0.0, ::) is reached on 127.0.0.1.
func WebServiceURLAt(addr netip.AddrPort) string {
	ip := addr.Addr().Unmap()
	if !ip.IsValid() || ip.IsUnspecified() {
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	return (&url.URL{Scheme: "http", Host: netip.AddrPortFrom(ip, addr.Port()).String(), Path: hybridconfig.Path}).String()
}

// AdvertisedWebServiceURL is the URL a server started on c advertises
// (unless a state file names another): bypass.web_service_url, else the
// web service on http_listen. Before the server binds, a :0 port is not
// known yet: the server's Settings say the bound one.
func (c *Config) AdvertisedWebServiceURL() string {
	if c.Bypass.WebServiceURL != "" {
		return c.Bypass.WebServiceURL
	}
	ap, err := netip.ParseAddrPort(c.HTTPListen)
	if err != nil {
		return ""
	}
	return WebServiceURLAt(ap)
}

// WebServiceURLWarning says how an explicit bypass.web_service_url misses
// http_listen, or "": its port differs from http_listen's (80 or 443 when
// the URL has none; any port matches :0), or its host is an IP address
// other than http_listen's specific one. A host name cannot be checked
// without DNS, and a proxy, a NAT or a pool sharing one server's URL is
// legitimate, so this is a warning (serve --validate), never an error.
func (c *Config) WebServiceURLWarning() string {
	listen, err := netip.ParseAddrPort(c.HTTPListen)
	if err != nil {
		return ""
	}
	return webServiceURLWarning(c.Bypass.WebServiceURL, listen)
}

func webServiceURLWarning(raw string, listen netip.AddrPort) string {
	u, err := url.Parse(raw)
	if raw == "" || err != nil {
		return ""
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	p, _ := strconv.Atoi(port)
	host, _ := netip.ParseAddr(u.Hostname())
	samePort := listen.Port() == 0 || p == int(listen.Port())
	sameHost := !host.IsValid() || listen.Addr().IsUnspecified() || host.Unmap() == listen.Addr().Unmap()
	if samePort && sameHost {
		return ""
	}
	return fmt.Sprintf("bypass.web_service_url %s points at %s, not at http_listen %s: clients and `mediation check` would fetch the bypass ID there (leave bypass.web_service_url out to advertise http_listen)",
		raw, net.JoinHostPort(u.Hostname(), port), listen)
}
