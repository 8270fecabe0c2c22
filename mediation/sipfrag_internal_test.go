package mediation

import "testing"

// TestSipfragPhrase: the status line a transfer's NOTIFY carries has the
// code's own phrase when the target's came without one or with a control
// character, which must not reach the transferor (nor a terminal showing
// the trace); a clean phrase of the target's is kept.
func TestSipfragPhrase(t *testing.T) {
	for _, tt := range []struct {
		code         int
		reason, want string
	}{
		{486, "Busy\x1b[2J\x07", "SIP/2.0 486 Busy Here"},
		{180, "", "SIP/2.0 180 Ringing"},
		{486, "Callee Is Busy", "SIP/2.0 486 Callee Is Busy"},
	} {
		if got := sipfrag(tt.code, tt.reason); got != tt.want {
			t.Errorf("sipfrag(%d, %q) = %q, want %q", tt.code, tt.reason, got, tt.want)
		}
	}
}
