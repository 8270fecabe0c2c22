package mediation_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestOversizedInput: hostile sizes get an answer where one is possible
// and never hold the server: an INVITE with 500 Via headers and one with
// 1,000 m-lines (over TCP, too big for UDP) are answered; a 64 KB datagram
// is dropped; a TCP message announcing a 100 MB body is cut off by
// sip.tcp.message_timeout. After each, the server still answers OPTIONS.
func TestOversizedInput(t *testing.T) {
	lab := mediationtest.Start(t, mediationtest.Options{Configure: func(c *mediation.Config) {
		c.SIP.TCP.MessageTimeout = 500 * time.Millisecond
	}})
	edge := lab.Server.EdgeAddr().String()
	alive := func(what string) {
		t.Helper()
		conn, err := net.Dial("udp", edge)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write([]byte(strings.Replace(rawInvite(conn.LocalAddr().String(), edge, func(l string) string {
			l = strings.Replace(l, "INVITE sip:", "OPTIONS sip:", 1)
			return strings.Replace(strings.Replace(l, "CSeq: 1 INVITE", "CSeq: 1 OPTIONS", 1), "%T", "UDP", 1)
		}), "%T", "UDP", -1))); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if res := readResponse(t, conn, nil, "udp"); res.StatusCode != 200 {
			t.Fatalf("after %s: OPTIONS got %d", what, res.StatusCode)
		}
	}
	tcpInvite := func(edit func(string) string, body string) (*bufio.Reader, net.Conn) {
		t.Helper()
		conn, err := net.Dial("tcp", edge)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		msg := rawInvite(conn.LocalAddr().String(), edge, edit)
		msg = strings.ReplaceAll(msg, "%T", "TCP")
		if body != "" {
			msg = strings.Replace(msg, "Content-Length: 0\r\n", fmt.Sprintf("Content-Type: application/sdp\r\nContent-Length: %d\r\n", len(body)), 1) + body
		}
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		return bufio.NewReader(conn), conn
	}
	final := func(rd *bufio.Reader, conn net.Conn) int {
		t.Helper()
		for {
			res := readResponse(t, conn, rd, "tcp")
			if res.StatusCode >= 200 {
				return res.StatusCode
			}
		}
	}

	// 500 Via headers: a legal, long path. The call goes to the SBC and is answered.
	vias := func(l string) string {
		if strings.HasPrefix(l, "Via: ") {
			var b strings.Builder
			b.WriteString(l)
			for i := range 499 {
				fmt.Fprintf(&b, "\r\nVia: SIP/2.0/TCP 192.0.2.%d:5060;branch=z9hG4bKhop%d", i%250+1, i)
			}
			return b.String()
		}
		return l
	}
	rd, conn := tcpInvite(vias, string(fixtureBody(t, "sbc-offer-pcma-pcmu.sdp")))
	if code := final(rd, conn); code != 200 {
		t.Fatalf("INVITE with 500 Vias: %d, want 200", code)
	}
	alive("500 Vias")

	// 1,000 m-lines: one audio line among 999 video ones; the answer keeps
	// every m-line (RFC 3264 §6), so it is 200 or, if the server refuses
	// the size, a 4xx/5xx, never silence.
	sdp := string(fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
	var many strings.Builder
	many.WriteString(sdp)
	for i := range 999 {
		fmt.Fprintf(&many, "m=video %d RTP/AVP 31\r\n", 40000+2*i)
	}
	rd, conn = tcpInvite(nil, many.String())
	if code := final(rd, conn); code != 200 && (code < 400 || code > 599) {
		t.Fatalf("INVITE with 1,000 m-lines: %d", code)
	}
	alive("1,000 m-lines")

	// A 64 KB datagram: larger than sipgo reads (32,768 bytes).
	big, err := net.Dial("udp", edge)
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	_, _ = big.Write([]byte("INVITE sip:x@" + edge + " SIP/2.0\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("a", 1000)+"\r\n", 64)))
	alive("a 64 KB datagram")

	// 100 MB announced over TCP, a few bytes sent: cut off, not waited for.
	rd, conn = tcpInvite(func(l string) string {
		if l == "Content-Length: 0" {
			return "Content-Type: application/sdp\r\nContent-Length: 100000000"
		}
		return l
	}, "")
	_, _ = conn.Write([]byte("v=0\r\n"))
	start := time.Now()
	buf := make([]byte, 4096)
	for {
		if _, err := rd.Read(buf); err != nil {
			break // closed by the server (or our deadline: checked below)
		}
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("a 100 MB Content-Length held its connection for %v", took)
	}
	alive("a 100 MB Content-Length")
}
