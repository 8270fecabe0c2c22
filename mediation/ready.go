package mediation

import (
	"net/http"
	"strings"
)

// serveReady is /readyz: 200 when the server can take calls (every listener
// bound, not draining, at least one trunk up), else 503 with the reason,
// one per line. /healthz says only that the process is up.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	var problems []string
	select {
	case <-s.ready:
	default:
		problems = append(problems, "listeners not bound yet")
	}
	if s.draining.Load() {
		problems = append(problems, "draining: shutting down")
	}
	up := 0
	var down []string
	for _, t := range s.TrunkStates() {
		if t.Up {
			up++
		} else {
			down = append(down, t.Name)
		}
	}
	if up == 0 {
		problems = append(problems, "no trunk up (down: "+strings.Join(down, ", ")+")")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if len(problems) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(strings.Join(problems, "\n") + "\n"))
		return
	}
	w.Write([]byte("ready\n"))
}
