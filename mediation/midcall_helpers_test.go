package mediation_test

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
)

// Helpers of the mid-call offer tests (midcalloffers_test.go): everything
// bound on 127.0.63.0/24.

// midServe is serveTo with the server on 127.0.63.1.
func midServe(t *testing.T, sbc netip.AddrPort, tr string, configure func(*mediation.Config)) *mediation.Server {
	t.Helper()
	return serveTo(t, sbc, tr, func(c *mediation.Config) {
		c.Edge.Listen, c.GatewayListen = "127.0.63.1:0", "127.0.63.1:0"
		if configure != nil {
			configure(c)
		}
	})
}

// midPeer is a sipgo peer on 127.0.63.<host>.
func midPeer(t *testing.T, name string, host int) *peer {
	t.Helper()
	return startPeerOn(t, name, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 63, byte(host)}), 0), nil)
}

// midRaw is a raw UDP SIP peer on 127.0.63.<host>.
func midRaw(t *testing.T, host int) *rawSBC {
	t.Helper()
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 63, byte(host)}), 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &rawSBC{t: t, conn: conn}
}

// rawRespond writes a response to req from the raw peer with its Contact.
func rawRespond(t *testing.T, s *rawSBC, req *gosip.Request, to netip.AddrPort, code int, tag string, body []byte) {
	t.Helper()
	res := gosip.NewResponseFromRequest(req, code, "X", body)
	if tag != "" && !res.To().Params.Has("tag") {
		res.To().Params.Add("tag", tag)
	}
	res.AppendHeader(&gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", Host: s.addr().Addr().String(), Port: int(s.addr().Port())}})
	if body != nil {
		res.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	}
	if _, err := s.conn.WriteToUDPAddrPort([]byte(res.String()), to); err != nil {
		t.Fatal(err)
	}
}

// rawReadTimeout is the next request the raw peer gets within d (other
// than retransmissions of skip), or nil.
func rawReadTimeout(s *rawSBC, d time.Duration, skip ...gosip.RequestMethod) (*gosip.Request, netip.AddrPort) {
	buf := make([]byte, 65535)
	_ = s.conn.SetReadDeadline(time.Now().Add(d))
	for {
		n, src, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return nil, netip.AddrPort{}
		}
		m, err := gosip.ParseMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			continue
		}
		r, ok := m.(*gosip.Request)
		if !ok {
			continue
		}
		skipped := false
		for _, k := range skip {
			if r.Method == k {
				skipped = true
			}
		}
		if !skipped {
			return r, src
		}
	}
}

// clientSDP is the SfB bypass offer with version v and direction dir.
func clientSDP(t *testing.T, v int, dir string) []byte {
	b := string(fixtureBody(t, "sfb-bypass-offer.sdp"))
	b = strings.Replace(b, "o=- 0 0 ", "o=- 0 "+strconv.Itoa(v)+" ", 1)
	if dir != "" {
		b = strings.TrimRight(b, "\r\n") + "\r\na=" + dir + "\r\n"
	}
	return []byte(b)
}

// cancelOfReinvite is the CANCEL of the client's re-INVITE reinv.
func cancelOfReinvite(reinv *gosip.Request) *gosip.Request {
	cancel := gosip.NewRequest(gosip.CANCEL, reinv.Recipient)
	cancel.AppendHeader(reinv.Via().Clone())
	for _, h := range []gosip.Header{reinv.From(), reinv.To(), reinv.CallID()} {
		cancel.AppendHeader(gosip.HeaderClone(h))
	}
	cancel.AppendHeader(&gosip.CSeqHeader{SeqNo: reinv.CSeq().SeqNo, MethodName: gosip.CANCEL})
	cancel.SetTransport("udp")
	return cancel
}

// pendingHold is an answered outbound call from caller through srv to sbc,
// a raw SBC, whose client has sent a hold re-INVITE (reinv, its
// transaction tx), relayed to the SBC (rinv, from rfrom), not answered.
type pendingHold struct {
	oc          *outCall
	answer      []byte // the SBC's SDP
	ourTag      string // the client's From-tag
	reinv, rinv *gosip.Request
	tx          gosip.ClientTransaction
	rfrom       netip.AddrPort
}

func startPendingHold(ctx context.Context, t *testing.T, srv *mediation.Server, sbc *rawSBC, caller *peer) *pendingHold {
	t.Helper()
	h := &pendingHold{answer: fixtureBody(t, "sbc-answer-pcma.sdp")}
	h.oc = caller.call(ctx, srv.EdgeAddr(), "udp", clientSDP(t, 0, ""))
	inv, from := sbc.read("")
	rawRespond(t, sbc, inv, from, 200, "sbctag", h.answer)
	if res := h.oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("call got %d", res.StatusCode)
	}
	if err := h.oc.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if ack, _ := sbc.read(gosip.INVITE); ack.Method != gosip.ACK {
		t.Fatalf("SBC got %s, want ACK", ack.Method)
	}
	h.ourTag, _ = h.oc.inv.From().Params.Get("tag")
	h.reinv = inCallerDialog(h.oc, gosip.INVITE, 1, h.ourTag)
	h.reinv.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	h.reinv.SetBody(clientSDP(t, 1, "sendonly"))
	tx, err := caller.stack.Client("udp").TransactionRequest(ctx, h.reinv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tx.Terminate)
	h.tx = tx
	h.rinv, h.rfrom = sbc.read(gosip.ACK)
	if h.rinv.Method != gosip.INVITE || !strings.Contains(string(h.rinv.Body()), "a=sendonly") {
		t.Fatalf("SBC got %s, want the relayed hold re-INVITE", h.rinv.Method)
	}
	return h
}
