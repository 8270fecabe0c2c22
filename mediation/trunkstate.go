package mediation

// TrunkState is one gateway trunk as the admin API (GET /gateways) and
// /readyz report it.
type TrunkState struct {
	Name      string `json:"name"`
	Address   string `json:"address"`
	Transport string `json:"transport"`
	// Up is whether the trunk takes calls (its health check passes).
	Up bool `json:"up"`
}

// SetTrunkStates replaces where the server learns each trunk's health; until
// it is called every configured trunk counts as up. It may be called at any
// time; f is called on each /readyz and GET /gateways.
func (s *Server) SetTrunkStates(f func() []TrunkState) { s.trunkStates.Store(&f) }

// TrunkStates is every configured trunk with its health.
func (s *Server) TrunkStates() []TrunkState {
	if f := s.trunkStates.Load(); f != nil {
		return (*f)()
	}
	trunks := s.gateways.Trunks()
	out := make([]TrunkState, 0, len(trunks))
	for _, t := range trunks {
		out = append(out, TrunkState{Name: t.Name, Address: t.Addr.String(), Transport: t.Transport, Up: true})
	}
	return out
}
