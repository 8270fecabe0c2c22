package mediation

import (
	"net/netip"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/rs/zerolog"
)

// TestTwoSitesConfig: the two-site example of the README loads, validates
// and routes as its comments say.
func TestTwoSitesConfig(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join("..", "testdata", "config", "two-sites.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	table, policies, err := buildTrunks(cfg.Gateways, cfg.GatewayDNS.resolver(netip.Addr{}, zerolog.Nop()), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if len(policies) != 5 {
		t.Fatalf("policies of %d trunks, want 5", len(policies))
	}
	route := func(number string) []string {
		t.Helper()
		ts, err := table.Route(number)
		if err != nil {
			t.Fatalf("Route(%s): %v", number, err)
		}
		var names []string
		for _, tr := range ts {
			names = append(names, tr.Name)
		}
		return names
	}
	for number, want := range map[string][]string{
		"+442071234567": {"lon-sbc1", "lon-sbc2", "lcr"},
		"+448001234567": {"lon-sbc1", "lon-sbc2", "lcr"},
		"+12125550100":  {"nyc-sbc", "lon-carrier", "lcr"},
		"+33123456789":  {"lcr"},
	} {
		if got := route(number); !reflect.DeepEqual(got, want) {
			t.Errorf("Route(%s) = %v, want %v", number, got, want)
		}
	}
	// Other London numbers alternate between the two SBCs.
	first := map[string]int{}
	for range 10 {
		first[route("+441131234567")[0]]++
	}
	if first["lon-sbc1"] != 5 || first["lon-sbc2"] != 5 {
		t.Errorf("first choices for +44113: %v, want 5 each", first)
	}
}
