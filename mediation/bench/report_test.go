package bench

import (
	"net/netip"
	"strings"
	"testing"
)

// TestSBCWarning: the bench's SBC answering fewer calls than the clients
// saw answered (a second trunk taking a share), or more, is said with both
// counts; the same counts say nothing. After an interrupt, the SBC
// answering up to one more call per interrupted call is expected (a CANCEL
// crossing its 200) and not said (r25-reviewB #3); fewer still is.
func TestSBCWarning(t *testing.T) {
	cfg := Config{Edge: netip.MustParseAddrPort("127.0.0.1:5070"), SBCListen: "127.0.0.1:5060"}
	for _, tc := range []struct {
		clients, sbc, interrupted int
		want                      string
	}{
		{10, 10, 0, ""},
		{0, 0, 0, ""},
		{10, 4, 0, "the bench's SBC (127.0.0.1:5060) answered 4 of the 10 calls the clients saw answered"},
		{10, 0, 0, "answered none of the 10 calls"},
		{3, 5, 0, "answered 5 calls, more than the 3 the clients saw answered"},
		{3, 5, 2, ""},
		{3, 4, 7, ""},
		{3, 6, 2, "answered 6 calls, more than the 3 the clients saw answered"},
		{10, 4, 7, "answered 4 of the 10 calls the clients saw answered"},
	} {
		got := sbcWarning(cfg, Report{ClientsAnswered: tc.clients, SBCAnswered: tc.sbc, Interrupted: tc.interrupted})
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("clients %d, SBC %d, interrupted %d: %q, want %q", tc.clients, tc.sbc, tc.interrupted, got, tc.want)
		}
	}
}
