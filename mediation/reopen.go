package mediation

import (
	"errors"

	"github.com/mediation-emulator/mediation/mediation/capture"
)

// ConfigNotReread is logged at SIGHUP (field "config"): the signal
// reopens files and re-reads the TLS files only.
const ConfigNotReread = "not re-read, but for the TLS files (tls.cert, tls.key, tls.ca): a configuration change takes a restart, which ends calls in progress"

// Reopen follows a rotation of the files the server appends to, as
// logrotate's postrotate `kill -HUP` asks: the records file (records.path)
// is closed and opened again at its path, and the pcap capture
// (capture.pcap) begins a new file, with its own header, if its file was
// moved away or removed (one still at its path is kept: reopening it
// would truncate it). The TLS certificate, key and CA files are read
// again, for a renewed certificate (reloadTLS): new handshakes use them,
// connections up keep theirs. Calls go on meanwhile. Valid after Ready.
func (s *Server) Reopen() {
	// systemctl reload sends the SIGHUP too: say that the configuration
	// (trunks, ...) is not read again, or an edited file looks applied.
	s.log.Info().Str("records", s.cfg.Records.Path).Str("pcap", s.cfg.Capture.Pcap).Str("config", ConfigNotReread).Msg("reopening files (SIGHUP)")
	s.reloadTLS()
	s.records.reopen("SIGHUP")
	if s.pcap == nil {
		return
	}
	switch done, err := s.pcap.Reopen(); {
	case errors.Is(err, capture.ErrClosed):
		// The server has stopped.
	case err != nil:
		s.log.Error().Err(err).Str("path", s.cfg.Capture.Pcap).Msg("cannot reopen the pcap capture file")
	case done:
		s.log.Info().Str("path", s.cfg.Capture.Pcap).Msg("pcap capture file reopened: it was moved or removed")
	}
}
