package mediation

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"time"
)

// hangUpWait bounds how long DELETE /calls/{id} waits for the call to end.
const hangUpWait = 5 * time.Second

// hangUpQueryWait bounds how long DELETE /calls/{id} waits for the call's
// goroutine to read the call's state before it hangs the call up.
const hangUpQueryWait = time.Second

// adminHandler serves the administrators' API on admin.listen: the
// settings (Get-/Set-CsNetworkConfiguration, Get-/Set-CsTenantHybridConfiguration),
// the calls in progress, the trunks, the live log and the Go profiles. Every
// request is authenticated (when a token is set) and logged with its remote
// address. The live log's streams end when stop is closed.
func (s *Server) adminHandler(stop <-chan struct{}) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /settings", func(w http.ResponseWriter, r *http.Request) {
		b := s.Settings()
		w.Header().Set("ETag", b.ETag())
		writeJSON(w, http.StatusOK, b.View())
	})
	mux.HandleFunc("PUT /settings", func(w http.ResponseWriter, r *http.Request) { s.changeSettings(w, r, true) })
	mux.HandleFunc("PATCH /settings", func(w http.ResponseWriter, r *http.Request) { s.changeSettings(w, r, false) })
	mux.HandleFunc("GET /calls", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Calls())
	})
	mux.HandleFunc("DELETE /calls/{id}", s.hangUpCall)
	mux.Handle("/ui/", s.UI())
	mux.Handle("GET /log/stream", s.logStreamHandler(stop))
	mux.HandleFunc("GET /gateways", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.TrunkStates())
	})
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return s.adminSameHost(s.adminAuth(s.adminLog(jsonBody(mux))))
}

// apiError is the JSON body of every admin API error; Field names the
// setting at fault for a 400.
type apiError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// maxSettingsBody bounds a PUT or PATCH body: settings are a few hundred
// bytes.
const maxSettingsBody = 1 << 16

// errPrecondition is a change whose If-Match names settings no longer in
// force.
var errPrecondition = errors.New("the settings changed since they were read (If-Match names other settings): read them again")

func (s *Server) changeSettings(w http.ResponseWriter, r *http.Request, put bool) {
	ifMatch, conditional := r.Header["If-Match"]
	change, err := decodeSettingsChange(http.MaxBytesReader(w, r.Body, maxSettingsBody))
	if err == nil {
		err = s.UpdateSettings(func(old BypassSettings) (BypassSettings, error) {
			// Checked under the settings' lock: no other change comes
			// between the test and the write (r24-ops F5).
			if conditional && !etagMatches(ifMatch, old.ETag()) {
				return old, errPrecondition
			}
			return change.apply(old, put)
		})
	}
	var se *SettingsError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeJSON(w, http.StatusRequestEntityTooLarge, apiError{Error: fmt.Sprintf("body: larger than %d bytes", maxSettingsBody), Field: "body"})
		return
	case errors.Is(err, errPrecondition):
		w.Header().Set("ETag", s.Settings().ETag())
		writeJSON(w, http.StatusPreconditionFailed, apiError{Error: err.Error()})
		return
	case errors.As(err, &se):
		writeJSON(w, http.StatusBadRequest, apiError{Error: se.Error(), Field: se.Field})
		return
	case err != nil:
		s.log.Error().Err(err).Msg("admin: settings not changed")
		writeJSON(w, http.StatusInternalServerError, apiError{Error: err.Error()})
		return
	}
	s.log.Info().Str("remote", r.RemoteAddr).Str("method", r.Method).Msg("admin: settings changed")
	b := s.Settings()
	w.Header().Set("ETag", b.ETag())
	writeJSON(w, http.StatusOK, b.View())
}

// hangUpCall ends the call named by its call ID or either leg's SIP Call-ID:
// BYE on both legs of an answered call, CANCEL and 503 for a ringing one.
// 200 with the call's last record once it has ended, 202 if it is still
// ending after hangUpWait, 404 if there is no such call, 503 (not hung up)
// if the call's state could not be read within hangUpQueryWait.
func (s *Server) hangUpCall(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c := s.findCall(id)
	if c == nil {
		writeJSON(w, http.StatusNotFound, apiError{Error: "no call in progress with id " + id})
		return
	}
	// What the query reads is its own: a query that timed out still runs
	// later on the call's goroutine, and must then write nothing this
	// handler reads.
	type state struct {
		rec      Record
		released bool
	}
	st := &state{}
	if !c.query(func() {
		st.rec = c.record("in progress")
		// A transferor's released leg is no leg of the call any more: its
		// Call-ID does not name the PSTN party's call with the target.
		st.released = c.releasedLeg(id) != nil
	}, hangUpQueryWait) {
		select {
		case <-c.done.wait():
			// The call ended before the query ran: nothing left to
			// hang up.
			writeJSON(w, http.StatusOK, c.final) // written before done was closed
		default:
			// The call's goroutine is busy (a transfer waiting for its
			// replaced call): whether id still names one of its legs
			// is unknown, so it is not hung up.
			s.log.Warn().Str("remote", r.RemoteAddr).Str("call", c.id).Msg("admin: call busy, not hung up")
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusServiceUnavailable, apiError{Error: "call " + id + " is busy: its state could not be read within " +
				hangUpQueryWait.String() + "; not hung up, try again"})
		}
		return
	}
	rec, released := st.rec, st.released
	if released {
		writeJSON(w, http.StatusNotFound, apiError{Error: "no call in progress with id " + id + " (the leg left the call in a transfer)"})
		return
	}
	s.log.Info().Str("remote", r.RemoteAddr).Str("call", c.id).Msg("admin: hanging up call")
	// The call ends itself on its own goroutine, as for a shutdown, with
	// its own end reason.
	c.push(evShutdown{why: "hung up by admin"})
	select {
	case <-c.done.wait():
		writeJSON(w, http.StatusOK, c.final) // written before done was closed
	case <-time.After(hangUpWait):
		writeJSON(w, http.StatusAccepted, rec)
	case <-r.Context().Done():
	}
}

// findCall is the call in progress with this call ID or SIP Call-ID.
func (s *Server) findCall(id string) *call {
	if c := s.calls.byCallID(id); c != nil {
		return c
	}
	for _, c := range s.calls.all() {
		if c.id == id {
			return c
		}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
