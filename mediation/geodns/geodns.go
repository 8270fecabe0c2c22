// Package geodns is the internal DNS of a CCE site, cut down to what media
// bypass needs: the web service's host name (HybridConfigServiceInternalUrl)
// resolves, for a client in one of the sites' subnets, to the mediation
// servers of that site, as a Windows Server 2016 DNS policy with client
// subnets and zone scopes does. A client outside every site gets NXDOMAIN:
// external clients must not resolve the name, so they never fetch the
// bypass ID. Every other name is REFUSED: this is not a recursive resolver.
package geodns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"
)

// Site is one site: the client subnets it serves and the addresses of its
// mediation servers.
type Site struct {
	Name    string
	Subnets []netip.Prefix
	Servers []netip.Addr
}

// Config is what the responder answers.
type Config struct {
	// Name is the host name answered, e.g. hybridvoice.adatum.biz.
	Name string
	// TTL of the answers.
	TTL time.Duration
	// Sites are matched in order; the first whose subnets hold the
	// client's address answers.
	Sites []Site
	Log   zerolog.Logger
}

// Responder answers DNS queries over UDP and TCP on one address.
type Responder struct {
	cfg  Config
	name string // fully qualified, lower case
	udp  *dns.Server
	tcp  *dns.Server
	addr netip.AddrPort
	wg   sync.WaitGroup
	errc chan error
}

// Listen binds UDP and TCP on addr (one port; port 0 picks one free for
// both) and starts answering.
func Listen(addr netip.AddrPort, cfg Config) (*Responder, error) {
	if cfg.Name == "" {
		return nil, errors.New("geodns: no name to answer")
	}
	r := &Responder{cfg: cfg, name: dns.CanonicalName(cfg.Name), errc: make(chan error, 2)}
	pc, ln, err := listenPair(addr)
	if err != nil {
		return nil, err
	}
	r.addr = netip.MustParseAddrPort(pc.LocalAddr().String())
	h := dns.HandlerFunc(r.serveDNS)
	r.udp = &dns.Server{PacketConn: pc, Handler: h, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	r.tcp = &dns.Server{Listener: ln, Handler: h, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
		IdleTimeout: func() time.Duration { return 10 * time.Second }, MaxTCPQueries: 128}
	started := make(chan struct{}, 2)
	for _, srv := range []*dns.Server{r.udp, r.tcp} {
		srv.NotifyStartedFunc = func() { started <- struct{}{} }
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			if err := srv.ActivateAndServe(); err != nil {
				r.errc <- fmt.Errorf("dns.listen: %w", err)
			}
		}()
	}
	<-started
	<-started
	return r, nil
}

// listenPair binds UDP and TCP on the same port, retrying when port 0 gave
// a UDP port whose TCP twin is taken.
func listenPair(addr netip.AddrPort) (net.PacketConn, net.Listener, error) {
	for attempt := 0; ; attempt++ {
		pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
		if err != nil {
			return nil, nil, err
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", netip.AddrPortFrom(addr.Addr(), uint16(port)).String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if addr.Port() != 0 || attempt == 10 {
			return nil, nil, err
		}
	}
}

// Addr is the address the responder listens on.
func (r *Responder) Addr() netip.AddrPort { return r.addr }

// Wait returns nil once ctx is done (after closing the listeners), or the
// first listener error.
func (r *Responder) Wait(ctx context.Context) error {
	var err error
	select {
	case <-ctx.Done():
	case err = <-r.errc:
	}
	r.Close()
	return err
}

// Close stops both listeners and waits for them.
func (r *Responder) Close() {
	_ = r.udp.Shutdown()
	_ = r.tcp.Shutdown()
	r.wg.Wait()
}

func (r *Responder) serveDNS(w dns.ResponseWriter, q *dns.Msg) {
	m := r.answer(w.RemoteAddr(), q)
	if err := w.WriteMsg(m); err != nil {
		r.cfg.Log.Debug().Err(err).Msg("geodns: write")
	}
}

// answer builds the reply to q from a client at remote.
func (r *Responder) answer(remote net.Addr, q *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(q)
	m.RecursionAvailable = false
	if q.Opcode != dns.OpcodeQuery || len(q.Question) != 1 {
		m.Rcode = dns.RcodeNotImplemented
		return m
	}
	// EDNS (RFC 6891 §6.1.1): a query with an OPT record gets one back;
	// two OPT records are FORMERR, a version we do not know BADVERS.
	opts := 0
	for _, rr := range q.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			opts++
		}
	}
	if opt := q.IsEdns0(); opt != nil {
		switch {
		case opts > 1:
			m.Rcode = dns.RcodeFormatError
			return m
		case opt.Version() != 0:
			m.SetEdns0(ednsSize, false)
			m.Rcode = dns.RcodeBadVers
			return m
		}
		m.SetEdns0(ednsSize, false)
	}
	question := q.Question[0]
	client := remoteAddr(remote)
	log := r.cfg.Log.With().Str("remote", client.String()).Str("name", question.Name).
		Str("type", dns.TypeToString[question.Qtype]).Logger()
	if dns.CanonicalName(question.Name) != r.name || question.Qclass != dns.ClassINET {
		m.Rcode = dns.RcodeRefused
		log.Debug().Str("rcode", "REFUSED").Msg("geodns: not our name")
		return m
	}
	if question.Qtype == dns.TypeAXFR || question.Qtype == dns.TypeIXFR {
		// No zone to transfer: the answers depend on the asker.
		m.Rcode = dns.RcodeRefused
		return m
	}
	m.Authoritative = true
	ttl := uint32(r.cfg.TTL / time.Second)
	site := r.site(client)
	if site == nil {
		// External clients must not resolve the web service's name. Debug
		// level: any host on the network may ask, as often as it likes.
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{r.soa(ttl)} // negative caching, RFC 2308 §3
		log.Debug().Str("rcode", "NXDOMAIN").Msg("geodns: client outside every site")
		return m
	}
	seen := map[netip.Addr]bool{}
	for _, ip := range site.Servers {
		if seen[ip] {
			continue // a server listed twice is one record (RFC 2181 §5)
		}
		seen[ip] = true
		hdr := dns.RR_Header{Name: question.Name, Class: dns.ClassINET, Ttl: ttl}
		all := question.Qtype == dns.TypeANY
		switch {
		case (question.Qtype == dns.TypeA || all) && ip.Is4():
			hdr.Rrtype = dns.TypeA
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: ip.AsSlice()})
		case (question.Qtype == dns.TypeAAAA || all) && ip.Is6():
			hdr.Rrtype = dns.TypeAAAA
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: ip.AsSlice()})
		}
	}
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{r.soa(ttl)} // NODATA, negative caching (RFC 2308 §2.2)
	}
	log.Debug().Str("site", site.Name).Int("answers", len(m.Answer)).Msg("geodns: answered")
	return m
}

// ednsSize is the UDP payload size we advertise (RFC 6891; the DNS flag
// day 2020's value).
const ednsSize = 1232

// soa is the SOA of the one name answered, for negative answers: the
// responder is authoritative for that name alone, its own zone apex.
func (r *Responder) soa(ttl uint32) *dns.SOA {
	return &dns.SOA{Hdr: dns.RR_Header{Name: r.name, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns: r.name, Mbox: "hostmaster." + r.name, Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: ttl}
}

// site is the first site whose subnets hold ip, or nil.
func (r *Responder) site(ip netip.Addr) *Site {
	for i := range r.cfg.Sites {
		for _, p := range r.cfg.Sites[i].Subnets {
			if p.Contains(ip) {
				return &r.cfg.Sites[i]
			}
		}
	}
	return nil
}

func remoteAddr(a net.Addr) netip.Addr {
	var ip net.IP
	switch a := a.(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.TCPAddr:
		ip = a.IP
	default:
		host, _, _ := net.SplitHostPort(a.String())
		ip = net.ParseIP(strings.Trim(host, "[]"))
	}
	addr, _ := netip.AddrFromSlice(ip)
	return addr.Unmap()
}
