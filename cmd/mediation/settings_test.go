package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/hybridconfig"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

func adminURL(l *mediationtest.Lab) string { return "http://" + l.Server.AdminAddr().String() }

// TestSettingsCommand changes the settings of a pool of two servers with one
// command and reads them back as the cmdlets print them.
func TestSettingsCommand(t *testing.T) {
	const token = "pool-token"
	withToken := func(c *mediation.Config) { c.Admin.Token = token }
	a := mediationtest.Start(t, mediationtest.Options{Configure: withToken})
	b := mediationtest.Start(t, mediationtest.Options{Configure: withToken})
	pool := []string{"--admin", adminURL(a), "--admin", adminURL(b)}

	res := runBinary(t, append(append([]string{"settings", "get"}, pool...), "--token", token)...)
	if res.code != 0 {
		t.Fatalf("settings get: exit %d stderr %q", res.code, res.stderr)
	}
	for _, want := range []string{
		"Identity                       : " + adminURL(a) + "\n",
		"Identity                       : " + adminURL(b) + "\n",
		"Enabled                        : True\n",
		"AlwaysBypass                   : True\n",
		"BypassID                       : be38f190-a24a-4a72-b66c-b09fd0909ebc\n",
		"InternalBypassMode             : Any\n",
		"HybridConfigServiceInternalUrl : " + mediationtest.URL(a.Server, hybridconfig.Path) + "\n",
		"HybridConfigServiceInternalUrl : " + mediationtest.URL(b.Server, hybridconfig.Path) + "\n",
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("settings get lacks %q:\n%s", want, res.stdout)
		}
	}

	// The token from the environment, one change for the whole pool; help
	// never shows it.
	t.Setenv("MEDIATION_ADMIN_TOKEN", token)
	for _, args := range [][]string{{"settings", "set", "-h"}, {"check", "-h"}} {
		if res := runBinary(t, args...); res.code != 0 || strings.Contains(res.stdout, token) {
			t.Errorf("mediation %v: exit %d, token in the help: %q", args, res.code, res.stdout)
		}
	}
	const id = "2cd1a522-b9c5-4410-8aed-f3eca85eb367"
	res = runBinary(t, append(append([]string{"settings", "set"}, pool...), "--enabled=false", "--bypass-id", id)...)
	if res.code != 0 || strings.Count(res.stdout, "Enabled                        : False\n") != 2 {
		t.Fatalf("settings set: exit %d stdout %q stderr %q", res.code, res.stdout, res.stderr)
	}
	for _, l := range []*mediationtest.Lab{a, b} {
		if s := l.Server.Settings(); s.Enabled || s.BypassID != id || s.WebServiceURL == "" {
			t.Errorf("%s after set: %+v", adminURL(l), s)
		}
	}

	// A refused value is reported per server with the field, exit 1.
	res = runBinary(t, append(append([]string{"settings", "set"}, pool...), "--bypass-id", "nope")...)
	if res.code != 1 || strings.Count(res.stderr, "400 Bad Request: BypassID:") != 2 {
		t.Errorf("bad bypass id: exit %d stderr %q", res.code, res.stderr)
	}
	// A server without the token, and one that is not there: both named.
	t.Setenv("MEDIATION_ADMIN_TOKEN", "")
	res = runBinary(t, "settings", "get", "--admin", adminURL(a), "--admin", "http://127.0.0.1:1")
	if res.code != 1 || !strings.Contains(res.stderr, adminURL(a)+": 401 Unauthorized") || !strings.Contains(res.stderr, "http://127.0.0.1:1: ") {
		t.Errorf("no token / no server: exit %d stderr %q", res.code, res.stderr)
	}
	res = runBinary(t, "settings", "set", "--admin", adminURL(a))
	if res.code != 2 || !strings.Contains(res.stderr, "nothing to change") {
		t.Errorf("set without a change: exit %d stderr %q", res.code, res.stderr)
	}
}

// TestSettingsPoolSharesOneBypassID enables bypass on a pool with one
// command: every server ends with the same BypassID, never one each, so a
// client that learnt it from one server bypasses through any of them.
func TestSettingsPoolSharesOneBypassID(t *testing.T) {
	a := mediationtest.Start(t, mediationtest.Options{})
	b := mediationtest.Start(t, mediationtest.Options{})
	pool := []string{"--admin", adminURL(a) + "," + adminURL(b)}
	set := func(args ...string) runResult {
		return runBinary(t, append(append([]string{"settings", "set"}, pool...), args...)...)
	}
	ids := func() (string, string) { return a.Server.Settings().BypassID, b.Server.Settings().BypassID }

	// From no ID anywhere: one generated for both, and said so.
	if res := set("--enabled=false", "--bypass-id", ""); res.code != 0 {
		t.Fatalf("disable and clear: exit %d stderr %q", res.code, res.stderr)
	}
	res := set("--enabled=true")
	idA, idB := ids()
	if res.code != 0 || idA == "" || idA != idB || !strings.Contains(res.stdout, "generated "+idA+" for all 2") {
		t.Fatalf("enable from no ID: exit %d, IDs %q %q\n%s%s", res.code, idA, idB, res.stdout, res.stderr)
	}

	// Different IDs (each enabled alone): the first server's for both.
	const other = "2cd1a522-b9c5-4410-8aed-f3eca85eb367"
	bs := b.Server.Settings()
	bs.BypassID = other
	if err := b.Server.SetSettings(bs); err != nil {
		t.Fatal(err)
	}
	res = set("--enabled=true")
	if gotA, gotB := ids(); res.code != 0 || gotA != idA || gotB != idA || !strings.Contains(res.stdout, "different ones") {
		t.Fatalf("enable with different IDs: exit %d, IDs %q %q, want %q\n%s%s", res.code, gotA, gotB, idA, res.stdout, res.stderr)
	}
	// Already shared: nothing to say.
	if res = set("--enabled=true"); res.code != 0 || strings.Contains(res.stdout, "BypassID:") {
		t.Errorf("enable with one ID: exit %d\n%s", res.code, res.stdout)
	}

	// An empty --bypass-id (an unset shell variable) while enabled: refused
	// by each server, nothing changed.
	res = set("--bypass-id", "")
	if gotA, gotB := ids(); res.code != 1 || strings.Count(res.stderr, "400 Bad Request: BypassID:") != 2 || gotA != idA || gotB != idA {
		t.Errorf("empty --bypass-id: exit %d, IDs %q %q\n%s", res.code, gotA, gotB, res.stderr)
	}
}

// TestSettingsPoolDeadServer: a server of the pool that cannot be read is
// named, and never counted among those that "had no BypassID".
func TestSettingsPoolDeadServer(t *testing.T) {
	a := mediationtest.Start(t, mediationtest.Options{})
	if err := a.Server.SetSettings(mediation.BypassSettings{AlwaysBypass: true}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	res := runBinary(t, "settings", "set", "--admin", adminURL(a)+","+dead, "--enabled=true")
	id := a.Server.Settings().BypassID
	want := "BypassID: none of the servers read had one (" + adminURL(a) + " none; not read: " + dead + "); generated " + id + " for all 2"
	if res.code != 1 || id == "" || !strings.Contains(res.stdout, want) || strings.Contains(res.stdout, "no server had one") ||
		!strings.Contains(res.stderr, dead+": ") {
		t.Fatalf("exit %d stdout %q stderr %q; want 1, %q and the dead server's error", res.code, res.stdout, res.stderr, want)
	}
}

// TestSettingsAdminWithoutScheme: --admin HOST:PORT is a usage error that
// says what is wanted.
func TestSettingsAdminWithoutScheme(t *testing.T) {
	for _, verb := range []string{"get", "set"} {
		args := []string{"settings", verb, "--admin", "127.0.0.1:8081"}
		if verb == "set" {
			args = append(args, "--enabled=true")
		}
		res := runBinary(t, args...)
		if want := "mediation: settings " + verb + ": --admin \"127.0.0.1:8081\": want http(s)://HOST:PORT\n"; res.code != 2 || res.stderr != want {
			t.Errorf("%v: exit %d stderr %q; want 2 and %q", args, res.code, res.stderr, want)
		}
	}
}

// TestAdminURLWithoutSchemeOtherCommands: every command that takes the
// admin API's or the server's URL refuses HOST:PORT without http:// as
// `settings` does, a usage error naming the flag (exit 2) before anything
// runs: check's --admin (documented "as for mediation settings", and any
// server of a pool), trace --follow's --admin and counters' --url. Go's URL
// parser would answer "first path segment in URL cannot contain colon",
// and check would report every step failed (exit 1, a broken deployment to
// CI) for what is a typo.
func TestAdminURLWithoutSchemeOtherCommands(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"check", "--admin", "127.0.64.9:8081"}, `check: --admin "127.0.64.9:8081"`},
		{[]string{"check", "--admin", "http://127.0.64.9:8081,127.0.64.9:8082"}, `check: --admin "127.0.64.9:8082"`},
		{[]string{"trace", "--follow", "--admin", "127.0.64.9:8081"}, `trace: --admin "127.0.64.9:8081"`},
		{[]string{"counters", "--url", "127.0.64.9:8080"}, `counters: --url "127.0.64.9:8080"`},
	} {
		res := runBinary(t, c.args...)
		if want := "mediation: " + c.want + ": want http(s)://HOST:PORT\n"; res.code != 2 || res.stderr != want || res.stdout != "" {
			t.Errorf("%v: exit %d stdout %q stderr %q; want 2, no output and %q", c.args, res.code, res.stdout, res.stderr, want)
		}
	}
}

// interferingProxy forwards to admin and, at the first PATCH it sees, lets
// another writer give the server BypassID other: before the PATCH reaches
// it (before) or just after (the other writer's later write).
func interferingProxy(t *testing.T, l *mediationtest.Lab, other string, before bool) string {
	t.Helper()
	target, err := url.Parse(adminURL(l))
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var once sync.Once
	interfere := func() {
		s := l.Server.Settings()
		s.Enabled, s.BypassID = true, other
		if err := l.Server.SetSettings(s); err != nil {
			t.Error(err)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPatch {
			proxy.ServeHTTP(w, r)
			return
		}
		first := false
		once.Do(func() { first = true })
		if first && before {
			interfere()
		}
		proxy.ServeHTTP(w, r)
		if first && !before {
			interfere()
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestSettingsPoolConcurrentWriter: another writer enabling the pool at
// the same time (another `settings set`) changes a server between this
// run's read and write, or after its write: the run notices (412 to its
// conditional PATCH, or a BypassID read back that is not its own), reads
// again and ends with one BypassID on every server, never one each while
// saying "for all" (r24-ops F5).
func TestSettingsPoolConcurrentWriter(t *testing.T) {
	const other = "00000000-0000-4000-8000-000000000001" // smaller than any GUID the run generates
	for _, before := range []bool{false, true} {
		t.Run(map[bool]string{false: "after our write", true: "before our write"}[before], func(t *testing.T) {
			a := mediationtest.Start(t, mediationtest.Options{})
			b := mediationtest.Start(t, mediationtest.Options{})
			for _, l := range []*mediationtest.Lab{a, b} {
				s := l.Server.Settings()
				s.Enabled, s.BypassID = false, ""
				if err := l.Server.SetSettings(s); err != nil {
					t.Fatal(err)
				}
			}
			// The first server's PATCH is interfered with after it, the
			// second's before it.
			var pool string
			if before {
				pool = adminURL(a) + "," + interferingProxy(t, b, other, true)
			} else {
				pool = interferingProxy(t, a, other, false) + "," + adminURL(b)
			}
			res := runBinary(t, "settings", "set", "--admin", pool, "--enabled=true")
			idA, idB := a.Server.Settings().BypassID, b.Server.Settings().BypassID
			if res.code != 0 || idA == "" || !strings.EqualFold(idA, idB) {
				t.Fatalf("exit %d, IDs %q %q; want 0 and one ID\n%s%s", res.code, idA, idB, res.stdout, res.stderr)
			}
			if idA != other || strings.Count(res.stdout, "BypassID                       : "+other+"\n") != 2 ||
				!strings.Contains(res.stdout, "read again, round 2 of 5: "+other+" for all 2") {
				t.Errorf("IDs %q; want the smallest, %s, reported on both:\n%s", idA, other, res.stdout)
			}
		})
	}
}

// TestPoolBypassIDPrefersEnabled: from a pool command's second round the
// ID is the smallest of the servers with bypass enabled, whose clients
// learnt it, not a disabled server's older one; all servers' when none is
// enabled.
func TestPoolBypassIDPrefersEnabled(t *testing.T) {
	old, live := "11111111-0000-0000-0000-000000000000", "22222222-0000-0000-0000-000000000000"
	reads := []poolRead{
		{view: mediation.SettingsView{BypassID: old}},
		{view: mediation.SettingsView{Enabled: true, BypassID: live}},
	}
	if id, _ := poolBypassID([]string{"a", "b"}, reads, true); id != live {
		t.Errorf("chose %s, want the enabled server's %s", id, live)
	}
	reads[1].view.Enabled = false
	if id, _ := poolBypassID([]string{"a", "b"}, reads, true); id != old {
		t.Errorf("none enabled: chose %s, want the smallest, %s", id, old)
	}
}
