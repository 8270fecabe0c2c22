//go:build !linux

package relay

import (
	"net"
	"time"
)

// Elsewhere the relay's delay is not observed: no portable receive
// timestamps.
var rxOOBSize = 0

func rxTimestamps(*net.UDPConn) bool { return false }

func rxTime([]byte) (time.Time, bool) { return time.Time{}, false }
