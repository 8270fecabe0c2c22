package mediation_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/sdp"
)

// versioned is body, an SDP of lawSDP's, with o= version v and direction
// dir.
func versioned(body []byte, v int, dir string) []byte {
	body = bytes.Replace(body, []byte("o=peer 1 1 "), fmt.Appendf(nil, "o=peer 1 %d ", v), 1)
	return bytes.Replace(body, []byte("a=sendrecv"), []byte("a="+dir), 1)
}

// TestSBCReofferInOtherLaw: on an anchored outbound call with a client
// that offered PCMU alone, the SBC holds, then resumes offering PCMA
// alone (RFC 3264 §8.3.2 lets it). The client is offered the SBC's PCMA
// and, after it, its own PCMU (the relay transcodes): it answers PCMU,
// the call resumes, and media flows both ways transcoded, PCMA on the
// SBC's leg and PCMU on the client's. Offered PCMA alone, as before, the
// client refused (488) and the call stayed on hold.
func TestSBCReofferInOtherLaw(t *testing.T) {
	ctx := testCtx(t, 40*time.Second)
	sbc := startPeer(t, "sbc")
	sbcMedia, sbcPort := mediaSocket(t)
	invited := make(chan *peerInvite, 1)
	sbc.invites(func(pi *peerInvite) {
		pi.respond(200, lawSDP(sbcPort, 0, 101))
		invited <- pi
	})
	srv := serveTo(t, sbc.addr(), "udp", nil)

	// The client takes PCMU only: a re-offer without it gets 488.
	caller := startPeer(t, "client")
	client, clientPort := mediaSocket(t)
	var version atomic.Int32
	version.Store(1)
	offers := make(chan sdp.Media, 4)
	caller.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		m, err := sdp.Parse(req.Body())
		if err != nil {
			caller.reply(req, tx, 400, nil)
			return
		}
		offers <- m
		if !slices.ContainsFunc(m.Codecs, func(c sdp.Codec) bool { return c.PT == 0 && strings.EqualFold(c.Name, "PCMU") }) {
			caller.reply(req, tx, 488, nil)
			return
		}
		dir := map[string]string{sdp.SendOnly: sdp.RecvOnly, sdp.RecvOnly: sdp.SendOnly, sdp.Inactive: sdp.Inactive}[m.Direction]
		if dir == "" {
			dir = sdp.SendRecv
		}
		caller.reply(req, tx, 200, versioned(lawSDP(clientPort, 0, 101), int(version.Add(1)), dir))
	})
	nextOffer := func(what string) sdp.Media {
		t.Helper()
		select {
		case m := <-offers:
			return m
		case <-ctx.Done():
			t.Fatalf("the client got no %s", what)
			return sdp.Media{}
		}
	}

	oc := caller.call(ctx, srv.EdgeAddr(), "udp", lawSDP(clientPort, 0, 101)) // no bypass ID: anchored
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
	send := calleeReinvites(t, sbc, pi)

	if res := send(ctx, versioned(lawSDP(sbcPort, 0, 101), 2, sdp.Inactive)); res.StatusCode != 200 {
		t.Fatalf("SBC's hold got %d", res.StatusCode)
	}
	if m := nextOffer("hold"); m.Direction != sdp.Inactive {
		t.Fatalf("hold offered to the client %s, want inactive", m.Direction)
	}

	res := send(ctx, versioned(lawSDP(sbcPort, 8, 101), 3, sdp.SendRecv))
	resume := nextOffer("resume")
	if got, want := codecNames(resume), "8 PCMA, 0 PCMU, 101 telephone-event"; got != want {
		t.Errorf("resume offered to the client %q, want %q: the SBC's law first, then the client's", got, want)
	}
	if res.StatusCode != 200 {
		t.Fatalf("SBC's PCMA-only resume got %d, want 200", res.StatusCode)
	}
	answer := media(t, "answer to the SBC's resume", res.Body())
	if g := answer.G711(); len(g) != 1 || g[0].PT != 8 || answer.Direction != sdp.SendRecv {
		t.Fatalf("SBC answered %q %s, want PCMA only, sendrecv", codecNames(answer), answer.Direction)
	}

	const n = 50
	playTone(t, sbcMedia, answer.RTP(), 8, sbcHz, n)
	hear(t, client, n).check(t, "client", n, 0, sbcHz)
	playTone(t, client, resume.RTP(), 0, clientHz, n)
	hear(t, sbcMedia, n).check(t, "SBC", n, 8, clientHz)
	_ = oc.d.Bye(ctx)
	sbc.wait(ctx, gosip.BYE, 1)
}

// TestPacketisationRelayed: the relay forwards packets as they come, so
// each peer is told the other's a=ptime and a=maxptime (RFC 4566 §6): the
// client's in the offer to the SBC, the SBC's in the answer to the
// client. The client then packs within the SBC's maximum and the SBC
// within the client's.
func TestPacketisationRelayed(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc := startPeer(t, "sbc")
	_, sbcPort := mediaSocket(t)
	sbc.invites(func(pi *peerInvite) {
		pi.respond(200, bytes.Replace(lawSDP(sbcPort, 0, 101), []byte("a=ptime:20\r\n"), []byte("a=ptime:30\r\na=maxptime:30\r\n"), 1))
	})
	srv := serveTo(t, sbc.addr(), "udp", nil)
	caller := startPeer(t, "client")
	_, clientPort := mediaSocket(t)
	offer := bytes.Replace(lawSDP(clientPort, 0, 8, 101), []byte("a=ptime:20\r\n"), []byte("a=ptime:40\r\na=maxptime:60\r\n"), 1)
	oc := caller.call(ctx, srv.EdgeAddr(), "udp", offer) // no bypass ID: anchored
	res := oc.answer(ctx, nil)
	if res.StatusCode != 200 {
		t.Fatalf("call got %d", res.StatusCode)
	}
	_ = oc.d.Ack(ctx)
	toSBC := media(t, "offer to the SBC", sbc.wait(ctx, gosip.INVITE, 1).Body())
	if toSBC.Ptime != 40 || toSBC.MaxPtime != 60 {
		t.Errorf("offer to the SBC has ptime %d maxptime %d, want the client's 40 and 60", toSBC.Ptime, toSBC.MaxPtime)
	}
	toClient := media(t, "answer to the client", res.Body())
	if toClient.Ptime != 30 || toClient.MaxPtime != 30 {
		t.Errorf("answer to the client has ptime %d maxptime %d, want the SBC's 30 and 30", toClient.Ptime, toClient.MaxPtime)
	}
	_ = oc.d.Bye(ctx)
	sbc.wait(ctx, gosip.BYE, 1)
}
