//go:build !linux

package arrival

import (
	"net"
	"time"
)

// OOBSize is 0: no portable receive timestamps elsewhere.
var OOBSize = 0

// Enable reports false: no receive timestamps here.
func Enable(*net.UDPConn) bool { return false }

// Time finds nothing.
func Time([]byte) (time.Time, bool) { return time.Time{}, false }
