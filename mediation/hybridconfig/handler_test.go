package hybridconfig

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	testBypassID = "be38f190-a24a-4a72-b66c-b09fd0909ebc"
	uaSupported  = "UCCAPI/16.0.7870.2020 OC/16.0.7870.2020 (Skype for Business)"
	uaNewer      = "UCCAPI/16.0.8000.1 OC/16.0.8000.1 (Skype for Business)"
	uaOlder      = "UCCAPI/16.0.7870.2019 OC/16.0.7870.2019 (Skype for Business)"
	uaLync2013   = "UCCAPI/15.0.4420.1017 OC/15.0.4420.1017 (Microsoft Lync)"
)

var (
	loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	private  = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}

	grantedBypass = MediaBypass{BypassEnabled: true, InternalBypassMode: "Any", ExternalBypassMode: "Off", BypassID: testBypassID}
	refusedBypass = MediaBypass{BypassEnabled: false, InternalBypassMode: "Off", ExternalBypassMode: "Off"}
)

// logBuffer collects the handler's log; the handler writes from the server's
// goroutine after the response is sent, so reads wait for a line to appear.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// waitLines polls until the log holds n lines or ctx ends.
func (b *logBuffer) waitLines(ctx context.Context, t *testing.T, n int) []map[string]any {
	t.Helper()
	for {
		b.mu.Lock()
		text := b.buf.String()
		b.mu.Unlock()
		lines := strings.Split(strings.TrimSpace(text), "\n")
		if text != "" && len(lines) >= n {
			events := make([]map[string]any, len(lines))
			for i, l := range lines {
				if err := json.Unmarshal([]byte(l), &events[i]); err != nil {
					t.Fatalf("log line %q: %v", l, err)
				}
			}
			return events
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %d log lines, have %q", n, text)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

type fixture struct {
	srv    *httptest.Server
	client *http.Client
	log    *logBuffer
}

// newFixture serves the handler on a real 127.0.0.1 listener.
func newFixture(t *testing.T, settings func() Settings, internal []netip.Prefix) *fixture {
	t.Helper()
	lb := &logBuffer{}
	srv := httptest.NewServer(NewHandler(settings, internal, zerolog.New(lb)))
	transport := &http.Transport{}
	t.Cleanup(func() {
		transport.CloseIdleConnections()
		srv.Close()
	})
	return &fixture{srv: srv, client: &http.Client{Transport: transport}, log: lb}
}

type result struct {
	status int
	header http.Header
	body   []byte
}

func (f *fixture) do(ctx context.Context, t *testing.T, method, userAgent string, header http.Header) result {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, f.srv.URL+Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	// An empty User-Agent makes net/http send none at all.
	req.Header.Set("User-Agent", userAgent)
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return result{status: resp.StatusCode, header: resp.Header, body: body}
}

func enabled() Settings { return Settings{Enabled: true, BypassID: testBypassID} }

func TestHandler(t *testing.T) {
	tests := []struct {
		name      string
		settings  func() Settings
		internal  []netip.Prefix
		method    string
		userAgent string
		header    http.Header
		// wantStatus 200 with wantDoc decoded from the body, otherwise wantText in it.
		wantStatus int
		wantDoc    MediaBypass
		wantText   string
		wantLog    map[string]any
	}{
		{name: "supported client", settings: enabled, internal: loopback, method: http.MethodGet, userAgent: uaSupported,
			wantStatus: 200, wantDoc: grantedBypass,
			wantLog: map[string]any{"granted": true, "version": "16.0.7870.2020", "user_agent": uaSupported, "level": "info"}},
		{name: "newer client", settings: enabled, internal: loopback, method: http.MethodGet, userAgent: uaNewer,
			wantStatus: 200, wantDoc: grantedBypass, wantLog: map[string]any{"granted": true, "version": "16.0.8000.1"}},
		{name: "one build too old", settings: enabled, internal: loopback, method: http.MethodGet, userAgent: uaOlder,
			wantStatus: 200, wantDoc: refusedBypass, wantLog: map[string]any{"granted": false, "version": "16.0.7870.2019"}},
		{name: "lync 2013", settings: enabled, internal: loopback, method: http.MethodGet, userAgent: uaLync2013,
			wantStatus: 200, wantDoc: refusedBypass, wantLog: map[string]any{"granted": false, "version": "15.0.4420.1017"}},
		{name: "no user agent", settings: enabled, internal: loopback, method: http.MethodGet, userAgent: "",
			wantStatus: 200, wantDoc: refusedBypass, wantLog: map[string]any{"granted": false, "user_agent": ""}},
		{name: "browser", settings: enabled, internal: loopback, method: http.MethodGet, userAgent: "Mozilla/5.0 (X11; Linux x86_64)",
			wantStatus: 200, wantDoc: refusedBypass, wantLog: map[string]any{"granted": false}},
		{name: "bypass disabled", settings: func() Settings { return Settings{Enabled: false, BypassID: testBypassID} },
			internal: loopback, method: http.MethodGet, userAgent: uaSupported,
			wantStatus: 200, wantDoc: refusedBypass, wantLog: map[string]any{"granted": false, "reason": "bypass disabled"}},
		{name: "enabled without bypass id", settings: func() Settings { return Settings{Enabled: true} },
			internal: loopback, method: http.MethodGet, userAgent: uaSupported,
			wantStatus: 200, wantDoc: refusedBypass, wantLog: map[string]any{"granted": false}},
		{name: "nil settings", settings: nil, internal: loopback, method: http.MethodGet, userAgent: uaSupported,
			wantStatus: 200, wantDoc: refusedBypass, wantLog: map[string]any{"granted": false}},
		{name: "external client", settings: enabled, internal: private, method: http.MethodGet, userAgent: uaSupported,
			wantStatus: 403, wantText: "external clients cannot use media bypass",
			wantLog: map[string]any{"granted": false, "status": float64(403), "level": "info"}},
		{name: "external client forging X-Forwarded-For", settings: enabled, internal: private, method: http.MethodGet,
			userAgent: uaSupported, header: http.Header{"X-Forwarded-For": {"10.1.2.3"}, "X-Real-Ip": {"10.1.2.3"}},
			wantStatus: 403, wantText: "external clients cannot use media bypass", wantLog: map[string]any{"granted": false}},
		{name: "no internal subnets", settings: enabled, internal: nil, method: http.MethodGet, userAgent: uaSupported,
			wantStatus: 403, wantText: "external clients cannot use media bypass"},
		{name: "post", settings: enabled, internal: loopback, method: http.MethodPost, userAgent: uaSupported,
			wantStatus: 405, wantText: "method not allowed", wantLog: map[string]any{"granted": false, "status": float64(405)}},
		{name: "put", settings: enabled, internal: loopback, method: http.MethodPut, userAgent: uaSupported,
			wantStatus: 405, wantText: "method not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			f := newFixture(t, tt.settings, tt.internal)
			res := f.do(ctx, t, tt.method, tt.userAgent, tt.header)

			if res.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %q)", res.status, tt.wantStatus, res.body)
			}
			if cc := res.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			if tt.wantStatus == http.StatusMethodNotAllowed {
				if allow := res.header.Get("Allow"); allow != "GET, HEAD" {
					t.Errorf("Allow = %q, want \"GET, HEAD\"", allow)
				}
			}
			if tt.wantStatus == http.StatusOK {
				checkDocument(t, res, tt.wantDoc)
			} else if got := strings.TrimSpace(string(res.body)); got != tt.wantText {
				t.Errorf("body = %q, want %q", got, tt.wantText)
			}

			events := f.log.waitLines(ctx, t, 1)
			if len(events) != 1 {
				t.Fatalf("log has %d events, want exactly 1: %v", len(events), events)
			}
			ev := events[0]
			if remote, _ := ev["remote"].(string); !strings.HasPrefix(remote, "127.0.0.1:") {
				t.Errorf("log remote = %v, want the loopback client", ev["remote"])
			}
			for k, want := range tt.wantLog {
				if ev[k] != want {
					t.Errorf("log %s = %#v, want %#v (event %v)", k, ev[k], want, ev)
				}
			}
		})
	}
}

// checkDocument decodes an XML 200 response and compares its MediaBypass.
func checkDocument(t *testing.T, res result, want MediaBypass) {
	t.Helper()
	if ct := res.header.Get("Content-Type"); ct != "application/xml; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if !bytes.HasPrefix(res.body, []byte(`<?xml version="1.0" encoding="utf-8"?>`)) {
		t.Errorf("body does not start with the XML declaration: %q", res.body)
	}
	var doc Document
	if err := xml.Unmarshal(res.body, &doc); err != nil {
		t.Fatalf("decode %q: %v", res.body, err)
	}
	if doc.XMLName.Local != "HybridConfig" || doc.MediaBypass != want {
		t.Fatalf("document = %+v, want HybridConfig with %+v", doc, want)
	}
	if hasID := bytes.Contains(res.body, []byte("bypassID=")); hasID != (want.BypassID != "") {
		t.Errorf("body %q: bypassID attribute present = %v, want %v", res.body, hasID, want.BypassID != "")
	}
	if doc.MediaBypass.Usable() != want.BypassEnabled {
		t.Errorf("Usable() = %v, want %v", doc.MediaBypass.Usable(), want.BypassEnabled)
	}
}

// TestHandlerExactBody pins the bytes documented in the package comment.
func TestHandlerExactBody(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tests := []struct {
		settings func() Settings
		want     string
	}{
		{enabled, `<?xml version="1.0" encoding="utf-8"?>` + "\n" +
			`<HybridConfig><MediaBypass bypassEnabled="true" internalBypassMode="Any" externalBypassMode="Off" bypassID="be38f190-a24a-4a72-b66c-b09fd0909ebc"></MediaBypass></HybridConfig>`},
		{func() Settings { return Settings{} }, `<?xml version="1.0" encoding="utf-8"?>` + "\n" +
			`<HybridConfig><MediaBypass bypassEnabled="false" internalBypassMode="Off" externalBypassMode="Off"></MediaBypass></HybridConfig>`},
	}
	for _, tt := range tests {
		f := newFixture(t, tt.settings, loopback)
		res := f.do(ctx, t, http.MethodGet, uaSupported, nil)
		if string(res.body) != tt.want {
			t.Errorf("body =\n%s\nwant\n%s", res.body, tt.want)
		}
		if cl := res.header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(tt.want)) {
			t.Errorf("Content-Length = %s, want %d", cl, len(tt.want))
		}
	}
}

func TestHandlerHead(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f := newFixture(t, enabled, loopback)
	res := f.do(ctx, t, http.MethodHead, uaSupported, nil)
	if res.status != http.StatusOK || len(res.body) != 0 {
		t.Fatalf("HEAD = %d with %d body bytes, want 200 and none", res.status, len(res.body))
	}
	if ct := res.header.Get("Content-Type"); ct != "application/xml; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
}

// TestHandlerSettingsChangeAtRunTime checks that settings are read per request:
// disabling bypass takes effect on the next fetch, without a new handler.
func TestHandlerSettingsChangeAtRunTime(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var current atomic.Pointer[Settings]
	current.Store(&Settings{Enabled: true, BypassID: testBypassID})
	f := newFixture(t, func() Settings { return *current.Load() }, loopback)

	checkDocument(t, f.do(ctx, t, http.MethodGet, uaSupported, nil), grantedBypass)
	current.Store(&Settings{Enabled: false, BypassID: testBypassID})
	checkDocument(t, f.do(ctx, t, http.MethodGet, uaSupported, nil), refusedBypass)
	other := "2cd1a522-b9c5-4410-8aed-f3eca85eb367"
	current.Store(&Settings{Enabled: true, BypassID: other})
	want := grantedBypass
	want.BypassID = other
	checkDocument(t, f.do(ctx, t, http.MethodGet, uaSupported, nil), want)
	f.log.waitLines(ctx, t, 3)
}

// TestHandlerIPv6Loopback serves on [::1] so the remote address is IPv6.
func TestHandlerIPv6Loopback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tests := []struct {
		internal []netip.Prefix
		want     int
	}{
		{[]netip.Prefix{netip.MustParsePrefix("::1/128")}, http.StatusOK},
		{[]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, http.StatusForbidden},
	}
	for _, tt := range tests {
		ln, err := net.Listen("tcp", "[::1]:0")
		if err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: NewHandler(enabled, tt.internal, zerolog.Nop())}}
		srv.Start()
		transport := &http.Transport{}
		f := &fixture{srv: srv, client: &http.Client{Transport: transport}}
		res := f.do(ctx, t, http.MethodGet, uaSupported, nil)
		transport.CloseIdleConnections()
		srv.Close()
		if res.status != tt.want {
			t.Errorf("internal %v: status %d, want %d", tt.internal, res.status, tt.want)
		}
	}
}

// TestHandlerRemoteAddrForms covers remote addresses a loopback socket cannot
// produce: IPv4-mapped IPv6 from a dual-stack listener, and unparsable ones.
func TestHandlerRemoteAddrForms(t *testing.T) {
	tests := []struct {
		remote string
		want   int
	}{
		{"[::ffff:127.0.0.1]:51000", http.StatusOK},
		{"127.0.0.1:51000", http.StatusOK},
		{"[::1]:51000", http.StatusOK},
		{"[::ffff:192.0.2.1]:51000", http.StatusForbidden},
		{"192.0.2.1:51000", http.StatusForbidden},
		{"", http.StatusForbidden},
		{"@", http.StatusForbidden},
		{"127.0.0.1", http.StatusForbidden},
	}
	h := NewHandler(enabled, loopback, zerolog.Nop())
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodGet, Path, nil)
		req.RemoteAddr = tt.remote
		req.Header.Set("User-Agent", uaSupported)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("remote %q: status %d, want %d", tt.remote, rec.Code, tt.want)
		}
	}
}

// TestHandlerRefusalLogsLimited: a flood of refused requests (external
// clients) logs at most one line a second, with the number suppressed,
// not one a request; every one is still counted.
func TestHandlerRefusalLogsLimited(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var mu sync.Mutex
	outcomes := 0
	lb := &logBuffer{}
	srv := httptest.NewServer(NewHandler(enabled, private, zerolog.New(lb), WithOutcome(func(string) { mu.Lock(); outcomes++; mu.Unlock() })))
	transport := &http.Transport{}
	t.Cleanup(func() { transport.CloseIdleConnections(); srv.Close() })
	f := &fixture{srv: srv, client: &http.Client{Transport: transport}, log: lb}
	const n = 200
	start := time.Now()
	for range n {
		if res := f.do(ctx, t, http.MethodGet, uaSupported, nil); res.status != http.StatusForbidden {
			t.Fatalf("status %d, want 403", res.status)
		}
	}
	elapsed := time.Since(start)
	events := lb.waitLines(ctx, t, 1)
	if max := int(elapsed/time.Second) + 1; len(events) > max {
		t.Errorf("%d log lines for %d refusals in %v, want at most %d", len(events), n, elapsed, max)
	}
	logged := 0
	for _, ev := range events {
		s, _ := ev["suppressed"].(float64)
		logged += 1 + int(s)
	}
	if logged > n {
		t.Errorf("log lines account for %d refusals, more than the %d made", logged, n)
	}
	mu.Lock()
	defer mu.Unlock()
	if outcomes != n {
		t.Errorf("%d refusals counted, want %d", outcomes, n)
	}
}
