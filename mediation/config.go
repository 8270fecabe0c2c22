package mediation

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"

	"github.com/mediation-emulator/mediation/sip"
)

// defaultYAML is the built-in configuration; it doubles as the reference
// documentation of every key, so it is kept as commented YAML rather than Go.
//
//go:embed default.yaml
var defaultYAML []byte

// Config is the whole configuration of one mediation server. It is read from
// YAML (the embedded default, or --config FILE), overridden by flags, and
// validated once, before anything binds.
type Config struct {
	// Edge is the side towards Skype for Business Online and its clients.
	Edge EdgeConfig `yaml:"edge"`
	// GatewayListen is where the gateway side listens, UDP and TCP on one port.
	GatewayListen string `yaml:"gateway_listen"`
	// Gateways are the SBC trunks; outbound calls are routed by number
	// (trunkconfig.go).
	Gateways []GatewayConfig `yaml:"gateways"`
	// GatewayFailover is CCE's fast failover to the next trunk.
	GatewayFailover FailoverConfig `yaml:"gateway_failover"`
	// GatewayHealth is the OPTIONS probing of the trunks.
	GatewayHealth HealthConfig `yaml:"gateway_health"`
	// GatewayDNS resolves trunks configured by host name (trunkconfig.go).
	GatewayDNS GatewayDNSConfig `yaml:"gateway_dns"`
	// Untrusted says what requests from untrusted sources get.
	Untrusted UntrustedConfig `yaml:"untrusted"`
	// TLS is SIP over TLS on both sides (tlsconfig.go).
	TLS TLSConfig `yaml:"tls"`
	// HTTPListen serves the bypass web service, /metrics and /healthz.
	HTTPListen string `yaml:"http_listen"`
	// Admin is the administrators' HTTP API.
	Admin AdminConfig `yaml:"admin"`
	// DNS is the optional geo DNS responder for the web service's name.
	DNS DNSConfig `yaml:"dns"`
	// State keeps the settings changed at run time across restarts.
	State StateConfig `yaml:"state"`
	// Bypass holds the MediaBypassSettings and the web service's settings.
	Bypass BypassConfig `yaml:"bypass"`
	// Media is where anchored calls get their RTP ports.
	Media MediaConfig `yaml:"media"`
	// Log sets the level and format of the log.
	Log LogConfig `yaml:"log"`
	// Records is where call quality records go.
	Records RecordsConfig `yaml:"records"`
	// MaxCalls caps the calls in progress (both directions); one more gets
	// 503 with Retry-After. 0 means no cap.
	MaxCalls int `yaml:"max_calls"`
	// RateLimit caps the calls each source address may start.
	RateLimit RateLimitConfig `yaml:"rate_limit"`
	// SIP holds the protocol timers.
	SIP SIPConfig `yaml:"sip"`
	// Capture records SIP (and media) to pcap and HEP (captureconfig.go).
	Capture CaptureConfig `yaml:"capture"`
	// Runtime tunes the process's garbage collector (runtimeconfig.go).
	Runtime RuntimeConfig `yaml:"runtime"`
}

// RateLimitConfig is a token bucket per source address for new calls
// (INVITEs): PerSecond on average, bursts of up to Burst.
type RateLimitConfig struct {
	// PerSecond is the rate; 0 means no limit.
	PerSecond float64 `yaml:"per_second"`
	// Burst is the bucket's size; 0 means PerSecond (at least 1).
	Burst int `yaml:"burst"`
}

func (r RateLimitConfig) check() *ConfigError {
	switch {
	case r.PerSecond < 0:
		return invalid("rate_limit.per_second", strconv.FormatFloat(r.PerSecond, 'g', -1, 64), "must not be negative (0: no limit)")
	case r.Burst < 0:
		return invalid("rate_limit.burst", strconv.Itoa(r.Burst), "must not be negative")
	}
	return nil
}

// SIPConfig holds the protocol timers the mediation server applies itself.
// (sipgo's own request retransmission over UDP keeps RFC 3261's defaults.)
type SIPConfig struct {
	// T1 is RFC 3261's round-trip estimate: our 2xx and reliable 18x are
	// retransmitted from T1 on, and 64*T1 bounds every wait for an answer
	// (a final response to a request we sent, an ACK, a PRACK).
	T1 time.Duration `yaml:"t1"`
	// T2 caps the interval of 2xx retransmissions.
	T2 time.Duration `yaml:"t2"`
	// TCP bounds the TCP and TLS connections peers open to each side.
	TCP TCPLimits `yaml:"tcp"`
	// UDPBufferBytes is asked for each side's UDP socket receive and send
	// buffers (the kernel caps it at net.core.rmem_max unless the process
	// has CAP_NET_ADMIN); 0 keeps the system's default.
	UDPBufferBytes int `yaml:"udp_buffer_bytes"`
	// LeaveRotation is how long a stopping server keeps its listeners
	// open at least, answering OPTIONS and INVITEs 503 with Retry-After,
	// so that a SIP load balancer's probes take it out of the rotation
	// before it stops answering at all; 0: close as soon as the calls are
	// ended.
	LeaveRotation time.Duration `yaml:"leave_rotation"`
	// glareWait, set by tests only (SetGlareWait in export_test.go),
	// replaces RFC 3261 §14.1's random wait before an INVITE that met
	// 491 goes again (glareWait): a test made to wait minutes for it
	// proves that what it waits for went on an event, not on that timer.
	glareWait time.Duration
}

// maxLeaveRotation bounds sip.leave_rotation: beyond it a typo.
const maxLeaveRotation = time.Minute

// maxUDPBuffer bounds sip.udp_buffer_bytes: beyond it a typo, not a plan.
const maxUDPBuffer = 1 << 30

// TCPLimits bound the TCP and TLS connections peers open to a side: a
// host that opens thousands, or sends one byte a second, must not hold
// the server's descriptors.
type TCPLimits struct {
	// MaxConnectionsPerIP caps one IP's accepted connections; 0: no cap.
	MaxConnectionsPerIP int `yaml:"max_connections_per_ip"`
	// MaxConnections caps a side's accepted connections; 0: no cap.
	MaxConnections int `yaml:"max_connections"`
	// IdleTimeout closes an accepted connection silent that long; 0: never.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MessageTimeout closes a connection whose message is not complete
	// that long after its first byte; 0: never.
	MessageTimeout time.Duration `yaml:"message_timeout"`
	// MaxUntrustedConnections caps the accepted connections from sources
	// outside the side's trust list, so that strangers leave the rest of
	// MaxConnections to trusted peers; 0: a tenth of MaxConnections.
	MaxUntrustedConnections int `yaml:"max_untrusted_connections"`
	// UntrustedIdleTimeout closes a connection from an untrusted source
	// silent that long; 0: IdleTimeout.
	UntrustedIdleTimeout time.Duration `yaml:"untrusted_idle_timeout"`
	// WriteTimeout closes a connection, accepted or ours, a write to which
	// does not finish that long (the peer reads nothing); 0: never.
	WriteTimeout time.Duration `yaml:"write_timeout"`
}

// Limits is t as the sip package takes it.
func (t TCPLimits) Limits() sip.ConnLimits {
	untrusted := t.MaxUntrustedConnections
	if untrusted == 0 && t.MaxConnections > 0 {
		untrusted = max(t.MaxConnections/10, 1)
	}
	return sip.ConnLimits{MaxPerIP: t.MaxConnectionsPerIP, Max: t.MaxConnections, IdleTimeout: t.IdleTimeout, MessageTimeout: t.MessageTimeout,
		MaxUntrusted: untrusted, UntrustedIdleTimeout: t.UntrustedIdleTimeout, WriteTimeout: t.WriteTimeout}
}

// Timeout is 64*T1, RFC 3261's Timer B/F/H.
func (s SIPConfig) Timeout() time.Duration { return 64 * s.T1 }

// Option values of prack (RFC 3262 100rel) per side.
const (
	PrackOff       = "off"
	PrackSupported = "supported"
	PrackRequired  = "required"
)

// Defaults of the per-side call settings.
const (
	defaultRingTimeout    = 180 * time.Second
	defaultSessionExpires = 1800 * time.Second
	defaultMinSE          = 90 * time.Second
)

// CallSettings are what each side (the edge, each gateway trunk) says about
// the calls it takes part in.
type CallSettings struct {
	// Prack is RFC 3262 100rel on this side: off, supported (the default:
	// offered on INVITEs we send, used when a caller supports it) or
	// required (demanded of callers and callees).
	Prack string `yaml:"prack"`
	// RingTimeout ends a call still ringing after this long: the callee
	// gets CANCEL, the caller 408. 0 means 180 s.
	RingTimeout time.Duration `yaml:"ring_timeout"`
	// SessionTimer asks for RFC 4028 session timers on the INVITEs we send
	// to this side (CCE's EnableSessionTimer).
	SessionTimer SessionTimerConfig `yaml:"session_timer"`
}

// SessionTimerConfig is RFC 4028 for one side. A peer's own Session-Expires
// is always honoured, whatever Enabled says.
type SessionTimerConfig struct {
	// Enabled adds Session-Expires (refresher=uac: we refresh) to the
	// INVITEs we send to this side, and to our 200 to a caller of this
	// side whose INVITE has no Session-Expires (refresher=uas, we refresh,
	// when it has no timer support; refresher=uac with Require: timer
	// when it lists timer; RFC 4028 §9, sip.ImposedUAS).
	Enabled bool `yaml:"enabled"`
	// Expires is the session interval we ask for; 0 means 1800 s.
	Expires time.Duration `yaml:"expires"`
	// MinSE is the smallest interval we accept (smaller gets 422); 0 means
	// 90 s, RFC 4028's floor. Values down to 1 s are accepted for lab tests.
	MinSE time.Duration `yaml:"min_se"`
}

// PrackMode is Prack with its default.
func (c CallSettings) PrackMode() string {
	if c.Prack == "" {
		return PrackSupported
	}
	return c.Prack
}

// optionTags are the SIP extensions a side with these settings supports,
// for Supported headers: session timers always, 100rel unless prack is
// off.
func (c CallSettings) optionTags() []string {
	if c.PrackMode() == PrackOff {
		return []string{sip.ExtTimer}
	}
	return []string{sip.Ext100rel, sip.ExtTimer}
}

// Ring is RingTimeout with its default.
func (c CallSettings) Ring() time.Duration {
	if c.RingTimeout <= 0 {
		return defaultRingTimeout
	}
	return c.RingTimeout
}

// Interval is Expires with its default.
func (s SessionTimerConfig) Interval() time.Duration {
	if s.Expires <= 0 {
		return defaultSessionExpires
	}
	return s.Expires
}

// Min is MinSE with its default.
func (s SessionTimerConfig) Min() time.Duration {
	if s.MinSE <= 0 {
		return defaultMinSE
	}
	return s.MinSE
}

func (c CallSettings) check(field string) *ConfigError {
	switch c.Prack {
	case "", PrackOff, PrackSupported, PrackRequired:
	default:
		return invalid(field+".prack", c.Prack, "must be off, supported or required")
	}
	switch {
	case c.RingTimeout < 0:
		return invalid(field+".ring_timeout", c.RingTimeout.String(), "must not be negative (0: 180s)")
	case c.SessionTimer.Expires < 0:
		return invalid(field+".session_timer.expires", c.SessionTimer.Expires.String(), "must not be negative (0: 1800s)")
	case c.SessionTimer.MinSE < 0 || c.SessionTimer.MinSE != 0 && c.SessionTimer.MinSE < time.Second:
		// RFC 4028 says 90 s; shorter is allowed for lab tests that cannot wait.
		return invalid(field+".session_timer.min_se", c.SessionTimer.MinSE.String(), "must be at least 1s (RFC 4028: 90s; 0: 90s)")
	case c.SessionTimer.Interval() < c.SessionTimer.Min():
		return invalid(field+".session_timer.expires", c.SessionTimer.Interval().String(), "must not be below session_timer.min_se")
	}
	return nil
}

// RecordsConfig says where the call quality records (one JSON line per
// ended call) are written.
type RecordsConfig struct {
	// Path is the file records are appended to; "" writes none.
	Path string `yaml:"path"`
}

// EdgeConfig is the edge side: where it listens and where inbound calls go.
type EdgeConfig struct {
	// Listen is HOST:PORT, UDP and TCP on that port.
	Listen string `yaml:"listen"`
	// Peer is HOST:PORT of the Online edge next hop that inbound calls are sent to.
	Peer string `yaml:"peer"`
	// PeerTransport is udp, tcp or tls (tls needs the tls section).
	PeerTransport string `yaml:"peer_transport"`
	// TLSName is the name the peer's TLS certificate must carry, sent as
	// SNI; "": Peer's host (its IP, with no SNI, when Peer is one).
	TLSName string `yaml:"tls_name"`
	// Trust are the subnets the edge side accepts requests from, besides
	// the peer's own address.
	Trust []string `yaml:"trust"`
	// CallSettings apply to the edge side of every call.
	CallSettings `yaml:",inline"`
}

// GatewayConfig is one SBC / PSTN gateway trunk.
type GatewayConfig struct {
	// Name identifies the trunk in logs and metrics; defaults to Address.
	Name string `yaml:"name"`
	// Address is IP:PORT, HOST:PORT or HOST (port from DNS SRV) of the SBC.
	Address string `yaml:"address"`
	// Transport is udp, tcp or tls; omitted, udp (TransportName).
	Transport string `yaml:"transport"`
	// EnableBypass is the per-trunk switch (Set-CsTrunkConfiguration -EnableBypass); nil means true.
	EnableBypass *bool `yaml:"enable_bypass"`
	// RTCPCallsOnHold keeps media.timeout running while the trunk's
	// anchored calls are on hold, where RTCP still flows (RFC 3264 §8.4):
	// a held leg that sends neither RTP nor RTCP for the timeout ends the
	// call (CCE's RTCPCallsOnHold); false suspends the count on hold. nil
	// means true, as in CCE.
	RTCPCallsOnHold *bool `yaml:"rtcp_calls_on_hold"`
	// SRTP towards this SBC: off (plain RTP, as CCE over TCP), optional or
	// required; "" means off, or required over TLS.
	SRTP string `yaml:"srtp"`
	// Codecs are the G.711 laws offered to the SBC, in order (PCMU, PCMA);
	// empty: both, PCMU first (in bypass: the client's order).
	Codecs []string `yaml:"codecs"`
	// Numbers, Priority, Trust and TLSName: see trunkconfig.go.
	Numbers  []string `yaml:"numbers"`
	Priority int      `yaml:"priority"`
	Trust    []string `yaml:"trust"`
	TLSName  string   `yaml:"tls_name"`
	// HeaderPolicy: forward_pai, forward_call_history,
	// remove_plus_from_uri, response_code_translation (headerpolicy.go).
	HeaderPolicy `yaml:",inline"`
	// CallSettings apply to the gateway side of the trunk's calls.
	CallSettings `yaml:",inline"`
}

// SRTPMode is SRTP with its default: required over TLS (what CCE's
// SRTPMode expects of a TLS trunk), else off.
func (g GatewayConfig) SRTPMode() string {
	switch {
	case g.SRTP != "":
		return g.SRTP
	case g.Transport == "tls":
		return "required"
	}
	return "off"
}

// BypassConfig is MediaBypassSettings plus the web service that hands the bypass ID to clients.
type BypassConfig struct {
	Enabled bool `yaml:"enabled"`
	// AlwaysBypass is always true in CCE; false is refused by Validate.
	AlwaysBypass bool `yaml:"always_bypass"`
	// BypassID is a GUID, compared case-insensitively with a=x-bypassid.
	BypassID string `yaml:"bypass_id"`
	// InternalSubnets are the CIDRs whose clients may use the web service (others get 403).
	InternalSubnets []string `yaml:"internal_subnets"`
	// WebServiceURL is the HybridConfigServiceInternalUrl advertised to
	// operators; "" advertises the server's own web service on http_listen
	// as bound (AdvertisedWebServiceURL).
	WebServiceURL string `yaml:"web_service_url"`
}

// MediaConfig is the address and port range of anchored media.
type MediaConfig struct {
	// IP is the address advertised in SDP and bound for RTP.
	IP string `yaml:"ip"`
	// Ports is LOW-HIGH, inclusive.
	Ports string `yaml:"ports"`
	// Timeout ends an anchored call whose legs receive no RTP or RTCP for
	// this long (not while on hold); 0 disables it.
	Timeout time.Duration `yaml:"timeout"`
	// Latching sends media to where a peer's packets come from (symmetric
	// RTP); nil means true.
	Latching *bool `yaml:"latching"`
	// Quarantine keeps released ports unused for this long while other
	// ports are free.
	Quarantine time.Duration `yaml:"quarantine"`
	// EdgeCodecs are the codecs an anchored call may use towards the
	// client, in order of preference: PCMU, PCMA, G722.
	EdgeCodecs []string `yaml:"edge_codecs"`
}

// LatchingEnabled is Latching with its default.
func (m MediaConfig) LatchingEnabled() bool { return m.Latching == nil || *m.Latching }

// LogConfig sets zerolog's level and output format.
type LogConfig struct {
	Level string `yaml:"level"`
	// Format is json or console; empty picks console on a terminal, json otherwise.
	Format string `yaml:"format"`
}

// ConfigError is the first problem Validate or LoadConfig found. Field is the
// key's YAML path (edge.listen, gateways[0].transport) so an operator can find
// it in the file and a test can match it without parsing prose.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string {
	return "config: " + e.Field + ": " + e.Reason
}

// DefaultConfig returns a fresh copy of the embedded default configuration.
// It panics only if the embedded file is broken, which the tests catch at
// build time; it never depends on input.
func DefaultConfig() *Config {
	cfg := &Config{}
	if err := decodeYAML(defaultYAML, "default.yaml", cfg); err != nil {
		panic(fmt.Sprintf("mediation: embedded default.yaml: %v", err))
	}
	return cfg
}

// LoadConfig reads the YAML file at path over the default configuration: keys
// the file leaves out keep their default, lists (gateways, internal_subnets)
// are replaced whole. Unknown keys are a *ConfigError naming the key. The
// result is not validated; call Validate after applying any overrides.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	cfg := DefaultConfig()
	if err := decodeYAML(data, path, cfg); err != nil {
		return nil, err
	}
	// One spelling of the ID from the start (a --bypass-id override, set
	// after this, is lowered as the server takes it: initialSettings).
	cfg.Bypass.BypassID = canonicalBypassID(cfg.Bypass.BypassID)
	return cfg, nil
}

// emptyDocument reports a YAML document with nothing in it (yaml.v3 gives
// one whose only node is a null scalar, for a "---" followed by nothing or
// by comments).
func emptyDocument(doc *yaml.Node) bool {
	for _, n := range doc.Content {
		if n.Kind != yaml.ScalarNode || n.Tag != "!!null" {
			return false
		}
	}
	return true
}

// decodeYAML overlays data onto cfg. Unknown keys are looked for first, on the
// node tree, because yaml's own KnownFields error is multi-line and names the
// Go type instead of the YAML path.
//
// The file must hold one YAML document: every Decode reads only the first,
// so the keys of a second one (after a "---") would be ignored without a
// word, and a file whose first document is empty (a header comment between
// two "---") would run on the defaults. A single leading "---" is one
// document, and so are empty documents after the first (a file ending in
// "---", as some generators write it): they hold no key to ignore.
func decodeYAML(data []byte, name string, cfg *Config) error {
	var root yaml.Node
	docs := yaml.NewDecoder(bytes.NewReader(data))
	if err := docs.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config: %s: %s", name, oneLine(err))
	}
	for {
		var next yaml.Node
		err := docs.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("config: %s: %s", name, oneLine(err))
		}
		if !emptyDocument(&next) {
			return fmt.Errorf("config: %s line %d: more than one YAML document (a second one starts here; the config must be one)", name, next.Line)
		}
	}
	if err := checkKnownKeys(&root, reflect.TypeOf(cfg).Elem(), "", name); err != nil {
		return err
	}
	// The tree, not data, is decoded: checkKnownKeys has rewritten a bare 0
	// given for a duration, and has already refused any key without a field
	// (what the decoder's KnownFields would).
	if root.Kind == 0 { // no document at all: the defaults stand
		return nil
	}
	if err := root.Decode(cfg); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			if ce := typeError(&root, te, name); ce != nil {
				return ce
			}
		}
		return fmt.Errorf("config: %s: %s", name, oneLine(err))
	}
	return nil
}

// oneLine flattens yaml's multi-line type errors so the command line can print
// every configuration problem as a single line.
func oneLine(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return strings.Join(te.Errors, "; ")
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

// durationType is the type of every duration setting.
var durationType = reflect.TypeFor[time.Duration]()

// checkKnownKeys walks the YAML tree alongside the Go type and reports the
// first mapping key that has no field, with its full YAML path and line,
// the keys a merge (<<) brings in included: the tree is decoded without the
// decoder's own KnownFields check (decodeYAML).
//
// On the way it reads durations as an operator writes them: a bare 0 (the
// README's "0: never") is 0s, since the decoder takes a duration only as a
// string with a unit; another bare number is refused with the unit it
// lacks, not the decoder's "cannot unmarshal !!int". The 0 is replaced in
// its mapping by a node of its own, never rewritten where it stands: an
// anchor may be an integer setting's value too.
func checkKnownKeys(n *yaml.Node, t reflect.Type, path, file string) error {
	n = resolveAlias(n)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.DocumentNode:
		for _, c := range n.Content {
			if err := checkKnownKeys(c, t, path, file); err != nil {
				return err
			}
		}
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, v := n.Content[i], n.Content[i+1]
			if key.Value == "<<" {
				// A merge: a mapping, or a sequence of them, whose keys
				// are this mapping's.
				merged := resolveAlias(v)
				if merged.Kind == yaml.SequenceNode {
					for _, m := range merged.Content {
						if err := checkKnownKeys(m, t, path, file); err != nil {
							return err
						}
					}
					continue
				}
				if err := checkKnownKeys(merged, t, path, file); err != nil {
					return err
				}
				continue
			}
			sub := joinPath(path, key.Value)
			ft, ok := fields[key.Value]
			if !ok {
				return &ConfigError{Field: sub, Reason: fmt.Sprintf("unknown key (%s line %d)", file, key.Line)}
			}
			if ft == durationType {
				d, err := durationNode(resolveAlias(v), sub, file)
				if err != nil {
					return err
				}
				if d != nil {
					n.Content[i+1] = d
				}
				continue
			}
			if err := checkKnownKeys(v, ft, sub, file); err != nil {
				return err
			}
		}
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for i, c := range n.Content {
			if err := checkKnownKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), file); err != nil {
				return err
			}
		}
	}
	return nil
}

// resolveAlias is the node an alias stands for, n itself otherwise.
func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// durationNode reads n, the value of the duration setting at path: a bare
// number 0 gives a new node of 0s to decode in its place; another bare
// number an error naming the unit it lacks; anything else nil, for the
// decoder to read.
func durationNode(n *yaml.Node, path, file string) (*yaml.Node, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" && n.Tag != "!!float" {
		return nil, nil
	}
	if f, err := strconv.ParseFloat(n.Value, 64); err == nil && f == 0 {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "0s", Line: n.Line, Column: n.Column}, nil
	}
	return nil, &ConfigError{Field: path, Reason: fmt.Sprintf("%q is a duration without a unit: write it with one, as %ss or %sms (%s line %d)", n.Value, n.Value, n.Value, file, n.Line)}
}

// yamlFields maps each yaml key of struct type t to its field type.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	fields := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if opts == "inline" && f.Type.Kind() == reflect.Struct {
			for k, v := range yamlFields(f.Type) {
				fields[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
	}
	return fields
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Validate reports the first problem in c as a *ConfigError, checking keys in
// the order the YAML lists them so the report matches a top-down read of the
// file. The server relies on every accessor below being valid after it.
func (c *Config) Validate() error {
	checks := []func() *ConfigError{
		func() *ConfigError { return checkListen("edge.listen", c.Edge.Listen) },
		func() *ConfigError { return checkHostPort("edge.peer", c.Edge.Peer) },
		func() *ConfigError { return checkEdgeFamily(c.Edge.Listen, c.Edge.Peer) },
		func() *ConfigError {
			return checkTransport("edge.peer_transport", c.Edge.PeerTransport, c.TLS.enabled())
		},
		func() *ConfigError { return checkTLSName("edge.tls_name", c.Edge.TLSName) },
		func() *ConfigError { return checkSubnets("edge.trust", c.Edge.Trust) },
		func() *ConfigError { return c.Edge.CallSettings.check("edge") },
		func() *ConfigError { return checkListen("gateway_listen", c.GatewayListen) },
		c.checkGateways,
		c.GatewayFailover.check,
		c.GatewayHealth.check,
		c.GatewayDNS.check,
		c.Untrusted.check,
		func() *ConfigError { return c.TLS.check() },
		func() *ConfigError { return checkListen("http_listen", c.HTTPListen) },
		c.Admin.check,
		c.checkDNS,
		c.checkListenConflicts,
		c.checkSelfAddresses,
		c.Bypass.check,
		c.Media.check,
		c.Log.check,
		c.SIP.check,
		c.Capture.check,
		func() *ConfigError { return checkFilePath("records.path", c.Records.Path) },
		func() *ConfigError {
			if c.MaxCalls < 0 {
				return invalid("max_calls", strconv.Itoa(c.MaxCalls), "must not be negative (0: no cap)")
			}
			return nil
		},
		c.RateLimit.check,
		c.Runtime.check,
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func invalid(field, value, format string, args ...any) *ConfigError {
	return &ConfigError{Field: field, Reason: strconv.Quote(value) + ": " + fmt.Sprintf(format, args...)}
}

// checkFilePath checks a file the server will write at path: its
// directory must exist and path must not be a directory, so that a typo
// stops the server before anything binds, naming field, rather than
// failing once it is up ("" is no file: nothing to check).
func checkFilePath(field, path string) *ConfigError {
	if path == "" {
		return nil
	}
	if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
		return invalid(field, path, "directory %s does not exist", filepath.Dir(path))
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return invalid(field, path, "is a directory, not a file")
	}
	return nil
}

func required(field string) *ConfigError {
	return &ConfigError{Field: field, Reason: "is required"}
}

// checkListen accepts only a literal IP so the server binds exactly what the
// operator wrote; a hostname could resolve to several addresses or none.
func checkListen(field, value string) *ConfigError {
	if value == "" {
		return required(field)
	}
	if _, err := netip.ParseAddrPort(value); err != nil {
		return invalid(field, value, "must be IP:PORT (a literal IP, 0.0.0.0 for every interface; port 0 picks a free port)")
	}
	return nil
}

func checkHostPort(field, value string) *ConfigError {
	if value == "" {
		return required(field)
	}
	host, port, err := net.SplitHostPort(value)
	if err != nil {
		return invalid(field, value, "must be HOST:PORT")
	}
	if _, err := netip.ParseAddr(host); err != nil && !validHostname(host) {
		return invalid(field, value, "host %q is neither an IP address nor a hostname", host)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return invalid(field, value, "port must be 1..65535")
	}
	return nil
}

// validHostname follows RFC 1123: dot-separated labels of letters, digits and
// inner hyphens, the last not all digits (RFC 1123 §2.1, RFC 3696 §2: no
// top-level domain is), so a mistyped IPv4 address (127.0.44.300) is no
// host name, refused before it is looked up in DNS.
func validHostname(host string) bool {
	host = strings.TrimSuffix(host, ".")
	if host == "" || len(host) > 253 {
		return false
	}
	if allDigits(host[strings.LastIndexByte(host, '.')+1:]) {
		return false
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// allDigits reports whether s is one or more ASCII digits.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// dottedNumbers reports whether host is digits and dots only: meant as an
// IPv4 address (it is no host name).
func dottedNumbers(host string) bool {
	return strings.Trim(host, "0123456789.") == "" && strings.ContainsAny(host, "0123456789")
}

func checkTransport(field, value string, tlsConfigured bool) *ConfigError {
	switch {
	case value == "tls" && !tlsConfigured:
		return invalid(field, value, `needs the tls section (tls.ca, or tls.cert and tls.key)`)
	case value == "tls":
	case value != "udp" && value != "tcp":
		return invalid(field, value, `must be "udp", "tcp" or "tls"`)
	}
	return nil
}

// TLSListenerWarnings names each TLS peer on a side without a TLS
// listener: our Via and Contact towards it say TLS with that side's plain
// port, so its requests in a call (its BYE, a re-INVITE, RFC 3261
// §12.2.1.1) reach us only if it sends them back over the connection we
// opened (RFC 5923-style reuse, which many SBCs do); one that dials our
// Contact fails its handshake there, and the other leg is never hung up.
// A configuration that works with such peers, so a warning (serve
// --validate, and the log at start), not an error.
func (c *Config) TLSListenerWarnings() []string {
	var out []string
	for i, g := range c.Gateways {
		if g.TransportName() == "tls" && c.TLS.GatewayListen == "" {
			out = append(out, fmt.Sprintf("gateways[%d] %q is over TLS but tls.gateway_listen is empty: our Via and Contact name TLS on the plain port of gateway_listen, so the SBC's requests in a call (BYE, re-INVITE) reach us only over the connection we opened; set tls.gateway_listen if it dials our Contact",
				i, g.DisplayName()))
		}
	}
	if c.Edge.PeerTransport == "tls" && c.TLS.EdgeListen == "" {
		out = append(out, "edge.peer_transport is tls but tls.edge_listen is empty: our Via and Contact name TLS on the plain port of edge.listen, so the edge's requests in a call reach us only over the connection we opened; set tls.edge_listen if it dials our Contact")
	}
	return out
}

// checkTLSName checks a peer's tls_name: a host name or an IP address
// ("" is the peer's host).
func checkTLSName(field, name string) *ConfigError {
	if name == "" || validHostname(name) {
		return nil
	}
	if _, err := netip.ParseAddr(name); err != nil {
		return invalid(field, name, "must be a host name or an IP address")
	}
	return nil
}

func (c *Config) checkGateways() *ConfigError {
	if len(c.Gateways) == 0 {
		return &ConfigError{Field: "gateways", Reason: "at least one gateway is required"}
	}
	seen := make(map[string]int, len(c.Gateways))
	for i, g := range c.Gateways {
		field := fmt.Sprintf("gateways[%d]", i)
		if err := checkTrunkAddress(field+".address", g.Address); err != nil {
			return err
		}
		if err := checkTrunkFamily(field, g, c.GatewayListen); err != nil {
			return err
		}
		if err := checkTransport(field+".transport", g.TransportName(), c.TLS.enabled()); err != nil {
			return err
		}
		switch g.SRTP {
		case "", "off", "optional", "required":
		default:
			return invalid(field+".srtp", g.SRTP, "must be off, optional or required")
		}
		if err := g.CallSettings.check(field); err != nil {
			return err
		}
		if err := g.checkTrunk(field); err != nil {
			return err
		}
		// Names label logs and metrics, so two trunks must not share one.
		if j, dup := seen[g.DisplayName()]; dup {
			return invalid(field+".name", g.DisplayName(), "same name as gateways[%d]", j)
		}
		seen[g.DisplayName()] = i
	}
	return nil
}

// checkListenConflicts refuses two listeners on one address: all of them bind
// TCP on their port, so the second bind would fail at run time instead.
func (c *Config) checkListenConflicts() *ConfigError {
	listens := []struct{ field, value string }{
		{"edge.listen", c.Edge.Listen},
		{"gateway_listen", c.GatewayListen},
		{"http_listen", c.HTTPListen},
		{"admin.listen", c.Admin.Listen},
		{"dns.listen", c.DNS.Listen},
	}
	for _, l := range []struct{ field, value string }{{"tls.gateway_listen", c.TLS.GatewayListen}, {"tls.edge_listen", c.TLS.EdgeListen}} {
		if _, err := netip.ParseAddrPort(l.value); err == nil {
			listens = append(listens, l)
		}
	}
	for j := 1; j < len(listens); j++ {
		if listens[j].value == "" { // an optional listener left off
			continue
		}
		b := netip.MustParseAddrPort(listens[j].value) // checked by checkListen
		for i := range j {
			if listens[i].value == "" {
				continue
			}
			a := netip.MustParseAddrPort(listens[i].value)
			if a.Port() == 0 || a.Port() != b.Port() {
				continue
			}
			if a.Addr() == b.Addr() || a.Addr().IsUnspecified() || b.Addr().IsUnspecified() {
				return invalid(listens[j].field, listens[j].value, "same address as %s", listens[i].field)
			}
		}
	}
	return nil
}

var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (b BypassConfig) check() *ConfigError {
	switch {
	case b.BypassID == "" && b.Enabled:
		return &ConfigError{Field: "bypass.bypass_id", Reason: "is required when bypass is enabled"}
	case b.BypassID != "" && !guidPattern.MatchString(b.BypassID):
		return invalid("bypass.bypass_id", b.BypassID, "must be a GUID like be38f190-a24a-4a72-b66c-b09fd0909ebc (8-4-4-4-12 hex digits, no braces)")
	case !b.AlwaysBypass:
		return &ConfigError{Field: "bypass.always_bypass", Reason: "must be true: Cloud Connector supports AlwaysBypass mode only"}
	}
	for i, s := range b.InternalSubnets {
		if _, err := netip.ParsePrefix(s); err != nil {
			return invalid(fmt.Sprintf("bypass.internal_subnets[%d]", i), s, "must be a CIDR like 10.0.0.0/8")
		}
	}
	if b.WebServiceURL != "" {
		if reason := checkWebServiceURL(b.WebServiceURL); reason != "" {
			return invalid("bypass.web_service_url", b.WebServiceURL, "%s", reason)
		}
	}
	return nil
}

func (s SIPConfig) check() *ConfigError {
	switch {
	case s.T1 <= 0:
		return invalid("sip.t1", s.T1.String(), "must be positive (RFC 3261: 500ms)")
	case s.T2 < s.T1:
		return invalid("sip.t2", s.T2.String(), "must be at least sip.t1 (RFC 3261: 4s)")
	case s.TCP.MaxConnectionsPerIP < 0:
		return invalid("sip.tcp.max_connections_per_ip", strconv.Itoa(s.TCP.MaxConnectionsPerIP), "must not be negative (0: no cap)")
	case s.TCP.MaxConnections < 0:
		return invalid("sip.tcp.max_connections", strconv.Itoa(s.TCP.MaxConnections), "must not be negative (0: no cap)")
	case s.TCP.IdleTimeout < 0:
		return invalid("sip.tcp.idle_timeout", s.TCP.IdleTimeout.String(), "must not be negative (0: never)")
	case s.TCP.MessageTimeout < 0:
		return invalid("sip.tcp.message_timeout", s.TCP.MessageTimeout.String(), "must not be negative (0: never)")
	case s.TCP.WriteTimeout < 0:
		return invalid("sip.tcp.write_timeout", s.TCP.WriteTimeout.String(), "must not be negative (0: never)")
	case s.TCP.MaxUntrustedConnections < 0 || s.TCP.MaxConnections > 0 && s.TCP.MaxUntrustedConnections >= s.TCP.MaxConnections:
		return invalid("sip.tcp.max_untrusted_connections", strconv.Itoa(s.TCP.MaxUntrustedConnections),
			"must be 0 (a tenth of sip.tcp.max_connections) or below sip.tcp.max_connections, so that trusted peers keep room")
	case s.TCP.UntrustedIdleTimeout < 0:
		return invalid("sip.tcp.untrusted_idle_timeout", s.TCP.UntrustedIdleTimeout.String(), "must not be negative (0: idle_timeout)")
	case s.UDPBufferBytes < 0 || s.UDPBufferBytes > maxUDPBuffer:
		return invalid("sip.udp_buffer_bytes", strconv.Itoa(s.UDPBufferBytes), "must be 0 (the system's default) to 1073741824")
	case s.LeaveRotation < 0 || s.LeaveRotation > maxLeaveRotation:
		return invalid("sip.leave_rotation", s.LeaveRotation.String(), "must be 0s to 1m")
	}
	return nil
}

// minMediaPorts is one RTP/RTCP pair for each side of an anchored call.
const minMediaPorts = 4

func (m MediaConfig) check() *ConfigError {
	ip, err := netip.ParseAddr(m.IP)
	switch {
	case m.IP == "":
		return required("media.ip")
	case err != nil:
		return invalid("media.ip", m.IP, "must be an IP address")
	case ip.IsUnspecified():
		return invalid("media.ip", m.IP, "must be a specific address: it is advertised in SDP")
	}
	low, high, err := parsePortRange(m.Ports)
	switch {
	case err != nil:
		return invalid("media.ports", m.Ports, "must be LOW-HIGH, e.g. 49152-57500")
	case low >= high:
		return invalid("media.ports", m.Ports, "low must be below high")
	case low < 1024:
		return invalid("media.ports", m.Ports, "low must be at least 1024")
	case high > 65535:
		return invalid("media.ports", m.Ports, "high must be at most 65535")
	case high-low+1 < minMediaPorts:
		return invalid("media.ports", m.Ports, "needs at least %d ports: an RTP/RTCP pair for each side", minMediaPorts)
	case m.Timeout < 0:
		return invalid("media.timeout", m.Timeout.String(), "must not be negative")
	case m.Quarantine < 0:
		return invalid("media.quarantine", m.Quarantine.String(), "must not be negative")
	case len(m.EdgeCodecs) == 0:
		return required("media.edge_codecs")
	}
	for i, c := range m.EdgeCodecs {
		switch c {
		case "PCMU", "PCMA", "G722":
		default:
			return invalid(fmt.Sprintf("media.edge_codecs[%d]", i), c, "must be PCMU, PCMA or G722")
		}
	}
	return nil
}

func parsePortRange(s string) (low, high int, err error) {
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, errors.New("no '-'")
	}
	if low, err = strconv.Atoi(lo); err != nil {
		return 0, 0, err
	}
	if high, err = strconv.Atoi(hi); err != nil {
		return 0, 0, err
	}
	return low, high, nil
}

func (l LogConfig) check() *ConfigError {
	// ParseLevel takes "" as NoLevel, which would silently drop every event.
	if _, err := zerolog.ParseLevel(l.Level); err != nil || l.Level == "" {
		return invalid("log.level", l.Level, "must be trace, debug, info, warn, error, fatal, panic or disabled")
	}
	if l.Format != "" && l.Format != "json" && l.Format != "console" {
		return invalid("log.format", l.Format, `must be "json", "console" or empty (console on a terminal)`)
	}
	return nil
}

// MediaPortRange returns media.ports as numbers, inclusive; 0, 0 if the
// config was not validated.
func (c *Config) MediaPortRange() (low, high int) {
	low, high, err := parsePortRange(c.Media.Ports)
	if err != nil {
		return 0, 0
	}
	return low, high
}

// InternalPrefixes returns bypass.internal_subnets, masked to their network
// so "10.1.2.3/8" matches like "10.0.0.0/8". Invalid entries are skipped;
// Validate reports them.
func (c *Config) InternalPrefixes() []netip.Prefix { return subnets(c.Bypass.InternalSubnets) }

// TransportName is the trunk's transport: an omitted transport is udp, as
// for the single SBC of the command line (--gateway-transport) and as
// RFC 3263 has a SIP URI without ;transport= over UDP.
func (g GatewayConfig) TransportName() string {
	if g.Transport == "" {
		return "udp"
	}
	return g.Transport
}

// BypassEnabled is the trunk's own bypass switch; an omitted enable_bypass
// means true, as in Set-CsTrunkConfiguration.
func (g GatewayConfig) BypassEnabled() bool {
	return g.EnableBypass == nil || *g.EnableBypass
}

// HoldTimeout is RTCPCallsOnHold with its default.
func (g GatewayConfig) HoldTimeout() bool {
	return g.RTCPCallsOnHold == nil || *g.RTCPCallsOnHold
}

// DisplayName is the trunk's name for logs and metrics: Name, or Address when
// no name was given.
func (g GatewayConfig) DisplayName() string {
	if g.Name != "" {
		return g.Name
	}
	return g.Address
}
