package sdp

import "testing"

// TestAnswerDirection checks RFC 3264 §6.1's table: every offered
// direction against every direction the other peer may have answered.
func TestAnswerDirection(t *testing.T) {
	all := []string{SendRecv, SendOnly, RecvOnly, Inactive}
	want := map[[2]string]string{
		{SendRecv, SendRecv}: SendRecv, {SendRecv, SendOnly}: SendOnly, {SendRecv, RecvOnly}: RecvOnly, {SendRecv, Inactive}: Inactive,
		{SendOnly, SendRecv}: RecvOnly, {SendOnly, SendOnly}: Inactive, {SendOnly, RecvOnly}: RecvOnly, {SendOnly, Inactive}: Inactive,
		{RecvOnly, SendRecv}: SendOnly, {RecvOnly, SendOnly}: SendOnly, {RecvOnly, RecvOnly}: Inactive, {RecvOnly, Inactive}: Inactive,
		{Inactive, SendRecv}: Inactive, {Inactive, SendOnly}: Inactive, {Inactive, RecvOnly}: Inactive, {Inactive, Inactive}: Inactive,
	}
	allowed := map[string][]string{
		SendRecv: all, SendOnly: {RecvOnly, Inactive}, RecvOnly: {SendOnly, Inactive}, Inactive: {Inactive},
	}
	for _, offer := range all {
		for _, proposed := range all {
			got := AnswerDirection(offer, proposed)
			if got != want[[2]string{offer, proposed}] {
				t.Errorf("AnswerDirection(%s, %s) = %s, want %s", offer, proposed, got, want[[2]string{offer, proposed}])
			}
			ok := false
			for _, a := range allowed[offer] {
				ok = ok || a == proposed
			}
			if AnswerDirectionAllowed(offer, proposed) != ok {
				t.Errorf("AnswerDirectionAllowed(%s, %s) = %v, want %v", offer, proposed, !ok, ok)
			}
		}
	}
	if got := AnswerDirection("", SendOnly); got != SendOnly {
		t.Errorf("an offer without a direction is sendrecv: got %s", got)
	}
}
