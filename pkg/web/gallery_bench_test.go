package web

import (
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/localsupervisor/supervisor/pkg/svtest/browsertest"
)

// BenchmarkListFirstPaint (#23 item 9) loads the gallery list in Chromium
// over loopback from the generated library (SV_BENCH_WEB_1M=1: a million
// media) with the 18+ display set to blur, and reports per load the
// browser's time to the response's first byte (server time plus loopback)
// and its first contentful paint, both from the Performance API.
func BenchmarkListFirstPaint(b *testing.B) {
	ls := benchLib(b)
	ts := httptest.NewServer(ls.srv.Handler())
	defer ts.Close()
	ctx := browsertest.Start(b, browsertest.Options{Timeout: 10 * time.Minute})
	if err := chromedp.Run(ctx, chromedp.Navigate(ts.URL+"/mediadb.php"), chromedp.WaitVisible(`#nsfw-select`, chromedp.ByQuery),
		chromedp.Evaluate(`(() => { const s = document.getElementById('nsfw-select'); s.value = 'blur'; s.dispatchEvent(new Event('change')); })()`, nil),
		chromedp.WaitVisible(`body[data-nsfw="blur"] #grid`, chromedp.ByQuery)); err != nil {
		b.Fatal(err)
	}
	var ttfb, fcp []float64
	cards := 0
	for b.Loop() {
		var m struct {
			TTFB  float64 `json:"ttfb"`
			FCP   float64 `json:"fcp"`
			Cards int     `json:"cards"`
		}
		if err := chromedp.Run(ctx, chromedp.Navigate(ts.URL+"/mediadb.php"),
			chromedp.Poll(`(() => { const p = performance.getEntriesByName('first-contentful-paint')[0],
				n = performance.getEntriesByType('navigation')[0];
				return p && n ? {ttfb: n.responseStart - n.requestStart, fcp: p.startTime,
					cards: document.querySelectorAll('#grid .card[data-id]').length} : null; })()`, &m,
				chromedp.WithPollingTimeout(time.Minute))); err != nil {
			b.Fatal(err)
		}
		ttfb, fcp, cards = append(ttfb, m.TTFB), append(fcp, m.FCP), m.Cards
	}
	med := func(v []float64) float64 { sort.Float64s(v); return v[len(v)/2] }
	b.ReportMetric(med(ttfb), "ttfb-p50-ms")
	b.ReportMetric(med(fcp), "fcp-p50-ms")
	b.ReportMetric(float64(cards), "cards")
}
