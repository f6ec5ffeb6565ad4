package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// QueueOptions configures NewQueue.
type QueueOptions struct {
	// DB is a writer handle from db.Open (BEGIN IMMEDIATE). Required.
	DB *sql.DB
	// Clock stamps every timestamp (default svtime.SystemClock).
	Clock svtime.Clock
	// Config holds caps and timings (start from DefaultConfig()).
	Config Config
	// Registry knows the job types (default DefaultRegistry()).
	Registry *Registry
	// Logger receives queue events (default: disabled).
	Logger zerolog.Logger
	// Jitter returns a number in [0,1) for backoff jitter (default
	// math/rand/v2); tests inject a constant.
	Jitter func() float64
}

// Queue is the job table API shared by enqueuers, the Runner and jobs-admin.
// It is safe for concurrent use.
type Queue struct {
	db     *sql.DB
	clock  svtime.Clock
	cfg    Config
	reg    *Registry
	log    zerolog.Logger
	jitter func() float64
	stmts  *db.StmtCache
}

// NewQueue builds a Queue. A nil DB is a programmer error and panics.
func NewQueue(o QueueOptions) *Queue {
	if o.DB == nil {
		panic("jobs: QueueOptions.DB is nil")
	}
	q := &Queue{db: o.DB, clock: o.Clock, cfg: o.Config.withDefaults(), reg: o.Registry, log: o.Logger, jitter: o.Jitter, stmts: db.NewStmtCache(o.DB)}
	if q.clock == nil {
		q.clock = svtime.SystemClock{}
	}
	if q.reg == nil {
		q.reg = DefaultRegistry()
	}
	if q.jitter == nil {
		q.jitter = rand.Float64
	}
	return q
}

// Registry returns the queue's type registry.
func (q *Queue) Registry() *Registry { return q.reg }

// Config returns the effective configuration.
func (q *Queue) Config() Config { return q.cfg }

// DB returns the writer handle, for handlers that share a transaction with
// CompleteTx.
func (q *Queue) DB() *sql.DB { return q.db }

// EnqueueRequest describes one job to insert.
type EnqueueRequest struct {
	// Type must be registered.
	Type string
	// MediaID is nil for path/global jobs (stored as NULL, never 0).
	MediaID *int64
	// PromptID is set for forge jobs only.
	PromptID *int64
	// Payload is marshalled to payload_json (json.RawMessage is kept as is).
	Payload any
	// DedupeKey makes the enqueue idempotent while a job with the same key
	// is queued or running. Empty: "<type>:media:<id>" for UniquePerMedia
	// types with a media id, else no dedupe.
	DedupeKey string
	// Priority overrides the type's default (lower runs first).
	Priority *int
	// NotBefore delays the first claim.
	NotBefore time.Time
	// ForgeRequest is stored in forge_request_json (forge types only).
	ForgeRequest any
	// NewMedia promises that MediaID was inserted in the caller's
	// transaction, so no job can reference it yet: its dedupe lookup and
	// per-media count are skipped (both are necessarily empty). The
	// importer's follow-up jobs use it. A broken promise is not silent: a
	// duplicate live key still fails on idx_jobs_dedupe_live.
	NewMedia bool
}

// EnqueueResult is the outcome of one enqueue.
type EnqueueResult struct {
	JobID   int64 `json:"job_id"`
	Deduped bool  `json:"deduped"`
	// ReasonCode and Err are set when EnqueueMany refused this item
	// (queue_full_*); Enqueue returns the error instead.
	ReasonCode string `json:"reason_code,omitempty"`
	Err        error  `json:"-"`
}

// Enqueue inserts one job. Caps, dedupe and insert happen in one immediate
// transaction, so concurrent enqueuers cannot overshoot a cap or create
// twins. A refused enqueue returns a permanent *reason.Error with code
// queue_full_total, queue_full_type or queue_full_media.
func (q *Queue) Enqueue(ctx context.Context, req EnqueueRequest) (EnqueueResult, error) {
	res, err := q.EnqueueMany(ctx, []EnqueueRequest{req})
	if err != nil {
		return EnqueueResult{}, err
	}
	if res[0].Err != nil {
		return res[0], res[0].Err
	}
	return res[0], nil
}

// EnqueueMany inserts many jobs in one immediate transaction (bulk enqueue of
// 100k Ollama jobs). Items refused by a cap carry Err/ReasonCode and do not
// abort the others; an unknown type or a database error aborts the whole
// batch and nothing is inserted.
func (q *Queue) EnqueueMany(ctx context.Context, reqs []EnqueueRequest) ([]EnqueueResult, error) {
	preps, err := q.prepareEnqueue(reqs)
	if err != nil {
		return nil, err
	}
	var out []EnqueueResult
	err = db.InTx(ctx, q.db, func(tx *sql.Tx) error {
		var err error
		out, err = q.enqueueIn(ctx, tx, reqs, preps)
		return err
	})
	if err != nil {
		return nil, db.Classify(fmt.Errorf("enqueue: %w", err))
	}
	return out, nil
}

// EnqueueTx enqueues inside the caller's write transaction (a transaction
// begun on a db.Open handle, i.e. BEGIN IMMEDIATE), so follow-up jobs commit
// or roll back together with the caller's own writes (an import and its
// hash/integrity jobs). Caps and dedupe are checked exactly as in
// EnqueueMany: refused items carry Err/ReasonCode, an unknown type, invalid
// payload or database error returns an error and the caller must roll back.
// The transaction must be a write transaction from its first statement: a
// deferred read transaction could count the queue and then lose the write
// race, overshooting a cap.
func (q *Queue) EnqueueTx(ctx context.Context, tx *sql.Tx, reqs []EnqueueRequest) ([]EnqueueResult, error) {
	preps, err := q.prepareEnqueue(reqs)
	if err != nil {
		return nil, err
	}
	out, err := q.enqueueIn(ctx, tx, reqs, preps)
	if err != nil {
		return nil, db.Classify(fmt.Errorf("enqueue: %w", err))
	}
	return out, nil
}

// preparedEnqueue is one request validated and marshalled outside any
// transaction, so the write lock is not held while JSON is encoded.
type preparedEnqueue struct {
	spec                           TypeSpec
	payload, forge, key, notBefore sql.NullString
	prio                           int
}

func (q *Queue) prepareEnqueue(reqs []EnqueueRequest) ([]preparedEnqueue, error) {
	preps := make([]preparedEnqueue, len(reqs))
	for i, r := range reqs {
		spec, ok := q.reg.Spec(r.Type)
		if !ok {
			return nil, reason.Newf(CodeUnknownType, "unknown job type %q", r.Type)
		}
		p := preparedEnqueue{spec: spec, prio: spec.Priority}
		if r.Priority != nil {
			p.prio = *r.Priority
		}
		var err error
		if p.payload, err = marshalNull(r.Payload); err != nil {
			return nil, reason.Permanent(CodePayloadInvalid, fmt.Errorf("job %d payload: %w", i, err))
		}
		if p.forge, err = marshalNull(r.ForgeRequest); err != nil {
			return nil, reason.Permanent(CodePayloadInvalid, fmt.Errorf("job %d forge request: %w", i, err))
		}
		key := r.DedupeKey
		if key == "" && spec.UniquePerMedia && r.MediaID != nil {
			key = r.Type + ":media:" + strconv.FormatInt(*r.MediaID, 10)
		}
		p.key = sql.NullString{String: key, Valid: key != ""}
		if !r.NotBefore.IsZero() {
			p.notBefore = sql.NullString{String: svtime.Format(r.NotBefore), Valid: true}
		}
		preps[i] = p
	}
	return preps, nil
}

// enqueueIn checks caps and dedupe and inserts, all inside tx. It decides
// every request in order in memory (dedupe, then the caps, counted
// incrementally) from a few set-wise reads, then inserts the accepted
// requests with multi-row INSERTs: the outcome equals checking and
// inserting one request after the other, because the immediate
// transaction excludes every other writer.
func (q *Queue) enqueueIn(ctx context.Context, tx *sql.Tx, reqs []EnqueueRequest, preps []preparedEnqueue) ([]EnqueueResult, error) {
	out := make([]EnqueueResult, len(reqs))
	now := svtime.NowString(q.clock)
	// Counters are read once and maintained in memory: re-counting per row
	// would make a 100k bulk enqueue quadratic.
	c, err := loadCounts(ctx, tx, q.cfg, reqs)
	if err != nil {
		return nil, err
	}
	// Requests for media created in this transaction have nothing to
	// look up (dedupe within the call still applies below).
	lookReqs, lookPreps := reqs, preps
	if slices.ContainsFunc(reqs, func(r EnqueueRequest) bool { return r.NewMedia }) {
		lookReqs, lookPreps = nil, nil
		for i, r := range reqs {
			if !r.NewMedia {
				lookReqs, lookPreps = append(lookReqs, r), append(lookPreps, preps[i])
			}
		}
	}
	live, err := liveDedupe(ctx, tx, lookPreps)
	if err != nil {
		return nil, err
	}
	if q.cfg.QueueMaxPerMedia > 0 {
		if err := c.loadMediaCounts(ctx, tx, lookReqs); err != nil {
			return nil, err
		}
	}
	// insert lists the accepted requests in order; a later request with
	// the key of an accepted one is deduped against it (dupOf) and gets
	// its id once the rows exist.
	insert := make([]int, 0, len(reqs))
	accepted := map[string]int{}
	dupOf := map[int]int{}
	for i, r := range reqs {
		p := preps[i]
		if p.key.Valid {
			if id, ok := live[p.key.String]; ok {
				out[i] = EnqueueResult{JobID: id, Deduped: true}
				continue
			}
			if j, ok := accepted[p.key.String]; ok {
				out[i] = EnqueueResult{Deduped: true}
				dupOf[i] = j
				continue
			}
		}
		if code, msg := c.refuse(q.cfg, r.Type, r.MediaID); code != "" {
			out[i] = EnqueueResult{ReasonCode: code, Err: reason.New(code, msg).With("type", r.Type)}
			continue
		}
		insert = append(insert, i)
		if p.key.Valid {
			accepted[p.key.String] = i
		}
		c.add(r.Type, r.MediaID)
	}
	ids, err := q.insertJobs(ctx, tx, reqs, preps, insert, now)
	if err != nil {
		return nil, err
	}
	for k, i := range insert {
		out[i].JobID = ids[k]
	}
	for i, j := range dupOf {
		out[i].JobID = out[j].JobID
	}
	return out, nil
}

type mediaKey struct {
	typ string
	id  int64
}

// rowQuerier is a *sql.Tx or a *sql.DB.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type queueCounts struct {
	total    int
	perType  map[string]int
	perMedia map[mediaKey]int
}

// loadCounts reads the queued counts the caps need, each bounded by its cap
// (a count that reached the cap refuses the same as the exact one): the
// total and the types of this batch. Disabled caps are not counted, so
// enqueueing into a long queue does not scan it for every insert.
//
// The batch's types are counted first; when each of them is below its cap
// (so its count is exact), the total only walks the other types
// (countOthers) instead of the whole queue again: the importer's
// follow-ups walked the queue twice per call when the caps are high.
func loadCounts(ctx context.Context, tx rowQuerier, cfg Config, reqs []EnqueueRequest) (*queueCounts, error) {
	c := &queueCounts{perType: map[string]int{}, perMedia: map[mediaKey]int{}}
	exact := true // every batch type's count is its exact queued count
	for _, r := range reqs {
		if _, done := c.perType[r.Type]; done {
			continue
		}
		n := 0
		tc := cfg.typeCap(r.Type)
		if tc > 0 {
			var err error
			if n, err = countQueued(ctx, tx, r.Type, tc); err != nil {
				return nil, err
			}
		}
		exact = exact && tc > 0 && n < tc
		c.perType[r.Type] = n
	}
	if cfg.QueueMaxTotal <= 0 {
		return c, nil
	}
	if !exact || len(c.perType) == 0 {
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM jobs WHERE status = 'queued' LIMIT ?)`, cfg.QueueMaxTotal).Scan(&c.total); err != nil {
			return nil, fmt.Errorf("count queue: %w", err)
		}
		return c, nil
	}
	for _, n := range c.perType {
		c.total += n
	}
	if c.total < cfg.QueueMaxTotal {
		others, err := countOthers(ctx, tx, slices.Sorted(maps.Keys(c.perType)), cfg.QueueMaxTotal-c.total)
		if err != nil {
			return nil, err
		}
		c.total += others
	}
	c.total = min(c.total, cfg.QueueMaxTotal)
	return c, nil
}

// countOthers counts the queued jobs whose type is not in types (sorted),
// as one count per gap between them on idx_jobs_claim (status, type, …),
// each up to limit. The result is exact when it is below limit and at
// least limit otherwise, which is all the total cap needs.
func countOthers(ctx context.Context, tx rowQuerier, types []string, limit int) (int, error) {
	const count = `(SELECT count(*) FROM (SELECT 1 FROM jobs WHERE status = 'queued' AND `
	var sb strings.Builder
	args := make([]any, 0, 3*len(types)+1)
	sb.WriteString(`SELECT ` + count + `type < ? LIMIT ?))`)
	args = append(args, types[0], limit)
	for i := 1; i < len(types); i++ {
		sb.WriteString(` + ` + count + `type > ? AND type < ? LIMIT ?))`)
		args = append(args, types[i-1], types[i], limit)
	}
	sb.WriteString(` + ` + count + `type > ? LIMIT ?))`)
	args = append(args, types[len(types)-1], limit)
	var n int
	if err := tx.QueryRowContext(ctx, sb.String(), args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count queue: %w", err)
	}
	return n, nil
}

// countQueued counts the queued jobs of typ, up to limit.
func countQueued(ctx context.Context, tx rowQuerier, typ string, limit int) (int, error) {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM jobs WHERE status = 'queued' AND type = ? LIMIT ?)`, typ, limit).Scan(&n); err != nil {
		return 0, fmt.Errorf("count queue %s: %w", typ, err)
	}
	return n, nil
}

func (c *queueCounts) refuse(cfg Config, typ string, media *int64) (string, string) {
	if cfg.QueueMaxTotal > 0 && c.total >= cfg.QueueMaxTotal {
		return CodeQueueFullTotal, "job queue limit reached (total)"
	}
	if tc := cfg.typeCap(typ); tc > 0 && c.perType[typ] >= tc {
		return CodeQueueFullType, "job queue limit reached (" + typ + ")"
	}
	if media != nil && cfg.QueueMaxPerMedia > 0 {
		if n, ok := c.perMedia[mediaKey{typ, *media}]; ok && n >= cfg.QueueMaxPerMedia {
			return CodeQueueFullMedia, "job queue limit reached (media)"
		}
	}
	return "", ""
}

func (c *queueCounts) add(typ string, media *int64) {
	c.total++
	c.perType[typ]++
	if media != nil {
		c.perMedia[mediaKey{typ, *media}]++
	}
}

func marshalNull(v any) (sql.NullString, error) {
	switch x := v.(type) {
	case nil:
		return sql.NullString{}, nil
	case json.RawMessage:
		if len(x) == 0 {
			return sql.NullString{}, nil
		}
		if !json.Valid(x) {
			return sql.NullString{}, errors.New("invalid JSON")
		}
		return sql.NullString{String: string(x), Valid: true}, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return sql.NullString{}, err
	}
	if string(b) == "null" {
		return sql.NullString{}, nil
	}
	return sql.NullString{String: string(b), Valid: true}, nil
}

func nullInt(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

// backoff is the delay before retry number attempt (1-based): base·2^(n-1)
// capped, with ±20 % jitter so that a burst of failures does not come back
// as a burst.
func (q *Queue) backoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	base, capD := ms(q.cfg.RetryBaseMS), ms(q.cfg.RetryCapMS)
	d := base
	for i := 1; i < attempt && d < capD; i++ {
		d *= 2
	}
	if d > capD {
		d = capD
	}
	f := 0.8 + 0.4*q.jitter()
	return time.Duration(float64(d) * f)
}

// audit appends one audit_log row; failures to audit never fail the caller's
// transaction logic beyond returning the error.
func audit(ctx context.Context, ex db.Execer, now, action string, jobID int64, details any) error {
	b, _ := json.Marshal(details)
	_, err := ex.ExecContext(ctx, `INSERT INTO audit_log (action, entity_type, entity_id, details_json, actor_ip, actor_key, created_at) VALUES (?, 'job', ?, ?, NULL, NULL, ?)`,
		action, jobID, string(b), now)
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// Room is how many jobs of typ an enqueue could add right now before the
// total or the per-type cap refuses (the per-media cap is per media and
// not part of it); -1 when both caps are off. It counts like the enqueue
// does, so a producer that tops the queue up (media-worker) never runs
// into refusals on its own.
func (q *Queue) Room(ctx context.Context, typ string) (int, error) {
	cfg := q.cfg
	// Plain reads, no transaction: the DB opens transactions IMMEDIATE,
	// and an estimate of free room does not need the write lock.
	c, err := loadCounts(ctx, q.db, cfg, []EnqueueRequest{{Type: typ}})
	if err != nil {
		return 0, db.Classify(err)
	}
	room := -1
	if cfg.QueueMaxTotal > 0 {
		room = max(cfg.QueueMaxTotal-c.total, 0)
	}
	if tc := cfg.typeCap(typ); tc > 0 {
		free := max(tc-c.perType[typ], 0)
		if room < 0 || free < room {
			room = free
		}
	}
	return room, nil
}
