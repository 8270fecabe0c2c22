package mediation

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestHTTPConnectionLimit holds httpMaxConns idle connections open and
// checks that one more is not served until one of them goes.
func TestHTTPConnectionLimit(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := newHTTPService("test", ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }),
		httpWriteTimeout, zerolog.Nop())
	served := make(chan error, 1)
	go func() { served <- h.serve() }()
	defer func() {
		h.srv.Close()
		if err := <-served; err != nil {
			t.Error(err)
		}
	}()
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range httpMaxConns {
		c, err := net.Dial("tcp", ln.Addr().String())
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
}
