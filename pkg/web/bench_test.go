package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/catalog/ftsindex"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// Web benchmarks run against a generated library. By default it has 20,000
// media (quick); SV_BENCH_WEB_1M=1 uses 1,000,000. The library lives in
// $TMPDIR/sv-webbench-<n> and is generated only on first use (a million
// media take minutes), so repeated runs measure, not generate.
func benchLib(b *testing.B) *libServer {
	b.Helper()
	n := 20_000
	if os.Getenv("SV_BENCH_WEB_1M") == "1" {
		n = 1_000_000
	}
	base := filepath.Join(os.TempDir(), "sv-webbench-"+strconv.Itoa(n))
	return newLibServer(b, base, n, 200)
}

// timed serves one request through the real handler (with the client's
// session cookie) and returns the server time and status.
func timed(h http.Handler, target, cookie string, hdr http.Header) (time.Duration, int, int) {
	req := httptest.NewRequest("GET", target, nil)
	req.RemoteAddr = "127.0.0.1:5555"
	req.Host = "127.0.0.1:8080"
	for k, v := range hdr {
		req.Header[k] = v
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
	}
	rec := httptest.NewRecorder()
	start := time.Now()
	h.ServeHTTP(rec, req)
	return time.Since(start), rec.Code, rec.Body.Len()
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	b.ReportMetric(float64(percentile(lat, 50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 95).Microseconds())/1000, "p95-ms")
}

// BenchmarkWeb measures server time (through Handler, no network) of the
// pages, cached and first thumbnails, stream throughput over a real
// loopback connection, and 50 concurrent clients.
func BenchmarkWeb(b *testing.B) {
	ls := benchLib(b)
	h := ls.srv.Handler()
	// One session for the sequential cases, so no case creates sessions.
	req := httptest.NewRequest("GET", "/mediadb.php", nil)
	req.Host = "127.0.0.1:8080"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var cookie string
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionCookie {
			cookie = c.Value
		}
	}
	pages := []struct{ name, target string }{
		{"ListNoFilter", "/mediadb.php"},
		{"ListThreeFilters", "/mediadb.php?type=image&min_rating=2&sort=rating"},
		{"ListTextQuery", "/mediadb.php?q=dragon+castle"},
		{"ListDeepPage", "/mediadb.php?after=" + strconv.Itoa(ls.n/2) + "_" + strconv.Itoa(ls.n/2)},
		// A legacy numbered page deep in the list (?p=N, N = half the pages).
		{"ListDeepPageNumbered", "/mediadb.php?p=" + strconv.Itoa(min(ls.n/200, 10000))},
		{"Detail", "/media_view.php?id=" + strconv.FormatInt(ls.thumbIDs[len(ls.thumbIDs)/2], 10)},
		// Prev/next computed inside a filtered, sorted list (id 500030 is
		// a SFW video rated 2 in the generated library; scaled for 20k).
		{"DetailPrevNextFiltered", "/media_view.php?id=" + strconv.Itoa(ls.n/2+30) + "&type=video&min_rating=2&sort=rating"},
		{"DetailPrevNextTextQuery", "/media_view.php?id=" + strconv.Itoa(ls.n/2+30) + "&q=dragon"},
		// The original file name (DSC<id>_<word>.png) of one media.
		{"ListNameSearch", "/mediadb.php?q=DSC" + fmt.Sprintf("%07d", ls.n/8+7)},
		{"ListNamePrefixSearch", "/mediadb.php?q=DSC" + fmt.Sprintf("%05d", ls.n/800)},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			var lat []time.Duration
			cpu := svtest.StartCPU()
			for b.Loop() {
				d, code, _ := timed(h, p.target, cookie, nil)
				if code != http.StatusOK {
					b.Fatalf("%s: %d", p.target, code)
				}
				lat = append(lat, d)
			}
			cpu.Report(b, b.N)
			reportPercentiles(b, lat)
		})
	}
	b.Run("CachedThumb", func(b *testing.B) {
		for _, id := range ls.thumbIDs { // warm the cache
			if _, code, _ := timed(h, fmt.Sprintf("/thumb.php?id=%d", id), "", nil); code != http.StatusOK {
				b.Fatalf("thumb %d: %d", id, code)
			}
		}
		var lat []time.Duration
		i := 0
		for b.Loop() {
			i++
			d, code, n := timed(h, fmt.Sprintf("/thumb.php?id=%d", ls.thumbIDs[i%len(ls.thumbIDs)]), "", nil)
			if code != http.StatusOK || n == 0 {
				b.Fatalf("cached thumb: %d, %d bytes", code, n)
			}
			lat = append(lat, d)
		}
		reportPercentiles(b, lat)
	})
	b.Run("FirstThumb2048PNG", func(b *testing.B) {
		id := ls.thumbIDs[0]
		var path string
		if err := ls.srv.db.QueryRow(`SELECT path FROM media WHERE id = ?`, id).Scan(&path); err != nil {
			b.Fatal(err)
		}
		big := filepath.Join(filepath.Dir(path), "big2048.png")
		var img bytes.Buffer
		writeTestPNG(b, &img, 2048, 2048)
		if err := os.WriteFile(big, img.Bytes(), 0o644); err != nil {
			b.Fatal(err)
		}
		bigID := ensureMedia(b, ls, big, "image")
		var lat []time.Duration
		for b.Loop() {
			b.StopTimer()
			if err := ls.srv.thumbs.(ThumbAdapter).Purge(bigID); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			d, code, _ := timed(h, fmt.Sprintf("/thumb.php?id=%d", bigID), "", nil)
			if code != http.StatusOK {
				b.Fatalf("first thumb: %d", code)
			}
			lat = append(lat, d)
		}
		reportPercentiles(b, lat)
	})
	b.Run("Stream", func(b *testing.B) {
		const size = 64 << 20
		id := ls.thumbIDs[1]
		var path string
		if err := ls.srv.db.QueryRow(`SELECT path FROM media WHERE id = ?`, id).Scan(&path); err != nil {
			b.Fatal(err)
		}
		blob := filepath.Join(filepath.Dir(path), "stream.bin")
		if st, err := os.Stat(blob); err != nil || st.Size() != size {
			data := make([]byte, size)
			_, _ = rand.Read(data)
			if err := os.WriteFile(blob, data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		sid := ensureMedia(b, ls, blob, "video")
		hs := httptest.NewServer(h)
		defer hs.Close()
		for _, c := range []struct {
			name, rng string
			bytes     int64
			status    int
		}{{"Full", "", size, http.StatusOK}, {"Range8MiB", "bytes=1048576-9437183", 8 << 20, http.StatusPartialContent}} {
			b.Run(c.name, func(b *testing.B) {
				b.SetBytes(c.bytes)
				for b.Loop() {
					req, _ := http.NewRequest("GET", fmt.Sprintf("%s/media_stream.php?id=%d", hs.URL, sid), nil)
					if c.rng != "" {
						req.Header.Set("Range", c.rng)
					}
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					n, err := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err != nil || resp.StatusCode != c.status || n != c.bytes {
						b.Fatalf("stream: %d, %d bytes, %v", resp.StatusCode, n, err)
					}
				}
			})
		}
	})
	b.Run("Concurrent50", func(b *testing.B) {
		hs := httptest.NewServer(h)
		defer hs.Close()
		// Every iteration is one round: 50 clients × 6 requests (list,
		// filtered list, text query, detail, deep JSON page, thumbnail).
		var all []time.Duration
		for b.Loop() {
			lr := ls.run(b, hs.URL, 50, 6)
			if len(lr.failed) > 0 {
				b.Fatalf("%d of %d requests failed, e.g. %v", len(lr.failed), len(lr.lat), lr.failed[0])
			}
			all = append(all, lr.lat...)
		}
		reportPercentiles(b, all)
	})
}

// ensureMedia returns the id of the media row for path, inserting it once.
func ensureMedia(b *testing.B, ls *libServer, path, typ string) int64 {
	b.Helper()
	var id int64
	err := ls.srv.db.QueryRow(`SELECT id FROM media WHERE path = ?`, path).Scan(&id)
	if err == nil {
		return id
	}
	res, err := ls.srv.db.Exec(`INSERT INTO media(path, type, source, hash, imported_at) VALUES (?, ?, 'import', ?, '2026-01-01T00:00:00Z')`,
		path, typ, "bench-"+filepath.Base(path))
	if err != nil {
		b.Fatal(err)
	}
	id, _ = res.LastInsertId()
	// As webui's background fold would: a marked media makes text queries
	// take the id-set path instead of reading the index in order.
	if _, err := ftsindex.FoldAll(context.Background(), ls.srv.db, 0); err != nil {
		b.Fatal(err)
	}
	return id
}
