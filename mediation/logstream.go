package mediation

import (
	"net/http"

	"github.com/mediation-emulator/mediation/mediation/logstream"
)

// SetLogStream makes the admin API serve h's live log on GET /log/stream.
// The server's logger must write to h (h.Logger builds one); call it before
// Run.
func (s *Server) SetLogStream(h *logstream.Hub) { s.logStream = h }

// logStreamHandler is GET /log/stream: the live log as NDJSON, or 404 when
// this server has none (a server built without SetLogStream).
func (s *Server) logStreamHandler(stop <-chan struct{}) http.Handler {
	if s.logStream == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusNotFound, apiError{Error: "this server has no live log stream"})
		})
	}
	return s.logStream.Handler(stop)
}
