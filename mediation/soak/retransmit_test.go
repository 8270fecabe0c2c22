package soak_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestRetransmittedInviteOutlivesTransaction: a caller's INVITE that
// arrives again over UDP after its server transaction is gone (here 64*T1
// = 640 ms after our 2xx, RFC 6026's Timer L; 32 s with the RFC's T1) is
// answered by the call with the final response it already sent, same
// To-tag, and makes no second call. While the transaction lives, sipgo
// absorbs the replay; this binary's short timers let the test reach the
// call's own handling of it, before and after the call has let its set-up
// messages go (mediation/settle.go).
func TestRetransmittedInviteOutlivesTransaction(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sbcAddr := mediationtest.FreeAddr(t)
	sbc, err := endpoint.StartSBC(ctx, endpoint.SBCConfig{Listen: sbcAddr.String(), Silent: true, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer sbc.Close()
	cfg := mediation.DefaultConfig()
	cfg.Edge.Listen, cfg.GatewayListen, cfg.HTTPListen, cfg.Admin.Listen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Gateways[0].Address = sbcAddr.String()
	// The server's T1 twice sipgo's: its transaction is gone 64*t1 after
	// our 2xx, and the call lets its set-up go (our 2xx with it) 64*T1
	// after the ACK, so there is a window for each way of answering.
	cfg.SIP.T1, cfg.SIP.T2 = 2*t1, 8*t1
	settle := 64 * cfg.SIP.T1
	srv := mediationtest.Serve(t, cfg, zerolog.Nop())

	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body, err := os.ReadFile(filepath.Join("..", "..", "testdata", "sdp", "sfb-bypass-offer.sdp"))
	if err != nil {
		t.Fatal(err)
	}
	sdp := strings.ReplaceAll(string(body), "\r\n", "\n")
	sdp = strings.ReplaceAll(strings.Join(loopbackOnly(strings.Split(sdp, "\n")), "\r\n"), "\n", "\r\n")
	local := conn.LocalAddr().String()
	head := fmt.Sprintf("sip:+15550100@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKreplay1\r\n"+
		"From: <sip:alice@127.0.0.1>;tag=replay\r\nTo: <sip:+15550100@127.0.0.1>\r\nCall-ID: replay-1\r\n", srv.EdgeAddr(), local)
	invite := "INVITE " + head + fmt.Sprintf("CSeq: 1 INVITE\r\nContact: <sip:alice@%s>\r\nMax-Forwards: 70\r\n"+
		"Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", local, len(sdp), sdp)
	send := func(msg string) {
		t.Helper()
		if _, err := conn.WriteToUDP([]byte(msg), net.UDPAddrFromAddrPort(srv.EdgeAddr())); err != nil {
			t.Fatal(err)
		}
	}
	// final waits for a final response to the INVITE (provisionals skipped);
	// nil when none comes within wait.
	final := func(wait time.Duration) *gosip.Response {
		buf := make([]byte, 65535)
		_ = conn.SetReadDeadline(time.Now().Add(wait))
		for {
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				return nil
			}
			if m, err := gosip.ParseMessage(append([]byte(nil), buf[:n]...)); err == nil {
				if res, ok := m.(*gosip.Response); ok && res.StatusCode >= 200 && res.CSeq().MethodName == gosip.INVITE {
					return res
				}
			}
		}
	}

	send(invite)
	first := final(10 * time.Second)
	if first == nil || first.StatusCode != 200 {
		t.Fatalf("INVITE answered %v, want 200", first)
	}
	tag, _ := first.To().Params.Get("tag")
	send("ACK " + strings.Replace(head, "<sip:+15550100@127.0.0.1>", "<sip:+15550100@127.0.0.1>;tag="+tag, 1) +
		"CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n")
	answeredAt := time.Now()

	// The replay, until the call answers it (once the transaction is gone).
	var again *gosip.Response
	for again == nil {
		if ctx.Err() != nil {
			t.Fatal("the replayed INVITE was never answered")
		}
		send(invite)
		again = final(100 * time.Millisecond)
	}
	if since := time.Since(answeredAt); since < 64*t1 {
		t.Errorf("the replay was answered %v after the 2xx, while its transaction (64*T1 = %v) still lived", since, 64*t1)
	} else if since >= settle {
		t.Fatalf("the first replay was answered %v after the ACK, after the call let its set-up go (%v): the stored 2xx went untested", since, settle)
	}
	if again.StatusCode != 200 {
		t.Fatalf("the replay got %d, want the call's 200", again.StatusCode)
	}
	if got, _ := again.To().Params.Get("tag"); got != tag {
		t.Errorf("the replay's 200 has To-tag %q, want the call's %q", got, tag)
	}
	// Once the call has let its set-up go, our 2xx with it, a replay (once
	// the transaction the last answered replay made is gone too) is
	// answered alike, the 2xx built again.
	for {
		if ctx.Err() != nil {
			t.Fatal("no replay was answered after the call let its set-up go")
		}
		send(invite)
		res := final(100 * time.Millisecond)
		if res == nil {
			continue
		}
		// The SDP the caller last got: the first 200's, there being no
		// re-INVITE.
		if got, _ := res.To().Params.Get("tag"); res.StatusCode != 200 || !bytes.Equal(res.Body(), first.Body()) || got != tag {
			t.Fatalf("a replay %v after the ACK got %d with To-tag %q and %d bytes of SDP, want the call's 200 with its SDP and tag %q",
				time.Since(answeredAt), res.StatusCode, got, len(res.Body()), tag)
		}
		if time.Since(answeredAt) > settle+32*t1 {
			break
		}
	}
	if v, _ := mediationtest.Metric(srv, "mediationserver_calls_total", "direction", "outbound"); v != 1 {
		t.Errorf("%v calls made, want 1", v)
	}
	if v, _ := mediationtest.Metric(srv, "mediationserver_gateway_attempts_total", "gateway", cfg.Gateways[0].DisplayName()); v != 1 {
		t.Errorf("%v INVITEs to the SBC, want 1", v)
	}
}

// loopbackOnly keeps the SDP's lines but moves every IPv4 address to
// 127.0.0.1 and drops IPv6 candidates: the call's media stays on loopback.
func loopbackOnly(lines []string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, "a=candidate:") && strings.Contains(l, ":") && strings.Count(l, ":") > 2 {
			continue
		}
		f := strings.Fields(l)
		for i, w := range f {
			if ip := net.ParseIP(w); ip != nil && ip.To4() != nil {
				f[i] = "127.0.0.1"
			}
		}
		if len(f) > 0 {
			out = append(out, strings.Join(f, " "))
		} else {
			out = append(out, l)
		}
	}
	return out
}
