package mediation_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// panicHook counts the log events of a recovered panic: the read filter
// and the request handler recover them (the process must not die), so a
// fuzz input that makes one is found in the log.
type panicHook struct{ n atomic.Int64 }

func (h *panicHook) Run(_ *zerolog.Event, level zerolog.Level, msg string) {
	if level >= zerolog.ErrorLevel && strings.Contains(msg, "panicked") {
		h.n.Add(1)
	}
}

// FuzzSIPDatagram sends arbitrary datagrams to a running server's edge side
// over UDP (the path a hostile peer has: read filter, parser, trust,
// checks, classification, transactions, the call's event loop), each
// followed by an OPTIONS ping: the server must answer the ping (it is
// still reading, in order) and must not have recovered from a panic.
// Seeds: the RFC 4475/5118 torture messages and a real SfB INVITE.
func FuzzSIPDatagram(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "torture", "rfc4475", "*.dat"))
	v6, _ := filepath.Glob(filepath.Join("..", "testdata", "torture", "rfc5118", "*"))
	for _, file := range append(files, v6...) {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	body, err := os.ReadFile(filepath.Join("..", "testdata", "sdp", "sfb-bypass-offer.sdp"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("INVITE sip:+15550100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKfz1\r\n" +
		"From: <sip:alice@127.0.0.1>;tag=fz\r\nTo: <sip:+15550100@127.0.0.1>\r\nCall-ID: fz1\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:alice@127.0.0.1:5999>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + string(body)))

	hook := &panicHook{}
	// A gateway that never answers, and short timers: calls the inputs
	// start end within a second instead of holding slots.
	hole, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { hole.Close() })
	cfg := mediation.DefaultConfig()
	cfg.Edge.Listen, cfg.GatewayListen, cfg.HTTPListen, cfg.Admin.Listen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Gateways[0].Address = hole.LocalAddr().String()
	cfg.SIP.T1 = 10 * time.Millisecond
	cfg.SIP.T2 = 40 * time.Millisecond
	cfg.MaxCalls = 0
	srv := mediationtest.Serve(f, cfg, zerolog.Nop().Hook(hook))
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { conn.Close() })
	me := conn.LocalAddr().String()
	var seq atomic.Int64
	buf := make([]byte, 65536)

	f.Fuzz(func(t *testing.T, datagram []byte) {
		if _, err := conn.WriteToUDPAddrPort(datagram, srv.EdgeAddr()); err != nil {
			t.Skip("not sendable as one datagram")
		}
		n := seq.Add(1)
		ping := fmt.Sprintf("OPTIONS sip:ping@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKping%d\r\n"+
			"From: <sip:fuzz@%s>;tag=f%d\r\nTo: <sip:ping@%s>\r\nCall-ID: ping%d\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
			srv.EdgeAddr(), me, n, me, n, srv.EdgeAddr(), n)
		if _, err := conn.WriteToUDPAddrPort([]byte(ping), srv.EdgeAddr()); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("ping%d", n)
		deadline := time.Now().Add(10 * time.Second)
		for {
			_ = conn.SetReadDeadline(deadline)
			m, _, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("no answer to the ping after input %q: %v", datagram, err)
			}
			if got := string(buf[:m]); strings.HasPrefix(got, "SIP/2.0 200") && strings.Contains(got, "Call-ID: "+want+"\r\n") {
				break // other responses are the input's own
			}
		}
		if p := hook.n.Load(); p != 0 {
			t.Fatalf("input %q made the server recover from %d panic(s)", datagram, p)
		}
	})
}
