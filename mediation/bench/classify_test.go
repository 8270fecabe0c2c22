package bench

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/mediation-emulator/mediation/mediation/endpoint"
)

// TestClassifyCutCalls: a call the run's end cut short is interrupted,
// unless it had already failed by what it did before the cut: the wrong
// media path, or a transcoded call answered in PCMA (r25-reviewB #2: "not
// transcoded" became interrupted, against README's "a call that had
// already failed stays failed"). A call not cut keeps its reason.
func TestClassifyCutCalls(t *testing.T) {
	interrupt := errors.New("interrupt signal received")
	ended, stop := context.WithCancelCause(context.Background())
	stop(interrupt)
	live := context.Background()
	cutErr := fmt.Errorf("call abc: %w", interrupt)
	answered := func(bypass bool, codec string) endpoint.CallReport {
		return endpoint.CallReport{Code: 200, BypassAnswered: bypass, Codec: codec}
	}
	for _, tc := range []struct {
		name        string
		ctx         context.Context
		k           kind
		rep         endpoint.CallReport
		err         error
		reason      string
		interrupted bool
	}{
		{"transcoded answered PCMA, cut in talk", ended, kindTranscoded, answered(false, endpoint.PCMA), cutErr, "not transcoded", false},
		{"transcoded answered PCMU, cut in talk", ended, kindTranscoded, answered(false, endpoint.PCMU), cutErr, "", true},
		{"bypass answered anchored, cut in talk", ended, kindBypass, answered(false, endpoint.PCMU), cutErr, "wrong media path", false},
		{"bypass answered bypassed, cut in talk", ended, kindBypass, answered(true, endpoint.PCMU), cutErr, "", true},
		// r25-reviewC F2: with --sbc-progress 180 or none no early SDP
		// started media; the SBC's 200 crossed the signal's CANCEL, was
		// ACKed and hung up: Code 200, no codec.
		{"transcoded, 200 crossed CANCEL, no early media", ended, kindTranscoded,
			endpoint.CallReport{Code: 200, EndedBy: endpoint.EndedCancel}, cutErr, "", true},
		{"transcoded, 200 crossed CANCEL after early media in PCMU", ended, kindTranscoded,
			endpoint.CallReport{Code: 200, EndedBy: endpoint.EndedCancel, Codec: endpoint.PCMU}, cutErr, "", true},
		{"transcoded, ACK failed as the run ended, no media", ended, kindTranscoded,
			endpoint.CallReport{Code: 200, EndedBy: endpoint.EndedError}, fmt.Errorf("call abc: ACK: %w", context.Canceled), "", true},
		{"bypass, 200 crossed CANCEL, answered anchored", ended, kindBypass,
			endpoint.CallReport{Code: 200, EndedBy: endpoint.EndedCancel}, cutErr, "wrong media path", false},
		{"anchored cancelled while ringing", ended, kindAnchored, endpoint.CallReport{Code: 487}, cutErr, "", true},
		{"cancelled before any response", ended, kindAnchored, endpoint.CallReport{}, context.Canceled, "", true},
		{"transcoded answered PCMA, not cut", live, kindTranscoded, answered(false, endpoint.PCMA), nil, "not transcoded", false},
		{"busy, not cut", live, kindAnchored, endpoint.CallReport{Code: 486}, nil, "486", false},
		{"error, not cut", live, kindAnchored, endpoint.CallReport{}, errors.New("call abc: no response"), "error: no response", false},
		{"error after the end, not the end's", ended, kindAnchored, endpoint.CallReport{}, errors.New("call abc: no response"), "error: no response", false},
		{"as planned", live, kindTranscoded, answered(false, endpoint.PCMU), nil, "", false},
	} {
		got := classify(tc.ctx, tc.k, tc.rep, tc.err)
		if got.reason != tc.reason || got.interrupted != tc.interrupted {
			t.Errorf("%s: reason %q interrupted %v, want %q %v", tc.name, got.reason, got.interrupted, tc.reason, tc.interrupted)
		}
	}
}
