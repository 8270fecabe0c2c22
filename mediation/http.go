package mediation

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mediation-emulator/mediation/mediation/hybridconfig"
)

// httpHandler serves what clients and monitoring need on http_listen: the
// bypass web service, /metrics, /healthz and /readyz. Settings and calls are
// on the admin listener only: this one is reachable from the clients'
// network.
func (s *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	web := hybridconfig.NewHandler(func() hybridconfig.Settings {
		b := s.Settings()
		return hybridconfig.Settings{Enabled: b.Enabled, BypassID: b.BypassID}
	}, s.internal, s.log.With().Str("component", "hybridconfig").Logger(), hybridconfig.WithOutcome(s.metrics.webServiceOutcome))
	mux.Handle(hybridconfig.Path, web)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	// GET patterns also answer HEAD; other methods get 405 from the mux.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.serveReady)
	// The web service's path in any case, as IIS serves CCE's
	// (/HybridConfig/HybridConfigService.svc): the settings take the URL
	// whatever its case, and clients ask what they were given.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != hybridconfig.Path && strings.EqualFold(r.URL.Path, hybridconfig.Path) {
			web.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func parseSource(src string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(src)
	if err != nil {
		return ap, err
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}
