package labca

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
)

func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	if err := Generate(dir, Options{ServerNames: []string{"mediation.lab", "127.0.0.1", "::1"}, ClientNames: []string{"sbc.lab", "127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	for _, tt := range []struct {
		cert, key, name string
		usage           x509.ExtKeyUsage
	}{
		{ServerFile, ServerKeyFile, "mediation.lab", x509.ExtKeyUsageServerAuth},
		{ServerFile, ServerKeyFile, "::1", x509.ExtKeyUsageServerAuth},
		{ClientFile, ClientKeyFile, "sbc.lab", x509.ExtKeyUsageClientAuth},
		{ClientFile, ClientKeyFile, "127.0.0.1", x509.ExtKeyUsageClientAuth},
	} {
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, tt.cert), filepath.Join(dir, tt.key))
		if err != nil {
			t.Fatalf("%s: %v", tt.cert, err)
		}
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: tt.name, KeyUsages: []x509.ExtKeyUsage{tt.usage}}); err != nil {
			t.Errorf("%s for %s: %v", tt.cert, tt.name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ServerKeyFile)); err != nil {
		t.Fatal(err)
	} else if fi, _ := os.Stat(filepath.Join(dir, ServerKeyFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, want 0600", fi.Mode().Perm())
	}
	if err := Generate(dir, Options{}); err == nil {
		t.Error("no names: no error")
	}
}
