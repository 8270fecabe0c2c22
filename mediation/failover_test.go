package mediation_test

import (
	"bytes"
	"encoding/json"
	"net"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// failoverServer runs a server whose "+1" calls go to first, then to the
// backup peer; first is an address (a peer, a silent socket, a closed
// port). configure, if any, is applied last. It returns the server and its
// records file.
func failoverServer(t *testing.T, first netip.AddrPort, firstTransport string, backup *peer, configure ...func(*mediation.Config)) (*mediation.Server, string) {
	t.Helper()
	records := filepath.Join(t.TempDir(), "records.jsonl")
	srv := serveTo(t, backup.addr(), "udp", func(c *mediation.Config) {
		c.Gateways = []mediation.GatewayConfig{
			{Name: "first", Address: first.String(), Transport: firstTransport, Numbers: []string{"+1"}, Priority: 0},
			trunkConfig("backup", backup, 1, "+1"),
		}
		c.GatewayFailover.Timeout = 500 * time.Millisecond
		c.Records.Path = records
		for _, f := range configure {
			f(c)
		}
	})
	return srv, records
}

// silentUDP is a UDP address on ip that reads every datagram and answers
// none (a trunk that is gone: no ICMP is seen, see README Failover); heard
// counts the datagrams.
func silentUDP(t *testing.T, ip netip.Addr) (addr netip.AddrPort, heard *atomic.Int64) {
	t.Helper()
	silent, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	return silent.LocalAddr().(*net.UDPAddr).AddrPort(), countArrivals(silent)
}

// placeCall calls +15550100 through srv's edge side and returns the code.
func placeCall(t *testing.T, srv *mediation.Server) int {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	client := startClient(t, ctx, "")
	rep, err := client.Call(ctx, endpoint.CallOptions{Target: srv.EdgeAddr(), To: "+15550100", From: "+15550111", Duration: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	return rep.Code
}

// checkTried checks the last record's trunks.
func checkTried(t *testing.T, srv *mediation.Server, records string, want ...string) {
	t.Helper()
	waitCalls(t, srv, 0)
	recs := readRecords(t, records)
	if len(recs) == 0 {
		t.Fatal("no call record")
	}
	last := recs[len(recs)-1]
	if !reflect.DeepEqual(last.GatewaysTried, want) || last.Gateway != want[len(want)-1] {
		t.Errorf("record: gateway %q, tried %v; want %v", last.Gateway, last.GatewaysTried, want)
	}
}

// TestFailoverOn503: a 503 moves the call to the next trunk, unseen by
// the caller; its Retry-After keeps the trunk out of routing meanwhile.
func TestFailoverOn503(t *testing.T) {
	first, backup := startPeer(t, "first"), startPeer(t, "backup")
	first.invites(func(pi *peerInvite) { pi.respond(503, nil, gosip.NewHeader("Retry-After", "60")) })
	srv, records := failoverServer(t, first.addr(), "udp", backup)
	if code := placeCall(t, srv); code != 200 {
		t.Fatalf("caller got %d, want 200 from the backup trunk", code)
	}
	checkTried(t, srv, records, "first", "backup")
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_gateway_failovers_total", "gateway", "first", "reason", "503")
	// Resting: the next call goes straight to the backup.
	if code := placeCall(t, srv); code != 200 {
		t.Fatalf("second call got %d", code)
	}
	checkTried(t, srv, records, "backup")
	if n := first.count(gosip.INVITE); n != 1 {
		t.Errorf("the resting trunk got %d INVITEs, want 1", n)
	}
	mediationtest.WaitMetric(t, srv, 2, "mediationserver_gateway_attempts_total", "gateway", "backup")
}

// TestFailoverOn500WithoutRest: a 5xx without Retry-After fails over but
// leaves the trunk in routing.
func TestFailoverOn500WithoutRest(t *testing.T) {
	first, backup := startPeer(t, "first"), startPeer(t, "backup")
	first.invites(func(pi *peerInvite) { pi.respond(500, nil) })
	srv, records := failoverServer(t, first.addr(), "udp", backup)
	for range 2 {
		if code := placeCall(t, srv); code != 200 {
			t.Fatalf("caller got %d, want 200", code)
		}
		checkTried(t, srv, records, "first", "backup")
	}
	if n := first.count(gosip.INVITE); n != 2 {
		t.Errorf("first trunk got %d INVITEs, want 2", n)
	}
}

// TestNoFailoverOn486: busy is the callee's answer, not the trunk's
// failure: final, and the backup never hears of the call.
func TestNoFailoverOn486(t *testing.T) {
	first, backup := startPeer(t, "first"), startPeer(t, "backup")
	first.invites(func(pi *peerInvite) { pi.respond(486, nil) })
	srv, records := failoverServer(t, first.addr(), "udp", backup)
	if code := placeCall(t, srv); code != 486 {
		t.Fatalf("caller got %d, want 486", code)
	}
	checkTried(t, srv, records, "first")
	if n := backup.count(gosip.INVITE); n != 0 {
		t.Errorf("backup got %d INVITEs after a 486", n)
	}
}

// TestFailoverNoProvisional: a trunk that says nothing at all (not even
// 100 Trying) for gateway_failover.timeout is given up for the next one;
// the caller gets the backup's answer.
func TestFailoverNoProvisional(t *testing.T) {
	silent, heard := silentUDP(t, netip.MustParseAddr("127.0.0.1"))
	backup := startPeer(t, "backup")
	srv, records := failoverServer(t, silent, "udp", backup)
	start := time.Now()
	if code := placeCall(t, srv); code != 200 {
		t.Fatalf("caller got %d, want 200 from the backup trunk", code)
	}
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Errorf("answered after %v, before the failover timer", d)
	}
	if heard.Load() == 0 {
		t.Error("the silent trunk never got the INVITE")
	}
	checkTried(t, srv, records, "first", "backup")
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_gateway_failovers_total", "gateway", "first", "reason", "no_provisional")
}

// TestFailoverNoResponseBeforeTimer: when Timer B (64*T1: 1.28 s with
// sip.t1 20ms) ends the INVITE to a silent trunk before
// gateway_failover.timeout (2 s), the call fails over as it would have at
// that timer (reason timeout): the trunk sent no provisional and another
// candidate is left. Before, the caller got 408 and the backup
// never heard of the call (r28-trunks F2); also with sip.t1 100ms and the
// default 10 s timer, or T1 500ms and a 40 s one.
func TestFailoverNoResponseBeforeTimer(t *testing.T) {
	silent, _ := silentUDP(t, netip.MustParseAddr("127.0.67.40"))
	backup := startPeerOn(t, "backup", netip.MustParseAddrPort("127.0.67.41:0"), nil)
	srv, records := failoverServer(t, silent, "udp", backup, func(c *mediation.Config) {
		c.SIP.T1 = 20 * time.Millisecond // Timer B: 1.28 s
		c.GatewayFailover.Timeout = 2 * time.Second
	})
	if code := placeCall(t, srv); code != 200 {
		t.Fatalf("caller got %d, want 200 from the backup trunk (the first never answered)", code)
	}
	checkTried(t, srv, records, "first", "backup")
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_gateway_failovers_total", "gateway", "first", "reason", "timeout")
}

// TestFailoverClosedTCPPort: a TCP trunk whose port refuses connections
// fails over at once.
func TestFailoverClosedTCPPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	backup := startPeer(t, "backup")
	srv, records := failoverServer(t, closed, "tcp", backup)
	if code := placeCall(t, srv); code != 200 {
		t.Fatalf("caller got %d, want 200 from the backup trunk", code)
	}
	checkTried(t, srv, records, "first", "backup")
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_gateway_failovers_total", "gateway", "first", "reason", "unreachable")
}

// TestFailoverAllFail: when every trunk fails the caller gets the last
// failure, once.
func TestFailoverAllFail(t *testing.T) {
	first, backup := startPeer(t, "first"), startPeer(t, "backup")
	first.invites(func(pi *peerInvite) { pi.respond(503, nil) })
	backup.invites(func(pi *peerInvite) { pi.respond(502, nil) })
	srv, records := failoverServer(t, first.addr(), "udp", backup)
	if code := placeCall(t, srv); code != 502 {
		t.Fatalf("caller got %d, want the last trunk's 502", code)
	}
	checkTried(t, srv, records, "first", "backup")
}

// loggedFailoverServer runs a server whose "+1" calls go to the peer first,
// then to backup, and that logs at debug level into the buffer returned.
func loggedFailoverServer(t *testing.T, first, backup *peer) (*mediation.Server, *syncBuffer) {
	t.Helper()
	cfg := labConfig(backup.addr(), "udp")
	cfg.Gateways = []mediation.GatewayConfig{
		{Name: "first", Address: first.addr().String(), Transport: "udp", Numbers: []string{"+1"}, Priority: 0},
		trunkConfig("backup", backup, 1, "+1"),
	}
	logs := new(syncBuffer)
	return mediationtest.Serve(t, cfg, zerolog.New(logs).Level(zerolog.DebugLevel)), logs
}

// TestCallLogFields: every line of a call's log (the SIP trace aside, which
// has its own fields) carries its id, direction and caller's Call-ID;
// "call started" names the trunk; after a failover the lines name the new
// trunk, never the abandoned attempt's Call-ID, and no key appears twice
// in a line (the call's logger is rebuilt, not extended). The call is
// anchored: each attempt's relay logs through a copy of the call's logger.
func TestCallLogFields(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	first, backup := startPeer(t, "first"), startPeer(t, "backup")
	var firstCallID atomic.Value
	first.invites(func(pi *peerInvite) {
		firstCallID.Store(pi.req.CallID().Value())
		pi.respond(503, nil)
	})
	srv, logs := loggedFailoverServer(t, first, backup)
	client := startClient(t, ctx, "") // no bypass ID: anchored
	rep, err := client.Call(ctx, endpoint.CallOptions{Target: srv.EdgeAddr(), To: "+15550100", From: "+15550111", Duration: 200 * time.Millisecond})
	if err != nil || rep.Code != 200 {
		t.Fatalf("call: %d %v", rep.Code, err)
	}
	waitCalls(t, srv, 0)
	abandoned, _ := firstCallID.Load().(string)
	if abandoned == "" {
		t.Fatal("the first trunk got no INVITE")
	}

	raw := []byte(logs.String())
	var callID string
	var started, failedOver, relayLines int
	for line := range bytes.Lines(raw) {
		keys, fields := jsonKeys(t, line)
		id, _ := fields["call"].(string)
		if id == "" || fields["sip"] != nil {
			continue // the server's own lines; the SIP trace
		}
		if callID == "" {
			callID = id
		}
		for k, n := range keys {
			if n > 1 {
				t.Errorf("key %q %d times in %s", k, n, line)
			}
		}
		if id != callID || fields["direction"] != "outbound" || fields["a_call_id"] != rep.CallID {
			t.Errorf("call fields of %s: want call %s, outbound, a_call_id %s", line, callID, rep.CallID)
		}
		if fields["b_call_id"] == abandoned && failedOver > 0 && !(fields["component"] == "relay" && fields["gateway"] == "first") {
			// (The abandoned attempt's own relay, closing after the
			// failover, names its attempt: that line is about it.)
			t.Errorf("after the failover, the abandoned attempt's Call-ID in %s", line)
		}
		switch fields["message"] {
		case "call started":
			started++
			if fields["gateway"] != "first" || fields["from"] != "+15550111" || fields["to"] != "+15550100" {
				t.Errorf("call started: %s", line)
			}
		case "gateway trunk failed the call: trying the next trunk":
			failedOver++
		case "relay started":
			// One per attempt, the second after the failover: each
			// started before its INVITE had a Call-ID.
			relayLines++
			if want := []string{"first", "backup"}[min(failedOver, 1)]; fields["gateway"] != want || fields["b_call_id"] != nil {
				t.Errorf("relay line %d: %s; want gateway %s and no b_call_id", relayLines, line, want)
			}
		}
	}
	if started != 1 || failedOver != 1 || relayLines != 2 {
		t.Fatalf("%d call started, %d failover, %d relay started lines; want 1, 1 and 2", started, failedOver, relayLines)
	}
}

// jsonKeys counts the top-level keys of a JSON object line (zerolog writes
// a key twice when a logger's context and an event both carry it), and
// decodes it.
func jsonKeys(t *testing.T, line []byte) (map[string]int, map[string]any) {
	t.Helper()
	var fields map[string]any
	if err := json.Unmarshal(line, &fields); err != nil {
		t.Fatalf("log line %q: %v", line, err)
	}
	keys := map[string]int{}
	dec := json.NewDecoder(bytes.NewReader(line))
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys[k.(string)]++
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys, fields
}

// TestKeptRelayLogsNewTrunk: a call whose first trunk answered early (183
// with SDP) and then failed keeps its relay for the next trunk
// (replan); from the failover on, the relay's lines name the trunk the
// call is with, not the one that failed; each names our INVITE's Call-ID
// (b_call_id), which did not exist yet when the relay opened.
func TestKeptRelayLogsNewTrunk(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	first, backup := startPeer(t, "first"), startPeer(t, "backup")
	first.invites(func(pi *peerInvite) {
		pi.respond(183, loopSDP(sockPort(rtpSock(t)), "sendrecv", true, "PCMU"))
		pi.respond(503, nil)
	})
	backup.invites(func(pi *peerInvite) {
		pi.respond(200, loopSDP(sockPort(rtpSock(t)), "sendrecv", true, "PCMA"))
	})
	srv, logs := loggedFailoverServer(t, first, backup)
	oc := startPeer(t, "caller").call(ctx, srv.EdgeAddr(), "udp", loopSDP(sockPort(rtpSock(t)), "sendrecv", true, "PCMU", "PCMA"))
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("got %d", res.StatusCode)
	}
	_ = oc.d.Ack(ctx)
	_ = oc.d.Bye(ctx)
	backup.wait(ctx, gosip.BYE, 1)
	waitCalls(t, srv, 0)

	raw := []byte(logs.String())
	var failedOver bool
	var before, after int
	for line := range bytes.Lines(raw) {
		_, fields := jsonKeys(t, line)
		if fields["message"] == "gateway trunk failed the call: trying the next trunk" {
			failedOver = true
		}
		if fields["component"] != "relay" {
			continue
		}
		want := "first"
		if failedOver {
			want, after = "backup", after+1
		} else {
			before++
		}
		if fields["gateway"] != want {
			t.Errorf("relay line %s: want gateway %s", line, want)
		}
		if id, _ := fields["b_call_id"].(string); id == "" && fields["message"] != "relay started" && fields["message"] != "media timeout suspension changed" {
			// Those two come as the relay opens, before our INVITE.
			t.Errorf("relay line %s: no b_call_id", line)
		}
	}
	if !failedOver || before == 0 || after == 0 {
		t.Fatalf("failover logged %v; %d relay lines before it, %d after: want some of each", failedOver, before, after)
	}
}

// TestFailoverOffersTheCallersLatestSDP: a bypassed client that moved its
// media by an early UPDATE with the first trunk is offered to the next
// trunk at its UPDATE's address: the next trunk was offered the INVITE's
// SDP, an address the client had left, so its media went nowhere.
func TestFailoverOffersTheCallersLatestSDP(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	s1, s2, c1, c2 := rtpSock(t), rtpSock(t), rtpSock(t), rtpSock(t)
	firstAnswer := loopSDP(sockPort(s1), "sendrecv", true, "PCMU")
	updated := make(chan struct{})
	first, backup := startPeer(t, "first"), startPeer(t, "backup")
	first.on(gosip.UPDATE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		first.reply(req, tx, 200, firstAnswer, allowUpdate())
		close(updated)
	})
	first.invites(func(pi *peerInvite) {
		pi.reliable(183, 1, firstAnswer)
		select {
		case <-updated:
		case <-ctx.Done():
			return
		}
		pi.respond(503, nil)
	})
	backup.invites(func(pi *peerInvite) {
		pi.respond(200, loopSDP(sockPort(s2), "sendrecv", true, "PCMU"))
		pi.waitAck(ctx)
	})
	srv, _ := failoverServer(t, first.addr(), "udp", backup)
	withID := func(b []byte) []byte {
		return bytes.Replace(b, []byte("a=ptime"), []byte("a=x-bypassid:"+srv.Settings().BypassID+"\r\na=ptime"), 1)
	}
	oc := startPeer(t, "caller").call(ctx, srv.EdgeAddr(), "udp", withID(loopSDP(sockPort(c1), "sendrecv", true, "PCMU", "PCMA")),
		gosip.NewHeader("Supported", "100rel"))
	var ures *gosip.Response
	prackReliable(ctx, t, oc, func(r *gosip.Response) {
		ures = earlyUpdate(ctx, t, oc, r, withID(loopSDP(sockPort(c2), "sendrecv", true, "PCMU", "PCMA")))
	})
	if ures == nil || ures.StatusCode != 200 {
		t.Fatalf("the caller's early UPDATE got %v", ures)
	}
	if m := media(t, "our 200", oc.final.Body()); m.BypassID == "" {
		t.Fatal("the call is not bypassed")
	}
	offer := media(t, "the backup trunk's offer", backup.wait(ctx, gosip.INVITE, 1).Body())
	if offer.RTP().Port() != uint16(sockPort(c2)) {
		t.Errorf("the backup trunk was offered %v, want the client's UPDATE port %d", offer.RTP(), sockPort(c2))
	}
	byeCall(ctx, t, oc)
	backup.wait(ctx, gosip.BYE, 1)
}

// TestFailoverAfterTrunksUpdateOffersTheInvitesOffer: after the failed
// trunk's own early UPDATE (PCMU only, sendonly), the caller's latest SDP
// is its answer to that trunk, narrowed to PCMU and recvonly: the next
// trunk is offered the INVITE's offer, both laws and sendrecv, not that
// answer.
func TestFailoverAfterTrunksUpdateOffersTheInvitesOffer(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	s1, s2, c1 := rtpSock(t), rtpSock(t), rtpSock(t)
	first, backup := startPeer(t, "first"), startPeer(t, "backup")
	first.invites(func(pi *peerInvite) {
		pi.reliable(183, 1, loopSDP(sockPort(s1), "sendrecv", true, "PCMU", "PCMA"))
		pi.p.wait(ctx, gosip.PRACK, 1)
		res := pi.do(ctx, pi.inDialog(gosip.UPDATE, pi.req.CSeq().SeqNo+1, loopSDP(sockPort(s1), "sendonly", true, "PCMU")))
		if res.StatusCode != 200 {
			t.Errorf("the trunk's early UPDATE got %d", res.StatusCode)
		}
		pi.respond(503, nil)
	})
	backup.invites(func(pi *peerInvite) {
		pi.respond(200, loopSDP(sockPort(s2), "sendrecv", true, "PCMA"))
		pi.waitAck(ctx)
	})
	srv, _ := failoverServer(t, first.addr(), "udp", backup)
	caller := startPeer(t, "caller")
	caller.on(gosip.UPDATE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		caller.reply(req, tx, 200, loopSDP(sockPort(c1), "recvonly", true, "PCMU"), allowUpdate())
	})
	oc := caller.call(ctx, srv.EdgeAddr(), "udp", loopSDP(sockPort(c1), "sendrecv", true, "PCMU", "PCMA"),
		gosip.NewHeader("Supported", "100rel"))
	prackReliable(ctx, t, oc)
	offer := media(t, "the backup trunk's offer", backup.wait(ctx, gosip.INVITE, 1).Body())
	if got := codecNames(offer); offer.Direction != "sendrecv" || !strings.Contains(got, "PCMU") || !strings.Contains(got, "PCMA") {
		t.Errorf("the backup trunk was offered %s, %s; want the INVITE's offer: PCMU and PCMA, sendrecv", got, offer.Direction)
	}
	byeCall(ctx, t, oc)
	backup.wait(ctx, gosip.BYE, 1)
}
