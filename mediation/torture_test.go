package mediation_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// viaLine matches a Via header line (long or compact form) of a raw message.
var viaLine = regexp.MustCompile(`(?mi)^(via|v)[ \t]*:[^\r\n]*`)

// callIDLine matches the value of a Call-ID header line of a raw message.
var callIDLine = regexp.MustCompile(`(?mi)^call-id[ \t]*:[ \t]*(\S+)`)

// TestTortureMessages sends the RFC 4475 and RFC 5118 torture messages
// (testdata/torture) to the edge side over UDP: the server must answer what
// it can, drop what it cannot parse, and stay up, and every call a torture
// INVITE started must end. Each Via is rewritten to
// the test's own socket so that every response stays on loopback; the SBC
// rejects every call, so no media is ever sent to the messages' addresses.
func TestTortureMessages(t *testing.T) {
	t.Parallel() // its unACKed 486s keep calls up for Timer H (32 s)
	ctx := testCtx(t, 120*time.Second)
	lab := mediationtest.Start(t, mediationtest.Options{SBC: endpoint.SBCConfig{Reject: 486}})
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	port := conn.LocalAddr().(*net.UDPAddr).Port
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "torture", "rfc4475", "*.dat"))
	v6, _ := filepath.Glob(filepath.Join("..", "testdata", "torture", "rfc5118", "*"))
	files = append(files, v6...)
	if len(files) < 60 {
		t.Fatalf("only %d torture messages found", len(files))
	}
	// Requests that RFC 4475 calls valid must get an answer.
	mustAnswer := map[string]bool{"wsinv.dat": true, "intmeth.dat": true, "esc01.dat": true, "lwsdisp.dat": true,
		"longreq.dat": true, "semiuri.dat": true, "mpart01.dat": true, "inv2543.dat": true}
	// Answers RFC 4475 names: 505 for an unknown version (§3.1.2.16);
	// 501 for an unknown method (RFC 3261 §8.2.1): intmeth's method is a
	// valid token but no method we know (§3.1.1.2), and mismatch02 gets
	// "501 Not Implemented" (§3.1.2.18); 400 for Content-Length values
	// that differ (§3.3.9).
	wantCode := map[string]int{"badvers.dat": 505, "intmeth.dat": 501, "mismatch02.dat": 501, "mcl01.dat": 400}
	for f := range wantCode {
		mustAnswer[f] = true
	}
	buf := make([]byte, 65536)
	for i, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		msg := viaLine.ReplaceAllFunc(raw, func([]byte) []byte {
			n++
			return fmt.Appendf(nil, "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-torture-%d-%d;rport", port, i, n)
		})
		if _, err := conn.WriteToUDP(msg, net.UDPAddrFromAddrPort(lab.Server.EdgeAddr())); err != nil {
			t.Fatal(err)
		}
		answered := false
		wait := 300 * time.Millisecond
		if mustAnswer[filepath.Base(f)] {
			wait = 3 * time.Second
		}
		conn.SetReadDeadline(time.Now().Add(wait))
		for !answered {
			n, _, err := conn.ReadFromUDP(buf)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			want, check := wantCode[filepath.Base(f)]
			if check && !bytes.Contains(buf[:n], callIDLine.FindSubmatch(raw)[1]) {
				continue // a late answer to an earlier message
			}
			answered = true
			if check && !bytes.HasPrefix(buf[:n], fmt.Appendf(nil, "SIP/2.0 %d ", want)) {
				t.Errorf("%s: answered %q, want SIP/2.0 %d", filepath.Base(f), bytes.SplitN(buf[:n], []byte("\r\n"), 2)[0], want)
			}
		}
		if mustAnswer[filepath.Base(f)] && !answered {
			t.Errorf("%s: no answer to a valid request", filepath.Base(f))
		}
		if ctx.Err() != nil {
			t.Fatal("deadline")
		}
	}
	// Still up: OPTIONS answered, health ok, and no call left behind.
	res, err := sipClient(t).Do(ctx, request(gosip.OPTIONS, lab.Server.EdgeAddr().String(), "udp", nil))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("OPTIONS after the torture: %v %v", res, err)
	}
	// The callers never ACK the relayed 486: each call ends with Timer H.
	if err := mediationtest.AwaitMetric(ctx, lab.Server, 0, "mediationserver_calls_current", "direction", "outbound"); err != nil {
		t.Fatal(err)
	}
	if v, _ := mediationtest.Metric(lab.Server, "mediationserver_media_bypass_calls_total", "direction", "outbound"); v != 0 {
		t.Fatalf("a torture message was bypassed")
	}
}
