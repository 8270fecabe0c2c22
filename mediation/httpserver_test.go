package mediation

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/sip"
)

// TestHTTPConnectionLimit fills the listener: the oldest connection, in
// a handler, and httpMaxConns-1 half-sent request headers from as many IPs
// as their per-IP share needs (a slowloris from 8 hosts). A client's GET
// from another IP is still served at once (not after the 10 s header
// timeout): the oldest header-incomplete connection is closed for it, not
// the busy one, which completes.
func TestHTTPConnectionLimit(t *testing.T) {
	ln, refused, evicted, release := serveHTTPTest(t)
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	busy, err := dialHTTPFrom("127.0.0.2", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_ = busy.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := busy.Write([]byte("GET /block HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < httpMaxConns; i++ {
		c, err := dialHTTPFrom(fmt.Sprintf("127.0.0.%d", 2+i/httpMaxConnsPerIP), ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	// All are accepted before the client comes (the listener counts them).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		l := ln.(*evictingListener)
		l.mu.Lock()
		n := len(l.conns)
		l.mu.Unlock()
		if n == httpMaxConns {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections accepted, want %d", n, httpMaxConns)
		}
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range 2 {
		res, err := client.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			t.Fatalf("request %d while %d connections are held: %v", i, httpMaxConns, err)
		}
		res.Body.Close()
	}
	if n := evicted.Load(); n < 1 { // the first client's connection may have made room for the second
		t.Errorf("evicted %d, want at least 1", n)
	}
	_ = held[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := held[0].Read(make([]byte, 1)); err == nil {
		t.Error("the oldest header-incomplete connection was answered, want it closed")
	}
	close(release)
	if res, err := http.ReadResponse(bufio.NewReader(busy), nil); err != nil || res.StatusCode != 200 {
		t.Fatalf("the request in a handler: %v %v", res, err)
	}
	if n := refused.Load(); n != 0 {
		t.Errorf("%d connections refused for their IP, want none", n)
	}
}

// serveHTTPTest serves "ok" on a limited HTTP service on loopback until the
// test ends (/block after release is closed); refused counts the
// connections beyond an IP's share, evicted those closed for room.
func serveHTTPTest(t *testing.T) (_ net.Listener, refused, evicted *atomic.Uint64, release chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stats, evicted, release := new(sip.ConnStats), new(atomic.Uint64), make(chan struct{})
	h := newHTTPService("test", ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		w.Write([]byte("ok"))
	}), httpWriteTimeout, stats, evicted, zerolog.Nop())
	served := make(chan error, 1)
	go func() { served <- h.serve() }()
	t.Cleanup(func() {
		h.srv.Close()
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
	return h.ln, &stats.Refused, evicted, release
}

func dialHTTPFrom(ip, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return d.Dial("tcp", addr)
}

// TestHTTPConnectionLimitPerIP: an IP holding httpMaxConnsPerIP idle
// keep-alive connections has its next one closed at once, counted, while
// another IP is served; a connection it closes gives its place back.
func TestHTTPConnectionLimitPerIP(t *testing.T) {
	ln, refused, _, _ := serveHTTPTest(t)
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range httpMaxConnsPerIP {
		c, err := dialHTTPFrom("127.0.0.66", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	get := func(ip string) error {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DialContext: d.DialContext}}
		res, err := client.Get("http://" + ln.Addr().String() + "/")
		if err == nil {
			res.Body.Close()
		}
		return err
	}
	if err := get("127.0.0.66"); err == nil {
		t.Fatalf("connection %d from one IP served, want it closed", httpMaxConnsPerIP+1)
	}
	if n := refused.Load(); n != 1 {
		t.Errorf("refused %d, want 1", n)
	}
	if err := get("127.0.0.67"); err != nil {
		t.Fatalf("another IP not served while one holds its share: %v", err)
	}
	held[0].Close()
	held = held[1:]
	for deadline := time.Now().Add(5 * time.Second); get("127.0.0.66") != nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the IP's closed connection did not give its place back")
		}
	}
}
