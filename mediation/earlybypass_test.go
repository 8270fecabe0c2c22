package mediation_test

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestInboundEarlyBypassKept: an inbound call whose client answers its 183
// with our bypass ID (the SBC gets the client's own address there) and its
// 200, in the same early dialog, without it stays bypassed: the SBC keeps
// the first answer (RFC 3261 §13.2.1), so the relay's address in our 200
// would have been ignored and the client, expecting the relay, got no
// audio (r25-bypass F1). The 200 passes the client's new answer on (its
// new port, a new SDP version), the record and log say bypass, and the
// relay's ports are released. Another fork answering 200 without the ID
// is another early dialog: that one is anchored, as before.
func TestInboundEarlyBypassKept(t *testing.T) {
	withID := func(b []byte, id string) []byte {
		return bytes.Replace(b, []byte("a=ptime"), []byte("a=x-bypassid:"+id+"\r\na=ptime"), 1)
	}
	for _, tc := range []struct {
		name string
		fork string // the To-tag of the 200, "" for the 183's own
	}{{"same early dialog", ""}, {"another fork", "forkB"}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			sbc, edge := startPeer(t, "sbc"), startPeer(t, "edge")
			early, late := sockPort(rtpSock(t)), sockPort(rtpSock(t))
			logs := new(syncBuffer)
			cfg := labConfig(sbc.addr(), "udp")
			cfg.Edge.Peer = edge.addr().String()
			srv := mediationtest.Serve(t, cfg, zerolog.New(logs).Level(zerolog.InfoLevel))
			id := srv.Settings().BypassID
			edge.invites(func(pi *peerInvite) {
				pi.respond(183, withID(loopSDP(early, "sendrecv", true, "PCMA"), id))
				if tc.fork != "" {
					pi.tag = tc.fork
				}
				pi.respond(200, loopSDP(late, "sendrecv", true, "PCMU", "PCMA"))
			})
			oc := sbc.call(ctx, srv.GatewayAddr(), "udp", loopSDP(sockPort(rtpSock(t)), "sendrecv", true, "PCMU", "PCMA"))
			res := oc.answer(ctx, nil)
			if res.StatusCode != 200 {
				t.Fatalf("SBC got %d", res.StatusCode)
			}
			if err := oc.d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
			provisional := sbc.wireResponses(string(*oc.inv.CallID()), 183)
			if len(provisional) != 1 {
				t.Fatalf("SBC got %d 183s, want 1", len(provisional))
			}
			first, final := media(t, "183", provisional[0].Body()), media(t, "200", res.Body())
			client := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(early))
			if first.RTP() != client {
				t.Fatalf("183 names %s, want the client's %s (bypassed)", first.RTP(), client)
			}
			calls := srv.Calls()
			if len(calls) != 1 {
				t.Fatalf("%d calls in progress, want 1", len(calls))
			}
			if tc.fork != "" {
				// Its own early dialog: anchored on the relay.
				if final.RTP().Port() == uint16(late) || final.RTP().Port() == uint16(early) {
					t.Errorf("other fork's 200 names %s, want the relay", final.RTP())
				}
				if calls[0].MediationServerBypass {
					t.Errorf("record bypass=true (%s), want the other fork anchored", calls[0].BypassReason)
				}
			} else {
				client = netip.AddrPortFrom(client.Addr(), uint16(late))
				if final.RTP() != client {
					t.Errorf("200 names %s, want the client's new %s: the call stays bypassed", final.RTP(), client)
				}
				if final.OriginVersion != first.OriginVersion+1 || final.OriginSessionID != first.OriginSessionID {
					t.Errorf("200's o= %d %d after the 183's %d %d, want the next version of the same session",
						final.OriginSessionID, final.OriginVersion, first.OriginSessionID, first.OriginVersion)
				}
				if final.BypassID != "" || len(final.Candidates) != 0 || len(final.G711()) != 1 || final.G711()[0].Name != "PCMU" {
					t.Errorf("200 to the SBC: %s, want the client's PCMU alone, without SfB attributes", res.Body())
				}
				if !calls[0].MediationServerBypass || calls[0].BypassReason != "id_matched" {
					t.Errorf("record bypass=%v reason %q, want true, id_matched", calls[0].MediationServerBypass, calls[0].BypassReason)
				}
				mediationtest.WaitMetric(t, srv, 0, "mediationserver_media_port_pairs_in_use")
				answered, kept := false, false
				for _, l := range logs.lines() {
					switch l["message"] {
					case "call answered":
						answered = l["bypass"] == true
					case "the client's new answer does not choose bypass, but the gateway already sends to the client: the call stays bypassed":
						kept = l["level"] == "info" && l["reason"] == "no_id"
					case "media bypass decision":
						if l["bypass"] != true {
							t.Errorf("decision logged: %v", l)
						}
					}
				}
				if !answered || !kept {
					t.Errorf("log: call answered bypassed %v, stays-bypassed line %v; want both\n%s", answered, kept, logs)
				}
			}
			if err := oc.d.Bye(ctx); err != nil {
				t.Fatalf("BYE: %v", err)
			}
			edge.wait(ctx, gosip.BYE, 1)
			waitCalls(t, srv, 0)
		})
	}
}
