package mediation_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

func readRecords(t *testing.T, path string) []mediation.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []mediation.Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r mediation.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("record %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// TestCallRecords: every ended call leaves one JSON line whose figures match
// what the endpoints saw.
func TestCallRecords(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	path := filepath.Join(t.TempDir(), "calls.jsonl")
	lab := mediationtest.Start(t, mediationtest.Options{SBC: endpoint.SBCConfig{Codecs: []string{"PCMA"}},
		Configure: func(c *mediation.Config) { c.Records.Path = path }})
	anchored := startClient(t, ctx, "", "PCMU")
	bypassed := startClient(t, ctx, mediationtest.DefaultBypassID)
	var reps, sbcs []endpoint.CallReport
	for _, c := range []*endpoint.Client{anchored, bypassed} {
		rep, err := c.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr(), To: "+15550100", From: "+15550111", Duration: 500 * time.Millisecond})
		if err != nil || rep.Code != 200 {
			t.Fatalf("call: %d %v", rep.Code, err)
		}
		sbc, err := lab.SBC.NextCall(ctx)
		if err != nil {
			t.Fatal(err)
		}
		reps, sbcs = append(reps, rep), append(sbcs, sbc)
	}
	mediationtest.WaitMetric(t, lab.Server, 0, "mediationserver_calls_current", "direction", "outbound")
	recs := readRecords(t, path)
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	for i, r := range recs {
		if r.Direction != "outbound" || r.From != "+15550111" || r.To != "+15550100" || r.Gateway != "sbc" {
			t.Errorf("record %d: %+v", i, r)
		}
		if r.EdgeCallID != reps[i].CallID || r.GatewayCallID != sbcs[i].CallID {
			t.Errorf("record %d Call-IDs %s/%s, want %s/%s", i, r.EdgeCallID, r.GatewayCallID, reps[i].CallID, sbcs[i].CallID)
		}
		if r.AnswerTime == nil || r.AnswerTime.Before(r.StartTime) || r.EndTime.Before(*r.AnswerTime) || r.EndReason != "bye from edge" {
			t.Errorf("record %d times/reason: %+v", i, r)
		}
	}
	a, b := recs[0], recs[1]
	if a.MediationServerBypass || !b.MediationServerBypass {
		t.Fatalf("mediationServerBypass = %v, %v; want false, true", a.MediationServerBypass, b.MediationServerBypass)
	}
	if a.EdgeLeg.Codec != "PCMU" || a.GatewayLeg.Codec != "PCMA" || b.EdgeLeg.Codec != "PCMA" {
		t.Errorf("codecs: anchored %s/%s, bypassed %s", a.EdgeLeg.Codec, a.GatewayLeg.Codec, b.EdgeLeg.Codec)
	}
	// The relay saw what the endpoints sent (up to the packets in flight at hangup).
	if got, sent := a.EdgeLeg.PacketsReceived, uint64(reps[0].PacketsSent); got == 0 || got > sent || sent-got > 5 {
		t.Errorf("edge leg received %d packets, client sent %d", got, sent)
	}
	if got, sent := a.GatewayLeg.PacketsReceived, uint64(sbcs[0].PacketsSent); got == 0 || got > sent || sent-got > 5 {
		t.Errorf("gateway leg received %d packets, SBC sent %d", got, sent)
	}
	if got, recv := a.GatewayLeg.PacketsSent, uint64(sbcs[0].PacketsReceived); got < recv {
		t.Errorf("gateway leg sent %d packets, SBC received %d", got, recv)
	}
	if b.EdgeLeg.PacketsReceived != 0 {
		t.Errorf("bypassed call has relay packets: %+v", b.EdgeLeg)
	}
}
