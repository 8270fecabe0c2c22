package mediation_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/labca"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
	"github.com/mediation-emulator/mediation/sip"
)

// lab is a directory of certificates made by labca (as `mediation cert`).
type lab string

func newLab(t *testing.T, server, client []string) lab {
	t.Helper()
	dir := t.TempDir()
	if err := labca.Generate(dir, labca.Options{ServerNames: server, ClientNames: client}); err != nil {
		t.Fatal(err)
	}
	return lab(dir)
}

func (l lab) file(name string) string { return filepath.Join(string(l), name) }

func (l lab) pool(t *testing.T) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(l.file(labca.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(pem)
	return p
}

// clientCert is the lab's SBC certificate.
func (l lab) clientCert(t *testing.T) tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(l.file(labca.ClientFile), l.file(labca.ClientKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sbcTLS is an SBC's TLS: its certificate for both directions, the lab CA
// for the server's, and client certificates required of the server.
func (l lab) sbcTLS(t *testing.T) *sip.TLSConfig {
	cert, pool := l.clientCert(t), l.pool(t)
	return &sip.TLSConfig{Listen: netip.MustParseAddrPort("127.0.0.1:0"),
		Server: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert},
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool},
		Client: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, RootCAs: pool}}
}

// tlsServer runs a server with mutual TLS on its gateway side and the
// trunk sbc over TLS, named sbc.lab.
func tlsServer(t *testing.T, l lab, sbc netip.AddrPort, configure func(*mediation.Config)) *mediation.Server {
	t.Helper()
	return tlsServerLog(t, l, sbc, testLog(t), configure)
}

// tlsServerLog is tlsServer logging to log.
func tlsServerLog(t *testing.T, l lab, sbc netip.AddrPort, log zerolog.Logger, configure func(*mediation.Config)) *mediation.Server {
	t.Helper()
	cfg := labConfig(sbc, "tls")
	cfg.TLS = mediation.TLSConfig{Cert: l.file(labca.ServerFile), Key: l.file(labca.ServerKeyFile), CA: l.file(labca.CAFile),
		GatewayListen: "127.0.0.1:0", Mutual: true}
	cfg.Gateways[0].TLSName = "sbc.lab"
	if configure != nil {
		configure(cfg)
	}
	return mediationtest.Serve(t, cfg, log)
}

// listenOn puts a server's own listeners, the TLS ones configured
// included, on ip (a test's own loopback address).
func listenOn(c *mediation.Config, ip string) {
	addr := ip + ":0"
	c.Edge.Listen, c.GatewayListen, c.HTTPListen, c.Admin.Listen = addr, addr, addr, addr
	if c.TLS.GatewayListen != "" {
		c.TLS.GatewayListen = addr
	}
	if c.TLS.EdgeListen != "" {
		c.TLS.EdgeListen = addr
	}
}

// TestTLSCallsMutual: an outbound call reaches the SBC over TLS (the
// server checks that the SBC's certificate names sbc.lab, the SBC that
// the server's is from the lab CA), and an inbound call from the SBC over
// mutual TLS reaches the edge.
func TestTLSCallsMutual(t *testing.T) {
	l := newLab(t, []string{"mediation.lab", "127.0.0.1"}, []string{"sbc.lab", "127.0.0.1"})
	sbc := startPeerTLS(t, "sbc", l.sbcTLS(t))
	edge := startPeer(t, "edge")
	srv := tlsServer(t, l, sbc.stack.TLSAddr(), func(c *mediation.Config) { c.Edge.Peer = edge.addr().String() })

	if code := placeCall(t, srv); code != 200 {
		t.Fatalf("outbound call over TLS got %d", code)
	}
	inv := sbc.wait(testCtx(t, 10*time.Second), gosip.INVITE, 1)
	if inv.Transport() != "TLS" || inv.Via().Transport != "TLS" {
		t.Errorf("SBC got the INVITE over %s, Via %s; want TLS", inv.Transport(), inv.Via().Transport)
	}

	ctx := testCtx(t, 30*time.Second)
	oc := sbc.call(ctx, srv.GatewayTLSAddr(), "tls", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("inbound call over TLS got %d", res.StatusCode)
	}
	edge.wait(ctx, gosip.INVITE, 1)
	if err := oc.d.Ack(ctx); err != nil {
		t.Fatalf("ACK over TLS: %v", err)
	}
	if err := oc.d.Bye(ctx); err != nil {
		t.Fatalf("BYE over TLS: %v", err)
	}
	waitCalls(t, srv, 0)
}

// TestTLSRefusesClientCertificates: the gateway side's TLS listener
// refuses a peer with no client certificate, with one from another CA,
// and with one of the lab CA that names no trunk at its address.
func TestTLSRefusesClientCertificates(t *testing.T) {
	l := newLab(t, []string{"mediation.lab", "127.0.0.1"}, []string{"sbc.lab", "127.0.0.1"})
	other := newLab(t, []string{"x.lab"}, []string{"sbc.lab", "127.0.0.1"})
	sbc := startPeerTLS(t, "sbc", l.sbcTLS(t))
	srv := tlsServer(t, l, sbc.stack.TLSAddr(), nil)
	for _, tt := range []struct {
		name  string
		certs []tls.Certificate
	}{
		{"no certificate", nil},
		{"another CA", []tls.Certificate{other.clientCert(t)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tlsExchange(srv.GatewayTLSAddr(), l.pool(t), tt.certs); err == nil {
				t.Fatal("the server took the connection")
			}
		})
	}
	t.Run("name of no trunk", func(t *testing.T) {
		// Signed by the lab CA, but for a name no trunk has.
		if err := labca.IssueClient(string(l), []string{"intruder.lab", "127.0.0.1"}, "intruder.pem", "intruder-key.pem"); err != nil {
			t.Fatal(err)
		}
		cert, err := tls.LoadX509KeyPair(l.file("intruder.pem"), l.file("intruder-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		if err := tlsExchange(srv.GatewayTLSAddr(), l.pool(t), []tls.Certificate{cert}); err == nil {
			t.Fatal("the server took a certificate that names no trunk")
		}
	})
	// The SBC's own certificate works (the control case).
	if err := tlsExchange(srv.GatewayTLSAddr(), l.pool(t), []tls.Certificate{l.clientCert(t)}); err != nil {
		t.Fatalf("the SBC's certificate was refused: %v", err)
	}
}

// TestTLSMutualServerAuthOnlyClientCert: under mutual TLS a client
// certificate with the serverAuth usage alone (as public CAs issue them
// since 2026) is taken on both sides' listeners, checked as any other
// (a trunk's name at its address on the gateway side); one with neither
// TLS usage is refused and counted as bad_certificate.
func TestTLSMutualServerAuthOnlyClientCert(t *testing.T) {
	l := newLab(t, []string{"mediation.lab", "127.0.0.1"}, []string{"sbc.lab", "127.0.0.1"})
	issue := func(name string, usages ...x509.ExtKeyUsage) tls.Certificate {
		if err := labca.IssueWithUsages(string(l), []string{"sbc.lab", "127.0.0.1"}, usages, name+".pem", name+"-key.pem"); err != nil {
			t.Fatal(err)
		}
		cert, err := tls.LoadX509KeyPair(l.file(name+".pem"), l.file(name+"-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	serverOnly := issue("server-only", x509.ExtKeyUsageServerAuth)
	codeSigning := issue("code-signing", x509.ExtKeyUsageCodeSigning)
	sbc := startPeerTLS(t, "sbc", l.sbcTLS(t))
	srv := tlsServer(t, l, sbc.stack.TLSAddr(), func(c *mediation.Config) { c.TLS.EdgeListen = "127.0.0.1:0" })
	for _, side := range []struct {
		name string
		addr netip.AddrPort
	}{{"gateway", srv.GatewayTLSAddr()}, {"edge", srv.EdgeTLSAddr()}} {
		if err := tlsExchange(side.addr, l.pool(t), []tls.Certificate{serverOnly}); err != nil {
			t.Errorf("%s side: a serverAuth-only client certificate was refused: %v", side.name, err)
		}
		if err := tlsExchange(side.addr, l.pool(t), []tls.Certificate{codeSigning}); err == nil {
			t.Errorf("%s side: a certificate without a TLS usage was taken", side.name)
		}
		mediationtest.WaitMetric(t, srv, 1, "mediationserver_tls_handshake_failures_total", "side", side.name, "reason", "bad_certificate")
	}
}

// tlsExchange connects over TLS with certs and sends an OPTIONS; nil when
// an answer came back.
func tlsExchange(addr netip.AddrPort, roots *x509.CertPool, certs []tls.Certificate) error {
	_, err := tlsExchangeFrom(netip.Addr{}, addr, roots, certs)
	return err
}

// tlsExchangeFrom is tlsExchange from the address from (any when
// invalid), checking the server's certificate for addr's IP; it returns
// the certificate the server showed once the answer came back.
func tlsExchangeFrom(from netip.Addr, addr netip.AddrPort, roots *x509.CertPool, certs []tls.Certificate) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	serverName := "127.0.0.1"
	if from.IsValid() {
		d.LocalAddr, serverName = &net.TCPAddr{IP: from.AsSlice()}, addr.Addr().String()
	}
	conn, err := tls.DialWithDialer(d, "tcp", addr.String(), &tls.Config{RootCAs: roots, Certificates: certs, ServerName: serverName})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	local := netip.MustParseAddrPort(conn.LocalAddr().String())
	msg := "OPTIONS sip:" + addr.String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/TLS " + local.String() + ";branch=z9hG4bK-tls-" + gosip.GenerateTagN(8) + "\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <sip:" + addr.String() + ">\r\n" +
		"Call-ID: tls-" + gosip.GenerateTagN(8) + "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	if _, err := conn.Write([]byte(msg)); err != nil {
		return nil, err
	}
	buf := make([]byte, 512)
	if _, err = conn.Read(buf); err != nil {
		return nil, err
	}
	return conn.ConnectionState().PeerCertificates[0], nil
}

// TestFailoverTLSHandshake: a TLS trunk whose certificate is not from the
// configured CA fails the handshake, and the call fails over at once.
func TestFailoverTLSHandshake(t *testing.T) {
	l := newLab(t, []string{"mediation.lab", "127.0.0.1"}, []string{"sbc.lab", "127.0.0.1"})
	other := newLab(t, []string{"sbc.lab", "127.0.0.1"}, []string{"x.lab"})
	cert, err := tls.LoadX509KeyPair(other.file(labca.ServerFile), other.file(labca.ServerKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	backup := startPeer(t, "backup")
	records := filepath.Join(t.TempDir(), "records.jsonl")
	srv := serveTo(t, backup.addr(), "udp", func(c *mediation.Config) {
		c.TLS = mediation.TLSConfig{Cert: l.file(labca.ServerFile), Key: l.file(labca.ServerKeyFile), CA: l.file(labca.CAFile),
			GatewayListen: "127.0.0.1:0"}
		c.Gateways = []mediation.GatewayConfig{
			{Name: "first", Address: ln.Addr().String(), Transport: "tls", Numbers: []string{"+1"}, TLSName: "sbc.lab"},
			trunkConfig("backup", backup, 1, "+1"),
		}
		c.Records.Path = records
	})
	if code := placeCall(t, srv); code != 200 {
		t.Fatalf("caller got %d, want 200 from the backup trunk", code)
	}
	checkTried(t, srv, records, "first", "backup")
	mediationtest.WaitMetric(t, srv, 1, "mediationserver_gateway_failovers_total", "gateway", "first", "reason", "unreachable")
}

// TestTLSEdgeSide: a client calls the edge side's TLS listener, and an
// inbound call reaches an edge peer over TLS (edge.peer_transport tls,
// its certificate checked against the lab CA).
func TestTLSEdgeSide(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newLab(t, []string{"mediation.lab", "127.0.0.1"}, []string{"edge.lab", "127.0.0.1"})
	sbc := startPeer(t, "sbc")
	edge := startPeerTLS(t, "edge", l.sbcTLS(t))
	caller := startPeerTLS(t, "caller", &sip.TLSConfig{Client: &tls.Config{RootCAs: l.pool(t), MinVersion: tls.VersionTLS12}})
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
		c.TLS = mediation.TLSConfig{Cert: l.file(labca.ServerFile), Key: l.file(labca.ServerKeyFile), CA: l.file(labca.CAFile),
			EdgeListen: "127.0.0.1:0"}
		c.Edge.Peer, c.Edge.PeerTransport = edge.stack.TLSAddr().String(), "tls"
	})
	oc := caller.call(ctx, srv.EdgeTLSAddr(), "tls", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("outbound call to the edge TLS listener got %d", res.StatusCode)
	}
	if err := oc.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if err := oc.d.Bye(ctx); err != nil {
		t.Fatalf("BYE over TLS: %v", err)
	}
	in := sbc.call(ctx, srv.GatewayAddr(), "udp", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
	if res := in.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("inbound call to a TLS edge peer got %d", res.StatusCode)
	}
	inv := edge.wait(ctx, gosip.INVITE, 1)
	if inv.Transport() != "TLS" {
		t.Errorf("edge peer got the INVITE over %s", inv.Transport())
	}
	if err := in.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if err := in.d.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	waitCalls(t, srv, 0)
}

// TestTLSSipsRequestURIGetsSipsContact: an SBC's INVITE over TLS to a
// sips: Request-URI is answered with a sips: Contact (RFC 3261 §12.1.1);
// the same INVITE to a sip: URI gets a sip: Contact with transport=tls.
func TestTLSSipsRequestURIGetsSipsContact(t *testing.T) {
	l := newLab(t, []string{"mediation.lab", "127.0.0.1"}, []string{"sbc.lab", "127.0.0.1"})
	sbc := startPeerTLS(t, "sbc", l.sbcTLS(t))
	edge := startPeer(t, "edge")
	srv := tlsServer(t, l, sbc.stack.TLSAddr(), func(c *mediation.Config) { c.Edge.Peer = edge.addr().String() })
	clients := make(chan *peerInvite, 1)
	edge.invites(func(pi *peerInvite) {
		pi.respond(200, loopSDP(40010, "sendrecv", false, "PCMU"))
		clients <- pi
	})
	reinvites := make(chan *gosip.Request, 1)
	sbc.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		sbc.reply(req, tx, 200, fixtureBody(t, "sbc-answer-pcma.sdp"))
		reinvites <- req
	})

	for _, scheme := range []string{"sips", "sip"} {
		ctx := testCtx(t, 30*time.Second)
		inv := request(gosip.INVITE, srv.GatewayTLSAddr().String(), "tls", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
		inv.Recipient.Scheme = scheme
		inv.RemoveHeader("Contact")
		contact := sbc.stack.Contact("caller", "tls")
		contact.Address.Scheme = scheme
		inv.AppendHeader(&contact)
		from := &gosip.FromHeader{Address: gosip.Uri{Scheme: scheme, User: "+15550199", Host: sbc.stack.Host()}, Params: gosip.NewParams()}
		from.Params.Add("tag", gosip.GenerateTagN(10))
		inv.AppendHeader(from)
		d, err := (&sipgo.DialogUA{Client: sbc.stack.Client("tls"), ContactHDR: contact}).WriteInvite(ctx, inv)
		if err != nil {
			t.Fatalf("INVITE: %v", err)
		}
		oc := &outCall{p: sbc, inv: inv, d: d}
		res := oc.answer(ctx, nil)
		if res.StatusCode != 200 {
			t.Fatalf("%s INVITE got %d", scheme, res.StatusCode)
		}
		c := res.Contact()
		if c == nil || c.Address.Scheme != scheme {
			t.Errorf("%s INVITE answered with Contact %v, want a %s: URI", scheme, c, scheme)
		} else if tp, _ := c.Address.UriParams.Get("transport"); scheme == "sip" && tp != "tls" {
			t.Errorf("sip INVITE answered with Contact %v, want transport=tls", c)
		}
		if err := oc.d.Ack(ctx); err != nil {
			t.Fatalf("ACK: %v", err)
		}
		ackTaken(ctx, t, oc)
		// The client holds: our re-INVITE to the SBC refreshes its
		// target, so its Contact keeps the dialog's scheme (RFC 3261
		// §8.1.1.8).
		pi := <-clients
		if res := pi.do(ctx, pi.inDialog(gosip.INVITE, pi.req.CSeq().SeqNo+1, fixtureBody(t, "hold-offer.sdp"))); res.StatusCode != 200 {
			t.Fatalf("client's hold got %d", res.StatusCode)
		}
		select {
		case re := <-reinvites:
			if c := re.Contact(); c == nil || c.Address.Scheme != scheme {
				t.Errorf("our re-INVITE in a %s dialog has Contact %v, want a %s: URI", scheme, c, scheme)
			}
		case <-ctx.Done():
			t.Fatal("no re-INVITE at the SBC")
		}
		if err := oc.d.Bye(ctx); err != nil {
			t.Fatalf("BYE: %v", err)
		}
		waitCalls(t, srv, 0)
	}
}

// TestTLSExpiredCertWarnedAtStart: a server whose tls.cert has expired
// starts (a renewal or the clock may set it right) but logs a warning
// naming the file and the date; TLSCertWarning (serve --validate) says
// the same, and nothing for a valid certificate.
func TestTLSExpiredCertWarnedAtStart(t *testing.T) {
	dir := t.TempDir()
	// Issued two hours ago for half an hour: expired.
	if err := labca.Generate(dir, labca.Options{ServerNames: []string{"127.0.0.1"}, ClientNames: []string{"sbc.lab"}, Validity: 30 * time.Minute, Issued: time.Now().Add(-2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	valid := newLab(t, []string{"127.0.0.1"}, []string{"sbc.lab"})
	for _, tt := range []struct {
		name string
		dir  string
		warn bool
	}{{"expired", dir, true}, {"valid", string(valid), false}} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := labConfig(netip.MustParseAddrPort("127.0.0.1:5060"), "udp")
			cfg.TLS = mediation.TLSConfig{Cert: filepath.Join(tt.dir, labca.ServerFile), Key: filepath.Join(tt.dir, labca.ServerKeyFile)}
			w := cfg.TLSCertWarning()
			if got := strings.Contains(w, "expired on"); got != tt.warn || tt.warn && !strings.Contains(w, cfg.TLS.Cert) {
				t.Fatalf("TLSCertWarning() = %q, want an expiry warning: %v", w, tt.warn)
			}
			logs := new(syncBuffer)
			mediationtest.Serve(t, cfg, zerolog.New(logs).Level(zerolog.InfoLevel))
			var logged bool
			for _, l := range logs.lines() {
				if l["level"] == "warn" && strings.Contains(fmt.Sprint(l["message"]), "expired on") && l["cert"] == cfg.TLS.Cert {
					logged = true
				}
			}
			if logged != tt.warn {
				t.Errorf("start logged an expiry warning: %v, want %v", logged, tt.warn)
			}
		})
	}
}
