package hybridconfig

import (
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/sip"
)

// Path is where the CCE Mediation Server serves the web service; the
// HybridConfigServiceInternalUrl ends with it.
const Path = "/hybridconfig/hybridconfigservice.svc"

// Settings is what the handler needs of the MediaBypassSettings, read per
// request (settings can change at run time).
type Settings struct {
	Enabled  bool
	BypassID string
}

// forbiddenText is the 403 body for clients outside the internal subnets.
const forbiddenText = "external clients cannot use media bypass"

// Outcomes of a request, for Option WithOutcome: what an operator counts
// to see whether clients are being granted bypass.
const (
	OutcomeGranted      = "granted"       // 200 with the bypass ID: a supported internal client
	OutcomeNotSupported = "not_supported" // 200 without bypass: an old or unknown client build
	OutcomeDisabled     = "disabled"      // 200 without bypass: bypass disabled or no bypass ID
	OutcomeExternal     = "external"      // 403: the client is not on an internal subnet
	OutcomeBadMethod    = "bad_method"    // 405
)

// Option configures the handler.
type Option func(*handler)

// WithOutcome has observe called with the outcome of every request.
func WithOutcome(observe func(outcome string)) Option {
	return func(h *handler) { h.observe = observe }
}

type handler struct {
	settings func() Settings
	internal []netip.Prefix
	log      zerolog.Logger
	observe  func(outcome string)
	// refusals limits the log lines of refused requests (405, 403) to
	// one a second: any host may send them as fast as it likes. They are
	// all counted (observe).
	refusals sip.Limiter
}

// NewHandler returns the web service. settings is called once per request so
// that a change (e.g. bypass disabled) applies to the next fetch; a nil
// settings func means bypass is disabled. Only clients whose connection comes
// from one of internal may fetch the document.
func NewHandler(settings func() Settings, internal []netip.Prefix, log zerolog.Logger, opts ...Option) http.Handler {
	if settings == nil {
		settings = func() Settings { return Settings{} }
	}
	h := &handler{
		settings: settings,
		internal: append([]netip.Prefix(nil), internal...),
		log:      log,
		observe:  func(string) {},
		refusals: sip.Limiter{Every: time.Second},
	}
	for _, o := range opts {
		o(h)
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	ua := r.UserAgent()
	version, known := ClientVersion(ua)
	event := func(level zerolog.Level, status int) *zerolog.Event {
		ev := h.log.WithLevel(level).Str("remote", r.RemoteAddr).Str("user_agent", ua).
			Str("method", r.Method).Int("status", status)
		if known {
			ev = ev.Stringer("version", version)
		}
		return ev
	}

	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		if ok, n := h.refusals.Allow(); ok {
			event(zerolog.InfoLevel, http.StatusMethodNotAllowed).Bool("granted", false).Int("suppressed", n).Msg("hybrid config: method not allowed")
		}
		h.observe(OutcomeBadMethod)
		return
	}
	if !h.isInternal(r.RemoteAddr) {
		http.Error(w, forbiddenText, http.StatusForbidden)
		// An external client is refused by design (CCE grants bypass to
		// internal clients only), so it is news, not a warning.
		if ok, n := h.refusals.Allow(); ok {
			event(zerolog.InfoLevel, http.StatusForbidden).Bool("granted", false).Int("suppressed", n).Msg("hybrid config: external client refused")
		}
		h.observe(OutcomeExternal)
		return
	}

	doc, reason, outcome := decide(h.settings(), version, known)
	body, err := doc.marshal()
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		h.log.Error().Err(err).Str("remote", r.RemoteAddr).Msg("hybrid config: cannot build response")
		return
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body) // a failed write means the client went away; nothing to do

	event(zerolog.InfoLevel, http.StatusOK).Bool("granted", doc.MediaBypass.BypassEnabled).
		Str("reason", reason).Msg("hybrid config served")
	h.observe(outcome)
}

// decide picks the document and says why, for the log and the counters.
func decide(s Settings, v Version, known bool) (Document, string, string) {
	switch {
	case !s.Enabled:
		return refused(), "bypass disabled", OutcomeDisabled
	case s.BypassID == "":
		return refused(), "no bypass ID configured", OutcomeDisabled
	case !known:
		return refused(), "no Skype for Business build in User-Agent", OutcomeNotSupported
	case v.Less(MinBypassVersion):
		return refused(), "client older than " + MinBypassVersion.String(), OutcomeNotSupported
	}
	return granted(s.BypassID), "supported client", OutcomeGranted
}

// isInternal judges the TCP peer only: X-Forwarded-For and similar headers are
// client-controlled, and bypass must not be granted on a client's say-so.
func (h *handler) isInternal(remoteAddr string) bool {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	addr := ap.Addr().Unmap().WithZone("")
	for _, p := range h.internal {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
