// Package webui is the mediation server's web page: the calls in progress,
// the counters at a glance, and for any call in progress or recent, its
// ladder of both legs drawn as SVG with each message's full text on click
// and the bypass decision above it. Server-rendered HTML with a little
// JavaScript, all embedded in the binary: no build step, no CDN.
package webui

import (
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mediation-emulator/mediation/mediation/ladder"
)

// Live is a call in progress as the page lists it.
type Live struct {
	ID, Direction, From, To, Gateway string
	// Decided tells whether Bypass and Reason are known yet.
	Decided bool
	Bypass  bool
	Reason  string
	// Codecs and, for an anchored call, each leg's loss (percent) and
	// jitter (ms) of the media it receives.
	EdgeCodec, GatewayCodec     string
	EdgeLossPct, GatewayLossPct float64
	EdgeJitterMS, GatewayJitter float64
	Start                       time.Time
}

// Counter is one figure of the counters at a glance.
type Counter struct {
	Name  string
	Value float64
}

// Trunk is one gateway trunk: Up is its OPTIONS health; Resting, that
// it takes no calls for now, after a 503 with Retry-After.
type Trunk struct {
	Name, Address, Transport string
	Up, Resting              bool
}

// Source is what the page shows.
type Source interface {
	// Live are the calls in progress.
	Live() []Live
	// Calls are the ladders of the calls in progress and the last ended,
	// newest first.
	Calls() []ladder.Call
	// Counters are the LS:MediationServer counters and the like.
	Counters() []Counter
	// Trunks are the gateway trunks with their health.
	Trunks() []Trunk
}

//go:embed templates
var files embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"age":    func(t time.Time) string { return time.Since(t).Truncate(time.Second).String() },
	"clock":  func(t time.Time) string { return t.UTC().Format("15:04:05.000000") },
	"stamp":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
	"why":    reasonText,
	"pct":    func(v float64) string { return fmt.Sprintf("%.1f%%", v) },
	"num":    func(v float64) string { return fmt.Sprintf("%g", v) },
	"ladder": drawLadder,
}).ParseFS(files, "templates/*.html"))

// New is the page's handler, to mount at /ui/.
func New(src Source) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ui/{$}", func(w http.ResponseWriter, r *http.Request) {
		// The page reloads itself every refresh seconds (?refresh=N, 0: never).
		refresh := 5
		if v, err := strconv.Atoi(r.URL.Query().Get("refresh")); err == nil && v >= 0 {
			refresh = v
		}
		render(w, "index.html", map[string]any{"Live": src.Live(), "Calls": src.Calls(), "Counters": src.Counters(), "Trunks": src.Trunks(), "Refresh": refresh})
	})
	mux.HandleFunc("GET /ui/call/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		for _, c := range src.Calls() {
			if c.ID == id || slices.Contains(c.CallIDs, id) {
				render(w, "call.html", map[string]any{"Call": c})
				return
			}
		}
		http.Error(w, "no such call (it may be older than the last ones kept)", http.StatusNotFound)
	})
	return mux
}

func render(w http.ResponseWriter, name string, data any) {
	var b strings.Builder
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(b.String()))
}

// reasonText explains a bypass decision's reason code.
func reasonText(code string) string {
	switch code {
	case "id_matched":
		return "the client's a=x-bypassid matches the server's"
	case "no_id":
		return "the client sent no a=x-bypassid"
	case "id_mismatch":
		return "the client's a=x-bypassid is another deployment's"
	case "bypass_disabled":
		return "media bypass is disabled"
	case "trunk_bypass_off":
		return "the gateway trunk has enable_bypass off"
	case "srtp_mismatch":
		return "the ends cannot agree on SRTP"
	case "no_g711":
		return "the client has no G.711 for the gateway"
	case "delayed_offer":
		return "the gateway's INVITE had no SDP"
	case "transferred":
		return "the mediation server transferred the call itself"
	}
	return ""
}
