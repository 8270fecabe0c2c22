package mediation_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
	"github.com/mediation-emulator/mediation/mediation/mediationtest/tools"
)

// TestWebUIInBrowser: in headless Chromium, /ui/ lists a call in progress
// as bypassed, and, once over, a placed bypassed call as bypassed and an
// anchored one as anchored, with the counters; the
// bypassed call's page shows the decision above an SVG ladder whose
// INVITE, 183 and 200 on the client's leg carry a=x-bypassid, and a click
// on the INVITE shows its whole text. A screenshot of each page is saved
// in the test's temp dir.
func TestWebUIInBrowser(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	browser := tools.Chromium(t, ctx)
	lab := mediationtest.Start(t, mediationtest.Options{})
	bypassedID, _ := callBypassedAndAnchored(t, ctx, lab, 200*time.Millisecond)
	mediationtest.WaitMetric(t, lab.Server, 0, "mediationserver_calls_current", "direction", "outbound")

	// A call in progress is listed live, bypassed, until it ends.
	client, err := lab.NewClient(ctx, mediationtest.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	liveDone := make(chan error, 1)
	go func() {
		_, err := lab.CallOut(ctx, client, endpoint.CallOptions{Duration: 3 * time.Second})
		liveDone <- err
	}()
	mediationtest.WaitMetric(t, lab.Server, 1, "mediationserver_media_bypass_calls_active", "direction", "outbound")
	if err := chromedp.Do(browser, chromedp.Navigate(mediationtest.AdminURL(lab.Server, "/ui/?refresh=0")), chromedp.WaitReady(`#live`)); err != nil {
		t.Fatal(err)
	}
	live := run(t, browser, chromedp.Text(`#live`))
	if !strings.Contains(live, "outbound") || !strings.Contains(live, "bypassed") || !strings.Contains(live, "sbc") {
		t.Errorf("calls in progress:\n%s", live)
	}
	save(t, t.TempDir(), "ui-live.png", run(t, browser, chromedp.FullScreenshot(100)))
	if err := <-liveDone; err != nil {
		t.Fatal(err)
	}
	mediationtest.WaitMetric(t, lab.Server, 0, "mediationserver_calls_current", "direction", "outbound")

	dir := t.TempDir()
	if err := chromedp.Do(browser, chromedp.Navigate(mediationtest.AdminURL(lab.Server, "/ui/?refresh=0")), chromedp.WaitVisible(`#calls`)); err != nil {
		t.Fatal(err)
	}
	index := run(t, browser, chromedp.Text(`#calls`))
	counters := run(t, browser, chromedp.Text(`#counters`))
	if trunks := run(t, browser, chromedp.Text(`#trunks`)); !strings.Contains(trunks, "sbc") || !strings.Contains(trunks, "up") {
		t.Errorf("gateway trunks:\n%s", trunks)
	}
	save(t, dir, "ui-index.png", run(t, browser, chromedp.FullScreenshot(100)))
	if !strings.Contains(counters, "Outbound Calls - Total\t3") && !strings.Contains(counters, "Outbound Calls - Total 3") {
		t.Errorf("counters:\n%s", counters)
	}
	rows := strings.Split(index, "\n")
	var bypassRow, anchorRow string
	for _, r := range rows {
		switch {
		case strings.Contains(r, "bypassed id_matched"):
			bypassRow = r
		case strings.Contains(r, "anchored no_id"):
			anchorRow = r
		}
	}
	if bypassRow == "" || anchorRow == "" {
		t.Fatalf("recent calls table without a bypassed (id_matched) and an anchored (no_id) call:\n%s", index)
	}

	// The bypassed call's page, found by its edge Call-ID.
	page := mediationtest.AdminURL(lab.Server, "/ui/call/"+url.PathEscape(bypassedID))
	if res, err := http.Get(page); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %v %v", page, res.Status, err)
	}
	if err := chromedp.Do(browser, chromedp.Navigate(page), chromedp.WaitReady(`#decision`)); err != nil {
		t.Fatal(err)
	}
	decision := run(t, browser, chromedp.Text(`#decision`))
	labels := run(t, browser, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#ladder g.msg')).map(g =>
			g.querySelector('text.label').textContent + (g.querySelector('tspan.bypassid') ? ' [x-bypassid]' : '') +
			' ' + g.querySelector('line').getAttribute('x1') + '>' + g.querySelector('line').getAttribute('x2'))`))
	if err := chromedp.Do(browser, chromedp.Click(`#ladder g.msg[data-i="0"] text.label`)); err != nil {
		t.Fatal(err)
	}
	text := run(t, browser, chromedp.Text(`#text`))
	save(t, dir, "ui-call.png", run(t, browser, chromedp.FullScreenshot(100)))
	if !strings.Contains(decision, "Media bypass: yes") || !strings.Contains(decision, "id_matched") {
		t.Errorf("decision: %q", decision)
	}
	// The client's lane is x=90, the mediation's 390: the client's leg.
	for _, want := range []string{"INVITE [x-bypassid] 90>390", "183 Session Progress [x-bypassid] 390>90", "200 OK [x-bypassid] 390>90"} {
		found := false
		for _, l := range labels {
			found = found || l == want
		}
		if !found {
			t.Errorf("ladder has no %q: %q", want, labels)
		}
	}
	if !strings.HasPrefix(strings.TrimSpace(strings.SplitN(text, "\n\n", 2)[1]), "INVITE sip:") ||
		!strings.Contains(text, "a=x-bypassid:"+mediationtest.DefaultBypassID) {
		t.Errorf("text shown on click of the INVITE:\n%s", text)
	}
	t.Logf("screenshots in %s", dir)
	if d := os.Getenv("MEDIATION_UI_SCREENSHOTS"); d != "" {
		// README's screenshot: MEDIATION_UI_SCREENSHOTS=$PWD/testdata/ui go test -run TestWebUIInBrowser ./mediation/
		for _, n := range []string{"ui-index.png", "ui-call.png"} {
			b, _ := os.ReadFile(filepath.Join(dir, n))
			save(t, d, n, b)
		}
	}
}

// run runs one browser action and returns its result.
func run[T any](t *testing.T, browser context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(browser, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func save(t *testing.T, dir, name string, png []byte) {
	t.Helper()
	if len(png) == 0 {
		t.Fatalf("%s: empty screenshot", name)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
