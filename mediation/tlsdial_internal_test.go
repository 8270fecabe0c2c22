package mediation

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediation-emulator/mediation/gateway"
	"github.com/mediation-emulator/mediation/mediation/labca"
)

// TestTLSContactDialNamesOfTheTrunksAtTheIP: the gateway side dials an
// SBC's Contact (an address that is no trunk's) over TLS exactly as the
// server does (its TLS settings, then sipgo's dial with ServerName the IP
// when trunkDial has none). The certificate must name a trunk at that IP:
// the certificate of the trunk at another IP, from the same CA, is refused.
func TestTLSContactDialNamesOfTheTrunksAtTheIP(t *testing.T) {
	dir := t.TempDir()
	if err := labca.Generate(dir, labca.Options{ServerNames: []string{"mediation.lab", "127.0.0.1"}, ClientNames: []string{"sbc.lab"}}); err != nil {
		t.Fatal(err)
	}
	if err := labca.IssueClient(dir, []string{"sbc2.lab", "127.0.0.3"}, "sbc2.pem", "sbc2-key.pem"); err != nil {
		t.Fatal(err)
	}
	f := func(n string) string { return filepath.Join(dir, n) }
	table, err := gateway.NewTable([]gateway.Trunk{
		{Name: "sbc", Addr: netip.MustParseAddrPort("127.0.0.1:5061"), Transport: "tls", TLSName: "sbc.lab"},
		{Name: "sbc2", Addr: netip.MustParseAddrPort("127.0.0.3:5061"), Transport: "tls", TLSName: "sbc2.lab"},
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := newTLSStore(TLSConfig{Cert: f(labca.ServerFile), Key: f(labca.ServerKeyFile), CA: f(labca.CAFile)})
	if err != nil {
		t.Fatal(err)
	}
	side, err := st.sideTLS("", table.NamesAt)
	if err != nil {
		t.Fatal(err)
	}
	dial := trunkDial(table, st, side.Client)

	handshake := func(certFile, keyFile string) error {
		cert, err := tls.LoadX509KeyPair(f(certFile), f(keyFile))
		if err != nil {
			t.Fatal(err)
		}
		ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			_ = c.(*tls.Conn).Handshake()
			_ = c.Close()
		}()
		contact := netip.MustParseAddrPort(ln.Addr().String())
		cfg := dial(contact)
		if cfg == nil { // sipgo's dial: the side's settings, ServerName the host
			cfg = side.Client.Clone()
			cfg.ServerName = contact.Addr().String()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", contact.String())
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		return tls.Client(raw, cfg).HandshakeContext(ctx)
	}
	if err := handshake(labca.ClientFile, labca.ClientKeyFile); err != nil {
		t.Errorf("the certificate of the trunk at the Contact's IP (sbc.lab) was refused: %v", err)
	}
	if err := handshake("sbc2.pem", "sbc2-key.pem"); err == nil {
		t.Error("the certificate of the trunk at another IP (sbc2.lab) was accepted at a Contact on 127.0.0.1")
	}
}

// TestTLSCertWarningNotYetValid: a certificate whose validity starts
// later, and one that expires within two weeks, are warned about.
func TestTLSCertWarningNotYetValid(t *testing.T) {
	dir := t.TempDir()
	if err := labca.Generate(dir, labca.Options{ServerNames: []string{"127.0.0.1"}, ClientNames: []string{"sbc.lab"}, Validity: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	tc := TLSConfig{Cert: filepath.Join(dir, labca.ServerFile), Key: filepath.Join(dir, labca.ServerKeyFile)}
	now := time.Now()
	for _, tt := range []struct {
		at   time.Time
		want string
	}{{now.Add(-48 * time.Hour), "is not valid before"}, {now, "expires on"}, {now.Add(48 * time.Hour), "expired on"}} {
		if w := tc.certWarning(tt.at); !strings.Contains(w, tt.want) {
			t.Errorf("at %s: %q, want %q", tt.at, w, tt.want)
		}
	}
}

// TestTLSCertWarningWithinTheHour: the expiry warning counts whole hours,
// and whole minutes under an hour: the README's 30-minute lab certificate
// read "expires on DATE, in 0 hours" (r28 F4).
func TestTLSCertWarningWithinTheHour(t *testing.T) {
	dir := t.TempDir()
	if err := labca.Generate(dir, labca.Options{ServerNames: []string{"127.0.0.1"}, ClientNames: []string{"sbc.lab"}, Validity: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	tc := TLSConfig{Cert: filepath.Join(dir, labca.ServerFile), Key: filepath.Join(dir, labca.ServerKeyFile)}
	pair, err := tls.LoadX509KeyPair(tc.Cert, tc.Key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		left time.Duration
		want string
	}{
		{29*time.Minute + 30*time.Second, ", in 29 minutes: renew it"},
		{90 * time.Second, ", in 1 minute: renew it"},
		{30 * time.Second, ", in less than a minute: renew it"},
		{90 * time.Minute, ", in 1 hour: renew it"},
		{5*time.Hour + time.Minute, ", in 5 hours: renew it"},
	} {
		if w := tc.certWarning(leaf.NotAfter.Add(-tt.left)); !strings.HasSuffix(w, tt.want) {
			t.Errorf("%s before the end: %q, want it to end %q", tt.left, w, tt.want)
		}
	}
}
