package gateway

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"
)

func trunk(name string, port uint16, prio int, numbers ...string) Trunk {
	return Trunk{Name: name, Addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port), Transport: "udp",
		Priority: prio, Numbers: numbers}
}

func names(ts []Trunk) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Name
	}
	return out
}

func TestRouteByNumber(t *testing.T) {
	tab, err := NewTable([]Trunk{
		trunk("uk", 5060, 0, "+44"),
		trunk("london", 5061, 0, "+4420", "re:\\+44(11)\\d{8}"),
		trunk("us", 5062, 0, "+1"),
		trunk("default", 5063, 5), // no patterns: every number
		trunk("tollfree", 5064, 0, "re:\\+1800\\d{7}", "+1888"),
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		number string
		want   []string
	}{
		{"+442071234567", []string{"london", "uk", "default"}},
		{"+441131234567", []string{"uk", "london", "default"}}, // regexp literal prefix "+44" ties with uk: priority, then turns
		{"+443001234567", []string{"uk", "default"}},
		{"+18005550100", []string{"tollfree", "us", "default"}},
		{"+15550100", []string{"us", "default"}},
		{"+33123456789", []string{"default"}},
	}
	for _, tt := range tests {
		got, err := tab.Route(tt.number)
		if err != nil {
			t.Fatalf("Route(%s): %v", tt.number, err)
		}
		if tt.number == "+441131234567" {
			// uk and london tie (specificity 3, priority 0): either order.
			if len(got) != 3 || got[2].Name != "default" {
				t.Errorf("Route(%s) = %v", tt.number, names(got))
			}
			continue
		}
		if !reflect.DeepEqual(names(got), tt.want) {
			t.Errorf("Route(%s) = %v, want %v", tt.number, names(got), tt.want)
		}
	}
}

func TestRouteNoMatch(t *testing.T) {
	tab, err := NewTable([]Trunk{trunk("uk", 5060, 0, "+44")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tab.Route("+15550100"); !errors.Is(err, ErrNoRoute) {
		t.Fatalf("Route = %v, want ErrNoRoute", err)
	}
}

func TestRouteByPriority(t *testing.T) {
	tab, err := NewTable([]Trunk{trunk("backup", 5060, 10, "+1"), trunk("primary", 5061, 1, "+1"), trunk("any", 5062, 0)})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		got, _ := tab.Route("+15550100")
		if want := []string{"primary", "backup", "any"}; !reflect.DeepEqual(names(got), want) {
			t.Fatalf("Route = %v, want %v", names(got), want)
		}
	}
}

// TestRouteSpread: calls to equal trunks are spread evenly (within 10 %
// over 200 calls), and each call can still fail over to the others.
func TestRouteSpread(t *testing.T) {
	tab, err := NewTable([]Trunk{trunk("a", 5060, 0, "+1"), trunk("b", 5061, 0, "+1"), trunk("c", 5062, 0, "+1"), trunk("z", 5063, 1)})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for i := range 200 {
		got, err := tab.Route(fmt.Sprintf("+1555%07d", i))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 4 || got[3].Name != "z" {
			t.Fatalf("Route = %v", names(got))
		}
		counts[got[0].Name]++
	}
	for _, n := range []string{"a", "b", "c"} {
		if c := counts[n]; c < 60 || c > 73 {
			t.Errorf("trunk %s got %d of 200 calls first, want 200/3 ± 10 %% (%v)", n, c, counts)
		}
	}
}

func TestRouteSkipsUnavailable(t *testing.T) {
	tab, err := NewTable([]Trunk{trunk("a", 5060, 0), trunk("b", 5061, 0)})
	if err != nil {
		t.Fatal(err)
	}
	at := func(port uint16) netip.AddrPort { return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port) }
	if tab.MarkUnavailable("a", at(5999), time.Now().Add(time.Hour)) {
		t.Error("MarkUnavailable took an address that is not the trunk's")
	}
	tab.MarkUnavailable("a", at(5060), time.Now().Add(time.Hour))
	for range 4 {
		if got, _ := tab.Route("+1"); !reflect.DeepEqual(names(got), []string{"b"}) {
			t.Fatalf("Route = %v, want only b while a rests", names(got))
		}
	}
	if st := tab.Status(); st[0].UnavailableUntil.IsZero() || !st[1].UnavailableUntil.IsZero() {
		t.Fatalf("Status = %+v", st)
	}
	// Every candidate resting: all are tried rather than none.
	tab.MarkUnavailable("b", at(5061), time.Now().Add(time.Hour))
	if got, _ := tab.Route("+1"); len(got) != 2 {
		t.Fatalf("Route = %v, want both as a last resort", names(got))
	}
	// A rest in the past is over.
	tab2, _ := NewTable([]Trunk{trunk("a", 5060, 0), trunk("b", 5061, 0)})
	tab2.MarkUnavailable("a", at(5060), time.Now().Add(-time.Second))
	if got, _ := tab2.Route("+1"); len(got) != 2 {
		t.Fatalf("Route = %v after the rest", names(got))
	}
}

// TestRouteSkipsRestingAddress: a 503 with Retry-After from one address
// of a trunk with two (an SBC pair behind one name) rests that address
// alone: calls go to the other, with no alternate, and the trunk takes
// calls; once both rest the trunk rests (skipped while another trunk
// serves the number; tried at both addresses when nothing else does).
func TestRouteSkipsRestingAddress(t *testing.T) {
	a, b := netip.MustParseAddrPort("127.0.0.1:5060"), netip.MustParseAddrPort("127.0.0.2:5060")
	tab, err := NewTable([]Trunk{{Name: "pair", Host: "sbc.test", Transport: "udp", Targets: []Target{{Addr: a}, {Addr: b, Priority: 1}}},
		trunk("backup", 5070, 1)})
	if err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour)
	tab.MarkUnavailable("pair", a, until)
	got, _ := tab.Route("+1")
	if !reflect.DeepEqual(names(got), []string{"pair", "backup"}) || got[0].Addr != b || len(got[0].Alternates) != 0 {
		t.Fatalf("Route = %v, pair at %v then %v; want pair at %v alone, then backup", names(got), got[0].Addr, got[0].Alternates, b)
	}
	st := tab.Status()[0]
	if !st.UnavailableUntil.IsZero() || !st.Addresses[0].UnavailableUntil.Equal(until) || !st.Addresses[1].UnavailableUntil.IsZero() {
		t.Errorf("Status = %+v; want the first address resting, not the trunk", st)
	}
	tab.MarkUnavailable("pair", b, until.Add(time.Minute))
	if got, _ := tab.Route("+1"); !reflect.DeepEqual(names(got), []string{"backup"}) {
		t.Errorf("Route = %v with both addresses resting; want backup alone", names(got))
	}
	if st := tab.Status()[0]; !st.UnavailableUntil.Equal(until) {
		t.Errorf("trunk UnavailableUntil %v; want %v, the end of the first rest", st.UnavailableUntil, until)
	}
	tab.MarkUnavailable("backup", netip.MustParseAddrPort("127.0.0.1:5070"), until)
	got, _ = tab.Route("+1")
	if len(got) != 2 || got[0].Name != "pair" || got[0].Addr != a || !reflect.DeepEqual(got[0].Alternates, []netip.AddrPort{b}) {
		t.Errorf("Route = %v with everything resting; want pair at both addresses first, then backup", got)
	}
}

// TestRouteRestingUpBeforeDown: a trunk whose one address that is up
// rests (a 503's Retry-After) and whose other is down is tried, as the
// last resort, at the resting address first, the down one after: it was
// tried at the down address alone, the SBC that is up never asked
// (r28-review2 F3).
func TestRouteRestingUpBeforeDown(t *testing.T) {
	a, b := netip.MustParseAddrPort("127.0.0.1:5060"), netip.MustParseAddrPort("127.0.0.2:5060")
	tab, err := NewTable([]Trunk{{Name: "pair", Host: "sbc.test", Transport: "udp", Targets: []Target{{Addr: a}, {Addr: b, Priority: 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	tab.probed(0, b, false, 1) // b down
	tab.MarkUnavailable("pair", a, time.Now().Add(time.Hour))
	got, err := tab.Route("+1")
	if err != nil || len(got) != 1 || got[0].Addr != a || !reflect.DeepEqual(got[0].Alternates, []netip.AddrPort{b}) {
		t.Fatalf("Route = %v, %v; want pair at %v, then %v", got, err, a, b)
	}
}

// TestPatternSpecificity: a regular expression counts the literal prefix
// every match of it starts with (README, Outbound routing, rule 2),
// whatever shape the rest has: Go's own LiteralPrefix of the anchored
// expression is "" for any that cannot run one-pass (an alternation, a
// repetition followed by more), which made them count 0 (r25 F4).
func TestPatternSpecificity(t *testing.T) {
	for _, tt := range []struct {
		pattern, number string
		spec            int
	}{
		{`re:\+4420\d{8}`, "+442012345678", 5},
		{`re:\+4420(1|12)\d+`, "+442012345678", 6}, // every match starts +44201
		{`re:\+4420(1|3)\d+`, "+442012345678", 5},
		{`re:\+4420\d*0`, "+442012345670", 5},
		{`re:\+4420.*`, "+442012345670", 5},
		{`re:\+4420[0-9]+`, "+442012345670", 5},
		{`re:^\+4420(1|3)\d+$`, "+442012345678", 5},
		{`re:\+4420(?:7\d+|8\d+)`, "+44207123", 5},
		{`re:\+44(20)?\d+`, "+44207123", 3},
		{`re:(\+4420)\d+`, "+44207123", 5},
		{`re:\+4420\d+|\+44207\d+`, "+44207123", 5},
		{`re:(\+44|0044)7\d+`, "00447700900001", 0},
		{`re:(?:\+4420){1}\d+`, "+44207123", 5},
		{`re:(?:20){2,}\d`, "2020201", 4},
		{`re:(?i)\+44x\d`, "+44X1", 3},
		{`re:\A\+44\d+`, "+447", 3},
		{`re:\+44`, "+44", 3},
		{`re:`, "", 0},
	} {
		p, err := ParsePattern(tt.pattern)
		if err != nil {
			t.Errorf("ParsePattern(%q): %v", tt.pattern, err)
			continue
		}
		if spec, ok := p.Match(tt.number); !ok || spec != tt.spec {
			t.Errorf("%q.Match(%q) = %d, %v; want %d, true", tt.pattern, tt.number, spec, ok, tt.spec)
		}
	}
}

// TestRouteRegexpOverBroaderPrefix: a trunk for +4420... by a regular
// expression that Go cannot run one-pass still outranks a +44 trunk of a
// lower priority (r25 F4), and a catch-all trunk ("*" or no numbers)
// comes after a regular expression whose literal prefix is empty,
// whatever the priorities, never taking turns with it (r25 F5).
func TestRouteRegexpOverBroaderPrefix(t *testing.T) {
	tab, err := NewTable([]Trunk{
		trunk("p44", 5060, 1, "+44"),
		trunk("re4420", 5061, 9, `re:\+4420(1|12)\d+`),
		trunk("re4420b", 5062, 9, `re:\+4420\d*0`),
		trunk("alt", 5063, 5, `re:(\+44|0044)7\d+`),
		trunk("star", 5064, 0, "*"),
		trunk("none", 5065, 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		number string
		want   []string
	}{
		{"+442012345678", []string{"re4420", "p44"}},
		{"+442022345670", []string{"re4420b", "p44"}},
		{"00447700900001", []string{"alt"}},
	} {
		for range 4 { // star and none take turns behind the others
			got, err := tab.Route(tt.number)
			if err != nil {
				t.Fatalf("Route(%s): %v", tt.number, err)
			}
			n := len(tt.want)
			if len(got) != n+2 || !reflect.DeepEqual(names(got[:n]), tt.want) || !reflect.DeepEqual(sortedNames(got[n:]), []string{"none", "star"}) {
				t.Fatalf("Route(%s) = %v, want %v then none and star", tt.number, names(got), tt.want)
			}
		}
	}
}

func sortedNames(ts []Trunk) []string {
	out := names(ts)
	slices.Sort(out)
	return out
}

func TestParsePattern(t *testing.T) {
	good := map[string]struct {
		number string
		spec   int
	}{
		"+1":                 {"+15550100", 2},
		"1800":               {"18005550100", 4},
		"*":                  {"anything", -1},
		`re:\+44(20|11)\d+`:  {"+44201234", 3},
		`re:(\+33|0033)\d+`:  {"0033123", 0},
		`re:\+4420\d{8}`:     {"+442012345678", 5},
		`re:100|200`:         {"200", 0},
		`re:[0-9]{3}`:        {"123", 0},
		`re:\+1555010[0-9]`:  {"+15550109", 8},
		`re:\+1(555)?0100`:   {"+10100", 2},
		`re:.*`:              {"", 0},
		`re:\+49.*`:          {"+49", 3},
		`re:\+3(1|2)\d*`:     {"+32", 2},
		`re:\+46[0-9]{1,12}`: {"+46701234567", 3},
	}
	for pat, tt := range good {
		p, err := ParsePattern(pat)
		if err != nil {
			t.Errorf("ParsePattern(%q): %v", pat, err)
			continue
		}
		if spec, ok := p.Match(tt.number); !ok || spec != tt.spec {
			t.Errorf("%q.Match(%q) = %d, %v; want %d", pat, tt.number, spec, ok, tt.spec)
		}
	}
	p, _ := ParsePattern(`re:\+4420\d{8}`)
	if _, ok := p.Match("+4420123456789"); ok {
		t.Error("a regexp pattern must match the whole number")
	}
	for _, bad := range []string{"", "+44-20", "44x", "re:(", "++1"} {
		if _, err := ParsePattern(bad); err == nil {
			t.Errorf("ParsePattern(%q): no error", bad)
		}
	}
}
