package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// CodeNotFound is the reason code for a missing media row.
const CodeNotFound = "media_not_found"

// ErrNotFound is returned (wrapped) when a media id has no row.
var ErrNotFound = reason.New(CodeNotFound, "media not found")

// Media is one media row.
type Media struct {
	ID            int64
	Path          string
	Type          string
	Source        string
	Width, Height int64
	Duration, FPS float64
	Filesize      int64
	Hash          string
	CreatedAt     string
	ImportedAt    string
	Rating        int
	NSFW          bool
	ParentID      int64
	Status        string
	Lifecycle     string
	Quality       string
	QualityScore  sql.NullFloat64
	DeletedAt     string
	Vote          string
	Active        bool
	Deleted       bool
}

// Name is the file's base name.
func (m Media) Name() string { return filepath.Base(strings.ReplaceAll(m.Path, `\`, "/")) }

// Get loads one media row.
func Get(ctx context.Context, q *sql.DB, id int64) (Media, error) {
	var m Media
	var parent sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT id, path, type, COALESCE(source,''), COALESCE(width,0), COALESCE(height,0),
		COALESCE(duration,0), COALESCE(fps,0), COALESCE(filesize,0), COALESCE(hash,''), COALESCE(created_at,''),
		COALESCE(imported_at,''), rating, has_nsfw, parent_media_id, COALESCE(status,''), COALESCE(lifecycle_status,''),
		COALESCE(quality_status,''), quality_score, COALESCE(deleted_at,''), COALESCE(status_vote,''), is_active, is_deleted
		FROM media WHERE id = ?`, id).Scan(&m.ID, &m.Path, &m.Type, &m.Source, &m.Width, &m.Height, &m.Duration, &m.FPS,
		&m.Filesize, &m.Hash, &m.CreatedAt, &m.ImportedAt, &m.Rating, &m.NSFW, &parent, &m.Status, &m.Lifecycle,
		&m.Quality, &m.QualityScore, &m.DeletedAt, &m.Vote, &m.Active, &m.Deleted)
	if errors.Is(err, sql.ErrNoRows) {
		return Media{}, fmt.Errorf("media %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Media{}, fmt.Errorf("load media %d: %w", id, db.Classify(err))
	}
	m.ParentID = parent.Int64
	return m, nil
}

// Prompt is a prompts or prompt_history row.
type Prompt struct {
	ID        int64
	Version   int
	Source    string
	CreatedAt string
	Prompt    string
	Negative  string
	// PromptRaw/NegativeRaw are the texts as written where they differ
	// from the trimmed Prompt/Negative ("" otherwise).
	PromptRaw      string
	NegativeRaw    string
	Model          string
	Sampler        string
	Scheduler      string
	CFG            string
	Steps          string
	Seed           string
	Width, Height  string
	Loras          string
	SourceMetadata string
}

// Tag is a tag of one media.
type Tag struct {
	ID         int64
	Name       string
	Type       string
	Confidence float64
	Locked     bool
}

// ScanResult is a scan_results row.
type ScanResult struct {
	Scanner   string
	RunAt     string
	NSFWScore sql.NullFloat64
	Flags     string
}

// MetaEntry is the newest value of one meta key.
type MetaEntry struct {
	Key, Value, Source, CreatedAt string
}

// OllamaResult is an ollama_results row.
type OllamaResult struct {
	Mode, Model, Title, Caption, CreatedAt string
	Score                                  sql.NullFloat64
	ParseError                             bool
}

// JobRow is a job as listings show it.
type JobRow struct {
	ID         int64
	MediaID    int64
	Type       string
	Status     string
	Attempts   int
	CreatedAt  string
	UpdatedAt  string
	StartedAt  string
	FinishedAt string
	Heartbeat  string
	ErrorCode  string
	Error      string
	Payload    string
	Stage      string
	Progress   int
	ProgressOf int
	// Warnings is the "warnings" object of the job's result (JSON, ""
	// when none): items that failed in a job that ended done.
	Warnings string
	// Live is the progress a running job reports (progress_json; "" when
	// none).
	Live string
	// Outcome is the "result" object of the job's result (JSON, ""): an
	// import's counts (imported, duplicates, unchanged, errors, …).
	Outcome string
}

// Lineage links a media to its parent, children and preferred variant.
type Lineage struct {
	Parent    *Card
	Children  []Card
	Preferred int64 // variant.preferred_media_id when valid
}

// Detail is everything the detail page shows.
type Detail struct {
	Media   Media
	Meta    []MetaEntry
	MetaMap map[string]string
	Prompt  *Prompt
	History []Prompt
	Tags    []Tag
	Scans   []ScanResult
	Ollama  []OllamaResult
	Jobs    []JobRow
	Lineage Lineage
	Clicks  int64
	Title   string
	Caption string
}

// DisplayTitle is the page's heading (see the function DisplayTitle).
func (d *Detail) DisplayTitle() string {
	return DisplayTitle(d.Title, d.MetaMap["original_name"], d.Media.Path)
}

func ns(s sql.NullString) string { return s.String }

// promptCols are the columns scanPrompt reads after id (and version,
// source, created_at for history rows).
const promptCols = `prompt, negative_prompt, model, sampler, scheduler, CAST(cfg_scale AS TEXT), CAST(steps AS TEXT), seed,
		CAST(width AS TEXT), CAST(height AS TEXT), loras, source_metadata, prompt_raw, negative_prompt_raw`

// scanPrompt reads one prompts (hist false) or prompt_history row.
func scanPrompt(r interface{ Scan(...any) error }, hist bool) (Prompt, error) {
	var p Prompt
	var pr, neg, model, sampler, sched, cfg, steps, seed, w, h, loras, srcm, src, created, prRaw, negRaw sql.NullString
	var err error
	if hist {
		err = r.Scan(&p.ID, &p.Version, &src, &created, &pr, &neg, &model, &sampler, &sched, &cfg, &steps, &seed, &w, &h, &loras, &srcm, &prRaw, &negRaw)
	} else {
		err = r.Scan(&p.ID, &pr, &neg, &model, &sampler, &sched, &cfg, &steps, &seed, &w, &h, &loras, &srcm, &prRaw, &negRaw)
	}
	p.Source, p.CreatedAt, p.Prompt, p.Negative, p.Model = ns(src), ns(created), ns(pr), ns(neg), ns(model)
	if prRaw.String != pr.String {
		p.PromptRaw = prRaw.String
	}
	if negRaw.String != neg.String {
		p.NegativeRaw = negRaw.String
	}
	p.Sampler, p.Scheduler, p.CFG, p.Steps, p.Seed = ns(sampler), ns(sched), ns(cfg), ns(steps), ns(seed)
	p.Width, p.Height, p.Loras, p.SourceMetadata = ns(w), ns(h), ns(loras), ns(srcm)
	return p, err
}

// CurrentPrompt is the media's current prompt row (nil when it has none):
// the detail page's and the lightbox's prompt.
func CurrentPrompt(ctx context.Context, q db.Execer, id int64) (*Prompt, error) {
	p, err := scanPrompt(q.QueryRowContext(ctx, `SELECT id, `+promptCols+` FROM prompts WHERE media_id = ? ORDER BY id DESC LIMIT 1`, id), false)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("detail prompt: %w", db.Classify(err))
	}
	return &p, nil
}

// LoadDetail loads the whole detail view of id with one query per section.
func LoadDetail(ctx context.Context, q *sql.DB, id int64) (*Detail, error) {
	m, err := Get(ctx, q, id)
	if err != nil {
		return nil, err
	}
	d := &Detail{Media: m, MetaMap: map[string]string{}}
	wrap := func(what string, err error) error { return fmt.Errorf("detail %s: %w", what, db.Classify(err)) }

	// Newest row per key: the append-only log is read in id order.
	rows, err := q.QueryContext(ctx, `SELECT meta_key, COALESCE(meta_value,''), source, created_at FROM media_meta
		WHERE media_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, wrap("meta", err)
	}
	pos := map[string]int{}
	for rows.Next() {
		var e MetaEntry
		if err := rows.Scan(&e.Key, &e.Value, &e.Source, &e.CreatedAt); err != nil {
			rows.Close()
			return nil, wrap("meta", err)
		}
		if i, ok := pos[e.Key]; ok {
			d.Meta[i] = e
		} else {
			pos[e.Key] = len(d.Meta)
			d.Meta = append(d.Meta, e)
		}
		d.MetaMap[e.Key] = e.Value
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrap("meta", err)
	}
	d.Title = d.MetaMap["ollama.title"]
	if v := d.MetaMap["title.override"]; v != "" {
		d.Title = v
	}
	d.Caption = d.MetaMap["ollama.caption"]

	if d.Prompt, err = CurrentPrompt(ctx, q, id); err != nil {
		return nil, err
	}
	rows, err = q.QueryContext(ctx, `SELECT id, version, source, created_at, `+promptCols+` FROM prompt_history
		WHERE media_id = ? ORDER BY version DESC LIMIT 50`, id)
	if err != nil {
		return nil, wrap("prompt history", err)
	}
	for rows.Next() {
		p, err := scanPrompt(rows, true)
		if err != nil {
			rows.Close()
			return nil, wrap("prompt history", err)
		}
		d.History = append(d.History, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrap("prompt history", err)
	}

	rows, err = q.QueryContext(ctx, `SELECT t.id, t.name, t.type, mt.confidence, mt.locked FROM media_tags mt
		JOIN tags t ON t.id = mt.tag_id WHERE mt.media_id = ? ORDER BY mt.locked DESC, mt.confidence DESC, t.name`, id)
	if err != nil {
		return nil, wrap("tags", err)
	}
	for rows.Next() {
		var t Tag
		if err := rows.Scan(&t.ID, &t.Name, &t.Type, &t.Confidence, &t.Locked); err != nil {
			rows.Close()
			return nil, wrap("tags", err)
		}
		d.Tags = append(d.Tags, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrap("tags", err)
	}

	rows, err = q.QueryContext(ctx, `SELECT scanner, run_at, nsfw_score, COALESCE(flags,'') FROM scan_results
		WHERE media_id = ? ORDER BY id DESC LIMIT 20`, id)
	if err != nil {
		return nil, wrap("scans", err)
	}
	for rows.Next() {
		var s ScanResult
		if err := rows.Scan(&s.Scanner, &s.RunAt, &s.NSFWScore, &s.Flags); err != nil {
			rows.Close()
			return nil, wrap("scans", err)
		}
		d.Scans = append(d.Scans, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrap("scans", err)
	}

	rows, err = q.QueryContext(ctx, `SELECT mode, model, COALESCE(title,''), COALESCE(caption,''), created_at, score, parse_error
		FROM ollama_results WHERE media_id = ? ORDER BY id DESC LIMIT 30`, id)
	if err != nil {
		return nil, wrap("ollama", err)
	}
	for rows.Next() {
		var o OllamaResult
		if err := rows.Scan(&o.Mode, &o.Model, &o.Title, &o.Caption, &o.CreatedAt, &o.Score, &o.ParseError); err != nil {
			rows.Close()
			return nil, wrap("ollama", err)
		}
		d.Ollama = append(d.Ollama, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrap("ollama", err)
	}

	jobs, err := ListJobs(ctx, q, JobQuery{MediaID: id, Limit: 30})
	if err != nil {
		return nil, err
	}
	d.Jobs = jobs

	if m.ParentID > 0 {
		cards, err := cardsWhere(ctx, q, "m.id = ?", m.ParentID)
		if err != nil {
			return nil, err
		}
		if len(cards) > 0 {
			d.Lineage.Parent = &cards[0]
		}
	}
	children, err := cardsWhere(ctx, q, "m.parent_media_id = ? ORDER BY m.id LIMIT 50", id)
	if err != nil {
		return nil, err
	}
	d.Lineage.Children = children
	if v, err := strconv.ParseInt(d.MetaMap["variant.preferred_media_id"], 10, 64); err == nil {
		for _, c := range children {
			if c.ID == v {
				d.Lineage.Preferred = v
			}
		}
	}
	_ = q.QueryRowContext(ctx, "SELECT clicks FROM media_activity WHERE media_id = ?", id).Scan(&d.Clicks)
	return d, nil
}

func cardsWhere(ctx context.Context, q *sql.DB, where string, args ...any) ([]Card, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+cardColumns+", m.id FROM media m WHERE "+where, args...)
	if err != nil {
		return nil, fmt.Errorf("lineage: %w", db.Classify(err))
	}
	defer rows.Close()
	var cards []Card
	for rows.Next() {
		var c Card
		if err := rows.Scan(&c.ID, &c.Path, &c.Type, &c.Width, &c.Height, &c.Duration, &c.Filesize, &c.Rating,
			&c.NSFW, &c.Status, &c.Lifecycle, &c.Quality, &c.Vote, &c.Active, &c.Deleted, &c.Hash, &c.ImportedAt, &c.sortKey); err != nil {
			return nil, fmt.Errorf("lineage: %w", db.Classify(err))
		}
		c.Name = filepath.Base(strings.ReplaceAll(c.Path, `\`, "/"))
		cards = append(cards, c)
	}
	return cards, rows.Err()
}

// CursorOf is the keyset position of media id in f's order (ok false
// when there is no such media), so a list can continue right after a
// given media (a culling pass resuming after its last decision).
func CursorOf(ctx context.Context, q db.Execer, f Filter, id int64) (Cursor, bool, error) {
	var key sql.NullInt64
	if err := q.QueryRowContext(ctx, "SELECT "+f.sortSpec().key+" FROM media m WHERE m.id = ?", id).Scan(&key); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Cursor{}, false, nil
		}
		return Cursor{}, false, fmt.Errorf("neighbours: %w", db.Classify(err))
	}
	return Cursor{Key: key.Int64, KeyNull: !key.Valid, ID: id}, true, nil
}

// Neighbours returns the previous and next media id of id in the order of f
// (0 when there is none), so the detail page navigates within the list.
func Neighbours(ctx context.Context, q *sql.DB, f Filter, id int64, now int64) (prev, next int64, err error) {
	s := f.sortSpec()
	c, ok, err := CursorOf(ctx, q, f, id)
	if err != nil || !ok {
		return 0, 0, err
	}
	qs, err := f.source(ctx, q, now)
	if err != nil {
		return 0, 0, fmt.Errorf("neighbours: %w", err)
	}
	// The neighbour is the first row of the list's own query (same filter,
	// same order) strictly after c, found seek by seek (keysetParts).
	one := func(desc bool) (int64, error) {
		for i := range len(keysetParts(qs.s, c, desc)) {
			sqlText, args := qs.queryWith("m.id", func(s sortSpec) (string, []any) {
				parts := keysetParts(s, c, desc)
				if i >= len(parts) {
					return "0", nil // an arm with fewer parts (id key) has nothing more
				}
				return parts[i].cond, parts[i].args
			}, desc, 1, 0)
			var out int64
			var key sql.NullInt64
			err := q.QueryRowContext(ctx, sqlText, args...).Scan(&out, &key)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return 0, fmt.Errorf("neighbours: %w", db.Classify(err))
			}
			return out, nil
		}
		return 0, nil
	}
	if next, err = one(s.desc); err != nil {
		return 0, 0, err
	}
	if prev, err = one(!s.desc); err != nil {
		return 0, 0, err
	}
	return prev, next, nil
}
