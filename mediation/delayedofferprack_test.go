package mediation_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/zaf/g711"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/tone"
)

// delayedOfferCall is an SBC's delayed-offer INVITE (no SDP, with hdrs)
// through a lab server (configured by configure, when not nil) to a raw
// client, which has read the server's INVITE.
type delayedOfferCall struct {
	raw  *rawSBC
	srv  *mediation.Server
	sbc  *peer
	oc   *outCall
	inv  *gosip.Request
	from func(wire []byte)
}

func startDelayedOfferCall(ctx context.Context, t *testing.T, configure func(*mediation.Config), hdrs ...gosip.Header) *delayedOfferCall {
	t.Helper()
	dc := &delayedOfferCall{raw: startRawSBC(t), sbc: startPeer(t, "sbc")}
	dc.srv = serveTo(t, dc.sbc.addr(), "udp", func(c *mediation.Config) {
		c.Edge.Peer = dc.raw.addr().String()
		if configure != nil {
			configure(c)
		}
	})
	dc.oc = dc.sbc.call(ctx, dc.srv.GatewayAddr(), "udp", nil, hdrs...)
	inv, from := dc.raw.read("")
	dc.inv = inv
	dc.from = func(wire []byte) {
		t.Helper()
		if _, err := dc.raw.conn.WriteToUDPAddrPort(wire, from); err != nil {
			t.Fatal(err)
		}
	}
	return dc
}

// gatewayCodec waits until the call's gateway leg has a codec (its relay
// pointed at the SBC's answer) and returns it.
func gatewayCodec(t *testing.T, srv *mediation.Server) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if calls := srv.Calls(); len(calls) == 1 && calls[0].GatewayLeg.Codec != "" {
			return calls[0].GatewayLeg.Codec
		}
		if time.Now().After(deadline) {
			t.Fatalf("the relay was never pointed at the SBC's answer: %+v", srv.Calls())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDelayedOfferSupported100relUnreliable18x: an SBC's INVITE without
// SDP (delayed offer) with Supported: 100rel; the client answers our offer
// in a 183 from two forks, fork A then 200. RFC 3261 §13.2.1: "The initial
// offer MUST be in either an INVITE or, if not there, in the first
// reliable non-failure message from the UAS back to the UAC." Our offer
// goes in the 200, so our 18x go unreliably (no Require: 100rel, no RSeq)
// and without SDP; the SBC answers in its ACK, and the relay is pointed
// at that answer. They used to go reliably without SDP, the offer first
// in the 200 (r27-early F3).
func TestDelayedOfferSupported100relUnreliable18x(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	dc := startDelayedOfferCall(ctx, t, nil, gosip.NewHeader("Supported", "100rel"))
	ans := fixtureBody(t, "sfb-answer-no-bypassid.sdp")
	dc.from(rawResponseWith(dc.raw, dc.inv, 183, "A", ans))
	dc.from(rawResponseWith(dc.raw, dc.inv, 183, "B", ans))
	go func() {
		time.Sleep(200 * time.Millisecond)
		dc.from(rawResponseWith(dc.raw, dc.inv, 200, "A", nil))
	}()
	var mu sync.Mutex
	var bad []string
	res := dc.oc.answer(ctx, func(r *gosip.Response) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.GetHeader("RSeq") != nil:
			bad = append(bad, fmt.Sprintf("reliable %d", r.StatusCode))
		case len(r.Body()) > 0:
			bad = append(bad, fmt.Sprintf("SDP in %d", r.StatusCode))
		}
	})
	if res.StatusCode != 200 || len(res.Body()) == 0 {
		t.Fatalf("SBC got %d with %d bytes of SDP, want 200 with our offer", res.StatusCode, len(res.Body()))
	}
	ack := gosip.NewRequest(gosip.ACK, res.Contact().Address)
	ack.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	ack.SetBody(fixtureBody(t, "sbc-answer-pcma.sdp"))
	if err := dc.oc.d.WriteAck(ctx, ack); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(bad) > 0 {
		t.Errorf("18x to a delayed-offer INVITE from an SBC that only supports 100rel: %v; want them unreliable and without SDP, the offer in the 200 (RFC 3261 §13.2.1)", bad)
	}
	mu.Unlock()
	if codec := gatewayCodec(t, dc.srv); codec != "PCMA" {
		t.Errorf("gateway leg codec %q, want the ACK's PCMA", codec)
	}
}

// TestDelayedOfferRequired100relOfferIn18x: an SBC that requires 100rel
// (Require: 100rel in its INVITE, or the trunk's prack: required) sends a
// delayed-offer INVITE; the client answers our offer in a 183 from two
// forks, fork A then 200 without SDP. Our 18x must go reliably (RFC 3262
// §3), so the first reliable 18x of each early dialog carries our offer
// (RFC 3261 §13.2.1), and the SBC answers in the PRACK (RFC 3262 §5),
// which gets 200 (not the 488 an offer in a PRACK gets). Our 200 waits
// for that PRACK and carries no SDP (the exchange is done), the ACK none
// either, and the relay is pointed at the PRACK's answer.
func TestDelayedOfferRequired100relOfferIn18x(t *testing.T) {
	for _, tc := range []struct {
		name      string
		configure func(*mediation.Config)
		hdrs      []gosip.Header
	}{
		{"Require header", nil, []gosip.Header{gosip.NewHeader("Require", "100rel")}},
		{"trunk prack required", func(c *mediation.Config) { c.Gateways[0].Prack = mediation.PrackRequired },
			[]gosip.Header{gosip.NewHeader("Supported", "100rel")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			dc := startDelayedOfferCall(ctx, t, tc.configure, tc.hdrs...)
			ans := fixtureBody(t, "sfb-answer-no-bypassid.sdp")
			dc.from(rawResponseWith(dc.raw, dc.inv, 183, "A", ans))
			dc.from(rawResponseWith(dc.raw, dc.inv, 183, "B", ans))
			go func() {
				time.Sleep(200 * time.Millisecond)
				dc.from(rawResponseWith(dc.raw, dc.inv, 200, "A", nil))
			}()
			s := newStrictSBC(ctx, t, dc.sbc, dc.oc, 0)
			var mu sync.Mutex
			var problems []string
			offered := map[string]bool{}
			var wg sync.WaitGroup
			res := dc.oc.answer(ctx, func(r *gosip.Response) {
				if r.StatusCode == 100 {
					return
				}
				if r.GetHeader("RSeq") == nil {
					mu.Lock()
					problems = append(problems, fmt.Sprintf("unreliable %d", r.StatusCode))
					mu.Unlock()
					return
				}
				rseq, tag := rseqTag(r)
				p := s.prack(r, rseq, tag)
				mu.Lock()
				if !offered[tag] {
					offered[tag] = true
					if len(r.Body()) == 0 {
						problems = append(problems, "no offer in the first reliable 18x of early dialog "+tag)
					} else {
						p.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
						p.SetBody(fixtureBody(t, "sbc-answer-pcma.sdp"))
					}
				}
				mu.Unlock()
				wg.Add(1)
				go func() {
					defer wg.Done()
					if code := s.do(p); code != 200 {
						mu.Lock()
						problems = append(problems, fmt.Sprintf("PRACK of %d in early dialog %s got %d", r.StatusCode, tag, code))
						mu.Unlock()
					}
				}()
			})
			wg.Wait()
			if res.StatusCode != 200 {
				t.Fatalf("SBC got %d", res.StatusCode)
			}
			if len(res.Body()) > 0 {
				t.Errorf("our 200 carries SDP after the offer/answer in the reliable 18x and its PRACK:\n%s", res.Body())
			}
			ack := gosip.NewRequest(gosip.ACK, res.Contact().Address)
			if err := dc.oc.d.WriteAck(ctx, ack); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			if len(offered) != 2 || len(problems) > 0 {
				t.Errorf("reliable 18x in early dialogs %v; %v", offered, problems)
			}
			mu.Unlock()
			if codec := gatewayCodec(t, dc.srv); codec != "PCMA" {
				t.Errorf("gateway leg codec %q, want the PRACK's PCMA", codec)
			}
		})
	}
}

// TestDelayedOfferRequired100relPrackWithoutAnswer: an SBC that requires
// 100rel PRACKs our reliable 183 that carried the offer of its delayed-offer
// INVITE without the answer RFC 3262 §5 puts there: the PRACK gets 200 (it
// acknowledges the 183), and the INVITE 488 with a Warning, the call having
// no answer to go on with (no other request of the SBC's may carry it).
func TestDelayedOfferRequired100relPrackWithoutAnswer(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	dc := startDelayedOfferCall(ctx, t, nil, gosip.NewHeader("Require", "100rel"))
	dc.from(rawResponseWith(dc.raw, dc.inv, 183, "A", fixtureBody(t, "sfb-answer-no-bypassid.sdp")))
	s := newStrictSBC(ctx, t, dc.sbc, dc.oc, 0)
	prack := make(chan int, 4)
	res := dc.oc.answer(ctx, func(r *gosip.Response) {
		if r.GetHeader("RSeq") == nil {
			return
		}
		rseq, tag := rseqTag(r)
		p := s.prack(r, rseq, tag)
		go func() { prack <- s.do(p) }()
	})
	if res.StatusCode != 488 || res.GetHeader("Warning") == nil {
		t.Errorf("SBC got %d (Warning %v), want 488 with a Warning", res.StatusCode, res.GetHeader("Warning"))
	}
	if code := <-prack; code != 200 {
		t.Errorf("PRACK got %d, want 200", code)
	}
	waitCalls(t, dc.srv, 0)
}

// TestDelayedOfferRequired100relUpdateBeforePrack: as above, the SBC
// requiring 100rel; before its PRACK answers our offer in the reliable
// 183, it sends an UPDATE with an offer of its own in that early dialog:
// 491 (RFC 3311 §5.2: an offer while one we made there is unanswered),
// not relayed. Our reliable 183 used to count as the INVITE's exchange
// done in that dialog (an answer's), and the UPDATE went on to the client
// (r27-review2 F6). The PRACK with the answer then completes the exchange
// and the call is answered.
func TestDelayedOfferRequired100relUpdateBeforePrack(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	dc := startDelayedOfferCall(ctx, t, nil, gosip.NewHeader("Require", "100rel"))
	dc.from(rawResponseWith(dc.raw, dc.inv, 183, "A", fixtureBody(t, "sfb-answer-no-bypassid.sdp")))
	s := newStrictSBC(ctx, t, dc.sbc, dc.oc, 0)
	codes := make(chan [2]int, 1)
	answered := false
	res := dc.oc.answer(ctx, func(r *gosip.Response) {
		if r.GetHeader("RSeq") == nil || answered {
			return
		}
		answered = true
		rseq, tag := rseqTag(r)
		// The UPDATE first, in the CSeq count of that early dialog.
		p := s.prack(r, rseq, tag)
		u := gosip.NewRequest(gosip.UPDATE, r.Contact().Address)
		for _, h := range []gosip.Header{p.From(), p.To(), p.CallID()} {
			u.AppendHeader(gosip.HeaderClone(h))
		}
		u.AppendHeader(&gosip.CSeqHeader{SeqNo: p.CSeq().SeqNo, MethodName: gosip.UPDATE})
		u.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
		u.SetBody(fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
		u.SetTransport(p.Transport())
		p = s.prack(r, rseq, tag)
		p.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
		p.SetBody(fixtureBody(t, "sbc-answer-pcma.sdp"))
		go func() {
			uc := s.do(u)
			pc := s.do(p)
			if pc == 200 {
				dc.from(rawResponseWith(dc.raw, dc.inv, 200, "A", nil))
			}
			codes <- [2]int{uc, pc}
		}()
	})
	c := <-codes
	if c[0] != 491 {
		t.Errorf("the SBC's UPDATE offer before its PRACK answered ours got %d, want 491", c[0])
	}
	if c[1] != 200 {
		t.Errorf("the PRACK with the answer got %d", c[1])
	}
	if res.StatusCode != 200 {
		t.Fatalf("SBC got %d", res.StatusCode)
	}
	ack := gosip.NewRequest(gosip.ACK, res.Contact().Address)
	if err := dc.oc.d.WriteAck(ctx, ack); err != nil {
		t.Fatal(err)
	}
	for {
		r, _ := dc.raw.read(gosip.INVITE)
		if r.Method == gosip.UPDATE {
			t.Fatal("the SBC's UPDATE offer reached the client")
		}
		if r.Method == gosip.ACK {
			break
		}
	}
}

// TestDelayedOfferRequired100relOfferBeforeClientAnswer: the client's first
// provisional of a delayed-offer call from an SBC that requires 100rel is a
// 180 without SDP, so our reliable 180 must carry our offer before the
// client has answered ours (RFC 3261 §13.2.1). That offer has
// telephone-event: the client was offered it, and the relay takes the
// SBC's events whatever the client answers (tones to a client without
// them). Without it the SBC could send no RFC 4733 events for the whole
// call (r27-review2 F6: the offer was built from no answer, G.711 alone).
func TestDelayedOfferRequired100relOfferBeforeClientAnswer(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	dc := startDelayedOfferCall(ctx, t, nil, gosip.NewHeader("Require", "100rel"))
	if !strings.Contains(string(dc.inv.Body()), "telephone-event") {
		t.Fatalf("the client's offer has no telephone-event:\n%s", dc.inv.Body())
	}
	dc.from(rawResponseWith(dc.raw, dc.inv, 180, "A", nil))
	first := make(chan *gosip.Response, 1)
	wctx, cancel := context.WithCancel(ctx)
	waited := make(chan struct{})
	go func() {
		defer close(waited)
		_ = dc.oc.d.WaitAnswer(wctx, sipgo.AnswerOptions{OnResponse: func(r *gosip.Response) error {
			if r.StatusCode != 100 && r.GetHeader("RSeq") != nil {
				select {
				case first <- r:
				default:
				}
			}
			return nil
		}})
	}()
	defer func() { cancel(); <-waited }()
	select {
	case r := <-first:
		m := media(t, "our offer in the reliable 180", r.Body())
		if _, ok := m.TelephoneEvent(); !ok || len(m.G711()) == 0 {
			t.Errorf("our offer in the reliable %d before the client answered: %s; want G.711 and telephone-event", r.StatusCode, r.Body())
		}
	case <-ctx.Done():
		t.Fatal("no reliable 18x")
	}
}

// TestDelayedOfferRequired100relDigitsAsTones: the call of
// TestDelayedOfferRequired100relOfferBeforeClientAnswer goes on: the SBC
// answers our offer (with telephone-event) in its PRACK, the client's 200
// has none. The SBC's RFC 4733 digit reaches the client as in-band DTMF in
// its law, as when a callee's 200 drops the events of its 183: the relay
// pointed both legs at the events of neither, and dropped every digit of
// the call as an unknown payload type (r28-review2 F2).
func TestDelayedOfferRequired100relDigitsAsTones(t *testing.T) {
	const digit = 5 // 770 + 1336 Hz
	ctx := testCtx(t, 30*time.Second)
	clientMedia, sbcMedia := rtpSock(t), rtpSock(t)
	dc := startDelayedOfferCall(ctx, t, nil, gosip.NewHeader("Require", "100rel"))
	dc.from(rawResponseWith(dc.raw, dc.inv, 180, "A", nil))
	s := newStrictSBC(ctx, t, dc.sbc, dc.oc, 0)
	var relayGW netip.AddrPort
	prackDone := make(chan struct{})
	var once sync.Once
	go func() {
		<-prackDone
		// The client answers, without telephone-event.
		dc.from(rawResponseWith(dc.raw, dc.inv, 200, "A", loopSDP(sockPort(clientMedia), "sendrecv", false, "PCMU")))
	}()
	res := dc.oc.answer(ctx, func(r *gosip.Response) {
		if r.StatusCode == 100 || r.GetHeader("RSeq") == nil {
			return
		}
		rseq, tag := rseqTag(r)
		p := s.prack(r, rseq, tag)
		if len(r.Body()) > 0 {
			relayGW = media(t, "our offer in the reliable 18x", r.Body()).RTP()
			p.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
			p.SetBody(loopSDP(sockPort(sbcMedia), "sendrecv", true, "PCMU"))
		}
		go func() {
			if code := s.do(p); code != 200 {
				t.Errorf("PRACK got %d", code)
			}
			once.Do(func() { close(prackDone) })
		}()
	})
	if res.StatusCode != 200 || !relayGW.IsValid() {
		t.Fatalf("SBC got %d, our offer's address %v", res.StatusCode, relayGW)
	}
	if err := dc.oc.d.WriteAck(ctx, gosip.NewRequest(gosip.ACK, res.Contact().Address)); err != nil {
		t.Fatal(err)
	}
	gatewayCodec(t, dc.srv)
	// A 100 ms digit: a start, updates, three end packets, all on the
	// event's start timestamp (RFC 4733 §2.3), on the SBC answer's 101.
	for i, d := range []uint16{160, 480, 800, 800, 800} {
		end := byte(0)
		if i >= 2 {
			end = 0x80
		}
		payload := []byte{digit, end | 10, 0, 0}
		binary.BigEndian.PutUint16(payload[2:], d)
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: uint16(10 + i), Timestamp: 4000, SSRC: 0x55, Marker: i == 0}, Payload: payload}
		b, _ := pkt.Marshal()
		if _, err := sbcMedia.WriteToUDPAddrPort(b, relayGW); err != nil {
			t.Fatal(err)
		}
	}
	var heard []int16
	buf := make([]byte, 1500)
	for len(heard) < 800 {
		_ = clientMedia.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := clientMedia.Read(buf)
		if err != nil {
			t.Fatalf("the client heard %d samples of the SBC's digit: %v", len(heard), err)
		}
		var p rtp.Packet
		if p.Unmarshal(buf[:n]) != nil || p.PayloadType != 0 {
			t.Fatalf("the client got %d bytes, not PCMU RTP (PT %d)", n, p.PayloadType)
		}
		heard = append(heard, pcmSamples(g711.DecodeUlaw(p.Payload))...)
	}
	if got, ok := tone.DetectDTMF(heard, 8000); !ok || got != digit {
		t.Errorf("the client heard DTMF %d (%v), want %d", got, ok, digit)
	}
}
