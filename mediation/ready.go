package mediation

import (
	"net/http"
	"strings"
	"time"
)

// serveReady is /readyz: 200 when the server can take calls (every listener
// bound, not draining, at least one trunk taking calls), else 503 with the reason,
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
	// A trunk resting after a 503 with Retry-After is overloaded, not
	// dead: named apart, so that an operator looks for the right trouble
	// (r24-ops F2).
	takes := 0
	var down, resting []string
	for _, t := range s.TrunkStates() {
		switch {
		case t.TakesCalls:
			takes++
		case t.Up && t.UnavailableUntil != nil:
			resting = append(resting, t.Name+" until "+t.UnavailableUntil.UTC().Format(time.RFC3339))
		default:
			down = append(down, t.Name)
		}
	}
	switch {
	case takes > 0:
	case len(resting) == 0:
		problems = append(problems, "no trunk up (down: "+strings.Join(down, ", ")+")")
	default:
		p := "no trunk takes calls (resting after a 503 with Retry-After: " + strings.Join(resting, ", ")
		if len(down) > 0 {
			p += "; down: " + strings.Join(down, ", ")
		}
		problems = append(problems, p+")")
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

// trunkTakesCalls reports whether a trunk takes calls now (up, resolved,
// not resting): what /readyz and the edge's OPTIONS answer (handlers.go)
// require.
func (s *Server) trunkTakesCalls() bool {
	for _, t := range s.TrunkStates() {
		if t.TakesCalls {
			return true
		}
	}
	return false
}
