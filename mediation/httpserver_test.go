package mediation

import (
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/sip"
)

// TestHTTPConnectionLimit holds httpMaxConns idle connections open, from
// as many IPs as their per-IP share needs, and checks that one more is not
// served until one of them goes.
func TestHTTPConnectionLimit(t *testing.T) {
	ln, refused := serveHTTPTest(t)
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := range httpMaxConns {
		c, err := dialHTTPFrom(fmt.Sprintf("127.0.0.%d", 2+i/httpMaxConnsPerIP), ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	client := &http.Client{Timeout: 300 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	if res, err := client.Get("http://" + ln.Addr().String() + "/"); err == nil {
		res.Body.Close()
		t.Fatalf("request %d served beyond the limit of %d connections", httpMaxConns+1, httpMaxConns)
	}
	held[0].Close()
	held = held[1:]
	client.Timeout = 10 * time.Second
	res, err := client.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatalf("request once a connection went: %v", err)
	}
	res.Body.Close()
	if n := refused.Load(); n != 0 {
		t.Errorf("%d connections refused for their IP, want none", n)
	}
}

// serveHTTPTest serves "ok" on a limited HTTP service on loopback until the
// test ends; refused counts the connections beyond an IP's share.
func serveHTTPTest(t *testing.T) (net.Listener, *atomic.Uint64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stats := new(sip.ConnStats)
	h := newHTTPService("test", ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }),
		httpWriteTimeout, stats, zerolog.Nop())
	served := make(chan error, 1)
	go func() { served <- h.serve() }()
	t.Cleanup(func() {
		h.srv.Close()
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
	return ln, &stats.Refused
}

func dialHTTPFrom(ip, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return d.Dial("tcp", addr)
}

// TestHTTPConnectionLimitPerIP: an IP holding httpMaxConnsPerIP idle
// keep-alive connections has its next one closed at once, counted, while
// another IP is served; a connection it closes gives its place back.
func TestHTTPConnectionLimitPerIP(t *testing.T) {
	ln, refused := serveHTTPTest(t)
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
