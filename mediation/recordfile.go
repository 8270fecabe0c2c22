package mediation

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/sip"
)

// maxHeldRecords bounds the records kept in memory while the records file
// cannot be written (a full disk): about 1 MiB. Beyond it the oldest is
// dropped and counted lost.
const maxHeldRecords = 1000

// recordFile is the open records file as the writer uses it: an *os.File,
// or in a test one that fails as a full disk does.
type recordFile interface {
	io.Writer
	Sync() error
	Stat() (os.FileInfo, error)
	Truncate(size int64) error
	Close() error
}

// openRecordFile opens path for appending, creating it.
func openRecordFile(path string) (recordFile, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
}

// recordWriter appends records to a file, one fsynced line each, so that a
// record written is a record kept, whatever happens to the process next.
// A write is all or nothing: one write call per batch, and a failed one
// (a full disk) is cut off again, so the file holds only whole lines; the
// records not written are held in memory (up to maxHeldRecords) and
// written before the next one. The file is followed across rotation: one
// moved away or removed is noticed before the next write and reopened at
// its path, as it is on SIGHUP (reopen).
type recordWriter struct {
	path string
	log  zerolog.Logger
	open func(path string) (recordFile, error)

	mu sync.Mutex
	f  recordFile
	// held are the lines not written yet, oldest first.
	held [][]byte
	// newline: the file may end in part of a line (a failed write that
	// could not be cut off), so the next write begins with a newline.
	newline bool
	failLog sip.Limiter
	openLog sip.Limiter
	// closed: the server has stopped; a late SIGHUP opens nothing.
	closed bool
	// retry tries the held lines again every retryEvery while no new
	// record comes to carry them: a quiet server whose disk filled and was
	// cleared writes them then, not at its next call's end (which a
	// SIGKILL may never see).
	retry      *time.Timer
	retryEvery time.Duration

	failures atomic.Uint64 // records whose write failed (each counted once)
	lost     atomic.Uint64 // records dropped from memory, never written
	pending  atomic.Int64  // len(held)
}

func openRecords(path string, log zerolog.Logger) (*recordWriter, error) {
	if path == "" {
		return nil, nil
	}
	return newRecordWriter(path, log, openRecordFile)
}

func newRecordWriter(path string, log zerolog.Logger, open func(string) (recordFile, error)) (*recordWriter, error) {
	f, err := open(path)
	if err != nil {
		return nil, fmt.Errorf("records.path: %w", err)
	}
	return &recordWriter{path: path, log: log.With().Str("component", "records").Str("path", path).Logger(),
		open: open, f: f, failLog: sip.Limiter{Every: 10 * time.Second}, openLog: sip.Limiter{Every: 10 * time.Second},
		retryEvery: heldRetryEvery}, nil
}

// write appends r after the records held. A record that cannot be
// written now is held for the next write and logged (rate-limited), not
// returned as an error: the call's end need not say it again.
func (w *recordWriter) write(r Record) error {
	if w == nil {
		return nil
	}
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	before := len(w.held)
	w.held = append(w.held, line)
	written, err := 0, w.follow()
	if err == nil {
		written, err = w.flush()
	}
	if written > 0 && before > 0 {
		w.log.Info().Int("records", min(written, before)).Int("held", len(w.held)).Msg("held call records written")
	}
	if err != nil {
		// Lines are written in order: this one, the last, is still held.
		w.failures.Add(1)
		for len(w.held) > maxHeldRecords {
			w.held = w.held[1:]
			w.lost.Add(1)
		}
		if ok, suppressed := w.failLog.Allow(); ok {
			w.log.Error().Err(err).Int("held", len(w.held)).Uint64("lost", w.lost.Load()).
				Int("suppressed", suppressed).Msg("call record not written: held in memory for the next write")
		}
		w.armRetry()
	}
	w.pending.Store(int64(len(w.held)))
	return nil
}

// heldRetryEvery is how often held records are tried again without a new
// record.
const heldRetryEvery = 5 * time.Second

// armRetry (w.mu held) schedules retryHeld.
func (w *recordWriter) armRetry() {
	if w.retry == nil {
		w.retry = time.AfterFunc(w.retryEvery, w.retryHeld)
		return
	}
	w.retry.Reset(w.retryEvery)
}

// retryHeld writes the held records, if the disk takes them now, and
// tries again later if it does not.
func (w *recordWriter) retryHeld() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || len(w.held) == 0 {
		return
	}
	held := len(w.held)
	written, err := 0, w.follow()
	if err == nil {
		written, err = w.flush()
	}
	if written > 0 {
		w.log.Info().Int("records", written).Int("held", len(w.held)).Msg("held call records written")
	}
	if err != nil || written < held {
		w.armRetry()
	}
	w.pending.Store(int64(len(w.held)))
}

// flush writes the held lines in order, one write call each, then fsyncs
// them; those written are held no more. A line the disk cannot take
// (ENOSPC) is cut off again by truncating the file back to its size before
// it, and ends the flush; a failed fsync cuts off every line of the flush.
// So the file holds whole lines only, as far as truncation works.
func (w *recordWriter) flush() (written int, err error) {
	if len(w.held) == 0 {
		return 0, nil
	}
	st, err := w.f.Stat()
	if err != nil {
		return 0, err
	}
	start, newline := st.Size(), w.newline
	size := start
	for _, line := range w.held {
		if w.newline {
			line = append([]byte{'\n'}, line...)
		}
		n, werr := w.f.Write(line)
		if werr != nil {
			err = w.cut(size, n, werr)
			break
		}
		w.newline = false
		size += int64(n)
		written++
	}
	if written > 0 {
		if serr := w.f.Sync(); serr != nil {
			w.newline = newline
			return 0, w.cut(start, written, serr)
		}
		w.held = w.held[written:]
	}
	return written, err
}

// cut truncates the file back to size after a failed write of n bytes (or
// a failed fsync); if it cannot, the next line begins with a newline.
func (w *recordWriter) cut(size int64, n int, err error) error {
	if n == 0 {
		return err
	}
	if terr := w.f.Truncate(size); terr != nil {
		w.newline = true
		return fmt.Errorf("%w (and cutting off the partial line: %v)", err, terr)
	}
	return err
}

// follow reopens the file at its path when the open one is no longer
// there: moved away (rotated) or removed. Two stat calls per record, cheap
// beside the fsync. When it cannot be reopened (the directory refuses new
// files, is gone, or is no directory any more) it is an error: the records
// are held as on a full disk, not written to a file that a log shipper has
// already read or that no name leads to (r24-ops F1).
func (w *recordWriter) follow() error {
	if w.atPath() {
		return nil
	}
	return w.reopenLocked("the records file was moved or removed")
}

// atPath (w.mu held) is true while the open file is the one at the path.
// A file that cannot be stat'ed is taken to be there: its write will say
// what is wrong.
func (w *recordWriter) atPath() bool {
	open, err := w.f.Stat()
	if err != nil {
		return true
	}
	at, err := os.Stat(w.path)
	return err == nil && os.SameFile(open, at)
}

// reopen closes the records file and opens it again at its path (SIGHUP,
// after a rotation). On failure the open file is kept, and written to
// only while it is still the one at the path.
func (w *recordWriter) reopen(why string) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.reopenLocked(why) // logged
}

func (w *recordWriter) reopenLocked(why string) error {
	if w.closed {
		return nil
	}
	f, err := w.open(w.path)
	if err != nil {
		if ok, suppressed := w.openLog.Allow(); ok {
			msg := "cannot reopen the records file: records are held in memory until it can be, retried every " + w.retryEvery.String()
			if w.atPath() {
				msg = "cannot reopen the records file: records go on to the open one, still at the path"
			}
			w.log.Error().Err(err).Str("why", why).Int("suppressed", suppressed).Msg(msg)
		}
		return fmt.Errorf("reopening the records file: %w", err)
	}
	if err := w.f.Close(); err != nil {
		w.log.Warn().Err(err).Msg("closing the previous records file")
	}
	w.f, w.newline = f, false
	w.log.Info().Str("why", why).Msg("records file reopened")
	return nil
}

// close writes what is held, if it can, and closes the file; records still
// held are lost, and counted.
func (w *recordWriter) close() error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	if w.retry != nil {
		w.retry.Stop()
	}
	if len(w.held) > 0 {
		// Still open to a reopen: held records go to the file at the
		// path, never to one moved away or removed.
		err := w.follow()
		if err == nil {
			_, err = w.flush()
		}
		if err != nil {
			w.lost.Add(uint64(len(w.held)))
			w.log.Error().Err(err).Int("records", len(w.held)).Msg("held call records lost at shutdown")
			w.held = nil
			w.pending.Store(0)
		}
	}
	w.closed = true
	return w.f.Close()
}

// counts are the writer's counters: records whose write failed, records
// lost, records held now (all 0 without a records file).
func (w *recordWriter) counts() (failures, lost uint64, held int64) {
	if w == nil {
		return 0, 0, 0
	}
	return w.failures.Load(), w.lost.Load(), w.pending.Load()
}

// registerRecordMetrics exports the records file's counters.
func (s *Server) registerRecordMetrics() {
	w := s.records
	s.metrics.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "mediationserver_records_write_failures_total",
			Help: "Call records whose write to records.path failed (a full disk, or a records file moved away or removed that cannot be reopened at its path): each is held in memory and written before the next record, up to 1000.",
		}, func() float64 { f, _, _ := w.counts(); return float64(f) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "mediationserver_records_lost_total",
			Help: "Call records never written: dropped from memory (more than 1000 held) or still held at shutdown.",
		}, func() float64 { _, l, _ := w.counts(); return float64(l) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mediationserver_records_held",
			Help: "Call records held in memory because records.path could not be written; written with the next record.",
		}, func() float64 { _, _, h := w.counts(); return float64(h) }),
	)
}
