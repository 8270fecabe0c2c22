package sip

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
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

// feedItem is one dialled connection and a channel closed once sipgo has
// pooled it.
type feedItem struct {
	conn   net.Conn
	pooled chan struct{}
}

// connFeed is a net.Listener whose Accept returns connections we dialled.
// sipgo's Serve pools each accepted connection before it calls Accept
// again, so the next Accept tells that the previous one is pooled.
type connFeed struct {
	addr      net.Addr
	conns     chan feedItem
	closed    chan struct{}
	closeOnce sync.Once
	last      chan struct{} // the previous item's pooled; Accept's goroutine only
}

func newConnFeed(addr netip.AddrPort) *connFeed {
	return &connFeed{addr: net.TCPAddrFromAddrPort(addr), conns: make(chan feedItem), closed: make(chan struct{})}
}

// Accept implements net.Listener.
func (f *connFeed) Accept() (net.Conn, error) {
	if f.last != nil {
		close(f.last)
		f.last = nil
	}
	select {
	case it := <-f.conns:
		f.last = it.pooled
		return it.conn, nil
	case <-f.closed:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (f *connFeed) Close() error {
	f.closeOnce.Do(func() { close(f.closed) })
	return nil
}

// Addr implements net.Listener.
func (f *connFeed) Addr() net.Addr { return f.addr }

// hand gives sipgo a connection and waits until it is pooled.
func (f *connFeed) hand(ctx context.Context, c net.Conn) error {
	it := feedItem{conn: c, pooled: make(chan struct{})}
	select {
	case f.conns <- it:
	case <-f.closed:
		c.Close()
		return net.ErrClosed
	case <-ctx.Done():
		c.Close()
		return ctx.Err()
	}
	select {
	case <-it.pooled:
		return nil
	case <-f.closed:
		return net.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tlsDialer dials the TLS connections of one stack, one at a time per
// destination.
type tlsDialer struct {
	feed   *connFeed
	config func(netip.AddrPort) *tls.Config

	mu      sync.Mutex
	dialing map[netip.AddrPort]chan struct{}
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
	tl := s.UA.TransportLayer()
	for {
		if c, err := tl.GetConnection("tls", dest.String()); err == nil {
			_, _ = c.TryClose() // GetConnection took a reference
			return nil
		}
		d.mu.Lock()
		wait, busy := d.dialing[dest]
		if !busy {
			d.dialing[dest] = make(chan struct{})
		}
		d.mu.Unlock()
		if !busy {
			break
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer func() {
		d.mu.Lock()
		close(d.dialing[dest])
		delete(d.dialing, dest)
		d.mu.Unlock()
	}()
	var nd net.Dialer
	raw, err := nd.DialContext(ctx, "tcp", dest.String())
	if err != nil {
		return fmt.Errorf("dial TLS %s: %w", dest, err)
	}
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return fmt.Errorf("TLS handshake with %s as %q: %w", dest, cfg.ServerName, err)
	}
	return d.feed.hand(ctx, conn)
}
