package mediation_test

import (
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/capture"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
	"github.com/mediation-emulator/mediation/mediation/mediationtest/tools"
)

// TestHEPCapture: with capture.hep, a collector receives every SIP message
// of a call as HEPv3, with the capture id and the Call-ID as correlation
// id; tshark (with the HEPv3 dissector of testdata/hep) decodes the same
// messages, in the same order, as the server's trace.
func TestHEPCapture(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	tools.Tshark(t)
	collector, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer collector.Close()
	var mu sync.Mutex
	var got [][]byte
	go func() {
		buf := make([]byte, 65535)
		for {
			n, err := collector.Read(buf)
			if err != nil {
				return
			}
			mu.Lock()
			got = append(got, append([]byte(nil), buf[:n]...))
			mu.Unlock()
		}
	}()
	var logs syncBuffer
	lab, err := mediationtest.New(ctx, mediationtest.Options{Log: zerolog.New(&logs).Level(zerolog.DebugLevel),
		Configure: func(c *mediation.Config) {
			c.Capture.HEP, c.Capture.HEPCaptureID = collector.LocalAddr().String(), 2001
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	client := startClient(t, ctx, mediationtest.DefaultBypassID)
	if rep, err := client.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr(), Duration: 200 * time.Millisecond}); err != nil || rep.Code != 200 {
		t.Fatalf("call: %d %v", rep.Code, err)
	}
	mediationtest.WaitMetric(t, lab.Server, 0, "mediationserver_calls_current", "direction", "outbound")
	if err := lab.Close(); err != nil { // sends what is queued
		t.Fatal(err)
	}
	traced := tracedMessages(t, &logs)
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= len(traced) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("collector got %d HEP packets, want %d", n, len(traced))
		case <-time.After(wait):
		}
	}

	// The collector's datagrams into a pcap, as they arrived at port 9060.
	file := filepath.Join(t.TempDir(), "hep.pcap")
	p, err := capture.OpenPcap(file, 0)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	for _, d := range got {
		p.Write(capture.Packet{Time: time.Now(), Src: netip.MustParseAddrPort("127.0.0.1:40000"),
			Dst: netip.MustParseAddrPort("127.0.0.1:9060"), Payload: d})
	}
	mu.Unlock()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	rows := tools.TsharkFieldsWith(t, ctx, []string{"-X", "lua_script:" + filepath.Join("..", "testdata", "hep", "hep3.lua")},
		file, "hep3", "hep3.capture_id", "hep3.correlation_id", "hep3.src_ip", "hep3.src_port", "hep3.dst_ip", "hep3.dst_port",
		"sip.Request-Line", "sip.Status-Line", "sip.Call-ID")
	var decoded []string
	for _, r := range rows {
		for len(r) < 9 {
			r = append(r, "")
		}
		if r[0] != "2001" || r[1] == "" || r[1] != r[8] {
			t.Errorf("HEP packet with capture id %q, correlation id %q, Call-ID %q", r[0], r[1], r[8])
		}
		decoded = append(decoded, addrPort(t, r[2], r[3])+" > "+addrPort(t, r[4], r[5])+" "+r[6]+r[7])
	}
	if strings.Join(decoded, "\n") != strings.Join(traced, "\n") {
		t.Fatalf("HEP and trace differ\nHEP (%d):\n%s\ntrace (%d):\n%s", len(decoded), strings.Join(decoded, "\n"),
			len(traced), strings.Join(traced, "\n"))
	}
}
