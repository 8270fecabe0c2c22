package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/gateway/dnstest"
	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/hybridconfig"
	"github.com/mediation-emulator/mediation/mediation/labca"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// checkArgs are the flags that point `mediation check` at a lab with geo DNS.
func checkArgs(lab *mediationtest.Lab) []string {
	ws := fmt.Sprintf("http://%s:%d%s", labDNSName, lab.Server.HTTPAddr().Port(), hybridconfig.Path)
	return []string{"check", "--admin", adminURL(lab), "--web-service", ws, "--dns", lab.Server.DNSAddr().String(),
		"--via", lab.Server.EdgeAddr().String(), "--timeout", "2s"}
}

// stepLine is the line of a step in check's output, "" if missing.
func stepLine(out, step string) string {
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 6 && strings.HasPrefix(l[6:], step+" ") {
			return l
		}
	}
	return ""
}

func TestCheckHealthyLab(t *testing.T) {
	lab := startDNSLab(t)
	res := runBinary(t, append(checkArgs(lab), "--call")...)
	if res.code != 0 {
		t.Fatalf("check on a healthy lab: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	for _, step := range []string{"dns internal", "dns external", "web service", "web service old build", "settings", "trunk sbc", "bypass call"} {
		if l := stepLine(res.stdout, step); !strings.HasPrefix(l, "PASS") {
			t.Errorf("step %q: %q, want PASS\n%s", step, l, res.stdout)
		}
	}
	res = runBinary(t, append(checkArgs(lab), "--json")...)
	var doc struct {
		Pass  bool
		Steps []checkStep
	}
	if err := json.Unmarshal([]byte(res.stdout), &doc); res.code != 0 || err != nil || !doc.Pass || len(doc.Steps) != 6 {
		t.Fatalf("check --json: exit %d, %v, %+v", res.code, err, doc)
	}
}

// TestCheckLabOwnWebService: `check --admin` alone tests the web service
// the server advertises, which is its own when the config names none.
func TestCheckLabOwnWebService(t *testing.T) {
	lab := mediationtest.Start(t, mediationtest.Options{})
	res := runBinary(t, "check", "--admin", adminURL(lab), "--timeout", "2s")
	own := mediationtest.URL(lab.Server, hybridconfig.Path)
	if l := stepLine(res.stdout, "web service"); res.code != 0 || !strings.HasPrefix(l, "PASS  web service            "+own+" grants bypass") {
		t.Fatalf("exit %d, web service line %q, want PASS for %s\n%s%s", res.code, l, own, res.stdout, res.stderr)
	}
}

// TestCheckNamesTheFailingStep breaks one thing at a time and checks that
// check fails and names the step.
func TestCheckNamesTheFailingStep(t *testing.T) {
	t.Run("bypass disabled", func(t *testing.T) {
		lab := startDNSLab(t)
		if err := lab.Server.SetSettings(mediation.BypassSettings{AlwaysBypass: true, BypassID: "be38f190-a24a-4a72-b66c-b09fd0909ebc",
			WebServiceURL: lab.Server.Settings().WebServiceURL}); err != nil {
			t.Fatal(err)
		}
		res := runBinary(t, checkArgs(lab)...)
		if l := stepLine(res.stdout, "settings"); res.code != 1 || !strings.HasPrefix(l, "FAIL") || !strings.Contains(l, "Enabled=False") ||
			!strings.Contains(l, "mediation settings set --enabled=true") {
			t.Fatalf("exit %d, settings line %q\n%s", res.code, l, res.stdout)
		}
		if l := stepLine(res.stdout, "web service"); !strings.HasPrefix(l, "FAIL") {
			t.Errorf("web service line %q, want FAIL (no bypass granted)", l)
		}
	})
	t.Run("web service unreachable", func(t *testing.T) {
		lab := startDNSLab(t)
		closed, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := closed.Addr().(*net.TCPAddr).Port
		closed.Close() // nothing listens there now
		args := checkArgs(lab)
		args[4] = fmt.Sprintf("http://%s:%d%s", labDNSName, port, hybridconfig.Path)
		res := runBinary(t, args...)
		if l := stepLine(res.stdout, "web service"); res.code != 1 || !strings.HasPrefix(l, "FAIL") || !strings.Contains(l, "unreachable") {
			t.Fatalf("exit %d, web service line %q\n%s", res.code, l, res.stdout)
		}
		if l := stepLine(res.stdout, "dns internal"); !strings.HasPrefix(l, "PASS") {
			t.Errorf("dns internal line %q, want PASS", l)
		}
	})
	t.Run("trunk down", func(t *testing.T) {
		hole, err := net.ListenPacket("udp", "127.0.0.1:0") // takes OPTIONS, never answers
		if err != nil {
			t.Fatal(err)
		}
		defer hole.Close()
		lab := mediationtest.Start(t, mediationtest.Options{Configure: func(c *mediation.Config) {
			c.Gateways = append(c.Gateways, mediation.GatewayConfig{Name: "backup", Address: hole.LocalAddr().String(), Transport: "udp"})
		}})
		res := runBinary(t, "check", "--admin", adminURL(lab), "--web-service", mediationtest.URL(lab.Server, hybridconfig.Path), "--timeout", "1s")
		if l := stepLine(res.stdout, "trunk backup"); res.code != 1 || !strings.HasPrefix(l, "FAIL") || !strings.Contains(l, "no answer to OPTIONS within 1s") {
			t.Fatalf("exit %d, trunk line %q\n%s%s", res.code, l, res.stdout, res.stderr)
		}
		if l := stepLine(res.stdout, "trunk sbc"); !strings.HasPrefix(l, "PASS") {
			t.Errorf("trunk sbc line %q, want PASS", l)
		}
		if l := stepLine(res.stdout, "dns internal"); !strings.HasPrefix(l, "SKIP") {
			t.Errorf("dns internal line %q, want SKIP for a URL with an IP address", l)
		}
	})
	t.Run("no trunk answers: no test call", func(t *testing.T) {
		hole, err := net.ListenPacket("udp", "127.0.0.1:0") // takes OPTIONS and INVITEs, never answers
		if err != nil {
			t.Fatal(err)
		}
		defer hole.Close()
		lab := mediationtest.Start(t, mediationtest.Options{Configure: func(c *mediation.Config) {
			c.Gateways[0].Address = hole.LocalAddr().String()
		}})
		res := runBinary(t, "check", "--admin", adminURL(lab), "--web-service", mediationtest.URL(lab.Server, hybridconfig.Path),
			"--via", lab.Server.EdgeAddr().String(), "--call", "--timeout", "1s")
		if l := stepLine(res.stdout, "bypass call"); res.code != 1 || !strings.HasPrefix(l, "FAIL") || !strings.Contains(l, "no trunk answers") {
			t.Fatalf("exit %d, bypass call line %q, want FAIL saying no trunk answers\n%s%s", res.code, l, res.stdout, res.stderr)
		}
	})
}

// TestCheckNoGuessedWebService: check never falls back to a default web
// service URL (on a shared host, another deployment's server): without
// the admin API and --web-service, the web service step fails saying why;
// a URL with an IP address skips the DNS steps even with --dns; a 404
// points at the URL, not at the settings; a TLS trunk is judged by the
// server's own OPTIONS probes, which use its TLS names and CA.
func TestCheckNoGuessedWebService(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + closed.Addr().String()
	closed.Close()
	res := runBinary(t, "check", "--admin", dead, "--timeout", "1s")
	if l := stepLine(res.stdout, "web service"); res.code != 1 || !strings.HasPrefix(l, "FAIL") || !strings.Contains(l, "admin API did not answer") {
		t.Fatalf("exit %d, web service line %q\n%s", res.code, l, res.stdout)
	}

	lab := startDNSLab(t)
	res = runBinary(t, "check", "--admin", adminURL(lab), "--web-service", mediationtest.URL(lab.Server, hybridconfig.Path),
		"--dns", lab.Server.DNSAddr().String(), "--timeout", "2s")
	for _, step := range []string{"dns internal", "dns external"} {
		if l := stepLine(res.stdout, step); !strings.HasPrefix(l, "SKIP") {
			t.Errorf("%s with an IP URL and --dns: %q, want SKIP\n%s", step, l, res.stdout)
		}
	}
	res = runBinary(t, "check", "--admin", adminURL(lab), "--web-service", mediationtest.URL(lab.Server, "/HybridConfig/Nothing.svc"), "--timeout", "2s")
	if l := stepLine(res.stdout, "web service"); !strings.HasPrefix(l, "FAIL") || !strings.Contains(l, "404") || !strings.Contains(l, "path") {
		t.Errorf("web service at a wrong path: %q, want FAIL naming 404 and the path\n%s", l, res.stdout)
	}

	hole, err := net.Listen("tcp", "127.0.0.1:0") // accepts and hangs up: no TLS there
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	go func() {
		for {
			c, err := hole.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ca := t.TempDir()
	if err := labca.Generate(ca, labca.Options{ServerNames: []string{"sbc.lab", "127.0.0.1"}, ClientNames: []string{"mediation.lab"}}); err != nil {
		t.Fatal(err)
	}
	tlsLab := mediationtest.Start(t, mediationtest.Options{Configure: func(c *mediation.Config) {
		c.TLS = mediation.TLSConfig{Cert: filepath.Join(ca, labca.ServerFile), Key: filepath.Join(ca, labca.ServerKeyFile), CA: filepath.Join(ca, labca.CAFile),
			GatewayListen: "127.0.0.1:0"}
		c.Gateways = append(c.Gateways, mediation.GatewayConfig{Name: "tlssbc", Address: hole.Addr().String(), Transport: "tls"})
		c.GatewayHealth = mediation.HealthConfig{Enabled: true, Interval: 100 * time.Millisecond, DownInterval: 100 * time.Millisecond, MaxFails: 1}
		c.SIP.T1 = 20 * time.Millisecond // a probe gives up at 64*T1
	}})
	mediationtest.WaitMetric(t, tlsLab.Server, 0, "mediationserver_gateway_up", "gateway", "tlssbc")
	res = runBinary(t, "check", "--admin", adminURL(tlsLab), "--web-service", mediationtest.URL(tlsLab.Server, hybridconfig.Path), "--timeout", "1s")
	if l := stepLine(res.stdout, "trunk tlssbc"); !strings.HasPrefix(l, "FAIL") || !strings.Contains(l, "server's OPTIONS probes") {
		t.Errorf("TLS trunk that never answers: %q, want FAIL from the server's probes\n%s%s", l, res.stdout, res.stderr)
	}
}

// TestCheckPool checks every server given, and that their settings match:
// a client learns the BypassID from one server and may call through another.
func TestCheckPool(t *testing.T) {
	// A pool advertises one URL (a server without one advertises its own).
	const poolURL = "http://" + labDNSName + ":8080" + hybridconfig.Path
	shared := func(c *mediation.Config) { c.Bypass.WebServiceURL = poolURL }
	a := mediationtest.Start(t, mediationtest.Options{Configure: shared})
	b := mediationtest.Start(t, mediationtest.Options{Configure: shared})
	hostA, hostB := a.Server.AdminAddr().String(), b.Server.AdminAddr().String()
	args := []string{"check", "--admin", adminURL(a), "--admin", adminURL(b),
		"--web-service", mediationtest.URL(a.Server, hybridconfig.Path), "--timeout", "2s"}
	res := runBinary(t, args...)
	if res.code != 0 {
		t.Fatalf("check on a healthy pool: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	for _, step := range []string{"settings " + hostA, "settings " + hostB, "settings match", "trunk sbc " + hostA, "trunk sbc " + hostB} {
		if l := stepLine(res.stdout, step); !strings.HasPrefix(l, "PASS") {
			t.Errorf("step %q: %q, want PASS\n%s", step, l, res.stdout)
		}
	}

	// B enabled alone with its own ID: the pool's settings differ.
	const other = "2cd1a522-b9c5-4410-8aed-f3eca85eb367"
	bs := b.Server.Settings()
	bs.BypassID = other
	if err := b.Server.SetSettings(bs); err != nil {
		t.Fatal(err)
	}
	res = runBinary(t, args...)
	l := stepLine(res.stdout, "settings match")
	if res.code != 1 || !strings.HasPrefix(l, "FAIL") || !strings.Contains(l, "BypassID differs: ") || !strings.Contains(l, hostB+" "+other) ||
		!strings.Contains(l, "mediation settings set --admin "+adminURL(a)+","+adminURL(b)) {
		t.Fatalf("exit %d, settings match line %q\n%s", res.code, l, res.stdout)
	}
	if l := stepLine(res.stdout, "settings "+hostA); !strings.HasPrefix(l, "PASS") {
		t.Errorf("settings of A: %q, want PASS (it is B's ID that differs from the web service's)", l)
	}
}

// TestCheckTLSTrunkByServerProbes: a TLS trunk's step reads the server's
// own probes from GET /gateways: PASS while it is up, SKIP when the server
// does not probe (every trunk is then "up", which proves nothing).
func TestCheckTLSTrunkByServerProbes(t *testing.T) {
	for _, tt := range []struct {
		probed bool
		want   string
	}{{true, "PASS"}, {false, "SKIP"}} {
		admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/settings":
				_ = json.NewEncoder(w).Encode(mediation.SettingsView{Enabled: true, AlwaysBypass: true})
			case "/gateways":
				_ = json.NewEncoder(w).Encode([]mediation.TrunkState{{Name: "tlssbc", Address: "127.0.0.1:5061", Transport: "tls", Up: true, Probed: tt.probed,
					Addresses: []mediation.TrunkAddress{{Address: "127.0.0.1:5061", Up: true, Answered: true}}}})
			default:
				http.NotFound(w, r)
			}
		}))
		res := runBinary(t, "check", "--admin", admin.URL, "--web-service", admin.URL+hybridconfig.Path, "--timeout", "1s")
		admin.Close()
		if l := stepLine(res.stdout, "trunk tlssbc"); !strings.HasPrefix(l, tt.want) {
			t.Errorf("probed %v: trunk line %q, want %s\n%s%s", tt.probed, l, tt.want, res.stdout, res.stderr)
		}
	}
}

// TestCheckTrunkEachAddress: a trunk whose DNS answer has two addresses
// gets an OPTIONS at each. One silent: WARN naming it (the trunk still
// takes calls at the other; check passes); both silent: FAIL naming both.
// A TLS trunk is judged per address by the server's probes.
func TestCheckTrunkEachAddress(t *testing.T) {
	hole := func() netip.AddrPort {
		t.Helper()
		pc, err := net.ListenPacket("udp", "127.0.0.1:0") // takes OPTIONS, never answers
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		return netip.MustParseAddrPort(pc.LocalAddr().String())
	}
	srv := func(target string, a netip.AddrPort) []string {
		return []string{fmt.Sprintf("_sip._udp.multi.test. 60 IN SRV 0 1 %d %s.", a.Port(), target),
			fmt.Sprintf("%s. 60 IN A %s", target, a.Addr())}
	}
	run := func(second func(sbc netip.AddrPort) netip.AddrPort) (res runResult, first, other netip.AddrPort) {
		t.Helper()
		zone := dnstest.Start(t)
		lab := mediationtest.Start(t, mediationtest.Options{Configure: func(c *mediation.Config) {
			sbc := netip.MustParseAddrPort(c.Gateways[0].Address)
			first, other = second(sbc), hole()
			zone.Set(append(srv("a.multi.test", first), srv("b.multi.test", other)...)...)
			c.Gateways = append(c.Gateways, mediation.GatewayConfig{Name: "multi", Address: "multi.test", Transport: "udp"})
			c.GatewayDNS = mediation.GatewayDNSConfig{Resolver: zone.Addr(), MinTTL: time.Second, MaxTTL: time.Hour}
		}})
		res = runBinary(t, "check", "--admin", adminURL(lab), "--web-service", mediationtest.URL(lab.Server, hybridconfig.Path), "--timeout", "1s")
		return res, first, other
	}

	res, live, dead := run(func(sbc netip.AddrPort) netip.AddrPort { return sbc })
	l := stepLine(res.stdout, "trunk multi")
	if res.code != 0 || !strings.HasPrefix(l, "WARN") || !strings.Contains(l, "1 of 2 addresses do not answer: "+dead.String()+"/udp: no answer to OPTIONS within 1s") ||
		!strings.Contains(l, live.String()+"/udp answered OPTIONS: 200") || !strings.Contains(l, "try "+dead.String()+" last") {
		t.Errorf("one address silent: exit %d, trunk line %q; want exit 0, WARN naming the silent address\n%s%s", res.code, l, res.stdout, res.stderr)
	}
	if l := stepLine(res.stdout, "trunk sbc"); !strings.HasPrefix(l, "PASS") {
		t.Errorf("trunk sbc line %q, want PASS", l)
	}

	res, dead1, dead2 := run(func(netip.AddrPort) netip.AddrPort { return hole() })
	l = stepLine(res.stdout, "trunk multi")
	if res.code != 1 || !strings.HasPrefix(l, "FAIL") || !strings.Contains(l, dead1.String()+"/udp: no answer") || !strings.Contains(l, dead2.String()+"/udp: no answer") {
		t.Errorf("both silent: exit %d, trunk line %q; want exit 1, FAIL naming both\n%s%s", res.code, l, res.stdout, res.stderr)
	}

	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/settings":
			_ = json.NewEncoder(w).Encode(mediation.SettingsView{Enabled: true, AlwaysBypass: true})
		case "/gateways":
			_ = json.NewEncoder(w).Encode([]mediation.TrunkState{{Name: "tlssbc", Address: "127.0.0.2:5061", Transport: "tls", Up: true, Probed: true,
				Addresses: []mediation.TrunkAddress{{Address: "127.0.0.2:5061", Up: true, Answered: true}, {Address: "127.0.0.3:5061", Up: false, Answered: true}}}}) // answered once, down now
		default:
			http.NotFound(w, r)
		}
	}))
	defer admin.Close()
	res = runBinary(t, "check", "--admin", admin.URL, "--web-service", admin.URL+hybridconfig.Path, "--timeout", "1s")
	if l := stepLine(res.stdout, "trunk tlssbc"); !strings.HasPrefix(l, "WARN") || !strings.Contains(l, "127.0.0.3:5061/tls does not answer the server's OPTIONS probes") {
		t.Errorf("TLS trunk with one address down: %q, want WARN naming it\n%s%s", l, res.stdout, res.stderr)
	}
}

// TestCheckUnresolvedTrunk: a trunk whose host name does not resolve
// has no address to send an OPTIONS to: check FAILs naming the name and
// that it does not resolve, with a fix about DNS, for UDP and TCP as for
// TLS (r25 F7: it said "/udp: address: not an ip:port" and advised about
// the SBC listening); the other trunks are checked as ever.
func TestCheckUnresolvedTrunk(t *testing.T) {
	zone := dnstest.Start(t) // knows no name: NXDOMAIN
	lab := mediationtest.Start(t, mediationtest.Options{Configure: func(c *mediation.Config) {
		c.Gateways = append(c.Gateways,
			mediation.GatewayConfig{Name: "ghost", Address: "ghost.lab.test:5060", Transport: "udp", Numbers: []string{"+33"}},
			mediation.GatewayConfig{Name: "ghosttcp", Address: "ghost-tcp.lab.test", Transport: "tcp", Numbers: []string{"+34"}})
		c.GatewayDNS = mediation.GatewayDNSConfig{Resolver: zone.Addr(), MinTTL: time.Second, MaxTTL: time.Hour}
	}})
	res := runBinary(t, "check", "--admin", adminURL(lab), "--web-service", mediationtest.URL(lab.Server, hybridconfig.Path), "--timeout", "1s")
	if res.code != 1 {
		t.Errorf("exit %d, want 1\n%s%s", res.code, res.stdout, res.stderr)
	}
	for _, tt := range []struct{ trunk, host, transport string }{{"ghost", "ghost.lab.test", "udp"}, {"ghosttcp", "ghost-tcp.lab.test", "tcp"}} {
		l := stepLine(res.stdout, "trunk "+tt.trunk)
		if !strings.HasPrefix(l, "FAIL") || !strings.Contains(l, tt.host+" ("+tt.transport+") does not resolve") ||
			!strings.Contains(l, "gateway_dns.resolver") || strings.Contains(l, "ip:port") || strings.Contains(l, "listens") {
			t.Errorf("trunk %s line %q, want FAIL naming %s, that it does not resolve, and DNS as the fix\n%s%s", tt.trunk, l, tt.host, res.stdout, res.stderr)
		}
	}
	if l := stepLine(res.stdout, "trunk sbc"); !strings.HasPrefix(l, "PASS") {
		t.Errorf("trunk sbc line %q, want PASS", l)
	}
}

// TestCheckTLSTrunkNotProbedYet: a TLS trunk that the server has not
// probed yet (nothing listens there; its first probe is an interval away)
// is up in GET /gateways, as every address is until its probes fail:
// check says it was not probed yet (SKIP), never that it answers.
func TestCheckTLSTrunkNotProbedYet(t *testing.T) {
	dir := t.TempDir()
	if err := labca.Generate(dir, labca.Options{ServerNames: []string{"127.0.0.1"}, ClientNames: []string{"sbc.lab"}}); err != nil {
		t.Fatal(err)
	}
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := hole.Addr().String()
	hole.Close() // nothing listens there
	lab := mediationtest.Start(t, mediationtest.Options{Configure: func(c *mediation.Config) {
		c.TLS = mediation.TLSConfig{Cert: filepath.Join(dir, labca.ServerFile), Key: filepath.Join(dir, labca.ServerKeyFile), CA: filepath.Join(dir, labca.CAFile),
			GatewayListen: "127.0.0.1:0"}
		c.Gateways = append(c.Gateways, mediation.GatewayConfig{Name: "tlssbc", Address: dead, Transport: "tls", TLSName: "sbc.lab", Numbers: []string{"+44"}})
		c.GatewayHealth = mediation.HealthConfig{Enabled: true, Interval: time.Hour, DownInterval: time.Hour, MaxFails: 1}
	}})
	res := runBinary(t, "check", "--admin", adminURL(lab), "--web-service", mediationtest.URL(lab.Server, hybridconfig.Path), "--timeout", "2s")
	if l := stepLine(res.stdout, "trunk tlssbc"); !strings.HasPrefix(l, "SKIP") || !strings.Contains(l, "not probed yet") {
		t.Errorf("trunk line %q, want SKIP ... not probed yet\n%s%s", l, res.stdout, res.stderr)
	}
}

// TestCheckIPv6Trunk: a UDP trunk on [::1] gets check's OPTIONS (its
// Request-URI host in brackets) and passes.
func TestCheckIPv6Trunk(t *testing.T) {
	sbc := ipv6SBC(t)
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/settings":
			_ = json.NewEncoder(w).Encode(mediation.SettingsView{Enabled: true, AlwaysBypass: true})
		case "/gateways":
			_ = json.NewEncoder(w).Encode([]mediation.TrunkState{{Name: "sbc6", Address: sbc.Addr().String(), Transport: "udp", Up: true,
				Addresses: []mediation.TrunkAddress{{Address: sbc.Addr().String(), Up: true}}}})
		default:
			http.NotFound(w, r)
		}
	}))
	defer admin.Close()
	res := runBinary(t, "check", "--admin", admin.URL, "--web-service", admin.URL+hybridconfig.Path, "--source-ip", "::1", "--timeout", "5s")
	if l := stepLine(res.stdout, "trunk sbc6"); !strings.HasPrefix(l, "PASS") {
		t.Errorf("IPv6 trunk line %q, want PASS\n%s%s", l, res.stdout, res.stderr)
	}
}

// TestCheckRestingTrunk: a trunk that answers OPTIONS but rests after a
// 503 with Retry-After (GET /gateways unavailableUntil) is a WARN saying
// so, not a PASS: the server sends it no calls for now (r24-ops F2).
func TestCheckRestingTrunk(t *testing.T) {
	lab := mediationtest.Start(t, mediationtest.Options{})
	until := time.Now().Add(time.Minute).UTC().Truncate(time.Second)
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/settings":
			_ = json.NewEncoder(w).Encode(lab.Server.Settings().View())
		case "/gateways":
			trunks := lab.Server.TrunkStates()
			trunks[0].UnavailableUntil, trunks[0].TakesCalls = &until, false
			_ = json.NewEncoder(w).Encode(trunks)
		default:
			http.NotFound(w, r)
		}
	}))
	defer admin.Close()
	res := runBinary(t, "check", "--admin", admin.URL, "--web-service", mediationtest.URL(lab.Server, hybridconfig.Path), "--timeout", "2s")
	l := stepLine(res.stdout, "trunk sbc")
	if res.code != 0 || !strings.HasPrefix(l, "WARN") || !strings.Contains(l, "answered OPTIONS: 200") ||
		!strings.Contains(l, "resting after a 503 with Retry-After until "+until.Format(time.RFC3339)) {
		t.Errorf("resting trunk: exit %d, line %q; want 0 and a WARN saying it rests\n%s%s", res.code, l, res.stdout, res.stderr)
	}
}

// TestCheckIPv6ServerDefaultSourceIP: a server whose listeners are all on
// [::1], checked with the default --source-ip 127.0.0.1: the web service
// step fails (check's own client, bound to an IPv4 address, cannot reach
// an IPv6 URL) and says so, naming --source-ip, instead of sending the
// operator to the firewall (r28-pool F5); with --source-ip ::1 it passes.
func TestCheckIPv6ServerDefaultSourceIP(t *testing.T) {
	sbc := ipv6SBC(t)
	cfg := mediation.DefaultConfig()
	cfg.Edge.Listen, cfg.GatewayListen, cfg.Edge.Peer = "[::1]:0", "[::1]:0", "[::1]:5061"
	cfg.HTTPListen, cfg.Admin.Listen, cfg.Media.IP = "[::1]:0", "[::1]:0", "::1"
	cfg.Gateways[0].Address, cfg.Gateways[0].Transport = sbc.Addr().String(), "udp"
	srv := mediationtest.Serve(t, cfg, zerolog.Nop())
	admin := "http://" + srv.AdminAddr().String()
	res := runBinary(t, "check", "--admin", admin, "--source-ip", "::1", "--timeout", "3s")
	if l := stepLine(res.stdout, "web service"); !strings.HasPrefix(l, "PASS") {
		t.Fatalf("with --source-ip ::1: web service line %q, want PASS\n%s%s", l, res.stdout, res.stderr)
	}
	res = runBinary(t, "check", "--admin", admin, "--timeout", "3s")
	if l := stepLine(res.stdout, "web service"); !strings.HasPrefix(l, "FAIL") || strings.Contains(l, "firewall") ||
		!strings.Contains(l, "--source-ip 127.0.0.1 is not of the web service's address family") {
		t.Errorf("with the default --source-ip: web service line %q, want a FAIL naming --source-ip's family, not the firewall", l)
	}
}

// ipv6SBC is the lab's SBC on [::1] (the test is skipped without an IPv6
// loopback).
func ipv6SBC(t *testing.T) *endpoint.SBC {
	t.Helper()
	if pc, err := net.ListenPacket("udp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		pc.Close()
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	sbc, err := endpoint.StartSBC(ctx, endpoint.SBCConfig{Listen: "[::1]:0", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sbc.Close() })
	return sbc
}
