// Package labca makes the certificates of a SIP-over-TLS lab with
// crypto/x509 (no openssl needed): a CA, a server certificate for the
// mediation server and a client certificate for an SBC, each valid for the
// names and IP addresses asked for. They are for labs and tests, never
// for production: the CA key is written next to the certificates.
package labca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Options say what to make.
type Options struct {
	// ServerNames are the DNS names and IP addresses of the mediation
	// server's certificate (server.pem).
	ServerNames []string
	// ClientNames are those of the SBC's certificate (client.pem).
	ClientNames []string
	// Validity is how long the certificates are valid from their issue
	// (Issued); 0 means a year. They are valid from an hour before it
	// too, for some clock skew between lab hosts.
	Validity time.Duration
	// Issued is when they are issued; zero means now (a test issues
	// certificates in the past to have expired ones).
	Issued time.Time
}

// Files written by Generate, in the directory given.
const (
	CAFile        = "ca.pem"
	CAKeyFile     = "ca-key.pem"
	ServerFile    = "server.pem"
	ServerKeyFile = "server-key.pem"
	ClientFile    = "client.pem"
	ClientKeyFile = "client-key.pem"
)

// Generate writes a CA and a server and a client certificate, each with
// its key (mode 0600), into dir, which it creates if need be. Existing
// files are replaced.
func Generate(dir string, opt Options) error {
	if len(opt.ServerNames) == 0 || len(opt.ClientNames) == 0 {
		return errors.New("labca: server and client names are required")
	}
	if opt.Validity < 0 {
		return fmt.Errorf("labca: validity %v is negative", opt.Validity)
	}
	if opt.Validity == 0 {
		opt.Validity = 365 * 24 * time.Hour
	}
	if opt.Issued.IsZero() {
		opt.Issued = time.Now()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("labca: %w", err)
	}
	now := opt.Issued.Add(-time.Hour) // some clock skew between lab hosts
	opt.Validity += time.Hour         // counted from the issue, not from an hour before
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("labca: CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "mediation lab CA"},
		NotBefore: now, NotAfter: now.Add(opt.Validity),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("labca: CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return fmt.Errorf("labca: CA: %w", err)
	}
	if err := write(dir, CAFile, CAKeyFile, caDER, caKey); err != nil {
		return err
	}
	for _, leaf := range []struct {
		names     []string
		cert, key string
	}{
		{opt.ServerNames, ServerFile, ServerKeyFile},
		{opt.ClientNames, ClientFile, ClientKeyFile},
	} {
		// SIP servers are TLS clients too (they dial their peers): both
		// usages, as CCE's certificates carry.
		if err := issue(dir, ca, caKey, leaf.names, bothUsages, leaf.cert, leaf.key, now, opt.Validity); err != nil {
			return err
		}
	}
	return nil
}

// bothUsages are a SIP element's certificate's usages: it serves and it
// dials its peers (Generate's leaves carry them too).
var bothUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}

// IssueClient signs one more certificate, with both TLS usages, with the
// CA in dir (made by Generate) and writes it as certFile and keyFile in
// dir.
func IssueClient(dir string, names []string, certFile, keyFile string) error {
	return IssueWithUsages(dir, names, bothUsages, certFile, keyFile)
}

// IssueFor is IssueClient valid for validity from now (and from an hour
// before, as Generate's), not to the CA's end: a renewal of the server's
// or a client's certificate that tells from the one it replaces by its
// expiry too (ACME's 90 days).
func IssueFor(dir string, names []string, validity time.Duration, certFile, keyFile string) error {
	if validity <= 0 {
		return fmt.Errorf("labca: validity %v is not positive", validity)
	}
	return issueWith(dir, names, bothUsages, validity, certFile, keyFile)
}

// IssueWithUsages is IssueClient with the certificate's extended key
// usages as given: serverAuth alone, as public CAs issue TLS certificates
// since 2026, or none for TLS, to test a peer's checks.
func IssueWithUsages(dir string, names []string, usages []x509.ExtKeyUsage, certFile, keyFile string) error {
	return issueWith(dir, names, usages, 0, certFile, keyFile)
}

// issueWith signs a certificate with the CA in dir, valid for validity
// from now, or to the CA's end when 0.
func issueWith(dir string, names []string, usages []x509.ExtKeyUsage, validity time.Duration, certFile, keyFile string) error {
	if len(names) == 0 {
		return errors.New("labca: names are required")
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile))
	if err != nil {
		return fmt.Errorf("labca: %w", err)
	}
	ca, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return fmt.Errorf("labca: %w", err)
	}
	caKey, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return errors.New("labca: the CA key is not ECDSA")
	}
	// Valid from an hour ago (clock skew, as Generate's), to the CA's
	// end unless told.
	from := time.Now().Add(-time.Hour)
	if validity == 0 {
		return issue(dir, ca, caKey, names, usages, certFile, keyFile, from, ca.NotAfter.Sub(from))
	}
	return issue(dir, ca, caKey, names, usages, certFile, keyFile, from, validity+time.Hour)
}

// issue makes a leaf certificate for names, signed by ca.
func issue(dir string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, names []string, usages []x509.ExtKeyUsage,
	certFile, keyFile string, notBefore time.Time, validity time.Duration) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("labca: key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: notBefore, NotAfter: notBefore.Add(validity), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: usages,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("labca: %s: %w", certFile, err)
	}
	return write(dir, certFile, keyFile, der, key)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// write stores a certificate and its key as PEM.
func write(dir, certFile, keyFile string, der []byte, key *ecdsa.PrivateKey) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("labca: %s: %w", keyFile, err)
	}
	if err := os.WriteFile(filepath.Join(dir, certFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("labca: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, keyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return fmt.Errorf("labca: %w", err)
	}
	return nil
}
