package mediation_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestRecordTraceLogs records the daemon's debug log of one call per
// bypass decision reason (and a failed and an inbound call) into
// $MEDIATION_RECORD_TRACE/<reason>.jsonl: the recorded logs that
// `mediation trace`'s golden tests read (cmd/mediation/testdata/trace).
// It runs only when that variable is set:
//
//	MEDIATION_RECORD_TRACE=$PWD/cmd/mediation/testdata/trace go test -run TestRecordTraceLogs ./mediation/
func TestRecordTraceLogs(t *testing.T) {
	dir := os.Getenv("MEDIATION_RECORD_TRACE")
	if dir == "" {
		t.Skip("MEDIATION_RECORD_TRACE not set")
	}
	zerolog.TimeFieldFormat = "2006-01-02T15:04:05.000000Z07:00"
	otherID := "2cd1a522-b9c5-4410-8aed-f3eca85eb367"
	off := false
	scenarios := []struct {
		name string
		opt  mediationtest.Options
		call func(t *testing.T, lab *mediationtest.Lab)
	}{
		{"id_matched", mediationtest.Options{}, callOutWith(mediationtest.DefaultBypassID)},
		{"no_id", mediationtest.Options{}, callOutWith("")},
		{"id_mismatch", mediationtest.Options{}, callOutWith(otherID)},
		{"bypass_disabled", mediationtest.Options{BypassDisabled: true}, callOutWith(mediationtest.DefaultBypassID)},
		{"trunk_bypass_off", mediationtest.Options{Configure: func(c *mediation.Config) { c.Gateways[0].EnableBypass = &off }},
			callOutWith(mediationtest.DefaultBypassID)},
		{"failed", mediationtest.Options{SBC: endpoint.SBCConfig{Reject: 486}}, callOutWith(mediationtest.DefaultBypassID)},
		{"inbound", mediationtest.Options{ClientBypassID: mediationtest.DefaultBypassID}, func(t *testing.T, lab *mediationtest.Lab) {
			if _, err := lab.CallIn(testCtx(t, 20*time.Second), endpoint.CallOptions{Duration: 300 * time.Millisecond}); err != nil {
				t.Fatal(err)
			}
		}},
		{"srtp_mismatch", mediationtest.Options{}, func(t *testing.T, lab *mediationtest.Lab) {
			// A client that insists on RTP/SAVP, towards a trunk whose SRTP is off.
			body := strings.Replace(string(fixtureBody(t, "sfb-savp-audio-video-offer.sdp")), "m=video",
				"a=x-bypassid:"+mediationtest.DefaultBypassID+"\r\nm=video", 1)
			handCall(t, lab.Server.EdgeAddr().String(), []byte(body))
		}},
		{"delayed_offer", mediationtest.Options{ClientBypassID: mediationtest.DefaultBypassID}, func(t *testing.T, lab *mediationtest.Lab) {
			handCall(t, lab.Server.GatewayAddr().String(), nil)
		}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			var logs syncBuffer
			sc.opt.Log = zerolog.New(&logs).Level(zerolog.DebugLevel).With().Timestamp().Logger()
			lab := mediationtest.Start(t, sc.opt)
			sc.call(t, lab)
			mediationtest.WaitMetric(t, lab.Server, 0, "mediationserver_calls_current", "direction", "outbound")
			mediationtest.WaitMetric(t, lab.Server, 0, "mediationserver_calls_current", "direction", "inbound")
			if err := lab.Close(); err != nil {
				t.Fatal(err)
			}
			logs.mu.Lock()
			defer logs.mu.Unlock()
			if err := os.WriteFile(filepath.Join(dir, sc.name+".jsonl"), logs.buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func callOutWith(bypassID string) func(t *testing.T, lab *mediationtest.Lab) {
	return func(t *testing.T, lab *mediationtest.Lab) {
		ctx := testCtx(t, 20*time.Second)
		client := startClient(t, ctx, bypassID)
		if _, err := client.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr(), Duration: 300 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
}

// handCall places a call with a bare sipgo caller, the offer body (nil:
// a delayed offer, answered in the ACK), and hangs up.
func handCall(t *testing.T, target string, body []byte) {
	ctx := testCtx(t, 20*time.Second)
	dua := sipgo.DialogUA{Client: sipClient(t), ContactHDR: gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: 5999}}}
	d, err := dua.WriteInvite(ctx, request(gosip.INVITE, target, "udp", body))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		t.Fatal(err)
	}
	ack := gosip.NewRequest(gosip.ACK, d.InviteResponse.Contact().Address)
	if body == nil {
		answer := "v=0\r\no=sbc 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5998 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"
		ack.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
		ack.SetBody([]byte(answer))
	}
	if err := d.WriteAck(ctx, ack); err != nil {
		t.Fatal(err)
	}
	if err := d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
}
