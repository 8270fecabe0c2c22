package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
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
		if err := httpURLFlag("admin", a); err != nil {
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
			// The servers store it in lower case: so do the messages
			// that name it here.
			id := strings.ToLower(bypassID.v)
			change.BypassID = &id
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
	var results []settingsResult
	if verb == "set" && len(admins) > 1 && enabled.set && enabled.v && !bypassID.set {
		out := os.Stdout
		if *asJSON {
			out = os.Stderr // stdout stays one JSON object per server
		}
		results = enablePool(client, admins, *token, change, out, !*asJSON)
	} else {
		for _, admin := range admins {
			view, err := adminSettings(client, method, admin, *token, change)
			results = append(results, settingsResult{view: view, err: err})
		}
	}
	code := exitOK
	for i, admin := range admins {
		view, err := results[i].view, results[i].err
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

// settingsResult is one server's answer to a settings command.
type settingsResult struct {
	view mediation.SettingsView
	err  error
}

// poolRounds bounds how often enablePool starts over when the servers
// changed under it.
const poolRounds = 5

// errPoolChanged is a server whose settings changed between enablePool's
// read and its write, or that shows another BypassID once all are written.
var errPoolChanged = errors.New("settings changed by another writer while being set")

// enablePool enables bypass on every server of a pool with one BypassID
// (poolBypassID's), safely against another `settings set` doing the same
// at the same time (r24-ops F5): each server's change is conditional on
// the settings read from it (If-Match with their ETag), so a server that
// another writer changed in between answers 412 and is left as that writer
// made it; once all are written they are read back. If one refused the
// change or they do not all show one ID, everything is read again and
// the change made again, up to poolRounds times. From the second round the
// ID chosen is the smallest the enabled servers have (poolBypassID's first-listed
// rule would make two runs listing the servers in other orders undo each
// other's work): runs that see the same servers choose the same ID, and
// converge. The note of the first round (and one line per later round) is
// printed to out, followed by a blank line when blank is set.
func enablePool(client *http.Client, admins []string, token string, change mediation.SettingsChange, out io.Writer, blank bool) []settingsResult {
	results := make([]settingsResult, len(admins))
	printed := false
	for round := 0; round < poolRounds; round++ {
		if round > 0 {
			// Whoever else is writing: let it finish, at a random
			// moment so that two runs do not keep meeting.
			time.Sleep(time.Duration(20+rand.IntN(80)) * time.Millisecond * time.Duration(round))
		}
		read := make([]poolRead, len(admins))
		for i, admin := range admins {
			read[i].view, read[i].etag, read[i].err = adminSettingsETag(client, http.MethodGet, admin, token, nil, "")
		}
		id, note := poolBypassID(admins, read, round > 0)
		switch {
		case round == 0 && note != "":
			fmt.Fprintln(out, note)
			printed = true
		case round > 0:
			printed = true
			fmt.Fprintf(out, "BypassID: the servers changed while being set (another settings set at the same time?); read again, round %d of %d: %s for all %d\n",
				round+1, poolRounds, id, len(admins))
		}
		c := change
		c.BypassID = &id
		body, err := json.Marshal(c)
		if err != nil {
			for i := range results {
				results[i] = settingsResult{err: err}
			}
			return results
		}
		again := false
		for i, admin := range admins {
			// A server not read gets the change as it is: its error
			// (it is down, most likely) is reported as for any other.
			view, _, err := adminSettingsETag(client, http.MethodPatch, admin, token, body, read[i].etag)
			if errors.Is(err, errPrecondition) {
				err, again = errPoolChanged, true
			}
			results[i] = settingsResult{view: view, err: err}
		}
		if !again {
			// Read back: a writer that read before our writes may have
			// written after some of them.
			for i, admin := range admins {
				if results[i].err != nil {
					continue
				}
				view, _, err := adminSettingsETag(client, http.MethodGet, admin, token, nil, "")
				if err != nil {
					results[i] = settingsResult{err: err}
					continue
				}
				results[i].view = view
				if !strings.EqualFold(view.BypassID, id) {
					results[i].err, again = fmt.Errorf("%w: it has BypassID %s, not %s", errPoolChanged, view.BypassID, id), true
				}
			}
		}
		if !again {
			break
		}
	}
	if printed && blank {
		fmt.Fprintln(out)
	}
	return results
}

// poolBypassID is the one BypassID for enabling bypass on every server of
// a pool, and a sentence saying what changes ("" when every server has it
// already). A server enabled alone generates its own random ID, and a
// client that learnt one server's ID would be anchored when its call goes
// through another: CCE shares one ID across the site. The ID a server has
// is kept, so clients that learnt it keep bypassing: the only one the
// servers have, else the first listed server's when they differ; with none
// a new GUID is generated here, once; with smallest (a later round of
// enablePool) the smallest ID is taken instead of the first listed
// server's. Servers that cannot be read are left
// to the change itself to report; the note names them, and says what was
// found only of those read.
func poolBypassID(admins []string, read []poolRead, smallest bool) (id, note string) {
	type held struct{ admin, id string }
	var ids []held
	var unread []string
	distinct := map[string]bool{}
	// The smallest ID of the servers bypass is enabled on, whose clients
	// have learnt it, else of all: a disabled server may keep an old one.
	var smallestEnabled string
	for i, admin := range admins {
		v, err := read[i].view, read[i].err
		if err != nil {
			unread = append(unread, admin)
			continue
		}
		ids = append(ids, held{admin, v.BypassID})
		if v.BypassID != "" {
			if id == "" || (smallest && strings.ToLower(v.BypassID) < strings.ToLower(id)) {
				id = v.BypassID
			}
			if v.Enabled && (smallestEnabled == "" || strings.ToLower(v.BypassID) < strings.ToLower(smallestEnabled)) {
				smallestEnabled = v.BypassID
			}
			distinct[strings.ToLower(v.BypassID)] = true
		}
	}
	if smallest && smallestEnabled != "" {
		id = smallestEnabled
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

// poolRead is one server's settings as enablePool read them.
type poolRead struct {
	view mediation.SettingsView
	etag string
	err  error
}

// adminSettings sends one GET or PATCH /settings and returns the settings
// the server then has.
func adminSettings(client *http.Client, method, admin, token string, change mediation.SettingsChange) (mediation.SettingsView, error) {
	var body []byte
	if method != http.MethodGet {
		var err error
		if body, err = json.Marshal(change); err != nil {
			return mediation.SettingsView{}, err
		}
	}
	view, _, err := adminSettingsETag(client, method, admin, token, body, "")
	return view, err
}

// errPrecondition is a 412: the settings are no longer those ifMatch named.
var errPrecondition = errors.New("412 Precondition Failed")

// adminSettingsETag sends one GET or PATCH /settings, the PATCH
// conditional on ifMatch when given, and returns the settings the server
// then has and their ETag.
func adminSettingsETag(client *http.Client, method, admin, token string, body []byte, ifMatch string) (mediation.SettingsView, string, error) {
	var view mediation.SettingsView
	var header http.Header
	if ifMatch != "" {
		header = http.Header{"If-Match": {ifMatch}}
	}
	data, res, err := adminRequestHeader(client, method, strings.TrimSuffix(admin, "/")+"/settings", token, body, header)
	if res != nil && res.StatusCode == http.StatusPreconditionFailed {
		return view, "", fmt.Errorf("%w: %v", errPrecondition, err)
	}
	if err != nil {
		return view, "", err
	}
	if err := json.Unmarshal(data, &view); err != nil {
		return view, "", fmt.Errorf("not settings: %w", err)
	}
	return view, res.Header.Get("ETag"), nil
}

// adminRequest sends one admin API request (with the bearer token, when
// there is one) and returns the body of a 200; any other status is an
// error with the API's message.
func adminRequest(client *http.Client, method, url, token string, body []byte) ([]byte, error) {
	data, _, err := adminRequestHeader(client, method, url, token, body, nil)
	return data, err
}

// adminRequestHeader is adminRequest with extra request headers, also
// returning the response (its body read and closed; nil if none came).
func adminRequestHeader(client *http.Client, method, url, token string, body []byte, header http.Header) ([]byte, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, res, err
	}
	if res.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return nil, res, fmt.Errorf("%s: %s", res.Status, e.Error)
		}
		return nil, res, fmt.Errorf("%s: %s", res.Status, strings.TrimSpace(string(data)))
	}
	return data, res, nil
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
		"                              [--bypass-id GUID] [--web-service-url URL] [--always-bypass=true]\n"+
		"                              [--json]\n\n"+
		"Reads or changes the MediaBypassSettings and the web service URL through the admin API of each\n"+
		"server given (Get-/Set-CsNetworkConfiguration, Set-CsTenantHybridConfiguration). set changes only\n"+
		"the fields given, on every server, and reports each result; the exit code is 1 if any failed.\n"+
		"--enabled=true on several servers without --bypass-id gives them all one BypassID: the one they\n"+
		"have, the first listed server's if they differ, or a new GUID if none has one (said on stdout);\n"+
		"each change is conditional on what was read and the IDs are read back, so that two such commands\n"+
		"at the same time still leave one ID (the command reads again and starts over if they changed).\n")
	if fs != nil {
		fmt.Fprint(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}
