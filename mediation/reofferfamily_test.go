package mediation_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// anchoredCall sets up an anchored call from a raw caller to a raw SBC,
// whose re-INVITEs answer decides (code 0: no response), with call
// records; it returns the caller's dialog and the records' path.
func anchoredCall(ctx context.Context, t *testing.T, answer func(n int, req *gosip.Request) (int, []byte), configure ...func(*mediation.Config)) (caller, sbc *peer, srv *mediation.Server, oc *outCall, records string) {
	t.Helper()
	sbc = startPeer(t, "sbc")
	var n atomic.Int32
	sbc.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		if code, body := answer(int(n.Add(1)), req); code != 0 {
			sbc.reply(req, tx, code, body)
		}
	})
	records = t.TempDir() + "/calls.jsonl"
	srv = serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
		c.Records.Path = records
		c.Media.IP = "127.0.0.1"
		for _, f := range configure {
			f(c)
		}
	})
	caller = startPeer(t, "caller")
	// No bypass ID: anchored.
	oc = caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("call got %d", res.StatusCode)
	}
	if err := oc.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	ackTaken(ctx, t, oc)
	return caller, sbc, srv, oc, records
}

// hangUpAndCheck ends the call from the caller and checks that this BYE,
// not a failed rollback, ended it.
func hangUpAndCheck(ctx context.Context, t *testing.T, sbc *peer, srv *mediation.Server, oc *outCall, records string) {
	t.Helper()
	if err := oc.d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	sbc.wait(ctx, gosip.BYE, 1)
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
	if recs := readRecords(t, records); len(recs) != 1 || recs[0].EndReason != "bye from edge" {
		t.Fatalf("records %+v, want one ended by the caller's BYE", recs)
	}
}

// TestReofferOtherFamilyRefused: in an anchored call with an IPv4
// media.ip, a re-offer at an IPv6 address (a client moved to an IPv6
// network, a hold from there; an SBC moved) is refused 488 before the other
// peer is asked, and the call goes on as it was. It used to be relayed, or
// the relay was pointed at an address it cannot reach.
func TestReofferOtherFamilyRefused(t *testing.T) {
	toIPv6 := func(body []byte) string {
		s := bumpVersion(t, string(body))
		s = strings.ReplaceAll(s, "IN IP4 203.0.113.10", "IN IP6 ::1")
		return strings.ReplaceAll(s, "IN IP4 127.0.0.1", "IN IP6 ::1")
	}
	for _, tt := range []struct {
		name  string
		offer func() []byte
	}{
		{"client moves", func() []byte { return []byte(toIPv6(fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))) }},
		{"client holds", func() []byte { return []byte(toIPv6(fixtureBody(t, "hold-offer.sdp"))) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			_, sbc, srv, oc, records := anchoredCall(ctx, t, func(int, *gosip.Request) (int, []byte) {
				return 200, fixtureBody(t, "sbc-answer-pcma.sdp")
			})
			reinvite := callerReinvites(t, oc)
			res := reinvite(ctx, tt.offer())
			if res.StatusCode != 488 || !strings.Contains(valueOf(res.GetHeader("Warning")), "address family") {
				t.Fatalf("IPv6 re-offer got %d (Warning %q), want 488 about the address family", res.StatusCode, valueOf(res.GetHeader("Warning")))
			}
			// The call is as it was: an IPv4 hold goes through to the SBC.
			if res := reinvite(ctx, fixtureBody(t, "hold-offer.sdp")); res.StatusCode != 200 {
				t.Fatalf("hold after the refused re-offer got %d", res.StatusCode)
			}
			if n := sbc.count(gosip.INVITE); n != 2 {
				t.Errorf("the SBC got %d INVITEs, want the call's and the IPv4 hold's", n)
			}
			hangUpAndCheck(ctx, t, sbc, srv, oc, records)
		})
	}
	t.Run("SBC moves", func(t *testing.T) {
		ctx := testCtx(t, 20*time.Second)
		sbc := startPeer(t, "sbc")
		calls := make(chan *peerInvite, 1)
		sbc.invites(func(pi *peerInvite) {
			pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
			calls <- pi
		})
		cfg := labConfig(sbc.addr(), "udp")
		cfg.Media.IP = "127.0.0.1"
		logs := new(syncBuffer)
		srv := mediationtest.Serve(t, cfg, zerolog.New(logs).Level(zerolog.WarnLevel))
		caller := startPeer(t, "caller")
		oc := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp")) // anchored
		if res := oc.answer(ctx, nil); res.StatusCode != 200 {
			t.Fatalf("call got %d", res.StatusCode)
		}
		if err := oc.d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
		ackTaken(ctx, t, oc)
		pi := <-calls
		sbc.wait(ctx, gosip.ACK, 1)
		res := calleeReinvites(t, sbc, pi)(ctx, []byte(toIPv6(fixtureBody(t, "sbc-answer-pcma.sdp"))))
		if res.StatusCode != 488 || !strings.Contains(valueOf(res.GetHeader("Warning")), "address family") {
			t.Fatalf("SBC's IPv6 re-offer got %d (Warning %q), want 488 about the address family", res.StatusCode, valueOf(res.GetHeader("Warning")))
		}
		if n := caller.count(gosip.INVITE); n != 0 {
			t.Errorf("the client got %d re-INVITEs, want none", n)
		}
		// The re-offer is refused, not the call: the first offer's
		// "anchored call refused" line would mislead.
		if l := logs.String(); strings.Contains(l, "anchored call refused") || !strings.Contains(l, "re-offer refused") {
			t.Errorf("log of the refused re-offer:\n%s\nwant \"re-offer refused\", not \"anchored call refused\"", l)
		}
		_ = oc.d.Bye(ctx)
		sbc.wait(ctx, gosip.BYE, 1)
	})
}
