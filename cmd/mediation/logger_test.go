package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mediation-emulator/mediation/mediation"
)

func TestNewLogger(t *testing.T) {
	tests := []struct {
		lc       mediation.LogConfig
		wantJSON bool
		wantLogs []string // messages expected out of debug, info, warn
	}{
		{mediation.LogConfig{Level: "info", Format: "json"}, true, []string{"info-msg", "warn-msg"}},
		{mediation.LogConfig{Level: "debug", Format: "json"}, true, []string{"debug-msg", "info-msg", "warn-msg"}},
		{mediation.LogConfig{Level: "warn", Format: ""}, true, []string{"warn-msg"}}, // a buffer is no terminal
		{mediation.LogConfig{Level: "info", Format: "console"}, false, []string{"info-msg", "warn-msg"}},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		log := newLogger(&buf, tt.lc)
		log.Debug().Msg("debug-msg")
		log.Info().Str("k", "v").Msg("info-msg")
		log.Warn().Msg("warn-msg")
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(lines) != len(tt.wantLogs) {
			t.Fatalf("%+v: %d lines, want %d: %q", tt.lc, len(lines), len(tt.wantLogs), buf.String())
		}
		for i, line := range lines {
			var ev map[string]any
			isJSON := json.Unmarshal([]byte(line), &ev) == nil
			if isJSON != tt.wantJSON || !strings.Contains(line, tt.wantLogs[i]) {
				t.Errorf("%+v: line %q: json=%v want %v, want message %q", tt.lc, line, isJSON, tt.wantJSON, tt.wantLogs[i])
			}
			if isJSON && ev["time"] == nil {
				t.Errorf("%+v: line %q has no time", tt.lc, line)
			}
		}
	}
}
