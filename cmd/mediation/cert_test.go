package main

import (
	"crypto/tls"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediation-emulator/mediation/mediation/labca"
)

// TestCertCommand: `mediation cert` writes a CA and two key pairs that
// load; without names it fails.
func TestCertCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	res := runBinary(t, "cert", "--dir", dir, "--server-names", "mediation.lab,127.0.0.1", "--client-names", "sbc.lab")
	if res.code != exitOK || !strings.Contains(res.stdout, "server.pem") {
		t.Fatalf("exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	for _, pair := range [][2]string{{labca.ServerFile, labca.ServerKeyFile}, {labca.ClientFile, labca.ClientKeyFile}, {labca.CAFile, labca.CAKeyFile}} {
		if _, err := tls.LoadX509KeyPair(filepath.Join(dir, pair[0]), filepath.Join(dir, pair[1])); err != nil {
			t.Errorf("%s: %v", pair[0], err)
		}
	}
	if res := runBinary(t, "cert", "--dir", dir, "--client-names", ""); res.code != exitFailure || !strings.Contains(res.stderr, "names") {
		t.Errorf("no client names: exit %d, stderr %q", res.code, res.stderr)
	}
}
