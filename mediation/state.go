package mediation

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// StateConfig is where the settings changed at run time are kept, so that
// they survive a restart.
type StateConfig struct {
	// Path is the state file; "" keeps changes in memory only.
	Path string `yaml:"path"`
	// Reset starts from the config's settings when the state file is
	// unreadable, moving it aside (--reset-state; not a config key).
	Reset bool `yaml:"-"`
}

// stateVersion is the state file's format; a file of another version is
// refused rather than half understood.
const stateVersion = 1

// stateFile is the state file's JSON.
type stateFile struct {
	Version  int          `json:"version"`
	SavedAt  time.Time    `json:"savedAt"`
	Settings SettingsView `json:"settings"`
	// WebServiceFollowsListen: the URL in Settings is the server's own web
	// service at the time of writing; the next start advertises its own
	// again, wherever http_listen then is.
	WebServiceFollowsListen bool `json:"webServiceUrlFollowsHttpListen,omitempty"`
}

// StateError is a state file that cannot be used: the server does not start
// on settings it cannot trust, and the operator is told which file to fix.
type StateError struct {
	Path   string
	Reason string
}

func (e *StateError) Error() string {
	return "state: " + e.Path + ": " + e.Reason + " (fix or remove the file, or start with --reset-state)"
}

// readState returns the settings saved at path, and whether their URL
// follows http_listen; ok is false when there is no file yet.
func readState(path string) (b BypassSettings, follows, ok bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return b, false, false, nil
	}
	if err != nil {
		return b, false, false, &StateError{Path: path, Reason: err.Error()}
	}
	var f stateFile
	if err := json.Unmarshal(data, &f); err != nil {
		return b, false, false, &StateError{Path: path, Reason: "corrupt: " + err.Error()}
	}
	if f.Version != stateVersion {
		return b, false, false, &StateError{Path: path, Reason: fmt.Sprintf("version %d, want %d", f.Version, stateVersion)}
	}
	// Without a settings object, or with an empty one, every field reads
	// as its zero value, and the first check to fail (AlwaysBypass) would
	// be blamed for it.
	var has struct {
		Settings json.RawMessage `json:"settings"`
	}
	if err := json.Unmarshal(data, &has); err != nil || len(has.Settings) == 0 || string(has.Settings) == "null" {
		return b, false, false, &StateError{Path: path, Reason: "settings missing: the file has no \"settings\" object"}
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(has.Settings, &keys); err == nil && len(keys) == 0 {
		return b, false, false, &StateError{Path: path, Reason: "settings missing: the file's \"settings\" object is empty"}
	}
	v := f.Settings
	b = BypassSettings{Enabled: v.Enabled, AlwaysBypass: v.AlwaysBypass, BypassID: v.BypassID, WebServiceURL: v.HybridConfigServiceInternalUrl}
	if err := b.Validate(); err != nil {
		return b, false, false, &StateError{Path: path, Reason: "invalid settings: " + err.Error()}
	}
	// A file written before IDs were stored in lower case may hold another spelling.
	b.BypassID = canonicalBypassID(b.BypassID)
	return b, f.WebServiceFollowsListen, true, nil
}

// writeState replaces the file at path with b so that a crash at any moment
// leaves either the old file or the new one, whole: the new content goes to
// a temporary file in the same directory, is fsynced, renamed over path
// (atomic on POSIX), and the directory is fsynced so the rename itself
// survives a power loss.
//
// A path that is a symbolic link (the state on a persistent volume, linked
// from the configured path) is written through: the file replaced is the
// link's target, resolved at each write as `serve --validate` resolves it
// (linkTarget), in the target's directory. Renamed over the link itself,
// the new file would replace the link, and the target would keep the old
// settings for the next start that finds the link put back. A dangling
// link's target is created, as an open would.
func writeState(path string, b BypassSettings, follows bool) error {
	data, err := json.MarshalIndent(stateFile{Version: stateVersion, SavedAt: time.Now().UTC(), Settings: b.View(), WebServiceFollowsListen: follows}, "", "  ")
	if err != nil {
		return err
	}
	path = linkTarget(path)
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, tempPrefix(path)+"*")
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("state: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("state: fsync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("state: close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("state: open directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("state: fsync directory %s: %w", dir, err)
	}
	return nil
}

// tempPrefix is the name writeState's temporary files start with, followed
// by os.CreateTemp's random decimal number.
func tempPrefix(path string) string { return "." + filepath.Base(path) + ".tmp-" }

// removeStaleTemps removes the temporary files a write of the state file
// at path left when its process was killed before the rename (SIGKILL,
// power loss): only files next to path named by writeState's pattern, next
// to a link's target for a link, where writeState makes them.
func (s *Server) removeStaleTemps(path string) {
	target := linkTarget(path)
	dir, prefix := filepath.Dir(target), tempPrefix(target)
	entries, err := os.ReadDir(dir)
	if err != nil {
		s.log.Warn().Err(err).Str("state_path", path).Msg("state: cannot list the directory for stale temporary files")
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || rest == "" || strings.Trim(rest, "0123456789") != "" || !e.Type().IsRegular() {
			continue
		}
		stale := filepath.Join(dir, e.Name())
		if err := os.Remove(stale); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn().Err(err).Str("file", stale).Msg("state: cannot remove a stale temporary file")
			continue
		}
		s.log.Info().Str("file", stale).Msg("state: removed the temporary file of an interrupted write")
	}
}

// initialSettings are the settings the server starts with: the state file's
// when there is one, else the config's. Where they came from is logged by
// Run once the listeners are bound (s.originLog), so that a start that
// fails to bind prints its one line and nothing else. A URL that follows
// http_listen (the config's left out, or the state file's saved so) is ""
// until Run has bound it (ownWebService).
func (s *Server) initialSettings(cfg *Config) (BypassSettings, error) {
	conf := BypassSettings{Enabled: cfg.Bypass.Enabled, AlwaysBypass: cfg.Bypass.AlwaysBypass,
		BypassID: canonicalBypassID(cfg.Bypass.BypassID), WebServiceURL: cfg.Bypass.WebServiceURL}
	s.settings.followsListen = conf.WebServiceURL == ""
	path := cfg.State.Path
	if path == "" {
		s.originLog = func() {
			s.log.Info().Str("origin", "config").Msg("media bypass settings from the config; changes are not kept across restarts (state.path is empty)")
		}
		return conf, nil
	}
	if err := checkFilePath("state.path", path); err != nil {
		return conf, err
	}
	// Temporary files of writes interrupted by a kill are removed once the
	// server has bound its listeners: not before, so that a second process
	// on the same config (one whose start fails, a config check) cannot
	// remove the temporary file of a write the running server is making.
	defer func() {
		logOrigin := s.originLog
		s.originLog = func() {
			s.removeStaleTemps(path)
			if logOrigin != nil {
				logOrigin()
			}
		}
	}()
	saved, follows, ok, err := readState(path)
	var se *StateError
	switch {
	case errors.As(err, &se) && cfg.State.Reset:
		// A link's target is moved aside, not the link, so that the
		// fresh file below is written through the link again.
		target := linkTarget(path)
		aside := target + ".corrupt-" + time.Now().UTC().Format("20060102T150405Z")
		if rerr := os.Rename(target, aside); rerr != nil {
			return conf, fmt.Errorf("state: --reset-state: %w", rerr)
		}
		s.log.Warn().Str("state_path", path).Str("moved_to", aside).Str("reason", se.Reason).
			Msg("state file unusable: --reset-state starts from the config's settings")
		if err := writeState(path, conf, s.settings.followsListen); err != nil {
			return conf, err
		}
		s.originLog = func() {
			s.log.Info().Str("origin", "config").Str("state_path", path).Msg("media bypass settings from the config (--reset-state)")
		}
		return conf, nil
	case err != nil:
		return conf, err
	case !ok:
		s.originLog = func() {
			s.log.Info().Str("origin", "config").Str("state_path", path).Msg("media bypass settings from the config; no state file yet")
		}
		return conf, nil
	}
	var overridden []string
	for _, f := range []struct {
		key  string
		same bool
	}{{"bypass.enabled", saved.Enabled == conf.Enabled}, {"bypass.always_bypass", saved.AlwaysBypass == conf.AlwaysBypass},
		{"bypass.bypass_id", saved.BypassID == conf.BypassID},
		{"bypass.web_service_url", saved.WebServiceURL == conf.WebServiceURL || follows && s.settings.followsListen}} {
		if !f.same {
			overridden = append(overridden, f.key)
		}
	}
	s.settings.followsListen = follows
	s.originLog = func() {
		s.log.Info().Str("origin", "state file").Str("state_path", path).Bool("enabled", saved.Enabled).
			Str("bypass_id", saved.BypassID).Str("web_service_url", s.Settings().WebServiceURL).
			Strs("overridden_config_keys", overridden).Msg("media bypass settings from the state file, over the config")
	}
	if follows {
		saved.WebServiceURL = ""
	}
	return saved, nil
}
