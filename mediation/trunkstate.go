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
	// Up is the trunk's OPTIONS health: true while one of its addresses
	// is up, as mediationserver_gateway_up and mediation check have it;
	// a resting trunk is up if it answers OPTIONS (r24-ops F2).
	Up bool `json:"up"`
	// UnavailableUntil is when a trunk that answered 503 with Retry-After
	// is routed to again; absent otherwise.
	UnavailableUntil *time.Time `json:"unavailableUntil,omitempty"`
	// TakesCalls: routing sends the trunk calls now: up, resolved and not
	// resting. /readyz wants one such trunk.
	TakesCalls bool `json:"takesCalls"`
	// Unresolved: the trunk's host name does not resolve (yet), so it has
	// no address and takes no calls.
	Unresolved bool `json:"unresolved,omitempty"`
	// Addresses are the trunk's current addresses (all its host name
	// resolves to; its one IP:PORT otherwise), best first, each with what
	// its own OPTIONS probes found; none while unresolved.
	Addresses []TrunkAddress `json:"addresses,omitempty"`
	// Probed: the server probes its trunks with OPTIONS
	// (gateway_health.enabled), so Up is what the probes found; without
	// probing every trunk is up.
	Probed bool `json:"probed"`
}

// TrunkAddress is one address of a trunk.
type TrunkAddress struct {
	Address string `json:"address"`
	// Up is false once the address has missed max_fails OPTIONS probes in
	// a row, until it answers: calls try the trunk's other addresses
	// first. The trunk is up while one of its addresses is.
	Up bool `json:"up"`
	// Answered: one of the server's OPTIONS probes got a reply from it.
	// False before the first probe (one gateway_health.interval after
	// start or after the address appears), when Up proves nothing; it
	// stays true once the address is down (Up says whether it answers
	// now), as README says.
	Answered bool `json:"answered"`
	// UnavailableUntil is when an address that answered 503 with
	// Retry-After is sent calls again; absent otherwise. Calls leave it
	// out while the trunk has another address.
	UnavailableUntil *time.Time `json:"unavailableUntil,omitempty"`
}

// TrunkStates is every configured trunk with its health, from the gateway
// health checks (gateway_health) and 503 Retry-After rests.
func (s *Server) TrunkStates() []TrunkState {
	status := s.gateways.Status()
	out := make([]TrunkState, 0, len(status))
	for _, st := range status {
		ts := TrunkState{Name: st.Name, Address: st.Address, Host: st.Host, Transport: st.Transport, Up: st.Healthy, TakesCalls: st.Healthy && !st.Unresolved && st.UnavailableUntil.IsZero(), Unresolved: st.Unresolved,
			Probed: s.cfg.GatewayHealth.Enabled}
		for _, a := range st.Addresses {
			ts.Addresses = append(ts.Addresses, TrunkAddress{Address: a.Addr.String(), Up: a.Healthy, Answered: a.Answered,
				UnavailableUntil: timeOrNil(a.UnavailableUntil)})
		}
		ts.UnavailableUntil = timeOrNil(st.UnavailableUntil)
		out = append(out, ts)
	}
	return out
}

// timeOrNil is t, nil for the zero time (absent in JSON).
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
