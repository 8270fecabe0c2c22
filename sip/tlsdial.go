package sip

import (
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"strings"
)

// TLS connections this side dials itself, with a ServerName of its choice.
//
// sipgo dials a TLS peer from the request's destination: an IP gives a
// tls.Config whose ServerName is that IP, so no SNI is sent and the
// certificate cannot be checked against the name of the peer meant (the
// UA has one tls.Config for every peer). When TLSConfig.Dial names the
// peer at a destination, the side dials and handshakes the connection
// itself (SNI and certificate check for that name) and hands it to
// sipgo's TLS transport through a listener of its own (connFeed): sipgo
// pools it under the peer's address exactly as a connection it accepted,
// reads from it, and the request then goes out on it. Requests, in-dialog
// requests and responses the peer sends on it are handled as usual.

// tlsDialer has the TLS settings of the peers the stack dials itself.
type tlsDialer struct {
	config func(netip.AddrPort) *tls.Config
}

// ensureTLS makes sure that a request to dest over TLS finds a connection
// we dialled with the TLS settings for dest, when there are such settings
// and no connection to dest is open yet.
func (s *Stack) ensureTLS(ctx context.Context, req interface {
	Transport() string
	Destination() string
}) error {
	d := s.tlsDial
	if d == nil || !strings.EqualFold(req.Transport(), "tls") {
		return nil
	}
	dest, err := netip.ParseAddrPort(req.Destination())
	if err != nil {
		return nil // a host name: sipgo resolves and dials it
	}
	dest = netip.AddrPortFrom(dest.Addr().Unmap(), dest.Port())
	cfg := d.config(dest)
	if cfg == nil {
		return nil
	}
	return s.connect(ctx, "tls", dest, func(ctx context.Context) (net.Conn, error) {
		return dialStream(ctx, s.localIP(), dest, cfg, nil)
	})
}
