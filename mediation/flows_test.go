package mediation_test

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/hybridconfig"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

func TestCancelWhileRinging(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			lab := mediationtest.Start(t, mediationtest.Options{GatewayTransport: tr, SBC: endpoint.SBCConfig{NoAnswer: true}})
			client := startClient(t, ctx, mediationtest.DefaultBypassID)
			rep, err := client.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr(), Transport: tr, CancelOnRinging: true})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Code != 487 {
				t.Fatalf("client got %d, want 487", rep.Code)
			}
			sbc, err := lab.SBC.NextCall(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if sbc.EndedBy != endpoint.EndedCancel || sbc.Code != 487 {
				t.Fatalf("SBC call ended by %q with %d, want CANCEL relayed and 487", sbc.EndedBy, sbc.Code)
			}
			waitMetric(t, lab, 1, "mediationserver_failed_calls_total", "direction", "outbound", "reason", "canceled")
			waitMetric(t, lab, 0, "mediationserver_calls_current", "direction", "outbound")
			waitMetric(t, lab, 0, "mediationserver_gateway_side_port_pairs_open")
		})
	}
}

func TestByeFromEachSide(t *testing.T) {
	tests := []struct {
		name       string
		sbcHangup  bool
		clientSees string
		sbcSees    string
	}{
		{"client hangs up", false, endpoint.EndedLocalBye, endpoint.EndedRemoteBye},
		{"SBC hangs up", true, endpoint.EndedRemoteBye, endpoint.EndedLocalBye},
	}
	for _, tr := range transports {
		for _, tt := range tests {
			t.Run(tr+"/"+tt.name, func(t *testing.T) {
				ctx := testCtx(t, 30*time.Second)
				opt := mediationtest.Options{GatewayTransport: tr}
				if tt.sbcHangup {
					opt.SBC.HangupAfter = 300 * time.Millisecond
				}
				lab := mediationtest.Start(t, opt)
				client := startClient(t, ctx, "")
				rep, err := client.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr(), Transport: tr,
					Duration: 300 * time.Millisecond, WaitRemoteHangup: tt.sbcHangup})
				if err != nil || rep.Code != 200 {
					t.Fatalf("call: code %d, err %v, report err %v", rep.Code, err, rep.Err)
				}
				sbc, err := lab.SBC.NextCall(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if rep.EndedBy != tt.clientSees || sbc.EndedBy != tt.sbcSees {
					t.Fatalf("ended by: client %q, SBC %q; want %q, %q", rep.EndedBy, sbc.EndedBy, tt.clientSees, tt.sbcSees)
				}
				waitMetric(t, lab, 0, "mediationserver_calls_current", "direction", "outbound")
				if n := lab.Server.ActiveCalls(); n != 0 {
					t.Fatalf("%d calls still registered", n)
				}
			})
		}
	}
}

func TestRejectRelayed(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			lab := mediationtest.Start(t, mediationtest.Options{GatewayTransport: tr, SBC: endpoint.SBCConfig{Reject: 486}})
			client := startClient(t, ctx, mediationtest.DefaultBypassID)
			rep, err := client.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr(), Transport: tr})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Code != 486 {
				t.Fatalf("client got %d, want the SBC's 486", rep.Code)
			}
			waitMetric(t, lab, 1, "mediationserver_failed_calls_total", "direction", "outbound", "reason", "486")
			waitMetric(t, lab, 0, "mediationserver_calls_current", "direction", "outbound")
		})
	}
}

// TestCounters places one call of each kind through one server and reads
// the LS:MediationServer counters afterwards.
func TestCounters(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	lab := mediationtest.Start(t, mediationtest.Options{ClientBypassID: mediationtest.DefaultBypassID})
	bypassClient := startClient(t, ctx, mediationtest.DefaultBypassID)
	plainClient := startClient(t, ctx, "")
	call := func(c *endpoint.Client) {
		rep, err := c.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr(), Duration: 200 * time.Millisecond})
		if err != nil || rep.Code != 200 {
			t.Fatalf("outbound call: %d %v", rep.Code, err)
		}
		if _, err := lab.SBC.NextCall(ctx); err != nil {
			t.Fatal(err)
		}
	}
	call(bypassClient)
	call(bypassClient)
	call(plainClient)
	rep, err := lab.SBC.Call(ctx, endpoint.CallOptions{Target: lab.Server.GatewayAddr(), Duration: 200 * time.Millisecond})
	if err != nil || rep.Code != 200 {
		t.Fatalf("inbound call: %d %v", rep.Code, err)
	}
	if _, err := lab.Client.NextCall(ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"mediationserver_calls_total", []string{"direction", "outbound"}, 3},
		{"mediationserver_calls_total", []string{"direction", "inbound"}, 1},
		{"mediationserver_media_bypass_calls_total", []string{"direction", "outbound"}, 2},
		{"mediationserver_media_bypass_calls_total", []string{"direction", "inbound"}, 1},
		{"mediationserver_calls_current", []string{"direction", "outbound"}, 0},
		{"mediationserver_calls_current", []string{"direction", "inbound"}, 0},
		{"mediationserver_media_bypass_calls_active", []string{"direction", "outbound"}, 0},
		{"mediationserver_media_bypass_calls_active", []string{"direction", "inbound"}, 0},
	} {
		waitMetric(t, lab, m.want, m.name, m.labels...)
	}
}

// TestActiveCallGauges checks the gauges while a bypassed call is up.
func TestActiveCallGauges(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	lab := mediationtest.Start(t, mediationtest.Options{})
	client := startClient(t, ctx, mediationtest.DefaultBypassID)
	done := make(chan endpoint.CallReport, 1)
	go func() {
		rep, _ := client.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr(), Duration: 3 * time.Second})
		done <- rep
	}()
	waitMetric(t, lab, 1, "mediationserver_media_bypass_calls_active", "direction", "outbound")
	waitMetric(t, lab, 1, "mediationserver_calls_current", "direction", "outbound")
	waitMetric(t, lab, 0, "mediationserver_gateway_side_port_pairs_open")
	select {
	case rep := <-done:
		if rep.Code != 200 {
			t.Fatalf("call got %d", rep.Code)
		}
	case <-ctx.Done():
		t.Fatal("call did not end")
	}
	waitMetric(t, lab, 0, "mediationserver_media_bypass_calls_active", "direction", "outbound")
}

func TestWebService(t *testing.T) {
	internal := mediationtest.Start(t, mediationtest.Options{})
	external := mediationtest.Start(t, mediationtest.Options{Configure: func(c *mediation.Config) {
		c.Bypass.InternalSubnets = []string{"10.0.0.0/8"}
	}})
	disabled := mediationtest.Start(t, mediationtest.Options{BypassDisabled: true})
	tests := []struct {
		name       string
		lab        *mediationtest.Lab
		userAgent  string
		wantStatus int
		wantBypass bool
		outcome    string // of mediationserver_web_service_requests_total
	}{
		{"supported internal client", internal, "UCCAPI/16.0.7870.2020 OC/16.0.7870.2020 (Skype for Business)", 200, true, "granted"},
		{"newer client", internal, "UCCAPI/16.0.8201.2025 OC/16.0.8201.2025 (Skype for Business)", 200, true, "granted"},
		{"unsupported client (older build)", internal, "UCCAPI/16.0.7870.2019 OC/16.0.7870.2019 (Skype for Business)", 200, false, "not_supported"},
		{"Lync 2013 client", internal, "UCCAPI/15.0.4420.1017 OC/15.0.4420.1017 (Microsoft Lync)", 200, false, "not_supported"},
		{"external client", external, "UCCAPI/16.0.7870.2020 OC/16.0.7870.2020 (Skype for Business)", 403, false, "external"},
		{"bypass disabled", disabled, "UCCAPI/16.0.7870.2020 OC/16.0.7870.2020 (Skype for Business)", 200, false, "disabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, err := mediationtest.Metric(tt.lab.Server, "mediationserver_web_service_requests_total", "outcome", tt.outcome)
			if err != nil {
				t.Fatal(err)
			}
			defer mediationtest.WaitMetric(t, tt.lab.Server, before+1, "mediationserver_web_service_requests_total", "outcome", tt.outcome)
			req, _ := http.NewRequestWithContext(testCtx(t, 10*time.Second), "GET",
				mediationtest.URL(tt.lab.Server, hybridconfig.Path), nil)
			req.Header.Set("User-Agent", tt.userAgent)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tt.wantStatus, body)
			}
			if res.StatusCode != 200 {
				return
			}
			var doc hybridconfig.Document
			if err := xml.Unmarshal(body, &doc); err != nil {
				t.Fatalf("%v in %s", err, body)
			}
			if doc.MediaBypass.Usable() != tt.wantBypass {
				t.Fatalf("bypass usable = %v, want %v: %s", doc.MediaBypass.Usable(), tt.wantBypass, body)
			}
			if tt.wantBypass && doc.MediaBypass.BypassID != mediationtest.DefaultBypassID {
				t.Fatalf("bypassID %q", doc.MediaBypass.BypassID)
			}
		})
	}
}

// sipClient is a bare sipgo client for hand-made requests.
func sipClient(t *testing.T) *sipgo.Client {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	c, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// answeredCall sends inv with dua (a bare sipgo caller: nil for a fresh
// one), waits for the 200 and ACKs it.
func answeredCall(ctx context.Context, t *testing.T, dua *sipgo.DialogUA, inv *gosip.Request) *sipgo.DialogClientSession {
	t.Helper()
	if dua == nil {
		dua = &sipgo.DialogUA{Client: sipClient(t), ContactHDR: gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: 5999}}}
	}
	d, err := dua.WriteInvite(ctx, inv)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		t.Fatalf("no 200 for the INVITE: %v", err)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	return d
}

func request(method gosip.RequestMethod, target string, transport string, body []byte, hdrs ...gosip.Header) *gosip.Request {
	host, port, _ := gosip.ParseAddr(target)
	req := gosip.NewRequest(method, gosip.Uri{Scheme: "sip", User: "+15550100", Host: host, Port: port})
	req.SetTransport(strings.ToUpper(transport))
	contact := gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: 5999}}
	req.AppendHeader(&contact)
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	if body != nil {
		req.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(body)
	}
	return req
}

// fixtureBody is a testdata/sdp file with every IPv4 address moved to
// 127.0.0.1 and IPv6 candidates dropped: calls set up from it make the
// server and the SBC send media, which must stay on loopback.
func fixtureBody(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "sdp", name))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "x-candidate-ipv6") {
			continue
		}
		out = append(out, ipv4.ReplaceAllStringFunc(l, func(a string) string {
			if a == "0.0.0.0" {
				return a
			}
			return "127.0.0.1"
		}))
	}
	return []byte(strings.Join(out, "\n"))
}

var ipv4 = regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b`)

// TestRequestsAnsweredWithoutACall covers the answers a peer gets from the
// server itself, on both sides and both transports.
func TestRequestsAnsweredWithoutACall(t *testing.T) {
	lab := mediationtest.Start(t, mediationtest.Options{})
	mf := func(n uint32) gosip.Header { h := gosip.MaxForwardsHeader(n); return &h }
	toTagged := func() gosip.Header {
		to := &gosip.ToHeader{Address: gosip.Uri{Scheme: "sip", User: "x", Host: "127.0.0.1"}, Params: gosip.NewParams()}
		to.Params.Add("tag", "nosuchdialog")
		return to
	}
	tests := []struct {
		name       string
		method     gosip.RequestMethod
		body       []byte
		hdrs       []gosip.Header
		wantCode   int
		wantReason string
		wantHeader string
	}{
		{"OPTIONS", gosip.OPTIONS, nil, nil, 200, "", "Allow"},
		{"unknown method", gosip.RequestMethod("FOO"), nil, nil, 501, "", "Allow"},
		{"method known, not handled", gosip.MESSAGE, nil, nil, 405, "", "Allow"},
		// Taken only in a call's dialog (a REFER's subscription refresh).
		{"SUBSCRIBE outside a dialog", gosip.SUBSCRIBE, nil, []gosip.Header{gosip.NewHeader("Event", "refer")}, 405, "", "Allow"},
		{"BYE for no call", gosip.BYE, nil, []gosip.Header{toTagged()}, 481, "", ""},
		{"Max-Forwards exhausted", gosip.INVITE, fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"), []gosip.Header{mf(1)}, 483, "", ""},
		{"initial offer on hold", gosip.INVITE, fixtureBody(t, "hold-offer.sdp"), nil, 488, "Invalid incoming Gateway SDP: Call hold not allowed for initial INVITE offer", ""},
		{"offer without audio", gosip.INVITE, fixtureBody(t, "no-audio.sdp"), nil, 488, "", "Warning"},
		{"unparseable SDP", gosip.INVITE, fixtureBody(t, "not-sdp.txt"), nil, 488, "", "Warning"},
		{"SRTP-only offer without a usable key", gosip.INVITE, fixtureBody(t, "savp-no-crypto.sdp"), nil, 488, "", "Warning"},
		// A client's delayed offer (README "Known deviations"; the
		// gateway's is taken: TestDelayedOfferFromGateway).
		{"client INVITE without SDP", gosip.INVITE, nil, nil, 488, "", "Warning"},
	}
	for _, side := range []string{"edge", "gateway"} {
		for _, tr := range transports {
			for _, tt := range tests {
				if side == "gateway" && (strings.HasPrefix(tt.name, "SRTP-only") || strings.HasPrefix(tt.name, "client ")) {
					continue
				}
				t.Run(side+"/"+tr+"/"+tt.name, func(t *testing.T) {
					ctx := testCtx(t, 10*time.Second)
					target := lab.Server.EdgeAddr()
					if side == "gateway" {
						target = lab.Server.GatewayAddr()
					}
					res, err := sipClient(t).Do(ctx, request(tt.method, target.String(), tr, tt.body, tt.hdrs...))
					if err != nil {
						t.Fatal(err)
					}
					if res.StatusCode != tt.wantCode {
						t.Fatalf("got %d %s, want %d", res.StatusCode, res.Reason, tt.wantCode)
					}
					if tt.wantReason != "" && res.Reason != tt.wantReason {
						t.Errorf("reason %q, want %q", res.Reason, tt.wantReason)
					}
					if tt.wantHeader != "" && res.GetHeader(tt.wantHeader) == nil {
						t.Errorf("no %s header in\n%s", tt.wantHeader, res)
					}
					if w := valueOf(res.GetHeader("Warning")); tt.body == nil && tt.method == gosip.INVITE &&
						!strings.Contains(w, `"No SDP offer: delayed-offer INVITEs are not supported"`) {
						t.Errorf("Warning %q, want the delayed-offer refusal", w)
					}
				})
			}
		}
	}
	waitMetric(t, lab, 0, "mediationserver_calls_current", "direction", "outbound")
	waitMetric(t, lab, 0, "mediationserver_gateway_side_port_pairs_open")
}

// TestLargeUDPInvite sends an SfB-sized INVITE (about 8 KB of SDP) over UDP.
func TestLargeUDPInvite(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	lab := mediationtest.Start(t, mediationtest.Options{Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)})
	body := fixtureBody(t, "sfb-bypass-offer.sdp")
	// Pad the offer with candidates as a multi-homed client would send.
	var pad strings.Builder
	for i := 0; pad.Len() < 6500; i++ {
		pad.WriteString("a=x-candidate-ipv6:9 1 UDP 2130703871 fd00:7:495:1::4c 14530 typ host\r\n")
	}
	big := strings.Replace(string(body), "a=maxptime:200\n", "a=maxptime:200\n"+pad.String(), 1)
	if len(big) < 7000 {
		t.Fatalf("padded body only %d bytes", len(big))
	}
	d := answeredCall(ctx, t, nil, request(gosip.INVITE, lab.Server.EdgeAddr().String(), "udp", []byte(big)))
	if err := d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	sbc, err := lab.SBC.NextCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sbc.Code != 200 || sbc.EndedBy != endpoint.EndedRemoteBye {
		t.Fatalf("SBC saw %d, ended by %q", sbc.Code, sbc.EndedBy)
	}
}
