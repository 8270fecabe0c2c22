package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mediation-emulator/mediation/mediation"
)

// defaultAdmin is the admin API of a server started with the default config.
const defaultAdmin = "http://127.0.0.1:8081"

// adminTimeout bounds each request to one server.
const adminTimeout = 10 * time.Second

// listFlag is a repeatable flag; each value may also be a comma-separated list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// optBool is a boolean flag that remembers whether it was given.
type optBool struct {
	set, v bool
}

func (b *optBool) String() string   { return strconv.FormatBool(b.v) }
func (b *optBool) IsBoolFlag() bool { return true }
func (b *optBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("must be true or false")
	}
	b.set, b.v = true, v
	return nil
}

// optString is a string flag that remembers whether it was given, so that
// --bypass-id "" can clear a value.
type optString struct {
	set bool
	v   string
}

func (s *optString) String() string     { return s.v }
func (s *optString) Set(v string) error { s.set, s.v = true, v; return nil }

// settings is `mediation settings get|set`: Get-CsNetworkConfiguration and
// Set-CsNetworkConfiguration against one or several servers' admin API.
func settings(args []string) int {
	if len(args) == 0 || (args[0] != "get" && args[0] != "set") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			settingsUsage(os.Stdout, nil)
			return exitOK
		}
		fail(errors.New(`settings: want "get" or "set" (run "mediation settings -h")`))
		return exitUsage
	}
	verb := args[0]
	fs := flag.NewFlagSet("settings "+verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var admins listFlag
	fs.Var(&admins, "admin", "admin API `URL` of a server; repeat (or comma-separate) for every server of a pool (default "+defaultAdmin+")")
	token := fs.String("token", "", "bearer `TOKEN` of the admin API (default $MEDIATION_ADMIN_TOKEN)")
	asJSON := fs.Bool("json", false, "print each server's settings as JSON")
	var enabled, alwaysBypass optBool
	var bypassID, webService optString
	if verb == "set" {
		fs.Var(&enabled, "enabled", "MediaBypassSettings.Enabled: `true|false`")
		fs.Var(&alwaysBypass, "always-bypass", "MediaBypassSettings.AlwaysBypass (Cloud Connector accepts true only)")
		fs.Var(&bypassID, "bypass-id", "MediaBypassSettings.BypassID: a `GUID` (enabling without one keeps the servers' shared one, or gives them all one)")
		fs.Var(&webService, "web-service-url", "HybridConfigServiceInternalUrl: `URL` of the bypass web service")
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			settingsUsage(os.Stdout, fs)
			return exitOK
		}
		fail(fmt.Errorf("settings %s: %w", verb, err))
		return exitUsage
	}
	if fs.NArg() > 0 {
		fail(fmt.Errorf("settings %s: unexpected argument %q", verb, fs.Arg(0)))
		return exitUsage
	}
	if len(admins) == 0 {
		admins = listFlag{defaultAdmin}
	}
	for _, a := range admins {
		if err := checkAdminURL(a); err != nil {
			fail(fmt.Errorf("settings %s: %w", verb, err))
			return exitUsage
		}
	}
	*token = adminToken(*token)
	var change mediation.SettingsChange
	method := http.MethodGet
	if verb == "set" {
		if enabled.set {
			change.Enabled = &enabled.v
		}
		if alwaysBypass.set {
			change.AlwaysBypass = &alwaysBypass.v
		}
		if bypassID.set {
			change.BypassID = &bypassID.v
		}
		if webService.set {
			change.HybridConfigServiceInternalUrl = &webService.v
		}
		if change == (mediation.SettingsChange{}) {
			fail(errors.New("settings set: nothing to change: give --enabled, --always-bypass, --bypass-id or --web-service-url"))
			return exitUsage
		}
		method = http.MethodPatch
	}
	client := &http.Client{Timeout: adminTimeout}
	if verb == "set" && len(admins) > 1 && enabled.set && enabled.v && !bypassID.set {
		id, note := poolBypassID(client, admins, *token)
		change.BypassID = &id
		if note != "" {
			out := os.Stdout
			if *asJSON {
				out = os.Stderr // stdout stays one JSON object per server
			}
			fmt.Fprintln(out, note)
			if !*asJSON {
				fmt.Fprintln(out)
			}
		}
	}
	code := exitOK
	for i, admin := range admins {
		view, err := adminSettings(client, method, admin, *token, change)
		if i > 0 && !*asJSON {
			fmt.Println()
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "mediation: settings %s: %s: %v\n", verb, admin, err)
			code = exitFailure
			continue
		}
		if *asJSON {
			out, _ := json.Marshal(struct {
				Identity string `json:"Identity"`
				mediation.SettingsView
			}{admin, view})
			fmt.Println(string(out))
			continue
		}
		fmt.Print(formatSettings(admin, view))
	}
	return code
}

// checkAdminURL refuses an --admin value that is not an http(s) URL with a
// host (127.0.0.1:8081 without a scheme would reach Go's URL parser and
// come back as a puzzling error).
func checkAdminURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--admin %q: want http(s)://HOST:PORT", v)
	}
	return nil
}

// poolBypassID is the one BypassID for enabling bypass on every server of
// a pool, and a sentence saying what changes ("" when every server has it
// already). A server enabled alone generates its own random ID, and a
// client that learnt one server's ID would be anchored when its call goes
// through another: CCE shares one ID across the site. The ID a server has
// is kept, so clients that learnt it keep bypassing: the only one the
// servers have, else the first listed server's when they differ; with none
// a new GUID is generated here, once. Servers that cannot be read are left
// to the change itself to report; the note names them, and says what was
// found only of those read.
func poolBypassID(client *http.Client, admins []string, token string) (id, note string) {
	type held struct{ admin, id string }
	var ids []held
	var unread []string
	distinct := map[string]bool{}
	for _, admin := range admins {
		v, err := adminSettings(client, http.MethodGet, admin, token, mediation.SettingsChange{})
		if err != nil {
			unread = append(unread, admin)
			continue
		}
		ids = append(ids, held{admin, v.BypassID})
		if v.BypassID != "" {
			if id == "" {
				id = v.BypassID
			}
			distinct[strings.ToLower(v.BypassID)] = true
		}
	}
	var had []string
	same := true
	for _, h := range ids {
		if !strings.EqualFold(h.id, id) {
			same = false
		}
		if h.id == "" {
			had = append(had, h.admin+" none")
		} else {
			had = append(had, h.admin+" "+h.id)
		}
	}
	servers, notRead := "the servers", ""
	if len(unread) > 0 {
		servers = "the servers read"
		notRead = "; not read: " + strings.Join(unread, ", ")
	}
	switch {
	case id == "" && len(ids) == 0:
		id = uuid.NewString()
		return id, fmt.Sprintf("BypassID: no server could be read (%s); generated %s for all %d (give --bypass-id to choose it)",
			strings.Join(unread, ", "), id, len(admins))
	case id == "" && len(unread) > 0:
		id = uuid.NewString()
		return id, fmt.Sprintf("BypassID: none of the servers read had one (%s%s); generated %s for all %d (give --bypass-id to choose it)",
			strings.Join(had, ", "), notRead, id, len(admins))
	case id == "":
		id = uuid.NewString()
		return id, fmt.Sprintf("BypassID: no server had one; generated %s for all %d (give --bypass-id to choose it)", id, len(admins))
	case same && len(unread) == 0:
		return id, ""
	case len(distinct) > 1:
		return id, fmt.Sprintf("BypassID: %s had different ones (%s%s); %s, the first's, for all %d (give --bypass-id to choose another)",
			servers, strings.Join(had, ", "), notRead, id, len(admins))
	}
	return id, fmt.Sprintf("BypassID: %s for all %d, the one %s had (%s%s)", id, len(admins), servers, strings.Join(had, ", "), notRead)
}

// adminToken is --token, else $MEDIATION_ADMIN_TOKEN. The variable is read
// after parsing, not as the flag's default, so that -h never prints it.
func adminToken(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return os.Getenv("MEDIATION_ADMIN_TOKEN")
}

// adminSettings sends one GET or PATCH /settings and returns the settings
// the server then has.
func adminSettings(client *http.Client, method, admin, token string, change mediation.SettingsChange) (mediation.SettingsView, error) {
	var view mediation.SettingsView
	var body []byte
	if method != http.MethodGet {
		var err error
		if body, err = json.Marshal(change); err != nil {
			return view, err
		}
	}
	data, err := adminRequest(client, method, strings.TrimSuffix(admin, "/")+"/settings", token, body)
	if err != nil {
		return view, err
	}
	if err := json.Unmarshal(data, &view); err != nil {
		return view, fmt.Errorf("not settings: %w", err)
	}
	return view, nil
}

// adminRequest sends one admin API request (with the bearer token, when
// there is one) and returns the body of a 200; any other status is an
// error with the API's message.
func adminRequest(client *http.Client, method, url, token string, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("%s: %s", res.Status, e.Error)
		}
		return nil, fmt.Errorf("%s: %s", res.Status, strings.TrimSpace(string(data)))
	}
	return data, nil
}

// formatSettings prints the settings as the cmdlets' Format-List does:
// "Name : Value", names padded to one column, booleans as True/False.
func formatSettings(identity string, v mediation.SettingsView) string {
	rows := [][2]string{
		{"Identity", identity},
		{"Enabled", psBool(v.Enabled)},
		{"AlwaysBypass", psBool(v.AlwaysBypass)},
		{"BypassID", v.BypassID},
		{"InternalBypassMode", v.InternalBypassMode},
		{"ExternalBypassMode", v.ExternalBypassMode},
		{"HybridConfigServiceInternalUrl", v.HybridConfigServiceInternalUrl},
	}
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%-30s : %s\n", r[0], r[1])
	}
	return b.String()
}

func psBool(v bool) string {
	if v {
		return "True"
	}
	return "False"
}

func settingsUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, "Usage: mediation settings get [--admin URL]... [--token TOKEN] [--json]\n"+
		"       mediation settings set [--admin URL]... [--token TOKEN] [--enabled=true|false]\n"+
		"                              [--bypass-id GUID] [--web-service-url URL] [--always-bypass=true]\n\n"+
		"Reads or changes the MediaBypassSettings and the web service URL through the admin API of each\n"+
		"server given (Get-/Set-CsNetworkConfiguration, Set-CsTenantHybridConfiguration). set changes only\n"+
		"the fields given, on every server, and reports each result; the exit code is 1 if any failed.\n"+
		"--enabled=true on several servers without --bypass-id gives them all one BypassID: the one they\n"+
		"have, the first listed server's if they differ, or a new GUID if none has one (said on stdout).\n")
	if fs != nil {
		fmt.Fprint(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}
