package mediation_test

import (
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

// TestReferOutsideDialog: a REFER with no To-tag (RFC 3515 §2.4.2 allows
// one outside a dialog) gets 405 with an Allow of what we take outside a
// dialog, REFER not among them, and a Warning, on both sides: not the 481
// of a request for a dialog that does not exist (RFC 3261 §8.2.1).
// r24-refer #6.
func TestReferOutsideDialog(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc, caller := startPeer(t, "sbc"), startPeer(t, "caller")
	srv := serveTo(t, sbc.addr(), "udp", nil)
	for _, tc := range []struct {
		side string
		from *peer
		to   string
	}{{"edge", caller, srv.EdgeAddr().String()}, {"gateway", sbc, srv.GatewayAddr().String()}} {
		req := request(gosip.REFER, tc.to, "udp", nil, gosip.NewHeader("Refer-To", "<sip:+15550200@example.com>"))
		res, err := tc.from.stack.Client("udp").Do(ctx, req)
		if err != nil {
			t.Fatalf("%s: REFER: %v", tc.side, err)
		}
		allow := headerValue2(res, "Allow")
		if res.StatusCode != 405 || allow == "" || strings.Contains(allow, "REFER") || res.GetHeader("Warning") == nil {
			t.Errorf("%s: REFER outside a dialog got %d (Allow %q, Warning %v), want 405 with an Allow without REFER and a Warning",
				tc.side, res.StatusCode, allow, res.GetHeader("Warning"))
		}
	}
}

// headerValue2 is headerValue of a response.
func headerValue2(res *gosip.Response, name string) string {
	if h := res.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}
