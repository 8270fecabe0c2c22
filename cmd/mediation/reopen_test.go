package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mediation-emulator/mediation/mediation/mediationtest/tools"
)

// recordCallIDs reads a records file: the edge Call-IDs of its records,
// failing on a line that is not a whole record.
func recordCallIDs(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ids []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r struct {
			EdgeCallID string `json:"edgeCallId"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: line %q: %v", path, sc.Text(), err)
		}
		ids = append(ids, r.EdgeCallID)
	}
	return ids
}

// callsInProgress is the length of GET /calls on the admin API, -1 when
// it does not answer.
func callsInProgress(admin string) int {
	res, err := healthClient.Get("http://" + admin + "/calls")
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	var calls []json.RawMessage
	if res.StatusCode != http.StatusOK || json.NewDecoder(res.Body).Decode(&calls) != nil {
		return -1
	}
	return len(calls)
}

// recordsDaemon starts the lab daemon with records.path and
// capture.pcap in dir, logging at info, and an SBC for its calls.
func recordsDaemon(ctx context.Context, t *testing.T, dir string) (d *labDaemon, records, pcap string) {
	t.Helper()
	records, pcap = filepath.Join(dir, "records.jsonl"), filepath.Join(dir, "sip.pcap")
	lab, err := os.ReadFile(filepath.Join("..", "..", "testdata", "config", "lab.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "lab-records.yaml")
	if err := os.WriteFile(config, append(lab, []byte("\nrecords:\n  path: "+records+"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	d = startDaemonWith(ctx, t, "--config", config, "--pcap", pcap, "--log-level", "info")
	startSBC(ctx, t, d.sbc, "--mediation-media-ports", labMediaPorts, "--json")
	return d, records, pcap
}

// labCall places one call through d for duration and returns its edge
// Call-ID once it passed.
func labCall(ctx context.Context, t *testing.T, d *labDaemon, duration string) string {
	t.Helper()
	c := startProc(t, "client", "--via", d.edge, "--web-service", d.webService, "--duration", duration, "--json")
	if code := c.wait(ctx, t); code != 0 {
		t.Fatalf("call: exit %d, stderr %q", code, c.stderr.String())
	}
	return c.nextSummary(ctx, t).CallID
}

// TestServeReopensOnSIGHUP: logrotate's way (move the files, then
// SIGHUP) with a call in progress: the daemon goes on, the call is not
// cut, its record goes to a new records file at records.path and the
// capture to a new pcap file; the rotated files stay whole. SIGTERM then
// stops it cleanly.
func TestServeReopensOnSIGHUP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	d, records, pcap := recordsDaemon(ctx, t, t.TempDir())
	firstID := labCall(ctx, t, d, "200ms")
	if err := poll(ctx, func() bool { return len(recordCallIDs(t, records)) == 1 }); err != nil {
		t.Fatalf("no record of the first call: %v", err)
	}
	for _, f := range []string{records, pcap} {
		if err := os.Rename(f, f+".1"); err != nil {
			t.Fatal(err)
		}
	}
	second := startProc(t, "client", "--via", d.edge, "--web-service", d.webService, "--duration", "2s", "--json")
	if err := poll(ctx, func() bool { return callsInProgress(d.admin) == 1 }); err != nil {
		t.Fatalf("second call never in progress: %v (client stderr %q)", err, second.stderr.String())
	}
	if err := d.proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := poll(ctx, func() bool {
		return d.proc.exited() || strings.Contains(d.proc.stderr.String(), "pcap capture file reopened")
	}); err != nil || d.proc.exited() {
		t.Fatalf("after SIGHUP: %v, exit code %d: %s", err, d.proc.code, d.proc.stderr.String())
	}
	// Said once, on the SIGHUP's line: the configuration is not read
	// again (systemctl reload sends it too; r25 F6).
	if n := strings.Count(d.proc.stderr.String(), `"config":"not re-read: a configuration change takes a restart`); n != 1 {
		t.Errorf("SIGHUP logged %d times that the configuration is not re-read, want 1: %s", n, d.proc.stderr.String())
	}
	// The records file is reopened at once (created), not at the next
	// record: the second call is still up.
	if _, err := os.Stat(records); err != nil || second.exited() {
		t.Errorf("records file after SIGHUP, call in progress %v: %v", !second.exited(), err)
	}
	if code := second.wait(ctx, t); code != 0 {
		t.Fatalf("call in progress across SIGHUP: exit %d, stderr %q", code, second.stderr.String())
	}
	secondID := second.nextSummary(ctx, t).CallID
	if err := poll(ctx, func() bool { _, err := os.Stat(records); return err == nil && len(recordCallIDs(t, records)) == 1 }); err != nil {
		t.Fatalf("no record of the second call at records.path: %v", err)
	}
	if got := recordCallIDs(t, records+".1"); len(got) != 1 || got[0] != firstID {
		t.Errorf("rotated records: %v, want the first call %s", got, firstID)
	}
	if got := recordCallIDs(t, records); got[0] != secondID {
		t.Errorf("new records file: %v, want the second call %s", got, secondID)
	}
	if err := d.proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := d.proc.wait(ctx, t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM: %s", code, d.proc.stderr.String())
	}
	if n := len(tools.PcapPackets(t, pcap+".1")); n == 0 {
		t.Errorf("rotated pcap has no packets")
	}
	if n := len(tools.PcapPackets(t, pcap)); n == 0 {
		t.Errorf("new pcap has no packets: the second call's BYE was not captured")
	}
	if strings.Contains(d.proc.stderr.String(), `"level":"error"`) {
		t.Errorf("errors logged: %s", d.proc.stderr.String())
	}
}

// TestLogrotateSnippet: README's logrotate configuration, pointed at a
// test directory, rotates the records of a running daemon: the next
// record is in the new file.
func TestLogrotateSnippet(t *testing.T) {
	logrotate := tools.Binary(t, "logrotate", "logrotate")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	snippet, err := os.ReadFile(filepath.Join("..", "..", "testdata", "logrotate", "mediation"))
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "logrotate.conf")
	if err := os.WriteFile(conf, []byte(strings.ReplaceAll(string(snippet), "/tmp/mediation", dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	d, records, _ := recordsDaemon(ctx, t, dir)
	if err := os.WriteFile(filepath.Join(dir, "serve.pid"), []byte(strconv.Itoa(d.proc.cmd.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	firstID := labCall(ctx, t, d, "200ms")
	if err := poll(ctx, func() bool { return len(recordCallIDs(t, records)) == 1 }); err != nil {
		t.Fatalf("no record of the first call: %v", err)
	}
	out, err := exec.CommandContext(ctx, logrotate, "--state", filepath.Join(dir, "logrotate.state"), "--force", conf).CombinedOutput()
	if err != nil {
		t.Fatalf("logrotate: %v\n%s", err, out)
	}
	if err := poll(ctx, func() bool {
		return d.proc.exited() || strings.Contains(d.proc.stderr.String(), "records file reopened")
	}); err != nil || d.proc.exited() {
		t.Fatalf("after logrotate: %v, exit code %d: %s", err, d.proc.code, d.proc.stderr.String())
	}
	secondID := labCall(ctx, t, d, "200ms")
	if err := poll(ctx, func() bool { return len(recordCallIDs(t, records)) == 1 }); err != nil {
		t.Fatalf("no record of the second call: %v", err)
	}
	if got := recordCallIDs(t, records); got[0] != secondID {
		t.Errorf("new records file: %v, want the second call %s", got, secondID)
	}
	if got := recordCallIDs(t, records+".1"); len(got) != 1 || got[0] != firstID {
		t.Errorf("rotated records (delaycompress: not compressed yet): %v, want the first call %s", got, firstID)
	}
}
