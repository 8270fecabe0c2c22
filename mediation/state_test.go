package mediation

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// stateChildEnv makes TestStateWriterChild the child of TestStateSurvivesKill.
const stateChildEnv = "MEDIATION_STATE_WRITER_CHILD"

// countedID is the n-th settings' bypass ID, so the parent can tell which
// change a state file holds.
func countedID(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

// TestStateWriterChild is not a test on its own: run by
// TestStateSurvivesKill, it changes the settings in a tight loop, as fast
// as the disk allows, and prints the number of each change once it is
// kept, until it is killed.
func TestStateWriterChild(t *testing.T) {
	path := os.Getenv(stateChildEnv)
	if path == "" {
		t.Skip("the child of TestStateSurvivesKill")
	}
	out := bufio.NewWriter(os.Stdout)
	for n := 1; ; n++ {
		b := BypassSettings{Enabled: n%2 == 0, AlwaysBypass: true, BypassID: countedID(n),
			WebServiceURL: "http://127.0.0.1:8080/hybridconfig/hybridconfigservice.svc"}
		if err := writeState(path, b, false); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		fmt.Fprintln(out, n)
		out.Flush()
	}
}

// TestStateSurvivesKill kills a process that is changing the settings with
// SIGKILL at random moments: every time, the state file must hold the last
// change the process reported kept, or the one it was writing, whole; and a
// server must start on it.
func TestStateSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	for round := range 25 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestStateWriterChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), stateChildEnv+"="+path)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(stdout)
		last := 0
		// Kill after a random number of kept changes, so the kill lands
		// anywhere in a write.
		killAfter := 1 + rand.IntN(40)
		for last < killAfter && lines.Scan() {
			last, _ = strconv.Atoi(lines.Text())
		}
		if err := cmd.Process.Signal(os.Kill); err != nil {
			t.Fatal(err)
		}
		for lines.Scan() { // changes reported before the kill
			if n, err := strconv.Atoi(lines.Text()); err == nil {
				last = n
			}
		}
		err = cmd.Wait()
		cancel()
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) || last == 0 {
			t.Fatalf("round %d: child ended with %v after %d changes, not by the kill; stderr %q", round, err, last, stderr.String())
		}
		saved, _, ok, err := readState(path)
		if err != nil || !ok {
			data, _ := os.ReadFile(path)
			t.Fatalf("round %d: state after SIGKILL: ok %v, %v; file %q", round, ok, err, data)
		}
		if saved.BypassID != countedID(last) && saved.BypassID != countedID(last+1) {
			t.Fatalf("round %d: state holds %s; want the last kept change %s or the next", round, saved.BypassID, countedID(last))
		}
		// A server starts on it, with these settings.
		cfg := DefaultConfig()
		cfg.State.Path = path
		srv, err := NewServer(cfg, zerolog.Nop())
		if err != nil {
			t.Fatalf("round %d: NewServer on the state: %v", round, err)
		}
		if got := srv.Settings(); got != saved {
			t.Fatalf("round %d: server started with %+v, state holds %+v", round, got, saved)
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStateCorrupt(t *testing.T) {
	for _, tt := range []struct{ name, content, reason string }{
		{"torn", `{"version":1,"settings":{"Enabled":tr`, "corrupt"},
		{"empty", ``, "corrupt"},
		{"other version", `{"version":7,"settings":{}}`, "version 7"},
		{"invalid settings", `{"version":1,"settings":{"Enabled":true,"AlwaysBypass":true,"BypassID":"nope"}}`, "BypassID"},
		// Not blamed on AlwaysBypass, the first field to fail (r23 L2).
		{"no settings", `{"version":1}`, "settings missing"},
		{"null settings", `{"version":1,"settings":null}`, "settings missing"},
		{"empty settings", `{"version":1,"settings": { } }`, "settings missing"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg := DefaultConfig()
			cfg.State.Path = path
			_, err := NewServer(cfg, zerolog.Nop())
			var se *StateError
			if !errors.As(err, &se) || se.Path != path || !strings.Contains(err.Error(), tt.reason) ||
				!strings.Contains(err.Error(), "--reset-state") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("NewServer = %v; want one-line *StateError naming %s and %q", err, path, tt.reason)
			}
			// --reset-state starts from the config and keeps the bad file aside.
			cfg.State.Reset = true
			srv, err := NewServer(cfg, zerolog.Nop())
			if err != nil {
				t.Fatalf("NewServer with Reset: %v", err)
			}
			if got := srv.Settings(); got.BypassID != cfg.Bypass.BypassID || got.Enabled != cfg.Bypass.Enabled {
				t.Fatalf("settings after reset %+v, want the config's", got)
			}
			if saved, _, ok, err := readState(path); err != nil || !ok || saved != srv.Settings() {
				t.Fatalf("state after reset: %+v %v %v", saved, ok, err)
			}
			aside, _ := filepath.Glob(path + ".corrupt-*")
			if len(aside) != 1 {
				t.Fatalf("corrupt file not kept aside: %v", aside)
			}
		})
	}
	t.Run("missing directory", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.State.Path = filepath.Join(t.TempDir(), "no-such-dir", "state.json")
		_, err := NewServer(cfg, zerolog.Nop())
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != "state.path" {
			t.Fatalf("NewServer = %v, want a state.path config error", err)
		}
	})
}

// stateLink is a state file on a "volume" (data/) that the configured path
// (etc/state.json) links to, as container and config management setups
// do; the link's directory takes no new file here only if the test makes
// it so.
func stateLink(t *testing.T, targetName string) (link, target string) {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"data", "etc"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link, target = filepath.Join(root, "etc", "state.json"), filepath.Join(root, "data", targetName)
	// A relative link, resolved from the link's directory.
	if err := os.Symlink(filepath.Join("..", "data", targetName), link); err != nil {
		t.Fatal(err)
	}
	return link, target
}

// assertLinkKept fails unless link is still a symbolic link to target and
// target holds the settings b, with no temporary file left in either
// directory.
func assertLinkKept(t *testing.T, link, target string, b BypassSettings) {
	t.Helper()
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("state.path %s is no longer a symbolic link (%v, %v): the write replaced the link", link, fi.Mode(), err)
	}
	for _, p := range []string{target, link} {
		saved, _, ok, err := readState(p)
		if err != nil || !ok || saved != b {
			t.Fatalf("readState(%s) = %+v, %v, %v; want %+v", p, saved, ok, err, b)
		}
	}
	for _, dir := range []string{filepath.Dir(link), filepath.Dir(target)} {
		if tmps, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*")); len(tmps) > 0 {
			t.Fatalf("temporary files left: %v", tmps)
		}
	}
}

// TestStateWrittenThroughLink: a state.path that is a symbolic link is
// written through (the target is replaced, in its own directory, and the
// link kept), as serve --validate checks the target's directory; a dangling
// link's target is created; the start-up cleanup of interrupted writes
// looks next to the target; --reset-state moves the target aside, not the
// link (r23 M3).
func TestStateWrittenThroughLink(t *testing.T) {
	first := BypassSettings{Enabled: true, AlwaysBypass: true, BypassID: countedID(1)}
	second := BypassSettings{Enabled: false, AlwaysBypass: true, BypassID: countedID(2)}
	t.Run("existing target", func(t *testing.T) {
		link, target := stateLink(t, "state.json")
		if err := writeState(target, first, false); err != nil {
			t.Fatal(err)
		}
		if err := writeState(link, second, false); err != nil {
			t.Fatal(err)
		}
		assertLinkKept(t, link, target, second)
	})
	t.Run("dangling link", func(t *testing.T) {
		link, target := stateLink(t, "new.json")
		cfg := DefaultConfig()
		cfg.State.Path = link
		if err := cfg.CheckFiles(); err != nil {
			t.Fatalf("CheckFiles on a dangling link into a writable directory: %v", err)
		}
		if err := writeState(link, first, false); err != nil {
			t.Fatal(err)
		}
		assertLinkKept(t, link, target, first)
	})
	t.Run("link's directory takes no file", func(t *testing.T) {
		// As --validate says: only the target's directory must take
		// new files, not the link's.
		target := filepath.Join(t.TempDir(), "state.json")
		if err := writeState(target, first, false); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(t.TempDir(), "state.json")
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Dir(link), 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(filepath.Dir(link), 0o755) })
		if f, err := os.CreateTemp(filepath.Dir(link), "probe-"); err == nil {
			f.Close()
			os.Remove(f.Name())
			t.Skip("directory modes do not bind this user (root)")
		}
		if err := writeState(link, second, false); err != nil {
			t.Fatalf("writeState through a link in a read-only directory: %v", err)
		}
		assertLinkKept(t, link, target, second)
	})
	t.Run("stale temporary file next to the target", func(t *testing.T) {
		link, target := stateLink(t, "bypass.json")
		if err := writeState(link, first, false); err != nil {
			t.Fatal(err)
		}
		stale := filepath.Join(filepath.Dir(target), tempPrefix(target)+"12345")
		if err := os.WriteFile(stale, []byte("{"), 0o644); err != nil {
			t.Fatal(err)
		}
		(&Server{log: zerolog.Nop()}).removeStaleTemps(link)
		if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("stale temporary file %s next to the link's target not removed: %v", stale, err)
		}
		assertLinkKept(t, link, target, first)
	})
	t.Run("reset-state", func(t *testing.T) {
		link, target := stateLink(t, "state.json")
		if err := os.WriteFile(target, []byte(`{"version":1,"settings":{"Enabled":tr`), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.State.Path, cfg.State.Reset = link, true
		srv, err := NewServer(cfg, zerolog.Nop())
		if err != nil {
			t.Fatalf("NewServer with Reset: %v", err)
		}
		assertLinkKept(t, link, target, srv.Settings())
		if aside, _ := filepath.Glob(target + ".corrupt-*"); len(aside) != 1 {
			t.Fatalf("corrupt target not kept aside next to it: %v", aside)
		}
	})
}
