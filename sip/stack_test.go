package sip

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

func TestStackStartsAndServes(t *testing.T) {
	s, err := NewStack(StackConfig{Name: "t", Listen: netip.MustParseAddrPort("127.0.0.1:0"), UserAgent: "t", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := s.Start(); err == nil {
		t.Error("a second Start did not fail")
	}
	if c := s.Contact("u", "tcp"); c.Address.Port != int(s.Addr().Port()) || !strings.Contains(c.Address.String(), "transport=tcp") {
		t.Errorf("Contact %s", c.Address.String())
	}
}

// TestStackStartReportsDeadListener: a listener that is not serving makes
// Start fail instead of only warning.
func TestStackStartReportsDeadListener(t *testing.T) {
	s, err := NewStack(StackConfig{Name: "t", Listen: netip.MustParseAddrPort("127.0.0.1:0"), UserAgent: "t", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.udpConn.Close() // the socket dies before sipgo can serve it
	if err := s.Start(); err == nil {
		t.Fatal("Start succeeded on a closed socket")
	}
}

func TestStackRefusesWildcard(t *testing.T) {
	if _, err := NewStack(StackConfig{Name: "t", Listen: netip.MustParseAddrPort("0.0.0.0:0")}); err == nil {
		t.Fatal("a wildcard listen address was accepted: it would go into Via and Contact")
	}
}

// TestStackClientDialsFromListenIP: a request sent over TCP through the
// stack's sipgo client (as the lab endpoints send theirs) leaves from the
// stack's listening IP, not from the kernel's pick for the destination
// (127.0.0.1 on loopback).
func TestStackClientDialsFromListenIP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.6:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := NewStack(StackConfig{Name: "t", Listen: netip.MustParseAddrPort("127.0.0.5:0"), UserAgent: "t", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := gosip.NewRequest(gosip.OPTIONS, gosip.Uri{Scheme: "sip", Host: "127.0.0.6", Port: ln.Addr().(*net.TCPAddr).Port})
	req.SetTransport("TCP")
	go func() {
		tx, err := s.Client("tcp").TransactionRequest(ctx, req)
		if err == nil {
			defer tx.Terminate()
			<-ctx.Done()
		}
	}()
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	conn, err := ln.Accept()
	if err != nil {
		t.Fatalf("no connection: %v", err)
	}
	defer conn.Close()
	if ip := conn.RemoteAddr().(*net.TCPAddr).IP.String(); ip != "127.0.0.5" {
		t.Errorf("connection from %s, want the stack's listening IP 127.0.0.5", conn.RemoteAddr())
	}
}
