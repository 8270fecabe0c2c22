package mediation

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
)

// AdminConfig is the administrators' HTTP API: settings, calls, trunks and
// profiles, on a listener of its own so the clients' network never reaches
// it.
type AdminConfig struct {
	// Listen is IP:PORT of the admin API.
	Listen string `yaml:"listen"`
	// Token, when set, is required as "Authorization: Bearer <token>".
	Token string `yaml:"token"`
	// TokenFile holds the token, so that it stays out of the config file.
	TokenFile string `yaml:"token_file"`
}

func (a AdminConfig) check() *ConfigError {
	if err := checkListen("admin.listen", a.Listen); err != nil {
		return err
	}
	if a.Token != "" && a.TokenFile != "" {
		return &ConfigError{Field: "admin.token_file", Reason: "set admin.token or admin.token_file, not both"}
	}
	if a.Token == "" && a.TokenFile == "" && !netip.MustParseAddrPort(a.Listen).Addr().Unmap().IsLoopback() {
		return &ConfigError{Field: "admin.token", Reason: fmt.Sprintf("is required (or admin.token_file) when admin.listen %s is not a loopback address: "+
			"anyone who reaches the admin API could change the settings", a.Listen)}
	}
	return nil
}

// loadToken returns the bearer token the admin API requires, "" for none.
func (a AdminConfig) loadToken() (string, error) {
	if a.TokenFile == "" {
		return a.Token, nil
	}
	data, err := os.ReadFile(a.TokenFile)
	if err != nil {
		return "", &ConfigError{Field: "admin.token_file", Reason: err.Error()}
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", &ConfigError{Field: "admin.token_file", Reason: fmt.Sprintf("%s is empty", a.TokenFile)}
	}
	return tok, nil
}
