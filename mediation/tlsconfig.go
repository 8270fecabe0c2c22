package mediation

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/mediation-emulator/mediation/gateway"
	"github.com/mediation-emulator/mediation/sip"
)

// TLSConfig is SIP over TLS on both sides (RFC 3261 §26.2), as CCE runs
// its gateway side on TLS port 5067.
type TLSConfig struct {
	// Cert and Key are PEM files: the server's certificate (with its
	// chain) and key. It is also the client certificate we show peers
	// that ask for one.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// CA is a PEM bundle of the CAs the peers' certificates must chain
	// to: trunks' server certificates, and client certificates under
	// mutual TLS. "" trusts the system's roots (and no client).
	CA string `yaml:"ca"`
	// GatewayListen and EdgeListen are IP:PORT of each side's TLS
	// listener (CCE: 5067 on the gateway side); "" listens for none.
	GatewayListen string `yaml:"gateway_listen"`
	EdgeListen    string `yaml:"edge_listen"`
	// Mutual requires a client certificate, verified against CA, on both
	// TLS listeners; on the gateway side it must also name a trunk that
	// the connection's source address belongs to (gateways[].tls_name).
	Mutual bool `yaml:"mutual"`
}

// enabled reports whether any TLS is configured.
func (t TLSConfig) enabled() bool { return t.Cert != "" || t.Key != "" || t.CA != "" }

func (t TLSConfig) check() *ConfigError {
	switch {
	case (t.GatewayListen != "" || t.EdgeListen != "" || t.Mutual) && (t.Cert == "" || t.Key == ""):
		return &ConfigError{Field: "tls.cert", Reason: "a certificate and key are required for TLS listeners"}
	case (t.Cert == "") != (t.Key == ""):
		return &ConfigError{Field: "tls.key", Reason: "tls.cert and tls.key go together"}
	case t.Mutual && t.CA == "":
		return &ConfigError{Field: "tls.ca", Reason: "mutual TLS needs the CA that client certificates are checked against"}
	}
	// The files are read as the start and a SIGHUP read them.
	if _, err := readTLSFiles(t); err != nil {
		var fe *tlsFileError
		if errors.As(err, &fe) {
			return invalid(fe.field, fe.path, "%v", fe.err)
		}
		return invalid("tls.cert", t.Cert, "%v", err)
	}
	for _, l := range []struct{ field, v string }{{"tls.gateway_listen", t.GatewayListen}, {"tls.edge_listen", t.EdgeListen}} {
		if l.v != "" {
			if err := checkListen(l.field, l.v); err != nil {
				return err
			}
		}
	}
	return nil
}

// certExpiryWarn is how long before tls.cert expires the server warns.
const certExpiryWarn = 14 * 24 * time.Hour

// certWarning says when tls.cert is not valid at now (expired, or not
// valid yet) or expires within certExpiryWarn, or "": peers then refuse
// the handshake, but a clock or a renewal may set it right, so this is a
// warning (serve --validate, and the log at start and after a reload),
// never an error.
func (t TLSConfig) certWarning(now time.Time) string {
	f, err := readTLSFiles(t)
	if err != nil {
		return "" // check's error
	}
	return t.leafWarning(f.leaf(), now)
}

// certDay is how the certificate warnings write a date.
const certDay = "2006-01-02 15:04:05 MST"

// leafInvalid says why leaf is not valid at now, "expired on DATE" or
// "not valid before DATE" (a start up to skew after now passes), or "":
// the warning at start and the refusal of a reload say the same.
func leafInvalid(leaf *x509.Certificate, now time.Time, skew time.Duration) (expired bool, why string) {
	switch {
	case now.After(leaf.NotAfter):
		return true, "expired on " + leaf.NotAfter.UTC().Format(certDay)
	case leaf.NotBefore.After(now.Add(skew)):
		return false, "not valid before " + leaf.NotBefore.UTC().Format(certDay)
	}
	return false, ""
}

// leafWarning is certWarning for leaf, tls.cert's certificate as read.
func (t TLSConfig) leafWarning(leaf *x509.Certificate, now time.Time) string {
	if leaf == nil {
		return ""
	}
	switch expired, why := leafInvalid(leaf, now, 0); {
	case expired:
		return fmt.Sprintf("tls.cert %s %s: TLS peers refuse the handshake", t.Cert, why)
	case why != "":
		return fmt.Sprintf("tls.cert %s is %s: TLS peers refuse the handshake until then", t.Cert, why)
	case leaf.NotAfter.Sub(now) < certExpiryWarn:
		return fmt.Sprintf("tls.cert %s expires on %s, in %s: renew it", t.Cert, leaf.NotAfter.UTC().Format(certDay), timeLeft(leaf.NotAfter.Sub(now)))
	}
	return ""
}

// timeLeft is d in whole hours, or in whole minutes under an hour: a
// certificate of the README's 30-minute lab read "in 0 hours".
func timeLeft(d time.Duration) string {
	n, unit := int(d.Hours()), "hour"
	switch {
	case d < time.Minute:
		return "less than a minute"
	case d < time.Hour:
		n, unit = int(d.Minutes()), "minute"
	}
	if n != 1 {
		unit += "s"
	}
	return fmt.Sprintf("%d %s", n, unit)
}

// TLSCertWarning says when tls.cert is expired, not valid yet or expires
// within 14 days, or "" (serve --validate prints it).
func (c *Config) TLSCertWarning() string { return c.TLS.certWarning(time.Now()) }

// sideTLS builds a side's TLS settings from the files in st; nil when the
// side has no TLS at all (st nil). names, when set (the gateway side), are
// the certificate names a peer at an address may have: its certificate
// must carry one of them. Every handshake takes the certificate, key and
// CA in st as it starts, so a reload (SIGHUP) applies to the next one.
func (st *tlsStore) sideTLS(listen string, names func(netip.Addr) []string) (*sip.TLSConfig, error) {
	if st == nil {
		return nil, nil
	}
	// crypto/tls checks a peer against RootCAs, which a tls.Config fixes;
	// sipgo keeps the one it is given. The checks are ours instead, with
	// the CA in use at the handshake.
	client := &tls.Config{MinVersion: tls.VersionTLS12, GetClientCertificate: st.clientCertificate, InsecureSkipVerify: true}
	out := &sip.TLSConfig{Client: client}
	if names != nil {
		// TLS sends no IP in SNI, so the connection state does not say
		// which address was dialled: connections to an IP are dialled
		// with trunkDial's settings, which check the names of the trunks
		// at that IP. What is left to sipgo's dial with these settings is
		// a host name (a Contact by name): its certificate must carry that
		// name, and the name be one of a trunk's. A connection state
		// without a name is refused: it never stands for every trunk.
		client.VerifyConnection = func(cs tls.ConnectionState) error {
			if cs.ServerName == "" {
				return errors.New("tls: no destination to check the peer certificate's names against")
			}
			if ip, err := netip.ParseAddr(cs.ServerName); err == nil {
				return verifyPeer(cs, st.pool(), names(ip), x509.ExtKeyUsageServerAuth)
			}
			if !slices.Contains(names(netip.Addr{}), cs.ServerName) {
				return fmt.Errorf("tls: %s is no trunk's certificate name", cs.ServerName)
			}
			return verifyPeer(cs, st.pool(), []string{cs.ServerName}, x509.ExtKeyUsageServerAuth)
		}
	} else {
		// The side dials its IPs itself (edgeDial for the edge peer,
		// ClientFor for requests to another IP and dial-backs). sipgo dials with these settings a
		// host name (a Contact, Route or SRV target by name), sent as SNI,
		// which the certificate must carry, as crypto/tls checks it. Were
		// sipgo to dial an IP itself (a connection pooled for a request
		// closed before the request takes it), the state says no name
		// (no SNI for an IP), and which IP was dialled cannot be known
		// here: refused, the request's transport failure.
		client.VerifyConnection = func(cs tls.ConnectionState) error {
			if cs.ServerName == "" {
				return errors.New("tls: no name to check the peer certificate against")
			}
			return verifyPeer(cs, st.pool(), []string{cs.ServerName}, x509.ExtKeyUsageServerAuth)
		}
		out.ClientFor = func(serverName string) *tls.Config { return st.named(client, serverName) }
	}
	if listen == "" {
		return out, nil
	}
	ap, err := netip.ParseAddrPort(listen)
	if err != nil {
		return nil, err
	}
	out.Listen = ap
	out.Server = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: st.certificate}
	if st.cfg.Mutual {
		// crypto/tls's own check of a client certificate wants the
		// clientAuth usage; ours takes serverAuth too (clientUsages), so it
		// is done in VerifyConnection, against the CA in use at the
		// handshake. ClientCAs still tells the peer which CA we take. The
		// edge side checks no name; the gateway side the trunks' at the
		// connection's source.
		verify := func(hello *tls.ClientHelloInfo, pool *x509.CertPool) func(tls.ConnectionState) error {
			return func(cs tls.ConnectionState) error { return verifyChain(cs, pool, clientUsages) }
		}
		if names != nil {
			verify = func(hello *tls.ClientHelloInfo, pool *x509.CertPool) func(tls.ConnectionState) error {
				at := names(remoteIP(hello.Conn))
				return func(cs tls.ConnectionState) error { return verifyPeer(cs, pool, at, clientUsages...) }
			}
		}
		out.Server = &tls.Config{MinVersion: tls.VersionTLS12, GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			pool := st.pool()
			return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: st.certificate,
				ClientAuth: tls.RequireAnyClientCert, ClientCAs: pool, VerifyConnection: verify(hello, pool)}, nil
		}}
	}
	return out, nil
}

// named is base for a connection to a peer whose certificate crypto/tls
// checks against name (sent as SNI unless an IP) and the CA in use.
func (st *tlsStore) named(base *tls.Config, name string) *tls.Config {
	c := base.Clone()
	c.ServerName, c.RootCAs = name, st.pool()
	c.InsecureSkipVerify, c.VerifyConnection = false, nil
	return c
}

func remoteIP(c net.Conn) netip.Addr {
	if c == nil {
		return netip.Addr{}
	}
	ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	return ap.Addr().Unmap()
}

// clientUsages are the extended key usages a client certificate may have
// under mutual TLS: clientAuth, or serverAuth without it. A SIP peer's
// certificate is its identity both ways (RFC 5922 §7: a SIP server dials
// its peers too), and public CAs have issued TLS certificates with
// serverAuth alone since 2026 (the browsers' root programs dropped
// clientAuth): such an SBC certificate is taken, checked as any other
// (chain to tls.ca, a trunk's name at its address).
var clientUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}

// verifyPeer checks a peer's chain against pool (the system's roots when
// nil), for one of usages, and that it names one of names.
func verifyPeer(cs tls.ConnectionState, pool *x509.CertPool, names []string, usages ...x509.ExtKeyUsage) error {
	if err := verifyChain(cs, pool, usages); err != nil {
		return err
	}
	leaf := cs.PeerCertificates[0]
	for _, n := range names {
		if leaf.VerifyHostname(n) == nil {
			return nil
		}
	}
	return &sip.NameError{Msg: fmt.Sprintf("tls: peer certificate names %v %v, none of the trunks' %v", leaf.DNSNames, leaf.IPAddresses, names)}
}

// verifyChain checks a peer's chain against pool (the system's roots when
// nil), for one of usages.
func verifyChain(cs tls.ConnectionState, pool *x509.CertPool, usages []x509.ExtKeyUsage) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tls: the peer sent no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: usages}); err != nil {
		return fmt.Errorf("tls: peer certificate: %w", err)
	}
	return nil
}

// GatewayTLSAddr is the gateway side's TLS address (invalid without a TLS
// listener). Valid after Ready.
func (s *Server) GatewayTLSAddr() netip.AddrPort { return s.gw.TLSAddr() }

// EdgeTLSAddr is the edge side's TLS address, likewise.
func (s *Server) EdgeTLSAddr() netip.AddrPort { return s.edge.TLSAddr() }

// addrOrNone is an address for the log, "" when there is none.
func addrOrNone(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// trunkDial is the TLS of a connection the gateway side dials to an IP
// address. To a TLS trunk's address: SNI and the certificate's name are
// that trunk's (tls_name, else its host name, else its IP, which Go sends
// no SNI for), checked as crypto/tls does against the CA in use. To
// another address (an SBC's Contact or Record-Route elsewhere, a
// dial-back): no SNI, and the certificate must carry the name of one of
// the trunks at that IP (Table.NamesAt), none when no trunk is there.
func trunkDial(t *gateway.Table, st *tlsStore, base *tls.Config) func(netip.AddrPort) *tls.Config {
	return func(dest netip.AddrPort) *tls.Config {
		if tr, ok := t.AtTarget(dest); ok && tr.Transport == "tls" {
			return st.named(base, tr.CertName())
		}
		c := base.Clone()
		ip, pool := dest.Addr().Unmap(), st.pool()
		c.ServerName = ip.String() // no SNI for an IP
		c.InsecureSkipVerify = true
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			names := t.NamesAt(ip)
			if len(names) == 0 {
				return fmt.Errorf("tls: no trunk at %s for the peer certificate to name", ip)
			}
			return verifyPeer(cs, pool, names, x509.ExtKeyUsageServerAuth)
		}
		return c
	}
}

// CertName is the name the edge peer's TLS certificate must carry:
// tls_name, else edge.peer's host, which may be an IP (validated).
func (e EdgeConfig) CertName() string {
	if e.TLSName != "" {
		return e.TLSName
	}
	host, _, _ := net.SplitHostPort(e.Peer)
	return host
}

// edgeDial is the TLS of a connection the edge side dials to an IP
// address. To the edge peer (peer, edge.peer as resolved at start): SNI
// and the certificate's name are name (EdgeConfig.CertName), checked as
// crypto/tls does against the CA in use. The peer is resolved once, and
// its name would be lost with it: dialled by IP, Go sends no SNI and
// checks the certificate for an IP SAN, which a real edge's certificate
// (a DNS name) does not carry. To another address: nil, sipgo's dial by
// IP (tlsdial.go), with TLSConfig.ClientFor's settings.
func edgeDial(peer netip.AddrPort, name string, st *tlsStore, base *tls.Config) func(netip.AddrPort) *tls.Config {
	peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	return func(dest netip.AddrPort) *tls.Config {
		if netip.AddrPortFrom(dest.Addr().Unmap(), dest.Port()) != peer {
			return nil
		}
		return st.named(base, name)
	}
}
