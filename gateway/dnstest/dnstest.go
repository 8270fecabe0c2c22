// Package dnstest runs a small authoritative DNS server on loopback for
// tests of name resolution: its records can be changed, and it can be made
// to fail, while it runs.
package dnstest

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Zone is a DNS server on 127.0.0.1 (UDP) answering from records set by
// the test.
type Zone struct {
	srv *dns.Server

	mu      sync.Mutex
	records []dns.RR
	fail    bool
	queries map[string]int
}

// Start runs a zone on 127.0.0.1:0 until the test ends.
func Start(t testing.TB) *Zone {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	z := &Zone{queries: map[string]int{}}
	started := make(chan struct{})
	z.srv = &dns.Server{PacketConn: pc, Handler: z, NotifyStartedFunc: func() { close(started) }}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = z.srv.ActivateAndServe()
	}()
	<-started
	t.Cleanup(func() {
		_ = z.srv.Shutdown()
		<-done
	})
	return z
}

// Addr is the server's IP:PORT.
func (z *Zone) Addr() string { return z.srv.PacketConn.LocalAddr().String() }

// Set replaces the records with rrs, in zone-file syntax
// ("_sip._udp.sbc.test. 1 IN SRV 0 1 5060 a.sbc.test."); it panics on a
// malformed one.
func (z *Zone) Set(rrs ...string) {
	var parsed []dns.RR
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			panic(err)
		}
		parsed = append(parsed, rr)
	}
	z.mu.Lock()
	z.records, z.fail = parsed, false
	z.mu.Unlock()
}

// Fail makes every answer SERVFAIL (until the next Set).
func (z *Zone) Fail() {
	z.mu.Lock()
	z.fail = true
	z.mu.Unlock()
}

// Queries is how many queries for name (any type, case-insensitive, with
// or without the final dot) the zone has had.
func (z *Zone) Queries(name string) int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.queries[dns.Fqdn(strings.ToLower(name))]
}

// ServeDNS implements dns.Handler.
func (z *Zone) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	res := new(dns.Msg)
	res.SetReply(req)
	res.Authoritative = true
	z.mu.Lock()
	if len(req.Question) == 1 {
		q := req.Question[0]
		z.queries[strings.ToLower(q.Name)]++
		found := false
		for _, rr := range z.records {
			if strings.EqualFold(rr.Header().Name, q.Name) {
				found = true
				if rr.Header().Rrtype == q.Qtype {
					res.Answer = append(res.Answer, dns.Copy(rr))
				}
			}
		}
		if !found {
			res.Rcode = dns.RcodeNameError
		}
	}
	if z.fail {
		res.Answer, res.Rcode = nil, dns.RcodeServerFailure
	}
	z.mu.Unlock()
	_ = w.WriteMsg(res)
}
