// Package logstream fans the daemon's JSON log out to live subscribers:
// the admin API's GET /log/stream, which `mediation trace --follow` reads.
//
// The hub is a zerolog writer beside the console. Every subscriber has a
// bounded buffer: the goroutine that logs never waits for a subscriber; an
// event that does not fit is dropped for that subscriber alone and counted,
// and the subscriber is told how many it lost. The stream carries every
// event at Level (debug: the SIP trace the ladders are drawn from) and
// above, whatever log.level the console has; while nobody subscribes,
// debug events below log.level are not even built (Logger's gate).
package logstream

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Level is the lowest level the stream carries: the SIP trace is logged
// at debug.
const Level = zerolog.DebugLevel

// Defaults of Options.
const (
	// DefaultBuffer is ample for a burst of calls' SIP messages while the
	// subscriber's connection catches up.
	DefaultBuffer         = 4096
	DefaultMaxSubscribers = 8
	DefaultHeartbeat      = 15 * time.Second
	// DefaultWriteTimeout ends a subscriber whose connection takes no
	// data for this long.
	DefaultWriteTimeout = 30 * time.Second
)

// ErrTooManySubscribers refuses a subscriber beyond MaxSubscribers.
var ErrTooManySubscribers = errors.New("logstream: too many subscribers")

// Options size a Hub; zero fields take the defaults.
type Options struct {
	// Buffer is the events held for one subscriber.
	Buffer int
	// MaxSubscribers bounds the subscribers at a time.
	MaxSubscribers int
	// Heartbeat is how often an idle stream sends a line, so that both
	// ends notice a dead connection, and reports drops.
	Heartbeat time.Duration
	// WriteTimeout bounds one write to a subscriber's connection.
	WriteTimeout time.Duration
}

// Hub is the fan-out. It is a zerolog.LevelWriter; its zero value is not
// usable, New makes one.
type Hub struct {
	opt Options
	// active mirrors len(subs) for the writer's and the gate's fast path.
	active atomic.Int32

	mu   sync.Mutex
	subs map[*Subscription]struct{}
}

// New makes a hub with no subscribers.
func New(opt Options) *Hub {
	if opt.Buffer <= 0 {
		opt.Buffer = DefaultBuffer
	}
	if opt.MaxSubscribers <= 0 {
		opt.MaxSubscribers = DefaultMaxSubscribers
	}
	if opt.Heartbeat <= 0 {
		opt.Heartbeat = DefaultHeartbeat
	}
	if opt.WriteTimeout <= 0 {
		opt.WriteTimeout = DefaultWriteTimeout
	}
	return &Hub{opt: opt, subs: map[*Subscription]struct{}{}}
}

// item is one event for a subscriber and the events it lost before it.
type item struct {
	line    []byte
	dropped int
}

// Subscription receives the events logged after Subscribe until Close.
type Subscription struct {
	h  *Hub
	ch chan item
	// pending counts the events dropped since the last one delivered;
	// guarded by h.mu.
	pending int
	once    sync.Once
}

// Subscribe adds a subscriber, or fails with ErrTooManySubscribers.
func (h *Hub) Subscribe() (*Subscription, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs) >= h.opt.MaxSubscribers {
		return nil, ErrTooManySubscribers
	}
	s := &Subscription{h: h, ch: make(chan item, h.opt.Buffer)}
	h.subs[s] = struct{}{}
	h.active.Store(int32(len(h.subs)))
	return s, nil
}

// Close removes the subscriber; it is idempotent.
func (s *Subscription) Close() {
	s.once.Do(func() {
		s.h.mu.Lock()
		delete(s.h.subs, s)
		s.h.active.Store(int32(len(s.h.subs)))
		s.h.mu.Unlock()
	})
}

// takeDropped returns and clears the count of events dropped after the
// last one delivered, once every delivered event has been taken (so the
// report comes after the events that preceded the loss).
func (s *Subscription) takeDropped() int {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	if len(s.ch) > 0 {
		return 0
	}
	n := s.pending
	s.pending = 0
	return n
}

// Subscribers is the number of subscribers now.
func (h *Hub) Subscribers() int { return int(h.active.Load()) }

// WriteLevel implements zerolog.LevelWriter: the event goes to every
// subscriber with room for it, and is counted as lost for the others. It
// never blocks on a subscriber.
func (h *Hub) WriteLevel(level zerolog.Level, p []byte) (int, error) {
	if level < Level || h.active.Load() == 0 {
		return len(p), nil
	}
	line := bytes.Clone(p) // zerolog reuses p; subscribers share the copy
	h.mu.Lock()
	for s := range h.subs {
		select {
		case s.ch <- item{line: line, dropped: s.pending}:
			s.pending = 0
		default:
			s.pending++
		}
	}
	h.mu.Unlock()
	return len(p), nil
}

// Write implements io.Writer for events without a level.
func (h *Hub) Write(p []byte) (int, error) { return h.WriteLevel(zerolog.NoLevel, p) }

// Logger is a logger writing events at level and above to console and
// every event at Level and above to the hub's subscribers. Events below
// level are built only while someone subscribes: the console's level stays
// the cost of logging when nobody follows.
func (h *Hub) Logger(console io.Writer, level zerolog.Level) zerolog.Logger {
	w := zerolog.MultiLevelWriter(
		&zerolog.FilteredLevelWriter{Writer: zerolog.LevelWriterAdapter{Writer: console}, Level: level}, h)
	return zerolog.New(w).Level(min(level, Level)).Sample(gate{h: h, level: level}).With().Timestamp().Logger()
}

// gate is Logger's sampler: an event below the console's level passes only
// while the stream has a subscriber.
type gate struct {
	h     *Hub
	level zerolog.Level
}

func (g gate) Sample(lvl zerolog.Level) bool {
	return lvl >= g.level || g.h.active.Load() > 0
}
