package mediation

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"

	"github.com/mediation-emulator/mediation/mediation/hybridconfig"
)

// BypassSettings is CCE's MediaBypassSettings (Get-CsNetworkConfiguration
// -LocalStore) plus the web service URL. A change applies to calls that
// start after it; calls in progress keep the decision they were set up with.
type BypassSettings struct {
	Enabled bool `json:"enabled"`
	// AlwaysBypass is always true in CCE, which supports no other mode.
	AlwaysBypass bool `json:"alwaysBypass"`
	// BypassID is the deployment's one bypass ID (a GUID).
	BypassID string `json:"bypassId"`
	// WebServiceURL is the HybridConfigServiceInternalUrl clients fetch.
	WebServiceURL string `json:"webServiceUrl"`
}

// SettingsError is a setting that Set-CsNetworkConfiguration would refuse.
// Field is the cmdlet's name for it (BypassID), so the admin API's 400 and
// the settings command name what to fix.
type SettingsError struct {
	Field  string
	Reason string
}

func (e *SettingsError) Error() string { return e.Field + ": " + e.Reason }

// Validate checks the settings as Set-CsNetworkConfiguration and
// Set-CsTenantHybridConfiguration would.
func (b BypassSettings) Validate() error {
	if !b.AlwaysBypass {
		return &SettingsError{"AlwaysBypass", "Cloud Connector supports AlwaysBypass mode only"}
	}
	if b.Enabled && b.BypassID == "" {
		return &SettingsError{"BypassID", "is required when bypass is enabled: give a GUID, or leave BypassID out to keep the current one (a server without one generates one)"}
	}
	if b.BypassID != "" && !isGUID(b.BypassID) {
		return &SettingsError{"BypassID", "\"" + b.BypassID + "\" is not a GUID like be38f190-a24a-4a72-b66c-b09fd0909ebc"}
	}
	if b.WebServiceURL != "" {
		if reason := checkWebServiceURL(b.WebServiceURL); reason != "" {
			return &SettingsError{"HybridConfigServiceInternalUrl", "\"" + b.WebServiceURL + "\" " + reason}
		}
	}
	return nil
}

// isGUID accepts the 8-4-4-4-12 form the cmdlets print, without braces or
// a urn: prefix (which uuid.Parse would also take).
func isGUID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}

// checkWebServiceURL says what is wrong with a HybridConfigServiceInternalUrl,
// or "": clients GET it over http(s) at the web service's path.
func checkWebServiceURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return "must be an http:// or https:// URL"
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return "must have no user, query or fragment"
	case !validPort(u.Port()):
		return "has port " + u.Port() + ": want 1 to 65535"
	case !strings.EqualFold(u.Path, hybridconfig.Path):
		return "must have the web service's path " + hybridconfig.Path
	}
	return ""
}

// validPort is true for a URL without a port or with one from 1 to 65535
// (url.Parse takes any digits).
func validPort(p string) bool {
	if p == "" {
		return true
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// canonicalBypassID is a BypassID as stored and sent: in lower case, the
// form SfB clients use in a=x-bypassid (a lower-case hyphenated GUID).
// IDs still compare case-insensitively (sdp.Media.HasBypassID); lowered
// where it enters (config, admin API, state file), an upper-case ID typed
// by an admin no longer went verbatim into the web service's XML and
// every a=x-bypassid we send, where a client comparing it with its own
// case-sensitively would see no match (r25-bypass F3).
func canonicalBypassID(id string) string { return strings.ToLower(id) }

// withGeneratedID fills in a BypassID when bypass is enabled without one, as
// New-CsNetworkMediaBypassConfiguration -AlwaysBypass $true -Enabled $true
// does.
func (b BypassSettings) withGeneratedID() BypassSettings {
	if b.Enabled && b.BypassID == "" {
		b.BypassID = uuid.NewString()
	}
	return b
}

// settingsStore holds the live settings; readers never block, writers take
// turns so that a change and its persistence happen in one order.
type settingsStore struct {
	p  atomic.Pointer[BypassSettings]
	mu sync.Mutex // serialises changes
	// followsListen: WebServiceURL is the server's own web service
	// (bypass.web_service_url left out), re-derived from http_listen at
	// every start until a change names another URL. Guarded by mu.
	followsListen bool
}

func (s *settingsStore) load() BypassSettings { return *s.p.Load() }

func (s *settingsStore) store(b BypassSettings) { s.p.Store(&b) }

// ownWebService makes the web service on addr (http_listen as bound) the
// advertised URL when the settings follow http_listen.
func (s *Server) ownWebService(addr netip.AddrPort) {
	s.settings.mu.Lock()
	defer s.settings.mu.Unlock()
	if s.settings.followsListen {
		b := s.settings.load()
		b.WebServiceURL = WebServiceURLAt(addr)
		s.settings.store(b)
	}
}

// Settings returns the MediaBypassSettings in force.
func (s *Server) Settings() BypassSettings { return s.settings.load() }

// SetSettings replaces the MediaBypassSettings for calls that start from
// now on. Enabling without a BypassID generates one. An invalid setting is
// a *SettingsError and changes nothing.
func (s *Server) SetSettings(b BypassSettings) error {
	return s.UpdateSettings(func(BypassSettings) (BypassSettings, error) { return b.withGeneratedID(), nil })
}

// UpdateSettings applies change to the settings in force, atomically with
// respect to other changes (a PATCH changes only its own fields even when
// two run at once), validates the result and makes it the settings in
// force. An error from change or from validation changes nothing. No
// BypassID is generated here: an explicitly empty one while enabled is
// refused, never silently replaced (a pool's servers must share one ID).
func (s *Server) UpdateSettings(change func(BypassSettings) (BypassSettings, error)) error {
	s.settings.mu.Lock()
	defer s.settings.mu.Unlock()
	old := s.settings.load()
	b, err := change(old)
	if err != nil {
		return err
	}
	if err := b.Validate(); err != nil {
		return err
	}
	// After Validate, whose error names the ID as given.
	b.BypassID = canonicalBypassID(b.BypassID)
	follows := s.settings.followsListen && b.WebServiceURL == old.WebServiceURL
	// Kept before it is in force: a change the caller was told about is
	// never lost by a crash.
	if path := s.cfg.State.Path; path != "" {
		if err := writeState(path, b, follows); err != nil {
			return err
		}
	}
	s.settings.followsListen = follows
	s.settings.store(b)
	s.log.Info().Bool("enabled", b.Enabled).Str("bypass_id", b.BypassID).
		Str("web_service_url", b.WebServiceURL).Bool("was_enabled", old.Enabled).
		Str("was_bypass_id", old.BypassID).Str("was_web_service_url", old.WebServiceURL).
		Bool("always_bypass", b.AlwaysBypass).Bool("was_always_bypass", old.AlwaysBypass).
		Msg("media bypass settings changed")
	return nil
}
