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

// ensureStream makes sure that a request over TCP or TLS to an IP address
// finds a connection open, dialling it here when none is: over TLS with
// TLSConfig.Dial's settings for dest when there are such, else with the
// client settings and dest's IP as the name to check, as sipgo would. The
// stack dials these itself, not sipgo, so that it sees them end
// (connwatch.go). A host name is left to sipgo, which resolves and dials
// it.
func (s *Stack) ensureStream(ctx context.Context, req interface {
	Transport() string
	Destination() string
}) error {
	network := strings.ToLower(req.Transport())
	if network != "tcp" && network != "tls" {
		return nil
	}
	dest, err := netip.ParseAddrPort(req.Destination())
	if err != nil {
		return nil // a host name: sipgo resolves and dials it
	}
	dest = netip.AddrPortFrom(dest.Addr().Unmap(), dest.Port())
	var cfg *tls.Config
	if network == "tls" {
		if cfg = s.tlsConfigFor(dest, dest.Addr().String()); cfg == nil {
			return nil // no TLS settings: sipgo says so
		}
	}
	return s.connect(ctx, network, dest, func(ctx context.Context) (net.Conn, error) {
		return dialStream(ctx, s.localIP(), dest, cfg, nil)
	})
}

// tlsConfigFor is the TLS client configuration for a connection to dest:
// TLSConfig.Dial's settings for dest, else TLSConfig.ClientFor's for
// serverName, else the client settings checking the peer's certificate
// against serverName (when they name no server); nil without any.
func (s *Stack) tlsConfigFor(dest netip.AddrPort, serverName string) *tls.Config {
	if s.tlsDial != nil {
		if cfg := s.tlsDial.config(dest); cfg != nil {
			return cfg
		}
	}
	if s.tlsClientFor != nil {
		return s.tlsClientFor(serverName)
	}
	cfg := s.tlsClient
	if cfg != nil && cfg.ServerName == "" {
		cfg = cfg.Clone()
		cfg.ServerName = serverName
	}
	return cfg
}
