package web

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/localsupervisor/supervisor/pkg/catalog/catalogtest"
	"github.com/localsupervisor/supervisor/pkg/catalog/ftsindex"
	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/thumb"
)

// libServer is a webui over a generated library (catalogtest.Generate)
// with real image files for the first thumbIDs and a real thumbnail cache.
type libServer struct {
	srv      *Server
	cfg      *config.Config
	n        int
	thumbIDs []int64 // SFW images whose files exist
}

// newLibServer opens (and on first use generates) a library of n media
// under base. The database is reused when it already exists, so a big
// benchmark library is generated once per machine, not per run.
func newLibServer(tb testing.TB, base string, n, files int) *libServer {
	tb.Helper()
	ctx := context.Background()
	cfg := testConfig(tb, base)
	// The marker is written after a complete generation: an interrupted
	// run leaves no marker and the next one starts over.
	marker := cfg.DB.Path + ".generated"
	_, statErr := os.Stat(marker)
	// SV_BENCH_DB names a generated million-media library to reuse (e.g.
	// one the catalog benchmark made; its files are not on disk, so only
	// the page cases apply); a path that does not exist is generated.
	if p := os.Getenv("SV_BENCH_DB"); p != "" && n >= 1_000_000 {
		cfg.DB.Path, marker = p, p+".generated"
		_, statErr = os.Stat(p)
	}
	if statErr != nil {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			_ = os.Remove(cfg.DB.Path + suffix)
		}
	}
	w, err := db.Open(ctx, db.Options{Path: cfg.DB.Path, Create: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { w.Close() })
	if _, err := db.Migrate(ctx, w, db.MigrateOptions{}); err != nil {
		tb.Fatal(err)
	}
	// A migration may mark media for the text index (schema 0305 marks
	// renamed media); webui's background fold would clear them.
	foldStart := time.Now()
	if n, err := ftsindex.FoldAll(ctx, w, 100_000); err != nil {
		tb.Fatal(err)
	} else if n > 0 {
		tb.Logf("folded %d marked media in %v", n, time.Since(foldStart).Round(time.Millisecond))
	}
	if statErr != nil {
		start := time.Now()
		if err := catalogtest.Generate(ctx, w, n, cfg.Paths.ImagesSFW); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(marker, nil, 0o644); err != nil {
			tb.Fatal(err)
		}
		tb.Logf("generated %d media in %v", n, time.Since(start).Round(time.Millisecond))
	}
	r, err := db.OpenReadOnly(ctx, db.Options{Path: cfg.DB.Path})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.Close() })
	gen, err := thumb.New(thumb.Options{CacheDir: cfg.Resolve(cfg.Paths.ThumbCache)})
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(Options{Config: cfg, DB: w, ReadDB: r, Log: zerolog.Nop(), Thumbs: ThumbAdapter{G: gen}})
	if err != nil {
		tb.Fatal(err)
	}
	ls := &libServer{srv: s, cfg: cfg, n: n}
	// Generated ids: every 10th is a video, every 7th NSFW (hidden without
	// opt-in); the rest are SFW images at <root>/<i%256>/img<i>.png.
	var img bytes.Buffer
	writeTestPNG(tb, &img, 256, 192)
	for i := int64(1); len(ls.thumbIDs) < files && i <= int64(n); i++ {
		if i%10 == 0 || i%7 == 0 {
			continue
		}
		p := filepath.Join(cfg.Paths.ImagesSFW, strconv.FormatInt(i%256, 10), "img"+strconv.FormatInt(i, 10)+".png")
		if _, err := os.Stat(p); err != nil {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				tb.Fatal(err)
			}
			if err := os.WriteFile(p, img.Bytes(), 0o644); err != nil {
				tb.Fatal(err)
			}
		}
		ls.thumbIDs = append(ls.thumbIDs, i)
	}
	return ls
}

func writeTestPNG(tb testing.TB, w io.Writer, width, height int) {
	img := image.NewNRGBA(image.Rect(0, 0, width, height))
	for y := range height {
		for x := range width {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x), uint8(y), uint8(x ^ y), 255})
		}
	}
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(w, img); err != nil {
		tb.Fatal(err)
	}
}

// loadClient is one browser: own cookie jar (own session) on a real server.
func loadClient(tb testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// loadTarget is the i-th request of a client: list pages (plain, filtered,
// text query, next page), a detail page, a thumbnail.
func (ls *libServer) loadTarget(i, client int) string {
	id := ls.thumbIDs[(i*31+client*7)%len(ls.thumbIDs)]
	switch i % 6 {
	case 0:
		return "/mediadb.php"
	case 1:
		return "/mediadb.php?type=image&min_rating=1&sort=rating"
	case 2:
		return "/mediadb.php?q=dragon"
	case 3:
		return "/media_view.php?id=" + strconv.FormatInt(id, 10)
	case 4:
		return "/api/media?after=" + strconv.Itoa(ls.n/2) + "_" + strconv.Itoa(ls.n/2)
	}
	return "/thumb.php?id=" + strconv.FormatInt(id, 10) + "&size=320"
}

// loadResult collects latencies and failures of concurrent clients.
type loadResult struct {
	mu     sync.Mutex
	lat    []time.Duration
	failed []string
}

func (lr *loadResult) add(d time.Duration, target string, status int, err error) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	lr.lat = append(lr.lat, d)
	if err != nil || status < 200 || status >= 400 {
		lr.failed = append(lr.failed, fmt.Sprintf("%s: %d %v", target, status, err))
	}
}

func percentile(lat []time.Duration, p int) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

// run drives clients goroutines, each doing requests requests.
func (ls *libServer) run(tb testing.TB, url string, clients, requests int) *loadResult {
	lr := &loadResult{}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := loadClient(tb)
			for i := range requests {
				target := ls.loadTarget(i, c)
				start := time.Now()
				resp, err := hc.Get(url + target)
				status := 0
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
				}
				lr.add(time.Since(start), target, status, err)
			}
		}()
	}
	wg.Wait()
	return lr
}

// TestConcurrentClients: 50 browsers with their own sessions hit list,
// detail, JSON paging and thumbnails of a small generated library at once;
// every answer must be 2xx/3xx (no busy errors, no placeholders for
// existing files, no races in the thumbnail cache).
func TestConcurrentClients(t *testing.T) {
	ls := newLibServer(t, t.TempDir(), 600, 20)
	hs := httptest.NewServer(ls.srv.Handler())
	defer hs.Close()
	lr := ls.run(t, hs.URL, 50, 6)
	if len(lr.lat) != 50*6 {
		t.Fatalf("%d requests done, want %d", len(lr.lat), 50*6)
	}
	if len(lr.failed) > 0 {
		t.Fatalf("%d of %d requests failed, e.g. %v", len(lr.failed), len(lr.lat), lr.failed[:min(5, len(lr.failed))])
	}
	var sessions int
	// Their sessions are anonymous (signed cookies): page views store none.
	if err := ls.srv.db.QueryRow(`SELECT count(*) FROM web_sessions`).Scan(&sessions); err != nil || sessions != 0 {
		t.Fatalf("page views of 50 clients stored %d sessions (%v)", sessions, err)
	}
	t.Logf("p50 %v p95 %v over %d requests", percentile(lr.lat, 50), percentile(lr.lat, 95), len(lr.lat))
}
