package web

import (
	"context"
	"database/sql"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/rs/zerolog"

	"github.com/localsupervisor/supervisor/pkg/bulk"
	"github.com/localsupervisor/supervisor/pkg/collections"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
)

// runnerLauncher is the web's Launcher in the bulk browser tests: starting
// media-worker runs the one job Runner with the media_bulk handler in this
// process (what media-worker's Setup wires), fire-and-forget like a spawn.
type runnerLauncher struct {
	t    *testing.T
	q    *jobs.Queue
	svc  *bulk.Service
	logs string
	wg   sync.WaitGroup
	mu   sync.Mutex
	seen []string
}

func (l *runnerLauncher) Spawn(_ context.Context, worker string, _ []string) (string, error) {
	l.mu.Lock()
	l.seen = append(l.seen, worker)
	l.mu.Unlock()
	if worker != "media-worker" {
		return "started_unverified", nil
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		r, err := jobs.NewRunner(jobs.RunnerOptions{Queue: l.q, Worker: "media_worker", Types: []string{jobs.TypeMediaBulk},
			Handlers: map[string]jobs.Handler{jobs.TypeMediaBulk: l.svc.Handler()}, LogsDir: l.logs, Argv: []string{"media-worker"}})
		if err != nil {
			l.t.Error(err)
			return
		}
		if err := r.Start(); err != nil {
			return // another "process" holds the lock and takes the job
		}
		defer r.Close()
		if _, err := r.RunBatch(context.Background(), 10); err != nil {
			l.t.Error(err)
		}
	}()
	return "started_unverified", nil
}

type bulkEnv struct {
	url    string
	db     *sql.DB
	ids    []int64
	launch *runnerLauncher
}

// newBulkEnv serves n image rows (no files: the grid shows placeholders)
// with web spawning on and the in-process media-worker launcher.
func newBulkEnv(t *testing.T, n int) *bulkEnv {
	t.Helper()
	base := t.TempDir()
	cfg := testConfig(t, base)
	cfg.Workers.WebSpawnEnabled = true
	ctx := context.Background()
	w, r := openE2EDB(t, cfg)
	at := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	ms := make([]media.NewMedia, n)
	for i := range ms {
		ms[i] = media.NewMedia{Path: filepath.Join(cfg.Paths.ImagesSFW, fmt.Sprintf("img%04d.png", i)), Type: "image",
			Width: 24, Height: 16, Filesize: 100, Hash: fmt.Sprintf("%064x", i+1)}
	}
	ids, err := media.InsertMany(ctx, w, ms, at)
	if err != nil {
		t.Fatal(err)
	}
	clock := &steppingClock{t: at.Add(time.Hour)}
	q := jobs.NewQueue(jobs.QueueOptions{DB: w, Clock: clock, Config: jobs.DefaultConfig()})
	l := &runnerLauncher{t: t, q: q, logs: filepath.Join(base, "LOGS"),
		svc: &bulk.Service{DB: w, Queue: q, Roots: library.RootsFromPaths(cfg.Paths), Clock: clock}}
	t.Cleanup(l.wg.Wait)
	s, err := New(Options{Config: cfg, DB: w, ReadDB: r, Log: zerolog.Nop(), Clock: clock, Jobs: q, JobAdmin: JobAdminAdapter{Q: q},
		Launcher: l, Version: "e2e", PageSize: 24})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return &bulkEnv{url: ts.URL, db: w, ids: ids, launch: l}
}

// waitText polls the text of sel until ok accepts it (page scripts update
// it from their own polling).
func waitText(sel string, out *string, ok func(string) bool) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		for range 300 {
			var s string
			if err := chromedp.Evaluate(`(document.querySelector('`+sel+`')||{}).textContent||''`, &s).Do(ctx); err == nil && ok(s) {
				*out = s
				return nil
			}
			time.Sleep(100 * time.Millisecond)
		}
		return fmt.Errorf("%s never showed the expected text (last %q)", sel, *out)
	})
}

// TestBrowserBulkJob: in Chromium, select one card, then "select all
// 1,000 matching" (the query is the selection: no ids are sent), add a
// tag: the server queues a media_bulk job and starts the worker; the page
// shows the job's progress (n of 1000, paused mid-way by the test so the
// progress is seen) and its end; all 1,000 media carry the tag, each with
// one audit row, and the job center lists the job done.
func TestBrowserBulkJob(t *testing.T) {
	e := newBulkEnv(t, 1000)
	// The worker commits chunks of 200 and waits after the second until
	// the page has shown that progress.
	e.launch.svc.Chunk = 200
	gate, paused := make(chan struct{}), make(chan struct{})
	var once sync.Once
	e.launch.svc.Committed = func(st bulk.State) {
		if st.Done == 400 {
			once.Do(func() { close(paused) })
			<-gate
		}
	}
	released := false
	release := func() {
		if !released {
			released = true
			close(gate)
		}
	}
	t.Cleanup(release)

	b := newBrowserSteps(t, 120*time.Second, "bulkjob")
	run, shot := b.Run, b.Shot
	b.Login(e.url, "/mediadb.php", `#grid`)
	var allText, note, barCount string
	run("select all matching",
		chromedp.Click(`#grid .card[data-id]:nth-child(1) input.sel`, chromedp.ByQuery),
		chromedp.WaitVisible(`#bulkbar`, chromedp.ByQuery),
		chromedp.WaitVisible(`#bulk-all`, chromedp.ByQuery),
		chromedp.Text(`#bulk-all`, &allText, chromedp.ByQuery),
		chromedp.Click(`#bulk-all`, chromedp.ByQuery),
		chromedp.WaitVisible(`#bulk-all-note`, chromedp.ByQuery),
		chromedp.Text(`#bulk-all-note`, &note, chromedp.ByQuery),
		chromedp.Text(`#bulk-count`, &barCount, chromedp.ByQuery),
		chromedp.SendKeys(`#bulk-tag`, "bulkjob", chromedp.ByQuery),
		shot("00-all-selected"),
	)
	if !strings.Contains(allText, "1,000") || !strings.Contains(note, "1,000") || barCount != "1,000" {
		t.Fatalf("select-all button %q, note %q, bar count %q: want the count 1,000", allText, note, barCount)
	}
	var progress string
	run("start the job",
		chromedp.Click(`#bulk-tag-add`, chromedp.ByQuery),
		chromedp.WaitVisible(`#bulk-progress`, chromedp.ByQuery),
		chromedp.ActionFunc(func(ctx context.Context) error {
			select {
			case <-paused:
				return nil
			case <-time.After(60 * time.Second):
				return fmt.Errorf("the worker never reached 400 media")
			}
		}),
		waitText(`#bulk-progress`, &progress, func(s string) bool { return strings.Contains(s, "400 of 1000") }),
		shot("01-progress"),
	)
	if n := queryInt(t, e.db, `SELECT count(*) FROM media_tags`); n != 400 {
		t.Fatalf("%d tagged while paused after two chunks, want 400", n)
	}
	// The dashboard's job center shows the running job with its progress.
	var jobsHTML string
	run("job center while running", chromedp.Evaluate(`fetch('/dashboard/jobs', {credentials: 'same-origin'}).then(r => r.text())`, &jobsHTML,
		func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	if !strings.Contains(jobsHTML, jobs.TypeMediaBulk) || !strings.Contains(jobsHTML, "400 of 1000") {
		t.Fatalf("job center while the job runs:\n%s", jobsHTML)
	}
	release()
	var final string
	run("job done",
		waitText(`#bulk-progress`, &final, func(s string) bool { return strings.Contains(s, "Finished") }),
		shot("02-finished"),
	)
	if !strings.Contains(final, "1000 changed, 0 skipped") {
		t.Fatalf("final text %q", final)
	}
	if n := queryInt(t, e.db, `SELECT count(*) FROM media_tags mt JOIN tags g ON g.id = mt.tag_id WHERE g.name = 'bulkjob'`); n != 1000 {
		t.Fatalf("%d media tagged, want 1000", n)
	}
	if n := queryInt(t, e.db, `SELECT count(DISTINCT entity_id) FROM audit_log WHERE action = 'tag_add' AND entity_type = 'media'
		AND json_extract(details_json, '$.bulk') = 1`); n != 1000 {
		t.Fatalf("%d media with a bulk audit row, want 1000", n)
	}
	if n := queryInt(t, e.db, `SELECT count(*) FROM audit_log WHERE action = 'tag_add'`); n != 1000 {
		t.Fatalf("%d audit rows, want exactly 1000", n)
	}
	var center string
	run("job center",
		chromedp.Navigate(e.url+"/index.php"),
		chromedp.WaitVisible(`body`, chromedp.ByQuery),
		chromedp.Evaluate(`document.body.innerText`, &center),
		shot("03-job-center"),
	)
	if !strings.Contains(center, jobs.TypeMediaBulk) {
		t.Fatalf("the job center does not list the media_bulk job")
	}
}

// TestBrowserBulkRange: Shift+click selects the range between the last
// clicked box and this one (both directions, and unchecking a range), on
// the list grid; the bar then rates exactly that selection in the request,
// each media with its audit row.
func TestBrowserBulkRange(t *testing.T) {
	e := newBulkEnv(t, 30)
	b := newBrowserSteps(t, 90*time.Second, "bulkrange")
	run, shot := b.Run, b.Shot
	box := func(i int) string { return fmt.Sprintf(`#grid .card[data-id]:nth-child(%d) input.sel`, i) }
	shiftClick := func(sel string) chromedp.Action {
		return chromedp.Evaluate(`(function(){var c=document.querySelector('`+sel+`');c.dispatchEvent(new MouseEvent('click',{bubbles:true,cancelable:true,shiftKey:true}));return true})()`, nil)
	}
	picked := func() string {
		var s string
		run("selected ids", chromedp.Evaluate(`Array.from(document.querySelectorAll('#grid .card.selected')).map(c => c.dataset.id).join(',')`, &s))
		return s
	}
	cardIDs := func(from, to int) string {
		var s string
		run("card ids", chromedp.Evaluate(fmt.Sprintf(`Array.from(document.querySelectorAll('#grid .card[data-id]')).slice(%d, %d).map(c => c.dataset.id).join(',')`, from-1, to), &s))
		return s
	}
	b.Login(e.url, "/mediadb.php", `#grid`)
	run("range down",
		chromedp.Click(box(2), chromedp.ByQuery),
		shiftClick(box(7)),
		chromedp.WaitVisible(`#bulkbar`, chromedp.ByQuery),
		shot("00-range"),
	)
	if got, want := picked(), cardIDs(2, 7); got != want {
		t.Fatalf("after click 2, shift+click 7: selected %s, want %s", got, want)
	}
	// Shift+click on a selected box unchecks it and the range back to the
	// last clicked box (7 → 5).
	run("range up unchecks", shiftClick(box(5)))
	if got, want := picked(), cardIDs(2, 4); got != want {
		t.Fatalf("after shift+click 5: selected %s, want %s", got, want)
	}
	var count string
	run("rate the range",
		chromedp.Text(`#bulk-count`, &count, chromedp.ByQuery),
		chromedp.SetValue(`#bulk-rating`, "2", chromedp.ByQuery),
		chromedp.Click(`#bulk-rate`, chromedp.ByQuery),
		chromedp.WaitNotPresent(`#grid .card.selected`, chromedp.ByQuery), // the page reloads
		chromedp.WaitVisible(`#grid`, chromedp.ByQuery),
		shot("01-rated"),
	)
	if count != "3" {
		t.Fatalf("bar count %q, want 3", count)
	}
	want := cardIDs(2, 4)
	var got string
	if err := e.db.QueryRow(`SELECT group_concat(id) FROM (SELECT id FROM media WHERE rating = 2 ORDER BY id DESC)`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("rated %s, want the range %s", got, want)
	}
	if n := queryInt(t, e.db, `SELECT count(*) FROM audit_log WHERE action = 'rate' AND entity_type = 'media'`); n != 3 {
		t.Fatalf("%d rate audit rows, want 3", n)
	}

	// Keyboard: x on the focused card starts a range, Shift+x ends it.
	// The arrows walk every card of the page: the featured row first.
	var featured int
	run("featured", chromedp.Evaluate(`document.querySelectorAll('.featured .card[data-id]').length`, &featured))
	keys := []chromedp.Action{chromedp.Evaluate(`document.activeElement && document.activeElement.blur()`, nil)}
	for range featured + 2 { // the grid's card 2
		keys = append(keys, chromedp.KeyEvent(kb.ArrowRight))
	}
	run("keyboard range", append(keys,
		chromedp.KeyEvent("x"),
		chromedp.KeyEvent(kb.ArrowRight),
		chromedp.KeyEvent(kb.ArrowRight),
		chromedp.KeyEvent("X"), // card 4
		shot("02-keyboard-range"))...,
	)
	if got, want := picked(), cardIDs(2, 4); got != want {
		t.Fatalf("after x on card 2 and Shift+x on card 4: selected %s, want %s", got, want)
	}

	// The same ranges on an album's grid.
	c, err := collections.Create(context.Background(), e.db, "Range album", "", "", collections.Actor{At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := collections.Add(context.Background(), e.db, c.ID, e.ids[:10], collections.Actor{At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	run("album range",
		chromedp.Navigate(fmt.Sprintf("%s/collection?id=%d", e.url, c.ID)),
		chromedp.WaitVisible(`#grid .card[data-id]`, chromedp.ByQuery),
		chromedp.Click(box(3), chromedp.ByQuery),
		shiftClick(box(8)),
		chromedp.WaitVisible(`#bulkbar`, chromedp.ByQuery),
		shot("03-album-range"),
	)
	if got, want := picked(), cardIDs(3, 8); got != want || strings.Count(got, ",") != 5 {
		t.Fatalf("album: click 3, shift+click 8 selected %s, want %s", got, want)
	}
}
