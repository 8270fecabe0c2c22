package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"

	gosip "github.com/emiago/sipgo/sip"
)

// Responses over TCP and TLS whose request's connection is gone (RFC 3261
// §18.2.2): the response goes on the connection the request came on while
// it is open; once the peer has closed it, the server opens a connection
// to the request's source IP (the Via's received) and the port of its Via
// sent-by (5060 for TCP, 5061 for TLS without one), and sends the response
// there. The dial is bounded by the side's dial timeout, counts against
// the listener's connection limits like an accepted connection, and goes
// only to a source the side trusts. The peer's ACK, BYE, ... on the new
// connection are read as on any other.

// replyConn is the connection a server transaction over TCP or TLS writes
// its responses on: the request's connection, then the one opened back to
// the peer when that is gone. A response written outside any transaction
// (Side.WriteResponse) goes the same way.
type replyConn struct {
	side    *Side
	network string // "tcp" or "tls"
	source  string // the request's source IP:port
	// via is the request, or a response to it: its top Via is the
	// request's, read only when a dial back is due.
	via gosip.Message

	mu       sync.Mutex
	cur      gosip.Connection // holds a reference; nil when gone already
	redialed bool
	failed   error // the dial back failed: later writes fail at once
}

// replyConnection is the connection the responses to req go out on.
func (s *Side) replyConnection(req *gosip.Request) (gosip.Connection, error) {
	conn, err := s.responseConn(req.Transport(), req.Source())
	if err != nil || !IsTCP(req) {
		return conn, err
	}
	return &replyConn{side: s, network: strings.ToLower(req.Transport()), source: req.Source(), via: req, cur: conn}, nil
}

// dialBackAddr is where a response goes when its request's connection is
// gone: the request's source IP and the sent-by port of its top Via (msg
// is the request or a response to it; the transport's default port
// without one), and the sent-by host. No address when the source is not
// an IP:port.
func dialBackAddr(source string, msg gosip.Message) (netip.AddrPort, string) {
	src, err := netip.ParseAddrPort(source)
	if err != nil {
		return netip.AddrPort{}, ""
	}
	port, host := 0, ""
	if via := msg.Via(); via != nil {
		port, host = via.Port, via.Host
	}
	if port <= 0 || port > 65535 {
		port = gosip.DefaultPort(msg.Transport())
	}
	if host == "" {
		host = src.Addr().Unmap().String()
	}
	return netip.AddrPortFrom(src.Addr().Unmap(), uint16(port)), strings.Trim(host, "[]")
}

// WriteMsg writes msg on the request's connection while it is open, else
// on one opened back to the peer.
func (c *replyConn) WriteMsg(msg gosip.Message) error {
	c.mu.Lock()
	cur, redialed, failed := c.cur, c.redialed, c.failed
	c.mu.Unlock()
	if failed != nil {
		return failed
	}
	if redialed || cur != nil && c.side.ConnectionOpen(c.source) {
		err := cur.WriteMsg(msg)
		if err == nil {
			return nil
		}
		// The peer closed it under us (or the connection back died):
		// once more, on a new connection.
		c.side.log.Debug().Err(err).Str("remote", c.source).Msg("response not written; opening a connection back to the peer")
	}
	nc, err := c.redial()
	if err != nil {
		return err
	}
	return nc.WriteMsg(msg)
}

// redial opens (or finds) the connection back to the peer and makes it
// the transaction's.
func (c *replyConn) redial() (gosip.Connection, error) {
	s := c.side
	back, name := dialBackAddr(c.source, c.via)
	nc, dialled, err := c.dialBack(back, name)
	if err != nil {
		err = fmt.Errorf("the connection of the request from %s is closed; none back to %s: %w", c.source, back, err)
		c.mu.Lock()
		c.failed = err
		c.mu.Unlock()
		s.stats.DialBackFailures.Add(1)
		if ok, dropped := s.limit.Allow(); ok {
			s.log.Warn().Err(err).Str("remote", back.String()).Str("transport", c.network).Int("suppressed", dropped).
				Msg("response not delivered")
		}
		return nil, err
	}
	if dialled {
		// Not one another response opened back to the same peer.
		s.stats.DialBacks.Add(1)
	}
	s.log.Debug().Str("remote", back.String()).Str("transport", c.network).Str("request_from", c.source).
		Msg("responses go over a new connection to the peer's Via address")
	nc = s.tapped(nc, c.network)
	c.mu.Lock()
	old := c.cur
	c.cur, c.redialed = nc, true
	c.mu.Unlock()
	if old != nil {
		_, _ = old.TryClose()
	}
	return nc, nil
}

// dialBack dials back, the peer's Via address (name: its sent-by host,
// for TLS), within the side's trust, limits and dial timeout, and returns
// the pooled connection with a reference.
func (c *replyConn) dialBack(back netip.AddrPort, name string) (_ gosip.Connection, dialled bool, _ error) {
	s := c.side
	if !back.IsValid() {
		return nil, false, errors.New("no address to dial")
	}
	if !s.trusted(back.String()) {
		return nil, false, errors.New("not a trusted address")
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.dial)
	defer cancel()
	dialled, err := s.stack.dialBack(ctx, c.network, back, name)
	if err != nil {
		return nil, dialled, err
	}
	conn, err := s.tpl.GetConnection(c.network, back.String())
	return conn, dialled, err
}

// dialBack makes sure a connection to dest over network ("tcp" or "tls")
// is in the pool, dialling it within the side's connection limits;
// serverName is the name a TLS peer's certificate is checked against
// (TLSConfig.Dial's settings for dest take precedence). dialled: a
// connection was dialled, not found open.
func (s *Stack) dialBack(ctx context.Context, network string, dest netip.AddrPort, serverName string) (dialled bool, _ error) {
	// The side's limits, whichever the transport: a connection back
	// takes a place as an accepted one does.
	lim := s.limits
	var cfg *tls.Config
	if network == "tls" {
		if cfg = s.tlsConfigFor(dest, serverName); cfg == nil {
			return false, errors.New("no TLS client settings")
		}
	}
	var adopt func(net.Conn) (net.Conn, error)
	if lim != nil {
		adopt = lim.adopt
	}
	err := s.connect(ctx, network, dest, func(ctx context.Context) (net.Conn, error) {
		if lim != nil {
			if err := lim.roomFor(dest); err != nil {
				return nil, err // not even dialled
			}
		}
		dialled = true
		// From the side's own IP: a peer that knows the server by its
		// address sees the connection come from it.
		return dialStream(ctx, s.addr.Addr(), dest, cfg, adopt)
	})
	return dialled, err
}

// LocalAddr is the local address of the connection in use.
func (c *replyConn) LocalAddr() net.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return nil
	}
	return c.cur.LocalAddr()
}

// Ref changes the references of the connection in use.
func (c *replyConn) Ref(i int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return 0
	}
	return c.cur.Ref(i)
}

// TryClose gives back the transaction's reference.
func (c *replyConn) TryClose() (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return 0, nil // the request's connection was gone, none opened back
	}
	return c.cur.TryClose()
}

// Close closes the connection in use.
func (c *replyConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return nil
	}
	return c.cur.Close()
}
