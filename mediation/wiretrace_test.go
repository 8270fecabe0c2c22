package mediation_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
	"github.com/mediation-emulator/mediation/mediation/mediationtest/tools"
)

// TestTraceMatchesWire: the debug trace of a call holds every SIP message
// that crossed the server's sockets, as tshark saw them on loopback: the
// same messages between the same addresses, in the same order, sipgo's own
// and our ACK and BYE included, each under the call's own id.
func TestTraceMatchesWire(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			ctx := testCtx(t, 60*time.Second)
			var logs syncBuffer
			lab := mediationtest.Start(t, mediationtest.Options{GatewayTransport: transport, EdgeTransport: transport,
				Log: zerolog.New(&logs).Level(zerolog.DebugLevel)})
			// The server's ports, and the SBC's: a TCP connection the
			// server dials has an ephemeral port of ours.
			edge, gw, sbc := lab.Server.EdgeAddr().Port(), lab.Server.GatewayAddr().Port(), lab.SBC.Addr().Port()
			capture := tools.StartCapture(t, ctx, fmt.Sprintf("port %d or port %d or port %d", edge, gw, sbc))

			client := startClient(t, ctx, mediationtest.DefaultBypassID)
			rep, err := client.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr(), Duration: 200 * time.Millisecond, Transport: transport})
			if err != nil || rep.Code != 200 {
				t.Fatalf("call: %d %v", rep.Code, err)
			}
			if _, err := lab.SBC.NextCall(ctx); err != nil {
				t.Fatal(err)
			}
			mediationtest.WaitMetric(t, lab.Server, 0, "mediationserver_calls_current", "direction", "outbound")

			// The last messages may still be on their way: wait until the
			// capture has as many as the trace, and the trace no more.
			waitCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			var traced, wire []string
			for wait := 10 * time.Millisecond; waitCtx.Err() == nil; wait = min(2*wait, 200*time.Millisecond) {
				traced = tracedMessages(t, &logs)
				wire = capturedMessages(t, ctx, capture.File)
				if len(wire) == len(traced) && len(tracedMessages(t, &logs)) == len(traced) {
					break
				}
				select {
				case <-waitCtx.Done():
				case <-time.After(wait):
				}
			}
			if strings.Join(traced, "\n") != strings.Join(wire, "\n") {
				t.Fatalf("trace and wire differ\ntrace (%d):\n%s\nwire (%d):\n%s", len(traced), strings.Join(traced, "\n"),
					len(wire), strings.Join(wire, "\n"))
			}
			// The messages the hand-placed trace used to miss.
			for _, want := range []string{"ACK sip:", "BYE sip:", "SIP/2.0 200 OK"} {
				n := 0
				for _, m := range traced {
					if strings.Contains(m, want) {
						n++
					}
				}
				if n < 2 {
					t.Errorf("%q %d times in the trace, want one per leg at least:\n%s", want, n, strings.Join(traced, "\n"))
				}
			}
			// One call id for every message of the call, either leg.
			ids := map[any]bool{}
			for _, l := range logs.lines() {
				if l["sip"] != nil && l["dir"] != nil {
					ids[l["call"]] = true
				}
			}
			if len(ids) != 1 || ids[nil] {
				t.Errorf("trace lines under call ids %v, want one", ids)
			}
			// One bypass decision event, with its reason, under the same id.
			var decisions []map[string]any
			for _, l := range logs.lines() {
				if l["message"] == "media bypass decision" {
					decisions = append(decisions, l)
				}
			}
			if len(decisions) != 1 || decisions[0]["reason"] != "id_matched" || decisions[0]["bypass"] != true ||
				!ids[decisions[0]["call"]] || decisions[0]["gateway"] == nil {
				t.Errorf("bypass decision events %v, want one: bypass, id_matched, gateway, the call's id", decisions)
			}
		})
	}
}

// tracedMessages are the trace's messages as "src > dst first-line".
func tracedMessages(t *testing.T, logs *syncBuffer) []string {
	t.Helper()
	var out []string
	for _, l := range logs.lines() {
		msg, _ := l["sip"].(string)
		if msg == "" || l["dir"] == nil {
			continue
		}
		local, _ := l["local"].(string)
		remote, _ := l["remote"].(string)
		src, dst := remote, local
		if l["dir"] == "out" {
			src, dst = local, remote
		}
		first, _, _ := strings.Cut(msg, "\r\n")
		out = append(out, src+" > "+dst+" "+first)
	}
	return out
}

// capturedMessages are the SIP messages of a capture file in the same form.
func capturedMessages(t *testing.T, ctx context.Context, file string) []string {
	t.Helper()
	var out []string
	for _, f := range tools.TsharkFields(t, ctx, file, "sip", "ip.src", "udp.srcport", "tcp.srcport",
		"ip.dst", "udp.dstport", "tcp.dstport", "sip.Request-Line", "sip.Status-Line") {
		for len(f) < 8 {
			f = append(f, "")
		}
		src := addrPort(t, f[0], f[1]+f[2])
		dst := addrPort(t, f[3], f[4]+f[5])
		out = append(out, src+" > "+dst+" "+f[6]+f[7])
	}
	return out
}

func addrPort(t *testing.T, ip, port string) string {
	t.Helper()
	ap, err := netip.ParseAddrPort(ip + ":" + port)
	if err != nil {
		t.Fatalf("tshark address %q port %q: %v", ip, port, err)
	}
	return ap.String()
}
