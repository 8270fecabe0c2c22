package logstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/rs/zerolog"
)

// Messages of the lines the stream adds to the log's own.
const (
	// MsgStarted is the first line of every stream.
	MsgStarted = "log stream started"
	// MsgDropped reports events this subscriber lost (field
	// "dropped_events") because it read too slowly.
	MsgDropped = "log stream: events dropped"
	// MsgHeartbeat is sent when the log has been quiet for a heartbeat.
	MsgHeartbeat = "log stream heartbeat"
)

// maxFilterIDs bounds the ids a ?call= filter learns (a call's own id and
// its legs' Call-IDs, a few forks).
const maxFilterIDs = 16

// Handler serves the stream as newline-delimited JSON, one log event per
// line, flushed per event, until the client goes or done is closed. With
// ?call=ID only the events of that call (its own id, or either leg's
// Call-ID) are sent. Authentication is the caller's (the admin API's).
func (h *Hub) Handler(done <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sub, err := h.Subscribe()
		if errors.Is(err, ErrTooManySubscribers) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(map[string]string{
				"error": "too many log stream subscribers (at most " + strconv.Itoa(h.opt.MaxSubscribers) + ")"})
			return
		}
		defer sub.Close()
		f := newCallFilter(r.URL.Query().Get("call"))
		rc := http.NewResponseController(w)
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		send := func(line []byte) bool {
			_ = rc.SetWriteDeadline(time.Now().Add(h.opt.WriteTimeout))
			if _, err := w.Write(line); err != nil {
				return false
			}
			return rc.Flush() == nil
		}
		if !send(notice(zerolog.InfoLevel, MsgStarted, func(e *zerolog.Event) {
			e.Int("buffer_events", h.opt.Buffer).Str("level_min", Level.String())
		})) {
			return
		}
		beat := time.NewTicker(h.opt.Heartbeat)
		defer beat.Stop()
		idle := true
		for {
			var ok bool
			select {
			case <-r.Context().Done():
				return
			case <-done:
				return
			case it := <-sub.ch:
				idle = false
				ok = true
				if it.dropped > 0 {
					ok = send(dropped(it.dropped))
				}
				if ok && f.match(it.line) {
					ok = send(it.line)
				}
			case <-beat.C:
				ok = true
				if n := sub.takeDropped(); n > 0 {
					ok = send(dropped(n))
				} else if idle {
					ok = send(notice(zerolog.DebugLevel, MsgHeartbeat, nil))
				}
				idle = true
			}
			if !ok {
				return
			}
		}
	})
}

func dropped(n int) []byte {
	return notice(zerolog.WarnLevel, MsgDropped, func(e *zerolog.Event) { e.Int("dropped_events", n) })
}

// notice is one line the stream itself adds, formatted as the log's own.
func notice(level zerolog.Level, msg string, fields func(*zerolog.Event)) []byte {
	var buf bytes.Buffer
	log := zerolog.New(&buf).With().Timestamp().Str("component", "logstream").Logger()
	e := log.WithLevel(level)
	if fields != nil {
		fields(e)
	}
	e.Msg(msg)
	return buf.Bytes()
}

// callFilter passes the events of one call: those whose "call" or
// "sip_call_id" is an id it knows. It learns the other ids of the events it
// passes, so a leg's Call-ID selects the whole call from then on.
type callFilter struct{ ids map[string]bool }

func newCallFilter(id string) *callFilter {
	if id == "" {
		return nil
	}
	return &callFilter{ids: map[string]bool{id: true}}
}

func (f *callFilter) match(line []byte) bool {
	if f == nil {
		return true
	}
	var ev struct {
		Call      string `json:"call"`
		SIPCallID string `json:"sip_call_id"`
	}
	if json.Unmarshal(line, &ev) != nil {
		return false
	}
	if !(ev.Call != "" && f.ids[ev.Call]) && !(ev.SIPCallID != "" && f.ids[ev.SIPCallID]) {
		return false
	}
	for _, id := range []string{ev.Call, ev.SIPCallID} {
		if id != "" && len(f.ids) < maxFilterIDs {
			f.ids[id] = true
		}
	}
	return true
}
