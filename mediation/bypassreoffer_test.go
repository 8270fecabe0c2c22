package mediation_test

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/sdp"
)

// Re-offers of a bypassed call, where the SDP we send each peer follows
// the other peer's media: o= must stay as the leg's first SDP had it but
// for the version (RFC 3264 §8), and the client keeps being given the
// SBC's address as a host candidate (RFC 5245 §9.1.2.2).

// bypassParty is one peer of a bypassed call: its SDPs are loopSDP's at
// its own port, from the IP it is currently at, with a growing o= version.
type bypassParty struct {
	p    *peer
	port int
	id   string // a=x-bypassid, the client's

	mu      sync.Mutex
	ip      string
	version int
	// reoffer sends an in-dialog INVITE with body, ACKs its 2xx and makes
	// sure the server has the ACK; it returns the final response.
	reoffer func(ctx context.Context, body []byte) *gosip.Response
}

func newBypassParty(t *testing.T, name, id string) *bypassParty {
	b := &bypassParty{p: startPeer(t, name), port: sockPort(rtpSock(t)), id: id, ip: "127.0.0.1"}
	// Re-INVITEs from the server are answered with the party's SDP.
	b.p.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) { b.p.reply(req, tx, 200, b.sdp()) })
	return b
}

// sdp is the party's next SDP, at its current IP (0.0.0.0: an RFC 2543
// hold).
func (b *bypassParty) sdp() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.version++
	body := loopSDP(b.port, "sendrecv", true, "PCMU")
	body = bytes.Replace(body, fmt.Appendf(nil, "o=peer %d 1 ", b.port), fmt.Appendf(nil, "o=peer %d %d ", b.port, b.version), 1)
	body = bytes.Replace(body, []byte("c=IN IP4 127.0.0.1"), []byte("c=IN IP4 "+b.ip), 1)
	if b.id != "" {
		body = bytes.Replace(body, []byte("a=ptime"), []byte("a=x-bypassid:"+b.id+"\r\na=ptime"), 1)
	}
	return body
}

// moveTo re-offers from ip and returns the server's answer.
func (b *bypassParty) moveTo(ctx context.Context, t *testing.T, ip string) string {
	t.Helper()
	b.mu.Lock()
	b.ip = ip
	b.mu.Unlock()
	res := b.reoffer(ctx, b.sdp())
	if res.StatusCode != 200 {
		t.Fatalf("%s's re-offer from %s got %d", b.p.stack.Name(), ip, res.StatusCode)
	}
	return string(res.Body())
}

// bypassedCall sets up a bypassed call between a client and an SBC party
// (inbound: the SBC calls) and returns them with the server's SDPs to each
// so far, in the order sent.
func bypassedCall(ctx context.Context, t *testing.T, inbound bool) (client, sbc *bypassParty, srv *mediation.Server, toClient, toSBC []string) {
	t.Helper()
	sbc = newBypassParty(t, "sbc", "")
	client = newBypassParty(t, "client", "")
	invited := make(chan *peerInvite, 1)
	callee := sbc
	if inbound {
		callee = client
	}
	callee.p.invites(func(pi *peerInvite) {
		pi.respond(200, callee.sdp())
		invited <- pi
	})
	srv = serveTo(t, sbc.p.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = client.p.addr().String() })
	client.mu.Lock()
	client.id = srv.Settings().BypassID
	client.mu.Unlock()
	caller, target := client, srv.EdgeAddr()
	if inbound {
		caller, target = sbc, srv.GatewayAddr()
	}
	oc := caller.p.call(ctx, target, "udp", caller.sdp())
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("call got %d", res.StatusCode)
	}
	_ = oc.d.Ack(ctx)
	ackTaken(ctx, t, oc)
	var pi *peerInvite
	select {
	case pi = <-invited:
	case <-ctx.Done():
		t.Fatal("the callee got no INVITE")
	}
	caller.reoffer = callerReinvites(t, oc)
	callee.reoffer = calleeReinvites(t, callee.p, pi)
	toCaller, toCallee := string(oc.final.Body()), string(pi.req.Body())
	if inbound {
		toClient, toSBC = []string{toCallee}, []string{toCaller}
	} else {
		toClient, toSBC = []string{toCaller}, []string{toCallee}
	}
	if m := media(t, "first SDP to the SBC", []byte(toSBC[0])); m.RTP() != netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(client.port)) {
		t.Fatalf("the SBC was given %s, not the client's own address: the call is not bypassed", m.RTP())
	}
	return client, sbc, srv, toClient, toSBC
}

// origin is an SDP's o= line, split in its fields.
func origin(t *testing.T, body string) []string {
	t.Helper()
	for l := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(l, "o=") {
			return strings.Fields(strings.TrimRight(l, "\r"))
		}
	}
	t.Fatalf("no o= line in\n%s", body)
	return nil
}

// sameOrigin checks that next, the SDP sent on a leg after prev, has
// prev's o= but for the version: one more when the SDP changed, the same
// when not (RFC 3264 §8).
func sameOrigin(t *testing.T, leg, prev, next string) {
	t.Helper()
	a, b := origin(t, prev), origin(t, next)
	v1, err1 := strconv.ParseUint(a[2], 10, 64)
	v2, err2 := strconv.ParseUint(b[2], 10, 64)
	want := v1 + 1
	if prev == next {
		want = v1
	}
	if err1 != nil || err2 != nil || len(a) != len(b) || v2 != want {
		t.Errorf("%s: o= went from %q to %q: want version %d", leg, strings.Join(a, " "), strings.Join(b, " "), want)
	}
	a[2], b[2] = "", ""
	if strings.Join(a, " ") != strings.Join(b, " ") {
		t.Errorf("%s: o= went from %q to %q: only the version may change (RFC 3264 §8)", leg, strings.Join(origin(t, prev), " "), strings.Join(origin(t, next), " "))
	}
}

// candidates are an SDP's a=candidate addresses of the RTP component.
func candidates(t *testing.T, what, body string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, c := range media(t, what, []byte(body)).Candidates {
		if c.Component == sdp.ComponentRTP {
			out = append(out, c.Addr)
		}
	}
	return out
}

// TestBypassReofferKeepsOrigin: in a bypassed call, media moves (an SBC's
// switch-over to another IP, its c=0.0.0.0 hold, the client's new network)
// change c= in the SDP we send the other peer, never o='s address: each
// leg's o= stays as its first SDP had it, its version one more per change.
// The client's re-offers from the SBC carry the SBC's address as a host
// candidate, as its first SDP did.
func TestBypassReofferKeepsOrigin(t *testing.T) {
	for _, inbound := range []bool{false, true} {
		t.Run(map[bool]string{false: "outbound", true: "inbound"}[inbound], func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			client, sbc, _, toClient, toSBC := bypassedCall(ctx, t, inbound)
			if c := candidates(t, "first SDP to the client", toClient[0]); len(c) == 0 {
				t.Fatalf("the client's first SDP has no candidates:\n%s", toClient[0])
			}
			received := func(p *bypassParty, n int) string {
				return string(p.p.wait(ctx, gosip.INVITE, n).Body())
			}
			// The client's INVITEs from the server: inbound, the call's
			// INVITE is the first.
			clientInvites := 0
			if inbound {
				clientInvites = 1
			}
			sbcInvites := 1 - clientInvites

			// Each step checks the SDP we sent on each leg against the
			// last one sent there.
			lastClient, lastSBC := toClient[0], toSBC[0]
			sent := func(leg string, last *string, body string) {
				t.Helper()
				sameOrigin(t, leg, *last, body)
				*last = body
			}

			// The SBC switches over to another IP.
			sent("SBC leg, our answer to its move", &lastSBC, sbc.moveTo(ctx, t, "127.0.0.2"))
			clientInvites++
			got := received(client, clientInvites)
			if m := media(t, "re-offer to the client", []byte(got)); m.Addr.String() != "127.0.0.2" {
				t.Fatalf("re-offer to the client names %s, want the SBC's new 127.0.0.2", m.Addr)
			}
			sent("client leg, the SBC's move", &lastClient, got)
			if c := candidates(t, "re-offer to the client", got); len(c) == 0 || c[0] != netip.MustParseAddrPort(fmt.Sprintf("127.0.0.2:%d", sbc.port)) {
				t.Errorf("re-offer to the client has RTP candidates %v, want the SBC's new address first:\n%s", c, got)
			}

			// The SBC holds with c=0.0.0.0.
			sent("SBC leg, our answer to its c=0.0.0.0 hold", &lastSBC, sbc.moveTo(ctx, t, "0.0.0.0"))
			clientInvites++
			sent("client leg, the SBC's c=0.0.0.0 hold", &lastClient, received(client, clientInvites))

			// The client moves to a new network.
			sent("client leg, our answer to its move", &lastClient, client.moveTo(ctx, t, "127.0.0.3"))
			sbcInvites++
			got = received(sbc, sbcInvites)
			if m := media(t, "re-offer to the SBC", []byte(got)); m.Addr.String() != "127.0.0.3" {
				t.Fatalf("re-offer to the SBC names %s, want the client's new 127.0.0.3", m.Addr)
			}
			sent("SBC leg, the client's move", &lastSBC, got)
		})
	}
}
