package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// preJob is a row that exists before the enqueue.
type preJob struct {
	typ    string
	media  int64 // 0 = NULL
	status string
	key    string // "" = NULL
}

// TestEnqueueTxBatch runs mixed request lists through the set-wise enqueue
// and checks every result and the rows written. want holds one entry per
// request: "new" (inserted), "dup=new#N" (deduped to the Nth inserted job
// of this call, 0-based), "dup=pre#N" (deduped to pre-existing job N) or a
// queue_full_* code.
func TestEnqueueTxBatch(t *testing.T) {
	media := func(id int64) *int64 { return &id }
	prio := 7
	tests := []struct {
		name string
		cfg  func(*Config)
		pre  []preJob
		reqs []EnqueueRequest
		want []string
	}{
		{
			name: "same key twice in one call",
			reqs: []EnqueueRequest{{Type: "t_a", DedupeKey: "k1"}, {Type: "t_a", DedupeKey: "k1"}, {Type: "t_b", DedupeKey: "k2"}, {Type: "t_b"}, {Type: "t_c", DedupeKey: "k1"}},
			want: []string{"new", "dup=new#0", "new", "new", "dup=new#0"},
		},
		{
			name: "keys live, finished and unknown",
			pre: []preJob{{"t_a", 0, StatusQueued, "q"}, {"t_a", 0, StatusRunning, "r"}, {"t_a", 0, StatusDone, "d"},
				{"t_a", 0, StatusError, "e"}, {"t_a", 0, StatusCancelled, "c"}},
			reqs: []EnqueueRequest{{Type: "t_a", DedupeKey: "q"}, {Type: "t_b", DedupeKey: "r"}, {Type: "t_a", DedupeKey: "d"},
				{Type: "t_a", DedupeKey: "d"}, {Type: "t_a", DedupeKey: "e"}, {Type: "t_a", DedupeKey: "c"}, {Type: "t_a", DedupeKey: "q"}},
			want: []string{"dup=pre#0", "dup=pre#1", "new", "dup=new#0", "new", "new", "dup=pre#0"},
		},
		{
			name: "unique per media default key",
			pre:  []preJob{{"t_media", 1, StatusQueued, "t_media:media:1"}, {"t_media", 2, StatusDone, "t_media:media:2"}},
			reqs: []EnqueueRequest{{Type: "t_media", MediaID: media(1)}, {Type: "t_media", MediaID: media(2)}, {Type: "t_media", MediaID: media(2)},
				{Type: "t_media"}, {Type: "t_media"}, {Type: "t_media", MediaID: media(3), DedupeKey: "own"}, {Type: "t_media", MediaID: media(3)}},
			want: []string{"dup=pre#0", "new", "dup=new#0", "new", "new", "new", "new"},
		},
		{
			name: "total cap reached mid-batch, running jobs not counted, dedupe still answers",
			cfg:  func(c *Config) { c.QueueMaxTotal = 3 },
			pre:  []preJob{{"t_a", 0, StatusQueued, "live"}, {"t_b", 0, StatusRunning, ""}},
			reqs: []EnqueueRequest{{Type: "t_a", DedupeKey: "x"}, {Type: "t_b"}, {Type: "t_c"}, {Type: "t_a", DedupeKey: "x"},
				{Type: "t_a", DedupeKey: "live"}, {Type: "t_a", DedupeKey: "y"}, {Type: "t_a", DedupeKey: "y"}},
			want: []string{"new", "new", CodeQueueFullTotal, "dup=new#0", "dup=pre#0", CodeQueueFullTotal, CodeQueueFullTotal},
		},
		{
			name: "type cap reached mid-batch",
			cfg:  func(c *Config) { c.QueueMaxPerType = map[string]int{"t_a": 2} },
			pre:  []preJob{{"t_a", 0, StatusQueued, ""}, {"t_a", 0, StatusDone, ""}},
			reqs: []EnqueueRequest{{Type: "t_a"}, {Type: "t_a"}, {Type: "t_b"}, {Type: "t_a", DedupeKey: "k"}, {Type: "t_b", DedupeKey: "k"}},
			want: []string{"new", CodeQueueFullType, "new", CodeQueueFullType, "new"},
		},
		{
			name: "media cap counted per type and media",
			cfg:  func(c *Config) { c.QueueMaxPerMedia = 2 },
			pre: []preJob{{"t_a", 1, StatusQueued, ""}, {"t_a", 1, StatusDone, ""}, {"t_a", 1, StatusRunning, ""},
				{"t_b", 1, StatusQueued, ""}, {"t_b", 1, StatusQueued, ""}},
			reqs: []EnqueueRequest{{Type: "t_a", MediaID: media(1)}, {Type: "t_a", MediaID: media(1)}, {Type: "t_b", MediaID: media(1)},
				{Type: "t_a", MediaID: media(2)}, {Type: "t_a", MediaID: media(2)}, {Type: "t_a", MediaID: media(2)},
				{Type: "t_a"}, {Type: "t_a"}, {Type: "t_a"}, {Type: "t_c", MediaID: media(1)}},
			want: []string{"new", CodeQueueFullMedia, CodeQueueFullMedia, "new", "new", CodeQueueFullMedia, "new", "new", "new", "new"},
		},
		{
			name: "refused key is not deduped against, a later media takes it",
			cfg:  func(c *Config) { c.QueueMaxPerMedia = 1 },
			pre:  []preJob{{"t_a", 1, StatusQueued, ""}},
			reqs: []EnqueueRequest{{Type: "t_a", MediaID: media(1), DedupeKey: "x"}, {Type: "t_a", MediaID: media(2), DedupeKey: "x"},
				{Type: "t_a", MediaID: media(1), DedupeKey: "x"}, {Type: "t_a", MediaID: media(2), DedupeKey: "z"}},
			want: []string{CodeQueueFullMedia, "new", "dup=new#0", CodeQueueFullMedia},
		},
		{
			name: "total is checked before type before media",
			cfg: func(c *Config) {
				c.QueueMaxTotal, c.QueueMaxPerType, c.QueueMaxPerMedia = 2, map[string]int{"t_a": 1}, 1
			},
			reqs: []EnqueueRequest{{Type: "t_a", MediaID: media(1)}, {Type: "t_a", MediaID: media(1)}, {Type: "t_b", MediaID: media(1)},
				{Type: "t_b", MediaID: media(1)}, {Type: "t_c"}},
			want: []string{"new", CodeQueueFullType, "new", CodeQueueFullTotal, CodeQueueFullTotal},
		},
		{
			name: "caps off",
			cfg: func(c *Config) {
				c.QueueMaxTotal, c.QueueMaxPerTypeDefault, c.QueueMaxPerMedia = 0, 0, 0
			},
			pre:  []preJob{{"t_a", 1, StatusQueued, ""}, {"t_a", 1, StatusQueued, ""}},
			reqs: []EnqueueRequest{{Type: "t_a", MediaID: media(1)}, {Type: "t_a", MediaID: media(1)}},
			want: []string{"new", "new"},
		},
		{
			name: "all fields written",
			reqs: []EnqueueRequest{{Type: "t_b", MediaID: media(4), PromptID: nil, Priority: &prio, NotBefore: time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC),
				Payload: json.RawMessage(`{"x":1}`), ForgeRequest: map[string]string{"f": "g"}}},
			want: []string{"new"},
		},
		{
			name: "empty call",
			want: []string{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := newTestQueue(t, newClock(), tc.cfg)
			insertMedia(t, q.DB(), 5)
			runBatchCase(t, q, tc.pre, tc.reqs, tc.want)
		})
	}
}

// A call larger than one IN list (db.MaxParams keys and media) and than
// one multi-row INSERT: every chunk boundary is crossed, and the ids still
// map to their requests.
func TestEnqueueTxBatchChunks(t *testing.T) {
	const nMedia = 1100
	q := newTestQueue(t, newClock(), func(c *Config) {
		c.QueueMaxTotal, c.QueueMaxPerTypeDefault, c.QueueMaxPerMedia = 1<<20, 1<<20, 1
	})
	if _, err := q.DB().Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < ?)
		INSERT INTO media (id, path, type, source, imported_at) SELECT i, '/lib/' || i, 'image', 'test', '2026-01-01T00:00:00Z' FROM n`, nMedia); err != nil {
		t.Fatal(err)
	}
	// Media 1000+ already have a live t_media job (found by the second
	// dedupe chunk); media 1050+ have a queued t_a job (their t_a request
	// is refused by the media cap, counted in the second media chunk).
	var pre []preJob
	for m := int64(1000); m <= nMedia; m++ {
		pre = append(pre, preJob{"t_media", m, StatusQueued, fmt.Sprintf("t_media:media:%d", m)})
		if m >= 1050 {
			pre = append(pre, preJob{"t_a", m, StatusQueued, ""})
		}
	}
	var reqs []EnqueueRequest
	var want []string
	for m := int64(1); m <= nMedia; m++ {
		reqs = append(reqs, EnqueueRequest{Type: "t_media", MediaID: &m}, EnqueueRequest{Type: "t_a", MediaID: &m})
		switch {
		case m < 1000:
			want = append(want, "new", "new")
		case m < 1050:
			want = append(want, fmt.Sprintf("dup=pre#%d", m-1000), "new")
		default:
			want = append(want, fmt.Sprintf("dup=pre#%d", 50+2*(m-1050)), CodeQueueFullMedia)
		}
	}
	// The first request again at the end: deduped against a row of the
	// first INSERT chunk.
	reqs = append(reqs, reqs[0])
	want = append(want, "dup=new#0")
	runBatchCase(t, q, pre, reqs, want)
}

// runBatchCase seeds pre, runs reqs through EnqueueTx in one transaction
// and checks the results against want and the jobs table against the
// requests.
func runBatchCase(t *testing.T, q *Queue, pre []preJob, reqs []EnqueueRequest, want []string) {
	t.Helper()
	ctx := context.Background()
	d := q.DB()
	preIDs := make([]int64, len(pre))
	for i, p := range pre {
		rs, err := d.Exec(`INSERT INTO jobs (media_id, type, status, dedupe_key, created_at) VALUES (?, ?, ?, ?, '2026-01-01T00:00:00Z')`,
			sql.NullInt64{Int64: p.media, Valid: p.media != 0}, p.typ, p.status, sql.NullString{String: p.key, Valid: p.key != ""})
		if err != nil {
			t.Fatal(err)
		}
		preIDs[i], _ = rs.LastInsertId()
	}
	// Unique payloads tie each row to its request.
	for i := range reqs {
		if reqs[i].Payload == nil {
			reqs[i].Payload = map[string]int{"req": i}
		}
	}
	var res []EnqueueResult
	err := db.InTx(ctx, d, func(tx *sql.Tx) error {
		var err error
		res, err = q.EnqueueTx(ctx, tx, reqs)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(want) {
		t.Fatalf("%d results for %d requests", len(res), len(want))
	}
	var newIDs []int64
	for i, r := range res {
		if want[i] == "new" {
			newIDs = append(newIDs, r.JobID)
		}
	}
	for i, r := range res {
		w := want[i]
		var n int
		switch {
		case w == "new":
			if r.JobID == 0 || r.Deduped || r.Err != nil || r.ReasonCode != "" {
				t.Errorf("req %d: want insert, got %+v", i, r)
			}
		case strings.HasPrefix(w, "dup="):
			ids := newIDs
			if _, err := fmt.Sscanf(w, "dup=new#%d", &n); err != nil {
				ids = preIDs
				if _, err := fmt.Sscanf(w, "dup=pre#%d", &n); err != nil {
					t.Fatalf("bad want %q", w)
				}
			}
			if !r.Deduped || r.JobID != ids[n] || r.Err != nil || r.ReasonCode != "" {
				t.Errorf("req %d: want %s (job %d), got %+v", i, w, ids[n], r)
			}
		default:
			if r.ReasonCode != w || !IsQueueFull(r.Err) || r.JobID != 0 || r.Deduped {
				t.Errorf("req %d: want %s, got %+v", i, w, r)
			}
		}
	}
	// Ids grow in request order, and each new row is what its request asked.
	for k := 1; k < len(newIDs); k++ {
		if newIDs[k] <= newIDs[k-1] {
			t.Fatalf("new ids not in request order: %v", newIDs)
		}
	}
	var total int
	if err := d.QueryRow(`SELECT count(*) FROM jobs`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if total != len(pre)+len(newIDs) {
		t.Fatalf("jobs table has %d rows, want %d pre + %d new", total, len(pre), len(newIDs))
	}
	for i, r := range res {
		if want[i] != "new" {
			continue
		}
		checkEnqueuedRow(t, q, r.JobID, reqs[i])
	}
}

// checkEnqueuedRow compares job id's row with what req and the queue's
// registry and clock say it must hold.
func checkEnqueuedRow(t *testing.T, q *Queue, id int64, req EnqueueRequest) {
	t.Helper()
	var got struct {
		media, prompt                       sql.NullInt64
		typ, status                         string
		prio, attempts, maxAttempts         int
		key, notBefore, payload, forge, upd sql.NullString
		created                             string
	}
	err := q.DB().QueryRow(`SELECT media_id, prompt_id, type, status, priority, attempts, max_attempts, dedupe_key, not_before,
		payload_json, forge_request_json, updated_at, created_at FROM jobs WHERE id = ?`, id).Scan(&got.media, &got.prompt, &got.typ, &got.status,
		&got.prio, &got.attempts, &got.maxAttempts, &got.key, &got.notBefore, &got.payload, &got.forge, &got.upd, &got.created)
	if err != nil {
		t.Fatalf("job %d: %v", id, err)
	}
	p, err := q.prepareEnqueue([]EnqueueRequest{req})
	if err != nil {
		t.Fatal(err)
	}
	now := svtime.NowString(q.clock)
	wantMedia := sql.NullInt64{}
	if req.MediaID != nil {
		wantMedia = sql.NullInt64{Int64: *req.MediaID, Valid: true}
	}
	if got.media != wantMedia || got.prompt.Valid || got.typ != req.Type || got.status != StatusQueued || got.prio != p[0].prio ||
		got.attempts != 0 || got.maxAttempts != p[0].spec.MaxAttempts || got.key != p[0].key || got.notBefore != p[0].notBefore ||
		got.payload != p[0].payload || got.forge != p[0].forge || got.upd.String != now || got.created != now {
		t.Errorf("job %d row %+v does not match request %+v (now %s)", id, got, req, now)
	}
}

// The set-wise reads must seek their index per key/media, not walk the
// queue: on a queue of queued jobs and a long IN list the planner chose
// idx_jobs_claim for both before the hints.
func TestEnqueueBatchPlans(t *testing.T) {
	d, _ := openDB(t)
	if _, err := d.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 5000)
		INSERT INTO media (id, path, type, source, imported_at) SELECT i, '/lib/' || i, 'image', 'test', '2026-01-01T00:00:00Z' FROM n`); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 5000), t(type) AS (VALUES ('a'), ('b'))
		INSERT INTO jobs (media_id, type, status, dedupe_key, created_at) SELECT i, type, 'queued', type || ':media:' || i, '2026-01-01T00:00:00Z' FROM n, t`); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		query, index string
	}{
		{liveDedupeSQL, "idx_jobs_dedupe_live"},
		{mediaCountSQL, "idx_jobs_media"},
	}
	for _, tc := range tests {
		for _, n := range []int{1, 512} {
			args := make([]any, n)
			for i := range args {
				args[i] = i
			}
			if p := queryPlan(t, d, inSQL(tc.query, n, ""), args...); !strings.Contains(p, "SEARCH jobs USING INDEX "+tc.index+" (") {
				t.Errorf("%d keys: plan %q does not seek %s", n, p, tc.index)
			}
		}
	}
}

// loadCounts counts the total from the batch types' counts and the other
// types when it can; the counts must equal separate counts each bounded by
// its cap: the total by the total cap, a batch type by its type cap (0
// when its cap is off).
func TestLoadCounts(t *testing.T) {
	// Queued: t_a 5, t_b 3, t_c 4 and a legacy type 2; running and done
	// rows are not counted.
	q := newTestQueue(t, newClock(), nil)
	for typ, n := range map[string]int{"t_a": 5, "t_b": 3, "t_c": 4, "zz_legacy": 2} {
		for i := 0; i < n; i++ {
			if _, err := q.DB().Exec(`INSERT INTO jobs (type, status, created_at) VALUES (?, 'queued', '2026-01-01T00:00:00Z')`, typ); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := q.DB().Exec(`INSERT INTO jobs (type, status, created_at) VALUES ('t_a', 'running', 'x'), ('t_c', 'done', 'x'), ('t_b', 'error', 'x')`); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		total     int
		typeCaps  map[string]int
		batch     []string
		wantTotal int
		wantTypes map[string]int
	}{
		{"caps above the queue", 100, map[string]int{"t_a": 100, "t_c": 100}, []string{"t_a", "t_c"}, 14, map[string]int{"t_a": 5, "t_c": 4}},
		{"total reached in the batch type", 10, map[string]int{"t_c": 100}, []string{"t_c"}, 10, map[string]int{"t_c": 4}},
		{"total reached before the batch type", 6, map[string]int{"t_c": 2}, []string{"t_c"}, 6, map[string]int{"t_c": 2}},
		{"total reached exactly at a type's end", 8, map[string]int{"t_c": 3}, []string{"t_c", "t_a"}, 8, map[string]int{"t_a": 5, "t_c": 3}},
		{"type cap below its count", 100, map[string]int{"t_a": 2}, []string{"t_a"}, 14, map[string]int{"t_a": 2}},
		{"type cap above what the total lacks", 3, map[string]int{"t_a": 4}, []string{"t_a"}, 3, map[string]int{"t_a": 4}},
		{"total off", 0, map[string]int{"t_a": 4, "t_b": 4}, []string{"t_a", "t_b"}, 0, map[string]int{"t_a": 4, "t_b": 3}},
		{"type cap off", 100, map[string]int{"t_a": 0}, []string{"t_a"}, 14, map[string]int{"t_a": 0}},
		{"batch type not queued", 100, map[string]int{"t_media": 100}, []string{"t_media"}, 14, map[string]int{"t_media": 0}},
		{"empty batch", 5, nil, nil, 5, map[string]int{}},
		{"batch types alone reach the total", 4, map[string]int{"t_a": 100}, []string{"t_a"}, 4, map[string]int{"t_a": 5}},
		{"other types beyond what the total lacks, on both sides", 7, map[string]int{"t_b": 100}, []string{"t_b"}, 7, map[string]int{"t_b": 3}},
		{"other types between batch types", 100, map[string]int{"t_a": 100, "zz_legacy": 100}, []string{"zz_legacy", "t_a"}, 14, map[string]int{"t_a": 5, "zz_legacy": 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := q.Config()
			cfg.QueueMaxTotal, cfg.QueueMaxPerTypeDefault, cfg.QueueMaxPerType = tc.total, 1000, tc.typeCaps
			var reqs []EnqueueRequest
			for _, typ := range tc.batch {
				reqs = append(reqs, EnqueueRequest{Type: typ}, EnqueueRequest{Type: typ})
			}
			c, err := loadCounts(context.Background(), q.DB(), cfg, reqs)
			if err != nil {
				t.Fatal(err)
			}
			if c.total != tc.wantTotal || fmt.Sprint(c.perType) != fmt.Sprint(tc.wantTypes) {
				t.Fatalf("total %d, types %v; want %d, %v", c.total, c.perType, tc.wantTotal, tc.wantTypes)
			}
		})
	}
}
