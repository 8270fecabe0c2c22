package mediation

import (
	"testing"
	"unsafe"

	"github.com/mediation-emulator/mediation/sip"
)

// TestLongLivedSizeClasses holds the objects every call in progress keeps
// to the Go size classes they were fitted to (README "Performance"): a few
// bytes more take the next class, hundreds of bytes more a call. When a
// new field is worth it, move something the settled call no longer needs
// out (behind a pointer released at settle) rather than raise the bound.
// stated is the size README "Performance" gives (0: none), kept true.
func TestLongLivedSizeClasses(t *testing.T) {
	for _, tt := range []struct {
		name              string
		size, max, stated uintptr
	}{
		{"call", unsafe.Sizeof(call{}), 2688, 2688},
		{"sip.Dialog", unsafe.Sizeof(sip.Dialog{}), 640, 0},
	} {
		if tt.size > tt.max {
			t.Errorf("%s is %d bytes, over its size class of %d", tt.name, tt.size, tt.max)
		}
		if tt.stated != 0 && tt.size != tt.stated {
			t.Errorf("%s is %d bytes, README says %d: pack the new field in or correct README", tt.name, tt.size, tt.stated)
		}
	}
}
