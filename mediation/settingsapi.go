package mediation

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
)

// SettingsView is the admin API's form of the settings, with the names and
// values Get-CsNetworkConfiguration -LocalStore (MediaBypassSettings) and
// Get-CsTenantHybridConfiguration show.
type SettingsView struct {
	Enabled      bool   `json:"Enabled"`
	AlwaysBypass bool   `json:"AlwaysBypass"`
	BypassID     string `json:"BypassID"`
	// InternalBypassMode follows Enabled (Any or Off), as
	// New-CsNetworkMediaBypassConfiguration sets it; read-only.
	InternalBypassMode string `json:"InternalBypassMode"`
	// ExternalBypassMode is always Off: CCE does not bypass external
	// clients; read-only.
	ExternalBypassMode             string `json:"ExternalBypassMode"`
	HybridConfigServiceInternalUrl string `json:"HybridConfigServiceInternalUrl"`
}

// View is b as the admin API shows it.
func (b BypassSettings) View() SettingsView {
	mode := "Off"
	if b.Enabled {
		mode = "Any"
	}
	return SettingsView{Enabled: b.Enabled, AlwaysBypass: b.AlwaysBypass, BypassID: b.BypassID,
		InternalBypassMode: mode, ExternalBypassMode: "Off", HybridConfigServiceInternalUrl: b.WebServiceURL}
}

// SettingsChange is a PUT or PATCH body: the writable fields, nil when not
// given. The read-only modes are accepted only with the value they have
// before or after the change, so a GET's output can be sent back as a PUT,
// with Enabled changed or not.
type SettingsChange struct {
	Enabled                        *bool   `json:"Enabled,omitempty"`
	AlwaysBypass                   *bool   `json:"AlwaysBypass,omitempty"`
	BypassID                       *string `json:"BypassID,omitempty"`
	HybridConfigServiceInternalUrl *string `json:"HybridConfigServiceInternalUrl,omitempty"`
	InternalBypassMode             *string `json:"InternalBypassMode,omitempty"`
	ExternalBypassMode             *string `json:"ExternalBypassMode,omitempty"`
}

// writableFields lists what a PUT or PATCH may change, for error messages.
const writableFields = "Enabled, AlwaysBypass, BypassID, HybridConfigServiceInternalUrl"

// decodeSettingsChange reads one JSON object; unknown fields, values of the
// wrong type and null values are a *SettingsError naming the field, a body
// that is not one object a *SettingsError naming "body".
func decodeSettingsChange(r io.Reader) (SettingsChange, error) {
	var c SettingsChange
	data, err := io.ReadAll(r)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return c, fmt.Errorf("body: %w", err) // 413, not a 400 naming a field
	}
	if err != nil {
		return c, &SettingsError{Field: "body", Reason: err.Error()}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err = dec.Decode(&c)
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
	case errors.As(err, &te) && te.Field == "":
		return c, &SettingsError{Field: "body", Reason: "must be a JSON object of the fields to change, like {\"Enabled\":true}, not a JSON " + te.Value}
	case errors.As(err, &te):
		return c, &SettingsError{Field: te.Field, Reason: "must be a JSON " + jsonKind(te.Type.String())}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return c, &SettingsError{Field: field, Reason: "unknown field (writable: " + writableFields + ")"}
	default:
		return c, &SettingsError{Field: "body", Reason: "must be one JSON object, like {\"Enabled\":true}: " + err.Error()}
	}
	if dec.More() {
		return c, &SettingsError{Field: "body", Reason: "must be one JSON object"}
	}
	// A null would decode as "not given" and change nothing while the
	// caller is told 200: refused, so that a client's unset value is seen.
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) == nil {
		names := make([]string, 0, len(fields))
		for name, v := range fields {
			if string(v) == "null" {
				names = append(names, name)
			}
		}
		if len(names) > 0 {
			sort.Strings(names)
			return c, &SettingsError{Field: names[0], Reason: "must not be null: leave the field out to keep its value"}
		}
	}
	return c, nil
}

// jsonKind names the JSON type a Go type decodes from.
func jsonKind(goType string) string {
	switch strings.TrimLeft(goType, "*") {
	case "bool":
		return "boolean (true or false)"
	case "string":
		return "string"
	}
	return goType
}

// apply returns b with the change's fields; put requires every writable
// field except BypassID (generated when enabling without one and none is
// named).
func (c SettingsChange) apply(b BypassSettings, put bool) (BypassSettings, error) {
	before := b.View()
	if put {
		for _, f := range []struct {
			name  string
			given bool
		}{{"Enabled", c.Enabled != nil}, {"AlwaysBypass", c.AlwaysBypass != nil},
			{"HybridConfigServiceInternalUrl", c.HybridConfigServiceInternalUrl != nil}} {
			if !f.given {
				return b, &SettingsError{Field: f.name, Reason: "is required in a PUT (PATCH changes only the fields given)"}
			}
		}
		b = BypassSettings{}
	}
	if c.Enabled != nil {
		b.Enabled = *c.Enabled
	}
	if c.AlwaysBypass != nil {
		b.AlwaysBypass = *c.AlwaysBypass
	}
	if c.BypassID != nil {
		b.BypassID = *c.BypassID
	} else {
		// Not named: enabling a server that has no ID generates one, as
		// New-CsNetworkMediaBypassConfiguration -Enabled $true does. An
		// explicit "" is left for Validate to refuse while enabled.
		b = b.withGeneratedID()
	}
	if c.HybridConfigServiceInternalUrl != nil {
		b.WebServiceURL = *c.HybridConfigServiceInternalUrl
	}
	// The modes follow Enabled; a client may echo them, not change them.
	// The value it read before changing Enabled is an echo too: a GET,
	// Enabled flipped, PUT back is the usual round trip (r24-ops F8).
	view := b.View()
	if m := c.InternalBypassMode; m != nil && !strings.EqualFold(*m, view.InternalBypassMode) && !strings.EqualFold(*m, before.InternalBypassMode) {
		return b, &SettingsError{Field: "InternalBypassMode", Reason: fmt.Sprintf("is read-only: %s while Enabled is %t", view.InternalBypassMode, b.Enabled)}
	}
	if c.ExternalBypassMode != nil && !strings.EqualFold(*c.ExternalBypassMode, view.ExternalBypassMode) {
		return b, &SettingsError{Field: "ExternalBypassMode", Reason: "is read-only: Off (external media bypass is not supported)"}
	}
	return b, nil
}

// ETag is a strong entity tag of the settings (RFC 9110 §8.8.3): the same
// settings have the same tag, on any server and across restarts, so a
// client can make a change conditional on what it read (If-Match).
func (b BypassSettings) ETag() string {
	data, _ := json.Marshal(b) // a struct of strings and booleans
	sum := sha256.Sum256(data)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// etagMatches is If-Match's test (RFC 9110 §13.1.1): "*" or one of the
// listed tags equal to tag by strong comparison (a weak tag never matches).
func etagMatches(ifMatch []string, tag string) bool {
	for _, h := range ifMatch {
		for _, t := range strings.Split(h, ",") {
			if t = strings.TrimSpace(t); t == "*" || t == tag {
				return true
			}
		}
	}
	return false
}
