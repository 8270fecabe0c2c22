package mediation

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// fullDisk is a records file on a disk with room bytes left: a write
// takes what fits and fails with ENOSPC, as write(2) does.
type fullDisk struct {
	*os.File
	mu          sync.Mutex // room: the writer's retry timer writes too
	room        int
	noTruncate  bool
	failSync    bool
	truncations int
	refused     int // writes refused for want of room
}

func (d *fullDisk) Sync() error {
	if d.failSync {
		return &os.PathError{Op: "sync", Path: d.Name(), Err: syscall.EIO}
	}
	return d.File.Sync()
}

// setRoom makes room bytes free on the disk.
func (d *fullDisk) setRoom(room int) {
	d.mu.Lock()
	d.room = room
	d.mu.Unlock()
}

func (d *fullDisk) Write(b []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(b) <= d.room {
		d.room -= len(b)
		return d.File.Write(b)
	}
	n, _ := d.File.Write(b[:d.room])
	d.room = 0
	d.refused++
	return n, &os.PathError{Op: "write", Path: d.Name(), Err: syscall.ENOSPC}
}

func (d *fullDisk) Truncate(size int64) error {
	d.truncations++
	if d.noTruncate {
		return errors.New("truncate refused")
	}
	return d.File.Truncate(size)
}

// oneRecordAndABit is room for one record's line and part of the next.
func oneRecordAndABit(t *testing.T) int {
	b, err := json.Marshal(Record{CallID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	return len(b) + 1 + 100
}

// diskFullWriter is a record writer on a fullDisk with room bytes.
func diskFullWriter(t *testing.T, room int, log *bytes.Buffer) (*recordWriter, *fullDisk, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "records.jsonl")
	var disk *fullDisk
	w, err := newRecordWriter(path, zerolog.New(log), func(p string) (recordFile, error) {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		disk = &fullDisk{File: f, room: room}
		return disk, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.close() })
	return w, disk, path
}

// recordLines reads the records file: the call ids of its lines, failing
// on a line that is not a whole record.
func recordLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Fatalf("records file ends in part of a line: %q", b)
	}
	var ids []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		ids = append(ids, r.CallID)
	}
	return ids
}

// TestRecordWriteDiskFull: a record that does not fit is cut off again
// (the file holds whole lines only), counted, held and written with the
// next record once there is room; the error is logged once, not per call.
func TestRecordWriteDiskFull(t *testing.T) {
	var log bytes.Buffer
	w, disk, path := diskFullWriter(t, oneRecordAndABit(t), &log)
	for _, id := range []string{"a", "b", "c"} {
		if err := w.write(Record{CallID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if got := recordLines(t, path); strings.Join(got, ",") != "a" {
		t.Fatalf("records on a full disk: %v, want a", got)
	}
	if f, l, h := w.counts(); f != 2 || l != 0 || h != 2 {
		t.Fatalf("failures %d, lost %d, held %d; want 2, 0, 2", f, l, h)
	}
	if n := strings.Count(log.String(), "call record not written"); n != 1 {
		t.Fatalf("%d error lines for two failed records, want 1 (rate-limited):\n%s", n, log.String())
	}
	// Room for one more line: the oldest held goes, each line in a write
	// of its own; the rest wait.
	disk.setRoom(oneRecordAndABit(t) - 100)
	if err := w.write(Record{CallID: "d"}); err != nil {
		t.Fatal(err)
	}
	if got := recordLines(t, path); strings.Join(got, ",") != "a,b" {
		t.Fatalf("records with room for one: %v, want a,b", got)
	}
	if f, _, h := w.counts(); f != 3 || h != 2 {
		t.Fatalf("failures %d, held %d; want 3, 2", f, h)
	}
	disk.setRoom(1 << 20)
	if err := w.write(Record{CallID: "e"}); err != nil {
		t.Fatal(err)
	}
	if got := recordLines(t, path); strings.Join(got, ",") != "a,b,c,d,e" {
		t.Fatalf("records after room was made: %v, want a,b,c,d,e", got)
	}
	if _, _, h := w.counts(); h != 0 {
		t.Fatalf("%d records still held", h)
	}
	if !strings.Contains(log.String(), "held call records written") {
		t.Errorf("no log of the held records written:\n%s", log.String())
	}
}

// TestRecordsHeldRetried: records held after the disk filled are written
// once there is room, without waiting for another call to end (a quiet
// server whose disk is cleared keeps them no longer than retryEvery), in
// order, and the writer stops retrying when nothing is held.
func TestRecordsHeldRetried(t *testing.T) {
	var log bytes.Buffer
	w, disk, path := diskFullWriter(t, oneRecordAndABit(t), &log)
	w.mu.Lock()
	w.retryEvery = 20 * time.Millisecond
	w.mu.Unlock()
	for _, id := range []string{"a", "b", "c"} {
		if err := w.write(Record{CallID: id}); err != nil {
			t.Fatal(err)
		}
	}
	// Retries while the disk is still full write nothing and keep trying.
	refused := func() int { disk.mu.Lock(); defer disk.mu.Unlock(); return disk.refused }
	before := refused()
	waitFor(t, 10*time.Second, "two retries on the full disk", func() bool { return refused() >= before+2 })
	w.mu.Lock()
	full := recordLines(t, path)
	w.mu.Unlock()
	if got := full; strings.Join(got, ",") != "a" {
		t.Fatalf("records on a full disk: %v, want a", got)
	}
	disk.setRoom(1 << 20)
	waitFor(t, 10*time.Second, "the held records written once there is room", func() bool { _, _, h := w.counts(); return h == 0 })
	w.mu.Lock()
	got := recordLines(t, path)
	w.mu.Unlock()
	if strings.Join(got, ",") != "a,b,c" {
		t.Fatalf("records after room was made: %v, want a,b,c", got)
	}
	if f, l, _ := w.counts(); f != 2 || l != 0 {
		t.Fatalf("failures %d, lost %d; want 2, 0", f, l)
	}
}

// TestRecordWriteUncut: when a partial line cannot be cut off, the next
// record still starts on a line of its own.
func TestRecordWriteUncut(t *testing.T) {
	var log bytes.Buffer
	w, disk, path := diskFullWriter(t, oneRecordAndABit(t), &log)
	disk.noTruncate = true
	w.write(Record{CallID: "a"})
	w.write(Record{CallID: "b"})
	disk.setRoom(1 << 20)
	w.write(Record{CallID: "c"})
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want a, the cut line, b, c:\n%s", len(lines), b)
	}
	for i, want := range map[int]string{0: "a", 2: "b", 3: "c"} {
		var r Record
		if err := json.Unmarshal([]byte(lines[i]), &r); err != nil || r.CallID != want {
			t.Fatalf("line %d %q: %v, want record %s", i, lines[i], err, want)
		}
	}
}

// TestRecordSyncFailure: records whose fsync fails are not kept as
// written: cut off, held, and written once fsync works.
func TestRecordSyncFailure(t *testing.T) {
	var log bytes.Buffer
	w, disk, path := diskFullWriter(t, 1<<20, &log)
	w.write(Record{CallID: "a"})
	disk.failSync = true
	w.write(Record{CallID: "b"})
	if got := recordLines(t, path); strings.Join(got, ",") != "a" {
		t.Fatalf("records after a failed fsync: %v, want a", got)
	}
	disk.failSync = false
	w.write(Record{CallID: "c"})
	if got := recordLines(t, path); strings.Join(got, ",") != "a,b,c" {
		t.Fatalf("records: %v, want a,b,c", got)
	}
	if f, _, h := w.counts(); f != 1 || h != 0 {
		t.Fatalf("failures %d, held %d; want 1, 0", f, h)
	}
}

// TestRecordsHeldBounded: while the disk stays full at most
// maxHeldRecords are held; older ones are dropped and counted lost, and so
// are those still held at shutdown.
func TestRecordsHeldBounded(t *testing.T) {
	var log bytes.Buffer
	w, _, path := diskFullWriter(t, 0, &log)
	for range maxHeldRecords + 5 {
		w.write(Record{CallID: "x"})
	}
	if f, l, h := w.counts(); f != maxHeldRecords+5 || l != 5 || h != maxHeldRecords {
		t.Fatalf("failures %d, lost %d, held %d; want %d, 5, %d", f, l, h, maxHeldRecords+5, maxHeldRecords)
	}
	w.close()
	if _, l, h := w.counts(); l != maxHeldRecords+5 || h != 0 {
		t.Fatalf("after close: lost %d, held %d", l, h)
	}
	if got := recordLines(t, path); len(got) != 0 {
		t.Fatalf("%d records on a disk without room", len(got))
	}
	if !strings.Contains(log.String(), "held call records lost at shutdown") {
		t.Fatalf("no log of the records lost:\n%s", log.String())
	}
}

// TestRecordsFollowRotation: a records file moved away (logrotate) or
// removed is noticed at the next record, which goes to a new file at the
// path; each is logged once.
func TestRecordsFollowRotation(t *testing.T) {
	var log bytes.Buffer
	path := filepath.Join(t.TempDir(), "records.jsonl")
	w, err := openRecords(path, zerolog.New(&log))
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	w.write(Record{CallID: "a"})
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	w.write(Record{CallID: "b"})
	w.write(Record{CallID: "c"})
	if got := recordLines(t, path+".1"); strings.Join(got, ",") != "a" {
		t.Fatalf("rotated file: %v, want a", got)
	}
	if got := recordLines(t, path); strings.Join(got, ",") != "b,c" {
		t.Fatalf("new file: %v, want b,c", got)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	w.write(Record{CallID: "d"})
	if got := recordLines(t, path); strings.Join(got, ",") != "d" {
		t.Fatalf("after removal: %v, want d", got)
	}
	if n := strings.Count(log.String(), "records file reopened"); n != 2 {
		t.Fatalf("%d reopen lines, want 2 (one per rotation):\n%s", n, log.String())
	}
	// SIGHUP's reopen: the next record goes to the file at the path.
	if err := os.Rename(path, path+".2"); err != nil {
		t.Fatal(err)
	}
	w.reopen("SIGHUP")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("reopen did not create the file: %v", err)
	}
	w.write(Record{CallID: "e"})
	if got := recordLines(t, path); strings.Join(got, ",") != "e" {
		t.Fatalf("after reopen: %v, want e", got)
	}
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRecordsHeldWhileUnreopenable: a records file moved away or removed
// whose path cannot be opened again (its directory moved away and a
// regular file put in its place, or removed: root is refused too) takes
// no more records; they are held, counted, and written at the path once
// it can be opened, without another record to carry them (r24-ops F1).
func TestRecordsHeldWhileUnreopenable(t *testing.T) {
	for _, tc := range []struct {
		name string
		// block makes dir/records.jsonl unopenable and returns the
		// file the writer has open, "" when it has no name any more.
		block func(t *testing.T, dir string) string
		// sighup: the reopen is SIGHUP's (it fails as well).
		sighup bool
	}{
		{"moved with its directory", func(t *testing.T, dir string) string {
			if err := os.Rename(dir, dir+".old"); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dir, nil, 0o644); err != nil { // ENOTDIR for the path
				t.Fatal(err)
			}
			return filepath.Join(dir+".old", "records.jsonl")
		}, false},
		{"removed with its directory", func(t *testing.T, dir string) string {
			if err := os.RemoveAll(dir); err != nil { // ENOENT for the path
				t.Fatal(err)
			}
			return ""
		}, false},
		{"moved, SIGHUP's reopen fails", func(t *testing.T, dir string) string {
			if err := os.Rename(dir, dir+".old"); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dir, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(dir+".old", "records.jsonl")
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log lockedLog
			dir := filepath.Join(t.TempDir(), "rec")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "records.jsonl")
			w, err := openRecords(path, zerolog.New(&log))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { w.close() })
			w.mu.Lock()
			w.retryEvery = 20 * time.Millisecond
			w.mu.Unlock()
			w.write(Record{CallID: "a"})
			old := tc.block(t, dir)
			if tc.sighup {
				w.reopen("SIGHUP")
			}
			w.write(Record{CallID: "b"})
			w.write(Record{CallID: "c"})
			if f, l, h := w.counts(); f != 2 || l != 0 || h != 2 {
				t.Fatalf("failures %d, lost %d, held %d; want 2, 0, 2", f, l, h)
			}
			if old != "" {
				w.mu.Lock()
				got := recordLines(t, old)
				w.mu.Unlock()
				if strings.Join(got, ",") != "a" {
					t.Fatalf("moved file: %v, want a (no record after its move)", got)
				}
			}
			if !strings.Contains(log.String(), "records are held in memory") {
				t.Errorf("no log of the failed reopen holding records:\n%s", log.String())
			}
			// The path works again: the retry timer writes the held
			// records to a new file there, in order.
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 10*time.Second, "the held records written once the path opens", func() bool { _, _, h := w.counts(); return h == 0 })
			w.mu.Lock()
			got := recordLines(t, path)
			w.mu.Unlock()
			if strings.Join(got, ",") != "b,c" {
				t.Fatalf("new file: %v, want b,c", got)
			}
			if _, l, _ := w.counts(); l != 0 {
				t.Fatalf("%d records lost", l)
			}
		})
	}
}

// TestRecordsHeldLostAtCloseWhenUnreopenable: records held because the
// path cannot be opened are counted lost at shutdown, not written to the
// file moved away.
func TestRecordsHeldLostAtCloseWhenUnreopenable(t *testing.T) {
	var log lockedLog
	dir := filepath.Join(t.TempDir(), "rec")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := openRecords(filepath.Join(dir, "records.jsonl"), zerolog.New(&log))
	if err != nil {
		t.Fatal(err)
	}
	w.write(Record{CallID: "a"})
	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	w.write(Record{CallID: "b"})
	w.close()
	if _, l, h := w.counts(); l != 1 || h != 0 {
		t.Fatalf("after close: lost %d, held %d; want 1, 0", l, h)
	}
	if got := recordLines(t, filepath.Join(dir+".old", "records.jsonl")); strings.Join(got, ",") != "a" {
		t.Fatalf("moved file: %v, want a", got)
	}
	if !strings.Contains(log.String(), "held call records lost at shutdown") {
		t.Fatalf("no log of the records lost:\n%s", log.String())
	}
}

// lockedLog is a log sink the writer's retry timer may write to while the
// test reads it.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedLog) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
