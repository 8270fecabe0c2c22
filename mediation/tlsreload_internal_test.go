package mediation

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediation-emulator/mediation/gateway"
	"github.com/mediation-emulator/mediation/mediation/labca"
)

// reloadLab makes a lab CA in a new directory: the server's certificate
// names mediation.lab and 127.0.85.1 unless opt says, the SBC's sbc.lab
// and 127.0.85.2.
func reloadLab(t *testing.T, opt labca.Options) string {
	t.Helper()
	dir := t.TempDir()
	if opt.ServerNames == nil {
		opt.ServerNames = []string{"mediation.lab", "127.0.85.1"}
	}
	if opt.ClientNames == nil {
		opt.ClientNames = []string{"sbc.lab", "127.0.85.2"}
	}
	if err := labca.Generate(dir, opt); err != nil {
		t.Fatal(err)
	}
	return dir
}

// reloadConfig is the TLS section of the lab in dir.
func reloadConfig(dir string, mutual bool) TLSConfig {
	f := func(n string) string { return filepath.Join(dir, n) }
	return TLSConfig{Cert: f(labca.ServerFile), Key: f(labca.ServerKeyFile), CA: f(labca.CAFile), Mutual: mutual}
}

// reloadStore is the server's TLS store for the lab in dir.
func reloadStore(t *testing.T, dir string, mutual bool) *tlsStore {
	t.Helper()
	st, err := newTLSStore(reloadConfig(dir, mutual))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// labPair is the certificate and key in dir's files cert and key.
func labPair(t *testing.T, dir, cert, key string) tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(filepath.Join(dir, cert), filepath.Join(dir, key))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// serveTLSOn runs a TLS server on ip with cfg: after each handshake it
// writes one byte (the client's read ends its handshake, and its check
// of our certificate) and closes the connection.
func serveTLSOn(t *testing.T, ip string, cfg *tls.Config) netip.AddrPort {
	t.Helper()
	ln, err := tls.Listen("tcp", ip+":0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				if c.(*tls.Conn).Handshake() == nil {
					_, _ = c.Write([]byte{'x'})
					_, _ = io.ReadAll(c)
				}
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

// dialTLSFrom dials addr from 127.0.85.64 with cfg and reads the
// server's byte: nil once both sides took the other's certificate.
func dialTLSFrom(addr netip.AddrPort, cfg *tls.Config) error {
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.85.64")}}
	c, err := tls.DialWithDialer(d, "tcp", addr.String(), cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 1))
	return err
}

// TestTLSReloadRefusesCutFiles: a SIGHUP that finds tls.ca or tls.cert
// half written (a cp, a deploy hook writing in place) is refused and
// keeps the files in use: a CA bundle cut in its second certificate
// would drop that CA (every trunk it issued refused from then on), a
// certificate cut in its intermediate would cut our chain (peers without
// the intermediate refuse us), and crypto's loaders take what parsed
// before the cut. Each is blamed on its file, as is a certificate whose
// PEM is whole but whose content is no certificate (crypto/tls's error
// for it named the key). serve --validate (TLSConfig.check) refuses the
// same files. Text before a block (openssl's "Bag Attributes") is taken.
func TestTLSReloadRefusesCutFiles(t *testing.T) {
	dir := reloadLab(t, labca.Options{})
	other := reloadLab(t, labca.Options{ClientNames: []string{"sbc2.lab", "127.0.85.3"}})
	caA, caB := readFile(t, filepath.Join(dir, labca.CAFile)), readFile(t, filepath.Join(other, labca.CAFile))
	leaf := readFile(t, filepath.Join(dir, labca.ServerFile))
	caPath, certPath := filepath.Join(dir, labca.CAFile), filepath.Join(dir, labca.ServerFile)
	// Text before a block is no cut: openssl pkcs12's "Bag Attributes".
	writeFile(t, caPath, append(append(append([]byte{}, caA...), "Bag Attributes\n    friendlyName: sbc2 CA\nsubject=CN = mediation lab CA\n"...), caB...))
	// The chain: the leaf and its CA (as an intermediate would follow).
	writeFile(t, certPath, append(append([]byte{}, leaf...), caA...))
	st := reloadStore(t, dir, true)
	sbc2 := labPair(t, other, labca.ClientFile, labca.ClientKeyFile).Leaf
	good, goodCert := readFile(t, caPath), readFile(t, certPath)

	cut := func(b []byte, n int) []byte { return append([]byte{}, b[:n]...) }
	for _, tt := range []struct {
		name, field string
		ca, cert    []byte
		why         string
	}{
		{"CA bundle cut in its second certificate", "tls.ca", append(cut(caA, len(caA)), caB[:len(caB)/2]...), nil, "cannot be decoded"},
		{"CA bundle cut in its second BEGIN line", "tls.ca", append(cut(caA, len(caA)), caB[:14]...), nil, "cannot be decoded"},
		{"CA bundle cut before its second BEGIN line", "tls.ca", append(cut(caA, len(caA)), caB[:4]...), nil, "after the last PEM block"},
		{"CA bundle with a key", "tls.ca", append(cut(caA, len(caA)), readFile(t, filepath.Join(dir, labca.ServerKeyFile))...), nil, "not a certificate"},
		{"CA bundle without a certificate", "tls.ca", []byte("\n"), nil, "no PEM certificate"},
		{"chain cut in its intermediate", "tls.cert", nil, append(cut(leaf, len(leaf)), caA[:len(caA)/2]...), "cannot be decoded"},
		{"certificate not a certificate", "tls.cert", nil, []byte("-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n"), "malformed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			writeFile(t, caPath, good)
			writeFile(t, certPath, goodCert)
			path := caPath
			if tt.ca != nil {
				writeFile(t, caPath, tt.ca)
			} else {
				writeFile(t, certPath, tt.cert)
				path = certPath
			}
			before := st.failures.Load()
			_, err := st.reload(time.Now())
			var fe *tlsFileError
			if !errors.As(err, &fe) || fe.field != tt.field || fe.path != path || !strings.Contains(err.Error(), tt.why) {
				t.Errorf("reload: %v; want an error naming %s %s: %s", err, tt.field, path, tt.why)
			}
			if n := st.failures.Load(); n != before+1 {
				t.Errorf("failures counted %d, want %d", n, before+1)
			}
			if _, err := sbc2.Verify(x509.VerifyOptions{Roots: st.pool(), KeyUsages: clientUsages}); err != nil {
				t.Errorf("the CA bundle in use lost its second CA: %v", err)
			}
			if n := len(st.files().cert.Certificate); n != 2 {
				t.Errorf("the chain in use has %d certificates, want 2", n)
			}
			if cerr := reloadConfig(dir, true).check(); cerr == nil || cerr.Field != tt.field || !strings.Contains(cerr.Reason, tt.why) {
				t.Errorf("serve --validate: %v; want an error on %s: %s", cerr, tt.field, tt.why)
			}
		})
	}
}

// TestTLSReloadRefusesNotYetValid: a certificate not valid yet is
// refused at SIGHUP, as an expired one is: every handshake with it would
// fail until it starts, while the one in use works. One starting within
// tlsReloadSkew is taken (with the start's warning): a CA whose clock is
// a little ahead of ours. labca's certificates start an hour before they
// are issued, so a renewal made now is valid at once.
func TestTLSReloadRefusesNotYetValid(t *testing.T) {
	dir := reloadLab(t, labca.Options{})
	st := reloadStore(t, dir, false)
	in := st.leaf()
	for _, tt := range []struct {
		name   string
		issued time.Time // labca: valid from an hour before
		taken  bool
	}{
		{"valid in two days", time.Now().Add(48 * time.Hour), false},
		{"valid in a minute", time.Now().Add(time.Hour + time.Minute), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			next := reloadLab(t, labca.Options{Issued: tt.issued})
			for _, f := range []string{labca.ServerFile, labca.ServerKeyFile} {
				writeFile(t, filepath.Join(dir, f), readFile(t, filepath.Join(next, f)))
			}
			_, err := st.reload(time.Now())
			if tt.taken {
				if err != nil {
					t.Errorf("a certificate valid within the skew allowance was refused: %v", err)
				}
				return
			}
			var fe *tlsFileError
			if !errors.As(err, &fe) || fe.field != "tls.cert" || !strings.Contains(err.Error(), "not valid before") {
				t.Errorf("reload of a certificate valid from %s: %v; want tls.cert refused, not valid before", st.leaf().NotBefore, err)
			}
			if !st.leaf().Equal(in) {
				t.Error("the certificate in use was not kept")
			}
		})
	}
}

// TestTLSReloadedCAChecksDialledPeers: a tls.ca taken at SIGHUP checks
// the certificates of the peers the server dials, not only those of the
// clients of our listeners: a TLS trunk (trunkDial: its tls_name) and the
// edge peer (edgeDial: edge.tls_name), each checked by crypto/tls against
// the CA in use at the dial. Their certificates, from the new CA, are
// refused before the reload and taken after it.
func TestTLSReloadedCAChecksDialledPeers(t *testing.T) {
	dir := reloadLab(t, labca.Options{})
	other := reloadLab(t, labca.Options{ServerNames: []string{"edgepeer.lab"}})
	st := reloadStore(t, dir, false)
	trunk := serveTLSOn(t, "127.0.85.2", &tls.Config{Certificates: []tls.Certificate{labPair(t, other, labca.ClientFile, labca.ClientKeyFile)}})
	edge := serveTLSOn(t, "127.0.85.3", &tls.Config{Certificates: []tls.Certificate{labPair(t, other, labca.ServerFile, labca.ServerKeyFile)}})
	table, err := gateway.NewTable([]gateway.Trunk{{Name: "sbc", Addr: trunk, Transport: "tls", TLSName: "sbc.lab"}})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := st.sideTLS("", table.NamesAt)
	if err != nil {
		t.Fatal(err)
	}
	ed, err := st.sideTLS("", nil)
	if err != nil {
		t.Fatal(err)
	}
	peers := []struct {
		name string
		addr netip.AddrPort
		dial func(netip.AddrPort) *tls.Config
	}{
		{"trunk", trunk, trunkDial(table, st, gw.Client)},
		{"edge peer", edge, edgeDial(edge, "edgepeer.lab", st, ed.Client)},
	}
	for _, p := range peers {
		if err := dialTLSFrom(p.addr, p.dial(p.addr)); err == nil {
			t.Fatalf("%s: a certificate from a CA not in tls.ca was taken", p.name)
		}
	}
	writeFile(t, filepath.Join(dir, labca.CAFile), readFile(t, filepath.Join(other, labca.CAFile)))
	if _, err := st.reload(time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, p := range peers {
		if err := dialTLSFrom(p.addr, p.dial(p.addr)); err != nil {
			t.Errorf("%s: after tls.ca's reload, its certificate from the new CA: %v", p.name, err)
		}
	}
}

// TestTLSEdgeClientDialByName: the edge side's client settings as sipgo
// dials with them a host name (a Contact or Route by name, _sips._tls
// SRV: a clone whose ServerName is the host): the certificate must chain
// to tls.ca and carry that name. The check is our VerifyConnection, with
// the CA in use at the handshake, no longer crypto/tls's.
func TestTLSEdgeClientDialByName(t *testing.T) {
	names := labca.Options{ServerNames: []string{"edgepeer.lab", "127.0.85.1"}}
	dir, other := reloadLab(t, names), reloadLab(t, names)
	side, err := reloadStore(t, dir, false).sideTLS("", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, certDir, serverName string
		ok                        bool
	}{
		{"from tls.ca, named", dir, "edgepeer.lab", true},
		{"from tls.ca, another name", dir, "elsewhere.lab", false},
		{"another CA, named", other, "edgepeer.lab", false},
	} {
		peer := serveTLSOn(t, "127.0.85.1", &tls.Config{Certificates: []tls.Certificate{labPair(t, tt.certDir, labca.ServerFile, labca.ServerKeyFile)}})
		cfg := side.Client.Clone()
		cfg.ServerName = tt.serverName // as sipgo's dial sets it
		if err := dialTLSFrom(peer, cfg); (err == nil) != tt.ok {
			t.Errorf("%s: %v, want taken %v", tt.name, err, tt.ok)
		}
	}
}
