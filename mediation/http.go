package mediation

import (
	"encoding/json"
	"net"
	"net/http"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mediation-emulator/mediation/mediation/hybridconfig"
)

// SettingsPath serves the MediaBypassSettings as JSON: GET reads them, PUT
// replaces them (from internal subnets only), as Get-/Set-CsNetworkConfiguration.
const SettingsPath = "/mediabypasssettings"

// httpHandler serves the bypass web service, /metrics, /healthz and the
// settings.
func (s *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(hybridconfig.Path, hybridconfig.NewHandler(func() hybridconfig.Settings {
		b := s.Settings()
		return hybridconfig.Settings{Enabled: b.Enabled, BypassID: b.BypassID}
	}, s.internal, s.log.With().Str("component", "hybridconfig").Logger()))
	mux.Handle("/metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc(SettingsPath, s.serveSettings)
	mux.Handle("/ui/", s.UI())
	mux.HandleFunc("GET /calls", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.Calls())
	})
	return mux
}

func (s *Server) serveSettings(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPut:
		if !s.isInternal(r.RemoteAddr) {
			http.Error(w, "settings can only be changed from an internal subnet", http.StatusForbidden)
			return
		}
		var b BypassSettings
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&b); err != nil {
			http.Error(w, "bad settings: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := s.SetSettings(b); err != nil {
			http.Error(w, "bad settings: "+err.Error(), http.StatusBadRequest)
			return
		}
	default:
		w.Header().Set("Allow", "GET, PUT")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(s.Settings())
}

func (s *Server) isInternal(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range s.internal {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func parseSource(src string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(src)
	if err != nil {
		return ap, err
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}
