package mediation

import (
	"crypto/subtle"
	"net/http"
	"strings"
	"time"
)

// adminAuth requires "Authorization: Bearer <admin token>" when a token is
// configured (always, when admin.listen is not loopback: Validate sees to
// it). The comparison takes the same time whatever the token's prefix, so
// timing does not leak it.
func (s *Server) adminAuth(next http.Handler) http.Handler {
	if s.adminToken == "" {
		return next
	}
	want := []byte(s.adminToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := bearerToken(r.Header.Get("Authorization"))
		if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), want) != 1 {
			if ok, n := s.adminAuthLog.Allow(); ok {
				s.log.Warn().Str("remote", r.RemoteAddr).Str("method", r.Method).Str("path", r.URL.Path).
					Int("suppressed", n).Msg("admin: request without a valid bearer token refused")
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="mediation admin"`)
			writeJSON(w, http.StatusUnauthorized, apiError{Error: "a valid Authorization: Bearer token is required"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bearerToken is the token of an "Authorization: Bearer <token>" value.
// The scheme is matched case-insensitively (RFC 7235 §2.1: "bearer" and
// "BEARER" are the same scheme) and may be followed by more than one space.
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// adminLog logs every authenticated admin request with its remote address,
// status and duration.
func (s *Server) adminLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		s.log.Info().Str("component", "admin").Str("remote", r.RemoteAddr).Str("method", r.Method).
			Str("path", r.URL.Path).Int("status", sw.status).
			Float64("duration_ms", float64(time.Since(start).Microseconds())/1000).Msg("admin request")
	})
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController reach the connection (pprof sets
// per-request deadlines through it).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
