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

// Connections a stack dials itself and hands to sipgo's TCP or TLS
// transport, which pools them under the peer's address as connections it
// accepted and reads them as usual (tlsdial.go: TLS with a ServerName of
// our choice; reply.go: a connection back to a peer whose request's
// connection is gone).

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

// dialFeeds are the listeners through which a stack hands sipgo the
// connections it dialled, and the dials in progress.
type dialFeeds struct {
	tcp, tls *connFeed // tls nil without TLS

	mu      sync.Mutex
	dialing map[dialKey]chan struct{}
}

type dialKey struct {
	network string // "tcp" or "tls"
	dest    netip.AddrPort
}

// connect makes sure sipgo's pool holds a connection to dest over network
// ("tcp" or "tls"): one already open, or one dial dials and connect hands
// to sipgo. One dial at a time per destination: the others wait for it and
// use its connection.
func (s *Stack) connect(ctx context.Context, network string, dest netip.AddrPort, dial func(context.Context) (net.Conn, error)) error {
	network = strings.ToLower(network)
	feed := s.feeds.tcp
	if network == "tls" {
		feed = s.feeds.tls
	}
	if feed == nil {
		return net.UnknownNetworkError(network)
	}
	key := dialKey{network: network, dest: dest}
	tl := s.UA.TransportLayer()
	d := &s.feeds
	for {
		if c, err := tl.GetConnection(network, dest.String()); err == nil {
			_, _ = c.TryClose() // GetConnection took a reference
			return nil
		}
		d.mu.Lock()
		wait, busy := d.dialing[key]
		if !busy {
			d.dialing[key] = make(chan struct{})
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
		close(d.dialing[key])
		delete(d.dialing, key)
		d.mu.Unlock()
	}()
	c, err := dial(ctx)
	if err != nil {
		return err
	}
	return feed.hand(ctx, watchConn(c, s.writeLimit()))
}

// dialStream dials dest over TCP from local (any address when invalid),
// hands the connection to adopt when set (the connection limits, which may
// refuse it) and, with cfg, makes it a TLS client connection and runs its
// handshake.
func dialStream(ctx context.Context, local netip.Addr, dest netip.AddrPort, cfg *tls.Config, adopt func(net.Conn) (net.Conn, error)) (net.Conn, error) {
	var nd net.Dialer
	if local.IsValid() {
		nd.LocalAddr = &net.TCPAddr{IP: local.AsSlice()}
	}
	raw, err := nd.DialContext(ctx, "tcp", dest.String())
	if err != nil {
		if cfg != nil {
			return nil, fmt.Errorf("dial TLS %s: %w", dest, err)
		}
		return nil, fmt.Errorf("dial TCP %s: %w", dest, err)
	}
	conn := raw
	if adopt != nil {
		if conn, err = adopt(raw); err != nil {
			raw.Close()
			return nil, err
		}
	}
	if cfg == nil {
		return conn, nil
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("TLS handshake with %s as %q: %w", dest, cfg.ServerName, err)
	}
	return tc, nil
}
