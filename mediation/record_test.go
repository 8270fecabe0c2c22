package mediation_test

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/zaf/g711"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
	"github.com/mediation-emulator/mediation/mediation/tone"
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

// TestCallRecordLoss: the loss a caller injects (sequence numbers it
// skips) shows in the call record and the loss histogram.
func TestCallRecordLoss(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	path := filepath.Join(t.TempDir(), "calls.jsonl")
	lab := mediationtest.Start(t, mediationtest.Options{Configure: func(c *mediation.Config) { c.Records.Path = path }})
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := plainOffer(t, conn.LocalAddr().(*net.UDPAddr).Port)
	d := answeredCall(ctx, t, nil, request(gosip.INVITE, lab.Server.EdgeAddr().String(), "udp", body))
	answer := media(t, "answer", d.InviteResponse.Body())
	if len(answer.Crypto) != 0 {
		t.Fatalf("plain offer answered with SRTP:\n%s", d.InviteResponse.Body())
	}
	const sent, lost = 60, 6
	var phase float64
	for seq := 0; seq < sent+lost; seq++ {
		if seq%11 == 5 {
			continue // injected loss: 6 of 66
		}
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(seq), Timestamp: uint32(160 * seq), SSRC: 42},
			Payload: g711.EncodeUlaw(pcmBytes(tone.Generate(clientHz, 8000, 160, &phase)))}
		b, _ := pkt.Marshal()
		if _, err := conn.WriteToUDP(b, net.UDPAddrFromAddrPort(answer.RTP())); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // pacing, not synchronisation: loopback drops bursts
	}
	// Hang up once the relay has counted every packet (GET /calls).
	deadline := time.Now().Add(5 * time.Second)
	for {
		calls := lab.Server.Calls()
		if len(calls) == 1 && calls[0].EdgeLeg.PacketsReceived == sent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay never counted %d packets: %+v", sent, calls)
		}
		time.Sleep(10 * time.Millisecond)
	}
	res, err := http.Get(mediationtest.AdminURL(lab.Server, "/calls"))
	if err != nil {
		t.Fatal(err)
	}
	var live []mediation.Record
	err = json.NewDecoder(res.Body).Decode(&live)
	res.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if err != nil || len(live) != 1 || live[0].EdgeLeg.PacketsLost != lost || live[0].EndReason != "in progress" {
		t.Fatalf("GET /calls: %v %+v", err, live)
	}
	if err := d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := lab.SBC.NextCall(ctx); err != nil {
		t.Fatal(err)
	}
	mediationtest.WaitMetric(t, lab.Server, 0, "mediationserver_calls_current", "direction", "outbound")
	recs := readRecords(t, path)
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	edge := recs[0].EdgeLeg
	if edge.PacketsReceived != sent || edge.PacketsLost != lost || edge.Codec != "PCMU" {
		t.Fatalf("edge leg %+v, want %d received and %d lost in PCMU", edge, sent, lost)
	}
	if got := metricHistogramCount(t, lab, "mediationserver_anchored_leg_loss_ratio", "edge"); got != 1 {
		t.Fatalf("loss histogram has %v observations for the edge side, want 1", got)
	}
}

// metricHistogramCount reads a histogram's sample count from /metrics.
func metricHistogramCount(t *testing.T, lab *mediationtest.Lab, name, side string) float64 {
	t.Helper()
	v, err := mediationtest.Metric(lab.Server, name+"_count", "side", side)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
