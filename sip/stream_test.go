package sip

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

// streamSide is a side whose handler answers every request 200, with a
// count of the stream bytes it has finished handling: a test that waits for
// it before its next write knows that each write was a read of its own,
// whatever the kernel would have coalesced.
type streamSide struct {
	*Side
	notify chan struct{}

	mu      sync.Mutex
	handled map[string]int64 // by the peer's address
}

// handledFrom is how many bytes the side has handled from the peer at addr.
func (s *streamSide) handledFrom(addr string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.handled[addr]
}

func startStreamSide(t *testing.T, lim ConnLimits) *streamSide {
	t.Helper()
	cert, _ := selfSigned(t, "side.lab")
	rec := newRecorder()
	rec.answer = func(in *Incoming) { _ = in.Reply(200, "OK", "") }
	rec.notify = make(chan struct{}, 1<<16)
	s, err := NewSide(SideConfig{Name: "test", Listen: netip.MustParseAddrPort("127.0.0.1:0"), UserAgent: "test", Log: zerolog.Nop(),
		Handler: rec, Conn: lim, TLS: &TLSConfig{Listen: netip.MustParseAddrPort("127.0.0.1:0"),
			Server: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}}})
	if err != nil {
		t.Fatal(err)
	}
	ss := &streamSide{Side: s, notify: make(chan struct{}, 1), handled: map[string]int64{}}
	s.streamHandled = func(remote string, n int) {
		ss.mu.Lock()
		ss.handled[remote] += int64(n)
		ss.mu.Unlock()
		select {
		case ss.notify <- struct{}{}:
		default:
		}
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return ss
}

// segPeer writes a stream in segments, each read by the side on its own.
type segPeer struct {
	*raw
	side    *streamSide
	written int64
}

// dialSide connects to s over tr ("tcp" or "tls").
func dialSide(t *testing.T, s *streamSide, tr string) *segPeer {
	t.Helper()
	var c net.Conn
	var err error
	if tr == "tls" {
		c, err = tls.Dial("tcp", s.TLSAddr().String(), &tls.Config{InsecureSkipVerify: true})
	} else {
		c, err = net.Dial("tcp", s.Addr().String())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return &segPeer{raw: &raw{t: t, conn: c, rd: bufio.NewReader(c), tr: tr}, side: s}
}

// write sends seg and waits until the side has handled it.
func (p *segPeer) write(seg string) {
	p.t.Helper()
	if _, err := p.conn.Write([]byte(seg)); err != nil {
		p.t.Fatal(err)
	}
	p.written += int64(len(seg))
	deadline := time.After(5 * time.Second)
	for p.side.handledFrom(p.conn.LocalAddr().String()) < p.written {
		select {
		case <-p.side.notify:
		case <-deadline:
			p.t.Fatalf("the side handled %d bytes of %d written", p.side.handledFrom(p.conn.LocalAddr().String()), p.written)
		}
	}
}

// expect reads what the side sent back: "pong" (a CRLF) or a response,
// named by the branch of the request it answers.
func (p *segPeer) expect(want ...string) {
	p.t.Helper()
	_ = p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for _, w := range want {
		if w == "pong" {
			b := make([]byte, 2)
			if _, err := io.ReadFull(p.rd, b); err != nil || string(b) != "\r\n" {
				p.t.Fatalf("want a pong, got %q (%v)", b, err)
			}
			continue
		}
		res, ok := p.read().(*gosip.Response)
		if !ok {
			p.t.Fatalf("want the response to %s, got a request", w)
		}
		branch, _ := res.Via().Params.Get("branch")
		if res.StatusCode != 200 || branch != "z9hG4bK"+w {
			p.t.Fatalf("want 200 to %s, got %d to %s", w, res.StatusCode, branch)
		}
	}
}

// nothingMore checks that the side sent nothing else (no stray pong): a
// final OPTIONS must be the next thing answered.
func (p *segPeer) nothingMore(branch string) {
	p.t.Helper()
	p.write(expandStream(p.raw, request("OPTIONS", branch, "", 1)))
	p.expect(branch)
}

// expandStream fills a request template's %L and %T for r's connection.
func expandStream(r *raw, msg string) string {
	return strings.NewReplacer("%L", r.conn.LocalAddr().String(), "%T", strings.ToUpper(r.tr)).Replace(msg)
}

// withBody is an OPTIONS whose body holds CRLFCRLF, as a keep-alive would.
func withBody(branch string) string {
	body := "a\r\n\r\nb\r\n"
	return fmt.Sprintf("OPTIONS sip:b@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/%%T %%L;branch=z9hG4bK%s\r\nFrom: <sip:a@127.0.0.1>;tag=fa\r\n"+
		"To: <sip:b@127.0.0.1>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s",
		branch, branch, len(body), body)
}

// TestStreamFramingAnySplit: RFC 3261 §18.3 framing whatever the
// segmentation. A message with a body, a ping and a second message are
// written in two segments split at every byte, then one byte a segment,
// over TCP and TLS: each message is answered once, in order, the ping
// gets its pong, and nothing is lost or merged (a segment of only the
// final CRLF is not a keep-alive).
func TestStreamFramingAnySplit(t *testing.T) {
	s := startStreamSide(t, ConnLimits{})
	for _, tr := range []string{"tcp", "tls"} {
		t.Run(tr, func(t *testing.T) {
			p := dialSide(t, s, tr)
			for i := 1; ; i++ {
				a, b := fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i)
				data := expandStream(p.raw, withBody(a)+"\r\n\r\n"+request("OPTIONS", b, "", 1))
				if i >= len(data) {
					break
				}
				p.write(data[:i])
				p.write(data[i:])
				p.expect(a, "pong", b)
			}
			data := expandStream(p.raw, withBody("bytes-a")+"\r\n\r\n"+request("OPTIONS", "bytes-b", "", 1))
			for i := range len(data) {
				p.write(data[i : i+1])
			}
			p.expect("bytes-a", "pong", "bytes-b")
			p.nothingMore("last")
		})
	}
}

// TestStreamKeepAlive: RFC 5626 §3.5.1 between messages: a CRLFCRLF is a
// ping, answered with one CRLF however it is split or coalesced; a lone
// CRLF is a pong, ignored.
func TestStreamKeepAlive(t *testing.T) {
	s := startStreamSide(t, ConnLimits{})
	msg := func(p *segPeer, branch string) string { return expandStream(p.raw, request("OPTIONS", branch, "", 1)) }
	for _, tc := range []struct {
		name string
		segs func(p *segPeer) []string
		want []string
	}{
		{"ping", func(*segPeer) []string { return []string{"\r\n\r\n"} }, []string{"pong"}},
		{"ping split CRLF|CRLF", func(*segPeer) []string { return []string{"\r\n", "\r\n"} }, []string{"pong"}},
		{"ping split in four", func(*segPeer) []string { return []string{"\r", "\n", "\r", "\n"} }, []string{"pong"}},
		{"two pings in one segment", func(*segPeer) []string { return []string{"\r\n\r\n\r\n\r\n"} }, []string{"pong", "pong"}},
		{"ping then message", func(p *segPeer) []string { return []string{"\r\n\r\n" + msg(p, "m1")} }, []string{"pong", "m1"}},
		{"message then ping", func(p *segPeer) []string { return []string{msg(p, "m2") + "\r\n\r\n"} }, []string{"m2", "pong"}},
		{"pong then message", func(p *segPeer) []string { return []string{"\r\n" + msg(p, "m3")} }, []string{"m3"}},
		{"pong alone, then message", func(p *segPeer) []string { return []string{"\r\n", msg(p, "m4")} }, []string{"m4"}},
		{"message, pong, message", func(p *segPeer) []string { return []string{msg(p, "m5") + "\r\n" + msg(p, "m6")} }, []string{"m5", "m6"}},
	} {
		for _, tr := range []string{"tcp", "tls"} {
			t.Run(tr+"/"+tc.name, func(t *testing.T) {
				p := dialSide(t, s, tr)
				for _, seg := range tc.segs(p) {
					p.write(seg)
				}
				p.expect(tc.want...)
				p.nothingMore("after")
			})
		}
	}
}

// TestStreamMessageTimeout: MessageTimeout counts from a message's first
// byte, not from the last header line: a sender of one complete header
// line at a time, and one that stops after a complete line, are cut off;
// keep-alives between messages are not messages.
func TestStreamMessageTimeout(t *testing.T) {
	const timeout = 400 * time.Millisecond
	s := startStreamSide(t, ConnLimits{MessageTimeout: timeout, IdleTimeout: time.Minute})
	for _, tr := range []string{"tcp", "tls"} {
		t.Run(tr, func(t *testing.T) {
			slow0 := s.ConnStats().Slow.Load()
			trickler := dialSide(t, s, tr)
			lines := strings.SplitAfter(expandStream(trickler.raw, request("OPTIONS", "trickle", "", 1)), "\r\n")
			start := time.Now()
			tick := time.NewTicker(timeout / 4)
			defer tick.Stop()
			cut := false
			for _, l := range lines[:len(lines)-2] { // never the final CRLF
				if _, err := trickler.conn.Write([]byte(l)); err != nil {
					cut = true // closed under us: expected
					break
				}
				<-tick.C
			}
			if !cut && time.Since(start) < timeout {
				t.Fatalf("the header lines took %v, no longer than the timeout %v: the test proves nothing", time.Since(start), timeout)
			}
			trickler.closedByPeer(5*time.Second, "sender of one header line at a time")
			if took := time.Since(start); took < timeout {
				t.Fatalf("cut off after %v, before %v", took, timeout)
			}

			stalled := dialSide(t, s, tr)
			msg := expandStream(stalled.raw, request("OPTIONS", "stalled", "", 1))
			stalled.write(msg[:strings.Index(msg, "\r\n")+2]) // the start line, then silence
			stalled.closedByPeer(5*time.Second, "sender stalled after a complete line")
			if got := s.ConnStats().Slow.Load() - slow0; got != 2 {
				t.Fatalf("slow closes %d, want 2", got)
			}

			// Keep-alive bytes (a ping cut after its first CRLF) start no
			// message: the connection outlives the timeout and still serves.
			quiet := dialSide(t, s, tr)
			quiet.write("\r\n")
			wait := time.NewTimer(3 * timeout)
			<-wait.C
			quiet.write("\r\n")
			quiet.expect("pong")
			quiet.nothingMore("quiet")
		})
	}
}

// TestStreamConflictingLengthNotAwaited: a message whose Content-Length
// values differ, the last (which a parser frames by) larger than what
// follows (Content-Length: 0, then 9000), is refused with 400 and its
// connection closed as soon as its header section is in, however it is
// split: the body the last value announces is not waited for (there is no
// message timeout here to end the wait), and what follows is not read as
// its body. Two equal values are one length.
func TestStreamConflictingLengthNotAwaited(t *testing.T) {
	s := startStreamSide(t, ConnLimits{})
	conflicting := func(branch string, lengths ...string) string {
		var cl strings.Builder
		for _, l := range lengths {
			cl.WriteString(l + "\r\n")
		}
		return fmt.Sprintf("OPTIONS sip:b@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/%%T %%L;branch=z9hG4bK%s\r\nFrom: <sip:a@127.0.0.1>;tag=fa\r\n"+
			"To: <sip:b@127.0.0.1>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\n%sMax-Forwards: 70\r\n\r\n", branch, branch, cl.String())
	}
	for _, tr := range []string{"tcp", "tls"} {
		for _, tc := range []struct {
			name    string
			lengths []string
			split   func(msg string) []string
		}{
			{"one segment", []string{"Content-Length: 0", "Content-Length: 9000"}, func(m string) []string { return []string{m} }},
			{"compact form, a message behind", []string{"l: 0", "Content-Length:   9000"}, func(m string) []string { return []string{m + "OPTIONS sip:b@127.0.0.1 SIP/2.0\r\n"} }},
			{"split between the lengths", []string{"Content-Length: 0", "Content-Length: 9000"}, func(m string) []string {
				i := strings.Index(m, "Content-Length: 9000") + 10
				return []string{m[:i], m[i:]}
			}},
			{"final CRLF alone", []string{"Content-Length: 0", "Content-Length: 9000"}, func(m string) []string { return []string{m[:len(m)-2], m[len(m)-2:]} }},
			{"final LF alone", []string{"CONTENT-LENGTH: 0", "l: 9000"}, func(m string) []string { return []string{m[:len(m)-1], m[len(m)-1:]} }},
		} {
			t.Run(tr+"/"+tc.name, func(t *testing.T) {
				p := dialSide(t, s, tr)
				malformed := s.Stats().Malformed.Load()
				for _, seg := range tc.split(expandStream(p.raw, conflicting("cl", tc.lengths...))) {
					if _, err := p.conn.Write([]byte(seg)); err != nil {
						t.Fatal(err)
					}
				}
				_ = p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				res, ok := p.read().(*gosip.Response)
				if !ok || res.StatusCode != 400 || !strings.Contains(res.Reason, "Content-Length") {
					t.Fatalf("want 400 naming Content-Length, got %v", res)
				}
				p.closedByPeer(5*time.Second, "connection of a message with conflicting Content-Length")
				if got := s.Stats().Malformed.Load() - malformed; got != 1 {
					t.Errorf("malformed %d, want 1", got)
				}
			})
		}
		t.Run(tr+"/equal lengths", func(t *testing.T) {
			p := dialSide(t, s, tr)
			p.write(expandStream(p.raw, conflicting("same", "Content-Length: 0", "l: 0")))
			p.expect("same")
			p.nothingMore("after")
		})
	}
}
