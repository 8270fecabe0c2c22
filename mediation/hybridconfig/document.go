package hybridconfig

import (
	"encoding/xml"
	"fmt"
	"strings"
)

// Document is the body of a 200 response; clients (and the emulator's own
// simulated client) decode it with encoding/xml.
type Document struct {
	XMLName     xml.Name    `xml:"HybridConfig"`
	MediaBypass MediaBypass `xml:"MediaBypass"`
}

// MediaBypass carries the MediaBypassSettings a client needs.
type MediaBypass struct {
	BypassEnabled      bool   `xml:"bypassEnabled,attr"`
	InternalBypassMode string `xml:"internalBypassMode,attr"`
	ExternalBypassMode string `xml:"externalBypassMode,attr"`
	// BypassID is absent when bypass is not granted, so a client cannot
	// offer an ID it was not meant to use.
	BypassID string `xml:"bypassID,attr,omitempty"`
}

// Usable is the client's rule: bypass only when enabled, with some mode "Any"
// and a bypass ID present.
func (m MediaBypass) Usable() bool {
	anyMode := strings.EqualFold(m.InternalBypassMode, modeAny) || strings.EqualFold(m.ExternalBypassMode, modeAny)
	return m.BypassEnabled && anyMode && m.BypassID != ""
}

const (
	modeAny = "Any"
	modeOff = "Off"
	// xmlHeader spells the encoding in lower case as the sketch of the real
	// service does; xml.Header says "UTF-8".
	xmlHeader = `<?xml version="1.0" encoding="utf-8"?>` + "\n"
)

// granted is the answer for a client that may bypass with bypassID. External
// bypass is never offered: CCE does not support it.
func granted(bypassID string) Document {
	return Document{MediaBypass: MediaBypass{
		BypassEnabled:      true,
		InternalBypassMode: modeAny,
		ExternalBypassMode: modeOff,
		BypassID:           bypassID,
	}}
}

// refused is the answer for a client that must not bypass.
func refused() Document {
	return Document{MediaBypass: MediaBypass{InternalBypassMode: modeOff, ExternalBypassMode: modeOff}}
}

// marshal renders d with the XML declaration.
func (d Document) marshal() ([]byte, error) {
	body, err := xml.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("hybridconfig: marshal document: %w", err)
	}
	return append([]byte(xmlHeader), body...), nil
}
