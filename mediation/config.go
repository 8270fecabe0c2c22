package mediation

// Config is the whole configuration of one mediation server. It is read from
// YAML (the embedded default, or --config FILE), overridden by flags, and
// validated once, before anything binds.
type Config struct {
	// Edge is the side towards Skype for Business Online and its clients.
	Edge EdgeConfig `yaml:"edge"`
	// GatewayListen is where the gateway side listens, UDP and TCP on one port.
	GatewayListen string `yaml:"gateway_listen"`
	// Gateways are the SBC trunks. Outbound calls go to the first one.
	Gateways []GatewayConfig `yaml:"gateways"`
	// HTTPListen serves the bypass web service, /metrics and /healthz.
	HTTPListen string `yaml:"http_listen"`
	// Bypass holds the MediaBypassSettings and the web service's settings.
	Bypass BypassConfig `yaml:"bypass"`
	// Media is where anchored calls get their RTP ports.
	Media MediaConfig `yaml:"media"`
	// Log sets the level and format of the log.
	Log LogConfig `yaml:"log"`
}

// EdgeConfig is the edge side: where it listens and where inbound calls go.
type EdgeConfig struct {
	// Listen is HOST:PORT, UDP and TCP on that port.
	Listen string `yaml:"listen"`
	// Peer is HOST:PORT of the Online edge next hop that inbound calls are sent to.
	Peer string `yaml:"peer"`
	// PeerTransport is udp or tcp.
	PeerTransport string `yaml:"peer_transport"`
}

// GatewayConfig is one SBC / PSTN gateway trunk.
type GatewayConfig struct {
	// Name identifies the trunk in logs and metrics; defaults to Address.
	Name string `yaml:"name"`
	// Address is HOST:PORT of the SBC.
	Address string `yaml:"address"`
	// Transport is udp or tcp.
	Transport string `yaml:"transport"`
	// EnableBypass is the per-trunk switch (Set-CsTrunkConfiguration -EnableBypass); nil means true.
	EnableBypass *bool `yaml:"enable_bypass"`
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
	// WebServiceURL is the HybridConfigServiceInternalUrl advertised to operators.
	WebServiceURL string `yaml:"web_service_url"`
}

// MediaConfig is the address and port range of anchored media.
type MediaConfig struct {
	// IP is the address advertised in SDP and bound for RTP.
	IP string `yaml:"ip"`
	// Ports is LOW-HIGH, inclusive.
	Ports string `yaml:"ports"`
}

// LogConfig sets zerolog's level and output format.
type LogConfig struct {
	Level string `yaml:"level"`
	// Format is json or console; empty picks console on a terminal, json otherwise.
	Format string `yaml:"format"`
}
