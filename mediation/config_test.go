package mediation_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/labca"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
	"github.com/mediation-emulator/mediation/sip"
)

// configDir holds the sample and broken configuration files.
var configDir = filepath.Join("..", "testdata", "config")

func TestDefaultConfigValidates(t *testing.T) {
	defer goleak.VerifyNone(t)
	cfg := mediation.DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	// The lab kit's endpoints ask for the server's default (sip.DefaultUDPBuffer).
	if cfg.SIP.UDPBufferBytes != sip.DefaultUDPBuffer {
		t.Errorf("sip.udp_buffer_bytes %d, sip.DefaultUDPBuffer %d", cfg.SIP.UDPBufferBytes, sip.DefaultUDPBuffer)
	}
	checks := []struct{ name, got, want string }{
		{"edge.listen", cfg.Edge.Listen, "127.0.0.1:5070"},
		{"edge.peer", cfg.Edge.Peer, "127.0.0.1:5061"},
		{"edge.peer_transport", cfg.Edge.PeerTransport, "udp"},
		{"gateway_listen", cfg.GatewayListen, "127.0.0.1:5068"},
		{"http_listen", cfg.HTTPListen, "127.0.0.1:8080"},
		{"admin.listen", cfg.Admin.Listen, "127.0.0.1:8081"},
		{"bypass.bypass_id", cfg.Bypass.BypassID, "be38f190-a24a-4a72-b66c-b09fd0909ebc"},
		{"bypass.web_service_url", cfg.Bypass.WebServiceURL, ""},
		{"advertised web service", cfg.AdvertisedWebServiceURL(), "http://127.0.0.1:8080/hybridconfig/hybridconfigservice.svc"},
		{"media.ip", cfg.Media.IP, "127.0.0.1"},
		{"media.ports", cfg.Media.Ports, "49152-57500"},
		{"log.level", cfg.Log.Level, "info"},
		{"log.format", cfg.Log.Format, ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if !cfg.Bypass.Enabled || !cfg.Bypass.AlwaysBypass {
		t.Errorf("bypass enabled=%v always=%v, want both true", cfg.Bypass.Enabled, cfg.Bypass.AlwaysBypass)
	}
	if len(cfg.Gateways) != 1 {
		t.Fatalf("gateways = %d, want 1", len(cfg.Gateways))
	}
	gw := cfg.Gateways[0]
	if gw.Name != "sbc" || gw.Address != "127.0.0.1:5060" || gw.Transport != "udp" || !gw.BypassEnabled() {
		t.Errorf("gateways[0] = %+v, want sbc 127.0.0.1:5060 udp bypass", gw)
	}
	wantPrefixes := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	if got := cfg.InternalPrefixes(); !reflect.DeepEqual(got, wantPrefixes) {
		t.Errorf("InternalPrefixes = %v, want %v", got, wantPrefixes)
	}
	if low, high := cfg.MediaPortRange(); low != 49152 || high != 57500 {
		t.Errorf("MediaPortRange = %d-%d, want 49152-57500", low, high)
	}
}

func TestDefaultConfigIsAFreshCopy(t *testing.T) {
	defer goleak.VerifyNone(t)
	a := mediation.DefaultConfig()
	a.Gateways[0].Address = "127.0.0.1:1"
	a.Bypass.InternalSubnets[0] = "10.0.0.0/8"
	b := mediation.DefaultConfig()
	if b.Gateways[0].Address != "127.0.0.1:5060" || b.Bypass.InternalSubnets[0] != "127.0.0.0/8" {
		t.Fatalf("changing one DefaultConfig changed the next: %+v %v", b.Gateways[0], b.Bypass.InternalSubnets)
	}
}

func boolPtr(b bool) *bool { return &b }

// TestValidate changes one field of the default config per case; wantField is
// the YAML path Validate must name, "" for a value that must be accepted.
func TestValidate(t *testing.T) {
	defer goleak.VerifyNone(t)
	certs := t.TempDir()
	if err := labca.Generate(certs, labca.Options{ServerNames: []string{"127.0.0.1"}, ClientNames: []string{"sbc.lab"}}); err != nil {
		t.Fatal(err)
	}
	withTLS := func(c *mediation.Config) {
		c.TLS.Cert, c.TLS.Key, c.TLS.CA = filepath.Join(certs, labca.ServerFile), filepath.Join(certs, labca.ServerKeyFile), filepath.Join(certs, labca.CAFile)
	}
	tests := []struct {
		name       string
		mutate     func(c *mediation.Config)
		wantField  string
		wantReason string
	}{
		{"edge listen ephemeral port", func(c *mediation.Config) { c.Edge.Listen = "127.0.0.1:0" }, "", ""},
		{"udp buffers the system's", func(c *mediation.Config) { c.SIP.UDPBufferBytes = 0 }, "", ""},
		{"udp buffers negative", func(c *mediation.Config) { c.SIP.UDPBufferBytes = -1 }, "sip.udp_buffer_bytes", "must be 0"},
		{"udp buffers absurd", func(c *mediation.Config) { c.SIP.UDPBufferBytes = 2 << 30 }, "sip.udp_buffer_bytes", "must be 0"},
		{"leave_rotation negative", func(c *mediation.Config) { c.SIP.LeaveRotation = -time.Second }, "sip.leave_rotation", "must be 0s to 1m"},
		{"leave_rotation over a minute", func(c *mediation.Config) { c.SIP.LeaveRotation = 2 * time.Minute }, "sip.leave_rotation", "must be 0s to 1m"},
		{"edge listen ipv6", func(c *mediation.Config) { c.Edge.Listen, c.Edge.Peer = "[::1]:5070", "[::1]:5061" }, "", ""},
		{"edge listen hostname", func(c *mediation.Config) { c.Edge.Listen = "localhost:5070" }, "edge.listen", "IP:PORT"},
		{"edge listen no port", func(c *mediation.Config) { c.Edge.Listen = "127.0.0.1" }, "edge.listen", "IP:PORT"},
		{"edge listen empty", func(c *mediation.Config) { c.Edge.Listen = "" }, "edge.listen", "required"},
		{"edge peer hostname", func(c *mediation.Config) { c.Edge.Peer = "sip.pstnhub.example:5061" }, "", ""},
		{"edge peer ipv6", func(c *mediation.Config) { c.Edge.Listen, c.Edge.Peer = "[::1]:5070", "[::1]:5061" }, "", ""},
		{"edge peer port 0", func(c *mediation.Config) { c.Edge.Peer = "127.0.0.1:0" }, "edge.peer", "1..65535"},
		{"edge peer port too big", func(c *mediation.Config) { c.Edge.Peer = "127.0.0.1:65536" }, "edge.peer", "1..65535"},
		{"edge peer no port", func(c *mediation.Config) { c.Edge.Peer = "127.0.0.1" }, "edge.peer", "HOST:PORT"},
		{"edge peer bad host", func(c *mediation.Config) { c.Edge.Peer = "bad_host!:5061" }, "edge.peer", "hostname"},
		{"edge transport tcp", func(c *mediation.Config) { c.Edge.PeerTransport = "tcp" }, "", ""},
		{"edge transport tls", func(c *mediation.Config) { c.Edge.PeerTransport = "tls" }, "edge.peer_transport", "needs the tls section"},
		{"gateway listen ipv6 any", func(c *mediation.Config) { c.GatewayListen = "[::]:5068" }, "", ""},
		{"gateway listen hostname", func(c *mediation.Config) { c.GatewayListen = "sbc.local:5068" }, "gateway_listen", "IP:PORT"},
		{"no gateways", func(c *mediation.Config) { c.Gateways = nil }, "gateways", "at least one"},
		{"gateway address hostname", func(c *mediation.Config) { c.Gateways[0].Address = "sbc.example.com:5060" }, "", ""},
		{"gateway address bad host", func(c *mediation.Config) { c.Gateways[0].Address = "sbc..example.com" }, "gateways[0].address", "host name"},
		// r25 F1: a mistyped IPv4 address was taken for a host name and
		// looked up in DNS for ever, the trunk taking no calls.
		{"gateway address bad IPv4", func(c *mediation.Config) { c.Gateways[0].Address = "127.0.44.300:5060" }, "gateways[0].address", `"127.0.44.300" is not a valid IPv4 address`},
		{"gateway address bad IPv4 no port", func(c *mediation.Config) { c.Gateways[0].Address = "10.1.2" }, "gateways[0].address", "not a valid IPv4 address"},
		// r25-reviewB #4: every number is in 0..255; netip's reason says what is wrong.
		{"gateway address IPv4 leading zero", func(c *mediation.Config) { c.Gateways[0].Address = "10.0.0.01:5060" }, "gateways[0].address", "IPv4 field has octet with leading zero"},
		{"gateway address numeric top-level label", func(c *mediation.Config) { c.Gateways[0].Address = "sbc.example.123:5060" }, "gateways[0].address", "neither an IP address nor a host name"},
		{"gateway address digits in labels", func(c *mediation.Config) { c.Gateways[0].Address = "10.sbc1.example.com:5060" }, "", ""},
		{"edge peer bad IPv4", func(c *mediation.Config) { c.Edge.Peer = "127.0.0.300:5061" }, "edge.peer", "neither an IP address nor a hostname"},
		{"gateway transport tcp", func(c *mediation.Config) { c.Gateways[0].Transport = "tcp" }, "", ""},
		{"gateway transport bad", func(c *mediation.Config) { c.Gateways[0].Transport = "sctp" }, "gateways[0].transport", `"udp", "tcp" or "tls"`},
		{"gateway transport tls without tls", func(c *mediation.Config) { c.Gateways[0].Transport = "tls" }, "gateways[0].transport", "needs the tls section"},
		{"tls listen without cert", func(c *mediation.Config) { c.TLS.GatewayListen = "127.0.0.1:5067" }, "tls.cert", "required"},
		{"tls cert missing file", func(c *mediation.Config) { c.TLS.Cert, c.TLS.Key = "/nonexistent.pem", "/nonexistent-key.pem" }, "tls.cert", "no such file"},
		{"tls mutual without ca", func(c *mediation.Config) { c.TLS.Mutual = true }, "tls.cert", "required"},
		{"tls listen same as gateway", func(c *mediation.Config) { withTLS(c); c.TLS.GatewayListen = "127.0.0.1:5068" }, "tls.gateway_listen", "same address as gateway_listen"},
		{"tls mutual", func(c *mediation.Config) {
			withTLS(c)
			c.TLS.GatewayListen, c.TLS.Mutual, c.Gateways[0].Transport = "127.0.0.1:5067", true, "tls"
		}, "", ""},
		{"tls key mismatch", func(c *mediation.Config) { withTLS(c); c.TLS.Key = filepath.Join(certs, labca.ClientKeyFile) }, "tls.key", "private key does not match"},
		{"gateway tls name bad", func(c *mediation.Config) { c.Gateways[0].TLSName = "bad name" }, "gateways[0].tls_name", "host name"},
		{"edge tls name", func(c *mediation.Config) { c.Edge.TLSName = "edge.lab" }, "", ""},
		{"edge tls name bad", func(c *mediation.Config) { c.Edge.TLSName = "bad name" }, "edge.tls_name", "host name"},
		{"second gateway transport bad", func(c *mediation.Config) {
			c.Gateways = append(c.Gateways, mediation.GatewayConfig{Name: "b", Address: "127.0.0.1:5062", Transport: "UDP"})
		}, "gateways[1].transport", `"udp", "tcp" or "tls"`},
		{"gateway names differ", func(c *mediation.Config) {
			c.Gateways = append(c.Gateways, mediation.GatewayConfig{Name: "b", Address: "127.0.0.1:5060", Transport: "udp"})
		}, "", ""},
		{"gateway names clash", func(c *mediation.Config) {
			c.Gateways = append(c.Gateways, mediation.GatewayConfig{Name: "sbc", Address: "127.0.0.1:5062", Transport: "udp"})
		}, "gateways[1].name", "same name as gateways[0]"},
		{"gateway numbers", func(c *mediation.Config) { c.Gateways[0].Numbers = []string{"+1", "*", `re:\+44\d+`} }, "", ""},
		{"gateway number bad", func(c *mediation.Config) { c.Gateways[0].Numbers = []string{"+1", "+44 20"} }, "gateways[0].numbers[1]", "number prefix"},
		{"gateway number bad regexp", func(c *mediation.Config) { c.Gateways[0].Numbers = []string{"re:(+"} }, "gateways[0].numbers[0]", "re: not a valid regular expression: missing argument to repetition operator"},
		{"gateway number unclosed regexp", func(c *mediation.Config) { c.Gateways[0].Numbers = []string{`re:(\+1`} }, "gateways[0].numbers[0]", "re: not a valid regular expression: missing closing )"},
		{"gateway priority negative", func(c *mediation.Config) { c.Gateways[0].Priority = -1 }, "gateways[0].priority", "negative"},
		{"gateway codec not G.711", func(c *mediation.Config) { c.Gateways[0].Codecs = []string{"PCMA", "G729"} }, "gateways[0].codecs[1]", "PCMU or PCMA"},
		{"gateway codec twice", func(c *mediation.Config) { c.Gateways[0].Codecs = []string{"PCMA", "PCMA"} }, "gateways[0].codecs[1]", "at most once"},
		{"gateway address IP without port", func(c *mediation.Config) { c.Gateways[0].Address = "127.0.0.1" }, "gateways[0].address", "needs a port"},
		// Port 0 is a listener's "any port", never a trunk's: refused here,
		// before anything binds, not by NewServer (r23 M1).
		{"gateway address IP port 0", func(c *mediation.Config) { c.Gateways[0].Address = "127.0.0.1:0" }, "gateways[0].address", "port must be 1..65535"},
		{"gateway address IPv6 port 0", func(c *mediation.Config) { c.Gateways[0].Address = "[::1]:0" }, "gateways[0].address", "port must be 1..65535"},
		{"gateway address host port 0", func(c *mediation.Config) { c.Gateways[0].Address = "sbc.example.com:0" }, "gateways[0].address", "port must be 1..65535"},
		// A trunk or edge peer of the other address family than the
		// listener requests to it leave from is unreachable: refused
		// before anything binds, not a 503 on every call (r23-sbc2 F2).
		{"gateway address IPv6, gateway_listen IPv4", func(c *mediation.Config) {
			c.Gateways[0].Name, c.Gateways[0].Address = "v6sbc", "[::1]:47160"
		}, "gateways[0].address", `trunk "v6sbc" is IPv6 but gateway_listen 127.0.0.1:5068 is IPv4`},
		{"gateway address IPv4, gateway_listen IPv6", func(c *mediation.Config) { c.GatewayListen = "[::1]:5068" },
			"gateways[0].address", "is IPv4 but gateway_listen [::1]:5068 is IPv6"},
		{"gateway address IPv4-mapped, gateway_listen IPv4", func(c *mediation.Config) { c.Gateways[0].Address = "[::ffff:127.0.0.1]:5060" }, "", ""},
		{"gateway address IPv6, gateway_listen IPv6", func(c *mediation.Config) {
			c.GatewayListen, c.Gateways[0].Address = "[::1]:5068", "[::1]:5060"
		}, "", ""},
		{"gateway address host name, gateway_listen IPv6", func(c *mediation.Config) {
			c.GatewayListen, c.Gateways[0].Address = "[::1]:5068", "sbc.example.com:5060"
		}, "", ""},
		{"edge peer IPv6, edge listen IPv4", func(c *mediation.Config) { c.Edge.Peer = "[::1]:5061" },
			"edge.peer", "edge.peer is IPv6 but edge.listen 127.0.0.1:5070 is IPv4"},
		{"edge peer IPv4, edge listen IPv6", func(c *mediation.Config) { c.Edge.Listen = "[::1]:5070" },
			"edge.peer", "edge.peer is IPv4 but edge.listen [::1]:5070 is IPv6"},
		// r25-loop F1: a trunk or edge.peer at one of our own SIP listeners
		// sends every call back to us until Max-Forwards runs out.
		{"trunk is gateway_listen", func(c *mediation.Config) { c.Gateways[0].Address = "127.0.0.1:5068" },
			"gateways[0].address", `trunk "sbc" is this server's own gateway_listen (127.0.0.1:5068)`},
		{"trunk is edge.listen", func(c *mediation.Config) { c.Gateways[0].Address = "127.0.0.1:5070" },
			"gateways[0].address", "own edge.listen (127.0.0.1:5070): every call to it would come back to us"},
		{"trunk on a wildcard gateway_listen's port", func(c *mediation.Config) {
			c.GatewayListen, c.Gateways[0].Address = "0.0.0.0:5068", "127.0.1.7:5068"
		}, "gateways[0].address", "own gateway_listen (0.0.0.0:5068)"},
		{"trunk on a wildcard IPv6 listener's port", func(c *mediation.Config) {
			c.GatewayListen, c.Gateways[0].Address = "[::]:5068", "[::1]:5068"
		}, "gateways[0].address", "own gateway_listen ([::]:5068)"},
		{"trunk is tls.gateway_listen", func(c *mediation.Config) {
			withTLS(c)
			c.TLS.GatewayListen, c.Gateways[0].Address, c.Gateways[0].Transport = "127.0.0.1:5067", "127.0.0.1:5067", "tls"
		}, "gateways[0].address", "own tls.gateway_listen (127.0.0.1:5067)"},
		// r25-reviewC F3: a TLS listener takes TCP only, so a UDP (or TCP)
		// trunk at its IP:PORT reaches nothing of ours: a lab SBC on this
		// host on 5061/udp.
		{"udp trunk at tls.gateway_listen's address", func(c *mediation.Config) {
			withTLS(c)
			c.TLS.GatewayListen, c.Gateways[0].Address, c.Gateways[0].Transport = "127.0.0.1:5067", "127.0.0.1:5067", "udp"
		}, "", ""},
		{"trunk without transport (udp) at tls.gateway_listen's address", func(c *mediation.Config) {
			withTLS(c)
			c.TLS.GatewayListen, c.Gateways[0].Address, c.Gateways[0].Transport = "127.0.0.1:5067", "127.0.0.1:5067", ""
		}, "", ""},
		{"tcp trunk at tls.edge_listen's address", func(c *mediation.Config) {
			withTLS(c)
			c.TLS.EdgeListen, c.Gateways[0].Address, c.Gateways[0].Transport = "127.0.0.1:5071", "127.0.0.1:5071", "tcp"
		}, "", ""},
		{"tls trunk at gateway_listen's address", func(c *mediation.Config) {
			withTLS(c)
			c.TLS.GatewayListen, c.Gateways[0].Address, c.Gateways[0].Transport = "127.0.0.1:5067", "127.0.0.1:5068", "tls"
		}, "", ""},
		// A TLS peer without a TLS listener on its side is valid (a
		// warning: TestTLSTrunkNeedsTLSListener): its requests may come
		// back over the connection we opened.
		{"tls trunk without tls.gateway_listen", func(c *mediation.Config) {
			withTLS(c)
			c.Gateways[0].Transport = "tls"
		}, "", ""},
		{"udp edge peer at tls.edge_listen's address", func(c *mediation.Config) {
			withTLS(c)
			c.TLS.EdgeListen, c.Edge.Peer, c.Edge.PeerTransport = "127.0.0.1:5071", "127.0.0.1:5071", "udp"
		}, "", ""},
		{"tcp trunk is gateway_listen", func(c *mediation.Config) {
			c.Gateways[0].Address, c.Gateways[0].Transport = "127.0.0.1:5068", "tcp"
		}, "gateways[0].address", "own gateway_listen (127.0.0.1:5068)"},
		{"tcp edge peer is edge.listen", func(c *mediation.Config) {
			c.Edge.Peer, c.Edge.PeerTransport = "127.0.0.1:5070", "tcp"
		}, "edge.peer", "own edge.listen (127.0.0.1:5070)"},
		{"edge peer is edge.listen", func(c *mediation.Config) { c.Edge.Peer = "127.0.0.1:5070" },
			"edge.peer", "is this server's own edge.listen (127.0.0.1:5070): every inbound call would come back to us"},
		{"edge peer is gateway_listen", func(c *mediation.Config) { c.Edge.Peer = "127.0.0.1:5068" }, "edge.peer", "own gateway_listen"},
		{"edge peer is tls.edge_listen", func(c *mediation.Config) {
			withTLS(c)
			c.TLS.EdgeListen, c.Edge.Peer, c.Edge.PeerTransport = "127.0.0.1:5071", "127.0.0.1:5071", "tls"
		}, "edge.peer", "own tls.edge_listen (127.0.0.1:5071)"},
		{"trunk on another IP, same port", func(c *mediation.Config) { c.Gateways[0].Address = "127.0.0.2:5068" }, "", ""},
		{"trunk on an ephemeral listener", func(c *mediation.Config) {
			c.GatewayListen, c.Gateways[0].Address = "127.0.0.1:0", "127.0.0.1:5068"
		}, "", ""},
		{"trunk on another port of a wildcard listener", func(c *mediation.Config) {
			c.GatewayListen, c.Gateways[0].Address = "0.0.0.0:5068", "127.0.0.1:5060"
		}, "", ""},
		{"trunk by host name", func(c *mediation.Config) { c.Gateways[0].Address = "sbc.lab:5068" }, "", ""},
		{"gateway dns resolver not IP:PORT", func(c *mediation.Config) { c.GatewayDNS.Resolver = "dns.example:53" }, "gateway_dns.resolver", "IP:PORT"},
		{"gateway dns min ttl", func(c *mediation.Config) { c.GatewayDNS.MinTTL = 0 }, "gateway_dns.min_ttl", "at least 1s"},
		{"gateway dns max ttl below min", func(c *mediation.Config) { c.GatewayDNS.MaxTTL = time.Second }, "gateway_dns.max_ttl", "below min_ttl (5s)"},
		{"gateway dns max ttl below min set", func(c *mediation.Config) { c.GatewayDNS.MinTTL, c.GatewayDNS.MaxTTL = 10*time.Second, time.Second },
			"gateway_dns.max_ttl", `"1s": must not be below min_ttl (10s)`}, // r25 F2: it said (1h)
		{"gateway trust", func(c *mediation.Config) { c.Gateways[0].Trust = []string{"127.0.0.2", "10.0.0.0/8", "::1"} }, "", ""},
		{"gateway trust bad", func(c *mediation.Config) { c.Gateways[0].Trust = []string{"10.0.0.0/33"} }, "gateways[0].trust[0]", "CIDR"},
		{"gateway name control", func(c *mediation.Config) { c.Gateways[0].Name = "sbc\r\nX-Evil: 1" }, "gateways[0].name", "control character"},
		{"code translation", func(c *mediation.Config) {
			c.Gateways[0].ResponseCodeTranslation = []mediation.CodeTranslation{{Received: 434, Translated: 404}}
		}, "", ""},
		{"code translation 2xx", func(c *mediation.Config) {
			c.Gateways[0].ResponseCodeTranslation = []mediation.CodeTranslation{{Received: 486, Translated: 200}}
		}, "gateways[0].response_code_translation[0].translated", "400..699"},
		{"code translation twice", func(c *mediation.Config) {
			c.Gateways[0].ResponseCodeTranslation = []mediation.CodeTranslation{{Received: 486, Translated: 480}, {Received: 486, Translated: 404}}
		}, "gateways[0].response_code_translation[1].received", "has a rule already"},
		{"edge trust bad", func(c *mediation.Config) { c.Edge.Trust = []string{"localhost"} }, "edge.trust[0]", "CIDR"},
		{"failover timeout 0", func(c *mediation.Config) { c.GatewayFailover.Timeout = 0 }, "gateway_failover.timeout", "positive"},
		{"failover off timeout 0", func(c *mediation.Config) { c.GatewayFailover = mediation.FailoverConfig{} }, "", ""},
		{"health interval 0", func(c *mediation.Config) { c.GatewayHealth.Interval = 0 }, "gateway_health.interval", "positive"},
		{"health max fails 0", func(c *mediation.Config) { c.GatewayHealth.MaxFails = 0 }, "gateway_health.max_fails", "at least 1"},
		{"health off", func(c *mediation.Config) { c.GatewayHealth = mediation.HealthConfig{} }, "", ""},
		{"untrusted udp 403", func(c *mediation.Config) { c.Untrusted.UDP = "403" }, "", ""},
		{"untrusted tcp bad", func(c *mediation.Config) { c.Untrusted.TCP = "reject" }, "untrusted.tcp", `"drop" or "403"`},
		{"http listen bad", func(c *mediation.Config) { c.HTTPListen = "127.0.0.1:http" }, "http_listen", "IP:PORT"},
		{"listens all port 0", func(c *mediation.Config) {
			c.Edge.Listen, c.GatewayListen, c.HTTPListen, c.Admin.Listen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
		}, "", ""},
		{"admin listen loopback without token", func(c *mediation.Config) { c.Admin.Listen = "[::1]:8081" }, "", ""},
		{"admin listen public without token", func(c *mediation.Config) { c.Admin.Listen = "0.0.0.0:8081" }, "admin.token", "not a loopback address"},
		{"admin listen public with token", func(c *mediation.Config) { c.Admin.Listen, c.Admin.Token = "0.0.0.0:8081", "s3cret" }, "", ""},
		{"admin token and file", func(c *mediation.Config) { c.Admin.Token, c.Admin.TokenFile = "a", "/etc/token" }, "admin.token_file", "not both"},
		{"admin listen same as http", func(c *mediation.Config) { c.Admin.Listen = "127.0.0.1:8080" }, "admin.listen", "same address as http_listen"},
		{"admin listen bad", func(c *mediation.Config) { c.Admin.Listen = "localhost:8081" }, "admin.listen", "IP:PORT"},
		{"web service url wrong path", func(c *mediation.Config) { c.Bypass.WebServiceURL = "http://127.0.0.1:8080/svc" }, "bypass.web_service_url", "/hybridconfig/hybridconfigservice.svc"},
		{"dns off by default", func(c *mediation.Config) { c.DNS.Sites = nil }, "", ""},
		{"dns ok", func(c *mediation.Config) {
			c.DNS = mediation.DNSConfig{Listen: "127.0.0.1:5353", Name: "hybridvoice.adatum.biz", TTL: time.Minute,
				Sites: []mediation.DNSSiteConfig{{Name: "amsterdam", Subnets: []string{"192.168.1.0/24"}, Servers: []string{"192.168.1.45"}}}}
		}, "", ""},
		{"dns name from an IP url", func(c *mediation.Config) {
			c.DNS = mediation.DNSConfig{Listen: "127.0.0.1:5353", TTL: time.Minute,
				Sites: []mediation.DNSSiteConfig{{Name: "a", Subnets: []string{"192.168.1.0/24"}, Servers: []string{"192.168.1.45"}}}}
		}, "dns.name", "host name"},
		{"dns no sites", func(c *mediation.Config) {
			c.DNS = mediation.DNSConfig{Listen: "127.0.0.1:5353", Name: "hv.example", TTL: time.Minute}
		}, "dns.sites", "at least one"},
		{"dns bad subnet", func(c *mediation.Config) {
			c.DNS = mediation.DNSConfig{Listen: "127.0.0.1:5353", Name: "hv.example", TTL: time.Minute,
				Sites: []mediation.DNSSiteConfig{{Name: "a", Subnets: []string{"192.168.1.0/33"}, Servers: []string{"192.168.1.45"}}}}
		}, "dns.sites[0].subnets[0]", "CIDR"},
		{"dns bad server", func(c *mediation.Config) {
			c.DNS = mediation.DNSConfig{Listen: "127.0.0.1:5353", Name: "hv.example", TTL: time.Minute,
				Sites: []mediation.DNSSiteConfig{{Name: "a", Subnets: []string{"192.168.1.0/24"}, Servers: []string{"mediation1"}}}}
		}, "dns.sites[0].servers[0]", "IP address"},
		{"dns ttl zero", func(c *mediation.Config) {
			c.DNS = mediation.DNSConfig{Listen: "127.0.0.1:5353", Name: "hv.example",
				Sites: []mediation.DNSSiteConfig{{Name: "a", Subnets: []string{"192.168.1.0/24"}, Servers: []string{"192.168.1.45"}}}}
		}, "dns.ttl", "at least 1s"},
		{"dns listen same as edge", func(c *mediation.Config) {
			c.DNS = mediation.DNSConfig{Listen: "127.0.0.1:5070", Name: "hv.example", TTL: time.Minute,
				Sites: []mediation.DNSSiteConfig{{Name: "a", Subnets: []string{"192.168.1.0/24"}, Servers: []string{"192.168.1.45"}}}}
		}, "dns.listen", "same address as edge.listen"},
		{"listens same port other ip", func(c *mediation.Config) { c.GatewayListen = "127.0.0.2:5070" }, "", ""},
		{"gateway listen same as edge", func(c *mediation.Config) { c.GatewayListen = "127.0.0.1:5070" }, "gateway_listen", "same address as edge.listen"},
		{"http listen same as gateway", func(c *mediation.Config) { c.HTTPListen = "127.0.0.1:5068" }, "http_listen", "same address as gateway_listen"},
		{"http listen any overlaps edge", func(c *mediation.Config) { c.HTTPListen = "0.0.0.0:5070" }, "http_listen", "same address as edge.listen"},
		{"bypass id upper case", func(c *mediation.Config) { c.Bypass.BypassID = "BE38F190-A24A-4A72-B66C-B09FD0909EBC" }, "", ""},
		{"bypass id braces", func(c *mediation.Config) { c.Bypass.BypassID = "{be38f190-a24a-4a72-b66c-b09fd0909ebc}" }, "bypass.bypass_id", "GUID"},
		{"bypass id short", func(c *mediation.Config) { c.Bypass.BypassID = "be38f190-a24a-4a72-b66c-b09fd0909eb" }, "bypass.bypass_id", "GUID"},
		{"bypass id empty", func(c *mediation.Config) { c.Bypass.BypassID = "" }, "bypass.bypass_id", "required when bypass is enabled"},
		{"bypass disabled id empty", func(c *mediation.Config) { c.Bypass.Enabled, c.Bypass.BypassID = false, "" }, "", ""},
		{"bypass disabled id bad", func(c *mediation.Config) { c.Bypass.Enabled, c.Bypass.BypassID = false, "not-a-guid" }, "bypass.bypass_id", "GUID"},
		{"always bypass false", func(c *mediation.Config) { c.Bypass.AlwaysBypass = false }, "bypass.always_bypass", "AlwaysBypass mode only"},
		{"internal subnets ipv4 and ipv6", func(c *mediation.Config) { c.Bypass.InternalSubnets = []string{"10.0.0.0/8", "fd00::/8"} }, "", ""},
		{"internal subnets none", func(c *mediation.Config) { c.Bypass.InternalSubnets = nil }, "", ""},
		{"internal subnet no mask", func(c *mediation.Config) { c.Bypass.InternalSubnets = []string{"10.0.0.0/8", "192.168.1.1"} }, "bypass.internal_subnets[1]", "CIDR"},
		{"web service https", func(c *mediation.Config) {
			c.Bypass.WebServiceURL = "https://cce.example/hybridconfig/hybridconfigservice.svc"
		}, "", ""},
		{"web service not a url", func(c *mediation.Config) { c.Bypass.WebServiceURL = "cce.example/hybridconfig" }, "bypass.web_service_url", "http"},
		{"media ip ipv6", func(c *mediation.Config) { c.Media.IP = "::1" }, "", ""},
		{"media ip hostname", func(c *mediation.Config) { c.Media.IP = "localhost" }, "media.ip", "IP address"},
		{"media ip unspecified", func(c *mediation.Config) { c.Media.IP = "0.0.0.0" }, "media.ip", "specific address"},
		{"media ip empty", func(c *mediation.Config) { c.Media.IP = "" }, "media.ip", "required"},
		{"media ports four", func(c *mediation.Config) { c.Media.Ports = "1024-1027" }, "", ""},
		{"media ports full range", func(c *mediation.Config) { c.Media.Ports = "1024-65535" }, "", ""},
		{"media ports reversed", func(c *mediation.Config) { c.Media.Ports = "9-3" }, "media.ports", `"9-3": low must be below high`},
		{"media ports equal", func(c *mediation.Config) { c.Media.Ports = "50000-50000" }, "media.ports", "low must be below high"},
		{"media timeout off", func(c *mediation.Config) { c.Media.Timeout = 0 }, "", ""},
		{"media timeout negative", func(c *mediation.Config) { c.Media.Timeout = -time.Second }, "media.timeout", "negative"},
		{"max calls off", func(c *mediation.Config) { c.MaxCalls = 0 }, "", ""},
		{"max calls negative", func(c *mediation.Config) { c.MaxCalls = -1 }, "max_calls", "negative"},
		{"pcap in a missing directory", func(c *mediation.Config) { c.Capture.Pcap = filepath.Join(certs, "nodir", "x.pcap") }, "capture.pcap", "does not exist"},
		{"pcap a directory", func(c *mediation.Config) { c.Capture.Pcap = certs }, "capture.pcap", "is a directory"},
		{"pcap in an existing directory", func(c *mediation.Config) { c.Capture.Pcap = filepath.Join(certs, "x.pcap") }, "", ""},
		{"records in a missing directory", func(c *mediation.Config) { c.Records.Path = filepath.Join(certs, "nodir", "calls.jsonl") }, "records.path", "does not exist"},
		{"records a directory", func(c *mediation.Config) { c.Records.Path = certs }, "records.path", "is a directory"},
		{"edge codecs G722 first", func(c *mediation.Config) { c.Media.EdgeCodecs = []string{"G722", "PCMA"} }, "", ""},
		{"edge codecs empty", func(c *mediation.Config) { c.Media.EdgeCodecs = nil }, "media.edge_codecs", "required"},
		{"edge codecs SILK", func(c *mediation.Config) { c.Media.EdgeCodecs = []string{"PCMU", "SILK"} }, "media.edge_codecs[1]", "PCMU, PCMA or G722"},
		{"media quarantine negative", func(c *mediation.Config) { c.Media.Quarantine = -time.Second }, "media.quarantine", "negative"},
		{"gateway srtp off", func(c *mediation.Config) { c.Gateways[0].SRTP = "off" }, "", ""},
		{"gateway srtp required", func(c *mediation.Config) { c.Gateways[0].SRTP = "required" }, "", ""},
		{"gateway srtp optional", func(c *mediation.Config) { c.Gateways[0].SRTP = "optional" }, "", ""},
		{"gateway srtp bad", func(c *mediation.Config) { c.Gateways[0].SRTP = "maybe" }, "gateways[0].srtp", "off, optional or required"},
		{"media ports privileged", func(c *mediation.Config) { c.Media.Ports = "1000-2000" }, "media.ports", "at least 1024"},
		{"untrusted connections not below max", func(c *mediation.Config) { c.SIP.TCP.MaxUntrustedConnections = c.SIP.TCP.MaxConnections }, "sip.tcp.max_untrusted_connections", "below sip.tcp.max_connections"},
		{"untrusted idle timeout negative", func(c *mediation.Config) { c.SIP.TCP.UntrustedIdleTimeout = -time.Second }, "sip.tcp.untrusted_idle_timeout", "negative"},
		{"media ports above 65535", func(c *mediation.Config) { c.Media.Ports = "60000-70000" }, "media.ports", "at most 65535"},
		{"media ports too few", func(c *mediation.Config) { c.Media.Ports = "50000-50002" }, "media.ports", "at least 4 ports"},
		{"media ports not a range", func(c *mediation.Config) { c.Media.Ports = "50000" }, "media.ports", "LOW-HIGH"},
		{"media ports negative", func(c *mediation.Config) { c.Media.Ports = "-5-10" }, "media.ports", "LOW-HIGH"},
		{"gc percent too low", func(c *mediation.Config) { c.Runtime.GCPercent = 10 }, "runtime.gc_percent", "from 25 to 2000"},
		{"gc percent zero", func(c *mediation.Config) { c.Runtime.GCPercent = 0 }, "runtime.gc_percent", "from 25 to 2000"},
		{"gc percent Go's default", func(c *mediation.Config) { c.Runtime.GCPercent = 100 }, "", ""},
		{"memory limit negative", func(c *mediation.Config) { c.Runtime.MemoryLimitMiB = -1 }, "runtime.memory_limit_mib", "negative"},
		{"log level debug upper", func(c *mediation.Config) { c.Log.Level = "DEBUG" }, "", ""},
		{"log level bad", func(c *mediation.Config) { c.Log.Level = "verbose" }, "log.level", "must be trace"},
		{"log level empty", func(c *mediation.Config) { c.Log.Level = "" }, "log.level", "must be trace"},
		{"log format json", func(c *mediation.Config) { c.Log.Format = "json" }, "", ""},
		{"log format console", func(c *mediation.Config) { c.Log.Format = "console" }, "", ""},
		{"log format bad", func(c *mediation.Config) { c.Log.Format = "text" }, "log.format", `"json", "console"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mediation.DefaultConfig()
			tt.mutate(cfg)
			err := cfg.Validate()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var ce *mediation.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Validate() = %v (%T), want *ConfigError for %s", err, err, tt.wantField)
			}
			if ce.Field != tt.wantField || !strings.Contains(ce.Reason, tt.wantReason) {
				t.Fatalf("Validate() = field %q reason %q, want field %q reason containing %q", ce.Field, ce.Reason, tt.wantField, tt.wantReason)
			}
			if want := "config: " + ce.Field + ": " + ce.Reason; err.Error() != want {
				t.Fatalf("Error() = %q, want %q", err.Error(), want)
			}
		})
	}
}

func TestValidateReportsFirstProblemInFileOrder(t *testing.T) {
	defer goleak.VerifyNone(t)
	cfg := mediation.DefaultConfig()
	cfg.Log.Level = "loud"
	cfg.Media.Ports = "1-2"
	cfg.Gateways[0].Transport = "x"
	var ce *mediation.ConfigError
	if err := cfg.Validate(); !errors.As(err, &ce) || ce.Field != "gateways[0].transport" {
		t.Fatalf("Validate() = %v, want the gateways[0].transport problem first", err)
	}
}

func TestGatewayAccessors(t *testing.T) {
	defer goleak.VerifyNone(t)
	tests := []struct {
		gw         mediation.GatewayConfig
		wantBypass bool
		wantName   string
	}{
		{mediation.GatewayConfig{Name: "sbc", Address: "127.0.0.1:5060"}, true, "sbc"},
		{mediation.GatewayConfig{Address: "127.0.0.1:5060", EnableBypass: boolPtr(true)}, true, "127.0.0.1:5060"},
		{mediation.GatewayConfig{Name: "x", Address: "127.0.0.1:5060", EnableBypass: boolPtr(false)}, false, "x"},
	}
	for _, tt := range tests {
		if got := tt.gw.BypassEnabled(); got != tt.wantBypass {
			t.Errorf("%+v BypassEnabled() = %v, want %v", tt.gw, got, tt.wantBypass)
		}
		if got := tt.gw.DisplayName(); got != tt.wantName {
			t.Errorf("%+v DisplayName() = %q, want %q", tt.gw, got, tt.wantName)
		}
	}
	for _, tt := range []struct {
		srtp, transport, want string
	}{{"", "udp", "off"}, {"", "tcp", "off"}, {"", "tls", "required"}, {"optional", "tls", "optional"}, {"off", "tls", "off"}} {
		if got := (mediation.GatewayConfig{SRTP: tt.srtp, Transport: tt.transport}).SRTPMode(); got != tt.want {
			t.Errorf("srtp %q over %s: SRTPMode() = %q, want %q", tt.srtp, tt.transport, got, tt.want)
		}
	}
}

func TestInternalPrefixesMasked(t *testing.T) {
	defer goleak.VerifyNone(t)
	cfg := mediation.DefaultConfig()
	cfg.Bypass.InternalSubnets = []string{"10.1.2.3/8", "fd00::1/64"}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/64")}
	if got := cfg.InternalPrefixes(); !reflect.DeepEqual(got, want) {
		t.Fatalf("InternalPrefixes() = %v, want %v", got, want)
	}
}

func TestLoadConfigExample(t *testing.T) {
	defer goleak.VerifyNone(t)
	cfg, err := mediation.LoadConfig(filepath.Join(configDir, "example.yaml"))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	want := mediation.Config{
		Edge: mediation.EdgeConfig{Listen: "127.0.0.1:5070", Peer: "127.0.0.1:5061", PeerTransport: "tcp",
			Trust: []string{"127.0.0.0/8"},
			CallSettings: mediation.CallSettings{Prack: "supported", RingTimeout: 120 * time.Second,
				SessionTimer: mediation.SessionTimerConfig{Expires: 1800 * time.Second, MinSE: 90 * time.Second}}},
		GatewayListen: "127.0.0.1:5068",
		Gateways: []mediation.GatewayConfig{
			{Name: "sbc-primary", Address: "127.0.0.1:5060", Transport: "udp", EnableBypass: boolPtr(true),
				Numbers: []string{"+1", "+44"}, Priority: 1},
			{Name: "sbc-backup", Address: "localhost:5062", Transport: "tcp", EnableBypass: boolPtr(false),
				Numbers: []string{"+1"}, Priority: 2, Trust: []string{"127.0.0.0/24"},
				CallSettings: mediation.CallSettings{Prack: "required", RingTimeout: 60 * time.Second,
					SessionTimer: mediation.SessionTimerConfig{Enabled: true, Expires: 600 * time.Second, MinSE: 90 * time.Second}}},
		},
		GatewayFailover: mediation.FailoverConfig{Enabled: true, Timeout: 8 * time.Second},
		GatewayHealth:   mediation.HealthConfig{Enabled: true, Interval: 30 * time.Second, DownInterval: 60 * time.Second, MaxFails: 5},
		GatewayDNS:      mediation.GatewayDNSConfig{MinTTL: 5 * time.Second, MaxTTL: time.Hour},
		Untrusted:       mediation.UntrustedConfig{UDP: "drop", TCP: "403"},
		HTTPListen:      "127.0.0.1:8080",
		Admin:           mediation.AdminConfig{Listen: "127.0.0.1:8081"},
		DNS:             mediation.DNSConfig{TTL: 300 * time.Second},
		Bypass: mediation.BypassConfig{
			Enabled: true, AlwaysBypass: true,
			BypassID:        "2cd1a522-b9c5-4410-8aed-f3eca85eb367",
			InternalSubnets: []string{"127.0.0.0/8", "::1/128"},
			WebServiceURL:   "http://127.0.0.1:8080/hybridconfig/hybridconfigservice.svc",
		},
		Media: mediation.MediaConfig{IP: "127.0.0.1", Ports: "50000-50999",
			Timeout: 20 * time.Second, Latching: boolPtr(false), Quarantine: 10 * time.Second,
			EdgeCodecs: []string{"G722", "PCMU", "PCMA"}},
		Log:      mediation.LogConfig{Level: "debug", Format: "json"},
		Records:  mediation.RecordsConfig{Path: "calls.jsonl"},
		MaxCalls: 200,
		SIP:      mediation.SIPConfig{T1: 500 * time.Millisecond, T2: 4 * time.Second, TCP: mediation.TCPLimits{MaxConnectionsPerIP: 100, MaxConnections: 2000, IdleTimeout: 30 * time.Minute, MessageTimeout: 30 * time.Second, UntrustedIdleTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}, UDPBufferBytes: 4 << 20},
		Runtime:  mediation.RuntimeConfig{GCPercent: 400},
	}
	if !reflect.DeepEqual(*cfg, want) {
		t.Fatalf("LoadConfig(example.yaml) =\n%+v\nwant\n%+v", *cfg, want)
	}
	if low, high := cfg.MediaPortRange(); low != 50000 || high != 50999 {
		t.Errorf("MediaPortRange = %d-%d, want 50000-50999", low, high)
	}
}

func TestLoadConfigOverlaysDefault(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, file := range []string{"partial.yaml", "empty.yaml", "partial-trailing-document.yaml"} {
		t.Run(file, func(t *testing.T) {
			cfg, err := mediation.LoadConfig(filepath.Join(configDir, file))
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			want := mediation.DefaultConfig()
			if file != "empty.yaml" {
				want.Media.Ports = "40000-40099"
				want.Log.Level = "warn"
			}
			if !reflect.DeepEqual(cfg, want) {
				t.Fatalf("LoadConfig(%s) =\n%+v\nwant\n%+v", file, cfg, want)
			}
		})
	}
}

func TestLoadConfigErrors(t *testing.T) {
	defer goleak.VerifyNone(t)
	tests := []struct {
		file      string
		wantField string // "" when the error is not a *ConfigError
		wantText  string
	}{
		{"bad-unknown-key.yaml", "edge.lisen", "unknown key"},
		{"bad-unknown-gateway-key.yaml", "gateways[1].enable_bypas", "line 9"},
		{"bad-unknown-top-key.yaml", "metrics_listen", "unknown key"},
		{"bad-type.yaml", "bypass.enabled", "cannot unmarshal !!str `sometimes` into bool ("},
		{"bad-type-gateway.yaml", "gateways[1].enable_bypass", "line 9"},
		{"bad-syntax.yaml", "", "bad-syntax.yaml"},
		{"bad-two-documents.yaml", "", "bad-two-documents.yaml line 6: more than one YAML document"},
		{"bad-document-after-empty.yaml", "", "bad-document-after-empty.yaml line 6: more than one YAML document"},
		{"does-not-exist.yaml", "", "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			cfg, err := mediation.LoadConfig(filepath.Join(configDir, tt.file))
			if err == nil {
				t.Fatalf("LoadConfig = %+v, nil; want an error", cfg)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "config: ") || !strings.Contains(msg, tt.wantText) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q: want one line starting with \"config: \" containing %q", msg, tt.wantText)
			}
			var ce *mediation.ConfigError
			isCE := errors.As(err, &ce)
			if tt.wantField == "" {
				if isCE {
					t.Fatalf("error %q is a *ConfigError, want a plain error", msg)
				}
				if tt.file == "does-not-exist.yaml" && !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("error %q does not wrap os.ErrNotExist", msg)
				}
				return
			}
			if !isCE || ce.Field != tt.wantField {
				t.Fatalf("error %q, want *ConfigError for field %q", msg, tt.wantField)
			}
		})
	}
}

// TestLoadConfigOneDocument: a config file is one YAML document. A second
// one (after a "---") is refused, naming the line it starts on, whether it
// holds the real content or a mistake the first would hide; a leading
// "---", after a comment or not, still starts the only document (r23 M2),
// and empty documents after it are no second one.
func TestLoadConfigOneDocument(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name, yaml string
		wantErr    string // "" for a config that loads
	}{
		{"leading separator", "---\nmax_calls: 7\n", ""},
		{"comment then separator", "# generated\n---\nmax_calls: 7\n", ""},
		{"document end marker", "max_calls: 7\n...\n", ""},
		{"second document invalid", "max_calls: 7\n---\nmax_calls: foo\n", "line 2: more than one YAML document"},
		{"empty first document", "# generated\n---\n# site A\n---\nmax_calls: 7\n", "line 4: more than one YAML document"},
		{"unknown key in second document", "---\n# header\n---\nedge:\n  listn: x\n", "line 3: more than one YAML document"},
		// An empty document after it holds no key to ignore (a generator's
		// trailing "---").
		{"trailing separator", "max_calls: 7\n---\n", ""},
		{"trailing separator and comment", "max_calls: 7\n---\n# end\n", ""},
		{"document after a trailing separator", "max_calls: 7\n---\n---\nmax_calls: 8\n", "line 3: more than one YAML document"},
		{"syntax error in second document", "max_calls: 7\n---\nedge: [\n", "config: "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := mediation.LoadConfig(path)
			if tt.wantErr == "" {
				if err != nil || cfg.MaxCalls != 7 {
					t.Fatalf("LoadConfig = %v; want max_calls 7 and no error", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("LoadConfig: no error, max_calls %d; want %q", cfg.MaxCalls, tt.wantErr)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "config: "+path) || !strings.Contains(msg, tt.wantErr) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q: want one line naming %s with %q", msg, path, tt.wantErr)
			}
		})
	}
}

// TestLoadConfigDurations: a duration is written with a unit, but a bare 0 (as
// README's "0: never" reads) is 0s, through an alias and in a merged
// mapping too; another bare number is refused with the unit it lacks,
// naming its key and line; a merge's keys are checked as the mapping's own.
func TestLoadConfigDurations(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name, yaml string
		want       time.Duration // WriteTimeout, when wantErr is ""
		wantErr    string
	}{
		{"bare zero", "sip:\n  tcp:\n    write_timeout: 0\n", 0, ""},
		{"bare float zero", "sip:\n  tcp:\n    write_timeout: 0.0\n", 0, ""},
		{"with unit", "sip:\n  tcp:\n    write_timeout: 2s\n", 2 * time.Second, ""},
		{"quoted zero", "sip:\n  tcp:\n    write_timeout: \"0\"\n", 0, ""},
		{"zero through an alias", "sip:\n  tcp:\n    idle_timeout: &z 0\n    write_timeout: *z\n", 0, ""},
		// The anchor is an integer setting's too: the 0 is not rewritten
		// where it stands (r28-review F2).
		{"zero anchor shared with an integer", "sip:\n  tcp:\n    max_connections_per_ip: &z 0\n    write_timeout: *z\n", 0, ""},
		// Merged keys are read as the mapping's own (r28-review F1).
		{"zero in a merge", "sip:\n  tcp:\n    <<: {write_timeout: 0}\n", 0, ""},
		{"unit in a merged sequence", "sip:\n  tcp:\n    <<: [{idle_timeout: 1s}, {write_timeout: 3s}]\n", 3 * time.Second, ""},
		{"unknown key in a merge", "sip:\n  tcp:\n    <<: {write_timout: 2s}\n", 0, "sip.tcp.write_timout: unknown key"},
		{"bare number in a merge", "sip:\n  tcp:\n    <<: {write_timeout: 7}\n", 0, `"7" is a duration without a unit`},
		{"bare number", "sip:\n  tcp:\n    write_timeout: 5\n", 0, `config: sip.tcp.write_timeout: "5" is a duration without a unit: write it with one, as 5s or 5ms (`},
		{"bare number line", "max_calls: 3\nsip:\n  t1: 500\n", 0, "line 3)"},
		{"not a duration", "sip:\n  tcp:\n    write_timeout: soon\n", 0, "sip.tcp.write_timeout: cannot unmarshal"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := mediation.LoadConfig(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("LoadConfig: %v; want one line with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			if got := cfg.SIP.TCP.WriteTimeout; got != tt.want {
				t.Fatalf("write_timeout = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoadConfigThenValidate(t *testing.T) {
	defer goleak.VerifyNone(t)
	cfg, err := mediation.LoadConfig(filepath.Join(configDir, "bad-ports.yaml"))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	err = cfg.Validate()
	if err == nil || err.Error() != `config: media.ports: "9-3": low must be below high` {
		t.Fatalf("Validate() = %v", err)
	}
}

func TestLoadConfigOmittedEnableBypassIsTrue(t *testing.T) {
	defer goleak.VerifyNone(t)
	path := filepath.Join(t.TempDir(), "gw.yaml")
	data := "gateways:\n  - address: 127.0.0.1:5070\n    transport: tcp\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := mediation.LoadConfig(path)
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	if len(cfg.Gateways) != 1 || cfg.Gateways[0].EnableBypass != nil || !cfg.Gateways[0].BypassEnabled() {
		t.Fatalf("gateways = %+v, want one with enable_bypass omitted (bypass on)", cfg.Gateways)
	}
	if got := cfg.Gateways[0].DisplayName(); got != "127.0.0.1:5070" {
		t.Fatalf("DisplayName() = %q, want the address", got)
	}
}

// TestOmittedTrunkTransportIsUDP: a trunk without transport is a UDP
// trunk, like its other keys' defaults, not "gateways[0].transport: \"\"";
// the server started on it reaches the SBC over UDP.
func TestOmittedTrunkTransportIsUDP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(path, []byte("gateways:\n  - name: sbc\n    address: 127.0.0.1:5060\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := mediation.LoadConfig(path)
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	if err := cfg.Validate(); err != nil || cfg.Gateways[0].TransportName() != "udp" {
		t.Fatalf("Validate() = %v, TransportName() = %q; want nil and udp", err, cfg.Gateways[0].TransportName())
	}
	lab := mediationtest.Start(t, mediationtest.Options{Configure: func(c *mediation.Config) { c.Gateways[0].Transport = "" }})
	if ts := lab.Server.TrunkStates(); len(ts) != 1 || ts[0].Transport != "udp" {
		t.Fatalf("trunks %+v, want one over udp", ts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, err := lab.NewClient(ctx, mediationtest.ClientOptions{Version: mediationtest.SupportedVersion})
	if err != nil {
		t.Fatal(err)
	}
	res, err := lab.CallOut(ctx, client, endpoint.CallOptions{Duration: 200 * time.Millisecond})
	if err != nil || res.Client.Code != 200 {
		t.Fatalf("call through a trunk without transport: %d %v", res.Client.Code, err)
	}
}

// TestShippedConfigsValid: every configuration in testdata/config that is
// not meant to be refused (bad-*) loads and validates, as mediation serve
// --config would take it; the bench ones keep what their comments promise.
func TestShippedConfigsValid(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "config", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no configurations: %v", err)
	}
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "bad-") {
			continue
		}
		cfg, err := mediation.LoadConfig(f)
		if err == nil {
			// records.yaml writes under /tmp/mediation, which README's
			// rotation walk-through makes first (mkdir -p): here, in a
			// directory of the test's own.
			if dir, base := filepath.Split(cfg.Records.Path); dir == "/tmp/mediation/" {
				cfg.Records.Path = filepath.Join(t.TempDir(), base)
			}
			err = cfg.Validate()
		}
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		switch filepath.Base(f) {
		case "bench.yaml", "bench-anchored.yaml":
			if cfg.MaxCalls != 0 {
				t.Errorf("%s: max_calls %d, want no cap", f, cfg.MaxCalls)
			}
		case "bench-tcp.yaml":
			if cfg.MaxCalls != 0 || cfg.Edge.PeerTransport != "tcp" || len(cfg.Gateways) != 1 || cfg.Gateways[0].Transport != "tcp" ||
				cfg.Gateways[0].Address != mediation.DefaultConfig().Gateways[0].Address {
				t.Errorf("%s: max_calls %d, edge peer_transport %q, gateways %+v; want TCP on both legs to the default SBC address", f, cfg.MaxCalls, cfg.Edge.PeerTransport, cfg.Gateways)
			}
		}
	}
}
