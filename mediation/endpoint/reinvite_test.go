package endpoint

import (
	"bytes"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// onlyCall returns the single call of an agent.
func onlyCall(t *testing.T, a *agent) *call {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.calls) != 1 {
		t.Fatalf("%d calls, want 1", len(a.calls))
	}
	for _, c := range a.calls {
		return c
	}
	return nil
}

// TestReInvite refreshes an answered call from the caller's side: the callee
// answers with its current SDP and the call goes on.
func TestReInvite(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testContext(t)
			sbc := startSBC(t, ctx, SBCConfig{HangupAfter: 1500 * time.Millisecond})
			client := startClient(t, ctx, ClientConfig{})
			done := callAsync(ctx, client.Call, CallOptions{Target: sbc.Addr(), Transport: tr, WaitRemoteHangup: true})
			waitCall(t, ctx, client.a, true)
			c := onlyCall(t, client.a)

			reinvite := func(offer []byte) (*sip.Request, *sip.Response) {
				t.Helper()
				req := sip.NewRequest(sip.INVITE, c.uac.InviteResponse.Contact().Address)
				ct := sip.ContentTypeHeader("application/sdp")
				req.AppendHeader(&ct)
				req.SetBody(offer)
				res, err := c.uac.Do(ctx, req)
				if err != nil {
					t.Fatalf("re-INVITE: %v", err)
				}
				return req, res
			}
			// An offer without the negotiated PCMA is refused; the call goes on.
			pcmuOnly, err := plainSDP(c.media.local, []format{staticFormats[0]}, 1, "")
			if err != nil {
				t.Fatal(err)
			}
			if _, res := reinvite(pcmuOnly); res.StatusCode != 488 {
				t.Errorf("re-INVITE without PCMA answered %d, want 488", res.StatusCode)
			}
			c.mu.Lock()
			offer := c.localSDP
			c.mu.Unlock()
			req, res := reinvite(offer)
			if res.StatusCode != 200 {
				t.Fatalf("re-INVITE answered %d", res.StatusCode)
			}
			ack := sip.NewRequest(sip.ACK, req.Recipient)
			if err := c.uac.WriteRequest(ack); err != nil {
				t.Fatalf("ACK: %v", err)
			}

			caller := await(t, ctx, done).r
			callee, err := sbc.NextCall(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(res.Body(), callee.AnswerSDP) {
				t.Errorf("re-INVITE answer differs from the call's answer:\n%s\n---\n%s", res.Body(), callee.AnswerSDP)
			}
			checkAnswered(t, caller, callee, 1000, 440, PCMA)
			if caller.EndedBy != EndedRemoteBye || callee.EndedBy != EndedLocalBye {
				t.Errorf("ended by: caller %q, callee %q", caller.EndedBy, callee.EndedBy)
			}
		})
	}
}
