// Package ollamasvc runs the Ollama enrichment around pkg/ollama: candidate
// selection and enqueueing, the long-running service that claims jobs and
// runs each in an ollama-worker child process with a hard deadline, the
// child side, the health gate, runtime status/heartbeat files and per-job
// trace files.
package ollamasvc

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/ollama"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// DefaultEnqueueLimit is the per-mode candidate limit when none is given.
const DefaultEnqueueLimit = 50

// EnqueueOptions are the ollama-enqueue flags / web enqueue filters.
type EnqueueOptions struct {
	// Modes to enqueue; empty means every job mode (AllModes without
	// dupe_hints, which is not a job).
	Modes []ollama.Mode
	// Limit caps candidates per mode (0 = DefaultEnqueueLimit, <0 = no cap).
	Limit int
	// Since keeps media imported at or after this RFC 3339 time.
	Since string
	// All ignores "already has a result" (not for nsfw_classify and
	// prompt_recon, which are always missing-only unless Force).
	All bool
	// MissingTitle / MissingCaption restrict a multi-mode run to title /
	// caption and keep those missing-only even with All (the original's
	// inverted semantics are not kept).
	MissingTitle   bool
	MissingCaption bool
	// MediaID selects exactly that media (still subject to the mode's
	// media-type requirement unless Force).
	MediaID int64
	// Force re-enqueues even when results exist.
	Force bool
	// VideoFrames lets vision modes select videos (a frame is sent).
	VideoFrames bool
	// PromptEvalFallbackTags lets prompt_eval run on media without a prompt
	// but with tags (ollama.prompt_eval_fallback = "tags").
	PromptEvalFallbackTags bool
}

// ModeCount is the per-mode part of an EnqueueSummary.
type ModeCount struct {
	Candidates int `json:"candidates"`
	Enqueued   int `json:"enqueued"`
	Deduped    int `json:"deduped"`
	Skipped    int `json:"skipped"`
}

// EnqueueSummary reports an enqueue run.
type EnqueueSummary struct {
	Candidates int                  `json:"candidates"`
	Enqueued   int                  `json:"enqueued"`
	Deduped    int                  `json:"deduped"`
	Skipped    int                  `json:"skipped"`
	ByMode     map[string]ModeCount `json:"by_mode"`
	SkipCodes  map[string]int       `json:"skip_codes,omitempty"`
	JobIDs     []int64              `json:"job_ids,omitempty"`
}

// JobModes returns the modes that run as jobs, in dependency order.
func JobModes() []ollama.Mode {
	var out []ollama.Mode
	for _, m := range ollama.AllModes() {
		if m != ollama.ModeDupeHints {
			out = append(out, m)
		}
	}
	return out
}

// JobTypes returns the job types of JobModes.
func JobTypes() []string {
	var out []string
	for _, m := range JobModes() {
		out = append(out, m.JobType())
	}
	return out
}

// ForMedia is "analyze this media": the modes of mode ("all" or names) for
// exactly media id, forced, with the config's video frames and prompt_eval
// fallback. The detail page's button and the bulk action both use it.
func ForMedia(cfg ollama.Config, id int64, mode string) (EnqueueOptions, error) {
	modes, err := ResolveModes(mode)
	if err != nil {
		return EnqueueOptions{}, err
	}
	return EnqueueOptions{Modes: modes, MediaID: id, Force: true, VideoFrames: cfg.VideoFrames,
		PromptEvalFallbackTags: cfg.PromptEvalFallback == "tags"}, nil
}

// ResolveModes turns a --mode value ("all" or a name, comma-separated) into
// modes in dependency order.
func ResolveModes(s string) ([]ollama.Mode, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "all" {
		return JobModes(), nil
	}
	want := map[ollama.Mode]bool{}
	for _, p := range strings.Split(s, ",") {
		m, err := ollama.ParseMode(strings.TrimSpace(p))
		if err != nil || m == ollama.ModeDupeHints {
			return nil, reason.Permanent("invalid_mode", fmt.Errorf("unknown ollama mode %q (dupe_hints runs via ollama-dupe-hints)", p))
		}
		want[m] = true
	}
	var out []ollama.Mode
	for _, m := range JobModes() {
		if want[m] {
			out = append(out, m)
		}
	}
	return out, nil
}

// Enqueuer selects candidates and enqueues Ollama jobs.
type Enqueuer struct {
	Queue *jobs.Queue
	Clock svtime.Clock
}

// Enqueue selects the candidates of every requested mode and enqueues them in
// one transaction (EnqueueMany: dedupe per media+type, queue caps). Modes are
// processed in dependency order, and a dependent mode (prompt_recon, embed)
// counts an input as present when the input mode is enqueued for that media
// in this run or already queued, so one --mode=all run leads to complete
// results (the service claims dependencies first).
func (e *Enqueuer) Enqueue(ctx context.Context, o EnqueueOptions) (EnqueueSummary, error) {
	sum := EnqueueSummary{ByMode: map[string]ModeCount{}, SkipCodes: map[string]int{}}
	modes := o.Modes
	if len(modes) == 0 {
		modes = JobModes()
	}
	if o.MissingTitle || o.MissingCaption {
		var keep []ollama.Mode
		for _, m := range modes {
			if (m == ollama.ModeTitle && o.MissingTitle) || (m == ollama.ModeCaption && o.MissingCaption) {
				keep = append(keep, m)
			}
		}
		if len(modes) > 1 || len(keep) > 0 {
			modes = keep
		}
	}
	limit := o.Limit
	if limit == 0 {
		limit = DefaultEnqueueLimit
	}
	planned := map[ollama.Mode]map[int64]bool{}
	var reqs []jobs.EnqueueRequest
	var reqModes []ollama.Mode
	now := svtime.NowString(e.Clock)
	for _, m := range modes {
		ids, err := e.candidates(ctx, m, o, limit, planned)
		if err != nil {
			return sum, err
		}
		set := make(map[int64]bool, len(ids))
		for _, id := range ids {
			set[id] = true
			id := id
			reqs = append(reqs, jobs.EnqueueRequest{Type: m.JobType(), MediaID: &id,
				Payload: map[string]any{"media_id": id, "mode": string(m), "created_at": now}})
			reqModes = append(reqModes, m)
		}
		planned[m] = set
		mc := sum.ByMode[string(m)]
		mc.Candidates = len(ids)
		sum.ByMode[string(m)] = mc
		sum.Candidates += len(ids)
	}
	if len(reqs) == 0 {
		return sum, nil
	}
	res, err := e.Queue.EnqueueMany(ctx, reqs)
	if err != nil {
		return sum, fmt.Errorf("enqueue ollama jobs: %w", err)
	}
	for i, r := range res {
		mc := sum.ByMode[string(reqModes[i])]
		switch {
		case r.Err != nil || r.ReasonCode != "" && r.JobID == 0:
			mc.Skipped++
			sum.Skipped++
			sum.SkipCodes[reason.CodeOr(r.Err, r.ReasonCode)]++
		case r.Deduped:
			mc.Deduped++
			sum.Deduped++
		default:
			mc.Enqueued++
			sum.Enqueued++
			sum.JobIDs = append(sum.JobIDs, r.JobID)
		}
		sum.ByMode[string(reqModes[i])] = mc
	}
	return sum, nil
}

// candidates returns the media ids mode m should run on. Missing-ness is
// always ollama.Mode.OutputKey (the one definition shared with the store).
func (e *Enqueuer) candidates(ctx context.Context, m ollama.Mode, o EnqueueOptions, limit int, planned map[ollama.Mode]map[int64]bool) ([]int64, error) {
	where := []string{"m.is_deleted = 0", "m.status = 'active'"}
	var args []any
	if o.MediaID > 0 {
		where = append(where, "m.id = ?")
		args = append(args, o.MediaID)
	}
	if o.Since != "" {
		where = append(where, "m.imported_at >= ?")
		args = append(args, o.Since)
	}
	if m.RequiresImage() && !(o.Force && o.MediaID > 0) {
		if o.VideoFrames {
			where = append(where, "m.type IN ('image', 'video')")
		} else {
			where = append(where, "m.type = 'image'")
		}
		where = append(where, "NOT EXISTS (SELECT 1 FROM media_meta x WHERE x.meta_key = 'ollama.too_large_for_vision' AND x.media_id = m.id)")
	}
	missingOnly := !o.All || m == ollama.ModeNSFWClassify || m == ollama.ModePromptRecon ||
		(m == ollama.ModeTitle && o.MissingTitle) || (m == ollama.ModeCaption && o.MissingCaption)
	if o.Force {
		missingOnly = false
	}
	if missingOnly {
		where = append(where, "NOT EXISTS (SELECT 1 FROM media_meta x WHERE x.meta_key = ? AND x.media_id = m.id)")
		args = append(args, m.OutputKey())
	}
	hasTags := "EXISTS (SELECT 1 FROM media_tags mt WHERE mt.media_id = m.id)"
	hasPrompt := "EXISTS (SELECT 1 FROM prompts p WHERE p.media_id = m.id AND TRIM(COALESCE(p.prompt, '')) <> '')"
	// Inputs that a dependency produces may also come from a job that is
	// already queued/running or planned in this run (checked in Go).
	var needAny []ollama.Mode
	switch m {
	case ollama.ModePromptEval:
		if o.PromptEvalFallbackTags {
			where = append(where, "("+hasPrompt+" OR "+hasTags+")")
		} else {
			where = append(where, hasPrompt)
		}
	case ollama.ModeTagsNormalize:
		where = append(where, hasTags)
	case ollama.ModePromptRecon:
		needAny = m.DependsOn()
	case ollama.ModeEmbed:
		needAny = m.DependsOn()
	}
	q := "SELECT m.id FROM media m WHERE " + strings.Join(where, " AND ")
	if len(needAny) > 0 {
		var keys []string
		var types []string
		for _, d := range needAny {
			keys = append(keys, "'"+d.ValueKey()+"'")
			types = append(types, "'"+d.JobType()+"'")
		}
		extra := "EXISTS (SELECT 1 FROM media_meta x WHERE x.meta_key IN (" + strings.Join(keys, ",") + ") AND x.media_id = m.id)" +
			" OR EXISTS (SELECT 1 FROM jobs j WHERE j.media_id = m.id AND j.status IN ('queued','running') AND j.type IN (" + strings.Join(types, ",") + "))"
		if m == ollama.ModePromptRecon {
			// prompt_recon also works from raw tags (ReconTags falls back to them).
			extra += " OR " + hasTags
		}
		q += " AND (" + extra + " OR m.id IN (SELECT value FROM json_each(?)))"
		var plannedIDs []int64
		for _, d := range needAny {
			for id := range planned[d] {
				plannedIDs = append(plannedIDs, id)
			}
		}
		args = append(args, idsJSON(plannedIDs))
	}
	q += " ORDER BY m.id"
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := e.Queue.DB().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("candidates %s: %w", m, err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func idsJSON(ids []int64) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d", id)
	}
	b.WriteByte(']')
	return b.String()
}

// ParseSince parses --since leniently: a date or an RFC 3339 time.
func ParseSince(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if t, ok := svtime.Parse(s); ok {
		return svtime.Format(t), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return svtime.Format(t), nil
	}
	return "", reason.Permanent("invalid_since", fmt.Errorf("--since %q is not a date (YYYY-MM-DD or RFC 3339)", s))
}
