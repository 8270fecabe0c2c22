package mediation_test

import (
	"context"
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
	"github.com/mediation-emulator/mediation/sdp"
)

var (
	loopback   = netip.MustParseAddr("127.0.0.1")
	transports = []string{"udp", "tcp"}
)

const (
	clientHz = 1000.0 // the simulated client's tone
	sbcHz    = 440.0  // the simulated SBC's tone
)

func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// startClient starts a simulated SfB client; bypassID "" plays a client
// that did not get bypass from the web service.
func startClient(t *testing.T, ctx context.Context, bypassID string, codecs ...string) *endpoint.Client {
	t.Helper()
	c, err := endpoint.StartClient(ctx, endpoint.ClientConfig{Listen: "127.0.0.1:0", MediaIP: loopback,
		BypassID: bypassID, ToneHz: clientHz, Codecs: codecs, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func media(t *testing.T, what string, body []byte) sdp.Media {
	t.Helper()
	m, err := sdp.Parse(body)
	if err != nil {
		t.Fatalf("%s SDP: %v\n%s", what, err, body)
	}
	return m
}

func checkTone(t *testing.T, who string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 25 {
		t.Errorf("%s heard %.0f Hz, want %.0f Hz", who, got, want)
	}
}

func waitMetric(t *testing.T, lab *mediationtest.Lab, want float64, name string, labels ...string) {
	t.Helper()
	mediationtest.WaitMetric(t, lab.Server, want, name, labels...)
}

// callOut places a 1 s answered call from client through the lab's edge
// side and returns both ends' reports.
func callOut(ctx context.Context, t *testing.T, lab *mediationtest.Lab, client *endpoint.Client, transport string) (endpoint.CallReport, endpoint.CallReport) {
	t.Helper()
	rep, err := client.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr(), Transport: transport,
		To: "+15550100", From: "+15550111", Duration: time.Second})
	if err != nil || rep.Code != 200 {
		t.Fatalf("call: code %d, err %v, report err %v", rep.Code, err, rep.Err)
	}
	sbc, err := lab.SBC.NextCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rep, sbc
}

func TestOutboundBypass(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			lab := mediationtest.Start(t, mediationtest.Options{GatewayTransport: tr})
			client := startClient(t, ctx, mediationtest.DefaultBypassID)
			rep, sbc := callOut(ctx, t, lab, client, tr)
			offer := media(t, "offer to the SBC", sbc.OfferSDP)
			answer := media(t, "answer to the client", rep.AnswerSDP)
			// The SBC is told the client's own media address, and the client the SBC's.
			if offer.RTP() != rep.MediaLocal {
				t.Errorf("SBC offered %s, want the client's media %s", offer.RTP(), rep.MediaLocal)
			}
			if answer.RTP() != sbc.MediaLocal {
				t.Errorf("client answered %s, want the SBC's media %s", answer.RTP(), sbc.MediaLocal)
			}
			if !answer.HasBypassID(mediationtest.DefaultBypassID) {
				t.Error("answer to the client lacks a=x-bypassid")
			}
			if offer.BypassID != "" || len(offer.Candidates) != 0 || len(offer.Crypto) != 0 {
				t.Errorf("SfB attributes leaked to the SBC:\n%s", sbc.OfferSDP)
			}
			// Media flowed directly, both ways.
			if sbc.MediaFrom != rep.MediaLocal || rep.MediaFrom != sbc.MediaLocal {
				t.Errorf("media not direct: SBC got it from %s (client %s), client from %s (SBC %s)",
					sbc.MediaFrom, rep.MediaLocal, rep.MediaFrom, sbc.MediaLocal)
			}
			checkTone(t, "SBC", sbc.DetectedHz, clientHz)
			checkTone(t, "client", rep.DetectedHz, sbcHz)
			if sbc.From != "+15550111" || sbc.To != "+15550100" {
				t.Errorf("SBC saw From %q To %q", sbc.From, sbc.To)
			}
			if sbc.CallID == rep.CallID {
				t.Error("both legs share a Call-ID")
			}
			if sbc.EndedBy != endpoint.EndedRemoteBye {
				t.Errorf("SBC call ended by %q, want the client's BYE relayed", sbc.EndedBy)
			}
			waitMetric(t, lab, 1, "mediationserver_media_bypass_calls_total", "direction", "outbound")
			waitMetric(t, lab, 0, "mediationserver_media_bypass_calls_active", "direction", "outbound")
			waitMetric(t, lab, 0, "mediationserver_calls_current", "direction", "outbound")
			waitMetric(t, lab, 0, "mediationserver_gateway_side_port_pairs_open")
		})
	}
}

func TestOutboundAnchoredTranscodes(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			// The SBC only takes PCMA; the client only offers PCMU: the relay transcodes.
			lab := mediationtest.Start(t, mediationtest.Options{GatewayTransport: tr,
				SBC: endpoint.SBCConfig{Codecs: []string{"PCMA"}, ToneHz: sbcHz}})
			client := startClient(t, ctx, "", "PCMU")
			rep, sbc := callOut(ctx, t, lab, client, tr)
			offer := media(t, "offer to the SBC", sbc.OfferSDP)
			answer := media(t, "answer to the client", rep.AnswerSDP)
			if offer.RTP() == rep.MediaLocal || answer.RTP() == sbc.MediaLocal {
				t.Fatalf("anchored call leaks a peer's address: SBC offered %s, client answered %s", offer.RTP(), answer.RTP())
			}
			if answer.BypassID != "" {
				t.Error("anchored answer carries a=x-bypassid")
			}
			// RTP reaches each peer from the mediation server's own port on that side.
			if sbc.MediaFrom != offer.RTP() {
				t.Errorf("SBC got media from %s, want the server's gateway-side port %s", sbc.MediaFrom, offer.RTP())
			}
			if rep.MediaFrom != answer.RTP() {
				t.Errorf("client got media from %s, want the server's edge-side port %s", rep.MediaFrom, answer.RTP())
			}
			if rep.Codec != "PCMU" || sbc.Codec != "PCMA" || sbc.ReceivedPT != 8 || rep.ReceivedPT != 0 {
				t.Errorf("codecs: client %s (got PT %d), SBC %s (got PT %d); want PCMU/0 and PCMA/8",
					rep.Codec, rep.ReceivedPT, sbc.Codec, sbc.ReceivedPT)
			}
			checkTone(t, "SBC", sbc.DetectedHz, clientHz)
			checkTone(t, "client", rep.DetectedHz, sbcHz)
			if sbc.PacketsReceived < 20 || rep.PacketsReceived < 20 {
				t.Errorf("packets received: SBC %d, client %d", sbc.PacketsReceived, rep.PacketsReceived)
			}
			waitMetric(t, lab, 0, "mediationserver_media_bypass_calls_total", "direction", "outbound")
			waitMetric(t, lab, 1, "mediationserver_calls_total", "direction", "outbound")
			waitMetric(t, lab, 0, "mediationserver_gateway_side_port_pairs_open")
		})
	}
}

func TestInbound(t *testing.T) {
	for _, tr := range transports {
		for _, bypass := range []bool{true, false} {
			name := tr + "/anchored"
			id := ""
			if bypass {
				name, id = tr+"/bypass", mediationtest.DefaultBypassID
			}
			t.Run(name, func(t *testing.T) {
				ctx := testCtx(t, 30*time.Second)
				lab := mediationtest.Start(t, mediationtest.Options{EdgeTransport: tr, ClientBypassID: id,
					SBC: endpoint.SBCConfig{ToneHz: sbcHz}})
				sbc, err := lab.SBC.Call(ctx, endpoint.CallOptions{Target: lab.Server.GatewayAddr(), Transport: tr,
					To: "+15550111", From: "+15550100", Duration: time.Second})
				if err != nil || sbc.Code != 200 {
					t.Fatalf("call: code %d, err %v, report err %v", sbc.Code, err, sbc.Err)
				}
				client, err := lab.Client.NextCall(ctx)
				if err != nil {
					t.Fatal(err)
				}
				toClient := media(t, "offer to the client", client.OfferSDP)
				toSBC := media(t, "answer to the SBC", sbc.AnswerSDP)
				if !toClient.HasBypassID(mediationtest.DefaultBypassID) {
					t.Error("offer to the client lacks a=x-bypassid")
				}
				if len(toClient.Candidates) == 0 || toClient.Candidates[0].Addr != sbc.MediaLocal {
					t.Errorf("first candidate offered to the client is not the SBC's media %s:\n%s", sbc.MediaLocal, client.OfferSDP)
				}
				if client.BypassAnswered != bypass {
					t.Errorf("client answered with bypass ID: %v, want %v", client.BypassAnswered, bypass)
				}
				if bypass {
					if toSBC.RTP() != client.MediaLocal {
						t.Errorf("SBC told %s, want the client's media %s", toSBC.RTP(), client.MediaLocal)
					}
					if sbc.MediaFrom != client.MediaLocal || client.MediaFrom != sbc.MediaLocal {
						t.Errorf("media not direct: SBC from %s, client from %s", sbc.MediaFrom, client.MediaFrom)
					}
				} else {
					if toSBC.RTP() == client.MediaLocal || toClient.RTP() == sbc.MediaLocal {
						t.Errorf("anchored call leaks a peer's address")
					}
					if sbc.MediaFrom != toSBC.RTP() || client.MediaFrom != toClient.RTP() {
						t.Errorf("media not through the server: SBC from %s (want %s), client from %s (want %s)",
							sbc.MediaFrom, toSBC.RTP(), client.MediaFrom, toClient.RTP())
					}
				}
				checkTone(t, "SBC", sbc.DetectedHz, clientHz)
				checkTone(t, "client", client.DetectedHz, sbcHz)
				want := 0.0
				if bypass {
					want = 1
				}
				waitMetric(t, lab, want, "mediationserver_media_bypass_calls_total", "direction", "inbound")
				waitMetric(t, lab, 1, "mediationserver_calls_total", "direction", "inbound")
				waitMetric(t, lab, 0, "mediationserver_calls_current", "direction", "inbound")
				waitMetric(t, lab, 0, "mediationserver_gateway_side_port_pairs_open")
			})
		}
	}
}
