package mediation

import (
	"fmt"
	"net/netip"
	"net/url"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation/geodns"
)

// DNSConfig is the optional geo DNS responder for the web service's host
// name: each site's clients resolve it to their site's mediation servers,
// clients outside every site get NXDOMAIN.
type DNSConfig struct {
	// Listen is IP:PORT, UDP and TCP; "" runs no responder.
	Listen string `yaml:"listen"`
	// Name is the host name answered; "" means the host of
	// bypass.web_service_url.
	Name string `yaml:"name"`
	// TTL of the answers.
	TTL time.Duration `yaml:"ttl"`
	// Sites are matched in order by the client's source address.
	Sites []DNSSiteConfig `yaml:"sites"`
}

// DNSSiteConfig is one site: its client subnets and its mediation servers.
type DNSSiteConfig struct {
	Name    string   `yaml:"name"`
	Subnets []string `yaml:"subnets"`
	Servers []string `yaml:"servers"`
}

// name is the host name the responder answers.
func (c *Config) dnsName() string {
	if c.DNS.Name != "" {
		return c.DNS.Name
	}
	if u, err := url.Parse(c.Bypass.WebServiceURL); err == nil {
		return u.Hostname()
	}
	return ""
}

func (c *Config) checkDNS() *ConfigError {
	d := c.DNS
	if d.Listen == "" {
		return nil
	}
	if err := checkListen("dns.listen", d.Listen); err != nil {
		return err
	}
	name := c.dnsName()
	if _, err := netip.ParseAddr(name); err == nil || !validHostname(name) {
		return invalid("dns.name", name, "must be a host name (set dns.name, or a bypass.web_service_url with a host name, not an IP address)")
	}
	if d.TTL < time.Second {
		return invalid("dns.ttl", d.TTL.String(), "must be at least 1s")
	}
	if len(d.Sites) == 0 {
		return &ConfigError{Field: "dns.sites", Reason: "at least one site is required"}
	}
	for i, s := range d.Sites {
		field := fmt.Sprintf("dns.sites[%d]", i)
		if s.Name == "" {
			return required(field + ".name")
		}
		if len(s.Subnets) == 0 {
			return required(field + ".subnets")
		}
		for j, p := range s.Subnets {
			if _, err := netip.ParsePrefix(p); err != nil {
				return invalid(fmt.Sprintf("%s.subnets[%d]", field, j), p, "must be a CIDR like 192.168.1.0/24")
			}
		}
		if len(s.Servers) == 0 {
			return required(field + ".servers")
		}
		for j, a := range s.Servers {
			if _, err := netip.ParseAddr(a); err != nil {
				return invalid(fmt.Sprintf("%s.servers[%d]", field, j), a, "must be an IP address")
			}
		}
	}
	return nil
}

// geoDNSConfig is the validated DNS config in the responder's terms.
func (c *Config) geoDNSConfig(log zerolog.Logger) geodns.Config {
	gc := geodns.Config{Name: c.dnsName(), TTL: c.DNS.TTL, Log: log.With().Str("component", "dns").Logger()}
	for _, s := range c.DNS.Sites {
		site := geodns.Site{Name: s.Name}
		for _, p := range s.Subnets {
			site.Subnets = append(site.Subnets, netip.MustParsePrefix(p).Masked())
		}
		for _, a := range s.Servers {
			site.Servers = append(site.Servers, netip.MustParseAddr(a).Unmap())
		}
		gc.Sites = append(gc.Sites, site)
	}
	return gc
}
