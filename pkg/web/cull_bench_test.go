package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkCullDecide measures the server time of one culling decision
// (POST /cull/decide through the whole handler: auth, the decision's
// transaction with its audit row, and the new counter with the resume
// cursor) on a real SQLite file with a generated library of 20,000 media,
// keep / reject / rate in turn and an undo every tenth request. It
// reports p50 and p95.
func BenchmarkCullDecide(b *testing.B) {
	const n = 20_000
	ls := newLibServer(b, b.TempDir(), n, 0)
	h := ls.srv.Handler()
	post := func(path string, form url.Values) (time.Duration, *httptest.ResponseRecorder) {
		req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
		req.RemoteAddr, req.Host = "127.0.0.1:5555", "127.0.0.1:8080"
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		req.Header.Set(internalKeyHeader, testKey)
		rec := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(rec, req)
		return time.Since(start), rec
	}
	_, rec := post("/cull/start", url.Values{"query": {""}})
	var st struct {
		Pass struct{ ID int64 } `json:"pass"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &st) != nil {
		b.Fatalf("start: %d %s", rec.Code, rec.Body.String())
	}
	pass := strconv.FormatInt(st.Pass.ID, 10)
	actions := [][2]string{{"keep", ""}, {"rate", "2"}, {"reject", ""}, {"rate", "0"}, {"keep", ""}}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		var d time.Duration
		if i%10 == 9 {
			d, rec = post("/cull/undo", url.Values{"pass": {pass}})
		} else {
			a := actions[i%len(actions)]
			id := strconv.Itoa(n - i%n)
			d, rec = post("/cull/decide", url.Values{"pass": {pass}, "media_id": {id}, "action": {a[0]}, "value": {a[1]}})
		}
		if rec.Code != http.StatusOK {
			b.Fatalf("request %d: %d %s", i, rec.Code, rec.Body.String())
		}
		lat = append(lat, d)
	}
	reportPercentiles(b, lat)
}
