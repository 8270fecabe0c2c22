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

// TestStaleInviteOfAnsweredCall: a copy of an answered call's INVITE that
// arrives over UDP after the call has ended (BYE) and its server
// transaction is gone (64*T1 after our 2xx, RFC 6026's Timer L: 32 s with
// the RFC's T1, hence this binary) gets 481 with the call's To-tag, not a
// new call: the SBC gets no second INVITE, calls_total stays 1 and there
// is one record (r24-obs F5: the callee was rung again). The mediation
// package's TestStaleInviteOfFailedCall has the failed calls' copies.
func TestStaleInviteOfAnsweredCall(t *testing.T) {
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
	cfg.SIP.T1, cfg.SIP.T2 = t1, 4*t1
	cfg.Records.Path = filepath.Join(t.TempDir(), "calls.jsonl")
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
	// head is a request's line and headers up to To, whose tag is toTag.
	head := func(method, branch, toTag string) string {
		to := "<sip:+15550100@127.0.0.1>"
		if toTag != "" {
			to += ";tag=" + toTag
		}
		return fmt.Sprintf("%s sip:+15550100@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s\r\n"+
			"From: <sip:alice@127.0.0.1>;tag=stale\r\nTo: %s\r\nCall-ID: stale-answered-1\r\nMax-Forwards: 70\r\n",
			method, srv.EdgeAddr(), local, branch, to)
	}
	invite := head("INVITE", "z9hG4bKstale1", "") + fmt.Sprintf("CSeq: 1 INVITE\r\nContact: <sip:alice@%s>\r\n"+
		"Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", local, len(sdp), sdp)
	send := func(msg string) {
		t.Helper()
		if _, err := conn.WriteToUDP([]byte(msg), net.UDPAddrFromAddrPort(srv.EdgeAddr())); err != nil {
			t.Fatal(err)
		}
	}
	// final waits for a final response to method (provisionals and
	// other responses skipped); nil when none comes within wait.
	final := func(method gosip.RequestMethod, wait time.Duration) *gosip.Response {
		buf := make([]byte, 65535)
		_ = conn.SetReadDeadline(time.Now().Add(wait))
		for {
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				return nil
			}
			if m, err := gosip.ParseMessage(append([]byte(nil), buf[:n]...)); err == nil {
				if res, ok := m.(*gosip.Response); ok && res.StatusCode >= 200 && res.CSeq().MethodName == method {
					return res
				}
			}
		}
	}

	send(invite)
	ok := final(gosip.INVITE, 10*time.Second)
	if ok == nil || ok.StatusCode != 200 {
		t.Fatalf("INVITE answered %v, want 200", ok)
	}
	tag, _ := ok.To().Params.Get("tag")
	send(head("ACK", "z9hG4bKstale2", tag) + "CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n")
	send(head("BYE", "z9hG4bKstale3", tag) + "CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n")
	if res := final(gosip.BYE, 10*time.Second); res == nil || res.StatusCode != 200 {
		t.Fatalf("BYE answered %v, want 200", res)
	}
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")

	// The copy, until it is answered: its transaction absorbs it first.
	var again *gosip.Response
	for again == nil {
		if ctx.Err() != nil {
			t.Fatal("the copy of the INVITE was never answered")
		}
		send(invite)
		again = final(gosip.INVITE, 100*time.Millisecond)
	}
	if got, _ := again.To().Params.Get("tag"); again.StatusCode != 481 || got != tag {
		t.Fatalf("the copy got %d %s with To-tag %q, want 481 with the call's tag %q", again.StatusCode, again.Reason, got, tag)
	}
	for _, m := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"mediationserver_calls_total", []string{"direction", "outbound"}, 1},
		{"mediationserver_gateway_attempts_total", []string{"gateway", cfg.Gateways[0].DisplayName()}, 1},
		{"mediationserver_sip_stale_invites_total", []string{"side", "edge"}, 1},
	} {
		if v, err := mediationtest.Metric(srv, m.name, m.labels...); err != nil || v != m.want {
			t.Errorf("%s%v = %v (%v), want %v", m.name, m.labels, v, err, m.want)
		}
	}
	recs, err := os.ReadFile(cfg.Records.Path)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(recs, []byte("\n")); n != 1 {
		t.Errorf("%d records, want the call's one", n)
	}
}
