package mediation

import (
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// adminSameHost guards a token-less admin API (loopback only) against DNS
// rebinding: a web page on a name its attacker re-resolves to 127.0.0.1 is
// same-origin with the API in the browser of anyone on the lab host. Such
// requests carry that name in Host (and Origin), so without a token a Host
// that is not an IP literal or localhost is refused with 421, and so is an
// Origin other than the API's own. With a token, the browser cannot send
// it. Token or not (a proxy that adds the token, as README suggests, adds
// it to any page's requests too), a request another site's page makes the
// browser send (an <img> or <iframe>, which sends no Origin) is told by its
// Sec-Fetch-Site and refused: it would run a CPU profile or hold one of the
// log stream's slots; but for a link followed to the web page (a top-level
// navigation to /ui/, which only shows). Every answer says it is not to be
// framed or sniffed.
func (s *Server) adminSameHost(next http.Handler) http.Handler {
	return adminHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reason := ""
		switch site := r.Header.Get("Sec-Fetch-Site"); {
		case (site == "cross-site" || site == "same-site") && !pageLink(r):
			reason = "a request from another site's page is refused"
		case s.adminToken != "":
		case !ipOrLocalhost(r.Host):
			reason = "Host must be an IP address or localhost without admin.token"
		case r.Header.Get("Origin") != "" && !strings.EqualFold(r.Header.Get("Origin"), "http://"+r.Host):
			reason = "Origin must be the admin API's own (http://" + r.Host + ") without admin.token"
		}
		if reason != "" {
			if ok, n := s.adminAuthLog.Allow(); ok {
				s.log.Warn().Str("remote", r.RemoteAddr).Str("method", r.Method).Str("path", r.URL.Path).
					Str("host", r.Host).Str("origin", r.Header.Get("Origin")).Str("fetch_site", r.Header.Get("Sec-Fetch-Site")).
					Int("suppressed", n).Msg("admin: request for another host or origin refused")
			}
			writeJSON(w, http.StatusMisdirectedRequest, apiError{Error: reason})
			return
		}
		next.ServeHTTP(w, r)
	}))
}

// pageLink reports a top-level navigation to the web page (a link on
// another site followed by the operator): a GET of /ui/ as a document,
// which changes nothing and is never framed.
func pageLink(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/ui/") &&
		r.Header.Get("Sec-Fetch-Mode") == "navigate" && r.Header.Get("Sec-Fetch-Dest") == "document"
}

// adminHeaders marks every admin answer as one no other page may frame
// (clickjacking the web page) and no browser may sniff as another type.
func adminHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}

// ipOrLocalhost reports whether a Host header is an IP literal or
// localhost, with or without a port: no name a DNS answer can re-point.
func ipOrLocalhost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	_, err := netip.ParseAddr(host)
	return err == nil
}

// jsonBody refuses a PUT or PATCH whose Content-Type is not
// application/json with 415: a browser sends text/plain across origins
// without asking first, never application/json.
func jsonBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut || r.Method == http.MethodPatch {
			if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
				writeJSON(w, http.StatusUnsupportedMediaType, apiError{Error: "Content-Type must be application/json"})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
