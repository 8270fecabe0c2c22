package mediation

import (
	"errors"
	"syscall"
)

// ListenError is a listener that could not be bound: the port is taken, the
// address is not on this host, or binding it needs privileges. Like a
// configuration error it is the operator's to fix before anything runs, so
// the command prints it as one line naming the listener's config key.
type ListenError struct {
	// Listener is the config key of the listener: edge.listen,
	// gateway_listen, http_listen, admin.listen, dns.listen.
	Listener string
	// Addr is the address that was asked for.
	Addr string
	Err  error
}

// Error names the listener and the address once, then the system's reason
// ("address already in use") without the socket calls' own repetition of
// the address.
func (e *ListenError) Error() string {
	reason := e.Err.Error()
	var errno syscall.Errno
	if errors.As(e.Err, &errno) {
		reason = errno.Error()
	}
	return e.Listener + " " + e.Addr + ": " + reason
}

func (e *ListenError) Unwrap() error { return e.Err }
