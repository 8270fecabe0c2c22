package mediation_test

import (
	"testing"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// silentCaller is a SIP caller that sends no media and reports the BYE it
// gets; it has no listener of its own, so the server reaches it where its
// INVITE came from.
func silentCaller(t *testing.T) (*sipgo.DialogUA, <-chan struct{}) {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	bye := make(chan struct{}, 1)
	srv.OnBye(func(req *gosip.Request, tx gosip.ServerTransaction) {
		tx.Respond(gosip.NewResponseFromRequest(req, 200, "OK", nil))
		select {
		case bye <- struct{}{}:
		default:
		}
	})
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	return &sipgo.DialogUA{Client: cli, ContactHDR: gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: 5999}}, RewriteContact: true}, bye
}

// TestMediaTimeout: an anchored call whose client sends nothing is ended
// with BYE on both legs after media.timeout, with the reason in the record;
// a call on hold on a trunk with rtcp_calls_on_hold off is not (on, see
// TestHeldCallEndsWithoutRTCP).
func TestMediaTimeout(t *testing.T) {
	for _, hold := range []bool{false, true} {
		name := "silent"
		if hold {
			name = "on hold"
		}
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			records := t.TempDir() + "/calls.jsonl"
			lab := mediationtest.Start(t, mediationtest.Options{Configure: func(c *mediation.Config) {
				c.Media.Timeout = 600 * time.Millisecond
				c.Records.Path = records
				off := false
				c.Gateways[0].RTCPCallsOnHold = &off
			}})
			dua, bye := silentCaller(t)
			offer := fixtureBody(t, "sfb-edge-srtp-optional-offer.sdp")
			if hold {
				offer = []byte(string(offer) + "a=inactive\n")
			}
			d := answeredCall(ctx, t, dua, request(gosip.INVITE, lab.Server.EdgeAddr().String(), "udp", fixtureBody(t, "sfb-edge-srtp-optional-offer.sdp")))
			if hold {
				re := gosip.NewRequest(gosip.INVITE, d.InviteResponse.Contact().Address)
				re.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
				re.SetBody(offer)
				if res, err := d.Do(ctx, re); err != nil || res.StatusCode != 200 {
					t.Fatalf("hold: %v %v", res, err)
				}
				d.WriteRequest(gosip.NewRequest(gosip.ACK, d.InviteResponse.Contact().Address))
				// Three timeouts' worth of silence on hold: the call must stay.
				deadline := time.Now().Add(3 * 600 * time.Millisecond)
				for time.Now().Before(deadline) {
					select {
					case <-bye:
						t.Fatal("call on hold ended by the media timeout")
					case <-time.After(50 * time.Millisecond):
					}
				}
				if err := d.Bye(ctx); err != nil {
					t.Fatal(err)
				}
				if _, err := lab.SBC.NextCall(ctx); err != nil {
					t.Fatal(err)
				}
				return
			}
			select {
			case <-bye:
			case <-ctx.Done():
				t.Fatal("no BYE from the server after the media timeout")
			}
			sbc, err := lab.SBC.NextCall(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if sbc.EndedBy != endpoint.EndedRemoteBye {
				t.Fatalf("SBC call ended by %q, want the server's BYE", sbc.EndedBy)
			}
			mediationtest.WaitMetric(t, lab.Server, 0, "mediationserver_calls_current", "direction", "outbound")
			recs := readRecords(t, records)
			if len(recs) != 1 || recs[0].EndReason != "media timeout" {
				t.Fatalf("records %+v, want one ended by media timeout", recs)
			}
		})
	}
}
