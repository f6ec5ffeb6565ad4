package jobs

import (
	"cmp"
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// ClaimFilter restricts which queued jobs a claim may take, in SQL, so a
// worker never claims (and burns an attempt on) a job it would refuse. The
// zero value restricts nothing; the parts combine with AND. Each part is a
// typed rule that pkg/jobs turns into SQL (and keeps on an index), so no
// consumer writes SQL against the jobs table.
type ClaimFilter struct {
	// PayloadField and PayloadPrefix: only jobs whose payload_json has the
	// top-level string field PayloadField starting with PayloadPrefix
	// (byte-wise, no LIKE wildcards). Jobs without the field do not match.
	PayloadField  string
	PayloadPrefix string
	// Folder restricts on a folder path stored in the payload.
	Folder FolderFilter
	// WaitFor holds a job back while a job of one of these types for the
	// same media, enqueued before it (smaller id), is queued or running:
	// the job consumes what those produce (Ollama's prompt_recon waits for
	// caption). The check runs on idx_jobs_media.
	WaitFor []string
}

// FolderFilter restricts on the folder path in the payload field Field
// (stored cleaned and absolute, so byte-wise comparison is exact). A folder
// covers another when they are equal or one is below the other at a
// separator boundary (/lib/in covers /lib/in/sub, not /lib/inbox).
type FolderFilter struct {
	// Field is the payload field ("" disables the filter).
	Field string
	// Sep is the path separator (filepath.Separator of the worker).
	Sep string
	// Under, when set, admits only jobs whose folder is empty (the handler
	// fails those), Under itself or below it.
	Under string
	// Exclusive holds a job back while a running job of the same type has
	// an overlapping folder (held or started), so two runs never work on
	// one tree at once; the running set is read through idx_jobs_claim.
	// A job without a folder is not held back.
	Exclusive bool
}

// PayloadPrefix returns a filter for "payload field has prefix".
func PayloadPrefix(field, prefix string) ClaimFilter {
	return ClaimFilter{PayloadField: field, PayloadPrefix: prefix}
}

// And returns a filter that requires both f and o. Two payload prefixes or
// two folder fields cannot be combined (programmer error: panics).
func (f ClaimFilter) And(o ClaimFilter) ClaimFilter {
	if f.PayloadField != "" && o.PayloadField != "" {
		panic("jobs: ClaimFilter.And with two payload prefixes")
	}
	out := f
	if o.PayloadField != "" {
		out.PayloadField, out.PayloadPrefix = o.PayloadField, o.PayloadPrefix
	}
	if o.Folder.Field != "" {
		if f.Folder.Field != "" && f.Folder.Field != o.Folder.Field {
			panic("jobs: ClaimFilter.And with two folder fields")
		}
		if f.Folder.Field != "" && f.Folder.Under != "" && o.Folder.Under != "" {
			panic("jobs: ClaimFilter.And with two folder roots")
		}
		out.Folder.Field, out.Folder.Sep = o.Folder.Field, o.Folder.Sep
		out.Folder.Under = cmp.Or(o.Folder.Under, f.Folder.Under)
		out.Folder.Exclusive = f.Folder.Exclusive || o.Folder.Exclusive
	}
	out.WaitFor = append(append([]string(nil), f.WaitFor...), o.WaitFor...)
	return out
}

// ClaimFilterFunc returns the filter for one job type (zero: none).
type ClaimFilterFunc func(typ string) ClaimFilter

// withSep is the folder expression x with exactly one trailing separator
// (also for a root: "/" stays "/", `C:\` stays `C:\`); it takes two
// separator arguments.
func withSep(x string) string { return `rtrim(` + x + `, ?) || ?` }

func (f ClaimFilter) sql() (string, []any) {
	var parts []string
	var args []any
	if f.PayloadField != "" {
		// substr/length count characters of TEXT on both sides, so the
		// comparison is exact for any prefix, including '%' and '_'.
		parts = append(parts, `substr(json_extract(j.payload_json, ?), 1, length(?)) = ?`)
		args = append(args, "$."+jsonKey(f.PayloadField), f.PayloadPrefix, f.PayloadPrefix)
	}
	if ff := f.Folder; ff.Field != "" {
		path, sep := "$."+jsonKey(ff.Field), cmp.Or(ff.Sep, "/")
		if ff.Under != "" {
			below := strings.TrimSuffix(ff.Under, sep) + sep
			parts = append(parts, `(COALESCE(json_extract(j.payload_json, ?), '') IN ('', ?) OR substr(json_extract(j.payload_json, ?), 1, length(?)) = ?)`)
			args = append(args, path, ff.Under, path, below, below)
		}
		if ff.Exclusive {
			jp, rp := `json_extract(j.payload_json, ?)`, `json_extract(r.payload_json, ?)`
			parts = append(parts, `(COALESCE(`+jp+`, '') = ''
				OR NOT EXISTS (SELECT 1 FROM jobs r WHERE r.status = 'running' AND r.type = j.type
					AND COALESCE(`+rp+`, '') <> ''
					AND (substr(`+withSep(rp)+`, 1, length(`+withSep(jp)+`)) = `+withSep(jp)+`
						OR substr(`+withSep(jp)+`, 1, length(`+withSep(rp)+`)) = `+withSep(rp)+`)))`)
			args = append(args, path, path)
			// The two overlap directions, each: rp/jp, then jp twice.
			for range 2 {
				args = append(args, path, sep, sep, path, sep, sep, path, sep, sep)
			}
		}
	}
	if len(f.WaitFor) > 0 {
		parts = append(parts, `NOT EXISTS (SELECT 1 FROM jobs d WHERE d.media_id = j.media_id AND d.id < j.id
			AND d.status IN ('queued', 'running') AND d.type IN (`+placeholders(len(f.WaitFor))+`))`)
		for _, t := range f.WaitFor {
			args = append(args, t)
		}
	}
	if len(parts) == 0 {
		return "", nil
	}
	return " AND " + strings.Join(parts, " AND "), args
}

// jsonKey quotes a field name for a JSON path when it is not a plain
// identifier.
func jsonKey(k string) string {
	for _, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return `"` + strings.ReplaceAll(k, `"`, `\"`) + `"`
		}
	}
	return k
}

// NewOwner returns a fresh fence token "<worker>:<host>:<pid>:<random>"
// for ClaimRequest.Owner. Stuck recovery reads host and pid from it to
// detect a dead owner on this host.
func NewOwner(worker string, pid int) string {
	host, _ := os.Hostname()
	return newOwner(worker, host, pid)
}

func newOwner(worker, host string, pid int) string {
	var b [6]byte
	_, _ = crand.Read(b[:])
	return fmt.Sprintf("%s:%s:%d:%s", worker, host, pid, hex.EncodeToString(b[:]))
}

// ClaimRequest describes one claim for Queue.Claim / ClaimTx.
type ClaimRequest struct {
	// Owner is the fence token written to worker_owner; every later write
	// must present it. Use NewOwner. Required.
	Owner string
	// PID is stored in worker_pid (0 stores NULL).
	PID int
	// Types are tried in order: the first type with a runnable job wins
	// (per job when Limit > 1). With Mixed, all Types are one candidate set
	// ordered by priority, id (oldest first over all types); it is claimed
	// per type on idx_jobs_claim (see claimMixed), so put types that others
	// wait for (ClaimFilter.WaitFor) first.
	Types []string
	Mixed bool
	// MediaID restricts to one media.
	MediaID *int64
	// Filter restricts per type.
	Filter ClaimFilterFunc
	// CapAttempts, when > 0, lowers max_attempts to it (a consumer's own
	// retry setting, e.g. ollama.worker.max_retries + 1).
	CapAttempts int
	// Stage, when set, is written to stage (stage_changed_at = now).
	Stage string
	// ProgressTotal, when > 0, starts the run's progress at 0 of it
	// (progress_bits_total; Ollama uses 1000).
	ProgressTotal int
	// Limit is the maximum number of jobs (default 1).
	Limit int

	// hold (the Runner's claims) takes the jobs without starting them:
	// attempts is not counted and started_at stays NULL until the Runner
	// marks the start (markStarted, or the fenced write that ends the job),
	// so stuck recovery can give a crashed worker's never-started jobs back
	// without spending an attempt.
	hold bool
}

// claimColumns is what a claim returns (jobColumns plus priority for the
// in-batch order; RETURNING has no ORDER BY).
const claimColumns = `id, type, media_id, prompt_id, payload_json, forge_request_json, attempts, max_attempts, worker_owner, created_at, priority,
	last_error_code, recoveries`

// Claim claims up to req.Limit runnable jobs (status queued, not_before
// passed) in one BEGIN IMMEDIATE transaction: one UPDATE … RETURNING per
// type on idx_jobs_claim (status, type, priority, id). It sets owner, pid,
// started_at, heartbeat_at and attempts+1. The jobs are ordered by type
// order, then priority, then id.
//
// A consumer that does not use the Runner must keep the lease itself
// (Queue.Heartbeat at least every few seconds) and end every job with a
// fenced write (Job.End, Job.CompleteTx, Queue.Release).
func (q *Queue) Claim(ctx context.Context, req ClaimRequest) ([]*Job, error) {
	if req.Limit <= 0 {
		req.Limit = 1
	}
	stmts, err := q.claimStmts(ctx, req)
	if err != nil {
		return nil, err
	}
	var out []*Job
	err = db.InTx(ctx, q.db, func(tx *sql.Tx) error {
		var err error
		out, err = q.claimIn(ctx, tx, req, stmts, nil)
		return err
	})
	if err != nil {
		return nil, db.Classify(err)
	}
	return out, nil
}

// ClaimTx is Claim inside the caller's write transaction (the caller
// commits; on rollback nothing was claimed).
func (q *Queue) ClaimTx(ctx context.Context, tx *sql.Tx, req ClaimRequest) ([]*Job, error) {
	if req.Limit <= 0 {
		req.Limit = 1
	}
	out, err := q.claimIn(ctx, tx, req, nil, nil)
	return out, db.Classify(err)
}

// claimStmt is one per-type claim statement with its WHERE arguments.
// Without Mixed, query is the claim itself (UPDATE … WHERE id IN (SELECT
// … LIMIT ?) RETURNING); with Mixed it selects the type's oldest runnable
// ids below a (priority, id) bound, and byID claims each chosen job.
type claimStmt struct {
	typ   string
	query string
	args  []any // type/filter args, without SET args, now and limit
	stmt  *sql.Stmt
}

// claimSet is the SET list of a claim; claimSetArgs are its arguments.
func claimSet(req ClaimRequest) string {
	// A started claim counts the attempt now; a held claim leaves
	// attempts and started_at for the start mark. progress_mark is the
	// progress this run starts from (stuck recovery of Resumable types
	// compares against it); SET reads the old row, so a ProgressTotal that
	// resets progress_bits does not move the mark.
	start := `started_at = ?, attempts = attempts + 1`
	if req.hold {
		start = `started_at = NULL`
	}
	set := `status = 'running', worker_owner = ?, worker_pid = ?,
			` + start + `, heartbeat_at = ?, updated_at = ?,
			cancel_requested = 0, finished_at = NULL, stage = ?, stage_changed_at = ?,
			progress_mark = progress_bits`
	if req.CapAttempts > 0 {
		set += `, max_attempts = min(max_attempts, ?)`
	}
	if req.ProgressTotal > 0 {
		set += `, progress_bits = 0, progress_bits_total = ?`
	}
	return set
}

// claimSetArgs are claimSet's arguments.
func claimSetArgs(req ClaimRequest, now string) []any {
	var pid, stage, stageAt any
	if req.PID != 0 {
		pid = req.PID
	}
	if req.Stage != "" {
		stage, stageAt = req.Stage, now
	}
	args := make([]any, 0, 9)
	args = append(args, req.Owner, pid)
	if !req.hold {
		args = append(args, now) // started_at
	}
	args = append(args, now, now, stage, stageAt)
	if req.CapAttempts > 0 {
		args = append(args, req.CapAttempts)
	}
	if req.ProgressTotal > 0 {
		args = append(args, req.ProgressTotal)
	}
	return args
}

// claimByID claims one chosen queued job (Mixed claims).
func claimByID(req ClaimRequest) string {
	return `UPDATE jobs SET ` + claimSet(req) + ` WHERE id = ? AND status = 'queued' RETURNING ` + claimColumns
}

// claimQueries builds the per-type claim statements of req.
func claimQueries(req ClaimRequest) []claimStmt {
	out := make([]claimStmt, 0, len(req.Types))
	for _, t := range req.Types {
		var where strings.Builder
		args := []any{t, nil} // nil: now, filled per claim
		where.WriteString(`j.status = 'queued' AND j.type = ? AND (j.not_before IS NULL OR j.not_before <= ?)`)
		if req.MediaID != nil {
			where.WriteString(` AND j.media_id = ?`)
			args = append(args, *req.MediaID)
		}
		if req.Filter != nil {
			fs, fa := req.Filter(t).sql()
			where.WriteString(fs)
			args = append(args, fa...)
		}
		var query string
		if req.Mixed {
			// Only jobs before the bound (priority, id) matter, as two
			// ranges on idx_jobs_claim after status and type: a better
			// priority, or the same one and a smaller id. (A row-value
			// comparison is not used as a range: the walk went on through
			// every later job of the type, checking its filter.) The
			// filter arguments come twice.
			w := where.String()
			query = `SELECT id, priority FROM (SELECT j.id, j.priority FROM jobs j WHERE ` + w + ` AND j.priority < ?
					ORDER BY j.priority, j.id LIMIT ?)
				UNION ALL
				SELECT id, priority FROM (SELECT j.id, j.priority FROM jobs j WHERE ` + w + ` AND j.priority = ? AND j.id < ?
					ORDER BY j.id LIMIT ?)`
		} else {
			query = `UPDATE jobs SET ` + claimSet(req) + `
			WHERE id IN (SELECT j.id FROM jobs j WHERE ` + where.String() + ` ORDER BY j.priority, j.id LIMIT ?)
			RETURNING ` + claimColumns
		}
		out = append(out, claimStmt{typ: t, query: query, args: args})
	}
	return out
}

// claimStmts prepares req's statements through the queue's cache. It must
// be called outside a transaction: preparing on the pool while holding a
// transaction's connection could wait for a connection forever.
func (q *Queue) claimStmts(ctx context.Context, req ClaimRequest) ([]claimStmt, error) {
	cs := claimQueries(req)
	for i := range cs {
		st, err := q.stmts.Prepare(ctx, cs[i].query)
		if err != nil {
			return nil, db.Classify(fmt.Errorf("prepare claim: %w", err))
		}
		cs[i].stmt = st
	}
	return cs, nil
}

// with returns the statement's own arguments followed by post, for a
// statement that repeats its WHERE (Mixed heads).
func (c claimStmt) with(now string, post ...any) []any {
	out := make([]any, 0, len(c.args)+len(post))
	for _, a := range c.args {
		if a == nil {
			a = now
		}
		out = append(out, a)
	}
	return append(out, post...)
}

// run runs the statement inside tx (prepared, or as text when
// it was not prepared).
func (c claimStmt) run(ctx context.Context, tx *sql.Tx, now string, pre []any, post ...any) (*sql.Rows, error) {
	args := append(slices.Clip(pre), c.with(now, post...)...)
	if c.stmt != nil {
		return tx.StmtContext(ctx, c.stmt).QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, c.query, args...)
}

// claimIn runs the claim statements inside tx. quota, when set, caps the
// jobs per statement (weighted round robin) before the remaining slots are
// filled in statement order. stmts may be nil (statements are then prepared
// on the transaction).
func (q *Queue) claimIn(ctx context.Context, tx *sql.Tx, req ClaimRequest, stmts []claimStmt, quota []int) ([]*Job, error) {
	if stmts == nil {
		stmts = claimQueries(req)
	}
	now := svtime.NowString(q.clock)
	setArgs := claimSetArgs(req, now)
	if req.Mixed {
		return q.claimMixed(ctx, tx, req, stmts, now, setArgs)
	}
	var out []*Job
	run := func(i, n int) error {
		c := stmts[i]
		rows, err := c.run(ctx, tx, now, setArgs, n)
		if err != nil {
			return fmt.Errorf("claim %s: %w", c.typ, err)
		}
		defer rows.Close()
		first := len(out)
		if out, err = q.scanClaims(rows, req, out); err != nil {
			return fmt.Errorf("claim %s: %w", c.typ, err)
		}
		slices.SortFunc(out[first:], func(a, b *Job) int { return cmp.Or(cmp.Compare(a.priority, b.priority), cmp.Compare(a.ID, b.ID)) })
		return nil
	}
	if quota != nil {
		for i := range stmts {
			if n := min(quota[i], req.Limit-len(out)); n > 0 {
				if err := run(i, n); err != nil {
					return nil, err
				}
			}
		}
	}
	for i := range stmts {
		if n := req.Limit - len(out); n > 0 {
			if err := run(i, n); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// scanClaims appends the claimed rows to out.
func (q *Queue) scanClaims(rows *sql.Rows, req ClaimRequest, out []*Job) ([]*Job, error) {
	for rows.Next() {
		j, err := scanClaimed(rows)
		if err != nil {
			return out, err
		}
		j.q = q
		if req.hold {
			// The attempt this job will be once it starts.
			j.Attempt++
		} else {
			j.marked.Store(true)
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// candidate is a runnable job found by a Mixed claim.
type candidate struct{ id, prio int64 }

// claimMixed claims the req.Limit oldest runnable jobs (priority, id) over
// all types. One query over all types (type IN …) cannot use the order of
// idx_jobs_claim and sorted the whole queue inside the write lock; instead
// each type's oldest runnable jobs are read on the index, only below the
// Limit-th best found so far, so a type whose queued jobs are all older
// than that (or held back by WaitFor behind them) costs an index seek, not
// a walk. The union of every type's best is the overall best: the result
// equals the single ordered query.
func (q *Queue) claimMixed(ctx context.Context, tx *sql.Tx, req ClaimRequest, stmts []claimStmt, now string, setArgs []any) ([]*Job, error) {
	var best []candidate // sorted, at most req.Limit
	for _, c := range stmts {
		bound := candidate{math.MaxInt64, math.MaxInt64}
		if len(best) == req.Limit {
			bound = best[len(best)-1]
		}
		post := append([]any{bound.prio, req.Limit}, c.with(now, bound.prio, bound.id, req.Limit)...)
		rows, err := c.run(ctx, tx, now, nil, post...)
		if err != nil {
			return nil, fmt.Errorf("claim %s: %w", c.typ, err)
		}
		for rows.Next() {
			var k candidate
			if err := rows.Scan(&k.id, &k.prio); err != nil {
				rows.Close()
				return nil, fmt.Errorf("claim %s: %w", c.typ, err)
			}
			i, _ := slices.BinarySearchFunc(best, k, func(a, b candidate) int {
				return cmp.Or(cmp.Compare(a.prio, b.prio), cmp.Compare(a.id, b.id))
			})
			best = slices.Insert(best, i, k)
			if len(best) > req.Limit {
				best = best[:req.Limit]
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("claim %s: %w", c.typ, err)
		}
	}
	if len(best) == 0 {
		return nil, nil
	}
	var out []*Job
	byID := claimByID(req)
	for _, k := range best {
		rows, err := tx.QueryContext(ctx, byID, append(slices.Clip(setArgs), k.id)...)
		if err != nil {
			return nil, fmt.Errorf("claim job %d: %w", k.id, err)
		}
		out, err = q.scanClaims(rows, req, out)
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("claim job %d: %w", k.id, err)
		}
	}
	return out, nil
}

func scanClaimed(sc interface{ Scan(...any) error }) (*Job, error) {
	var (
		j                  Job
		media, prompt      sql.NullInt64
		payload, forge     sql.NullString
		owner, createdText sql.NullString
		lastCode           sql.NullString
	)
	if err := sc.Scan(&j.ID, &j.Type, &media, &prompt, &payload, &forge, &j.Attempt, &j.MaxAttempts, &owner, &createdText, &j.priority, &lastCode,
		&j.Recoveries); err != nil {
		return nil, err
	}
	j.lastCode = lastCode.String
	if media.Valid {
		j.MediaID = &media.Int64
	}
	if prompt.Valid {
		j.PromptID = &prompt.Int64
	}
	if payload.Valid {
		j.Payload = []byte(payload.String)
	}
	if forge.Valid {
		j.ForgeRequest = []byte(forge.String)
	}
	j.Owner = owner.String
	j.CreatedAt, _ = svtime.Parse(createdText.String)
	return &j, nil
}

// claim takes the next runnable job of the first type in order that has
// one (single-job form used by tests and simple callers).
func (q *Queue) claim(ctx context.Context, owner string, pid int, order []string, mediaID *int64) (*Job, error) {
	js, err := q.Claim(ctx, ClaimRequest{Owner: owner, PID: pid, Types: order, MediaID: mediaID, Limit: 1})
	if err != nil || len(js) == 0 {
		return nil, err
	}
	return js[0], nil
}

// Attach returns a handle for a job claimed elsewhere (e.g. by a parent
// process that hands the job id and owner token to a child), so the child
// can use the fenced writes. It returns ErrLeaseLost when the job is not
// running under owner and job_not_found when it does not exist.
func (q *Queue) Attach(ctx context.Context, id int64, owner string) (*Job, error) {
	row := q.db.QueryRowContext(ctx, `SELECT `+claimColumns+`, status FROM jobs WHERE id = ?`, id)
	var st string
	j, err := scanClaimed(scanPlus{row, &st})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, reason.Newf(CodeNotFound, "job %d not found", id)
	}
	if err != nil {
		return nil, db.Classify(fmt.Errorf("attach job %d: %w", id, err))
	}
	if st != StatusRunning || j.Owner != owner {
		return nil, ErrLeaseLost
	}
	j.q = q
	j.marked.Store(true)
	j.log = q.log.With().Int64("job_id", j.ID).Str("job_type", j.Type).Logger()
	return j, nil
}

// scanPlus appends extra destinations to a Scan.
type scanPlus struct {
	sc    interface{ Scan(...any) error }
	extra any
}

func (s scanPlus) Scan(dest ...any) error { return s.sc.Scan(append(dest, s.extra)...) }

// Lease is the heartbeat outcome of one job.
type Lease struct {
	// Held is false when the job is no longer running under its owner.
	Held bool
	// CancelRequested is set when an operator asked to cancel the job.
	CancelRequested bool
}

const heartbeatSQL = `UPDATE jobs SET heartbeat_at = ? WHERE id = ? AND status = 'running' AND worker_owner = ? RETURNING cancel_requested`

// Heartbeat refreshes heartbeat_at of all given jobs in one transaction
// (fenced by owner) and reports per job whether it is still held and
// whether cancel was requested. Consumers outside the Runner call it every
// few seconds (Config.HeartbeatSeconds) for every job they hold.
func (q *Queue) Heartbeat(ctx context.Context, js ...*Job) ([]Lease, error) {
	if len(js) == 0 {
		return nil, nil
	}
	st, err := q.stmts.Prepare(ctx, heartbeatSQL)
	if err != nil {
		return nil, db.Classify(fmt.Errorf("prepare heartbeat: %w", err))
	}
	out := make([]Lease, len(js))
	now := svtime.NowString(q.clock)
	err = db.InTx(ctx, q.db, func(tx *sql.Tx) error {
		ts := tx.StmtContext(ctx, st)
		defer ts.Close()
		for i, j := range js {
			var cancel bool
			err := ts.QueryRowContext(ctx, now, j.ID, j.Owner).Scan(&cancel)
			if errors.Is(err, sql.ErrNoRows) {
				out[i] = Lease{}
				continue
			}
			if err != nil {
				return err
			}
			out[i] = Lease{Held: true, CancelRequested: cancel}
		}
		return nil
	})
	if err != nil {
		return nil, db.Classify(fmt.Errorf("heartbeat: %w", err))
	}
	return out, nil
}

// heartbeat refreshes one lease. ok=false means the job is no longer ours.
func (q *Queue) heartbeat(ctx context.Context, j *Job) (cancel bool, ok bool, err error) {
	ls, err := q.Heartbeat(ctx, j)
	if err != nil {
		return false, false, err
	}
	return ls[0].CancelRequested, ls[0].Held, nil
}

// attempts - (started_at IS NOT NULL): a held job that never started did
// not count its attempt, so there is none to give back.
const releaseSQL = `UPDATE jobs SET status = 'queued', attempts = max(attempts - (started_at IS NOT NULL), 0), worker_owner = NULL, worker_pid = NULL,
	started_at = NULL, heartbeat_at = NULL, updated_at = ? WHERE id = ? AND status = 'running' AND worker_owner = ?`

// Release gives claimed jobs that were never started back to queued without
// counting the attempt (prefetched jobs at shutdown). Jobs no longer held
// are skipped. It returns how many were released.
func (q *Queue) Release(ctx context.Context, js ...*Job) (int, error) {
	var n int
	err := db.InTx(ctx, q.db, func(tx *sql.Tx) error {
		var err error
		n, err = q.releaseIn(ctx, tx, js)
		return err
	})
	return n, db.Classify(err)
}

func (q *Queue) releaseIn(ctx context.Context, tx *sql.Tx, js []*Job) (int, error) {
	now := svtime.NowString(q.clock)
	n := 0
	for _, j := range js {
		rs, err := tx.ExecContext(ctx, releaseSQL, now, j.ID, j.Owner)
		if err != nil {
			return n, fmt.Errorf("release job %d: %w", j.ID, err)
		}
		if k, _ := rs.RowsAffected(); k == 1 {
			n++
		}
	}
	return n, nil
}

// markStartedSQL records that a held job's handler starts: it counts the
// attempt and sets started_at, once (started_at IS NULL), fenced.
const markStartedSQL = `UPDATE jobs SET attempts = attempts + 1, started_at = ?, updated_at = ?
	WHERE id = ? AND status = 'running' AND worker_owner = ? AND started_at IS NULL`

// markStarted writes the start of held jobs inside ex; the caller flags
// them marked once the transaction committed. Jobs no longer held are
// skipped (their own fenced writes notice).
func (q *Queue) markStarted(ctx context.Context, ex db.Execer, js ...*Job) error {
	now := svtime.NowString(q.clock)
	for _, j := range js {
		if _, err := ex.ExecContext(ctx, markStartedSQL, j.startedAt(now), now, j.ID, j.Owner); err != nil {
			return fmt.Errorf("mark job %d started: %w", j.ID, err)
		}
	}
	return nil
}
