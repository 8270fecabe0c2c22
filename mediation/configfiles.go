package mediation

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// CheckFiles reads, changing nothing, the files beyond the config itself
// that the server reads before it binds: the state file (state.path: it
// must be whole and hold valid settings, unless State.Reset would move it
// aside) and admin.token_file. Validate has checked the rest (the
// directories of records.path and capture.pcap, the TLS files). Host
// names are not looked up. For `mediation serve --validate`, after
// Validate.
func (c *Config) CheckFiles() error {
	if err := c.CheckWritable(); err != nil {
		return err
	}
	if c.State.Path != "" {
		if err := checkFilePath("state.path", c.State.Path); err != nil {
			return err
		}
		if _, _, _, err := readState(c.State.Path); err != nil && !c.State.Reset {
			return err
		}
	}
	if _, err := c.Admin.loadToken(); err != nil {
		return err
	}
	return nil
}

// CheckWritable checks that the server can write the files it appends to or
// replaces (records.path, capture.pcap, state.path) before anything binds:
// an existing file must open for writing, and the directory must take new
// files where the server creates the file, rotates it (capture.pcap with
// pcap_max_size) or replaces it atomically (state.path). It changes
// nothing and leaves nothing behind: the directory is tried with a file
// created and removed at once. `serve` runs it before binding, `serve
// --validate` too.
func (c *Config) CheckWritable() error {
	for _, f := range []struct {
		field, path string
		dirToo      bool
	}{
		{"records.path", c.Records.Path, false},
		{"capture.pcap", c.Capture.Pcap, c.Capture.PcapMaxSize > 0},
		{"state.path", c.State.Path, true},
	} {
		if err := checkWritable(f.field, f.path, f.dirToo); err != nil {
			return err
		}
	}
	return nil
}

func checkWritable(field, path string, dirToo bool) error {
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	switch {
	case err == nil:
		_ = f.Close()
	case errors.Is(err, fs.ErrNotExist):
		dirToo = true
	default:
		return invalid(field, path, "cannot be written: %v", errors.Unwrap(err))
	}
	if dir := filepath.Dir(linkTarget(path)); dirToo {
		if err := tryCreate(dir); err != nil {
			return invalid(field, path, "directory %s is not writable: %v", dir, err)
		}
	}
	return nil
}

// tryCreate creates a file in dir and removes it. Only
// a real creation tells: access(2) lets root "write" any directory of a
// read-write file system, /proc and /sys included, where creating a file
// still fails, and the start would then fail after --validate said ok.
func tryCreate(dir string) error {
	f, err := os.CreateTemp(dir, ".mediation-check-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return pe.Err // the temporary name would only puzzle
		}
		return err
	}
	name := f.Name()
	cerr := f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("removing the file %s created to try it: %w", name, err)
	}
	return cerr
}

// linkTarget is where a file at path is created: the target of a symbolic
// link (a dangling one included, which the open follows), else path.
func linkTarget(path string) string {
	for range 8 { // a chain of links, bounded as a loop would not be
		fi, err := os.Lstat(path)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			return path
		}
		dest, err := os.Readlink(path)
		if err != nil {
			return path
		}
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(filepath.Dir(path), dest)
		}
		path = dest
	}
	return path
}
