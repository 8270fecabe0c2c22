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
