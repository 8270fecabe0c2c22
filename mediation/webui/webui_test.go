package webui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mediation-emulator/mediation/mediation/ladder"
)

type fakeSource struct{ calls []ladder.Call }

func (f fakeSource) Live() []Live {
	return []Live{{ID: "live1", Direction: "inbound", From: "+1555", To: "alice", Decided: true, Reason: "no_id",
		EdgeCodec: "PCMU", GatewayCodec: "PCMA", EdgeLossPct: 1.5, Start: time.Now().Add(-time.Minute)}}
}
func (f fakeSource) Calls() []ladder.Call { return f.calls }
func (f fakeSource) Counters() []Counter {
	return []Counter{{Name: "Outbound Calls - Current", Value: 3}}
}
func (f fakeSource) Trunks() []Trunk {
	return []Trunk{{Name: "sbc-a", Address: "127.0.0.1:5060", Transport: "udp", Up: true},
		{Name: "sbc-b", Address: "127.0.0.1:5062", Transport: "tcp"},
		{Name: "sbc-c", Address: "127.0.0.1:5064", Transport: "udp", Up: true, Resting: true}}
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

// TestPages: the index lists live calls, counters and recent calls; a
// call's page has its decision, the SVG ladder and the messages' text,
// HTML-escaped; an unknown call is 404.
func TestPages(t *testing.T) {
	c := ladder.Call{ID: "c1", Direction: "outbound", From: "alice", To: "+15550100", Decided: true, Bypass: true,
		Reason: "id_matched", CallIDs: []string{"abc@x"}, Start: time.Now()}
	c.Add(ladder.NewMessage(time.Now(), "edge", "in", "UDP", "127.0.0.1:5070", "127.0.0.1:5090",
		"INVITE sip:+15550100@127.0.0.1 SIP/2.0\r\nCSeq: 1 INVITE\r\nX-Evil: <script>alert(1)</script>\r\n\r\nv=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\na=x-bypassid:be38\r\n"))
	h := New(fakeSource{calls: []ladder.Call{c}})
	code, body := get(t, h, "/ui/")
	for _, want := range []string{"Outbound Calls - Current", `data-trunk="sbc-a"`, `<td>sbc-a</td><td>127.0.0.1:5060</td><td>udp</td><td><span class="bypassed">up</span>`,
		`<td>sbc-b</td><td>127.0.0.1:5062</td><td>tcp</td><td><span class="failed">down</span>`,
		`<td>sbc-c</td><td>127.0.0.1:5064</td><td>udp</td><td><span class="anchored">resting</span> (503 Retry-After)`, "live1", "anchored", "1.5%", `href="/ui/call/c1"`, "bypassed", "id_matched"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("index (%d) lacks %q", code, want)
		}
	}
	if !strings.Contains(body, `<meta http-equiv="refresh" content="5">`) {
		t.Error("index does not refresh itself")
	}
	if _, body := get(t, h, "/ui/?refresh=0"); strings.Contains(body, "http-equiv") {
		t.Error("?refresh=0 still refreshes")
	}
	for _, path := range []string{"/ui/call/c1", "/ui/call/abc@x"} {
		code, body = get(t, h, path)
		for _, want := range []string{"Media bypass: <span class=\"bypassed\">yes", `<svg id="ladder"`, `class="bypassid"`, "a=x-bypassid:be38", "&lt;script&gt;"} {
			if code != 200 || !strings.Contains(body, want) {
				t.Errorf("%s (%d) lacks %q", path, code, want)
			}
		}
		if strings.Contains(body, "<script>alert") {
			t.Errorf("%s: message text not escaped", path)
		}
	}
	if code, _ := get(t, h, "/ui/call/nope"); code != http.StatusNotFound {
		t.Errorf("unknown call: %d", code)
	}
}
