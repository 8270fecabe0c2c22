package mediation_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// On hold, RTCP keeps flowing (RFC 3264 §8.4), so by default (a trunk's
// rtcp_calls_on_hold, CCE's RTCPCallsOnHold) the media timeout of an
// anchored call keeps running on hold: a held leg that sends neither RTP
// nor RTCP for media.timeout ends the call, one that sends RTCP (or music
// on hold) keeps it. With rtcp_calls_on_hold off the count is suspended
// while the negotiated session is on hold, whether the offer or the answer
// holds (RFC 3264 §6.1, §8.4): a held client answering the SBC's sendrecv
// re-offer sendonly, an SBC still holding when the client resumes, an SBC
// answering a sendrecv re-offer inactive, a queue answering the first
// INVITE inactive. Once both sides are sendrecv again, silence ends the
// call.

// holdTimeout is the media.timeout of these tests.
const holdTimeout = 800 * time.Millisecond

// holdParty is one peer of a hold test: its media socket, which talks to
// the relay until silenced, the o= version of its SDP, the direction it
// answers re-offers with, and how it sends a re-INVITE in its dialog.
type holdParty struct {
	t *testing.T
	p *peer
	// ip is its media address, its SDP's c= (its SIP one is 127.0.0.1).
	ip    string
	media *net.UDPConn
	// rtcp is where its SDP (a=rtcp) asks for RTCP.
	rtcp  *net.UDPConn
	relay netip.AddrPort // the relay's address for it, once known
	quiet atomic.Bool
	// zero makes its next SDPs hold the RFC 2543 way: c=0.0.0.0.
	zero atomic.Bool

	mu        sync.Mutex
	version   int
	answerDir string
	// send sends a re-INVITE with body, ACKs its 2xx and waits until the
	// server has the ACK; it returns the final response.
	send func(ctx context.Context, body []byte) *gosip.Response
}

// newHoldParty is a party named name with its media on the loopback
// address ip.
func newHoldParty(t *testing.T, name, ip string) *holdParty {
	h := &holdParty{t: t, p: startPeer(t, name), ip: ip, media: rtpSockOn(t, ip), rtcp: rtpSockOn(t, ip), answerDir: "sendrecv"}
	// Its re-INVITEs (INVITEs with a To-tag) are answered answerDir.
	h.p.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		h.mu.Lock()
		dir := h.answerDir
		h.mu.Unlock()
		h.p.reply(req, tx, 200, h.sdp(dir))
	})
	return h
}

// sdp is the party's next SDP, with a new o= version, in direction dir.
func (h *holdParty) sdp(dir string) []byte {
	h.mu.Lock()
	h.version++
	v := h.version
	h.mu.Unlock()
	port := sockPort(h.media)
	b := bytes.Replace(loopSDP(port, dir, true, "PCMU"), fmt.Appendf(nil, "o=peer %d 1 ", port), fmt.Appendf(nil, "o=peer %d %d ", port, v), 1)
	c := h.ip
	if h.zero.Load() {
		c = "0.0.0.0"
	}
	b = bytes.Replace(b, []byte("c=IN IP4 127.0.0.1"), []byte("c=IN IP4 "+c), 1)
	return bytes.Replace(b, []byte("a=ptime"), fmt.Appendf(nil, "a=rtcp:%d\r\na=ptime", sockPort(h.rtcp)), 1)
}

func (h *holdParty) answers(dir string) {
	h.mu.Lock()
	h.answerDir = dir
	h.mu.Unlock()
}

// talk sends the relay an RTP packet every 20 ms until the party is
// silenced or ctx ends: the call's media flows while it is set up.
func (h *holdParty) talk(ctx context.Context) {
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for seq := uint16(1); !h.quiet.Load(); seq++ {
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 0x77},
				Payload: bytes.Repeat([]byte{0xff}, 160)}
			b, _ := pkt.Marshal()
			_, _ = h.media.WriteToUDPAddrPort(b, h.relay)
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	}()
}

// report sends the relay an RTCP receiver report every 50 ms from h's
// media socket, as a held peer keeps doing (RFC 3264 §8.4), until the
// returned stop is called or ctx ends.
func (h *holdParty) report(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	rr, err := (&rtcp.ReceiverReport{SSRC: 0x77}).Marshal()
	if err != nil {
		h.t.Fatal(err)
	}
	to := netip.AddrPortFrom(h.relay.Addr(), h.relay.Port()+1)
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			_, _ = h.media.WriteToUDPAddrPort(rr, to)
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	stop = func() { cancel(); <-done }
	h.t.Cleanup(stop)
	return stop
}

// callerSend makes h, the caller of oc, send its re-INVITEs in oc's dialog.
func (h *holdParty) callerSend(oc *outCall) { h.send = callerReinvites(h.t, oc) }

// calleeSend makes h, the callee of the INVITE pi, send its re-INVITEs in
// pi's dialog.
func (h *holdParty) calleeSend(pi *peerInvite) { h.send = calleeReinvites(h.t, h.p, pi) }

// callerReinvites sends re-INVITEs as the caller of oc: each with body,
// its 2xx ACKed and the ACK known to the server before it returns the
// final response.
func callerReinvites(t *testing.T, oc *outCall) func(ctx context.Context, body []byte) *gosip.Response {
	return func(ctx context.Context, body []byte) *gosip.Response {
		req := gosip.NewRequest(gosip.INVITE, oc.final.Contact().Address)
		req.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(body)
		res := doIn(ctx, t, oc, req)
		if res.StatusCode == 200 {
			if err := oc.d.WriteRequest(gosip.NewRequest(gosip.ACK, oc.final.Contact().Address)); err != nil {
				t.Fatal(err)
			}
			ackTaken(ctx, t, oc)
		}
		return res
	}
}

// calleeReinvites is callerReinvites for p, the callee of the INVITE pi.
func calleeReinvites(t *testing.T, p *peer, pi *peerInvite) func(ctx context.Context, body []byte) *gosip.Response {
	var seq uint32 = 1
	return func(ctx context.Context, body []byte) *gosip.Response {
		seq++
		res := pi.do(ctx, pi.inDialog(gosip.INVITE, seq, body))
		if res.StatusCode == 200 {
			ack := pi.inDialog(gosip.ACK, seq, nil)
			ack.Recipient = res.Contact().Address
			if err := p.stack.Client("udp").WriteRequest(ack); err != nil {
				t.Fatal(err)
			}
			seq++
			if r := pi.do(ctx, pi.inDialog(gosip.OPTIONS, seq, nil)); r.StatusCode != 200 {
				t.Fatalf("OPTIONS after the ACK got %d", r.StatusCode)
			}
		}
		return res
	}
}

// reoffer has from re-offer dir, answered answerDir by to.
func reoffer(ctx context.Context, t *testing.T, from, to *holdParty, dir, answerDir string) {
	t.Helper()
	to.answers(answerDir)
	for {
		res := from.send(ctx, from.sdp(dir))
		if res.StatusCode == 200 {
			return
		}
		if res.StatusCode != 491 {
			t.Fatalf("%s re-offer %s got %d", from.p.stack.Name(), dir, res.StatusCode)
		}
		// Glare with the other party's ACK in flight: retry (RFC 3261 §14.1).
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("re-offer kept getting 491")
		}
	}
}

// holdCall is an anchored call between a client and an SBC party, from
// caller to callee, with media timeout holdTimeout and records in records.
type holdCall struct {
	srv            *mediation.Server
	client, sbc    *holdParty
	caller, callee *holdParty
	records        string
	dir            string
}

// startHoldCall sets up a call, the callee answering its first INVITE
// answerDir; inbound, the SBC is the caller, and late makes its INVITE a
// delayed offer (the SBC answers answerDir in its ACK); rtcpOnHold is the
// trunk's rtcp_calls_on_hold. Both parties talk.
func startHoldCall(ctx context.Context, t *testing.T, inbound, late bool, answerDir string, rtcpOnHold bool) *holdCall {
	t.Helper()
	return startHoldCallSBC(ctx, t, newHoldParty(t, "sbc", "127.0.0.1"), inbound, late, answerDir, rtcpOnHold)
}

// startHoldCallSBC is startHoldCall with sbc the SBC party.
func startHoldCallSBC(ctx context.Context, t *testing.T, sbc *holdParty, inbound, late bool, answerDir string, rtcpOnHold bool) *holdCall {
	t.Helper()
	hc := &holdCall{client: newHoldParty(t, "client", "127.0.0.1"), sbc: sbc, records: t.TempDir() + "/calls.jsonl", dir: "outbound"}
	hc.caller, hc.callee = hc.client, hc.sbc
	if inbound {
		hc.caller, hc.callee, hc.dir = hc.sbc, hc.client, "inbound"
	}
	invited := make(chan *peerInvite, 1)
	hc.callee.p.invites(func(pi *peerInvite) {
		body := hc.callee.sdp(answerDir)
		if late {
			body = hc.callee.sdp("sendrecv")
		}
		pi.respond(200, body)
		invited <- pi
	})
	configure := func(c *mediation.Config) {
		c.Media.Timeout = holdTimeout
		c.Records.Path = hc.records
		c.Gateways[0].RTCPCallsOnHold = &rtcpOnHold
		if inbound {
			c.Edge.Peer = hc.client.p.addr().String()
		}
	}
	hc.srv = serveTo(t, hc.sbc.p.addr(), "udp", configure)
	target := hc.srv.EdgeAddr()
	if inbound {
		target = hc.srv.GatewayAddr()
	}
	var offer []byte
	if !late {
		offer = hc.caller.sdp("sendrecv")
	}
	oc := hc.caller.p.call(ctx, target, "udp", offer)
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("got %d", res.StatusCode)
	}
	if late {
		ack := gosip.NewRequest(gosip.ACK, oc.final.Contact().Address)
		ack.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
		ack.SetBody(hc.caller.sdp(answerDir))
		if err := oc.d.WriteAck(ctx, ack); err != nil {
			t.Fatal(err)
		}
	} else {
		_ = oc.d.Ack(ctx)
	}
	ackTaken(ctx, t, oc)
	var pi *peerInvite
	select {
	case pi = <-invited:
	case <-ctx.Done():
		t.Fatal("callee got no INVITE")
	}
	hc.caller.callerSend(oc)
	hc.callee.calleeSend(pi)
	hc.caller.relay = media(t, "server's SDP to the caller", oc.final.Body()).RTP()
	hc.callee.relay = media(t, "server's offer to the callee", pi.req.Body()).RTP()
	hc.caller.talk(ctx)
	hc.callee.talk(ctx)
	return hc
}

// heldSilently silences both parties and checks the call outlives three
// media timeouts.
func (hc *holdCall) heldSilently(t *testing.T) {
	t.Helper()
	hc.client.quiet.Store(true)
	hc.sbc.quiet.Store(true)
	hc.outlives(t)
}

// outlives checks that the call outlives three media timeouts from now.
func (hc *holdCall) outlives(t *testing.T) {
	t.Helper()
	over := time.NewTimer(3 * holdTimeout)
	defer over.Stop()
	for {
		// Each request either party receives wakes the check.
		hc.client.p.mu.Lock()
		clientGot := hc.client.p.changed
		hc.client.p.mu.Unlock()
		hc.sbc.p.mu.Lock()
		sbcGot := hc.sbc.p.changed
		hc.sbc.p.mu.Unlock()
		if n := hc.client.p.count(gosip.BYE) + hc.sbc.p.count(gosip.BYE); n > 0 {
			t.Fatalf("the held call was ended (%d BYE): media timeout while on hold", n)
		}
		select {
		case <-clientGot:
		case <-sbcGot:
		case <-over.C:
			return
		}
	}
}

// timesOut checks that the resumed, silent call is ended by the media
// timeout: BYE to both parties, and the record says why.
func (hc *holdCall) timesOut(ctx context.Context, t *testing.T) {
	t.Helper()
	hc.client.p.wait(ctx, gosip.BYE, 1)
	hc.sbc.p.wait(ctx, gosip.BYE, 1)
	mediationtest.WaitMetric(t, hc.srv, 0, "mediationserver_calls_current", "direction", hc.dir)
	if recs := readRecords(t, hc.records); len(recs) != 1 || recs[0].EndReason != "media timeout" {
		t.Fatalf("records %+v, want one ended by media timeout", recs)
	}
}

// holdStep is one re-offer of a hold test: by the client (else the SBC)
// in direction dir, answered answer by the other party.
type holdStep struct {
	byClient    bool
	dir, answer string
}

func (hc *holdCall) run(ctx context.Context, t *testing.T, s holdStep) {
	t.Helper()
	if s.byClient {
		reoffer(ctx, t, hc.client, hc.sbc, s.dir, s.answer)
	} else {
		reoffer(ctx, t, hc.sbc, hc.client, s.dir, s.answer)
	}
}

// TestHoldInAnswerSuspendsMediaTimeout: with rtcp_calls_on_hold off, each
// way a hold is expressed in an answer keeps the media timeout suspended
// past media.timeout with both peers silent; once both are sendrecv
// again, the timeout ends the call.
func TestHoldInAnswerSuspendsMediaTimeout(t *testing.T) {
	const client, sbc = true, false
	tests := []struct {
		name          string
		inbound, late bool
		initialAnswer string
		hold          []holdStep
		resume        holdStep
	}{
		// The client holds; the SBC re-offers sendrecv (a new o=
		// version) and the held client answers sendonly.
		{name: "held client answers the SBC's re-offer sendonly", initialAnswer: "sendrecv",
			hold:   []holdStep{{client, "sendonly", "recvonly"}, {sbc, "sendrecv", "sendonly"}},
			resume: holdStep{client, "sendrecv", "sendrecv"}},
		// Both hold; one resumes while the other still holds.
		{name: "double hold, one side resumes", initialAnswer: "sendrecv",
			hold:   []holdStep{{client, "inactive", "inactive"}, {sbc, "inactive", "inactive"}, {client, "sendrecv", "inactive"}},
			resume: holdStep{sbc, "sendrecv", "sendrecv"}},
		{name: "inbound double hold, one side resumes", inbound: true, initialAnswer: "sendrecv",
			hold:   []holdStep{{sbc, "inactive", "inactive"}, {client, "inactive", "inactive"}, {sbc, "sendrecv", "inactive"}},
			resume: holdStep{client, "sendrecv", "sendrecv"}},
		{name: "SBC answers a sendrecv re-offer inactive", initialAnswer: "sendrecv",
			hold:   []holdStep{{client, "sendrecv", "inactive"}},
			resume: holdStep{sbc, "sendrecv", "sendrecv"}},
		// A queue answers straight onto hold.
		{name: "SBC answers the first INVITE inactive", initialAnswer: "inactive",
			resume: holdStep{sbc, "sendrecv", "sendrecv"}},
		{name: "client answers the SBC's first INVITE inactive", inbound: true, initialAnswer: "inactive",
			resume: holdStep{client, "sendrecv", "sendrecv"}},
		{name: "delayed offer answered inactive in the SBC's ACK", inbound: true, late: true, initialAnswer: "inactive",
			resume: holdStep{sbc, "sendrecv", "sendrecv"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			hc := startHoldCall(ctx, t, tt.inbound, tt.late, tt.initialAnswer, false)
			for _, s := range tt.hold {
				hc.run(ctx, t, s)
			}
			hc.heldSilently(t)
			hc.run(ctx, t, tt.resume)
			hc.timesOut(ctx, t)
		})
	}
}

// TestHeldCallEndsWithoutRTCP: with rtcp_calls_on_hold (the default), a
// held call stays up while its peers send RTCP, or the holder its music on
// hold, past several media timeouts; a leg that then sends neither RTP nor
// RTCP for media.timeout ends it: BYE on both legs, reason media timeout.
// Without the check a client gone off the network while holding kept the
// call, its slot and its ports for ever.
func TestHeldCallEndsWithoutRTCP(t *testing.T) {
	const client, sbc = true, false
	tests := []struct {
		name    string
		inbound bool
		hold    holdStep
		// moh: the client, holding, keeps sending RTP (music on hold);
		// rtcp: both parties send RTCP while held. Either keeps the call up
		// until the client vanishes (the SBC's RTCP goes on).
		moh, rtcp bool
	}{
		{name: "client plays music on hold, then vanishes", hold: holdStep{client, "sendonly", "recvonly"}, moh: true, rtcp: true},
		{name: "inactive hold kept by RTCP, then the client vanishes", hold: holdStep{client, "inactive", "inactive"}, rtcp: true},
		{name: "inbound, the SBC holds and both go silent", inbound: true, hold: holdStep{sbc, "sendonly", "recvonly"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			hc := startHoldCall(ctx, t, tt.inbound, false, "sendrecv", true)
			hc.run(ctx, t, tt.hold)
			hc.sbc.quiet.Store(true)
			if !tt.moh {
				hc.client.quiet.Store(true)
			}
			if tt.moh || tt.rtcp {
				stopClient := func() {}
				if tt.rtcp {
					stopClient = hc.client.report(ctx)
					hc.sbc.report(ctx)
				}
				hc.outlives(t)
				hc.client.quiet.Store(true)
				stopClient()
			}
			hc.timesOut(ctx, t)
		})
	}
}

// TestZeroHoldFromSeparateMediaIP: an SBC whose media address
// (127.0.65.2) is not its SIP one (127.0.0.1), as SBCs with separate
// signalling and media interfaces are, holds the RFC 2543 way (c=0.0.0.0,
// a=sendonly, which RFC 3264 §8.4 still has answerers take) and goes on
// sending from its media address: its music on hold reaches the client
// (README Direction), and its RTCP alone, though it sent none before the
// hold, keeps the held call up past the media timeout; once it stops,
// the media timeout ends the call. Before, on hold the relay took the
// SBC's media address for a stranger's (the c= it had latched from was
// gone): the client heard no music on hold, and the call ended with a
// false media timeout.
func TestZeroHoldFromSeparateMediaIP(t *testing.T) {
	for _, moh := range []bool{true, false} {
		name := "RTCP alone"
		if moh {
			name = "music on hold"
		}
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			hc := startHoldCallSBC(ctx, t, newHoldParty(t, "sbc", "127.0.65.2"), false, false, "sendrecv", true)
			clientRTP := countArrivals(hc.client.media)
			waitUntil(ctx, t, "the SBC's audio at the client", func() bool { return clientRTP.Load() >= 5 })
			hc.sbc.zero.Store(true)
			hc.sbc.quiet.Store(!moh)
			hc.run(ctx, t, holdStep{dir: "sendonly", answer: "recvonly"})
			// Its first RTCP report comes on hold: no RTCP latch to keep.
			stopReports := hc.sbc.report(ctx)
			if moh {
				heard := clientRTP.Load()
				waitUntil(ctx, t, "music on hold at the client", func() bool { return clientRTP.Load() >= heard+20 })
			}
			hc.outlives(t)
			if refused := oneCall(t, hc.srv).GatewayLeg.PacketsRefused; refused != 0 {
				t.Errorf("%d of the held SBC's packets refused as a stranger's", refused)
			}
			hc.client.quiet.Store(true)
			hc.sbc.quiet.Store(true)
			stopReports()
			hc.timesOut(ctx, t)
		})
	}
}
