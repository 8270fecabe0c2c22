package labca

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"
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

// TestValidityFromNow: --validity counts from the issue (a 30 minute
// certificate is valid for the next 30 minutes, and from an hour before
// for clock skew); a negative one is an error. It counted from the hour
// before, so 30 minutes made certificates already expired (r26-tls F4).
func TestValidityFromNow(t *testing.T) {
	dir := t.TempDir()
	issued := time.Now()
	if err := Generate(dir, Options{ServerNames: []string{"127.0.0.1"}, ClientNames: []string{"sbc.lab"}, Validity: 30 * time.Minute, Issued: issued}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{CAFile, ServerFile, ClientFile} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			t.Fatalf("%s holds no PEM block", f)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if want := issued.Add(30 * time.Minute); c.NotAfter.Sub(want).Abs() > 2*time.Second {
			t.Errorf("%s valid until %v, want %v", f, c.NotAfter, want)
		}
		if want := issued.Add(-time.Hour); c.NotBefore.Sub(want).Abs() > 2*time.Second {
			t.Errorf("%s valid from %v, want %v", f, c.NotBefore, want)
		}
	}
	if err := Generate(dir, Options{ServerNames: []string{"a"}, ClientNames: []string{"b"}, Validity: -time.Hour}); err == nil {
		t.Error("negative validity: no error")
	}
}

// TestIssueForValidity: IssueFor's certificate is valid for
// the validity asked from now (and an hour before), not to the CA's end
// as IssueClient's: a test renewal whose expiry differs from the lab's.
func TestIssueForValidity(t *testing.T) {
	dir := t.TempDir()
	if err := Generate(dir, Options{ServerNames: []string{"mediation.lab"}, ClientNames: []string{"sbc.lab"}}); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if err := IssueFor(dir, []string{"renewed.lab"}, 90*24*time.Hour, "r.pem", "r-key.pem"); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "r.pem"), filepath.Join(dir, "r-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	want := before.Add(90 * 24 * time.Hour)
	if d := pair.Leaf.NotAfter.Sub(want); d < -time.Second || d > time.Minute {
		t.Errorf("NotAfter %s, want %s", pair.Leaf.NotAfter, want)
	}
	if pair.Leaf.NotBefore.After(before.Add(-59 * time.Minute)) {
		t.Errorf("NotBefore %s, want an hour before %s", pair.Leaf.NotBefore, before)
	}
	if err := IssueFor(dir, []string{"x.lab"}, 0, "x.pem", "x-key.pem"); err == nil {
		t.Error("a validity of 0 was taken")
	}
}
