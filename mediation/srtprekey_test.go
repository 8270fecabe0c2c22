package mediation_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/mediation-emulator/mediation/mediation"
)

// Re-offers on SRTP legs of an anchored call (RFC 4568 §7.1.4). A peer
// installs the key of our answer only once it has the answer, and sends
// under its own old key until then: so a re-offer that keeps the crypto
// context keeps our key (the same a=crypto line), and after a peer's new
// key the relay still takes its old one for the packets it sent before it
// had our answer. Both legs run SRTP here: the client's (RTP/SAVP) and the
// SBC's (trunk srtp: required).

// rekeyParty is one peer of these tests: its SIP peer, its media socket,
// which sends the relay a numbered packet every 10 ms under its current
// key, and what it got from the relay, decrypted under a key we gave it.
type rekeyParty struct {
	t     *testing.T
	name  string
	p     *peer
	media *net.UDPConn

	mu      sync.Mutex
	relay   netip.AddrPort // the relay's address for it, once known
	key     string         // its a=crypto key, base64
	enc     *srtp.Context  // encrypts under key
	version int
	seq     uint16 // also the packet's number, in its first two payload bytes
	got     map[uint16]bool
	failed  int // packets from the relay that did not decrypt
	changed chan struct{}
	// decs decrypt under each key we gave it; while holding, a packet
	// none decrypts waits in pending for the key of our next answer
	// (ourKey), as a peer that reads our answer at once would take it.
	decs    []*srtp.Context
	holding bool
	pending [][]byte
}

func newRekeyParty(t *testing.T, name, key string) *rekeyParty {
	r := &rekeyParty{t: t, name: name, p: startPeer(t, name), media: rtpSock(t), got: map[uint16]bool{}, changed: make(chan struct{})}
	r.setKey(key)
	// The server's re-offers are answered with the party's SDP as it is.
	r.p.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) { r.p.reply(req, tx, 200, r.sdp()) })
	return r
}

// setKey makes key the party's a=crypto key and what it sends under from now on.
func (r *rekeyParty) setKey(key string) {
	master, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		r.t.Fatal(err)
	}
	enc := srtpContext(r.t, master, nil, false)
	r.mu.Lock()
	r.key, r.enc = key, enc
	r.mu.Unlock()
}

// offer is the party's next SDP with key as its a=crypto key, which it
// sends under only once setKey says so.
func (r *rekeyParty) offer(key string) []byte {
	r.mu.Lock()
	r.key = key
	r.mu.Unlock()
	return r.sdp()
}

// sdp is the party's next SDP: RTP/SAVP PCMU with its key, the o= version
// one more.
func (r *rekeyParty) sdp() []byte {
	r.mu.Lock()
	r.version++
	v, key, port := r.version, r.key, sockPort(r.media)
	r.mu.Unlock()
	return bytes.Replace(savpSDP(port, key, ""), fmt.Appendf(nil, "o=peer %d 1 ", port), fmt.Appendf(nil, "o=peer %d %d ", port, v), 1)
}

// send sends the relay the party's next packet and returns its number.
func (r *rekeyParty) send() uint16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	pl := bytes.Repeat([]byte{0xff}, 160)
	binary.BigEndian.PutUint16(pl, r.seq)
	b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: r.seq, Timestamp: uint32(r.seq) * 160, SSRC: 0x5e}, Payload: pl}).Marshal()
	if err == nil {
		b, err = r.enc.EncryptRTP(nil, b, nil)
	}
	if err != nil {
		r.t.Error(err)
		return r.seq
	}
	_, _ = r.media.WriteToUDPAddrPort(b, r.relay)
	return r.seq
}

// sent is the number of the party's last packet.
func (r *rekeyParty) sent() uint16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seq
}

// run starts talking to relay and listening for the relay's packets, which
// must decrypt under ours, the key of our first SDP to the party.
func (r *rekeyParty) run(ctx context.Context, relay netip.AddrPort, ours []byte) {
	r.mu.Lock()
	r.relay = relay
	r.decs = []*srtp.Context{srtpContext(r.t, ours, nil, true)}
	media := r.media
	r.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	r.t.Cleanup(func() { cancel(); wg.Wait() })
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			r.send()
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	r.listen(ctx, media)
}

// listen takes the relay's packets on media until ctx ends.
func (r *rekeyParty) listen(ctx context.Context, media *net.UDPConn) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	r.t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			_ = media.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			n, err := media.Read(buf)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				continue
			}
			r.mu.Lock()
			if !r.take(buf[:n]) {
				if r.holding {
					r.pending = append(r.pending, bytes.Clone(buf[:n]))
				} else {
					r.failed++
				}
			}
			close(r.changed)
			r.changed = make(chan struct{})
			r.mu.Unlock()
		}
	}()
}

// take records pkt, a packet from the relay, if a key we gave the party
// decrypts it. r.mu is held.
func (r *rekeyParty) take(pkt []byte) bool {
	for _, dec := range r.decs {
		var p rtp.Packet
		plain, err := dec.DecryptRTP(nil, pkt, nil)
		if err == nil && p.Unmarshal(plain) == nil && len(p.Payload) >= 2 {
			r.got[binary.BigEndian.Uint16(p.Payload)] = true
			return true
		}
	}
	return false
}

// hold keeps the relay's packets that no key decrypts for ourKey: our
// answer to the party's re-offer may bring a new key, which the relay
// sends under as soon as the answer leaves.
func (r *rekeyParty) hold() {
	r.mu.Lock()
	r.holding = true
	r.mu.Unlock()
}

// ourKey takes the key of our answer (nil: none new) and the packets held
// since hold.
func (r *rekeyParty) ourKey(key []byte) {
	var dec *srtp.Context
	if key != nil {
		dec = srtpContext(r.t, key, nil, true)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if dec != nil {
		r.decs = append(r.decs, dec)
	}
	for _, pkt := range r.pending {
		if !r.take(pkt) {
			r.failed++
		}
	}
	r.pending, r.holding = nil, false
	close(r.changed)
	r.changed = make(chan struct{})
}

// move gives the party a new media socket, which it sends from and takes
// the relay's packets on from now on (the old one listens still); its next
// SDP has the new port.
func (r *rekeyParty) move(ctx context.Context) {
	media := rtpSock(r.t)
	r.mu.Lock()
	r.media = media
	r.mu.Unlock()
	r.listen(ctx, media)
}

// heard waits (5 s at most) until the party has got each of the other
// party's packets nums from the relay, decrypted under a key we gave it,
// and none that did not decrypt.
func (r *rekeyParty) heard(ctx context.Context, what string, nums []uint16) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		r.mu.Lock()
		failed, ch := r.failed, r.changed
		var missing []uint16
		for _, n := range nums {
			if !r.got[n] {
				missing = append(missing, n)
			}
		}
		r.mu.Unlock()
		if failed > 0 {
			r.t.Fatalf("%s: %d packets from the relay did not decrypt under the keys we gave it", r.name, failed)
		}
		if len(missing) == 0 {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			r.t.Fatalf("%s never got %s: packets %v of %v", r.name, what, missing, nums)
		}
	}
}

// firstHeard waits (5 s at most) until the party has got a packet
// numbered from or later from the relay, and returns the lowest such.
func (r *rekeyParty) firstHeard(ctx context.Context, from uint16) uint16 {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		r.mu.Lock()
		first, ch := uint16(0), r.changed
		for n := range r.got {
			if n >= from && (first == 0 || n < first) {
				first = n
			}
		}
		r.mu.Unlock()
		if first != 0 {
			return first
		}
		select {
		case <-ch:
		case <-ctx.Done():
			r.t.Fatalf("%s got no packet numbered %d or later", r.name, from)
		}
	}
}

// span is the numbers from a to b.
func span(a, b uint16) []uint16 {
	var out []uint16
	for n := a; n <= b; n++ {
		out = append(out, n)
	}
	return out
}

// keyOf is the key of an SDP's first a=crypto line.
func keyOf(t *testing.T, what string, body []byte) []byte {
	t.Helper()
	m := media(t, what, body)
	if len(m.SRTP()) == 0 {
		t.Fatalf("%s has no a=crypto:\n%s", what, body)
	}
	return m.SRTP()[0].Master
}

// TestSRTPReofferKeepsKeys: a client's or an SBC's re-INVITE on an SRTP
// leg of an anchored call, repeating its SDP (a session refresh), with a
// new key of its own, or with its key at a new media port. Our re-offer to
// the other peer repeats our a=crypto line to it. Our answer repeats ours
// when the peer keeps its key and address; otherwise it has a new key of
// ours, as the peer may set up a new crypto context, at rollover counter 0
// (r24-reviewB #1). Media flows both ways throughout, under the keys of
// the first exchange and our new one; after a new key, packets the peer
// still sends under its old one once our 200 has left (it has not read it
// yet) are relayed, and so are those under its new key.
func TestSRTPReofferKeepsKeys(t *testing.T) {
	newKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x3c}, 30))
	for _, from := range []string{"client", "sbc"} {
		for _, change := range []string{"same key", "new key", "new address"} {
			rekey, move := change == "new key", change == "new address"
			t.Run(from+" "+change, func(t *testing.T) {
				ctx := testCtx(t, 30*time.Second)
				client, sbc := newRekeyParty(t, "client", fixtureKey), newRekeyParty(t, "sbc", sbcKey)
				invited := make(chan *peerInvite, 1)
				sbc.p.invites(func(pi *peerInvite) {
					pi.respond(200, sbc.sdp())
					invited <- pi
				})
				srv := serveTo(t, sbc.p.addr(), "udp", func(c *mediation.Config) { c.Gateways[0].SRTP = "required" })
				oc := client.p.call(ctx, srv.EdgeAddr(), "udp", client.sdp())
				if res := oc.answer(ctx, nil); res.StatusCode != 200 {
					t.Fatalf("call got %d", res.StatusCode)
				}
				_ = oc.d.Ack(ctx)
				ackTaken(ctx, t, oc)
				var pi *peerInvite
				select {
				case pi = <-invited:
				case <-ctx.Done():
					t.Fatal("the SBC got no INVITE")
				}
				pi.mustWaitAck(ctx)
				toClient, toSBC := oc.final.Body(), pi.req.Body()
				client.run(ctx, media(t, "answer to the client", toClient).RTP(), keyOf(t, "answer to the client", toClient))
				sbc.run(ctx, media(t, "offer to the SBC", toSBC).RTP(), keyOf(t, "offer to the SBC", toSBC))
				client.heard(ctx, "the SBC's first packets", span(1, 5))
				sbc.heard(ctx, "the client's first packets", span(1, 5))

				// The re-offer, and right after its 200 (before the ACK
				// and before a real peer would have read our answer)
				// three packets under the old key, then the new key.
				re, other := client, sbc
				if from == "sbc" {
					re, other = sbc, client
				}
				key := fixtureKey
				if from == "sbc" {
					key = sbcKey
				}
				if rekey {
					key = newKey
				}
				if move {
					re.move(ctx)
				}
				re.hold()
				body := re.offer(key)
				firstRe, firstOther := re.sent(), other.sent()
				var lateOld []uint16
				afterOK := func(res *gosip.Response) {
					if res.StatusCode != 200 {
						re.ourKey(nil)
						return
					}
					re.ourKey(keyOf(t, "answer to the re-offer", res.Body()))
					if !rekey {
						return
					}
					lateOld = []uint16{re.send(), re.send(), re.send()}
					re.setKey(newKey)
				}
				var res *gosip.Response
				var ours, before []byte
				if from == "client" {
					res = reinviteAs(ctx, t, body, afterOK, func(req *gosip.Request) *gosip.Response { return doIn(ctx, t, oc, req) },
						func(res *gosip.Response) {
							if err := oc.d.WriteRequest(gosip.NewRequest(gosip.ACK, oc.final.Contact().Address)); err != nil {
								t.Fatal(err)
							}
							ackTaken(ctx, t, oc)
						}, gosip.NewRequest(gosip.INVITE, oc.final.Contact().Address))
					ours, before = toClient, toSBC
				} else {
					seq := pi.req.CSeq().SeqNo + 1
					res = reinviteAs(ctx, t, body, afterOK, func(req *gosip.Request) *gosip.Response { return pi.do(ctx, req) },
						func(res *gosip.Response) {
							ack := pi.inDialog(gosip.ACK, seq, nil)
							ack.Recipient = res.Contact().Address
							if err := sbc.p.stack.Client("udp").WriteRequest(ack); err != nil {
								t.Fatal(err)
							}
							if r := pi.do(ctx, pi.inDialog(gosip.OPTIONS, seq+1, nil)); r.StatusCode != 200 {
								t.Fatalf("OPTIONS after the ACK got %d", r.StatusCode)
							}
						}, pi.inDialog(gosip.INVITE, seq, nil))
					ours, before = toSBC, toClient
				}
				if res.StatusCode != 200 {
					t.Fatalf("%s's re-INVITE got %d", from, res.StatusCode)
				}
				got, want := media(t, "answer to the re-offer", res.Body()).Crypto, media(t, "first SDP", ours).Crypto
				switch {
				case !rekey && !move && !slices.Equal(got, want):
					t.Errorf("our answer to %s's re-offer has a=crypto %q, want ours as before %q", from, got, want)
				case (rekey || move) && bytes.Equal(keyOf(t, "answer to the re-offer", res.Body()), keyOf(t, "first SDP", ours)):
					t.Errorf("our answer to %s's re-offer (%s) has a=crypto %q, want a new key of ours", from, change, got)
				}
				invites := 1 // the client got none before, the SBC the call's
				if other == sbc {
					invites = 2
				}
				relayed := other.p.waitLast(ctx, gosip.INVITE, invites)
				if got, want := media(t, "re-offer to the other peer", relayed.Body()).Crypto, media(t, "first SDP", before).Crypto; !slices.Equal(got, want) {
					t.Errorf("our re-offer to the other peer has a=crypto %q, want ours as before %q", got, want)
				}

				// Everything sent from before the re-offer until some time
				// after it arrives, decrypted under the keys of the call's
				// first exchange.
				lastRe, lastOther := re.sent()+20, other.sent()+20
				for re.sent() < lastRe || other.sent() < lastOther {
					select {
					case <-time.After(10 * time.Millisecond):
					case <-ctx.Done():
						t.Fatal("the parties stopped talking")
					}
				}
				other.heard(ctx, from+"'s packets under its old key after our 200", lateOld)
				other.heard(ctx, from+"'s packets across the re-offer", span(firstRe+1, lastRe))
				re.heard(ctx, "the other peer's packets across the re-offer", span(firstOther+1, lastOther))
			})
		}
	}
}

// reinviteAs sends req, a re-INVITE of one party, with body through do,
// hands its final response to afterOK at once, then to ack, which ACKs a
// 2xx and waits until the server has the ACK.
func reinviteAs(ctx context.Context, t *testing.T, body []byte, afterOK func(*gosip.Response),
	do func(*gosip.Request) *gosip.Response, ack func(*gosip.Response), req *gosip.Request) *gosip.Response {
	t.Helper()
	req.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(body)
	res := do(req)
	afterOK(res)
	if res.StatusCode == 200 {
		ack(res)
	}
	return res
}

// TestSRTPAnswerRekeys: the client re-INVITEs without SDP, our 200
// offers it the session it has, and its ACK answers with a new key of its
// own, under which it sends at once. In an anchored call a new key alone
// changes nothing for the SBC's leg: the relay decrypts under it at once
// and the SBC gets no re-INVITE; relayed to the SBC as an offer, the key
// was taken only once the SBC had answered, and the client's packets
// meanwhile were lost (r26-regr R1). With its media at a new port too, it
// goes to the SBC as a re-offer; our key towards the client stays the one
// it has (nothing answers an answer): a new one, which the client never
// learnt, had the relay's packets to it fail to decrypt from then on.
func TestSRTPAnswerRekeys(t *testing.T) {
	newKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, 30))
	for _, move := range []bool{false, true} {
		name := "new key"
		if move {
			name = "new key at a new port"
		}
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			client, sbc := newRekeyParty(t, "client", fixtureKey), newRekeyParty(t, "sbc", sbcKey)
			srv := serveTo(t, sbc.p.addr(), "udp", func(c *mediation.Config) { c.Gateways[0].SRTP = "required" })
			oc, _ := srtpCallUp(ctx, t, client, sbc, srv, nil)

			ourTag, _ := oc.inv.From().Params.Get("tag")
			reinv := inCallerDialog(oc, gosip.INVITE, 2, ourTag) // 1 was ackTaken's OPTIONS
			ok := doIn(ctx, t, oc, reinv)
			if ok.StatusCode != 200 || len(ok.Body()) == 0 {
				t.Fatalf("re-INVITE without SDP got %d with %d bytes of SDP, want 200 with an offer", ok.StatusCode, len(ok.Body()))
			}
			if got := keyOf(t, "our offer in the 200", ok.Body()); !bytes.Equal(got, keyOf(t, "answer to the client", oc.final.Body())) {
				t.Fatalf("our offer in the 200 has another key of ours")
			}
			if move {
				client.move(ctx)
			}
			ack := inCallerDialog(oc, gosip.ACK, 2, ourTag)
			ack.Recipient = ok.Contact().Address
			ack.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
			ack.SetBody(client.offer(newKey))
			if err := client.p.stack.Client("udp").WriteRequest(ack); err != nil {
				t.Fatal(err)
			}
			client.setKey(newKey)
			invites := 1
			if move {
				invites = 2
				// Its ACK goes once its answer is applied.
				sbc.p.wait(ctx, gosip.ACK, 2)
			}
			// The first of the client's packets under its new key that the
			// relay takes may be a few after the ACK: the server reads the
			// ACK when it can (a loaded machine). From then on, none is lost.
			from := sbc.firstHeard(ctx, client.sent()+1)
			fromSBC := sbc.sent() + 1
			for client.sent() < from+30 || sbc.sent() < fromSBC+30 {
				select {
				case <-time.After(10 * time.Millisecond):
				case <-ctx.Done():
					t.Fatal("the parties stopped talking")
				}
			}
			sbc.heard(ctx, "the client's packets under its new key", span(from, from+30))
			client.heard(ctx, "the SBC's packets", span(fromSBC, fromSBC+30))
			if n := sbc.p.count(gosip.INVITE); n != invites {
				t.Errorf("the SBC got %d INVITEs, want %d", n, invites)
			}
		})
	}
}

// TestSRTPAnswerRekeysDuringRefresh: we refresh both legs; the client
// answers our refresh with a new key of its own, under which it sends at
// once, while our refresh of the SBC waits for its answer. The new key
// applies at once all the same (r27-review F2): it waited for the SBC's
// answer, the client's media under its new key dropped meanwhile.
func TestSRTPAnswerRekeysDuringRefresh(t *testing.T) {
	newKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x6b}, 30))
	ctx := testCtx(t, 30*time.Second)
	client, sbc := newRekeyParty(t, "client", fixtureKey), newRekeyParty(t, "sbc", sbcKey)
	// Our refresh of the SBC: held until the client's media under its
	// new key has come through.
	sbcRefreshing, release := make(chan struct{}), make(chan struct{})
	var sbcOnce, clientOnce sync.Once
	sbc.p.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		sbcOnce.Do(func() { close(sbcRefreshing) })
		select {
		case <-release:
		case <-ctx.Done():
			return
		}
		sbc.p.reply(req, tx, 200, sbc.sdp(), gosip.NewHeader("Session-Expires", "60;refresher=uac"))
	})
	// Our refresh of the client: answered with its new key once our
	// refresh of the SBC is in progress; it sends under that key from then.
	client.p.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		select {
		case <-sbcRefreshing:
		case <-ctx.Done():
			return
		}
		body := client.sdp()
		clientOnce.Do(func() { body = client.offer(newKey) })
		client.p.reply(req, tx, 200, body, gosip.NewHeader("Session-Expires", "60;refresher=uas"))
		client.setKey(newKey)
	})
	srv := serveTo(t, sbc.p.addr(), "udp", func(c *mediation.Config) {
		c.Gateways[0].SRTP = "required"
		c.Gateways[0].SessionTimer = mediation.SessionTimerConfig{Enabled: true, Expires: 2 * time.Second, MinSE: time.Second}
		c.Edge.SessionTimer.MinSE = time.Second
	})
	srtpCallUp(ctx, t, client, sbc, srv,
		[]gosip.Header{gosip.NewHeader("Session-Expires", "2;refresher=uac"), gosip.NewHeader("Require", "timer")},
		gosip.NewHeader("Supported", "timer"), gosip.NewHeader("Session-Expires", "2;refresher=uas"))
	client.p.wait(ctx, gosip.INVITE, 1) // our refresh, answered with the new key
	from := sbc.firstHeard(ctx, client.sent()+1)
	for client.sent() < from+20 {
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("the client stopped talking")
		}
	}
	sbc.heard(ctx, "the client's packets under its new key, our refresh of the SBC unanswered", span(from, from+20))
	close(release)
}

// srtpCallUp places an anchored call from client to sbc through srv, both
// legs SRTP: the SBC answers 200 with sbcHdrs, the client's INVITE carries
// callHdrs. It returns once both parties talk under the keys of that
// exchange and the SBC has the client's first packets, with the client's
// call and the SBC's INVITE.
func srtpCallUp(ctx context.Context, t *testing.T, client, sbc *rekeyParty, srv *mediation.Server, sbcHdrs []gosip.Header, callHdrs ...gosip.Header) (*outCall, *peerInvite) {
	t.Helper()
	invited := make(chan *peerInvite, 1)
	sbc.p.invites(func(pi *peerInvite) {
		pi.respond(200, sbc.sdp(), sbcHdrs...)
		invited <- pi
	})
	oc := client.p.call(ctx, srv.EdgeAddr(), "udp", client.sdp(), callHdrs...)
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("call got %d", res.StatusCode)
	}
	_ = oc.d.Ack(ctx)
	ackTaken(ctx, t, oc)
	var pi *peerInvite
	select {
	case pi = <-invited:
	case <-ctx.Done():
		t.Fatal("the SBC got no INVITE")
	}
	pi.mustWaitAck(ctx)
	toClient, toSBC := oc.final.Body(), pi.req.Body()
	client.run(ctx, media(t, "answer to the client", toClient).RTP(), keyOf(t, "answer to the client", toClient))
	sbc.run(ctx, media(t, "offer to the SBC", toSBC).RTP(), keyOf(t, "offer to the SBC", toSBC))
	sbc.heard(ctx, "the client's first packets", span(1, 5))
	return oc, pi
}
