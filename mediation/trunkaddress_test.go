package mediation_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestTrunkAddressWarnings: a trunk with an earlier trunk's address can
// never own an inbound call (the first wins), so serve --validate and the
// start warn, naming both trunks; the config stays valid, since such a
// trunk may still route outbound numbers (r23 L1).
func TestTrunkAddressWarnings(t *testing.T) {
	for _, tt := range []struct {
		name  string
		addrs []string
		want  []string // the start of each warning
	}{
		{"distinct", []string{"127.0.0.1:5060", "127.0.0.1:5062", "127.0.0.2:5060", "sbc.test", "sbc.test:5060"}, nil},
		{"same IP:PORT", []string{"127.0.0.1:5060", "127.0.0.1:5062", "127.0.0.1:5060"},
			[]string{`gateways[2] "t2" has the address of gateways[0] "t0" (127.0.0.1:5060): inbound calls from it belong to "t0"`}},
		{"same IPv6, written otherwise", []string{"[::1]:5060", "[0:0::1]:5060"},
			[]string{`gateways[1] "t1" has the address of gateways[0] "t0" ([0:0::1]:5060)`}},
		{"same host name", []string{"SBC.test:5060", "sbc.test.:5060", "sbc.test:5060"},
			[]string{`gateways[1] "t1" has the address of gateways[0] "t0"`, `gateways[2] "t2" has the address of gateways[0] "t0"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := labConfig(netip.MustParseAddrPort("127.0.0.1:5060"), "udp")
			cfg.Gateways = nil
			if strings.HasPrefix(tt.addrs[0], "[") {
				// IPv6 trunks need an IPv6 gateway side.
				cfg.GatewayListen = "[::1]:0"
			}
			for i, a := range tt.addrs {
				cfg.Gateways = append(cfg.Gateways, mediation.GatewayConfig{Name: fmt.Sprintf("t%d", i), Address: a})
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Validate: %v; a shared address is a warning, not an error", err)
			}
			got := cfg.TrunkAddressWarnings()
			if len(got) != len(tt.want) {
				t.Fatalf("TrunkAddressWarnings() = %q; want %d warnings", got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("warning %d = %q; want it to start %q", i, got[i], w)
				}
			}
		})
	}
	t.Run("logged at start", func(t *testing.T) {
		cfg := labConfig(netip.MustParseAddrPort("127.0.0.1:5060"), "udp")
		cfg.Gateways = append(cfg.Gateways, mediation.GatewayConfig{Name: "outbound-only", Address: cfg.Gateways[0].Address, Numbers: []string{"+44"}})
		logs := new(syncBuffer)
		mediationtest.Serve(t, cfg, zerolog.New(logs).Level(zerolog.InfoLevel))
		var logged bool
		for _, l := range logs.lines() {
			msg := fmt.Sprint(l["message"])
			if l["level"] == "warn" && strings.Contains(msg, `"outbound-only" has the address of gateways[0] "sbc"`) {
				logged = true
			}
		}
		if !logged {
			t.Fatal("the start logged no warning about the trunk sharing the first's address")
		}
	})
}
