package mediation

import "time"

// TrunkState is one gateway trunk as the admin API (GET /gateways) and
// /readyz report it.
type TrunkState struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	// Host is the host name Address was resolved from ("" for an IP).
	Host      string `json:"host,omitempty"`
	Transport string `json:"transport"`
	// Up is whether the trunk takes calls: its OPTIONS health check
	// passes and it is not resting after a 503 with Retry-After.
	Up bool `json:"up"`
	// UnavailableUntil is when a trunk that answered 503 with Retry-After
	// is routed to again; absent otherwise.
	UnavailableUntil *time.Time `json:"unavailableUntil,omitempty"`
}

// SetTrunkStates replaces where the server learns each trunk's health (the
// gateway health checks, by default), e.g. for a test that needs a trunk
// down at once. f is called on each /readyz and GET /gateways.
func (s *Server) SetTrunkStates(f func() []TrunkState) { s.trunkStates.Store(&f) }

// TrunkStates is every configured trunk with its health.
func (s *Server) TrunkStates() []TrunkState {
	if f := s.trunkStates.Load(); f != nil {
		return (*f)()
	}
	status := s.gateways.Status()
	out := make([]TrunkState, 0, len(status))
	for _, st := range status {
		ts := TrunkState{Name: st.Name, Address: st.Address, Host: st.Host, Transport: st.Transport, Up: st.Up && st.UnavailableUntil.IsZero()}
		if !st.UnavailableUntil.IsZero() {
			until := st.UnavailableUntil
			ts.UnavailableUntil = &until
		}
		out = append(out, ts)
	}
	return out
}
