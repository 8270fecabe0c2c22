//go:build linux

package arrival

import (
	"net"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sizeofTimespec is the size of the kernel's struct timespec here.
const sizeofTimespec = int(unsafe.Sizeof(unix.Timespec{}))

// OOBSize is room for the one control message a stamped read carries.
var OOBSize = unix.CmsgSpace(sizeofTimespec)

// Enable asks the kernel to stamp each datagram c receives with its
// arrival time (SO_TIMESTAMPNS), read with ReadMsgUDP* into an OOBSize
// buffer. It reports whether the socket took the option.
func Enable(c *net.UDPConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return false
	}
	return true
}

// Time is the arrival time the kernel put in a read's control messages,
// if it is there (wall clock, no monotonic reading). It allocates nothing
// (unix.ParseSocketControlMessage would, per packet) and takes any bytes
// without panicking.
func Time(oob []byte) (time.Time, bool) {
	hdrLen := unix.CmsgLen(0)
	for len(oob) >= hdrLen {
		var h unix.Cmsghdr
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&h)), unix.SizeofCmsghdr), oob)
		n := int(h.Len)
		if n < hdrLen || n > len(oob) {
			return time.Time{}, false
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && n-hdrLen >= sizeofTimespec {
			var ts unix.Timespec
			copy(unsafe.Slice((*byte)(unsafe.Pointer(&ts)), sizeofTimespec), oob[hdrLen:n])
			return time.Unix(int64(ts.Sec), int64(ts.Nsec)), true
		}
		next := unix.CmsgSpace(n - hdrLen)
		if next > len(oob) {
			return time.Time{}, false
		}
		oob = oob[next:]
	}
	return time.Time{}, false
}
