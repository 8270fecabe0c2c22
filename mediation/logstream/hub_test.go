package logstream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestLoggerGate: below the console's level, events are built only while
// someone subscribes, and go to the stream, not the console.
func TestLoggerGate(t *testing.T) {
	h := New(Options{Buffer: 8})
	var console bytes.Buffer
	log := h.Logger(&console, zerolog.InfoLevel)
	if log.Debug().Enabled() {
		t.Fatal("debug enabled with no subscriber")
	}
	log.Info().Msg("one")
	sub, err := h.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if !log.Debug().Enabled() || log.Trace().Enabled() {
		t.Fatal("with a subscriber, want debug and not trace")
	}
	log.Debug().Str("call", "c1").Msg("sip INVITE")
	log.Info().Msg("two")
	if got := console.String(); strings.Contains(got, "sip INVITE") || !strings.Contains(got, `"one"`) || !strings.Contains(got, `"two"`) {
		t.Fatalf("console got %q; want the info events only", got)
	}
	var got []string
	for len(sub.ch) > 0 {
		got = append(got, string((<-sub.ch).line))
	}
	if len(got) != 2 || !strings.Contains(got[0], `"sip INVITE"`) || !strings.Contains(got[0], `"time":`) || !strings.Contains(got[1], `"two"`) {
		t.Fatalf("stream got %q; want the debug and the second info event", got)
	}
	sub.Close()
	if log.Debug().Enabled() {
		t.Fatal("debug still enabled after the last subscriber left")
	}
}

func TestSubscriberLimit(t *testing.T) {
	h := New(Options{MaxSubscribers: 2})
	a, _ := h.Subscribe()
	b, _ := h.Subscribe()
	if _, err := h.Subscribe(); err != ErrTooManySubscribers {
		t.Fatalf("third subscriber: %v", err)
	}
	res, err := http.Get(serve(t, h))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d %v", res.StatusCode, res.Header)
	}
	a.Close()
	a.Close()
	if c, err := h.Subscribe(); err != nil {
		t.Fatalf("after one left: %v", err)
	} else {
		c.Close()
	}
	b.Close()
	if h.Subscribers() != 0 {
		t.Fatalf("%d subscribers left", h.Subscribers())
	}
}

// serve runs the hub's handler until the test ends.
func serve(t *testing.T, h *Hub) string {
	done := make(chan struct{})
	srv := httptest.NewServer(h.Handler(done))
	t.Cleanup(func() {
		close(done)
		srv.Close()
	})
	return srv.URL
}

// stream connects to the hub's handler and returns its lines.
func stream(t *testing.T, ctx context.Context, url string) *bufio.Scanner {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("status %d, content type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	if !sc.Scan() || !strings.Contains(sc.Text(), MsgStarted) {
		t.Fatalf("first line %q, want %q", sc.Text(), MsgStarted)
	}
	return sc
}

type line struct {
	Message string `json:"message"`
	Seq     int    `json:"seq"`
	Dropped int    `json:"dropped_events"`
}

// stalledWriter is a client connection that takes nothing until released.
type stalledWriter struct {
	header  http.Header
	release chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
}

func (w *stalledWriter) Header() http.Header { return w.header }
func (w *stalledWriter) WriteHeader(int)     {}
func (w *stalledWriter) Flush()              {}
func (w *stalledWriter) Write(p []byte) (int, error) {
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *stalledWriter) lines(t *testing.T) []line {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []line
	if w.buf.Len() == 0 {
		return nil
	}
	for _, l := range bytes.Split(bytes.TrimSpace(w.buf.Bytes()), []byte("\n")) {
		var v line
		if err := json.Unmarshal(l, &v); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		out = append(out, v)
	}
	return out
}

// TestSlowSubscriberLosesEventsAndIsTold: a subscriber whose connection
// takes nothing never holds up the goroutine that logs; it gets the events
// its buffer held, then how many it lost, then the events after.
func TestSlowSubscriberLosesEventsAndIsTold(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := New(Options{Buffer: 16, Heartbeat: 20 * time.Millisecond})
	w := &stalledWriter{header: http.Header{}, release: make(chan struct{})}
	reqCtx, endReq := context.WithCancel(ctx)
	served := make(chan struct{})
	go func() {
		defer close(served)
		h.Handler(nil).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil).WithContext(reqCtx))
	}()
	for h.Subscribers() == 0 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	log := h.Logger(&bytes.Buffer{}, zerolog.WarnLevel)
	for i := range 100 { // returns at once although nothing is read
		log.Debug().Int("seq", i).Msg("event")
	}
	close(w.release)
	// The loss is reported once the 16 buffered events are out (at the
	// next heartbeat, or with the next event).
	for ctx.Err() == nil {
		if l := w.lines(t); len(l) == 18 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	log.Debug().Int("seq", 100).Msg("event")
	for ctx.Err() == nil && len(w.lines(t)) < 19 {
		time.Sleep(5 * time.Millisecond)
	}
	endReq()
	<-served
	got := w.lines(t)
	if len(got) != 19 || got[0].Message != MsgStarted || got[17].Message != MsgDropped || got[17].Dropped != 84 || got[18].Seq != 100 {
		t.Fatalf("got %+v; want started, events 0-15, 84 dropped, event 100", got)
	}
	for i := range 16 {
		if got[1+i].Message != "event" || got[1+i].Seq != i {
			t.Fatalf("line %d: %+v, want event %d", 1+i, got[1+i], i)
		}
	}
}

func TestCallFilter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := New(Options{})
	sc := stream(t, ctx, serve(t, h)+"?call=leg-a")
	log := h.Logger(&bytes.Buffer{}, zerolog.InfoLevel)
	log.Debug().Str("call", "other").Str("sip_call_id", "leg-x").Msg("sip INVITE")
	log.Debug().Str("call", "c1").Str("sip_call_id", "leg-a").Msg("sip INVITE")
	log.Debug().Str("call", "c1").Str("sip_call_id", "leg-b").Msg("sip INVITE")
	log.Info().Str("call", "other").Msg("call ended")
	log.Info().Str("call", "c1").Msg("call ended")
	log.Info().Msg("not a call")
	var got []string
	for len(got) < 3 && sc.Scan() {
		var l struct{ Message, Call, Sip_call_id string }
		_ = json.Unmarshal(sc.Bytes(), &l)
		got = append(got, fmt.Sprintf("%s/%s/%s", l.Call, l.Sip_call_id, l.Message))
	}
	want := []string{"c1/leg-a/sip INVITE", "c1/leg-b/sip INVITE", "c1//call ended"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestStreamEndsWhenDone: closing done ends every stream.
func TestStreamEndsWhenDone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := New(Options{})
	done := make(chan struct{})
	srv := httptest.NewServer(h.Handler(done))
	defer srv.Close()
	sc := stream(t, ctx, srv.URL)
	close(done)
	for sc.Scan() {
	}
	if ctx.Err() != nil {
		t.Fatal("stream did not end")
	}
	for h.Subscribers() != 0 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
}

// TestStreamOutlivesReadTimeout: a stream lasts beyond the server's
// ReadTimeout (30 s on the admin listener; net/http clears the read
// deadline once the request is read) and its WriteTimeout is replaced per
// write.
func TestStreamOutlivesReadTimeout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := New(Options{Heartbeat: 20 * time.Millisecond})
	done := make(chan struct{})
	srv := httptest.NewUnstartedServer(h.Handler(done))
	srv.Config.ReadTimeout = 100 * time.Millisecond
	srv.Config.WriteTimeout = 100 * time.Millisecond
	srv.Start()
	defer srv.Close()
	defer close(done)
	sc := stream(t, ctx, srv.URL)
	start := time.Now()
	for time.Since(start) < 10*srv.Config.ReadTimeout {
		if !sc.Scan() {
			t.Fatalf("stream ended after %s: %v", time.Since(start), sc.Err())
		}
	}
}
