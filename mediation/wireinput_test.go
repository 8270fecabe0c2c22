package mediation_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// rawRequest is rawInvite turned into method (request line and CSeq) over
// transport, edited by edit after that.
func rawRequest(local, target, method, transport string, edit func(string) string) string {
	msg := rawInvite(local, target, func(l string) string {
		l = strings.Replace(l, "INVITE sip:", method+" sip:", 1)
		l = strings.Replace(l, "CSeq: 1 INVITE", "CSeq: 1 "+method, 1)
		if edit != nil {
			l = edit(l)
		}
		return l
	})
	return strings.ReplaceAll(msg, "%T", strings.ToUpper(transport))
}

// requestLine applies edit to the request line only.
func requestLine(edit func(string) string) func(string) string {
	return func(l string) string {
		if strings.HasSuffix(l, " SIP/2.0") && !strings.Contains(l, ": ") { // no header field
			return edit(l)
		}
		return l
	}
}

// dialRaw connects to target, closed when the test ends, with a deadline.
func dialRaw(t *testing.T, transport, target string) net.Conn {
	t.Helper()
	conn, err := net.Dial(transport, target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	return conn
}

// exchange sends msg on a new connection of transport to target and
// returns the first final response (100 Trying skipped).
func exchange(t *testing.T, transport, target string, msg func(local string) string) (code int, reason, version string) {
	t.Helper()
	conn := dialRaw(t, transport, target)
	if _, err := conn.Write([]byte(msg(conn.LocalAddr().String()))); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(conn)
	for {
		res := readResponse(t, conn, rd, transport)
		if res.StatusCode != 100 {
			return res.StatusCode, res.Reason, res.SipVersion
		}
	}
}

// TestVersionNotSupported: a request in any SIP version but 2.0 gets 505
// (RFC 3261 §21.5.15), itself in SIP/2.0, over UDP and TCP, and starts no
// call; it is counted with the malformed requests.
func TestVersionNotSupported(t *testing.T) {
	lab := mediationtest.Start(t, mediationtest.Options{})
	target := lab.Server.EdgeAddr().String()
	want := 0.0
	for _, tr := range transports {
		for _, method := range []string{"OPTIONS", "INVITE"} {
			for _, version := range []string{"SIP/3.0", "SIP/1.0"} {
				code, reason, got := exchange(t, tr, target, func(local string) string {
					return rawRequest(local, target, method, tr, requestLine(func(l string) string {
						return strings.Replace(l, " SIP/2.0", " "+version, 1)
					}))
				})
				if code != 505 || got != "SIP/2.0" {
					t.Errorf("%s %s %s: %s %d %s, want SIP/2.0 505", tr, method, version, got, code, reason)
				}
				want++
			}
		}
		// The version string is case-insensitive (RFC 3261 §7.1).
		code, _, _ := exchange(t, tr, target, func(local string) string {
			return rawRequest(local, target, "OPTIONS", tr, requestLine(func(l string) string {
				return strings.Replace(l, " SIP/2.0", " sip/2.0", 1)
			}))
		})
		if code != 200 {
			t.Errorf("%s: OPTIONS in sip/2.0 got %d, want 200", tr, code)
		}
	}
	mediationtest.WaitMetric(t, lab.Server, want, "mediationserver_sip_malformed_requests_total")
	if v, _ := mediationtest.Metric(lab.Server, "mediationserver_calls_total", "direction", "outbound"); v != 0 {
		t.Errorf("%v calls started", v)
	}
}

// TestMethodNotImplemented: a method the server does not know gets 501
// (RFC 3261 §8.2.1), one it knows but does not take out of a dialog still
// gets 405. Methods are case-sensitive (RFC 3261 §7.1): "options" and
// "invite" are unknown methods, whatever the CSeq says, and start nothing.
func TestMethodNotImplemented(t *testing.T) {
	lab := mediationtest.Start(t, mediationtest.Options{})
	target := lab.Server.EdgeAddr().String()
	tests := []struct {
		name, method string
		edit         func(string) string
		want         int
	}{
		{"unknown", "FOO", nil, 501},
		{"known, not allowed", "MESSAGE", nil, 405},
		{"lower-case, CSeq too", "options", nil, 501},
		{"lower-case INVITE, CSeq upper-case", "invite", replace("CSeq: 1 invite", "CSeq: 1 INVITE"), 501},
		{"mixed case", "Invite", replace("CSeq: 1 Invite", "CSeq: 1 INVITE"), 501},
	}
	for _, tr := range transports {
		for _, tt := range tests {
			code, reason, _ := exchange(t, tr, target, func(local string) string {
				return rawRequest(local, target, tt.method, tr, tt.edit)
			})
			if code != tt.want {
				t.Errorf("%s %s: %d %s, want %d", tr, tt.name, code, reason, tt.want)
			}
		}
	}

	// Over TCP the method token is found wherever the stream puts the
	// request: several requests in one write, the start line split
	// across writes, CRLF keep-alives between messages.
	conn := dialRaw(t, "tcp", target)
	local := conn.LocalAddr().String()
	invite := rawRequest(local, target, "invite", "tcp", replace("CSeq: 1 invite", "CSeq: 1 INVITE"))
	options := rawRequest(local, target, "OPTIONS", "tcp", nil)
	// Each write waits for the answers to what came before it, so the
	// server reads it apart from them.
	steps := []struct {
		write string
		want  []int // answers; -1 is the CRLF pong
	}{
		// The CRLFCRLF between the first two is a keep-alive ping: it gets
		// its pong between their answers (RFC 5626 §3.5.1).
		{options + "\r\n\r\n" + rawRequest(local, target, "options", "tcp", nil) + invite[:3], []int{200, -1, 501}},
		{invite[3:5], nil},
		{invite[5:] + "\r\n" + options[:4], []int{501}},
		{options[4:], []int{200}},
		{"\r\n\r\n", []int{-1}},
		{rawRequest(local, target, "Options", "tcp", replace("CSeq: 1 Options", "CSeq: 1 OPTIONS")), []int{501}},
	}
	rd := bufio.NewReader(conn)
	for i, step := range steps {
		if _, err := conn.Write([]byte(step.write)); err != nil {
			t.Fatal(err)
		}
		for _, want := range step.want {
			got := -1
			if line, err := rd.Peek(2); err != nil || string(line) != "\r\n" {
				got = readResponse(t, conn, rd, "tcp").StatusCode
			} else {
				_, _ = rd.Discard(2)
			}
			if got != want {
				t.Errorf("tcp step %d: got %d, want %d", i, got, want)
			}
		}
	}
	if v, _ := mediationtest.Metric(lab.Server, "mediationserver_calls_total", "direction", "outbound"); v != 0 {
		t.Errorf("%v calls started", v)
	}
}

// TestConflictingContentLength: two Content-Length values that differ
// (RFC 3261 §7.3.1, RFC 4475 §3.3.9) get 400. Over TCP the message that
// followed, framed by the last value, is never handled: the connection is
// closed after the 400.
func TestConflictingContentLength(t *testing.T) {
	lab := mediationtest.Start(t, mediationtest.Options{})
	target := lab.Server.EdgeAddr().String()

	// UDP: the datagram is the message; the last value (5) fits its body.
	code, reason, _ := exchange(t, "udp", target, func(local string) string {
		return rawRequest(local, target, "OPTIONS", "udp", replace("Content-Length: 0", "Content-Length: 0\r\nl: 5")) + "hello"
	})
	if code != 400 {
		t.Errorf("udp: %d %s, want 400", code, reason)
	}

	// TCP: the first value covers the inner request, the last says none.
	conn := dialRaw(t, "tcp", target)
	local := conn.LocalAddr().String()
	inner := rawRequest(local, target, "OPTIONS", "tcp", nil)
	outer := rawRequest(local, target, "OPTIONS", "tcp", replace("Content-Length: 0", fmt.Sprintf("Content-Length: %d\r\nContent-Length: 0", len(inner))))
	if _, err := conn.Write([]byte(outer + inner)); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(conn)
	if res := readResponse(t, conn, rd, "tcp"); res.StatusCode != 400 {
		t.Fatalf("tcp: %d %s, want 400", res.StatusCode, res.Reason)
	}
	// Then the end of the connection, and no answer to the inner OPTIONS.
	rest, err := io.ReadAll(rd)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("tcp: the connection stayed open")
	}
	if len(rest) > 0 {
		t.Errorf("tcp: more after the 400: %q", rest)
	}
	mediationtest.WaitMetric(t, lab.Server, 2, "mediationserver_sip_malformed_requests_total")
	// The server takes new connections as before.
	if code, _, _ := exchange(t, "tcp", target, func(local string) string { return rawRequest(local, target, "OPTIONS", "tcp", nil) }); code != 200 {
		t.Errorf("OPTIONS on a new connection: %d", code)
	}
}

// TestUnparseableCounted: datagrams sipgo cannot parse are counted in
// mediationserver_sip_unparseable_messages_total of their side.
func TestUnparseableCounted(t *testing.T) {
	lab := mediationtest.Start(t, mediationtest.Options{})
	target := lab.Server.EdgeAddr().String()
	conn, err := net.Dial("udp", target)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// CRLF keep-alives first: not SIP, but not errors either.
	for _, ka := range []string{"\r\n\r\n", "\r\n"} {
		if _, err := conn.Write([]byte(ka)); err != nil {
			t.Fatal(err)
		}
	}
	for _, cl := range []string{"abc", "-5", "abc"} {
		msg := rawRequest(conn.LocalAddr().String(), target, "OPTIONS", "udp", replace("Content-Length: 0", "Content-Length: "+cl))
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Write([]byte("not SIP at all\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	// Read in order by the side's one reader: once an OPTIONS sent last
	// is answered, all of the above has been counted, and 4 leaves the
	// keep-alives out.
	if _, err := conn.Write([]byte(rawRequest(conn.LocalAddr().String(), target, "OPTIONS", "udp", nil))); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Read(make([]byte, 65535)); err != nil {
		t.Fatalf("no answer to the OPTIONS: %v", err)
	}
	mediationtest.WaitMetric(t, lab.Server, 4, "mediationserver_sip_unparseable_messages_total", "side", "edge")
	if v, _ := mediationtest.Metric(lab.Server, "mediationserver_sip_unparseable_messages_total", "side", "gateway"); v != 0 {
		t.Errorf("gateway side counted %v", v)
	}
}

// TestTCPResetsCountedNotLogged: peers that reset their connections in the
// middle of a message are counted in mediationserver_tcp_read_errors_total;
// sipgo's error line for each is logged as a sample, at info, one a second
// at most, with the number suppressed.
func TestTCPResetsCountedNotLogged(t *testing.T) {
	const resets = 40
	var logs syncBuffer
	lab := mediationtest.Start(t, mediationtest.Options{Log: zerolog.New(&logs).Level(zerolog.InfoLevel)})
	target := lab.Server.EdgeAddr().String()
	for range resets {
		conn, err := net.Dial("tcp", target)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write([]byte("OPTIONS sip:x SIP/2.0\r\n")); err != nil {
			t.Fatal(err)
		}
		_ = conn.(*net.TCPConn).SetLinger(0) // close sends RST
		conn.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := mediationtest.AwaitMetric(ctx, lab.Server, resets, "mediationserver_tcp_read_errors_total", "side", "edge"); err != nil {
		t.Fatal(err)
	}
	var sampled, suppressed int
	for _, l := range logs.lines() {
		if l["message"] != "Read error" {
			continue
		}
		sampled++
		if l["level"] != "info" {
			t.Errorf("logged at %v", l["level"])
		}
		n, _ := l["suppressed"].(float64)
		suppressed += int(n)
	}
	// One a second: the resets above take well under the 20 s allowed.
	if sampled == 0 || sampled > 21 || sampled+suppressed > resets {
		t.Errorf("%d of %d read errors logged, %d said suppressed", sampled, resets, suppressed)
	}
}
