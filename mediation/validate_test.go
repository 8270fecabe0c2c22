package mediation_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// rawInvite is an INVITE as a hostile or broken peer writes it; edit
// changes one line.
func rawInvite(local, target string, edit func(string) string) string {
	lines := []string{
		"INVITE sip:+15550100@" + target + " SIP/2.0",
		"Via: SIP/2.0/%T " + local + ";branch=z9hG4bK" + gosip.GenerateBranchN(8),
		"Max-Forwards: 70",
		"From: <sip:+15550199@127.0.0.1>;tag=f" + gosip.GenerateTagN(6),
		"To: <sip:+15550100@" + target + ">",
		"Call-ID: " + gosip.GenerateTagN(16),
		"CSeq: 1 INVITE",
		"Contact: <sip:caller@" + local + ">",
		"Content-Length: 0",
	}
	var out []string
	for _, l := range lines {
		if edit != nil {
			l = edit(l)
		}
		if l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\r\n") + "\r\n\r\n"
}

// TestEveryInviteGetsAFinalResponse: INVITEs that the sides' parser lets
// through but that no dialog can be made of (found with the PROTOS c07-sip
// suite) get 400 with the problem in the reason phrase, over UDP and TCP,
// instead of a 100 and nothing more or a call that never ends.
func TestEveryInviteGetsAFinalResponse(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(string) string
		about string // in the reason phrase, lower case
	}{
		{"no Contact", drop("Contact:"), "contact"},
		{"From without tag", func(l string) string {
			if strings.HasPrefix(l, "From:") {
				return "From: <sip:+15550199@127.0.0.1>"
			}
			return l
		}, "tag"},
		{"CSeq method not INVITE", replace("CSeq: 1 INVITE", "CSeq: 1 OPTIONS"), "cseq"},
		{"Via port out of range", func(l string) string {
			if strings.HasPrefix(l, "Via:") {
				return "Via: SIP/2.0/%T 127.0.0.1:70000;branch=z9hG4bK" + gosip.GenerateBranchN(8)
			}
			return l
		}, "via"},
		// sipgo's parser alone refuses these, and the whole message with
		// them: dropped over UDP, connection closed over TCP (r25-loop F3).
		{"Max-Forwards negative", replace("Max-Forwards: 70", "Max-Forwards: -1"), "max-forwards"},
		{"Max-Forwards not a number", replace("Max-Forwards: 70", "Max-Forwards: abc"), "max-forwards"},
		{"Max-Forwards two numbers", replace("Max-Forwards: 70", "Max-Forwards: 2 3"), "max-forwards"},
	}
	lab := mediationtest.Start(t, mediationtest.Options{})
	target := lab.Server.EdgeAddr().String()
	for _, tr := range transports {
		for _, tt := range tests {
			t.Run(tr+"/"+tt.name, func(t *testing.T) {
				conn, err := net.Dial(tr, target)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
				local := conn.LocalAddr().String()
				msg := strings.ReplaceAll(rawInvite(local, target, tt.edit), "%T", strings.ToUpper(tr))
				if _, err := conn.Write([]byte(msg)); err != nil {
					t.Fatal(err)
				}
				rd := bufio.NewReader(conn)
				for {
					res := readResponse(t, conn, rd, tr)
					if res.StatusCode == 100 {
						continue
					}
					if res.StatusCode != 400 || !strings.Contains(strings.ToLower(res.Reason), tt.about) {
						t.Fatalf("got %d %q, want 400 naming %s", res.StatusCode, res.Reason, tt.about)
					}
					break
				}
			})
		}
	}
	mediationtest.WaitMetric(t, lab.Server, 0, "mediationserver_calls_current", "direction", "outbound")
}

func drop(prefix string) func(string) string {
	return func(l string) string {
		if strings.HasPrefix(l, prefix) {
			return ""
		}
		return l
	}
}

func replace(old, new string) func(string) string {
	return func(l string) string {
		if l == old {
			return new
		}
		return l
	}
}

// readResponse reads one SIP response from a raw UDP or TCP connection.
// For TCP it reads through rd, which keeps what follows the response.
func readResponse(t *testing.T, conn net.Conn, rd *bufio.Reader, transport string) *gosip.Response {
	t.Helper()
	var data []byte
	if transport == "udp" {
		buf := make([]byte, 65535)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no response: %v", err)
		}
		data = buf[:n]
	} else {
		r := rd
		var head strings.Builder
		length := 0
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("no response: %v", err)
			}
			head.WriteString(line)
			if strings.HasPrefix(strings.ToLower(line), "content-length:") {
				_, _ = fmt.Sscan(strings.TrimSpace(line[len("content-length:"):]), &length)
			}
			if line == "\r\n" {
				break
			}
		}
		body := make([]byte, length)
		if _, err := io.ReadFull(r, body); err != nil {
			t.Fatal(err)
		}
		data = append([]byte(head.String()), body...)
	}
	msg, err := gosip.ParseMessage(data)
	if err != nil {
		t.Fatalf("unparseable response %q: %v", data, err)
	}
	res, ok := msg.(*gosip.Response)
	if !ok {
		t.Fatalf("got a request:\n%s", msg)
	}
	return res
}

// TestFromWithWhiteSpaceEchoed: a From whose tag parameter has white
// space around its ";" and "=" (RFC 3261 §25.1 allows it; Acme-style
// header rewriting writes it) comes back in the response as a plain
// ";tag=", not as "; ;tag=x" with a nameless parameter that strict peers
// refuse (RFC 3261 §8.2.6.2: the response's From is the request's).
func TestFromWithWhiteSpaceEchoed(t *testing.T) {
	lab := mediationtest.Start(t, mediationtest.Options{})
	target := lab.Server.EdgeAddr().String()
	conn := dialRaw(t, "udp", target)
	msg := rawRequest(conn.LocalAddr().String(), target, "OPTIONS", "udp", func(l string) string {
		if strings.HasPrefix(l, "From:") {
			return "From: \"Acme Caller\" <sip:+15550199@127.0.0.1;user=phone> ; tag = acme1"
		}
		return l
	})
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	res := string(buf[:n])
	want := "From: \"Acme Caller\" <sip:+15550199@127.0.0.1;user=phone>;tag=acme1\r\n"
	if !strings.HasPrefix(res, "SIP/2.0 200") || !strings.Contains(res, want) {
		t.Fatalf("response:\n%s\nwant a 200 with %q", res, want)
	}
}

// TestNoNumberGetsAddressIncomplete: an INVITE whose Request-URI names no
// number (no user part, or nothing before the user's first ";") is
// answered 484 Address Incomplete by us on both sides, counted as failed
// with reason address_incomplete, and sent nowhere, instead of being
// relayed as a call to the far side's own URI (r25-loop F2). Requests that
// must not get 484 do not (r25-reviewC F7): a tel: URI with a number is
// relayed, an OPTIONS without user part is answered as OPTIONS are, an
// in-dialog request goes to its dialog (481 for none).
func TestNoNumberGetsAddressIncomplete(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
	for _, p := range []*peer{sbc, edge} {
		p.invites(func(pi *peerInvite) { pi.respond(486, nil) })
	}
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
		c.Edge.Peer, c.Edge.PeerTransport = edge.addr().String(), "udp"
	})
	sides := []struct {
		name, direction string
		target          string
		far             *peer // where a relayed INVITE would go
	}{
		{"gateway", "inbound", srv.GatewayAddr().String(), edge},
		{"edge", "outbound", srv.EdgeAddr().String(), sbc},
	}
	uris := []struct{ name, uri string }{
		{"no user", "sip:%A"},
		{"empty number before parameters", "sip:;x=1@%A"},
		{"a plus sign alone", "sip:+@%A"}, // r25-regr
	}
	// send writes one request, its Request-URI and To uri, over tr to
	// target, as method (in-dialog with a To tag), with body as SDP, and
	// returns its final response.
	send := func(t *testing.T, tr, target, method, uri string, inDialog bool, body []byte) *gosip.Response {
		t.Helper()
		conn, err := net.Dial(tr, target)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		uri = strings.ReplaceAll(uri, "%A", target)
		msg := rawInvite(conn.LocalAddr().String(), target, func(l string) string {
			switch {
			case strings.HasPrefix(l, "INVITE "):
				return method + " " + uri + " SIP/2.0"
			case strings.HasPrefix(l, "To:") && inDialog:
				return "To: <" + uri + ">;tag=t" + gosip.GenerateTagN(6)
			case strings.HasPrefix(l, "To:"):
				return "To: <" + uri + ">"
			case strings.HasPrefix(l, "CSeq:"):
				return "CSeq: 1 " + method
			case strings.HasPrefix(l, "Content-Length:") && body != nil:
				return fmt.Sprintf("Content-Type: application/sdp\r\nContent-Length: %d", len(body))
			}
			return l
		})
		msg = strings.ReplaceAll(msg, "%T", strings.ToUpper(tr)) + string(body)
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		rd := bufio.NewReader(conn)
		for {
			if res := readResponse(t, conn, rd, tr); res.StatusCode >= 200 {
				return res
			}
		}
	}
	for _, side := range sides {
		for _, tr := range transports {
			for _, u := range uris {
				t.Run(side.name+"/"+tr+"/"+u.name, func(t *testing.T) {
					res := send(t, tr, side.target, "INVITE", u.uri, false, nil)
					if res.StatusCode != 484 || res.Reason != "Address Incomplete" {
						t.Fatalf("got %d %q, want 484 Address Incomplete", res.StatusCode, res.Reason)
					}
				})
			}
		}
		mediationtest.WaitMetric(t, srv, float64(len(transports)*len(uris)), "mediationserver_failed_calls_total",
			"direction", side.direction, "reason", "address_incomplete")

		t.Run(side.name+"/OPTIONS without user", func(t *testing.T) {
			if res := send(t, "udp", side.target, "OPTIONS", "sip:%A", false, nil); res.StatusCode != 200 {
				t.Errorf("got %d %q, want 200 (answered as OPTIONS are)", res.StatusCode, res.Reason)
			}
		})
		t.Run(side.name+"/in-dialog re-INVITE without user", func(t *testing.T) {
			if res := send(t, "udp", side.target, "INVITE", "sip:%A", true, loopSDP(40000, "sendrecv", true, "PCMU")); res.StatusCode != 481 {
				t.Errorf("got %d %q, want 481 (no such dialog), not a 484", res.StatusCode, res.Reason)
			}
		})
		t.Run(side.name+"/tel URI with a number", func(t *testing.T) {
			number := "+1555010" + fmt.Sprint(len(side.name)%10)
			res := send(t, "udp", side.target, "INVITE", "tel:"+number, false, loopSDP(40000, "sendrecv", true, "PCMU"))
			if res.StatusCode != 486 {
				t.Fatalf("got %d %q, want the far end's 486: the call relayed", res.StatusCode, res.Reason)
			}
			// The 484s came before this INVITE: had one been relayed, the
			// far end would have got it first.
			first := side.far.wait(ctx, gosip.INVITE, 1)
			if user := first.To().Address.User; user != number {
				t.Errorf("the far end's first INVITE is to %q (%s), want the tel: call to %s: a 484'd INVITE was relayed", user, first.Recipient.String(), number)
			}
			if n := side.far.count(gosip.INVITE); n != 1 {
				t.Errorf("the far end got %d INVITEs (%s), want only the tel: call", n, side.far.methods())
			}
		})
	}
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "inbound")
}
