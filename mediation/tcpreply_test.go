package mediation_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestCallerConnectionClosedCallCompletes: RFC 3261 §18.2.2 through the
// whole daemon. A caller sends its INVITE over TCP from an ephemeral port,
// with its listening port in Via, and closes the connection once the call
// rings; the rest of the responses (the 200) reach it over a connection
// the server opens to the source IP and that Via port, and the caller's
// ACK and BYE on that connection complete the call.
func TestCallerConnectionClosedCallCompletes(t *testing.T) {
	const ring = 3 * time.Second // the caller closes within it (once it has the 183)
	lab := mediationtest.Start(t, mediationtest.Options{
		SBC: endpoint.SBCConfig{Ring: ring},
		Configure: func(c *mediation.Config) {
			c.SIP.TCP.MaxConnectionsPerIP = 10
		},
	})
	edge := lab.Server.EdgeAddr().String()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	local := ln.Addr().String() // our Via sent-by and Contact

	conn, err := net.Dial("tcp", edge)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := string(fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
	msg := strings.ReplaceAll(rawInvite(local, edge, nil), "%T", "TCP")
	msg = strings.Replace(msg, "Content-Length: 0\r\n", fmt.Sprintf("Content-Type: application/sdp\r\nContent-Length: %d\r\n", len(body)), 1) + body
	inv, err := gosip.ParseMessage([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(ring))
	rd := bufio.NewReader(conn)
	for {
		res := readResponse(t, conn, rd, "tcp")
		if res.StatusCode >= 200 {
			t.Fatalf("got %d before the caller closed: the SBC answered before its ring time", res.StatusCode)
		}
		if res.StatusCode > 100 {
			break // ringing
		}
	}
	conn.Close()

	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	var back net.Conn
	select {
	case back = <-accepted:
	case <-time.After(ring + 10*time.Second):
		t.Fatalf("no connection back to the Via's sent-by %s", local)
	}
	defer back.Close()
	_ = back.SetDeadline(time.Now().Add(20 * time.Second))
	brd := bufio.NewReader(back)
	var ok *gosip.Response
	for ok == nil {
		if res := readResponse(t, back, brd, "tcp"); res.StatusCode >= 200 {
			if res.StatusCode != 200 {
				t.Fatalf("final response %d, want 200", res.StatusCode)
			}
			ok = res
		}
	}

	// ACK and BYE on the new connection: the call is up, then over.
	target := ok.Contact().Address.String()
	inDialog := func(method string, cseq int) string {
		return fmt.Sprintf("%s %s SIP/2.0\r\nVia: SIP/2.0/TCP %s;branch=z9hG4bK%s\r\nMax-Forwards: 70\r\nFrom: %s\r\nTo: %s\r\n"+
			"Call-ID: %s\r\nCSeq: %d %s\r\nContact: <sip:caller@%s;transport=tcp>\r\nContent-Length: 0\r\n\r\n",
			method, target, local, gosip.GenerateBranchN(8), inv.(*gosip.Request).From().Value(), ok.To().Value(),
			inv.(*gosip.Request).CallID().Value(), cseq, method, local)
	}
	if _, err := back.Write([]byte(inDialog("ACK", 1) + inDialog("BYE", 2))); err != nil {
		t.Fatal(err)
	}
	for {
		res := readResponse(t, back, brd, "tcp")
		if res.CSeq().MethodName == gosip.BYE {
			if res.StatusCode != 200 {
				t.Fatalf("BYE got %d", res.StatusCode)
			}
			break
		}
	}
	mediationtest.WaitMetric(t, lab.Server, 1, "mediationserver_sip_dial_backs_total", "side", "edge", "result", "opened")
}
