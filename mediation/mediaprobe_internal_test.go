package mediation

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestProbeMediaIP: an address of this host binds.
func TestProbeMediaIP(t *testing.T) {
	if err := probeMediaIP(netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Fatal(err)
	}
}

// TestMediaIPNotOnHost: a media.ip that cannot be bound stops the start
// with a ListenError naming media.ip (exit code 2 in serve), before the
// server is ready. Tests use loopback only, where every address binds, so
// the bind's failure is the kernel's answer for an address not on the
// host, given by a stand-in probe.
func TestMediaIPNotOnHost(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Edge.Listen, cfg.GatewayListen, cfg.HTTPListen, cfg.Admin.Listen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Media.IP = "127.0.0.1"
	s, err := NewServer(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	var probed netip.Addr
	s.mediaProbe = func(ip netip.Addr) error {
		probed = ip
		return &os.SyscallError{Syscall: "bind", Err: syscall.EADDRNOTAVAIL}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = s.Run(ctx)
	var le *ListenError
	if !errors.As(err, &le) || le.Listener != "media.ip" || le.Error() != "media.ip 127.0.0.1: cannot assign requested address" {
		t.Fatalf("Run: %v, want the ListenError of media.ip", err)
	}
	if probed != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("probed %v, want media.ip", probed)
	}
	select {
	case <-s.Ready():
		t.Error("ready although media.ip could not be bound")
	default:
	}
}
