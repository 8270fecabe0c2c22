package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/hybridconfig"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// labDNSName is the web service's host name in the DNS tests.
const labDNSName = "hybridvoice.lab.test"

// startDNSLab is a lab whose server also answers DNS for labDNSName: to
// clients from 127.0.0.1 (the one site) with 127.0.0.1, to others NXDOMAIN.
func startDNSLab(t *testing.T) *mediationtest.Lab {
	return mediationtest.Start(t, mediationtest.Options{Configure: func(c *mediation.Config) {
		c.Bypass.InternalSubnets = []string{"127.0.0.1/32"}
		c.DNS = mediation.DNSConfig{Listen: "127.0.0.1:0", Name: labDNSName, TTL: 60e9, Sites: []mediation.DNSSiteConfig{
			{Name: "lab", Subnets: []string{"127.0.0.1/32"}, Servers: []string{"127.0.0.1"}}}}
	}})
}

// TestClientResolvesThroughDNS runs `mediation client --dns` against the
// server's geo DNS: an internal client resolves the web service's name and
// gets bypass, an external one gets NXDOMAIN and is anchored.
func TestClientResolvesThroughDNS(t *testing.T) {
	lab := startDNSLab(t)
	ws := fmt.Sprintf("http://%s:%d%s", labDNSName, lab.Server.HTTPAddr().Port(), hybridconfig.Path)
	args := []string{"client", "--dns", lab.Server.DNSAddr().String(), "--web-service", ws,
		"--via", lab.Server.EdgeAddr().String(), "--duration", "500ms"}

	res := runBinary(t, append(args, "--expect", "bypass")...)
	if res.code != 0 || !strings.Contains(res.stdout, "HTTP 200 from 127.0.0.1: web service granted bypass") {
		t.Fatalf("internal client: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	res = runBinary(t, append(args, "--source-ip", "127.0.0.2", "--expect", "anchored")...)
	if res.code != 0 || !strings.Contains(res.stdout, "web service name "+labDNSName+" does not resolve (NXDOMAIN): external client") {
		t.Fatalf("external client: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
}
