package mediation

import (
	"context"
	"errors"

	"github.com/rs/zerolog"
)

// Server is one mediation server: both SIP sides, the media relay, the bypass
// web service and the metrics.
type Server struct {
	cfg *Config
	log zerolog.Logger
}

// NewServer checks cfg and prepares a server; nothing is bound until Run.
func NewServer(cfg *Config, log zerolog.Logger) (*Server, error) {
	return &Server{cfg: cfg, log: log}, nil
}

// Run binds every listener and serves until ctx is done, then shuts down
// gracefully. It returns listener errors; nil after a clean shutdown.
func (s *Server) Run(ctx context.Context) error {
	return errors.New("not implemented yet")
}
