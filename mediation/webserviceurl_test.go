package mediation_test

import (
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/hybridconfig"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestWebServiceURLFollowsHTTPListen: a server without
// bypass.web_service_url advertises its own web service, on the port it
// actually bound, again after a restart on another port with a state file;
// a URL named in the config or by a change is advertised as written.
func TestWebServiceURLFollowsHTTPListen(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	state := filepath.Join(t.TempDir(), "state.json")
	withState := func(c *mediation.Config) { c.State.Path = state }
	start := func() *mediationtest.Lab {
		t.Helper()
		lab, err := mediationtest.New(ctx, mediationtest.Options{Configure: withState})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = lab.Close() })
		return lab
	}
	advertised := func(lab *mediationtest.Lab) mediation.SettingsView {
		t.Helper()
		code, body := adminDo(t, http.MethodGet, mediationtest.AdminURL(lab.Server, "/settings"), "", "")
		if code != http.StatusOK {
			t.Fatalf("GET /settings: %d %s", code, body)
		}
		return decodeView(t, body)
	}

	first := start()
	own := mediationtest.URL(first.Server, hybridconfig.Path)
	v := advertised(first)
	if v.HybridConfigServiceInternalUrl != own {
		t.Fatalf("lab on %s advertises %q, want its own %q", first.Server.HTTPAddr(), v.HybridConfigServiceInternalUrl, own)
	}
	// It is this server's web service: it grants this server's ID.
	grant, err := endpoint.FetchBypass(ctx, v.HybridConfigServiceInternalUrl, endpoint.DefaultClientUserAgent, netip.MustParseAddr("127.0.0.1"))
	if err != nil || !grant.Enabled || grant.BypassID != v.BypassID {
		t.Fatalf("fetch of the advertised URL: %+v, %v; want bypass granted with %s", grant, err, v.BypassID)
	}

	// Another setting changed and kept: the next start, on another port,
	// keeps it and advertises its own web service again.
	if code, body := adminDo(t, http.MethodPatch, mediationtest.AdminURL(first.Server, "/settings"), "", `{"Enabled":false}`); code != http.StatusOK {
		t.Fatalf("PATCH: %d %s", code, body)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second := start()
	if v := advertised(second); v.Enabled || v.HybridConfigServiceInternalUrl != mediationtest.URL(second.Server, hybridconfig.Path) {
		t.Fatalf("after a restart on %s with the state file: %+v; want Enabled false and its own URL", second.Server.HTTPAddr(), v)
	}

	// A URL named by a change is kept as written across a restart.
	const named = "http://hybridvoice.lab.test:8080" + hybridconfig.Path
	if code, body := adminDo(t, http.MethodPatch, mediationtest.AdminURL(second.Server, "/settings"), "",
		`{"HybridConfigServiceInternalUrl":"`+named+`"}`); code != http.StatusOK {
		t.Fatalf("PATCH: %d %s", code, body)
	}
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	if v := advertised(start()); v.HybridConfigServiceInternalUrl != named {
		t.Fatalf("after a restart: advertises %q, want the URL the change named, %q", v.HybridConfigServiceInternalUrl, named)
	}

	// And one named in the config.
	lab := mediationtest.Start(t, mediationtest.Options{Configure: func(c *mediation.Config) { c.Bypass.WebServiceURL = named }})
	if v := advertised(lab); v.HybridConfigServiceInternalUrl != named {
		t.Fatalf("bypass.web_service_url %q: advertises %q", named, v.HybridConfigServiceInternalUrl)
	}
}

func TestWebServiceURLAt(t *testing.T) {
	for _, tt := range []struct{ listen, want string }{
		{"127.0.0.71:18080", "http://127.0.0.71:18080" + hybridconfig.Path},
		{"0.0.0.0:8080", "http://127.0.0.1:8080" + hybridconfig.Path},
		{"[::]:8080", "http://127.0.0.1:8080" + hybridconfig.Path},
		{"[::1]:80", "http://[::1]:80" + hybridconfig.Path},
	} {
		if got := mediation.WebServiceURLAt(netip.MustParseAddrPort(tt.listen)); got != tt.want {
			t.Errorf("WebServiceURLAt(%s) = %q, want %q", tt.listen, got, tt.want)
		}
	}
}

func TestWebServiceURLWarning(t *testing.T) {
	for _, tt := range []struct {
		url, listen string
		warn        bool
	}{
		{"", "127.0.0.71:18080", false},
		{"http://127.0.0.71:18080" + hybridconfig.Path, "127.0.0.71:18080", false},
		{"http://127.0.0.1:8080" + hybridconfig.Path, "127.0.0.71:18080", true},  // the report's case
		{"http://127.0.0.71:8080" + hybridconfig.Path, "127.0.0.71:18080", true}, // port
		{"http://127.0.0.1:8080" + hybridconfig.Path, "0.0.0.0:8080", false},     // any address
		{"http://hybridvoice.lab.test:8080" + hybridconfig.Path, "127.0.0.1:8080", false},
		{"http://hybridvoice.lab.test" + hybridconfig.Path, "127.0.0.1:8080", true}, // port 80
		{"https://hybridvoice.lab.test" + hybridconfig.Path, "127.0.0.1:443", false},
		{"http://127.0.0.1:8080" + hybridconfig.Path, "127.0.0.1:0", false}, // :0 takes any port
	} {
		cfg := mediation.DefaultConfig()
		cfg.Bypass.WebServiceURL, cfg.HTTPListen = tt.url, tt.listen
		w := cfg.WebServiceURLWarning()
		if (w != "") != tt.warn || tt.warn && !strings.Contains(w, "http_listen "+tt.listen) {
			t.Errorf("url %q listen %s: warning %q, want one: %v", tt.url, tt.listen, w, tt.warn)
		}
	}
}
