package main

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mediation-emulator/mediation/mediation"
)

func parseServe(t *testing.T, args ...string) (*mediation.Config, error) {
	t.Helper()
	fs, configPath, _ := newServeFlagSet(mediation.DefaultConfig())
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return serveConfig(fs, *configPath)
}

func TestApplyFlagsSetsEachField(t *testing.T) {
	tests := []struct {
		args []string
		want func(c *mediation.Config)
	}{
		{[]string{"--edge-listen", "127.0.0.1:0"}, func(c *mediation.Config) { c.Edge.Listen = "127.0.0.1:0" }},
		{[]string{"--edge-peer", "127.0.0.2:5061"}, func(c *mediation.Config) { c.Edge.Peer = "127.0.0.2:5061" }},
		{[]string{"--edge-transport", "tcp"}, func(c *mediation.Config) { c.Edge.PeerTransport = "tcp" }},
		{[]string{"--gateway-listen", "127.0.0.1:0"}, func(c *mediation.Config) { c.GatewayListen = "127.0.0.1:0" }},
		{[]string{"--gateway", "127.0.0.1:5090"}, func(c *mediation.Config) { c.Gateways[0].Address = "127.0.0.1:5090" }},
		{[]string{"--gateway-transport", "tcp"}, func(c *mediation.Config) { c.Gateways[0].Transport = "tcp" }},
		{[]string{"--http-listen", "127.0.0.1:0"}, func(c *mediation.Config) { c.HTTPListen = "127.0.0.1:0" }},
		{[]string{"--admin-listen", "127.0.0.1:0"}, func(c *mediation.Config) { c.Admin.Listen = "127.0.0.1:0" }},
		{[]string{"--bypass=false"}, func(c *mediation.Config) { c.Bypass.Enabled = false }},
		{[]string{"--bypass-id", "2cd1a522-b9c5-4410-8aed-f3eca85eb367"}, func(c *mediation.Config) { c.Bypass.BypassID = "2cd1a522-b9c5-4410-8aed-f3eca85eb367" }},
		{[]string{"--media-ip", "::1"}, func(c *mediation.Config) { c.Media.IP = "::1" }},
		{[]string{"--media-ports", "50000-50003"}, func(c *mediation.Config) { c.Media.Ports = "50000-50003" }},
		{[]string{"--log-level", "debug"}, func(c *mediation.Config) { c.Log.Level = "debug" }},
		{[]string{"--log-format", "json"}, func(c *mediation.Config) { c.Log.Format = "json" }},
		{[]string{"-media-ports=50000-50003", "-log-level=warn"}, func(c *mediation.Config) {
			c.Media.Ports, c.Log.Level = "50000-50003", "warn"
		}},
	}
	for _, tt := range tests {
		cfg, err := parseServe(t, tt.args...)
		if err != nil {
			t.Errorf("%v: %v", tt.args, err)
			continue
		}
		want := mediation.DefaultConfig()
		tt.want(want)
		if !reflect.DeepEqual(cfg, want) {
			t.Errorf("%v:\n got %+v\nwant %+v", tt.args, cfg, want)
		}
	}
}

// TestApplyFlagsKeepsConfigFileValues: a flag left out must not reset the
// file's value to the flag's (embedded) default, and a given flag wins.
func TestApplyFlagsKeepsConfigFileValues(t *testing.T) {
	example := filepath.Join("..", "..", "testdata", "config", "example.yaml")
	fromFile, err := mediation.LoadConfig(example)
	if err != nil {
		t.Fatal(err)
	}

	cfg, err := parseServe(t, "--config", example)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, fromFile) {
		t.Fatalf("no flags: got %+v, want the file's config %+v", cfg, fromFile)
	}

	cfg, err = parseServe(t, "--config", example, "--media-ip", "127.0.0.2", "--gateway", "127.0.0.1:5099")
	if err != nil {
		t.Fatal(err)
	}
	want := *fromFile
	want.Media.IP = "127.0.0.2"
	want.Gateways = append([]mediation.GatewayConfig(nil), fromFile.Gateways...)
	want.Gateways[0].Address = "127.0.0.1:5099"
	if !reflect.DeepEqual(*cfg, want) {
		t.Fatalf("with flags: got %+v, want %+v", *cfg, want)
	}
	if cfg.Gateways[0].Transport != "udp" || cfg.Gateways[1].Address != "localhost:5062" {
		t.Fatalf("flags changed gateways they do not name: %+v", cfg.Gateways)
	}
}

func TestFlagFixesBadConfigFile(t *testing.T) {
	badPorts := filepath.Join("..", "..", "testdata", "config", "bad-ports.yaml")
	if _, err := parseServe(t, "--config", badPorts); err == nil {
		t.Fatal("bad-ports.yaml validated without the flag")
	}
	cfg, err := parseServe(t, "--config", badPorts, "--media-ports", "40000-40009")
	if err != nil {
		t.Fatalf("flag did not override the file: %v", err)
	}
	if low, high := cfg.MediaPortRange(); low != 40000 || high != 40009 {
		t.Fatalf("MediaPortRange = %d-%d", low, high)
	}
}

func TestGatewayFlagCreatesGatewayWhenListEmpty(t *testing.T) {
	cfg := mediation.DefaultConfig()
	cfg.Gateways = nil
	fs, _, _ := newServeFlagSet(mediation.DefaultConfig())
	if err := fs.Parse([]string{"--gateway", "127.0.0.1:5090"}); err != nil {
		t.Fatal(err)
	}
	if err := applyFlags(fs, cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if len(cfg.Gateways) != 1 || cfg.Gateways[0].Address != "127.0.0.1:5090" || cfg.Gateways[0].Transport != "udp" {
		t.Fatalf("gateways = %+v", cfg.Gateways)
	}
}

func TestServeFlagDefaultsAreEmbeddedConfig(t *testing.T) {
	def := mediation.DefaultConfig()
	fs, _, _ := newServeFlagSet(def)
	for _, f := range serveFlags {
		fl := fs.Lookup(f.name)
		if fl == nil {
			t.Fatalf("flag --%s not defined", f.name)
		}
		if fl.DefValue != f.get(def) {
			t.Errorf("--%s default %q, want %q", f.name, fl.DefValue, f.get(def))
		}
	}
	if fs.Lookup("edge-listen").DefValue != "127.0.0.1:5070" || fs.Lookup("bypass").DefValue != "true" {
		t.Errorf("defaults do not come from default.yaml")
	}
}

func TestServeConfigErrorIsConfigError(t *testing.T) {
	_, err := parseServe(t, "--bypass-id", "nope")
	var ce *mediation.ConfigError
	if !errors.As(err, &ce) || ce.Field != "bypass.bypass_id" {
		t.Fatalf("err = %v, want *ConfigError for bypass.bypass_id", err)
	}
}

// TestNumberFlagsChecked: a numeric flag's value that is no number in its
// range is refused with the flag and the value as typed; it used to
// become 0 or the type's maximum (--hep-id), or be quoted as "-1"
// (--pcap-max-size) (r26-docs F2, F3).
func TestNumberFlagsChecked(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string // "" for no error
	}{
		{[]string{"--hep-id", "abc"}, `--hep-id "abc": capture.hep_capture_id: want a whole number from 0 to 4294967295`},
		{[]string{"--hep-id", "-1"}, `--hep-id "-1"`},
		{[]string{"--hep-id", "99999999999"}, `--hep-id "99999999999"`},
		{[]string{"--pcap-max-size", "abc"}, `--pcap-max-size "abc": capture.pcap_max_size: want a whole number`},
		{[]string{"--hep-id", "2001"}, ""},
	} {
		fs, _, _ := newServeFlagSet(mediation.DefaultConfig())
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		cfg := mediation.DefaultConfig()
		err := applyFlags(fs, cfg)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%v: %v", tt.args, err)
		case tt.want == "" && cfg.Capture.HEPCaptureID != 2001:
			t.Errorf("%v: capture id %d", tt.args, cfg.Capture.HEPCaptureID)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%v: error %v, want %q", tt.args, err, tt.want)
		}
	}
}
