package main

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mediation-emulator/mediation/mediation/hybridconfig"
	"github.com/mediation-emulator/mediation/mediation/labca"
)

// binary is the mediation command built once for the tests that run it.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mediation-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkdir:", err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "mediation")
	if err := build(binary); err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		_ = os.RemoveAll(dir)
		os.Exit(code)
	}))
}

func build(out string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", out, ".")
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, output)
	}
	return nil
}

type runResult struct {
	stdout, stderr string
	code           int
}

// safeListens keeps every listener on an ephemeral loopback port, so a test
// whose bad value were wrongly accepted could not take a real port; the
// deadline below would then kill the daemon and the exit code check fails.
var safeListens = []string{"--edge-listen", "127.0.0.1:0", "--gateway-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}

func runBinary(t *testing.T, args ...string) runResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("run %v: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("mediation %v did not exit in time (stderr %q)", args, stderr.String())
	}
	return runResult{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

func TestHelp(t *testing.T) {
	tests := []struct {
		args     []string
		wantCode int
		stderr   bool // usage goes to stderr
	}{
		{[]string{"help"}, 0, false},
		{[]string{"-h"}, 0, false},
		{[]string{"--help"}, 0, false},
		{nil, 2, true},
	}
	for _, tt := range tests {
		res := runBinary(t, tt.args...)
		out := res.stdout
		if tt.stderr {
			out = res.stderr
		}
		if res.code != tt.wantCode || !strings.Contains(out, "serve") || !strings.Contains(out, "version") {
			t.Errorf("mediation %v: exit %d, output %q; want exit %d listing serve and version", tt.args, res.code, out, tt.wantCode)
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	res := runBinary(t, "bogus")
	if res.code != 2 || !strings.Contains(res.stderr, `unknown command "bogus"`) {
		t.Fatalf("exit %d stderr %q; want 2 naming the command", res.code, res.stderr)
	}
}

func TestVersion(t *testing.T) {
	// Whatever the toolchain stamped into the binary (the VCS revision when
	// it was built from a checkout with git at hand) must be printed.
	info, err := buildinfo.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	want := formatVersion(info)
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		res := runBinary(t, args...)
		if res.code != 0 || res.stdout != want+"\n" || !strings.Contains(res.stdout, runtime.Version()) {
			t.Fatalf("mediation %v: exit %d stdout %q; want 0 and %q", args, res.code, res.stdout, want)
		}
	}
}

func TestFormatVersion(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-05T23:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := formatVersion(info), "mediation v1.2.3 0123456789ab+dirty 2026-12-05T23:00:00Z go1.26.0"; got != want {
		t.Errorf("formatVersion = %q, want %q", got, want)
	}
	if got, want := formatVersion(&debug.BuildInfo{GoVersion: "go1.26.0"}), "mediation (devel) go1.26.0"; got != want {
		t.Errorf("formatVersion without VCS = %q, want %q", got, want)
	}
}

func TestServeHelpShowsEmbeddedDefaults(t *testing.T) {
	for _, args := range [][]string{{"serve", "-h"}, {"serve", "--help"}, {"help", "serve"}} {
		res := runBinary(t, args...)
		if res.code != 0 {
			t.Fatalf("mediation %v: exit %d, stderr %q", args, res.code, res.stderr)
		}
		for _, want := range []string{"-config", "-edge-listen", "-gateway-listen", "-gateway ", "-gateway-transport",
			"-edge-peer", "-edge-transport", "-http-listen", "-admin-listen", `"127.0.0.1:8081"`, "-bypass\n", "-bypass-id", "-media-ip", "-media-ports",
			"-log-level", "-log-format", `"127.0.0.1:5070"`, `"49152-57500"`, `"be38f190-a24a-4a72-b66c-b09fd0909ebc"`} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("mediation %v: usage lacks %q:\n%s", args, want, res.stdout)
			}
		}
	}
}

// TestServeRejectsBadInput checks that each bad value stops serve with exit 2
// and exactly one stderr line naming the problem, before anything binds.
func TestServeRejectsBadInput(t *testing.T) {
	configDir := filepath.Join("..", "..", "testdata", "config")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"media ports reversed", []string{"--media-ports", "9-3"}, `mediation: config: media.ports: "9-3": low must be below high`},
		{"media ports garbage", []string{"--media-ports=lots"}, "media.ports"},
		{"bypass id", []string{"--bypass-id", "not-a-guid"}, "bypass.bypass_id"},
		{"bypass id when disabled", []string{"--bypass=false", "--bypass-id", "{x}"}, "bypass.bypass_id"},
		{"gateway transport", []string{"--gateway-transport", "sctp"}, "gateways[0].transport"},
		{"gateway address", []string{"--gateway", "127.0.0.1"}, "gateways[0].address"},
		{"edge transport", []string{"--edge-transport", "tls"}, "edge.peer_transport"},
		{"edge listen hostname", []string{"--edge-listen", "localhost:5070"}, "edge.listen"},
		{"media ip", []string{"--media-ip", "0.0.0.0"}, "media.ip"},
		{"log level", []string{"--log-level", "loud"}, "log.level"},
		{"log format", []string{"--log-format", "xml"}, "log.format"},
		{"bad boolean", []string{"--bypass=maybe"}, "-bypass"},
		{"unknown flag", []string{"--no-such-flag"}, "no-such-flag"},
		{"positional argument", []string{"extra"}, `unexpected argument "extra"`},
		{"unknown key in config", []string{"--config", filepath.Join(configDir, "bad-unknown-key.yaml")}, "edge.lisen: unknown key"},
		{"bad yaml type in config", []string{"--config", filepath.Join(configDir, "bad-type.yaml")}, "config: bypass.enabled: cannot unmarshal"},
		{"missing config", []string{"--config", filepath.Join(configDir, "does-not-exist.yaml")}, "no such file"},
		{"torn state file", []string{"--state", filepath.Join("..", "..", "testdata", "state", "torn.json")}, "state: ../../testdata/state/torn.json: corrupt: "},
		{"state in a missing directory", []string{"--state", filepath.Join("..", "..", "testdata", "no-such-dir", "state.json")}, "config: state.path"},
		{"state in a directory that takes no file", []string{"--state", "/proc/self/state.json"}, `config: state.path: "/proc/self/state.json": directory /proc/self is not writable`},
		{"bad value in config", []string{"--config", filepath.Join(configDir, "bad-ports.yaml")}, "media.ports"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{"serve"}, safeListens...), tt.args...)
			if tt.name == "positional argument" {
				args = append([]string{"serve"}, tt.args...)
			}
			res := runBinary(t, args...)
			if res.code != 2 {
				t.Fatalf("exit %d, want 2 (stderr %q)", res.code, res.stderr)
			}
			lines := strings.Split(strings.TrimSuffix(res.stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "mediation: ") || !strings.Contains(lines[0], tt.want) {
				t.Fatalf("stderr %q; want one \"mediation: \" line containing %q", res.stderr, tt.want)
			}
			if res.stdout != "" {
				t.Errorf("stdout %q, want nothing", res.stdout)
			}
		})
	}
}

// takenAddr is a loopback TCP address held by the test until it ends.
func takenAddr(t *testing.T) string {
	t.Helper()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { taken.Close() })
	return taken.Addr().String()
}

// TestServePortInUse checks that a listener whose port is taken stops serve
// with exit 2 and one plain line naming the listener, like a config error.
func TestServePortInUse(t *testing.T) {
	addr := takenAddr(t)
	for _, tt := range []struct{ flag, key string }{
		{"--edge-listen", "edge.listen"}, {"--gateway-listen", "gateway_listen"}, {"--http-listen", "http_listen"}, {"--admin-listen", "admin.listen"},
	} {
		t.Run(tt.key, func(t *testing.T) {
			res := runBinary(t, append(append([]string{"serve"}, safeListens...), tt.flag, addr)...)
			want := "mediation: " + tt.key + " " + addr + ": address already in use\n"
			if res.code != 2 || res.stderr != want {
				t.Fatalf("exit %d stderr %q; want 2 and %q", res.code, res.stderr, want)
			}
		})
	}
}

// TestServeValidate: `serve --validate` checks the config as serve does
// before it binds, prints "config ok" and exits 0, or prints the error
// and exits 2; it binds nothing (its listen addresses may be taken) and
// changes no file.
func TestServeValidate(t *testing.T) {
	addr := takenAddr(t)
	tornBefore, err := os.ReadFile(filepath.Join("..", "..", "testdata", "state", "torn.json"))
	if err != nil {
		t.Fatal(err)
	}
	configDir := filepath.Join("..", "..", "testdata", "config")
	torn := filepath.Join("..", "..", "testdata", "state", "torn.json")
	tokenFile := filepath.Join(t.TempDir(), "empty-token")
	if err := os.WriteFile(tokenFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	emptyTokenConfig, goneRecords := filepath.Join(dir, "token.yaml"), filepath.Join(dir, "records.yaml")
	// /proc/self takes no new file, not even from root (CI runs as root,
	// for whom file modes do not count).
	lockedRecords, lockedState := filepath.Join(dir, "locked-records.yaml"), filepath.Join(dir, "locked-state.yaml")
	// A link to a file in a directory that does not exist: the open
	// would follow it.
	dangling, danglingRecords := filepath.Join(dir, "dangling.jsonl"), filepath.Join(dir, "dangling-records.yaml")
	if err := os.Symlink(filepath.Join(dir, "gone", "records.jsonl"), dangling); err != nil {
		t.Fatal(err)
	}
	for file, yaml := range map[string]string{emptyTokenConfig: "admin:\n  token_file: " + tokenFile + "\n",
		goneRecords:     "records:\n  path: " + filepath.Join(dir, "gone", "records.jsonl") + "\n",
		lockedRecords:   "records:\n  path: /proc/self/records.jsonl\n",
		lockedState:     "state:\n  path: /proc/self/state.json\n",
		danglingRecords: "records:\n  path: " + dangling + "\n"} {
		if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name string
		args []string
		code int
		out  string // stdout, or the start of the one line on stderr
	}{
		{"example", []string{"--config", filepath.Join(configDir, "example.yaml")}, 0, "config ok\n"},
		{"listener taken", []string{"--http-listen", addr}, 0, "config ok\n"},
		{"bad value", []string{"--config", filepath.Join(configDir, "bad-ports.yaml")}, 2, "mediation: config: media.ports: "},
		{"bad flag value", []string{"--media-ports", "9-3"}, 2, "mediation: config: media.ports: "},
		{"trunk at port 0", []string{"--gateway", "127.0.0.1:0"}, 2, "mediation: config: gateways[0].address: \"127.0.0.1:0\": must be IP:PORT, HOST:PORT or HOST (port from DNS SRV): address \"127.0.0.1:0\": port must be 1..65535"},
		{"trunk at IPv6 port 0", []string{"--gateway", "[::1]:0"}, 2, "mediation: config: gateways[0].address: "},
		// An IPv6 trunk behind an IPv4 gateway_listen would get 503 on every
		// call: refused before anything binds (r23-sbc2 F2).
		{"IPv6 trunk, IPv4 gateway side", []string{"--gateway", "[::1]:5060"}, 2,
			`mediation: config: gateways[0].address: "[::1]:5060": trunk "sbc" is IPv6 but gateway_listen 127.0.0.1:5068 is IPv4`},
		{"unknown key", []string{"--config", filepath.Join(configDir, "bad-unknown-key.yaml")}, 2, "mediation: config: edge.lisen: unknown key"},
		{"two YAML documents", []string{"--config", filepath.Join(configDir, "bad-two-documents.yaml")}, 2,
			"mediation: config: " + filepath.Join(configDir, "bad-two-documents.yaml") + " line 6: more than one YAML document"},
		{"records in a missing directory", []string{"--config", goneRecords}, 2, "mediation: config: records.path: "},
		{"records in a directory that takes no file", []string{"--config", lockedRecords}, 2, "mediation: config: records.path: \"/proc/self/records.jsonl\": directory /proc/self is not writable"},
		{"records through a link into a missing directory", []string{"--config", danglingRecords}, 2, "mediation: config: records.path: "},
		{"state in a directory that takes no file", []string{"--config", lockedState}, 2, "mediation: config: state.path: \"/proc/self/state.json\": directory /proc/self is not writable"},
		{"torn state file", []string{"--state", torn}, 2, "mediation: state: "},
		{"torn state file, reset", []string{"--state", torn, "--reset-state"}, 0, "config ok\n"},
		{"empty token file", []string{"--config", emptyTokenConfig}, 2, "mediation: config: admin.token_file: "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := runBinary(t, append([]string{"serve", "--validate"}, tt.args...)...)
			if res.code != tt.code {
				t.Fatalf("exit %d, want %d (stdout %q, stderr %q)", res.code, tt.code, res.stdout, res.stderr)
			}
			if tt.code == 0 {
				if res.stdout != tt.out || res.stderr != "" {
					t.Fatalf("stdout %q stderr %q; want %q and nothing", res.stdout, res.stderr, tt.out)
				}
				return
			}
			lines := strings.Split(strings.TrimSuffix(res.stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], tt.out) || res.stdout != "" {
				t.Fatalf("stdout %q stderr %q; want one line starting %q", res.stdout, res.stderr, tt.out)
			}
		})
	}
	if after, err := os.ReadFile(torn); err != nil || string(after) != string(tornBefore) {
		t.Errorf("the torn state file changed (%v): --validate must change nothing", err)
	}
	if aside, _ := filepath.Glob(torn + ".corrupt-*"); len(aside) > 0 {
		t.Errorf("--validate --reset-state moved the state file aside: %v", aside)
	}
}

// TestServeValidateWebServiceURL: an explicit web service URL that misses
// http_listen is warned about on stderr, and still valid; left out, the
// server advertises http_listen itself and there is nothing to warn about.
func TestServeValidateWebServiceURL(t *testing.T) {
	const listen = "127.0.0.71:18080"
	for _, tt := range []struct {
		name, url, warn string
	}{
		{"left out", "", ""},
		{"at http_listen", "http://" + listen + hybridconfig.Path, ""},
		{"elsewhere", "http://127.0.0.1:8080" + hybridconfig.Path,
			"mediation: warning: bypass.web_service_url http://127.0.0.1:8080" + hybridconfig.Path + " points at 127.0.0.1:8080, not at http_listen " + listen},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"serve", "--validate", "--http-listen", listen}
			if tt.url != "" {
				args = append(args, "--web-service-url", tt.url)
			}
			res := runBinary(t, args...)
			lines := strings.Split(strings.TrimSuffix(res.stderr, "\n"), "\n")
			switch {
			case res.code != 0 || res.stdout != "config ok\n":
				t.Fatalf("exit %d stdout %q stderr %q; want 0 and config ok", res.code, res.stdout, res.stderr)
			case tt.warn == "" && res.stderr != "":
				t.Fatalf("stderr %q, want nothing", res.stderr)
			case tt.warn != "" && (len(lines) != 1 || !strings.HasPrefix(lines[0], tt.warn)):
				t.Fatalf("stderr %q, want one line starting %q", res.stderr, tt.warn)
			}
		})
	}
}

// TestServeValidateSharedTrunkAddress: a trunk with the first's address
// passes --validate (it may route outbound numbers) with one warning line
// naming both trunks: it can never own an inbound call (r23 L1).
func TestServeValidateSharedTrunkAddress(t *testing.T) {
	config := filepath.Join(t.TempDir(), "trunks.yaml")
	yaml := "gateways:\n  - {name: a, address: 127.0.0.1:5060}\n  - {name: b, address: 127.0.0.1:5060, numbers: [\"+44\"]}\n"
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	res := runBinary(t, "serve", "--validate", "--config", config)
	want := `mediation: warning: gateways[1] "b" has the address of gateways[0] "a" (127.0.0.1:5060): inbound calls from it belong to "a"`
	if res.code != 0 || res.stdout != "config ok\n" || !strings.HasPrefix(res.stderr, want) || strings.Count(res.stderr, "\n") != 1 {
		t.Fatalf("exit %d stdout %q stderr %q; want 0, config ok and one line starting %q", res.code, res.stdout, res.stderr, want)
	}
}

// TestServeValidateExpiredTLSCert: an expired tls.cert passes --validate
// (a renewal may be on its way) with one warning line naming it.
func TestServeValidateExpiredTLSCert(t *testing.T) {
	dir := t.TempDir()
	if err := labca.Generate(dir, labca.Options{ServerNames: []string{"127.0.0.1"}, ClientNames: []string{"sbc.lab"}, Validity: 30 * time.Minute, Issued: time.Now().Add(-2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	cert := filepath.Join(dir, labca.ServerFile)
	config := filepath.Join(dir, "serve.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf("tls:\n  cert: %s\n  key: %s\n", cert, filepath.Join(dir, labca.ServerKeyFile))), 0o600); err != nil {
		t.Fatal(err)
	}
	res := runBinary(t, "serve", "--validate", "--config", config)
	want := "mediation: warning: tls.cert " + cert + " expired on "
	if res.code != 0 || res.stdout != "config ok\n" || !strings.HasPrefix(res.stderr, want) || strings.Count(res.stderr, "\n") != 1 {
		t.Fatalf("exit %d stdout %q stderr %q; want 0, config ok and one line starting %q", res.code, res.stdout, res.stderr, want)
	}
}
