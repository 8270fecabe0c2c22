package sip

import (
	"crypto/tls"
	"fmt"
	"github.com/rs/zerolog"
	"net"
	"net/netip"
)

// TLSConfig is a side's SIP over TLS (RFC 3261 §26.2): a listener of its
// own (TLS has its own port: 5061 by convention, 5067 on CCE's gateway
// side) and the settings for the connections the side dials.
type TLSConfig struct {
	// Listen is IP:PORT of the TLS listener; port 0 picks a free one.
	Listen netip.AddrPort
	// Server has the certificate and, for mutual TLS, ClientAuth and
	// ClientCAs (and any check of the peer's name); nil: no listener, TLS
	// only towards peers.
	Server *tls.Config
	// Client is used for every connection the side dials: RootCAs, a
	// client certificate for peers that ask for one, name checks.
	Client *tls.Config
	// Dial, when set, gives the settings of a connection to dest that
	// the side dials itself (tlsdial.go): its ServerName is sent as SNI
	// and the certificate must carry it. nil from Dial (or no Dial): sipgo
	// dials with Client, by IP, without SNI.
	Dial func(dest netip.AddrPort) *tls.Config
}

// listenTLS binds the TLS listener; limited is the raw listener under
// TLS, within the limits.
func listenTLS(cfg *TLSConfig, lim ConnLimits, stats *ConnStats, log zerolog.Logger) (tlsLn, limited net.Listener, _ netip.AddrPort, _ error) {
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(cfg.Listen))
	if err != nil {
		return nil, nil, netip.AddrPort{}, fmt.Errorf("listen tls %s: %w", cfg.Listen, err)
	}
	addr := netip.AddrPortFrom(cfg.Listen.Addr(), ln.Addr().(*net.TCPAddr).AddrPort().Port())
	// The limits apply to the raw connections, under TLS: a peer that
	// never completes its handshake is idle too.
	limited = limitListener(ln, lim, stats, log)
	return tls.NewListener(limited, cfg.Server), limited, addr, nil
}

// TLSAddr is the stack's TLS address; invalid without TLS.
func (s *Stack) TLSAddr() netip.AddrPort { return s.tlsAddr }

// TLSAddr is the side's TLS address; invalid without TLS.
func (s *Side) TLSAddr() netip.AddrPort { return s.stack.tlsAddr }
