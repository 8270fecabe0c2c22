package mediation_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/labca"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
	"github.com/mediation-emulator/mediation/sip"
)

// certRecorder is an SBC's TLS noting the common name of the
// certificate the server showed in each handshake: as the TLS server
// (the SBC dialled it) and as a client (the server dialled the SBC).
type certRecorder struct {
	mu              sync.Mutex
	server, clients []string
}

func (r *certRecorder) record(cfg *sip.TLSConfig) {
	note := func(to *[]string) func(tls.ConnectionState) error {
		return func(cs tls.ConnectionState) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			*to = append(*to, cs.PeerCertificates[0].Subject.CommonName)
			return nil
		}
	}
	cfg.Client.VerifyConnection, cfg.Server.VerifyConnection = note(&r.server), note(&r.clients)
}

func (r *certRecorder) seen() (server, clients []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.server), slices.Clone(r.clients)
}

// renewCert replaces l's server certificate and key with a new pair
// from l's CA naming names (the first its common name), valid for 90
// days as ACME's (the lab's expires in a year: the renewal's expiry tells
// it apart), moved into place as a renewal (certbot, ACME) does.
func renewCert(t *testing.T, l lab, names ...string) {
	t.Helper()
	if err := labca.IssueFor(string(l), names, 90*24*time.Hour, "renewed.pem", "renewed-key.pem"); err != nil {
		t.Fatal(err)
	}
	for from, to := range map[string]string{"renewed.pem": labca.ServerFile, "renewed-key.pem": labca.ServerKeyFile} {
		if err := os.Rename(l.file(from), l.file(to)); err != nil {
			t.Fatal(err)
		}
	}
}

// servedCert is the certificate the gateway side's TLS listener shows
// the SBC (at 127.0.82.2, with l's SBC certificate) in a new handshake,
// checked against roots, once it answered an OPTIONS.
func servedCert(t *testing.T, srv *mediation.Server, l lab, roots *x509.CertPool) (*x509.Certificate, error) {
	t.Helper()
	return tlsExchangeFrom(netip.MustParseAddr("127.0.82.2"), srv.GatewayTLSAddr(), roots, []tls.Certificate{l.clientCert(t)})
}

// commonName is c's, "" for none.
func commonName(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	return c.Subject.CommonName
}

// reloadLine is the last log line with message msg.
func reloadLine(logs *syncBuffer, msg string) map[string]any {
	var last map[string]any
	for _, l := range logs.lines() {
		if l["message"] == msg {
			last = l
		}
	}
	return last
}

const (
	msgReloaded     = "TLS files re-read: new handshakes use them, connections up keep theirs"
	msgReloadFailed = "cannot re-read the TLS files: new handshakes keep the certificate and CA in use"
)

// TestTLSCertReload: a renewed certificate is taken at SIGHUP (Reopen,
// which the signal calls) without a restart, which would end every call:
// new handshakes on the gateway side's TLS listener show it, and so does
// the client certificate the server shows a TLS trunk it dials (mutual
// TLS), while a call up on a TLS connection made with the old one goes
// on and ends (BYE, 200) on that connection, not dialled again. The
// reload logs the new certificate's subject, names and expiry, and
// /metrics shows that expiry (90 days, the first certificate's a year).
func TestTLSCertReload(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newLab(t, []string{"mediation.lab", "127.0.82.1"}, []string{"sbc.lab", "127.0.82.2"})
	sbcTLS := l.sbcTLS(t)
	sbcTLS.Listen = netip.MustParseAddrPort("127.0.82.2:0")
	var certs certRecorder
	certs.record(sbcTLS)
	sbc := startPeerOn(t, "sbc", netip.MustParseAddrPort("127.0.82.2:0"), sbcTLS)
	edge := startPeerOn(t, "edge", netip.MustParseAddrPort("127.0.82.3:0"), nil)
	logs := new(syncBuffer)
	srv := tlsServerLog(t, l, sbc.stack.TLSAddr(), zerolog.New(logs).Level(zerolog.InfoLevel), func(c *mediation.Config) {
		listenOn(c, "127.0.82.1")
		c.Edge.Peer = edge.addr().String()
	})

	// A call from the SBC, up on the connection it dialled, with the
	// server's certificate as it was.
	first := sbc.call(ctx, srv.GatewayTLSAddr(), "tls", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
	if res := first.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("call over TLS got %d", res.StatusCode)
	}
	if err := first.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if server, _ := certs.seen(); !slices.Equal(server, []string{"mediation.lab"}) {
		t.Fatalf("the SBC saw server certificates %v, want mediation.lab", server)
	}

	renewCert(t, l, "renewed.lab", "127.0.82.1")
	srv.Reopen()

	if leaf, err := servedCert(t, srv, l, l.pool(t)); err != nil || commonName(leaf) != "renewed.lab" {
		t.Fatalf("a handshake after the reload: %v, certificate %q; want renewed.lab", err, commonName(leaf))
	}
	// An outbound call: the server dials the SBC and shows the renewed
	// certificate as its client certificate.
	out := edge.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
	if res := out.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("outbound call after the reload got %d", res.StatusCode)
	}
	if err := out.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if err := out.d.Bye(ctx); err != nil {
		t.Fatalf("outbound call's BYE: %v", err)
	}
	if _, clients := certs.seen(); !slices.Equal(clients, []string{"renewed.lab"}) {
		t.Errorf("the server dialled the SBC with client certificates %v, want renewed.lab", clients)
	}
	// The first call ends on its connection: BYE, 200, and the SBC
	// shook hands once.
	if err := first.d.Bye(ctx); err != nil {
		t.Fatalf("BYE of the call up across the reload: %v", err)
	}
	if server, _ := certs.seen(); len(server) != 1 {
		t.Errorf("the SBC shook hands %d times (%v): the call's BYE did not go on its connection", len(server), server)
	}
	waitCalls(t, srv, 0)

	line := reloadLine(logs, msgReloaded)
	if line == nil || !strings.Contains(fmt.Sprint(line["subject"]), "CN=renewed.lab") || fmt.Sprint(line["dns_names"]) != "[renewed.lab]" ||
		fmt.Sprint(line["ip_addresses"]) != "[127.0.82.1]" || line["not_after"] == nil {
		t.Errorf("reload logged %v, want the new certificate's subject, names and expiry", line)
	}
	renewed, err := tls.LoadX509KeyPair(l.file(labca.ServerFile), l.file(labca.ServerKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(renewed.Leaf.NotAfter); d > 91*24*time.Hour {
		t.Fatalf("the renewal expires in %s: as the lab's, the gauge check below cannot fail", d)
	}
	mediationtest.WaitMetric(t, srv, float64(renewed.Leaf.NotAfter.Unix()), "mediationserver_tls_cert_not_after_seconds")
}

// TestTLSCertReloadRefused: a SIGHUP whose files cannot be used (the
// certificate missing, unparseable, not going with the key, expired; the
// CA unparseable) keeps the certificate in use, the last good one: new
// handshakes show it. Each is logged at error naming the config key and
// the file, and counted in mediationserver_tls_reload_failures_total. A
// certificate expiring within 14 days is taken, with the start's expiry
// warning; a new CA is taken too: the SBC's certificate, from the old
// one, is refused at the next handshake.
func TestTLSCertReloadRefused(t *testing.T) {
	l := newLab(t, []string{"mediation.lab", "127.0.82.1"}, []string{"sbc.lab", "127.0.82.2"})
	expired := t.TempDir()
	if err := labca.Generate(expired, labca.Options{ServerNames: []string{"127.0.82.1"}, ClientNames: []string{"x.lab"},
		Validity: 30 * time.Minute, Issued: time.Now().Add(-2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	logs := new(syncBuffer)
	srv := tlsServerLog(t, l, netip.MustParseAddrPort("127.0.82.2:5061"), zerolog.New(logs).Level(zerolog.InfoLevel), func(c *mediation.Config) {
		listenOn(c, "127.0.82.1")
		c.Edge.Peer = "127.0.82.3:5060"
	})
	renewCert(t, l, "renewed.lab", "127.0.82.1")
	srv.Reopen()
	copyFile := func(from, to string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	roots, good := l.pool(t), map[string][]byte{}
	for _, f := range []string{labca.ServerFile, labca.ServerKeyFile, labca.CAFile} {
		b, err := os.ReadFile(l.file(f))
		if err != nil {
			t.Fatal(err)
		}
		good[f] = b
	}
	for i, tt := range []struct {
		name, field, file, why string
		spoil                  func()
	}{
		{"certificate missing", "tls.cert", labca.ServerFile, "no such file", func() { os.Remove(l.file(labca.ServerFile)) }},
		{"certificate unparseable", "tls.cert", labca.ServerFile, "PEM", func() { os.WriteFile(l.file(labca.ServerFile), []byte("renewal in progress\n"), 0o644) }},
		{"key not the certificate's", "tls.key", labca.ServerKeyFile, "does not match", func() { copyFile(l.file(labca.ClientFile), l.file(labca.ServerFile)) }},
		{"certificate expired", "tls.cert", labca.ServerFile, "expired on", func() {
			copyFile(filepath.Join(expired, labca.ServerFile), l.file(labca.ServerFile))
			copyFile(filepath.Join(expired, labca.ServerKeyFile), l.file(labca.ServerKeyFile))
		}},
		{"CA unparseable", "tls.ca", labca.CAFile, "no PEM", func() { os.WriteFile(l.file(labca.CAFile), []byte("not a CA\n"), 0o644) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for f, b := range good {
				if err := os.WriteFile(l.file(f), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			tt.spoil()
			srv.Reopen()
			line := reloadLine(logs, msgReloadFailed)
			if line == nil || line["level"] != "error" || line["field"] != tt.field || line["file"] != l.file(tt.file) ||
				!strings.Contains(fmt.Sprint(line["error"]), tt.why) {
				t.Errorf("logged %v, want an error naming %s %s: %s", line, tt.field, l.file(tt.file), tt.why)
			}
			mediationtest.WaitMetric(t, srv, float64(i+1), "mediationserver_tls_reload_failures_total")
			if leaf, err := servedCert(t, srv, l, roots); err != nil || commonName(leaf) != "renewed.lab" {
				t.Errorf("a handshake after the refused reload: %v, certificate %q; want renewed.lab kept", err, commonName(leaf))
			}
		})
	}

	// A certificate, from another CA, that expires within 14 days: taken,
	// with a warning; and that CA now checks the SBC's certificate.
	short := t.TempDir()
	if err := labca.Generate(short, labca.Options{ServerNames: []string{"short.lab", "127.0.82.1"}, ClientNames: []string{"x.lab"}, Validity: 30 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{labca.ServerFile, labca.ServerKeyFile, labca.CAFile} {
		copyFile(filepath.Join(short, f), l.file(f))
	}
	srv.Reopen()
	if line := reloadLine(logs, msgReloaded); line == nil || !strings.Contains(fmt.Sprint(line["subject"]), "CN=short.lab") {
		t.Errorf("reload logged %v, want short.lab", line)
	}
	var warned bool
	for _, line := range logs.lines() {
		warned = warned || line["level"] == "warn" && strings.HasSuffix(fmt.Sprint(line["message"]), "minutes: renew it") && line["cert"] == l.file(labca.ServerFile)
	}
	if !warned {
		t.Error("no expiry warning for the certificate taken")
	}
	if _, err := servedCert(t, srv, l, lab(short).pool(t)); err == nil {
		t.Error("the SBC's certificate, from the CA replaced, was taken after the reload")
	}
}
