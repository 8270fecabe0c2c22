package mediation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/hybridconfig"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// adminClient does not keep connections, so goroutine-leak checks see none.
var adminClient = &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// adminDo sends one admin request and returns the status and body.
func adminDo(t *testing.T, method, url, token, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := adminClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, data
}

func decodeView(t *testing.T, data []byte) mediation.SettingsView {
	t.Helper()
	var v mediation.SettingsView
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("settings %q: %v", data, err)
	}
	return v
}

func TestAdminSettings(t *testing.T) {
	lab := mediationtest.Start(t, mediationtest.Options{})
	url := mediationtest.AdminURL(lab.Server, "/settings")
	const id = "be38f190-a24a-4a72-b66c-b09fd0909ebc"
	// The lab leaves bypass.web_service_url out: it advertises its own.
	ws := mediationtest.URL(lab.Server, hybridconfig.Path)

	code, body := adminDo(t, http.MethodGet, url, "", "")
	want := mediation.SettingsView{Enabled: true, AlwaysBypass: true, BypassID: id, InternalBypassMode: "Any",
		ExternalBypassMode: "Off", HybridConfigServiceInternalUrl: ws}
	if got := decodeView(t, body); code != 200 || got != want {
		t.Fatalf("GET /settings = %d %+v, want 200 %+v", code, got, want)
	}

	// PATCH changes only what it names: disabling keeps the ID and the URL.
	code, body = adminDo(t, http.MethodPatch, url, "", `{"Enabled":false}`)
	want.Enabled, want.InternalBypassMode = false, "Off"
	if got := decodeView(t, body); code != 200 || got != want || lab.Server.Settings().Enabled {
		t.Fatalf("PATCH Enabled=false = %d %+v, want 200 %+v", code, got, want)
	}

	// A GET's output sent back as a PUT changes nothing.
	_, body = adminDo(t, http.MethodGet, url, "", "")
	if code, again := adminDo(t, http.MethodPut, url, "", string(body)); code != 200 || decodeView(t, again) != want {
		t.Fatalf("PUT of GET's output = %d %s", code, again)
	}

	// Enabling without a BypassID generates one, as New-CsNetworkMediaBypassConfiguration does.
	code, body = adminDo(t, http.MethodPut, url, "", `{"Enabled":true,"AlwaysBypass":true,"HybridConfigServiceInternalUrl":"`+ws+`"}`)
	got := decodeView(t, body)
	if _, err := uuid.Parse(got.BypassID); code != 200 || err != nil || got.BypassID == id || !got.Enabled {
		t.Fatalf("PUT without BypassID = %d %+v, want a new GUID", code, got)
	}
	generated := got.BypassID

	for _, tt := range []struct {
		method, body, field string
	}{
		{http.MethodPatch, `{"BypassID":"not-a-guid"}`, "BypassID"},
		{http.MethodPatch, `{"BypassID":"{be38f190-a24a-4a72-b66c-b09fd0909ebc}"}`, "BypassID"},
		{http.MethodPatch, `{"HybridConfigServiceInternalUrl":"ftp://mediation/hybridconfig/hybridconfigservice.svc"}`, "HybridConfigServiceInternalUrl"},
		{http.MethodPatch, `{"HybridConfigServiceInternalUrl":"http://mediation/other.svc"}`, "HybridConfigServiceInternalUrl"},
		{http.MethodPatch, `{"HybridConfigServiceInternalUrl":"not a url"}`, "HybridConfigServiceInternalUrl"},
		{http.MethodPatch, `{"AlwaysBypass":false}`, "AlwaysBypass"},
		{http.MethodPatch, `{"Enabled":"yes"}`, "Enabled"},
		{http.MethodPatch, `{"Bogus":1}`, "Bogus"},
		{http.MethodPatch, `{"InternalBypassMode":"Off"}`, "InternalBypassMode"},
		{http.MethodPatch, `{"ExternalBypassMode":"Any"}`, "ExternalBypassMode"},
		{http.MethodPatch, `{"Enabled":true`, "body"},
		{http.MethodPut, `{"Enabled":false,"AlwaysBypass":true}`, "HybridConfigServiceInternalUrl"},
		// An explicit empty ID while enabled is refused, not replaced by a
		// random one that the pool's other servers do not share.
		{http.MethodPatch, `{"BypassID":""}`, "BypassID"},
		{http.MethodPut, `{"Enabled":true,"AlwaysBypass":true,"BypassID":"","HybridConfigServiceInternalUrl":"` + ws + `"}`, "BypassID"},
		{http.MethodPatch, `{"Enabled":null}`, "Enabled"},
		{http.MethodPatch, `{"AlwaysBypass":true,"BypassID":null}`, "BypassID"},
		{http.MethodPatch, `[{"Enabled":false}]`, "body"},
		{http.MethodPatch, `{"HybridConfigServiceInternalUrl":"http://mediation:99999/hybridconfig/hybridconfigservice.svc"}`, "HybridConfigServiceInternalUrl"},
		{http.MethodPatch, `{"HybridConfigServiceInternalUrl":"http://mediation:0/hybridconfig/hybridconfigservice.svc"}`, "HybridConfigServiceInternalUrl"},
	} {
		code, body := adminDo(t, tt.method, url, "", tt.body)
		var e struct{ Error, Field string }
		if err := json.Unmarshal(body, &e); code != 400 || err != nil || e.Field != tt.field || !strings.HasPrefix(e.Error, tt.field+": ") {
			t.Errorf("%s %s = %d %s, want 400 naming %s", tt.method, tt.body, code, body, tt.field)
		}
	}
	if s := lab.Server.Settings(); s.BypassID != generated || !s.Enabled || s.WebServiceURL != ws {
		t.Fatalf("refused changes changed the settings: %+v", s)
	}
	// The array's message says what is expected, not a Go type.
	if _, body := adminDo(t, http.MethodPatch, url, "", `[{"Enabled":false}]`); !strings.Contains(string(body), "JSON object") ||
		strings.Contains(string(body), "mediation.") {
		t.Errorf("PATCH of an array: %s", body)
	}

	// Disabled, the ID may be cleared; enabling then generates one.
	code, body = adminDo(t, http.MethodPatch, url, "", `{"Enabled":false,"BypassID":""}`)
	if got := decodeView(t, body); code != 200 || got.BypassID != "" || got.Enabled {
		t.Fatalf("PATCH disable and clear = %d %s", code, body)
	}
	code, body = adminDo(t, http.MethodPatch, url, "", `{"Enabled":true}`)
	if got := decodeView(t, body); code != 200 || !got.Enabled || got.BypassID == "" || got.BypassID == generated {
		t.Fatalf("PATCH enable without an ID = %d %s, want a new GUID", code, body)
	}
}

// TestClientListenerServesNoAdmin checks that the listener clients reach
// has no settings or calls, and that health checks and /metrics take GET
// and HEAD only.
func TestClientListenerServesNoAdmin(t *testing.T) {
	lab := mediationtest.Start(t, mediationtest.Options{})
	for _, tt := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/mediabypasssettings", 404},
		{http.MethodPut, "/mediabypasssettings", 404},
		{http.MethodGet, "/settings", 404},
		{http.MethodPatch, "/settings", 404},
		{http.MethodGet, "/calls", 404},
		{http.MethodGet, "/debug/pprof/", 404},
		{http.MethodGet, "/healthz", 200},
		{http.MethodHead, "/healthz", 200},
		{http.MethodPost, "/healthz", 405},
		{http.MethodGet, "/readyz", 200},
		{http.MethodHead, "/readyz", 200},
		{http.MethodDelete, "/readyz", 405},
		{http.MethodGet, "/metrics", 200},
		{http.MethodPost, "/metrics", 405},
		{http.MethodPut, "/metrics", 405},
		{http.MethodGet, hybridconfig.Path, 200},
		{http.MethodGet, "/HybridConfig/HybridConfigService.svc", 200}, // as IIS: any case
		{http.MethodGet, "/HybridConfig/Other.svc", 404},
	} {
		if code, body := adminDo(t, tt.method, mediationtest.URL(lab.Server, tt.path), "", ""); code != tt.want {
			t.Errorf("%s %s on http_listen = %d %q, want %d", tt.method, tt.path, code, body, tt.want)
		}
	}
	if code, body := adminDo(t, http.MethodGet, mediationtest.AdminURL(lab.Server, "/debug/pprof/"), "", ""); code != 200 || !bytes.Contains(body, []byte("goroutine")) {
		t.Errorf("GET /debug/pprof/ on admin.listen = %d", code)
	}
}

func TestAdminToken(t *testing.T) {
	const token = "0123456789abcdef-token"
	lab := mediationtest.Start(t, mediationtest.Options{Configure: func(c *mediation.Config) { c.Admin.Token = token }})
	url := mediationtest.AdminURL(lab.Server, "/settings")
	for _, tt := range []struct {
		name, header string
		want         int
	}{
		{"no header", "", 401},
		{"wrong token", "Bearer 0123456789abcdef-tokeN", 401},
		{"prefix of the token", "Bearer 0123456789abcdef", 401},
		{"basic scheme", "Basic " + token, 401},
		{"scheme glued to the token", "Bearer" + token, 401},
		{"right token", "Bearer " + token, 200},
		// RFC 7235 §2.1: the auth-scheme is case-insensitive.
		{"lower-case scheme", "bearer " + token, 200},
		{"upper-case scheme", "BEARER  " + token, 200},
	} {
		req, _ := http.NewRequest(http.MethodPatch, url, strings.NewReader(`{"Enabled":false}`))
		req.Header.Set("Content-Type", "application/json")
		if tt.header != "" {
			req.Header.Set("Authorization", tt.header)
		}
		res, err := adminClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, res.StatusCode, tt.want)
		}
		if tt.want == 401 && (res.Header.Get("WWW-Authenticate") == "" || !lab.Server.Settings().Enabled) {
			t.Errorf("%s: refused without WWW-Authenticate, or the settings changed anyway", tt.name)
		}
	}
	if lab.Server.Settings().Enabled {
		t.Error("the authenticated PATCH did not disable bypass")
	}
}

// TestAdminPatchSwitchesNewCalls checks that a settings change applies to
// calls that start after it while a call in progress keeps its media path,
// and that DELETE /calls/{id} hangs a call up.
func TestAdminPatchSwitchesNewCalls(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	records := t.TempDir() + "/calls.jsonl"
	lab := mediationtest.Start(t, mediationtest.Options{Configure: func(c *mediation.Config) { c.Records.Path = records }})
	client, err := lab.NewClient(ctx, mediationtest.ClientOptions{Version: mediationtest.SupportedVersion})
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan endpoint.CallReport, 1)
	go func() {
		rep, _ := client.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr(), To: "+15550199", WaitRemoteHangup: true})
		first <- rep
	}()
	var live []mediation.Record
	var liveBody []byte
	for {
		code, body := adminDo(t, http.MethodGet, mediationtest.AdminURL(lab.Server, "/calls"), "", "")
		live, liveBody = nil, body
		if code == 200 && json.Unmarshal(body, &live) == nil && len(live) == 1 && live[0].AnswerTime != nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("first call never answered: %d %s", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A call in progress has not ended: no endTime (r24-ops F7).
	if strings.Contains(string(liveBody), `"endTime"`) {
		t.Errorf("GET /calls gives a call in progress an endTime: %s", liveBody)
	}
	if !live[0].MediationServerBypass {
		t.Fatalf("first call not bypassed: %+v", live[0])
	}

	if code, body := adminDo(t, http.MethodPatch, mediationtest.AdminURL(lab.Server, "/settings"), "", `{"Enabled":false}`); code != 200 {
		t.Fatalf("PATCH: %d %s", code, body)
	}
	second, err := lab.CallOut(ctx, client, endpoint.CallOptions{Duration: 300 * time.Millisecond})
	if err != nil || second.Media() != mediationtest.MediaAnchored || !second.AudioOK() {
		t.Fatalf("call after disabling bypass: %v, media %s, audio ok %v; want anchored", err, second.Media(), second.AudioOK())
	}
	// The second call may still be ending; the first must be there, bypassed.
	kept := false
	for _, c := range lab.Server.Calls() {
		kept = kept || c.CallID == live[0].CallID && c.MediationServerBypass
	}
	if !kept {
		t.Fatalf("call in progress lost its bypass: %+v", lab.Server.Calls())
	}

	// Enabled again, the next call is bypassed again.
	if code, body := adminDo(t, http.MethodPatch, mediationtest.AdminURL(lab.Server, "/settings"), "", `{"Enabled":true}`); code != 200 {
		t.Fatalf("PATCH: %d %s", code, body)
	}
	third, err := lab.CallOut(ctx, client, endpoint.CallOptions{Duration: 300 * time.Millisecond})
	if err != nil || third.Media() != mediationtest.MediaBypassed || !third.AudioOK() {
		t.Fatalf("call after enabling bypass again: %v, media %s, audio ok %v; want bypassed", err, third.Media(), third.AudioOK())
	}

	// Hang the first call up by its id; an unknown id is 404.
	if code, _ := adminDo(t, http.MethodDelete, mediationtest.AdminURL(lab.Server, "/calls/no-such-call"), "", ""); code != 404 {
		t.Errorf("DELETE of an unknown call = %d, want 404", code)
	}
	code, body := adminDo(t, http.MethodDelete, mediationtest.AdminURL(lab.Server, "/calls/"+live[0].CallID), "", "")
	if code != 200 {
		t.Fatalf("DELETE /calls/%s = %d %s", live[0].CallID, code, body)
	}
	var ended mediation.Record
	if err := json.Unmarshal([]byte(body), &ended); err != nil || ended.EndReason != "hung up by admin" || ended.EndTime.IsZero() {
		t.Errorf("DELETE answered %s (%v), want the ended call's record (end reason \"hung up by admin\", an end time)", body, err)
	}
	select {
	case rep := <-first:
		if rep.Code != 200 || rep.EndedBy != endpoint.EndedRemoteBye {
			t.Fatalf("hung-up call: code %d ended by %s (%v), want 200 and remote-bye", rep.Code, rep.EndedBy, rep.Err)
		}
	case <-ctx.Done():
		t.Fatal("the client never saw the hang-up")
	}
	mediationtest.WaitMetric(t, lab.Server, 0, "mediationserver_calls_current", "direction", "outbound")
	var reasons []string
	for _, r := range readRecords(t, records) {
		if r.CallID == live[0].CallID {
			reasons = append(reasons, r.EndReason)
		}
	}
	if len(reasons) != 1 || reasons[0] != "hung up by admin" {
		t.Errorf("record of the hung-up call: end reasons %q, want one \"hung up by admin\"", reasons)
	}
}

// TestAdminHangUpBusyCall: DELETE /calls/{id} of a call whose goroutine is
// busy (a transfer waiting for its replaced call) cannot read the call's
// state: 503 with Retry-After, the call not hung up (r23-review3 #3: the
// handler once went on with the state its timed-out query had not read,
// which the query, running later, then wrote as the handler read it). Once
// the call is free again, the hang-up works.
func TestAdminHangUpBusyCall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lab := mediationtest.Start(t, mediationtest.Options{})
	client, err := lab.NewClient(ctx, mediationtest.ClientOptions{Version: mediationtest.SupportedVersion})
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan endpoint.CallReport, 1)
	go func() {
		rep, _ := client.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr(), To: "+15550199", WaitRemoteHangup: true})
		first <- rep
	}()
	var live []mediation.Record
	for {
		code, body := adminDo(t, http.MethodGet, mediationtest.AdminURL(lab.Server, "/calls"), "", "")
		live = nil
		if code == 200 && json.Unmarshal(body, &live) == nil && len(live) == 1 && live[0].AnswerTime != nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("call never answered: %d %s", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	release, ok := lab.Server.BlockCall(live[0].CallID)
	if !ok {
		t.Fatal("call not blocked")
	}
	code, body := adminDo(t, http.MethodDelete, mediationtest.AdminURL(lab.Server, "/calls/"+live[0].CallID), "", "")
	release()
	if code != http.StatusServiceUnavailable {
		t.Fatalf("DELETE of a busy call = %d %s, want 503", code, body)
	}
	var e struct{ Error string }
	if json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, "busy") {
		t.Errorf("DELETE of a busy call answered %s, want an error saying the call is busy", body)
	}
	if n := len(lab.Server.Calls()); n != 1 {
		t.Fatalf("%d calls in progress after a refused hang-up, want 1", n)
	}
	code, body = adminDo(t, http.MethodDelete, mediationtest.AdminURL(lab.Server, "/calls/"+live[0].CallID), "", "")
	if code != 200 {
		t.Fatalf("DELETE /calls/%s = %d %s", live[0].CallID, code, body)
	}
	select {
	case rep := <-first:
		if rep.Code != 200 || rep.EndedBy != endpoint.EndedRemoteBye {
			t.Fatalf("hung-up call: code %d ended by %s (%v), want 200 and remote-bye", rep.Code, rep.EndedBy, rep.Err)
		}
	case <-ctx.Done():
		t.Fatal("the client never saw the hang-up")
	}
}

// TestSettingsSurviveRestart changes the settings through the admin API and
// checks that a server started again on the same state file has them, over
// the config's values.
func TestSettingsSurviveRestart(t *testing.T) {
	path := t.TempDir() + "/state.json"
	const id = "2cd1a522-b9c5-4410-8aed-f3eca85eb367"
	configure := func(c *mediation.Config) { c.State.Path = path }
	lab, err := mediationtest.New(context.Background(), mediationtest.Options{Configure: configure})
	if err != nil {
		t.Fatal(err)
	}
	code, body := adminDo(t, http.MethodPatch, mediationtest.AdminURL(lab.Server, "/settings"), "", `{"Enabled":false,"BypassID":"`+id+`"}`)
	if code != 200 {
		t.Fatalf("PATCH: %d %s", code, body)
	}
	want := decodeView(t, body)
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	again := mediationtest.Start(t, mediationtest.Options{Configure: configure})
	// The URL was the server's own web service: it follows to the new port.
	want.HybridConfigServiceInternalUrl = mediationtest.URL(again.Server, hybridconfig.Path)
	code, body = adminDo(t, http.MethodGet, mediationtest.AdminURL(again.Server, "/settings"), "", "")
	if got := decodeView(t, body); code != 200 || got != want || got.BypassID != id || got.Enabled {
		t.Fatalf("settings after restart = %d %+v, want %+v", code, got, want)
	}
}

// TestAdminTokenFile reads the token from admin.token_file (white space
// around it ignored); an empty file stops the start.
func TestAdminTokenFile(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/token"
	if err := os.WriteFile(path, []byte("  file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lab := mediationtest.Start(t, mediationtest.Options{Configure: func(c *mediation.Config) { c.Admin.TokenFile = path }})
	url := mediationtest.AdminURL(lab.Server, "/settings")
	if code, _ := adminDo(t, http.MethodGet, url, "", ""); code != 401 {
		t.Errorf("without the token: %d, want 401", code)
	}
	if code, _ := adminDo(t, http.MethodGet, url, "file-token", ""); code != 200 {
		t.Errorf("with the file's token: %d, want 200", code)
	}
	empty := dir + "/empty"
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := mediation.DefaultConfig()
	cfg.Admin.TokenFile = empty
	_, err := mediation.NewServer(cfg, zerolog.Nop())
	var ce *mediation.ConfigError
	if !errors.As(err, &ce) || ce.Field != "admin.token_file" {
		t.Fatalf("NewServer with an empty token file: %v, want an admin.token_file config error", err)
	}
}

// TestStaleStateTempsRemoved starts a server beside the temporary files a
// settings write killed before its rename leaves: they are removed once the
// server is up; files of other names next to the state file are not.
func TestStaleStateTempsRemoved(t *testing.T) {
	dir := t.TempDir()
	stale := []string{".state.json.tmp-1234567", ".state.json.tmp-42"}
	kept := []string{".state.json.tmp-", ".state.json.tmp-12ab", ".other.json.tmp-1234", "state.json.tmp-1234", "notes.txt"}
	for _, name := range append(append([]string{}, stale...), kept...) {
		if err := os.WriteFile(dir+"/"+name, []byte(`{"version":1,"settings":{"Enab`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mediationtest.Start(t, mediationtest.Options{Configure: func(c *mediation.Config) { c.State.Path = dir + "/state.json" }})
	for _, name := range stale {
		if _, err := os.Stat(dir + "/" + name); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after start: %v, want removed", name, err)
		}
	}
	for _, name := range kept {
		if _, err := os.Stat(dir + "/" + name); err != nil {
			t.Errorf("%s after start: %v, want kept", name, err)
		}
	}
}

// TestAdminRebinding: without admin.token (loopback), a request naming
// another host (a DNS-rebinding page's), or carrying another page's
// Origin, is refused with 421 and changes nothing, as is a settings change
// that is not application/json (415); the API's own names and origin, and
// JSON bodies, are served.
func TestAdminRebinding(t *testing.T) {
	lab := mediationtest.Start(t, mediationtest.Options{})
	url := mediationtest.AdminURL(lab.Server, "/settings")
	port := url[strings.LastIndex(url, ":")+1 : strings.Index(url, "/settings")]
	for _, tt := range []struct {
		name, method, host, origin, ctype string
		want                              int
	}{
		{"rebound name", http.MethodPatch, "rebind.attacker.example:" + port, "", "application/json", 421},
		{"rebound name and origin", http.MethodPatch, "rebind.attacker.example:" + port, "http://rebind.attacker.example:" + port, "application/json", 421},
		{"rebound name, GET", http.MethodGet, "attacker.example:" + port, "", "", 421},
		{"rebound name without port", http.MethodGet, "attacker.example", "", "", 421},
		{"foreign origin", http.MethodPatch, "", "http://attacker.example", "application/json", 421},
		{"null origin", http.MethodPatch, "", "null", "application/json", 421},
		{"text/plain body", http.MethodPatch, "", "", "text/plain", 415},
		// An <img> or <iframe> of another site's page sends no Origin.
		{"another site's GET", http.MethodGet, "", "", "", 421},
		{"a same-site page's GET", http.MethodGet, "", "", "", 421},
		{"no content type", http.MethodPut, "", "", "", 415},
	} {
		req, _ := http.NewRequest(tt.method, url, strings.NewReader(`{"Enabled":false}`))
		if tt.host != "" {
			req.Host = tt.host
		}
		if tt.origin != "" {
			req.Header.Set("Origin", tt.origin)
		}
		if tt.ctype != "" {
			req.Header.Set("Content-Type", tt.ctype)
		}
		switch tt.name {
		case "another site's GET":
			req.Header.Set("Sec-Fetch-Site", "cross-site")
		case "a same-site page's GET":
			// Another port of 127.0.0.1 (a dashboard): same-site, not
			// same-origin.
			req.Header.Set("Sec-Fetch-Site", "same-site")
		}
		if code := statusOf(t, req); code != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, code, tt.want)
		}
		if !lab.Server.Settings().Enabled {
			t.Fatalf("%s: the settings changed", tt.name)
		}
	}
	own := url[:strings.Index(url, "/settings")]
	for _, host := range []string{"", "localhost:" + port, "LOCALHOST", "127.0.0.1", "[::1]:" + port} {
		req, _ := http.NewRequest(http.MethodPatch, url, strings.NewReader(`{"Enabled":false}`))
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		if host != "" {
			req.Host = host
		} else {
			req.Header.Set("Origin", own)
		}
		if code := statusOf(t, req); code != 200 {
			t.Errorf("Host %q: status %d, want 200", host, code)
		}
	}
	if lab.Server.Settings().Enabled {
		t.Error("the API's own PATCH did not disable bypass")
	}
	// A browser writes its Origin in lower case whatever the Host's case.
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Host, req.Header["Origin"] = "LOCALHOST:"+port, []string{"http://localhost:" + port}
	if code := statusOf(t, req); code != 200 {
		t.Errorf("Host LOCALHOST with its lower-case Origin: status %d, want 200", code)
	}
	// A link to the web page followed from another site's page shows it;
	// the same page in that site's iframe does not.
	page := own + "/ui/"
	for _, tt := range []struct {
		dest, mode string
		want       int
	}{{"document", "navigate", 200}, {"iframe", "navigate", 421}, {"image", "no-cors", 421}} {
		req, _ := http.NewRequest(http.MethodGet, page, nil)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Sec-Fetch-Dest", tt.dest)
		req.Header.Set("Sec-Fetch-Mode", tt.mode)
		if code := statusOf(t, req); code != tt.want {
			t.Errorf("/ui/ from another site as %s: status %d, want %d", tt.dest, code, tt.want)
		}
	}
	// The page's own requests, and one typed in the address bar.
	for _, site := range []string{"same-origin", "none"} {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Sec-Fetch-Site", site)
		res, err := adminClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("X-Frame-Options") != "DENY" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("Sec-Fetch-Site %s: status %d, headers %v; want 200, not to be framed or sniffed", site, res.StatusCode, res.Header)
		}
	}
}

// statusOf sends req and returns its status.
func statusOf(t *testing.T, req *http.Request) int {
	t.Helper()
	res, err := adminClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestAdminHangUpRingingCall: DELETE /calls/{id} of a call still ringing
// fails it: the caller gets 503, the SBC a CANCEL, and the failed call is
// counted under a label token, hung_up_by_admin, like every other reason
// (it was "hung up by admin", words that alert rules' regexes miss); the
// record keeps the words.
func TestAdminHangUpRingingCall(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc := startPeer(t, "sbc")
	sbc.invites(func(pi *peerInvite) {
		pi.respond(180, nil)
		sbc.wait(ctx, gosip.CANCEL, 1)
		pi.respond(487, nil)
	})
	srv := serveTo(t, sbc.addr(), "udp", nil)
	oc := startPeer(t, "caller").call(ctx, srv.EdgeAddr(), "udp", loopSDP(sockPort(rtpSock(t)), "sendrecv", true, "PCMU"))
	sbc.wait(ctx, gosip.INVITE, 1)
	var id string
	for id == "" {
		if calls := srv.Calls(); len(calls) == 1 {
			id = calls[0].CallID
		} else if ctx.Err() != nil {
			t.Fatal("the call is not listed")
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if code, body := adminDo(t, http.MethodDelete, mediationtest.AdminURL(srv, "/calls/"+id), "", ""); code != 200 {
		t.Fatalf("DELETE /calls/%s = %d %s", id, code, body)
	}
	if res := oc.answer(ctx, nil); res.StatusCode != 503 {
		t.Errorf("the caller got %d, want 503", res.StatusCode)
	}
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_failed_calls_total", "direction", "outbound", "reason", "hung_up_by_admin")
}

// adminDoHeader is adminDo with request headers, returning the response's
// too.
func adminDoHeader(t *testing.T, method, url, body string, header http.Header) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := adminClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, data
}

// TestAdminSettingsIfMatch: GET /settings gives the settings' ETag; a PUT
// or PATCH with If-Match applies only while the settings are still those
// it names (412 and nothing changed otherwise), so a client's
// read-modify-write cannot undo another's change in between; without
// If-Match a change applies as before (r24-ops F5).
func TestAdminSettingsIfMatch(t *testing.T) {
	lab := mediationtest.Start(t, mediationtest.Options{})
	url := mediationtest.AdminURL(lab.Server, "/settings")
	code, h, _ := adminDoHeader(t, http.MethodGet, url, "", nil)
	tag := h.Get("ETag")
	if code != 200 || !strings.HasPrefix(tag, `"`) || !strings.HasSuffix(tag, `"`) || len(tag) < 10 {
		t.Fatalf("GET /settings = %d ETag %q, want a strong tag", code, tag)
	}
	// Another writer changes the settings: the tag read no longer matches.
	if code, _ := adminDo(t, http.MethodPatch, url, "", `{"Enabled":false}`); code != 200 {
		t.Fatalf("unconditional PATCH = %d", code)
	}
	for _, ifMatch := range []string{tag, "W/" + tag, `"nope"`, ""} {
		code, h, body := adminDoHeader(t, http.MethodPatch, url, `{"Enabled":true}`, http.Header{"If-Match": {ifMatch}})
		var e struct{ Error string }
		if code != http.StatusPreconditionFailed || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, "read them again") ||
			h.Get("ETag") == "" || h.Get("ETag") == tag {
			t.Errorf("PATCH If-Match %q after another change = %d ETag %q %s, want 412 with the current tag", ifMatch, code, h.Get("ETag"), body)
		}
	}
	if lab.Server.Settings().Enabled {
		t.Fatal("a PATCH refused 412 changed the settings")
	}
	// The current tag (among others) or * matches; the answer carries the
	// new settings' tag, which a GET gives too.
	_, h, _ = adminDoHeader(t, http.MethodGet, url, "", nil)
	current := h.Get("ETag")
	code, h, body := adminDoHeader(t, http.MethodPatch, url, `{"Enabled":true}`, http.Header{"If-Match": {`"other", ` + current}})
	if code != 200 || !decodeView(t, body).Enabled || h.Get("ETag") == current {
		t.Fatalf("PATCH If-Match current = %d ETag %q %s", code, h.Get("ETag"), body)
	}
	if _, g, _ := adminDoHeader(t, http.MethodGet, url, "", nil); g.Get("ETag") != h.Get("ETag") {
		t.Errorf("GET's ETag %q, PATCH's %q", g.Get("ETag"), h.Get("ETag"))
	}
	if code, _, _ := adminDoHeader(t, http.MethodPatch, url, `{"Enabled":false}`, http.Header{"If-Match": {"*"}}); code != 200 {
		t.Errorf("PATCH If-Match * = %d", code)
	}
	_, h, body = adminDoHeader(t, http.MethodGet, url, "", nil)
	if code, _, again := adminDoHeader(t, http.MethodPut, url, string(body), http.Header{"If-Match": {h.Get("ETag")}}); code != 200 {
		t.Errorf("PUT of GET's output with its ETag = %d %s", code, again)
	}
}

// TestAdminSettingsRoundTripFlipsEnabled: a GET's output with Enabled
// flipped, sent back as a PUT, is taken: the echoed read-only
// InternalBypassMode is the one read, before the change (r24-ops F8). A
// mode that is neither the one before nor the one after is still refused.
func TestAdminSettingsRoundTripFlipsEnabled(t *testing.T) {
	lab := mediationtest.Start(t, mediationtest.Options{})
	url := mediationtest.AdminURL(lab.Server, "/settings")
	for _, enabled := range []bool{false, true, false} {
		_, body := adminDo(t, http.MethodGet, url, "", "")
		var v map[string]any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		v["Enabled"] = enabled
		put, _ := json.Marshal(v)
		code, got := adminDo(t, http.MethodPut, url, "", string(put))
		want := map[bool]string{true: "Any", false: "Off"}[enabled]
		if code != 200 || decodeView(t, got).Enabled != enabled || decodeView(t, got).InternalBypassMode != want {
			t.Fatalf("PUT %s = %d %s, want 200 with Enabled %t, InternalBypassMode %s", put, code, got, enabled, want)
		}
	}
	// Disabled now: Any is neither the mode before nor after keeping it.
	code, body := adminDo(t, http.MethodPatch, url, "", `{"InternalBypassMode":"Any"}`)
	if code != 400 || !strings.Contains(string(body), `"field": "InternalBypassMode"`) {
		t.Errorf("PATCH InternalBypassMode Any while disabled = %d %s, want 400", code, body)
	}
}

// TestAdminSettingsBodyTooLarge: a body over 64 KiB is 413 Content Too
// Large (RFC 9110 §15.5.14), not a 400 naming a field; nothing changes
// (r24-ops F3).
func TestAdminSettingsBodyTooLarge(t *testing.T) {
	lab := mediationtest.Start(t, mediationtest.Options{})
	url := mediationtest.AdminURL(lab.Server, "/settings")
	before := lab.Server.Settings()
	body := `{"Enabled":false,"BypassID":"` + strings.Repeat(" ", 1<<16) + `"}`
	for _, method := range []string{http.MethodPatch, http.MethodPut} {
		code, data := adminDo(t, method, url, "", body)
		var e struct{ Error, Field string }
		if code != http.StatusRequestEntityTooLarge || json.Unmarshal(data, &e) != nil || e.Field != "body" || !strings.Contains(e.Error, "65536 bytes") {
			t.Errorf("%s of %d bytes = %d %s, want 413", method, len(body), code, data)
		}
	}
	if s := lab.Server.Settings(); s != before {
		t.Errorf("settings changed: %+v", s)
	}
	// Just under the limit is read (and judged on its content).
	code, _ := adminDo(t, http.MethodPatch, url, "", `{"Enabled":false}`+strings.Repeat(" ", 1<<16-20))
	if code != 200 {
		t.Errorf("PATCH under the limit = %d", code)
	}
}

// TestSettingsChangeLogged: the log line of a settings change has every
// setting's old and new value, the web service URL's too (r24-ops F9).
func TestSettingsChangeLogged(t *testing.T) {
	var log syncBuffer
	lab := mediationtest.Start(t, mediationtest.Options{Log: zerolog.New(&log)})
	url := mediationtest.AdminURL(lab.Server, "/settings")
	was := lab.Server.Settings()
	if code, body := adminDo(t, http.MethodPatch, url, "", `{"Enabled":false,"HybridConfigServiceInternalUrl":""}`); code != 200 {
		t.Fatalf("PATCH = %d %s", code, body)
	}
	var line map[string]any
	for _, l := range log.lines() {
		if l["message"] == "media bypass settings changed" {
			line = l
		}
	}
	want := map[string]any{"enabled": false, "was_enabled": true, "bypass_id": was.BypassID, "was_bypass_id": was.BypassID,
		"web_service_url": "", "was_web_service_url": was.WebServiceURL, "always_bypass": true, "was_always_bypass": true}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v in %v", k, line[k], v, line)
		}
	}
}
