package mediation

import (
	"fmt"
	"sync/atomic"
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

// Validate checks the settings as Set-CsNetworkConfiguration would.
func (b BypassSettings) Validate() error {
	if !b.AlwaysBypass {
		return fmt.Errorf("alwaysBypass: Cloud Connector supports AlwaysBypass mode only")
	}
	if (b.Enabled || b.BypassID != "") && !guidPattern.MatchString(b.BypassID) {
		return fmt.Errorf("bypassId: %q is not a GUID", b.BypassID)
	}
	return nil
}

// settingsStore holds the live settings; readers never block writers.
type settingsStore struct {
	p atomic.Pointer[BypassSettings]
}

func (s *settingsStore) load() BypassSettings { return *s.p.Load() }

func (s *settingsStore) store(b BypassSettings) { s.p.Store(&b) }

// Settings returns the MediaBypassSettings in force.
func (s *Server) Settings() BypassSettings { return s.settings.load() }

// SetSettings replaces the MediaBypassSettings for calls that start from
// now on.
func (s *Server) SetSettings(b BypassSettings) error {
	if err := b.Validate(); err != nil {
		return err
	}
	s.settings.store(b)
	s.log.Info().Bool("enabled", b.Enabled).Str("bypass_id", b.BypassID).
		Str("web_service_url", b.WebServiceURL).Msg("media bypass settings changed")
	return nil
}
