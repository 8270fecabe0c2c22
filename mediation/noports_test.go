package mediation_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// holdPortRange binds UDP ports low..low+n-1 on 127.0.0.1 for the test, at
// some free low in 20000-29999; it returns the range as media.ports.
func holdPortRange(t *testing.T, n int) string {
	t.Helper()
	for base := 20000 + int(time.Now().UnixNano()%1000)*10; base < 30000; base += n {
		var held []*net.UDPConn
		for p := base; p < base+n; p++ {
			c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
			if err != nil {
				break
			}
			held = append(held, c)
		}
		if len(held) == n {
			t.Cleanup(func() {
				for _, c := range held {
					c.Close()
				}
			})
			return fmt.Sprintf("%d-%d", base, base+n-1)
		}
		for _, c := range held {
			c.Close()
		}
	}
	t.Fatal("no free port range")
	return ""
}

// TestNoMediaPortsLogged: anchored calls refused with 503 because no
// media port pair binds (held by another program) are logged at warn with
// the bind error, once for a burst of them (rate-limited).
func TestNoMediaPortsLogged(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	ports := holdPortRange(t, 4)
	logs := &syncBuffer{}
	lab := mediationtest.Start(t, mediationtest.Options{Log: zerolog.New(logs).Level(zerolog.InfoLevel),
		Configure: func(c *mediation.Config) { c.Media.Ports = ports }})
	client := startClient(t, ctx, "")
	for i := range 3 {
		rep, _ := client.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr()})
		if rep.Code != 503 {
			t.Fatalf("call %d: %d, want 503", i, rep.Code)
		}
	}
	mediationtest.WaitMetric(t, lab.Server, 3, "mediationserver_failed_calls_total", "direction", "outbound", "reason", "no_media_ports")
	var warns []string
	for _, l := range logs.lines() {
		if l["message"] == "no media port pair could be bound: anchored call refused with 503" {
			warns = append(warns, fmt.Sprint(l["level"], " ", l["error"]))
		}
	}
	if len(warns) != 1 || !strings.HasPrefix(warns[0], "warn ") || !strings.Contains(warns[0], "address already in use") {
		t.Fatalf("warnings %q; want one at warn with the bind error", warns)
	}
}
