package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

// demoRows are the table rows `mediation demo` must print: each kind of
// client in both directions, with the media path Cloud Connector gives it.
var demoRows = []struct{ client, direction, media string }{
	{"supported internal", "outbound", "bypassed"},
	{"supported internal", "inbound", "bypassed"},
	{"Lync 2013", "outbound", "anchored"},
	{"Lync 2013", "inbound", "anchored"},
	{"external", "outbound", "anchored"},
	{"external", "inbound", "anchored"},
}

func TestDemo(t *testing.T) {
	t.Run("table", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		res := runProc(ctx, t, "demo")
		if res.code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
		}
		for _, row := range demoRows {
			// client, direction, media, then the path it draws.
			path := `client 127\.0\.0\.\d:\d+ <-> SBC`
			if row.media == "anchored" {
				path = `client 127\.0\.0\.\d:\d+ <-> mediation 127\.0\.0\.1:\d+ \| \d+ <-> SBC`
			}
			re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(row.client) + `\s+` + row.direction + `\s+` + row.media + `\s+` + path + `.*\sok\s+PASS$`)
			if !re.MatchString(res.stdout) {
				t.Errorf("no passing %s %s %s row in:\n%s", row.client, row.direction, row.media, res.stdout)
			}
		}
		for _, want := range []string{
			`mediationserver_calls_total{direction="outbound"} 3`,
			`mediationserver_media_bypass_calls_total{direction="inbound"} 1`,
			"HTTP 403",
			"\nPASS: ",
		} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("output lacks %q:\n%s", want, res.stdout)
			}
		}
		// The external client's 403 is what the demo shows, not a problem.
		if strings.Contains(res.stderr, `"level":"warn"`) || strings.Contains(res.stderr, `"level":"error"`) {
			t.Errorf("demo logged a warning or error for expected outcomes:\n%s", res.stderr)
		}
	})
	t.Run("json", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		res := runProc(ctx, t, "demo", "--json", "--duration", "500ms")
		if res.code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
		}
		var got demoResult
		if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
			t.Fatalf("%v:\n%s", err, res.stdout)
		}
		if !got.Pass || len(got.Calls) != len(demoRows) || len(got.CounterProblems) != 0 {
			t.Fatalf("result %+v", got)
		}
		for i, row := range demoRows {
			c := got.Calls[i]
			if c.Client != row.client || c.Direction != row.direction || c.Media != row.media || !c.Pass || !c.AudioOK ||
				c.ClientCode != 200 || c.SBCCode != 200 || c.ClientCodec == "" || c.SBCCodec == "" {
				t.Errorf("call %d: %+v, want %+v", i, c, row)
			}
			if c.LossToSBC == nil || c.LossToClient == nil || *c.LossToSBC > 20 || *c.LossToClient > 20 ||
				c.JitterToSBC == nil || c.JitterToClient == nil || *c.JitterToSBC <= 0 || *c.JitterToClient <= 0 {
				t.Errorf("call %d: loss %v|%v %%, jitter %v|%v ms; want both measured", i, c.LossToSBC, c.LossToClient, c.JitterToSBC, c.JitterToClient)
			}
		}
		granted := map[string]bool{}
		for _, c := range got.Clients {
			granted[c.Name] = c.Granted
		}
		if !granted["supported internal"] || granted["Lync 2013"] || granted["external"] || len(got.Clients) != 3 {
			t.Errorf("web service grants %v", granted)
		}
	})
}
