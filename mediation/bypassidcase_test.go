package mediation_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/hybridconfig"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestBypassIDStoredLowerCase: a BypassID given in upper case (admin API,
// config, state file) is stored in lower case, the form SfB clients use,
// so the web service hands out that one spelling and every a=x-bypassid we
// send carries it, whatever the spelling of the client's (r25-bypass F3):
// a client comparing IDs case-sensitively would otherwise see no match.
// Matching stays case-insensitive: a client offering the upper-case form
// is bypassed.
func TestBypassIDStoredLowerCase(t *testing.T) {
	const upper = "7A9E1B2D-77A9-4470-8FB9-A17A02940877"
	lower := strings.ToLower(upper)
	// handedOut is the bypassID of the web service's XML for a supported client.
	handedOut := func(t *testing.T, srv *mediation.Server) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, mediationtest.URL(srv, hybridconfig.Path), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("User-Agent", endpoint.SfBUserAgent(mediationtest.SupportedVersion))
		res, err := adminClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || bytes.Contains(body, []byte(upper)) || !bytes.Contains(body, []byte(`bypassID="`+lower+`"`)) {
			t.Errorf("web service: %d %s, want bypassID=%q", res.StatusCode, body, lower)
		}
	}
	// settingsView is GET /settings.
	settingsView := func(t *testing.T, srv *mediation.Server) mediation.SettingsView {
		t.Helper()
		code, body := adminDo(t, http.MethodGet, mediationtest.AdminURL(srv, "/settings"), "", "")
		if code != 200 {
			t.Fatalf("GET /settings: %d %s", code, body)
		}
		return decodeView(t, body)
	}

	t.Run("admin PATCH, and calls", func(t *testing.T) {
		ctx := testCtx(t, 30*time.Second)
		state := filepath.Join(t.TempDir(), "state.json")
		sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
		sbcMedia, clientMedia := sockPort(rtpSock(t)), sockPort(rtpSock(t))
		sbc.invites(func(pi *peerInvite) { pi.respond(200, loopSDP(sbcMedia, "sendrecv", true, "PCMU")) })
		edge.invites(func(pi *peerInvite) { pi.respond(200, loopSDP(clientMedia, "sendrecv", true, "PCMU")) })
		srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
			c.Edge.Peer, c.State.Path = edge.addr().String(), state
		})
		code, body := adminDo(t, http.MethodPatch, mediationtest.AdminURL(srv, "/settings"), "", `{"BypassID":"`+upper+`"}`)
		if code != 200 || decodeView(t, body).BypassID != lower {
			t.Fatalf("PATCH BypassID=%s: %d %s, want the ID in lower case", upper, code, body)
		}
		if got := settingsView(t, srv).BypassID; got != lower || srv.Settings().BypassID != lower {
			t.Errorf("GET /settings BypassID %s, Settings() %s, want %s", got, srv.Settings().BypassID, lower)
		}
		if saved, err := os.ReadFile(state); err != nil || bytes.Contains(saved, []byte(upper)) || !bytes.Contains(saved, []byte(lower)) {
			t.Errorf("state file (%v):\n%s\nwant the ID in lower case", err, saved)
		}
		handedOut(t, srv)

		// Outbound: the client offers the upper-case form (it matches) and
		// gets our spelling back.
		offer := bytes.Replace(loopSDP(sockPort(rtpSock(t)), "sendrecv", true, "PCMU"), []byte("a=ptime"), []byte("a=x-bypassid:"+upper+"\r\na=ptime"), 1)
		oc := startPeer(t, "caller").call(ctx, srv.EdgeAddr(), "udp", offer)
		if res := oc.answer(ctx, nil); res.StatusCode != 200 {
			t.Fatalf("outbound call: %d", res.StatusCode)
		}
		_ = oc.d.Ack(ctx)
		if got := media(t, "answer to the client", oc.final.Body()).BypassID; got != lower {
			t.Errorf("answer to the client has a=x-bypassid:%q, want %q (bypassed, our spelling)", got, lower)
		}
		_ = oc.d.Bye(ctx)
		sbc.wait(ctx, gosip.BYE, 1)

		// Inbound: our offer to the client carries it.
		ic := sbc.call(ctx, srv.GatewayAddr(), "udp", loopSDP(sockPort(rtpSock(t)), "sendrecv", true, "PCMU"))
		if res := ic.answer(ctx, nil); res.StatusCode != 200 {
			t.Fatalf("inbound call: %d", res.StatusCode)
		}
		_ = ic.d.Ack(ctx)
		if got := media(t, "offer to the client", edge.wait(ctx, gosip.INVITE, 1).Body()).BypassID; got != lower {
			t.Errorf("offer to the client has a=x-bypassid:%q, want %q", got, lower)
		}
		_ = ic.d.Bye(ctx)
		edge.wait(ctx, gosip.BYE, 1)
		waitCalls(t, srv, 0)
	})

	t.Run("config", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "mediation.yaml")
		if err := os.WriteFile(path, []byte("bypass:\n  bypass_id: "+upper+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := mediation.LoadConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Bypass.BypassID != lower {
			t.Errorf("LoadConfig: bypass_id %s, want %s", cfg.Bypass.BypassID, lower)
		}
		// Set after loading (serve --bypass-id): lowered as the server takes it.
		lab := mediationtest.Start(t, mediationtest.Options{Configure: func(c *mediation.Config) { c.Bypass.BypassID = upper }})
		if got := settingsView(t, lab.Server).BypassID; got != lower {
			t.Errorf("config's %s: GET /settings has %s, want %s", upper, got, lower)
		}
		handedOut(t, lab.Server)
	})

	t.Run("state file", func(t *testing.T) {
		// A file written with another spelling (by hand, or before IDs
		// were lowered).
		state := filepath.Join(t.TempDir(), "state.json")
		lab := mediationtest.Start(t, mediationtest.Options{Configure: func(c *mediation.Config) { c.State.Path = state }})
		code, body := adminDo(t, http.MethodPatch, mediationtest.AdminURL(lab.Server, "/settings"), "", `{"Enabled":true}`)
		if code != 200 {
			t.Fatalf("PATCH: %d %s", code, body)
		}
		saved, err := os.ReadFile(state)
		if err != nil {
			t.Fatal(err)
		}
		var f map[string]any
		if err := json.Unmarshal(saved, &f); err != nil {
			t.Fatal(err)
		}
		f["settings"].(map[string]any)["BypassID"] = upper
		saved, _ = json.Marshal(f)
		if err := os.WriteFile(state, saved, 0o600); err != nil {
			t.Fatal(err)
		}
		again := mediationtest.Start(t, mediationtest.Options{Configure: func(c *mediation.Config) { c.State.Path = state }})
		if got := settingsView(t, again.Server).BypassID; got != lower {
			t.Errorf("state file's %s: GET /settings has %s, want %s", upper, got, lower)
		}
		handedOut(t, again.Server)
	})
}
