package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files of mediation trace")

// traceDir holds daemon logs recorded by mediation's TestRecordTraceLogs,
// one call per bypass decision reason, and their golden ladders.
const traceDir = "testdata/trace"

func runTrace(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	now := func() time.Time { return time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC) }
	code := traceRun(args, strings.NewReader(stdin), &out, &errOut, now)
	return out.String(), errOut.String(), code
}

// TestTraceGolden: the ladder of each recorded call, plain (not a
// terminal), as in the golden file: decision and reason, media path, end,
// every message of both legs with the SDP address and a=x-bypassid.
func TestTraceGolden(t *testing.T) {
	logs, _ := filepath.Glob(filepath.Join(traceDir, "*.jsonl"))
	if len(logs) < 9 {
		t.Fatalf("%d recorded logs in %s, want one per decision reason and more", len(logs), traceDir)
	}
	for _, log := range logs {
		name := strings.TrimSuffix(filepath.Base(log), ".jsonl")
		t.Run(name, func(t *testing.T) {
			out, errOut, code := runTrace(t, "", log)
			if code != exitOK || errOut != "" {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if strings.Contains(out, "\x1b[") {
				t.Error("colour codes in output that is not a terminal")
			}
			golden := filepath.Join(traceDir, name+".golden")
			if *updateGolden {
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if out != string(want) {
				t.Errorf("mediation trace %s:\n%s\nwant (%s):\n%s", log, out, golden, want)
			}
		})
	}
}

// allLogs is every recorded log in one, as one long-running daemon's.
func allLogs(t *testing.T) string {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(traceDir, "*.jsonl"))
	var b strings.Builder
	for _, l := range logs {
		data, err := os.ReadFile(l)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}

type traceCall struct {
	Call       string   `json:"call"`
	Direction  string   `json:"direction"`
	From       string   `json:"from"`
	To         string   `json:"to"`
	Bypass     bool     `json:"bypass"`
	Decided    bool     `json:"decided"`
	Reason     string   `json:"reason"`
	Answered   bool     `json:"answered"`
	Ended      bool     `json:"ended"`
	SIPCallIDs []string `json:"sip_call_ids"`
	Messages   []struct {
		Label    string `json:"label"`
		BypassID string `json:"bypass_id"`
	} `json:"messages"`
}

func traceJSON(t *testing.T, stdin string, args ...string) []traceCall {
	t.Helper()
	out, errOut, code := runTrace(t, stdin, append(args, "--json", "-")...)
	if code != exitOK {
		t.Fatalf("%v: exit %d: %s", args, code, errOut)
	}
	var calls []traceCall
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var c traceCall
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("%v: %v: %s", args, err, line)
		}
		calls = append(calls, c)
	}
	return calls
}

// TestTraceFilters: each filter over the logs of every reason.
func TestTraceFilters(t *testing.T) {
	logs := allLogs(t)
	all := traceJSON(t, logs)
	if len(all) != 9 {
		t.Fatalf("%d calls in the recorded logs, want 9", len(all))
	}
	reasons := map[string]bool{}
	for _, c := range all {
		reasons[c.Reason] = true
		if !c.Decided || !c.Ended || len(c.Messages) < 4 {
			t.Errorf("call %s: decided %v ended %v, %d messages", c.Call, c.Decided, c.Ended, len(c.Messages))
		}
	}
	for _, r := range []string{"id_matched", "no_id", "id_mismatch", "bypass_disabled", "trunk_bypass_off", "srtp_mismatch", "delayed_offer"} {
		if !reasons[r] {
			t.Errorf("no call with reason %s", r)
		}
	}
	for _, c := range traceJSON(t, logs, "--bypassed") {
		if !c.Bypass {
			t.Errorf("--bypassed printed anchored call %s", c.Call)
		}
	}
	anchored := traceJSON(t, logs, "--anchored")
	for _, c := range anchored {
		if c.Bypass {
			t.Errorf("--anchored printed bypassed call %s", c.Call)
		}
	}
	if n := len(traceJSON(t, logs, "--bypassed")) + len(anchored); n != len(all) {
		t.Errorf("--bypassed and --anchored together give %d calls of %d", n, len(all))
	}
	failed := traceJSON(t, logs, "--failed")
	if len(failed) != 1 || failed[0].Answered {
		t.Errorf("--failed gave %+v, want the one rejected call", failed)
	}
	// --call by a leg's SIP Call-ID finds the call.
	one := all[0]
	for _, id := range append([]string{one.Call}, one.SIPCallIDs...) {
		if got := traceJSON(t, logs, "--call", id); len(got) != 1 || got[0].Call != one.Call {
			t.Errorf("--call %s: %d calls", id, len(got))
		}
	}
	if got := traceJSON(t, logs, "--number", "15550100"); len(got) == 0 || len(got) == len(all)+1 {
		t.Errorf("--number: %d calls", len(got))
	}
	if got := traceJSON(t, logs, "--number", "0000000"); len(got) != 0 {
		t.Errorf("--number of nobody: %d calls", len(got))
	}
	if got := traceJSON(t, logs, "--since", "1m"); len(got) != 0 {
		t.Errorf("--since 1m before 2026-12-06 00:00: %d calls, recorded earlier", len(got))
	}
	if got := traceJSON(t, logs, "--since", "2026-12-01T00:00:00Z"); len(got) != len(all) {
		t.Errorf("--since a date before the recording: %d calls", len(got))
	}
	// The bypassed outbound call's INVITE, 183 and 200 from the client's
	// side carry a=x-bypassid.
	for _, c := range traceJSON(t, logs, "--bypassed") {
		marked := map[string]bool{}
		for _, m := range c.Messages {
			if m.BypassID != "" {
				marked[strings.Fields(m.Label)[0]] = true
			}
		}
		if c.Direction == "outbound" && c.Answered && !(marked["INVITE"] && marked["183"] && marked["200"]) {
			t.Errorf("bypassed call %s: a=x-bypassid marked on %v, want INVITE, 183 and 200", c.Call, marked)
		}
	}
}

// TestTraceCallIDInfoLevel: in a log at the default level (no SIP
// messages), --call finds a call by either leg's Call-ID, which its lines
// carry as a_call_id and b_call_id.
func TestTraceCallIDInfoLevel(t *testing.T) {
	logs := allLogs(t)
	var info strings.Builder
	for _, line := range strings.SplitAfter(logs, "\n") {
		if !strings.Contains(line, `"level":"debug"`) {
			info.WriteString(line)
		}
	}
	var answered *traceCall
	for _, c := range traceJSON(t, logs) {
		if c.Answered && c.Direction == "outbound" {
			answered = &c
			break
		}
	}
	if answered == nil || len(answered.SIPCallIDs) != 2 {
		t.Fatalf("no answered outbound call with two legs' Call-IDs in the recorded logs: %+v", answered)
	}
	for _, id := range answered.SIPCallIDs {
		got := traceJSON(t, info.String(), "--call", id)
		if len(got) != 1 || got[0].Call != answered.Call || len(got[0].Messages) != 0 {
			t.Errorf("info-level log, --call %s: %+v, want call %s (without messages)", id, got, answered.Call)
		}
	}
}

func TestTraceUsage(t *testing.T) {
	if _, _, code := runTrace(t, "", "a", "b"); code != exitUsage {
		t.Errorf("two files: exit %d", code)
	}
	if _, errOut, code := runTrace(t, "", "--follow", "serve.log"); code != exitUsage || !strings.Contains(errOut, "--follow") {
		t.Errorf("--follow with a FILE: exit %d %q", code, errOut)
	}
	if _, _, code := runTrace(t, "", "--since", "yesterday"); code != exitUsage {
		t.Errorf("bad --since: exit %d", code)
	}
	if _, errOut, code := runTrace(t, "", "/nonexistent/log"); code != exitFailure || errOut == "" {
		t.Errorf("missing file: exit %d %q", code, errOut)
	}
	// Not about calls: nothing printed, no error.
	if out, _, code := runTrace(t, "hello\n{\"level\":\"info\"}\n"); code != exitOK || out != "" {
		t.Errorf("no calls: exit %d, %q", code, out)
	}
	// No JSON log line at all (a console log, the wrong file): said, exit 1.
	for _, in := range []string{"not json\n", "", "3:04PM INF call started call=1f59c8ddd7df\n[]\n"} {
		out, errOut, code := runTrace(t, in)
		if code != exitFailure || out != "" || !strings.HasPrefix(errOut, "mediation: trace: no JSON log line in ") {
			t.Errorf("input %q: exit %d stdout %q stderr %q; want 1 and a note", in, code, out, errOut)
		}
	}
}
