package sip

import (
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// sysctlInt reads an integer from /proc/sys.
func sysctlInt(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("no %s: %v", path, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStackUDPBuffer: a stack asked for UDP buffers gets them (Linux
// reports twice what it granted), past net.core.rmem_max where the process
// may (root, as in CI), else up to it; without the setting it keeps the
// system's default.
func TestStackUDPBuffer(t *testing.T) {
	const want = 3 << 20
	rmemMax := sysctlInt(t, "/proc/sys/net/core/rmem_max")
	rmemDefault := sysctlInt(t, "/proc/sys/net/core/rmem_default")
	for _, tt := range []struct {
		name string
		ask  int
	}{{"asked", want}, {"past the cap but under twice it", rmemMax + rmemMax/2}, {"default", 0}} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewStack(StackConfig{Name: "test", Listen: netip.MustParseAddrPort("127.0.0.1:0"), Log: zerolog.Nop(), UDPBuffer: tt.ask})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, err := udpBuffers(s.udpConn)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.ask == 0:
				if got.Read != rmemDefault {
					t.Fatalf("receive buffer %d without the setting, want the system's %d", got.Read, rmemDefault)
				}
			case os.Geteuid() == 0 || rmemMax >= tt.ask:
				// Linux reports twice what it granted: all of it, past the
				// cap by SO_RCVBUFFORCE where the process may.
				if got.Read < 2*tt.ask || got.Write < 2*tt.ask || got.short(tt.ask) {
					t.Fatalf("buffers %+v, want at least 2*%d each", got, tt.ask)
				}
			default:
				if got.Read < 2*rmemMax || !got.short(tt.ask) {
					t.Fatalf("receive buffer %d, want the cap 2*%d", got.Read, rmemMax)
				}
			}
		})
	}
}
