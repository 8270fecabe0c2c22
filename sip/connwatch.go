package sip

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

// Knowing when a TCP or TLS connection dies. sipgo ends the read loop of a
// connection whose read fails (reset, EOF, a close) and tells only its own
// transaction layer, whose transactions a Side does not use (dispatch.go);
// its client transactions then wait for Timer B or F, although over a
// reliable transport nothing can come back on that connection any more.
// So every stream connection handed to sipgo is wrapped here, where the
// stack gets it: accepted ones by the listeners Start serves, the ones the
// stack dials by connect (dialer.go). The wrapper is the net.Conn inside
// sipgo's TCPConnection, so a transaction's connection leads to it
// (watchOf).

// watchedConn is a stream connection that says when it has ended: its
// first failed read (the peer's reset or close, or our own close under
// the reader) or its Close.
type watchedConn struct {
	net.Conn
	dead chan struct{}
	once sync.Once
	err  error // why it ended; written before dead is closed
	// closed: it ended in order, the peer's close (EOF) or ours, not a
	// reset or a read error; written before dead is closed.
	closed bool
	// remote and local are the connection's addresses as strings, made
	// once (carried compares them with every response of an INVITE).
	remote, local string
	// accepted: the peer opened the connection, to one of our listeners
	// (its port is an ephemeral one, not one it listens on); else we
	// dialled it (Dialog.takesFlow).
	accepted bool
	// write bounds each write (Write); wmu has the writes go one at a
	// time under it.
	write writeLimit
	wmu   sync.Mutex
}

// writeLimit is how long a write to a stream connection may take
// (ConnLimits.WriteTimeout; 0: no bound), and where the connections
// closed for it are counted (nil: nowhere).
type writeLimit struct {
	timeout  time.Duration
	timeouts *atomic.Uint64
}

func watchConn(c net.Conn, write writeLimit) *watchedConn {
	return &watchedConn{Conn: c, dead: make(chan struct{}), remote: c.RemoteAddr().String(), local: c.LocalAddr().String(),
		write: write}
}

// errWriteTimeout ends a connection we close because a write to it did
// not finish within the write timeout: the peer stopped reading (a hung
// process whose kernel still holds the connection, a path that drops
// everything) and our send buffer is full.
var errWriteTimeout = errors.New("closed by us: a write did not finish within sip.tcp.write_timeout (the peer reads nothing)")

// Write implements net.Conn: each write (sipgo's of a whole message; the
// wrapper is the tls.Conn of a TLS connection) has write.timeout to
// finish. One that runs out has left part of a message on the stream,
// which nothing can follow: the connection is closed, ended by
// errWriteTimeout (no orderly close), so that the transactions on it fail
// at once as transport errors (lostConnection: failover, 503) and sipgo's
// pool lets it go. Without a deadline, a peer that stopped reading held
// every later write, and the calls behind it, for good.
//
// The writes go one at a time (wmu; sipgo takes no lock of its own), each
// setting the deadline once it has the connection: the deadline is the
// connection's, and a writer setting it while another's write waited in
// the kernel pushed that one's back, so that under steady traffic a
// stalled connection was never closed (r27-review3 F1). The writers queued
// behind one that timed out fail at once on the closed connection.
//
// (The deadline is ours, not sipgo's TransportTCP.WriteTimeout: a
// transport of our own there would log through sipgo's process-wide
// logger, not the side's, which counts the read errors.)
func (c *watchedConn) Write(b []byte) (int, error) {
	if c.write.timeout <= 0 {
		return c.Conn.Write(b)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.write.timeout)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(b)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.end(errWriteTimeout)
		if c.write.timeouts != nil {
			c.write.timeouts.Add(1)
		}
		_ = c.Conn.Close()
	}
	return n, err
}

// Read implements net.Conn. sipgo's reader is the only caller; any error
// ends its read loop (and it then closes the connection), so any error is
// the end.
func (c *watchedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil {
		c.end(err)
	}
	return n, err
}

// Close implements net.Conn.
func (c *watchedConn) Close() error {
	c.end(net.ErrClosed)
	return c.Conn.Close()
}

func (c *watchedConn) end(err error) {
	c.once.Do(func() {
		c.closed = errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)
		if errors.Is(err, io.EOF) {
			err = errors.New("closed by the peer")
		}
		c.err = err
		close(c.dead)
	})
}

// Dead is closed once the connection has ended.
func (c *watchedConn) Dead() <-chan struct{} { return c.dead }

// orderly reports whether the connection has ended in order: closed by
// the peer (EOF) or by us, not reset and no read error.
func (c *watchedConn) orderly() bool {
	select {
	case <-c.dead:
		return c.closed
	default:
		return false
	}
}

// Err says why the connection ended; nil while it has not.
func (c *watchedConn) Err() error {
	select {
	case <-c.dead:
		return c.err
	default:
		return nil
	}
}

// carried reports whether a message read from remote at local came over
// this connection (and not over another one from the same peer).
func (c *watchedConn) carried(remote string, local net.Addr) bool {
	return remote == c.remote && addrString(local) == c.local
}

// errUnreadable ends a connection we close because the peer's stream
// cannot be read as SIP: no orderly close, so an INVITE on it fails at
// once whatever it has heard (lostConnection).
var errUnreadable = errors.New("closed by us: the peer's stream cannot be read as SIP")

// closeUnreadable closes c, a stream connection whose peer's bytes cannot
// be read as SIP, as no orderly close: its watched connection ends by
// errUnreadable first.
func closeUnreadable(c gosip.Connection) {
	if w := watchOf(c); w != nil {
		w.end(errUnreadable)
	}
	_ = c.Close()
	_, _ = c.TryClose()
}

// watchListener wraps every connection ln accepts.
type watchListener struct {
	net.Listener
	write writeLimit
}

// Accept implements net.Listener.
func (l watchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	w := watchConn(c, l.write)
	w.accepted = true
	return w, nil
}

// watchOf is the watched connection under a sipgo connection a side
// writes on (a tapped one too); nil for UDP, or a connection sipgo dialled
// itself (a destination by host name).
func watchOf(c gosip.Connection) *watchedConn {
	for {
		switch x := c.(type) {
		case tapConnection:
			c = x.Connection
		case *gosip.TCPConnection:
			w, _ := x.Conn.(*watchedConn)
			return w
		default:
			return nil
		}
	}
}
