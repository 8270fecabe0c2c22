package endpoint_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/hybridconfig"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

func TestSfBUserAgent(t *testing.T) {
	if got := endpoint.SfBUserAgent("16.0.7870.2020"); got != endpoint.DefaultClientUserAgent {
		t.Errorf("SfBUserAgent = %q, want %q", got, endpoint.DefaultClientUserAgent)
	}
	v, ok := hybridconfig.ClientVersion(endpoint.SfBUserAgent("15.0.4420.1017"))
	if !ok || v != (hybridconfig.Version{15, 0, 4420, 1017}) {
		t.Errorf("the web service reads version %v (ok %v) from the Lync 2013 User-Agent", v, ok)
	}
}

// TestFetchBypass asks a real mediation server's web service as each kind of
// client CCE tells apart.
func TestFetchBypass(t *testing.T) {
	internalOnly := func(c *mediation.Config) { c.Bypass.InternalSubnets = []string{"127.0.0.1/32"} }
	lab := mediationtest.Start(t, mediationtest.Options{Configure: internalOnly})
	disabled := mediationtest.Start(t, mediationtest.Options{BypassDisabled: true})
	service := func(l *mediationtest.Lab) string { return mediationtest.URL(l.Server, hybridconfig.Path) }
	tests := []struct {
		name       string
		url        string
		version    string
		source     string
		wantStatus int
		wantID     string // "" means not granted
	}{
		{"supported internal client", service(lab), "16.0.7870.2020", "127.0.0.1", 200, mediationtest.DefaultBypassID},
		{"newer client, any source address", service(lab), "16.0.8201.2025", "", 200, mediationtest.DefaultBypassID},
		{"Lync 2013", service(lab), "15.0.4420.1017", "127.0.0.1", 200, ""},
		{"one build too old", service(lab), "16.0.7870.2019", "127.0.0.1", 200, ""},
		{"external client", service(lab), "16.0.7870.2020", "127.0.0.2", 403, ""},
		{"bypass disabled", service(disabled), "16.0.7870.2020", "127.0.0.1", 200, ""},
		{"no service there", "http://" + closedPort(t) + hybridconfig.Path, "16.0.7870.2020", "127.0.0.1", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := webContext(t)
			var src netip.Addr
			if tt.source != "" {
				src = netip.MustParseAddr(tt.source)
			}
			g, err := endpoint.FetchBypass(ctx, tt.url, endpoint.SfBUserAgent(tt.version), src)
			if err != nil {
				t.Fatalf("FetchBypass: %v", err)
			}
			if g.Status != tt.wantStatus || g.Enabled != (tt.wantID != "") || g.BypassID != tt.wantID || g.Reason == "" {
				t.Errorf("grant %+v, want status %d, bypass ID %q and a reason", g, tt.wantStatus, tt.wantID)
			}
		})
	}
}

// webContext bounds a web-service test.
func webContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestFetchBypassOddAnswers covers answers a real service should not give.
func TestFetchBypassOddAnswers(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		wantErr    bool
		wantStatus int
	}{
		{"not the document", 200, "<html>hello</html>", true, 200},
		{"not XML", 200, "{\"bypass\":true}", true, 200},
		{"server error", 500, "oops", false, 500},
		{"granted without an ID", 200, `<HybridConfig><MediaBypass bypassEnabled="true" internalBypassMode="Any" externalBypassMode="Off"></MediaBypass></HybridConfig>`, false, 200},
		{"modes off", 200, `<HybridConfig><MediaBypass bypassEnabled="true" internalBypassMode="Off" externalBypassMode="Off" bypassID="x"></MediaBypass></HybridConfig>`, false, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := webContext(t)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.UserAgent() != endpoint.DefaultClientUserAgent {
					t.Errorf("User-Agent %q", r.UserAgent())
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			g, err := endpoint.FetchBypass(ctx, srv.URL+hybridconfig.Path, endpoint.DefaultClientUserAgent, netip.Addr{})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tt.wantErr)
			}
			if g.Enabled || g.BypassID != "" || g.Status != tt.wantStatus {
				t.Errorf("grant %+v, want status %d and no bypass", g, tt.wantStatus)
			}
		})
	}
}

func TestFetchBypassBadInput(t *testing.T) {
	ctx := webContext(t)
	for _, u := range []string{"", "127.0.0.1:8080/x", "ftp://127.0.0.1/x", "http://", "http://[::1"} {
		if _, err := endpoint.FetchBypass(ctx, u, endpoint.DefaultClientUserAgent, netip.Addr{}); err == nil || !strings.Contains(err.Error(), "bypass web service") {
			t.Errorf("FetchBypass(%q): err = %v, want a bypass web service error", u, err)
		}
	}
	// A cancelled fetch is the caller's doing, not an external client.
	cctx, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	<-cctx.Done()
	if _, err := endpoint.FetchBypass(cctx, "http://"+closedPort(t)+"/x", endpoint.DefaultClientUserAgent, netip.Addr{}); err == nil {
		t.Error("FetchBypass with an ended context: no error")
	}
}
