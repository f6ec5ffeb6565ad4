package scan

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// HandlerOptions configures the scan worker's job handlers.
type HandlerOptions struct {
	// Queue enqueues rescan_media jobs (backfill) and media follow-up jobs.
	Queue *jobs.Queue
	// Walk configures folder walks (skip dirs, symlinks).
	Walk WalkOptions
	// BackfillRunCap is how many new rescan_media jobs one backfill run may
	// create before it checkpoints and re-queues itself (default 200, the
	// original max_enqueue_per_run).
	BackfillRunCap int
	// BackfillPause is the pause before a capped backfill job runs again
	// (default 5 s): the rescans it queued get their turn first.
	BackfillPause time.Duration
}

// Handlers returns the scan group's job handlers (scan_path, rescan_media,
// scan_backfill_tags). Each writes its result JSON (via the Runner) and an
// audit row, and honours ctx cancellation: a cancelled job returns the ctx
// error so the Runner records it as cancelled.
func (s *Setup) Handlers(o HandlerOptions) map[string]jobs.Handler {
	if o.BackfillRunCap <= 0 {
		o.BackfillRunCap = 200
	}
	if o.BackfillPause <= 0 {
		o.BackfillPause = 5 * time.Second
	}
	if o.Queue != nil && s.Importer.Enqueue == nil {
		s.Importer.Enqueue = QueueEnqueuer(o.Queue)
	}
	return map[string]jobs.Handler{
		jobs.TypeScanPath:         func(ctx context.Context, j *jobs.Job) (any, error) { return s.scanPathJob(ctx, j, o) },
		jobs.TypeRescanMedia:      func(ctx context.Context, j *jobs.Job) (any, error) { return s.rescanJob(ctx, j) },
		jobs.TypeScanBackfillTags: func(ctx context.Context, j *jobs.Job) (any, error) { return s.backfillJob(ctx, j, o) },
	}
}

// PathClaimFilter is the claim filter for scan-worker --path=prefix
// (RunnerOptions.ClaimFilter, wired through workercmd.Spec.ClaimFilter):
// scan_path jobs are claimed only when their payload path is empty, the
// prefix itself or below it (at a separator boundary: /lib/in does not
// match /lib/inbox); other job types are not restricted. Foreign jobs are
// never claimed, so they stay queued with their attempts untouched for a
// worker whose prefix covers them (the handler has no foreign-job path).
// Payload paths are stored cleaned and absolute (NewScanPathPayload), so a
// byte-wise comparison in SQL is exact. An empty prefix returns nil (no
// filter).
func PathClaimFilter(prefix string) jobs.ClaimFilterFunc {
	if prefix == "" {
		return nil
	}
	f := jobs.ClaimFilter{Folder: jobs.FolderFilter{Field: "path", Sep: string(filepath.Separator), Under: filepath.Clean(prefix)}}
	return func(typ string) jobs.ClaimFilter {
		if typ != jobs.TypeScanPath {
			return jobs.ClaimFilter{}
		}
		return f
	}
}

// audit writes one audit row; mediaID 0 means a path/global job. Audit
// failures never change a job's outcome.
func (s *Setup) audit(ctx context.Context, action string, mediaID int64, details map[string]any) {
	im := s.Importer
	et := "job"
	if mediaID > 0 {
		et = "media"
	}
	_ = media.Audit(context.WithoutCancel(ctx), im.DB, media.AuditEntry{Action: action, EntityType: et, EntityID: mediaID, Details: details, At: im.now()})
}

// errorDetails renders err for audit rows and job error messages, keeping
// reason_code and structured fields (missing_keys, config_path).
func errorDetails(err error) map[string]any {
	d := map[string]any{"reason_code": reason.CodeOr(err, "error"), "error": reason.Truncate(err.Error(), 500)}
	var re *reason.Error
	if errors.As(err, &re) {
		for k, v := range re.Fields {
			d[k] = v
		}
	}
	return d
}

// withFields appends an error's structured fields to its message: the jobs
// row only keeps last_error_code and error_message, and an operator must see
// which keys are missing where.
func withFields(err error) error {
	var re *reason.Error
	if !errors.As(err, &re) || len(re.Fields) == 0 {
		return err
	}
	keys := make([]string, 0, len(re.Fields))
	for k := range re.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		b, _ := json.Marshal(re.Fields[k])
		parts = append(parts, k+"="+string(b))
	}
	return &reason.Error{Code: re.Code, Kind: re.Kind, Msg: re.Msg + " (" + strings.Join(parts, " ") + ")", Fields: re.Fields, Err: re.Err}
}

func (s *Setup) scanPathJob(ctx context.Context, j *jobs.Job, o HandlerOptions) (any, error) {
	var p ScanPathPayload
	if err := j.Decode(&p); err != nil {
		return nil, err
	}
	if s.ScannerErr != nil {
		// Config errors are logged with every field so the operator sees
		// the missing keys and the file to edit without reading code.
		if s.Importer.Ingest != nil {
			f := errorDetails(s.ScannerErr)
			f["operation"] = "scan_path"
			f["job_id"] = j.ID
			f["path"] = p.Path
			s.Importer.Ingest("scanner_ingest", f)
		}
	}
	d := map[string]any{"job_id": j.ID, "path": p.Path, "source": p.Source}
	res, err := s.handleScanPath(ctx, j, o)
	if err != nil {
		if ctx.Err() != nil {
			d["cancelled"] = true
		}
		for k, v := range errorDetails(err) {
			d[k] = v
		}
		if r, ok := res.(Summary); ok {
			d["result"] = r
		}
		s.audit(ctx, "scan_job_failed", 0, d)
		return nil, withFields(err)
	}
	d["result"] = res.(ScanPathResult).Result
	s.audit(ctx, "scan_job_done", 0, d)
	return res, nil
}

// Batch sizes of a scan_path job that crashed workers before.
const (
	// RecoveredBatchSize is the batch size after the first crash: with
	// 64 new media per commit a run that is killed soon after it starts
	// still commits work (the default 1024 may never be reached), and the
	// job keeps its attempts (scan_path is jobs.TypeSpec.Resumable).
	RecoveredBatchSize = 64
	// MinRecoveredBatchSize is where halving per further crash stops.
	MinRecoveredBatchSize = 8
)

// recoveredBatchSize is the batch size of a run of a job stuck recovery
// took back recoveries times: the configured size for a job that never
// crashed a worker, else RecoveredBatchSize halved per further crash down
// to MinRecoveredBatchSize, never above the configured size.
func recoveredBatchSize(configured, recoveries int) int {
	if recoveries <= 0 {
		return configured
	}
	n := RecoveredBatchSize >> min(recoveries-1, 8)
	return min(configured, max(n, MinRecoveredBatchSize))
}

// handleScanPath runs one scan_path job. A scanner that is enabled but
// misconfigured fails the job at once (permanent, with missing_keys and
// config_path), before any file is touched. A payload nsfw_threshold
// overrides the configured one for this job, as in the original. Every
// batch commit adds its new media to the job's progress_bits in the same
// transaction, and a job that crashed workers before commits in smaller
// batches, so repeated kills still make progress that recovery sees.
func (s *Setup) handleScanPath(ctx context.Context, j *jobs.Job, o HandlerOptions) (any, error) {
	var p ScanPathPayload
	if err := j.Decode(&p); err != nil {
		return nil, reason.Permanent("invalid_payload", err)
	}
	if p.Path == "" {
		return nil, reason.New(CodeScanPathMissing, "scan job without path")
	}
	if s.ScannerErr != nil {
		return nil, s.ScannerErr
	}
	im := *s.Importer
	if p.Mode != "" {
		if !ValidMode(p.Mode) {
			return nil, reason.Newf(CodeInvalidMode, "unknown import mode %q", p.Mode)
		}
		im.Mode = p.Mode
	}
	if p.NSFWThreshold != nil && s.Importer.Tagger != nil {
		sc := s.Scanner
		sc.NSFWThreshold = *p.NSFWThreshold
		im.Tagger = s.tagger(sc)
	}
	im.BatchSize = recoveredBatchSize(im.batchSize(), j.Recoveries)
	advance := func(ctx context.Context, tx *sql.Tx, n int) error {
		// A lost lease does not undo the import (content-addressed, and
		// the next run sees the files as handled); the Runner stops us.
		if err := j.AdvanceTx(ctx, tx, n); err != nil && !errors.Is(err, jobs.ErrLeaseLost) {
			return err
		}
		return nil
	}
	// Live progress for the job center: files done of the total a
	// counting walk finds, rate and ETA, written at most once a second.
	pr := newProgressReporter(im.Clock, func(ctx context.Context, sp ScanProgress) error { return j.ReportProgress(ctx, sp) })
	countCtx, stopCount := context.WithCancel(ctx)
	defer stopCount()
	go pr.count(countCtx, p.Path, o.Walk)
	sum, err := im.ScanPath(ctx, p.Path, RunOptions{Limit: p.Limit, Walk: o.Walk, OnCommit: advance, JobID: j.ID,
		Progress: func(s Summary, _ Outcome) { pr.onFile(ctx, s) }})
	stopCount()
	pr.final(ctx, sum, err == nil && !sum.Limited && !sum.Cancelled)
	if err != nil {
		return sum, err
	}
	if sum.Cancelled {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		return sum, context.Canceled
	}
	if err := sum.failure(); err != nil {
		return sum, err
	}
	return ScanPathResult{Path: p.Path, Limit: p.Limit, Result: sum, CompletedAt: svtime.Format(im.now()), Warnings: sum.Warnings}, nil
}

func (s *Setup) rescanJob(ctx context.Context, j *jobs.Job) (any, error) {
	var p struct {
		MediaID int64 `json:"media_id"`
	}
	if err := j.Decode(&p); err != nil {
		return nil, err
	}
	id := p.MediaID
	if j.MediaID != nil {
		id = *j.MediaID
	}
	if id <= 0 {
		return nil, reason.New("invalid_payload", "rescan_media job without media_id")
	}
	started := s.Importer.now()
	res, err := s.HandleRescanMedia(ctx, id)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		d := errorDetails(err)
		d["job_id"] = j.ID
		d["media_id"] = id
		s.audit(ctx, "rescan_job_failed", id, d)
		return nil, withFields(err)
	}
	s.audit(ctx, "rescan_job_done", id, map[string]any{"job_id": j.ID, "media_id": id, "started_at": svtime.Format(started), "result": res})
	return res, nil
}

// Backfill modes: which media a scan_backfill_tags job walks.
const (
	// BackfillNoTags walks active media without any tag (the original's
	// only mode, dashboard "Backfill missing tags").
	BackfillNoTags = "no_tags"
	// BackfillAll walks every active, not deleted media: the dashboard's
	// "Rescan library", one rescan_media job per media, chunk by chunk.
	BackfillAll = "all"
)

// BackfillPayload is the scan_backfill_tags payload and checkpoint (the
// original's field names). Total is this run's estimate of all media the
// job will have processed when done (processed + remaining candidates),
// the job center's progress_bits_total.
type BackfillPayload struct {
	Mode             string `json:"mode"`
	Chunk            int    `json:"chunk,omitempty"`
	Max              int    `json:"max,omitempty"`
	MaxEnqueuePerRun int    `json:"max_enqueue_per_run,omitempty"`
	CursorLastID     int64  `json:"cursor_last_id"`
	Processed        int    `json:"processed"`
	Total            int    `json:"total,omitempty"`
	EnqueuedTotal    int    `json:"enqueued_total"`
	DedupedTotal     int    `json:"deduped_total"`
	FailedTotal      int    `json:"failed_total"`
	Done             bool   `json:"done,omitempty"`
	Source           string `json:"source,omitempty"`
	CreatedAt        string `json:"created_at,omitempty"`
}

// BackfillResult is the scan_backfill_tags job result.
type BackfillResult struct {
	BackfillPayload
	Result      string `json:"result"` // done | max_reached
	CompletedAt string `json:"completed_at"`
}

// ValidBackfillMode reports whether m is a backfill mode the handler runs.
func ValidBackfillMode(m string) bool { return m == BackfillNoTags || m == BackfillAll }

// BackfillRequest builds the scan_backfill_tags enqueue request for mode
// (BackfillNoTags or BackfillAll; "" means no_tags). chunk is clamped to
// 1..500 (default 200); max 0 means all. One job per mode is live at a
// time (dedupe key per mode), so a second click joins the running walk.
func BackfillRequest(mode string, chunk, maxN int, source string, now time.Time) (jobs.EnqueueRequest, error) {
	if mode == "" {
		mode = BackfillNoTags
	}
	if !ValidBackfillMode(mode) {
		return jobs.EnqueueRequest{}, reason.Newf(CodeBackfillBadMode, "unknown backfill mode %q", mode)
	}
	if chunk <= 0 {
		chunk = 200
	}
	chunk = min(chunk, 500)
	return jobs.EnqueueRequest{Type: jobs.TypeScanBackfillTags, DedupeKey: "scan_backfill_tags:" + mode,
		Payload: BackfillPayload{Mode: mode, Chunk: chunk, Max: max(maxN, 0), Source: source, CreatedAt: svtime.Format(now)}}, nil
}

// EnqueueBackfill queues a scan_backfill_tags job (mode no_tags). chunk is
// clamped to 1..500 (default 200); max 0 means all.
func EnqueueBackfill(ctx context.Context, q *jobs.Queue, chunk, maxN int, now time.Time) (jobs.EnqueueResult, error) {
	req, err := BackfillRequest(BackfillNoTags, chunk, maxN, "", now)
	if err != nil {
		return jobs.EnqueueResult{}, err
	}
	return q.Enqueue(ctx, req)
}

// backfillJob enqueues rescan_media jobs for the mode's media (no_tags:
// active media without any tag; all: every active media), in id order from
// the payload's cursor. After every chunk the cursor is saved in the
// payload, so a crash or a re-queue resumes there, and the progress
// (processed of processed + remaining) goes to the job row. When the
// per-run cap is reached the job re-queues itself (Snooze) instead of
// staying running as the original did.
func (s *Setup) backfillJob(ctx context.Context, j *jobs.Job, o HandlerOptions) (any, error) {
	var p BackfillPayload
	if err := j.Decode(&p); err != nil {
		return nil, err
	}
	if p.Mode == "" {
		p.Mode = BackfillNoTags
	}
	if !ValidBackfillMode(p.Mode) {
		return nil, reason.Newf(CodeBackfillBadMode, "unknown backfill mode %q", p.Mode)
	}
	if o.Queue == nil {
		return nil, reason.New("backfill_no_queue", "backfill handler built without a queue")
	}
	chunk := p.Chunk
	if chunk <= 0 {
		chunk = 200
	}
	chunk = min(chunk, 500)
	runCap := o.BackfillRunCap
	if p.MaxEnqueuePerRun > 0 {
		runCap = p.MaxEnqueuePerRun
	}
	// Media imported since the last run are part of the walk (ids grow),
	// so the total is re-estimated once per run.
	remaining, err := s.backfillCount(ctx, p.Mode, p.CursorLastID)
	if err != nil {
		return nil, err
	}
	p.Total = p.Processed + remaining
	if p.Max > 0 {
		p.Total = min(p.Total, p.Max)
	}
	_ = j.Progress(ctx, p.Processed, p.Total)
	created := 0
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if p.Max > 0 && p.Processed >= p.Max {
			return s.backfillDone(ctx, j, p, "max_reached")
		}
		n := chunk
		if p.Max > 0 {
			n = min(n, p.Max-p.Processed)
		}
		n = min(n, runCap-created)
		ids, paths, err := s.backfillIDs(ctx, p.Mode, p.CursorLastID, n)
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			return s.backfillDone(ctx, j, p, "done")
		}
		reqs := make([]jobs.EnqueueRequest, len(ids))
		for i, id := range ids {
			mid := id
			reqs[i] = jobs.EnqueueRequest{Type: jobs.TypeRescanMedia, MediaID: &mid, Payload: map[string]any{"media_id": id, "path": paths[i]}}
		}
		res, err := o.Queue.EnqueueMany(ctx, reqs)
		if err != nil {
			return nil, err
		}
		full := false
		last := p.CursorLastID
		for i, r := range res {
			if r.Err != nil {
				// A full queue: stop before this item so it is retried
				// on the next run instead of being skipped.
				full = true
				break
			}
			last = ids[i]
			p.Processed++
			if r.Deduped {
				p.DedupedTotal++
			} else {
				p.EnqueuedTotal++
				created++
			}
		}
		p.CursorLastID = last
		p.Total = max(p.Total, p.Processed)
		if err := j.SavePayload(ctx, p); err != nil {
			return nil, err
		}
		_ = j.Progress(ctx, p.Processed, p.Total)
		if full {
			l := j.Logger()
			l.Info().Int64("cursor", p.CursorLastID).Msg("backfill: queue full, re-queued")
			return nil, jobs.Snooze(o.BackfillPause * 6)
		}
		if created >= runCap {
			l := j.Logger()
			l.Info().Int64("cursor", p.CursorLastID).Int("created", created).Msg("backfill: per-run cap reached, re-queued")
			return nil, jobs.Snooze(o.BackfillPause)
		}
	}
}

func (s *Setup) backfillDone(ctx context.Context, j *jobs.Job, p BackfillPayload, result string) (any, error) {
	p.Done = true
	p.Total = p.Processed
	if err := j.SavePayload(ctx, p); err != nil {
		return nil, err
	}
	_ = j.Progress(ctx, p.Processed, p.Total)
	r := BackfillResult{BackfillPayload: p, Result: result, CompletedAt: svtime.Format(s.Importer.now())}
	// backfill_no_tags_done (the original's name) or backfill_all_done.
	s.audit(ctx, "backfill_"+p.Mode+"_done", 0, map[string]any{"job_id": j.ID, "result": result, "processed": p.Processed,
		"enqueued": p.EnqueuedTotal, "deduped": p.DedupedTotal, "last_id": p.CursorLastID, "mode": p.Mode})
	return r, nil
}

// backfillWhere selects a mode's candidates (media m, ids above a cursor).
func backfillWhere(mode string) string {
	if mode == BackfillAll {
		return `m.id > ? AND m.status = 'active' AND COALESCE(m.is_deleted, 0) = 0`
	}
	return `m.id > ? AND m.status = 'active' AND NOT EXISTS (SELECT 1 FROM media_tags t WHERE t.media_id = m.id)`
}

// backfillCount counts the mode's candidates above after.
func (s *Setup) backfillCount(ctx context.Context, mode string, after int64) (int, error) {
	var n int
	if err := s.Importer.DB.QueryRowContext(ctx, `SELECT count(*) FROM media m WHERE `+backfillWhere(mode), after).Scan(&n); err != nil {
		return 0, fmt.Errorf("backfill count: %w", err)
	}
	return n, nil
}

// backfillIDs returns up to n of the mode's candidate ids above after,
// with their paths.
func (s *Setup) backfillIDs(ctx context.Context, mode string, after int64, n int) ([]int64, []string, error) {
	if n <= 0 {
		return nil, nil, nil
	}
	rows, err := s.Importer.DB.QueryContext(ctx, `SELECT m.id, m.path FROM media m WHERE `+backfillWhere(mode)+` ORDER BY m.id LIMIT ?`, after, n)
	if err != nil {
		return nil, nil, fmt.Errorf("backfill query: %w", err)
	}
	defer rows.Close()
	var ids []int64
	var paths []string
	for rows.Next() {
		var id int64
		var p string
		if err := rows.Scan(&id, &p); err != nil {
			return nil, nil, err
		}
		ids = append(ids, id)
		paths = append(paths, p)
	}
	return ids, paths, rows.Err()
}
