package mediation_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mediation-emulator/mediation/mediation"
)

// TestCheckWritableCreatesInDirectory: the directory of records.path,
// capture.pcap and state.path is tried by creating a file in it, not by
// access(2): as root, access says every directory of a read-write file
// system is writable, /proc included, where creating a file still fails,
// so `serve --validate` said "config ok" and the start then failed (exit 1
// and a JSON line, not the one-line exit 2). Where the directory takes
// files, the check leaves nothing behind, and a file that exists already
// is still fine.
func TestCheckWritableCreatesInDirectory(t *testing.T) {
	t.Run("directory that takes no file", func(t *testing.T) {
		if f, err := os.CreateTemp("/proc", ".probe-*"); err == nil {
			f.Close()
			os.Remove(f.Name())
			t.Skip("this host creates files in /proc")
		}
		for _, c := range []struct {
			field string
			set   func(*mediation.Config)
		}{
			{"records.path", func(c *mediation.Config) { c.Records.Path = "/proc/records.jsonl" }},
			{"capture.pcap", func(c *mediation.Config) { c.Capture.Pcap = "/proc/records.jsonl" }},
			{"state.path", func(c *mediation.Config) { c.State.Path = "/proc/records.jsonl" }},
		} {
			cfg := mediation.DefaultConfig()
			c.set(cfg)
			err := cfg.CheckWritable()
			if want := c.field + `: "/proc/records.jsonl": directory /proc is not writable: `; err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s in /proc: %v, want %q", c.field, err, want)
			}
		}
	})
	t.Run("directory that takes files", func(t *testing.T) {
		dir := t.TempDir()
		state := filepath.Join(dir, "state.json")
		pcap := filepath.Join(dir, "capture.pcap")
		for _, f := range []string{state, pcap} {
			if err := os.WriteFile(f, []byte("earlier"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cfg := mediation.DefaultConfig()
		cfg.Records.Path = filepath.Join(dir, "records.jsonl")  // not there yet
		cfg.Capture.Pcap, cfg.Capture.PcapMaxSize = pcap, 1<<20 // rotated: its directory too
		cfg.State.Path = state                                  // replaced: its directory too
		if err := cfg.CheckWritable(); err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if want := []string{"capture.pcap", "state.json"}; !slices.Equal(names, want) {
			t.Errorf("the directory holds %v after the check, want %v as it was", names, want)
		}
		for _, f := range []string{state, pcap} {
			if got, err := os.ReadFile(f); err != nil || string(got) != "earlier" {
				t.Errorf("%s after the check: %q %v, want it unchanged", f, got, err)
			}
		}
	})
}
