package bulk

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/catalog"
	"github.com/localsupervisor/supervisor/pkg/collections"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// State is a run's durable progress, stored in the job's payload with the
// request and replaced in the transaction of every chunk.
type State struct {
	// Counted: Total is known (the first step of a run).
	Counted bool `json:"counted,omitempty"`
	Total   int  `json:"total"`
	// After is the highest media id finished: the walk resumes above it.
	After int64 `json:"after"`
	// Done changed media; Skipped media the action did not apply to, by
	// reason code in Skips (gone meanwhile, tag absent or locked, queue
	// full…).
	Done    int            `json:"done"`
	Skipped int            `json:"skipped"`
	Skips   map[string]int `json:"skips,omitempty"`
	// Jobs counts the jobs queued for other workers (rescan, Ollama,
	// Forge).
	Jobs int `json:"jobs,omitempty"`
}

func (st *State) skip(code string) {
	st.Skipped++
	if st.Skips == nil {
		st.Skips = map[string]int{}
	}
	st.Skips[code]++
}

// clone copies st for a chunk transaction that may roll back.
func (st State) clone() State {
	if st.Skips != nil {
		m := make(map[string]int, len(st.Skips))
		for k, v := range st.Skips {
			m[k] = v
		}
		st.Skips = m
	}
	return st
}

// Payload is the media_bulk job's payload_json.
type Payload struct {
	Request
	State State `json:"state"`
}

// Checkpoint records p (with its advanced State) and n more media finished
// inside tx, the transaction that commits their changes. The job's
// checkpoint fences the write with the claim (a worker that lost the job
// rolls its chunk back); nil for a run inside a web request.
type Checkpoint func(ctx context.Context, tx *sql.Tx, p Payload, n int) error

// Service runs bulk actions.
type Service struct {
	// DB is the writer connection.
	DB *sql.DB
	// Queue queues rescan jobs (nil: rescan refused).
	Queue *jobs.Queue
	// Roots are the library roots: 18+ moves files between them, hard
	// delete removes files only inside them.
	Roots library.Roots
	// DeleteRoots are the folders hard delete may remove files in: the
	// library roots and the derivatives folder, as for the single-media
	// hard delete (nil: Roots.All()).
	DeleteRoots []string
	Clock       svtime.Clock
	// Chunk is the media per chunk transaction (0: DefaultChunk).
	Chunk int
	// Services says which optional services are switched on (tagger,
	// ollama, forge); an action needing one that is off is refused.
	Services map[string]bool
	// Ollama queues Ollama jobs for one media in mode (nil: refused), as
	// the detail page's analyze button does; it dedupes live jobs.
	Ollama func(ctx context.Context, id int64, mode string) (queued int, err error)
	// Forge queues a Forge regen of one media with a recipe (nil:
	// refused), as the Forge panel does.
	Forge func(ctx context.Context, id int64, recipe string) (jobID int64, err error)
	// Spawn starts the worker that runs the jobs an action queued
	// (scan-worker, ollama-service, forge-worker), fire-and-forget; nil:
	// the workers' own schedule picks them up.
	Spawn func(ctx context.Context, worker string)
	// Purge drops the cached thumbnails of a hard-deleted media (nil: none
	// cached here).
	Purge func(id int64)
	// Committed, when set, is told the State after every committed chunk
	// (the worker logs it; tests pace a run with it).
	Committed func(st State)
}

// Services named by Service.Services.
const (
	ServiceTagger = "tagger"
	ServiceOllama = "ollama"
	ServiceForge  = "forge"
)

// Needs names the optional service an action needs ("" for none) and the
// worker that runs the jobs it queues.
func Needs(action string) (service, worker string) {
	switch action {
	case ActRescan:
		return ServiceTagger, "scan-worker"
	case ActOllamaAnalyze:
		return ServiceOllama, "ollama-service"
	case ActForgeRegen:
		return ServiceForge, "forge-worker"
	}
	return "", ""
}

func (s *Service) now() time.Time {
	if s.Clock == nil {
		return time.Now()
	}
	return s.Clock.Now()
}

// ready refuses an action whose service is off or not wired here.
func (s *Service) ready(a Action) error {
	svc, _ := Needs(a.Name)
	if svc != "" && s.Services != nil && !s.Services[svc] {
		return reason.Newf(CodeServiceOff, "%s is switched off in the configuration; switch it on to %s", svc, strings.ReplaceAll(a.Name, "_", " ")).With("service", svc)
	}
	switch {
	case a.Name == ActRescan && s.Queue == nil,
		a.Name == ActOllamaAnalyze && s.Ollama == nil,
		a.Name == ActForgeRegen && s.Forge == nil:
		return reason.Newf(CodeServiceOff, "%s is not available in this process", svc).With("service", svc)
	}
	return nil
}

// Count fills State.Total once: the size of the selection (uncapped).
func (s *Service) Count(ctx context.Context, p *Payload) error {
	if p.State.Counted {
		return nil
	}
	if !p.All {
		p.State.Total = len(p.IDs)
	} else {
		f, err := p.Filter()
		if err != nil {
			return err
		}
		if p.State.Total, err = catalog.SelectionCount(ctx, s.DB, f, p.At, 0, p.UpTo); err != nil {
			return err
		}
	}
	p.State.Counted = true
	return nil
}

// readAhead is how many chunks of ids one read of the selection fetches.
const readAhead = 10

// next returns the next n ids of the selection above State.After.
func (s *Service) next(ctx context.Context, p *Payload, f catalog.Filter, n int) ([]int64, error) {
	if p.All {
		return catalog.SelectionIDs(ctx, s.DB, f, p.At, p.State.After, p.UpTo, n)
	}
	i, _ := slices.BinarySearch(p.IDs, p.State.After+1)
	return p.IDs[i:min(i+n, len(p.IDs))], nil
}

// Run applies p's action to the rest of its selection, chunk by chunk,
// calling cp in every chunk's transaction. It returns the final State;
// on an error the State of the last committed chunk (p.State) stands.
func (s *Service) Run(ctx context.Context, p *Payload, cp Checkpoint) (State, error) {
	p.Normalize()
	if err := p.Validate(); err != nil {
		return p.State, err
	}
	if err := s.ready(p.Action); err != nil {
		return p.State, err
	}
	if err := s.Count(ctx, p); err != nil {
		return p.State, err
	}
	var f catalog.Filter
	if p.All {
		f, _ = p.Filter()
	}
	chunk := cmp.Or(s.Chunk, DefaultChunk)
	one := slices.Contains(perMedia, p.Action.Name)
	if one {
		// One media per transaction: its outside effect cannot join the
		// transaction, so the window in which a crash repeats it is one
		// media (whose path is idempotent), not a chunk.
		chunk = 1
	}
	act, err := s.prepare(ctx, p.Action)
	if err != nil {
		return p.State, err
	}
	// The selection is read readAhead chunks at a time: a text query
	// costs one index lookup per read, not per chunk. A read batch is
	// used up before the next one, so it always starts after the last
	// committed id.
	read := max(chunk, DefaultChunk) * readAhead
	var buf []int64
	for {
		if err := ctx.Err(); err != nil {
			return p.State, err
		}
		if len(buf) == 0 {
			if buf, err = s.next(ctx, p, f, read); err != nil {
				return p.State, err
			}
			if len(buf) == 0 {
				return p.State, nil
			}
		}
		ids := buf[:min(chunk, len(buf))]
		buf = buf[len(ids):]
		var outside outcome
		if one {
			outside = s.outside(ctx, p, act, ids[0])
			if outside.err != nil {
				return p.State, outside.err
			}
		}
		st := p.State.clone()
		err = db.InTx(ctx, s.DB, func(tx *sql.Tx) error {
			st = p.State.clone()
			if one {
				if err := s.record(ctx, tx, p, &st, ids[0], outside); err != nil {
					return err
				}
			} else if err := s.chunk(ctx, tx, p, act, &st, ids); err != nil {
				return err
			}
			st.After = ids[len(ids)-1]
			if cp == nil {
				return nil
			}
			q := *p
			q.State = st
			return cp(ctx, tx, q, len(ids))
		})
		if err != nil {
			return p.State, err
		}
		p.State = st
		if s.Committed != nil {
			s.Committed(st)
		}
	}
}

// prepared is an action with what its chunks look up once (the tag id of
// tag_remove).
type prepared struct {
	Action
	tagID int64
}

func (s *Service) prepare(ctx context.Context, a Action) (prepared, error) {
	pa := prepared{Action: a}
	pa.Tag = strings.TrimSpace(a.Tag)
	pa.TagType = cmp.Or(strings.TrimSpace(a.TagType), media.DefaultTagType)
	if a.Name == ActTagRemove {
		err := s.DB.QueryRowContext(ctx, "SELECT id FROM tags WHERE name = ? AND type = ?", pa.Tag, pa.TagType).Scan(&pa.tagID)
		if errors.Is(err, sql.ErrNoRows) {
			return pa, reason.Newf(CodeBadValue, "no tag %q exists", pa.Tag)
		}
		if err != nil {
			return pa, fmt.Errorf("find tag: %w", db.Classify(err))
		}
	}
	return pa, nil
}

// existing keeps the ids that still have a media row (inside the chunk's
// transaction, so a media deleted meanwhile is skipped, not an error).
func existing(ctx context.Context, tx *sql.Tx, ids []int64) (map[int64]bool, error) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	have, err := db.QueryIDs(ctx, tx, "SELECT id FROM media WHERE id IN (?"+strings.Repeat(",?", len(ids)-1)+")", args...)
	if err != nil {
		return nil, fmt.Errorf("bulk chunk: %w", err)
	}
	out := make(map[int64]bool, len(have))
	for _, id := range have {
		out[id] = true
	}
	return out, nil
}

// Skip codes.
const (
	SkipGone = "media_not_found"
)

// chunk applies a database action to ids inside tx.
func (s *Service) chunk(ctx context.Context, tx *sql.Tx, p *Payload, a prepared, st *State, ids []int64) error {
	have, err := existing(ctx, tx, ids)
	if err != nil {
		return err
	}
	var live []int64
	for _, id := range ids {
		if have[id] {
			live = append(live, id)
		} else {
			st.skip(SkipGone)
		}
	}
	if len(live) == 0 {
		return nil
	}
	at := time.Unix(p.At, 0)
	if p.At == 0 {
		at = s.now()
	}
	now := s.now()
	switch a.Name {
	case ActCollAdd, ActCollRemove:
		by := collections.Actor{At: now, IP: p.ActorIP, Key: p.ActorKey}
		if a.Name == ActCollAdd {
			r, err := collections.AddTx(ctx, tx, a.Collection, live, by)
			if err != nil {
				return err
			}
			st.Done += r.Added
			for range r.Already {
				st.skip("collection_already_member")
			}
			return nil
		}
		n, err := collections.RemoveTx(ctx, tx, a.Collection, live, by)
		if err != nil {
			return err
		}
		st.Done += n
		for range len(live) - n {
			st.skip(collections.CodeNotMember)
		}
		return nil
	case ActRescan:
		reqs := make([]jobs.EnqueueRequest, len(live))
		for i := range live {
			reqs[i] = jobs.EnqueueRequest{Type: jobs.TypeRescanMedia, MediaID: &live[i],
				Payload: map[string]any{"media_id": live[i], "source": "web_bulk"}}
		}
		res, err := s.Queue.EnqueueTx(ctx, tx, reqs)
		if err != nil {
			return err
		}
		for i, r := range res {
			if r.ReasonCode != "" {
				st.skip(r.ReasonCode)
				continue
			}
			st.Done++
			if !r.Deduped {
				st.Jobs++
			}
			if err := s.audit(ctx, tx, p, live[i], map[string]any{"job_id": r.JobID, "deduped": r.Deduped}, now); err != nil {
				return err
			}
		}
		return nil
	}
	for _, id := range live {
		value, err := s.apply(ctx, tx, a, id, at)
		if code := reason.Code(err); err != nil && (code == media.CodeTagNotFound || code == media.CodeTagLocked) {
			st.skip(code)
			continue
		}
		if err != nil {
			return err
		}
		st.Done++
		if err := s.audit(ctx, tx, p, id, map[string]any{"value": value}, now); err != nil {
			return err
		}
	}
	return nil
}

// apply changes one media inside tx through the same media functions the
// single-media actions use; it returns the value recorded in the audit row.
func (s *Service) apply(ctx context.Context, tx *sql.Tx, a prepared, id int64, now time.Time) (any, error) {
	switch a.Name {
	case ActRate:
		return a.Rating, media.SetRating(ctx, tx, id, a.Rating)
	case ActTagAdd:
		_, err := media.AddTag(ctx, tx, id, a.Tag, a.TagType, 1.0, false)
		return a.Tag, err
	case ActTagRemove:
		return a.Tag, media.RemoveTag(ctx, tx, id, a.tagID)
	case ActChecked:
		v := "0"
		if a.On {
			v = "1"
		}
		if _, err := media.SetMeta(ctx, tx, id, "web", "curation.checked", v, now); err != nil {
			return v, err
		}
		_, err := media.SetMeta(ctx, tx, id, "web", "curation.checked_at", strconv.FormatInt(now.Unix(), 10), now)
		return v, err
	case ActSoftDelete:
		return nil, media.SoftDelete(ctx, tx, id, now)
	case ActRestore:
		return nil, media.Restore(ctx, tx, id)
	}
	return nil, reason.Newf(CodeUnknownAction, "action %q is not a chunk action", a.Name)
}

// audit writes the media's audit row for the bulk change: the action's
// name (as the single-media action writes it) and, in the details, the
// value and that it was a bulk change.
func (s *Service) audit(ctx context.Context, tx *sql.Tx, p *Payload, id int64, details map[string]any, now time.Time) error {
	details["bulk"] = true
	return media.Audit(ctx, tx, media.AuditEntry{Action: p.Action.Name, EntityType: "media", EntityID: id,
		Details: details, ActorIP: p.ActorIP, ActorKey: p.ActorKey, At: now})
}

// outcome is what an outside effect did for one media.
type outcome struct {
	skip    string // reason code when it did not apply
	details map[string]any
	jobs    int
	err     error // the run stops (transient: the job retries)
}

// outside runs a per-media action's effect through its existing code
// path. A media that is gone or refused permanently is skipped; a
// transient failure stops the run so the job retries from this media.
func (s *Service) outside(ctx context.Context, p *Payload, a prepared, id int64) outcome {
	now := s.now()
	var o outcome
	var err error
	switch a.Name {
	case ActNSFW:
		// Moves the file between the adult and the safe root and records
		// the manual decision; a repeat finds the file in place.
		_, err = media.SetNSFW(ctx, s.DB, s.Roots, id, a.On, now)
		o.details = map[string]any{"value": a.On}
	case ActHardDelete:
		// The one file-removal path: row first (with its own audit row),
		// then the file, only inside the library roots.
		var removed bool
		roots := s.DeleteRoots
		if roots == nil {
			roots = s.Roots.All()
		}
		removed, err = media.HardDelete(ctx, s.DB, roots, id, now)
		if err == nil && s.Purge != nil {
			s.Purge(id)
		}
		o.details = map[string]any{"value": removed}
	case ActOllamaAnalyze:
		var n int
		n, err = s.Ollama(ctx, id, cmp.Or(a.Mode, "caption"))
		o.jobs, o.details = n, map[string]any{"mode": cmp.Or(a.Mode, "caption"), "queued": n}
	case ActForgeRegen:
		var live bool
		if live, err = s.forgeQueued(ctx, p, id); err == nil && live {
			// A repeat after a crash: the regen this run queued is there.
			o.details = map[string]any{"recipe": a.Recipe, "already_queued": true}
			return o
		}
		var jobID int64
		if err == nil {
			jobID, err = s.Forge(ctx, id, a.Recipe)
		}
		o.details = map[string]any{"recipe": a.Recipe, "job_id": jobID}
		if err == nil {
			o.jobs = 1
		}
	}
	switch {
	case err == nil:
	case reason.Code(err) == media.CodeNotFound || reason.Code(err) == "media_not_found" || errors.Is(err, catalog.ErrNotFound):
		o.skip = SkipGone
	case reason.IsPermanent(err) && reason.Code(err) != "":
		o.skip = reason.Code(err)
	default:
		o.err = err
	}
	return o
}

// forgeQueued reports whether a Forge job of the media was queued since
// the selection was made and is still live: Forge jobs are not deduped per
// media (two regens of one image are a normal request), so a run that
// repeats a media after a crash checks for its own job.
func (s *Service) forgeQueued(ctx context.Context, p *Payload, id int64) (bool, error) {
	var one int
	err := s.DB.QueryRowContext(ctx, `SELECT 1 FROM jobs WHERE media_id = ? AND type IN (?,?,?)
		AND status IN ('queued','running') AND created_at >= ? LIMIT 1`, id,
		jobs.TypeForgeRegen, jobs.TypeForgeRegenReplace, jobs.TypeForgeRegenV3, svtime.Format(time.Unix(p.At, 0))).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("forge jobs of media %d: %w", id, db.Classify(err))
	}
	return true, nil
}

// record writes a per-media action's outcome (audit row, counters) in the
// checkpoint's transaction.
func (s *Service) record(ctx context.Context, tx *sql.Tx, p *Payload, st *State, id int64, o outcome) error {
	if o.skip != "" {
		st.skip(o.skip)
		return nil
	}
	st.Done++
	st.Jobs += o.jobs
	return s.audit(ctx, tx, p, id, o.details, s.now())
}
