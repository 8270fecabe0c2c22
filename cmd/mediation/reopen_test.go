package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mediation-emulator/mediation/mediation/labca"
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
	if n := strings.Count(d.proc.stderr.String(), `"config":"not re-read, but for the TLS files (tls.cert, tls.key, tls.ca): a configuration change takes a restart`); n != 1 {
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

// TestServeReloadsTLSOnSIGHUP: a real SIGHUP to `serve` re-reads the TLS
// files, as after a certificate renewal: the next handshake on
// tls.gateway_listen shows the renewed certificate, logged with its
// subject. A broken replacement at the next SIGHUP is logged at error
// naming the file, and the renewed certificate stays in use. Every
// address is the test's own, 127.0.82.4.
func TestServeReloadsTLSOnSIGHUP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	if err := labca.Generate(dir, labca.Options{ServerNames: []string{"mediation.lab", "127.0.82.4"}, ClientNames: []string{"sbc.lab"}}); err != nil {
		t.Fatal(err)
	}
	f := func(name string) string { return filepath.Join(dir, name) }
	config := f("tls.yaml")
	yaml := "edge:\n  listen: 127.0.82.4:0\n  peer: 127.0.82.5:5060\ngateway_listen: 127.0.82.4:0\nhttp_listen: 127.0.82.4:0\n" +
		"admin:\n  listen: 127.0.82.4:0\nmedia:\n  ip: 127.0.82.4\ngateways:\n  - name: sbc\n    address: 127.0.82.5:5060\n    transport: udp\n" +
		"tls:\n  cert: " + f(labca.ServerFile) + "\n  key: " + f(labca.ServerKeyFile) + "\n  ca: " + f(labca.CAFile) + "\n  gateway_listen: 127.0.82.4:0\n"
	if err := os.WriteFile(config, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, "serve", "--config", config, "--log-format", "json", "--log-level", "info")
	t.Cleanup(func() { _ = p.cmd.Process.Kill() })
	var tlsAddr string
	if err := poll(ctx, func() bool {
		tlsAddr = logField(p.stderr.String(), "mediation server listening", "gateway_tls")
		return p.exited() || tlsAddr != ""
	}); err != nil || p.exited() {
		t.Fatalf("serve not listening: %v: %s", err, p.stderr.String())
	}
	pem, err := os.ReadFile(f(labca.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	served := func() string {
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{RootCAs: roots, ServerName: "127.0.82.4"}}
		c, err := d.DialContext(ctx, "tcp", tlsAddr)
		if err != nil {
			t.Fatalf("handshake with %s: %v", tlsAddr, err)
		}
		defer c.Close()
		return c.(*tls.Conn).ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if cn := served(); cn != "mediation.lab" {
		t.Fatalf("certificate at start: %s", cn)
	}
	if err := labca.IssueClient(dir, []string{"renewed.lab", "127.0.82.4"}, "renewed.pem", "renewed-key.pem"); err != nil {
		t.Fatal(err)
	}
	for from, to := range map[string]string{"renewed.pem": labca.ServerFile, "renewed-key.pem": labca.ServerKeyFile} {
		if err := os.Rename(f(from), f(to)); err != nil {
			t.Fatal(err)
		}
	}
	hup := func(msg string) string {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		var line string
		if err := poll(ctx, func() bool { line = logField(p.stderr.String(), msg, "message"); return p.exited() || line != "" }); err != nil || p.exited() {
			t.Fatalf("after SIGHUP, no %q: %v: %s", msg, err, p.stderr.String())
		}
		return lastLine(p.stderr.String(), msg)
	}
	if line := hup("TLS files re-read: new handshakes use them, connections up keep theirs"); !strings.Contains(line, "CN=renewed.lab") {
		t.Errorf("reload logged %s, want the renewed certificate's subject", line)
	}
	if cn := served(); cn != "renewed.lab" {
		t.Errorf("certificate after SIGHUP: %s, want renewed.lab", cn)
	}
	if err := os.WriteFile(f(labca.ServerFile), []byte("half a renewal\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if line := hup("cannot re-read the TLS files: new handshakes keep the certificate and CA in use"); !strings.Contains(line, `"level":"error"`) || !strings.Contains(line, `"file":"`+f(labca.ServerFile)+`"`) {
		t.Errorf("broken certificate logged %s, want an error naming %s", line, f(labca.ServerFile))
	}
	if cn := served(); cn != "renewed.lab" {
		t.Errorf("certificate after a broken SIGHUP: %s, want renewed.lab kept", cn)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(ctx, t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM: %s", code, p.stderr.String())
	}
}

// lastLine is the last JSON log line in log with message msg, "" if none.
func lastLine(log, msg string) string {
	var last string
	for _, l := range strings.Split(log, "\n") {
		var m struct{ Message string }
		if json.Unmarshal([]byte(l), &m) == nil && m.Message == msg {
			last = l
		}
	}
	return last
}

// logField is field of the last JSON log line with message msg, "" if
// none.
func logField(log, msg, field string) string {
	var m map[string]any
	if json.Unmarshal([]byte(lastLine(log, msg)), &m) != nil {
		return ""
	}
	s, _ := m[field].(string)
	return s
}
