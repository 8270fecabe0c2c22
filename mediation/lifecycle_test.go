package mediation_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
	"github.com/mediation-emulator/mediation/sdp"
)

// stoppableServer runs a server towards sbc that the test stops itself
// (mediationtest.Serve stops it only at cleanup): stop cancels Run, and
// stopped returns Run's result.
func stoppableServer(ctx context.Context, t *testing.T, sbc *endpoint.SBC, records string) (srv *mediation.Server, stop func(), stopped func() error) {
	t.Helper()
	return stoppableServerWith(ctx, t, sbc.Addr().String(), records)
}

// stoppableServerTo is stoppableServer towards any gateway address.
func stoppableServerTo(ctx context.Context, t *testing.T, gateway string) (srv *mediation.Server, stop func(), stopped func() error) {
	t.Helper()
	return stoppableServerWith(ctx, t, gateway, "")
}

func stoppableServerWith(ctx context.Context, t *testing.T, gateway, records string) (srv *mediation.Server, stop func(), stopped func() error) {
	t.Helper()
	cfg := mediation.DefaultConfig()
	cfg.Edge.Listen, cfg.GatewayListen, cfg.HTTPListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Admin.Listen = "127.0.0.1:0"
	cfg.Gateways[0].Address = gateway
	cfg.Records.Path = records
	srv, err := mediation.NewServer(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatal(err)
	}
	return srv, cancel, func() error {
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// TestShutdownEndsCalls stops a server with a call up: both legs get a BYE
// and Run returns nil.
func TestShutdownEndsCalls(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc, err := endpoint.StartSBC(ctx, endpoint.SBCConfig{Listen: "127.0.0.1:0", MediaIP: loopback, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer sbc.Close()
	records := t.TempDir() + "/calls.jsonl"
	srv, stop, stopped := stoppableServer(ctx, t, sbc, records)
	client := startClient(t, ctx, mediationtest.DefaultBypassID)
	calls := make(chan endpoint.CallReport, 1)
	go func() {
		rep, _ := client.Call(ctx, endpoint.CallOptions{Target: srv.EdgeAddr(), WaitRemoteHangup: true})
		calls <- rep
	}()
	for srv.ActiveCalls() == 0 || !answered(t, srv) {
		if ctx.Err() != nil {
			t.Fatal("call never answered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if err := stopped(); err != nil {
		t.Fatalf("Run returned %v", err)
	}
	rep := <-calls
	if rep.Code != 200 || rep.EndedBy != endpoint.EndedRemoteBye {
		t.Fatalf("client: %d, ended by %q; want a BYE from the server", rep.Code, rep.EndedBy)
	}
	sbcRep, err := sbc.NextCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sbcRep.EndedBy != endpoint.EndedRemoteBye {
		t.Fatalf("SBC: ended by %q; want a BYE from the server", sbcRep.EndedBy)
	}
	// The call's record was written before Run returned.
	if recs := readRecords(t, records); len(recs) != 1 || recs[0].EndReason != "shutdown" {
		t.Fatalf("records after shutdown: %+v", recs)
	}
}

func answered(t *testing.T, srv *mediation.Server) bool {
	v, err := mediationtest.Metric(srv, "mediationserver_media_bypass_calls_active", "direction", "outbound")
	return err == nil && v == 1
}

// TestUnreachableGateway: a TCP gateway that refuses connections gives the
// caller 503.
func TestUnreachableGateway(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	lab := mediationtest.Start(t, mediationtest.Options{Configure: func(c *mediation.Config) {
		c.Gateways[0].Address = closed
		c.Gateways[0].Transport = "tcp"
	}})
	client := startClient(t, ctx, "")
	rep, err := client.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Code != 503 {
		t.Fatalf("got %d, want 503", rep.Code)
	}
	waitMetric(t, lab, 0, "mediationserver_gateway_side_port_pairs_open")
	waitMetric(t, lab, 0, "mediationserver_calls_current", "direction", "outbound")
}

// TestSilentGatewayTimesOut: a gateway that never answers gives the caller
// 408 after 64*T1 (Timer B; sip.t1 is short here).
func TestSilentGatewayTimesOut(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	hole, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	lab := mediationtest.Start(t, mediationtest.Options{Configure: func(c *mediation.Config) {
		c.Gateways[0].Address = hole.LocalAddr().String()
		c.SIP.T1 = 20 * time.Millisecond
	}})
	client := startClient(t, ctx, "")
	start := time.Now()
	rep, err := client.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr()})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 64*20*time.Millisecond {
		t.Errorf("408 after %v, before 64*T1", d)
	}
	if rep.Code != 408 {
		t.Fatalf("got %d, want 408", rep.Code)
	}
	waitMetric(t, lab, 1, "mediationserver_failed_calls_total", "direction", "outbound", "reason", "timeout")
}

// TestHoldResume: hold and resume re-INVITEs from either side are relayed
// to the other side with rewritten SDP; the call and its relay ports stay.
func TestHoldResume(t *testing.T) {
	tests := []struct {
		from    string // who sends the re-INVITEs
		fixture string
	}{
		{"client", "sfb-edge-srtp-optional-offer.sdp"}, // no bypass ID: anchored
		{"client, bypassed", "sfb-bypass-offer.sdp"},   // the call stays bypassed
		{"SBC", "sbc-offer-pcma-pcmu.sdp"},             // the edge peer answers without a bypass ID: anchored
	}
	for _, tt := range tests {
		t.Run(tt.from, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			lab := mediationtest.Start(t, mediationtest.Options{})
			target := lab.Server.EdgeAddr()
			if tt.from == "SBC" {
				target = lab.Server.GatewayAddr()
			}
			offer := fixtureBody(t, tt.fixture)
			d := answeredCall(ctx, t, nil, request(gosip.INVITE, target.String(), "udp", offer))
			first := media(t, "first answer", d.InviteResponse.Body())
			reinvite := func(body string) sdp.Media {
				t.Helper()
				re := gosip.NewRequest(gosip.INVITE, d.InviteResponse.Contact().Address)
				re.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
				re.SetBody([]byte(body))
				res, err := d.Do(ctx, re)
				if err != nil {
					t.Fatal(err)
				}
				if res.StatusCode != 200 {
					t.Fatalf("re-INVITE got %d %s", res.StatusCode, res.Reason)
				}
				if err := d.WriteRequest(gosip.NewRequest(gosip.ACK, d.InviteResponse.Contact().Address)); err != nil {
					t.Fatal(err)
				}
				return media(t, "re-INVITE answer", res.Body())
			}
			held := reinvite(strings.Replace(string(offer), "a=sendrecv", "", 1) + "a=sendonly\n")
			if held.RTP() != first.RTP() || held.OriginVersion != first.OriginVersion+1 || held.OriginSessionID != first.OriginSessionID {
				t.Fatalf("hold answer %s v%d, want the same relay port %s and version %d", held.RTP(), held.OriginVersion, first.RTP(), first.OriginVersion+1)
			}
			if held.Direction != sdp.RecvOnly {
				t.Errorf("hold answered %s, want the far side's recvonly relayed", held.Direction)
			}
			if bypassed := strings.Contains(tt.from, "bypassed"); bypassed != held.HasBypassID(mediationtest.DefaultBypassID) ||
				bypassed != first.HasBypassID(mediationtest.DefaultBypassID) {
				t.Errorf("a=x-bypassid in the first answer %v and the hold answer %v, want %v", first.BypassID, held.BypassID, bypassed)
			}
			resumed := reinvite(string(offer))
			if resumed.RTP() != first.RTP() || resumed.Direction != sdp.SendRecv {
				t.Fatalf("resume answer %s %s", resumed.RTP(), resumed.Direction)
			}
			if n := lab.Server.ActiveCalls(); n != 1 {
				t.Fatalf("%d calls after hold and resume", n)
			}
			if err := d.Bye(ctx); err != nil {
				t.Fatal(err)
			}
			var far endpoint.CallReport
			var err error
			if tt.from == "SBC" {
				far, err = lab.Client.NextCall(ctx)
			} else {
				far, err = lab.SBC.NextCall(ctx)
			}
			if err != nil {
				t.Fatal(err)
			}
			if far.Code != 200 || far.EndedBy != endpoint.EndedRemoteBye {
				t.Fatalf("far side: %d ended by %s", far.Code, far.EndedBy)
			}
			if len(far.ReInvites) != 2 || far.ReInvites[0] != "sendonly" || far.ReInvites[1] != "sendrecv" {
				t.Fatalf("far side saw re-INVITEs %v, want [sendonly sendrecv]", far.ReInvites)
			}
			mediationtest.WaitMetric(t, lab.Server, 0, "mediationserver_gateway_side_port_pairs_open")
		})
	}
}

// TestRetransmittedInviteIsOneCall replays a caller's INVITE while its call
// is up: byte for byte (absorbed by its transaction), then from another
// host with a new Via branch, a merged request (RFC 3261 §8.2.2.2) that
// reaches the call: it gets 482 Loop Detected, and no second call is made.
func TestRetransmittedInviteIsOneCall(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			lab := mediationtest.Start(t, mediationtest.Options{})
			inv := request(gosip.INVITE, lab.Server.EdgeAddr().String(), tr, fixtureBody(t, "sfb-bypass-offer.sdp"))
			d := answeredCall(ctx, t, nil, inv)
			// The same INVITE again, from another socket, after its transaction is over.
			conn, err := net.Dial(tr, lab.Server.EdgeAddr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write([]byte(inv.String())); err != nil {
				t.Fatal(err)
			}
			// The same INVITE by another path: its own Via (so the answer
			// comes back here) and branch.
			merged, err := net.Dial(tr, lab.Server.EdgeAddr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer merged.Close()
			via := fmt.Sprintf("SIP/2.0/%s %s;branch=%s", strings.ToUpper(tr), merged.LocalAddr(), gosip.GenerateBranch())
			replay := inv.Clone()
			replay.RemoveHeader("Via")
			replay.PrependHeader(gosip.NewHeader("Via", via))
			if _, err := merged.Write([]byte(replay.String())); err != nil {
				t.Fatal(err)
			}
			_ = merged.SetReadDeadline(time.Now().Add(10 * time.Second))
			if res := readResponse(t, merged, bufio.NewReader(merged), tr); res.StatusCode != 482 {
				t.Fatalf("the merged INVITE got %d %s, want 482", res.StatusCode, res.Reason)
			}
			// An OPTIONS on the same path proves the replay was read before we count.
			opt := request(gosip.OPTIONS, lab.Server.EdgeAddr().String(), tr, nil)
			if res, err := sipClient(t).Do(ctx, opt); err != nil || res.StatusCode != 200 {
				t.Fatalf("OPTIONS: %v %v", res, err)
			}
			mediationtest.WaitMetric(t, lab.Server, 1, "mediationserver_calls_total", "direction", "outbound")
			if n := lab.Server.ActiveCalls(); n != 1 {
				t.Fatalf("%d calls up, want 1", n)
			}
			if err := d.Bye(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := lab.SBC.NextCall(ctx); err != nil {
				t.Fatal(err)
			}
			mediationtest.WaitMetric(t, lab.Server, 0, "mediationserver_calls_current", "direction", "outbound")
			mediationtest.WaitMetric(t, lab.Server, 1, "mediationserver_calls_total", "direction", "outbound")
		})
	}
}

// TestMaxCalls: a call over max_calls gets 503 with Retry-After, and the
// calls in progress are not disturbed.
func TestMaxCalls(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	lab := mediationtest.Start(t, mediationtest.Options{SBC: endpoint.SBCConfig{NoAnswer: true},
		Configure: func(c *mediation.Config) { c.MaxCalls = 1 }})
	first := startClient(t, ctx, "")
	ringing, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan endpoint.CallReport, 1)
	go func() {
		rep, _ := first.Call(ringing, endpoint.CallOptions{Target: lab.Server.EdgeAddr()})
		done <- rep
	}()
	mediationtest.WaitMetric(t, lab.Server, 1, "mediationserver_calls_current", "direction", "outbound")
	res, err := sipClient(t).Do(ctx, request(gosip.INVITE, lab.Server.EdgeAddr().String(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp")))
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 503 || res.GetHeader("Retry-After") == nil {
		t.Fatalf("second call got %d %s, want 503 with Retry-After", res.StatusCode, res.Reason)
	}
	mediationtest.WaitMetric(t, lab.Server, 1, "mediationserver_failed_calls_total", "direction", "outbound", "reason", "overload")
	stop() // the first caller gives up: CANCEL
	if rep := <-done; rep.Code != 487 {
		t.Fatalf("first call ended with %d, want 487 after its CANCEL", rep.Code)
	}
}

// TestShutdownCancelsRingingCalls: a call still ringing when the server
// stops is CANCELled towards the SBC and its caller gets 503.
func TestShutdownCancelsRingingCalls(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc, err := endpoint.StartSBC(ctx, endpoint.SBCConfig{Listen: "127.0.0.1:0", MediaIP: loopback, NoAnswer: true, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer sbc.Close()
	srv, stop, stopped := stoppableServer(ctx, t, sbc, "")
	client := startClient(t, ctx, "")
	calls := make(chan endpoint.CallReport, 1)
	go func() {
		rep, _ := client.Call(ctx, endpoint.CallOptions{Target: srv.EdgeAddr()})
		calls <- rep
	}()
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_calls_current", "direction", "outbound")
	stop()
	if err := stopped(); err != nil {
		t.Fatalf("Run returned %v", err)
	}
	if rep := <-calls; rep.Code != 503 {
		t.Fatalf("ringing caller got %d, want 503", rep.Code)
	}
	sbcRep, err := sbc.NextCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sbcRep.EndedBy != endpoint.EndedCancel {
		t.Fatalf("SBC call ended by %q, want a CANCEL", sbcRep.EndedBy)
	}
}

// TestDrainingRefusesCalls: while a shutdown waits for a call to end, new
// INVITEs and OPTIONS get 503 with Retry-After and /healthz answers 503. The call that
// holds the drain is answered by a gateway that then answers nothing, not
// even our BYE, nor does the caller: the call waits for its BYEs' answers
// (up to 2*4 s + 1 s). (A ringing call would not hold it: it ends at once
// with its CANCEL sent, without waiting for the 487.)
func TestDrainingRefusesCalls(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 60*time.Second)
	hole, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	sbcAnswer := fixtureBody(t, "sbc-answer-pcma.sdp")
	rang := make(chan struct{})
	go func() {
		buf := make([]byte, 65535)
		rung := false
		for {
			n, from, err := hole.ReadFrom(buf)
			if err != nil {
				return
			}
			m, err := gosip.ParseMessage(append([]byte(nil), buf[:n]...))
			req, ok := m.(*gosip.Request)
			if err != nil || !ok || !req.IsInvite() || rung {
				continue // CANCEL, retransmissions: never answered
			}
			answer := gosip.NewResponseFromRequest(req, 200, "OK", sbcAnswer)
			answer.To().Params.Add("tag", "answered")
			answer.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
			answer.AppendHeader(&gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: hole.LocalAddr().(*net.UDPAddr).Port}})
			_, _ = hole.WriteTo([]byte(answer.String()), from)
			close(rang)
			rung = true
		}
	}()
	srv, stop, stopped := stoppableServerTo(ctx, t, hole.LocalAddr().String())
	caller, inv := sipClient(t), request(gosip.INVITE, srv.EdgeAddr().String(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"))
	go caller.Do(ctx, inv) // answered; its BYE never is: it holds the drain
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_calls_current", "direction", "outbound")
	select {
	case <-rang:
	case <-ctx.Done():
		t.Fatal("the gateway never got the INVITE")
	}
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_media_bypass_calls_active", "direction", "outbound")
	stop()
	waitDraining(ctx, t, srv)
	if res, err := http.Get(mediationtest.URL(srv, "/readyz")); err != nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz while draining: %v %v, want 503", res, err)
	} else {
		res.Body.Close()
	}
	http.DefaultClient.CloseIdleConnections()
	// From a peer with a listening socket: a bare sipgo client's socket
	// may be closed under it before the answer comes (its reference
	// count goes negative under load).
	probe := startPeer(t, "probe").stack.Client("udp")
	res, err := probe.Do(ctx, request(gosip.INVITE, srv.EdgeAddr().String(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp")))
	if err != nil || res.StatusCode != 503 || res.GetHeader("Retry-After") == nil {
		t.Fatalf("INVITE while draining: %v %v, want 503 with Retry-After", res, err)
	}
	// A load balancer's OPTIONS probe is told too.
	res, err = probe.Do(ctx, request(gosip.OPTIONS, srv.EdgeAddr().String(), "udp", nil))
	if err != nil || res.StatusCode != 503 || res.GetHeader("Retry-After") == nil {
		t.Fatalf("OPTIONS while draining: %v %v, want 503 with Retry-After", res, err)
	}
	if err := stopped(); err != nil {
		t.Fatalf("Run returned %v", err)
	}
}

// TestEndedCallReleased: once a call has ended nothing keeps it in memory,
// although sipgo keeps its transactions for up to 32 s after (an answered
// INVITE's for Timer M, a BYE's for Timer J): at a high call rate,
// transactions holding whole calls were most of the heap.
func TestEndedCallReleased(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc := startPeer(t, "sbc")
	srv := serveTo(t, sbc.addr(), "udp", nil)
	client := startClient(t, ctx, "")
	done := make(chan error, 1)
	go func() {
		rep, err := client.Call(ctx, endpoint.CallOptions{Target: srv.EdgeAddr(), To: "+15550100", From: "+15550111", Duration: 300 * time.Millisecond})
		if err == nil && rep.Code != 200 {
			err = fmt.Errorf("call answered %d", rep.Code)
		}
		done <- err
	}()
	var alive func() bool
	for alive == nil {
		if calls := srv.WeakCalls(); len(calls) > 0 {
			w := calls[0]
			alive = func() bool { return w.Value() != nil }
		}
		select {
		case <-ctx.Done():
			t.Fatal("the call never started")
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitCalls(t, srv, 0)
	// Well under 64*T1 (32 s), how long a lingering transaction would keep it.
	released := time.After(5 * time.Second)
	for alive() {
		runtime.GC()
		select {
		case <-released:
			t.Fatal("the ended call is still in memory 5 s after it ended")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestLeaveRotation: an idle server stopped with sip.leave_rotation keeps
// its SIP listeners open that long, answering a load balancer's OPTIONS
// 503 with Retry-After, before it stops answering: it closed them at
// once, so a pool proxy (probing each second) never saw it leave and sent
// it its next call, which waited for the proxy's own timer (r28-pool F4).
func TestLeaveRotation(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc := startPeer(t, "sbc")
	cfg := labConfig(sbc.addr(), "udp")
	cfg.SIP.LeaveRotation = 3 * time.Second
	srv, stop := runServer(t, cfg)
	probe := startPeer(t, "probe").stack.Client("udp")
	stopped := make(chan error, 1)
	start := time.Now()
	go func() { stopped <- stop() }()
	waitDraining(ctx, t, srv)
	http.DefaultClient.CloseIdleConnections()
	res, err := probe.Do(ctx, request(gosip.OPTIONS, srv.EdgeAddr().String(), "udp", nil))
	if err != nil || res.StatusCode != 503 || res.GetHeader("Retry-After") == nil {
		t.Fatalf("OPTIONS to the stopping idle server: %v %v, want 503 with Retry-After", res, err)
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Run returned %v", err)
		}
		if took := time.Since(start); took < cfg.SIP.LeaveRotation {
			t.Errorf("stopped after %v, before sip.leave_rotation (%v)", took, cfg.SIP.LeaveRotation)
		}
	case <-ctx.Done():
		t.Fatal("the server never stopped")
	}
}

// waitDraining returns once srv's /healthz says it is draining.
func waitDraining(ctx context.Context, t *testing.T, srv *mediation.Server) {
	t.Helper()
	for {
		res, err := http.Get(mediationtest.URL(srv, "/healthz"))
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusServiceUnavailable {
				return
			}
		}
		if ctx.Err() != nil {
			t.Fatal("/healthz never reported draining")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
