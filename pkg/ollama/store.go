package ollama

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// StoreOptions configures a Store.
type StoreOptions struct {
	// NSFWUpdatesMedia lets nsfw_classify raise media.has_nsfw / rating
	// (config ollama.nsfw_updates_media).
	NSFWUpdatesMedia bool
	// Fence, when set, runs first inside every transaction that stores a
	// result, a failure or the too-large marker; an error aborts the write.
	// The job service checks there that the job is still running under the
	// child's owner token, so a job deleted or cancelled by force cannot
	// get a result afterwards (the check and the write commit together).
	Fence func(ctx context.Context, tx *sql.Tx) error
}

// fence runs StoreOptions.Fence inside tx.
func (s *Store) fence(ctx context.Context, tx *sql.Tx) error {
	if s.opts.Fence == nil {
		return nil
	}
	return s.opts.Fence(ctx, tx)
}

// Store writes and reads Ollama results: ollama_results rows, the ollama.*
// media_meta keys and ollama_vectors.
type Store struct {
	db    *sql.DB
	clock svtime.Clock
	opts  StoreOptions
}

// NewStore returns a store over a writer handle from db.Open.
func NewStore(d *sql.DB, clock svtime.Clock, opts StoreOptions) *Store {
	if clock == nil {
		clock = svtime.SystemClock{}
	}
	return &Store{db: d, clock: clock, opts: opts}
}

// JobRef identifies the job a result belongs to (stored in result meta).
type JobRef struct {
	JobID   int64  `json:"job_id,omitempty"`
	JobType string `json:"job_type,omitempty"`
	Attempt int    `json:"attempt,omitempty"`
}

// Saved reports what SaveResult wrote.
type Saved struct {
	ResultID   int64 `json:"result_id"`
	VectorID   int64 `json:"vector_id,omitempty"`
	ParseError bool  `json:"parse_error"`
	// MetaAppended counts media_meta rows appended (unchanged values skipped).
	MetaAppended int `json:"meta_appended"`
	// MediaUpdated is set when nsfw_classify changed media.has_nsfw/rating.
	MediaUpdated bool `json:"media_updated,omitempty"`
}

// resultMeta is the ollama_results.meta column.
type resultMeta struct {
	JobRef
	Mode           Mode     `json:"mode"`
	TemplateSource string   `json:"template_source,omitempty"`
	LatencyMS      int64    `json:"latency_ms"`
	Usage          *Usage   `json:"usage,omitempty"`
	ParseError     bool     `json:"parse_error"`
	Problems       []string `json:"problems,omitempty"`
	ImageSource    *string  `json:"image_source"`
	TagsSource     string   `json:"tags_source,omitempty"`
	ErrorType      string   `json:"error_type,omitempty"`
	Endpoint       string   `json:"endpoint,omitempty"`
}

// modeMeta is the value of ollama.<mode>.meta.
type modeMeta struct {
	ResultID       int64    `json:"result_id"`
	Model          string   `json:"model"`
	ParseError     bool     `json:"parse_error"`
	Contradictions []string `json:"contradictions,omitempty"`
	Missing        []string `json:"missing,omitempty"`
	Rationale      string   `json:"rationale,omitempty"`
	Problems       []string `json:"problems,omitempty"`
	TagsSource     string   `json:"tags_source,omitempty"`
	Error          string   `json:"error,omitempty"`
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own plain structs and slices are marshalled here.
		panic(err)
	}
	return string(b)
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// nonNil keeps JSON lists as [] rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// SaveResult stores one successful (possibly degraded) result in one
// transaction: the ollama_results row, the mode's media_meta keys (values
// that did not change are not appended), ollama.last_run_at /
// ollama.stage_version, the vector for embed and, when configured, the
// nsfw flag on media.
func (s *Store) SaveResult(ctx context.Context, mediaID int64, res *Result, job JobRef) (*Saved, error) {
	if res == nil {
		return nil, errors.New("save result: nil result")
	}
	if res.Mode != ModeEmbed && res.Output == nil {
		return nil, fmt.Errorf("save result %s: no output", res.describe())
	}
	now := svtime.Format(s.clock.Now())
	saved := &Saved{ParseError: res.ParseError()}
	err := db.InTx(ctx, s.db, func(tx *sql.Tx) error {
		if err := s.fence(ctx, tx); err != nil {
			return err
		}
		w := &metaWriter{tx: tx, mediaID: mediaID, now: now}
		rm := resultMeta{JobRef: job, Mode: res.Mode, TemplateSource: res.TemplateSource,
			LatencyMS: res.Latency.Milliseconds(), ParseError: saved.ParseError, TagsSource: res.TagsSource,
			Endpoint: res.EmbedEndpoint}
		if res.Usage != (Usage{}) {
			u := res.Usage
			rm.Usage = &u
		}
		if res.ImageSource != "" {
			src := res.ImageSource
			rm.ImageSource = &src
		}
		if res.Output != nil {
			rm.Problems = res.Output.Problems
		}
		var err error
		if res.Mode == ModeEmbed {
			err = s.saveEmbed(ctx, w, res, rm, saved)
		} else {
			err = s.saveGenerate(ctx, w, res, rm, saved)
		}
		if err != nil {
			return err
		}
		if err := w.set(ctx, "ollama.last_run_at", now); err != nil {
			return err
		}
		if err := w.set(ctx, "ollama.stage_version", StageVersion); err != nil {
			return err
		}
		saved.MetaAppended = w.appended
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("save %s result for media %d: %w", res.Mode, mediaID, db.Classify(err))
	}
	return saved, nil
}

func (s *Store) insertResult(ctx context.Context, w *metaWriter, mode Mode, model string, title, caption string,
	score *float64, contradictions, missing []string, rationale string, rawJSON, rawText string, parseError bool, meta resultMeta) (int64, error) {
	var sc any
	if score != nil {
		sc = *score
	}
	var contra, miss any
	if contradictions != nil {
		contra = mustJSON(contradictions)
	}
	if missing != nil {
		miss = mustJSON(missing)
	}
	pe := 0
	if parseError {
		pe = 1
	}
	r, err := w.tx.ExecContext(ctx, `INSERT INTO ollama_results
		(media_id, mode, model, title, caption, score, contradictions, missing, rationale, raw_json, raw_text, parse_error, created_at, meta)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		w.mediaID, string(mode), model, nullStr(title), nullStr(caption), sc, contra, miss, nullStr(rationale),
		nullStr(rawJSON), nullStr(rawText), pe, w.now, mustJSON(meta))
	if err != nil {
		return 0, fmt.Errorf("insert ollama_results: %w", err)
	}
	return r.LastInsertId()
}

func (s *Store) saveGenerate(ctx context.Context, w *metaWriter, res *Result, rm resultMeta, saved *Saved) error {
	o := res.Output
	title, caption, rationale := o.Title, o.Caption, o.Rationale
	switch res.Mode {
	case ModePromptRecon:
		caption = o.Prompt
	}
	id, err := s.insertResult(ctx, w, res.Mode, res.Model, title, caption, o.Score, o.Contradictions, o.Missing,
		rationale, string(o.RawJSON), res.RawText, o.ParseError, rm)
	if err != nil {
		return err
	}
	saved.ResultID = id
	mm := modeMeta{ResultID: id, Model: res.Model, ParseError: o.ParseError, Problems: o.Problems}
	sets := [][2]string{}
	add := func(k, v string) { sets = append(sets, [2]string{k, v}) }
	switch res.Mode {
	case ModeCaption:
		mm.Contradictions, mm.Missing, mm.Rationale = nonNil(o.Contradictions), nonNil(o.Missing), o.Rationale
		add("ollama.caption", o.Caption)
		add("ollama.caption.meta", mustJSON(mm))
	case ModeTitle:
		mm.Rationale = o.Rationale
		add("ollama.title", o.Title)
		add("ollama.title.meta", mustJSON(mm))
	case ModePromptEval:
		mm.Contradictions, mm.Missing, mm.Rationale = nonNil(o.Contradictions), nonNil(o.Missing), o.Rationale
		add("ollama.prompt_eval.score", fmtFloat(*o.Score))
		add("ollama.prompt_eval.meta", mustJSON(mm))
	case ModeTagsNormalize:
		add("ollama.tags_raw", mustJSON(nonNil(res.TagsRaw)))
		add("ollama.tags_normalized", mustJSON(nonNil(o.TagsNormalized)))
		tm := o.TagsMap
		if tm == nil {
			tm = []TagMapping{}
		}
		add("ollama.tags_map", mustJSON(tm))
		add("ollama.tags_normalize.meta", mustJSON(mm))
	case ModeQuality:
		add("ollama.quality.score", fmtFloat(*o.Score))
		add("ollama.quality.flags", mustJSON(nonNil(o.QualityFlags)))
		add("ollama.domain.type", o.DomainType)
		if o.DomainConfidence != nil {
			add("ollama.domain.confidence", fmtFloat(*o.DomainConfidence))
		}
		add("ollama.quality.meta", mustJSON(mm))
	case ModeNSFWClassify:
		add("ollama.nsfw.score", fmtFloat(*o.Score))
		if o.NSFWFlags != nil {
			add("ollama.nsfw.flags", mustJSON(o.NSFWFlags))
		}
		add("ollama.nsfw.category", o.Category)
		add("ollama.nsfw.meta", mustJSON(mm))
	case ModePromptRecon:
		mm.TagsSource = res.TagsSource
		add("ollama.prompt_recon.prompt", o.Prompt)
		if o.NegativePrompt != "" {
			add("ollama.prompt_recon.negative", o.NegativePrompt)
		}
		if o.Confidence != nil {
			add("ollama.prompt_recon.confidence", fmtFloat(*o.Confidence))
		}
		add("ollama.prompt_recon.style_tokens", mustJSON(nonNil(o.StyleTokens)))
		add("ollama.prompt_recon.subject_tokens", mustJSON(nonNil(o.SubjectTokens)))
		if res.TagsSource != "" {
			add("ollama.prompt_recon.tags_source", res.TagsSource)
		}
		add("ollama.prompt_recon.meta", mustJSON(mm))
	}
	for _, kv := range sets {
		if err := w.set(ctx, kv[0], kv[1]); err != nil {
			return err
		}
	}
	if res.Mode == ModeNSFWClassify && s.opts.NSFWUpdatesMedia {
		changed, err := s.feedNSFW(ctx, w, o.Category)
		if err != nil {
			return err
		}
		saved.MediaUpdated = changed
	}
	return nil
}

// feedNSFW only ever raises: explicit sets has_nsfw=1; an unrated media
// (rating 0) gets 1 safe / 2 questionable / 3 explicit. A human or the
// scanner rating is never overwritten and nothing is un-flagged, because
// a model false negative must not move a file back into the SFW library.
func (s *Store) feedNSFW(ctx context.Context, w *metaWriter, category string) (bool, error) {
	rating := map[string]int{"safe": 1, "suggestive": 2, "explicit": 3}[category]
	if rating == 0 {
		return false, nil
	}
	hasNSFW := 0
	if category == "explicit" {
		hasNSFW = 1
	}
	// A person's 18+/safe decision (media.MetaNSFWManual) is never
	// overridden: has_nsfw is raised only without one.
	r, err := w.tx.ExecContext(ctx, `UPDATE media SET
		has_nsfw = CASE WHEN `+media.NoNSFWDecisionSQL+` THEN MAX(has_nsfw, ?) ELSE has_nsfw END,
		rating = CASE WHEN rating = 0 THEN ? ELSE rating END
		WHERE id = ? AND ((has_nsfw < ? AND `+media.NoNSFWDecisionSQL+`) OR rating = 0)`,
		w.mediaID, hasNSFW, rating, w.mediaID, hasNSFW, w.mediaID)
	if err != nil {
		return false, fmt.Errorf("update media nsfw: %w", err)
	}
	n, _ := r.RowsAffected()
	return n > 0, nil
}

func (s *Store) saveEmbed(ctx context.Context, w *metaWriter, res *Result, rm resultMeta, saved *Saved) error {
	if len(res.Vector) == 0 {
		return reason.New(CodeInvalidJSON, "embed: empty vector")
	}
	var vid int64
	// RETURNING gives the row id on both the insert and the update path
	// (the original's lastInsertId was wrong on update).
	err := w.tx.QueryRowContext(ctx, `INSERT INTO ollama_vectors
		(media_id, kind, model, dims, vector_json, input_hash, created_at, updated_at)
		VALUES (?,?,?,?,?,?,?,?)
		ON CONFLICT(media_id, kind, model, input_hash) DO UPDATE SET
			dims = excluded.dims, vector_json = excluded.vector_json, updated_at = excluded.updated_at
		RETURNING id`,
		w.mediaID, VectorKindText, res.Model, len(res.Vector), mustJSON(res.Vector), res.InputHash, w.now, w.now).Scan(&vid)
	if err != nil {
		return fmt.Errorf("upsert ollama_vectors: %w", err)
	}
	saved.VectorID = vid
	raw := mustJSON(map[string]any{"input_hash": res.InputHash, "dims": len(res.Vector), "kind": VectorKindText, "vector_id": vid})
	id, err := s.insertResult(ctx, w, ModeEmbed, res.Model, "", "", nil, nil, nil, "", raw, "", false, rm)
	if err != nil {
		return err
	}
	saved.ResultID = id
	for _, kv := range [][2]string{
		{"ollama.embed.text.model", res.Model},
		{"ollama.embed.text.dims", strconv.Itoa(len(res.Vector))},
		{"ollama.embed.text.hash", res.InputHash},
		{"ollama.embed.text.vector_id", strconv.FormatInt(vid, 10)},
		{"ollama.embed.meta", mustJSON(modeMeta{ResultID: id, Model: res.Model})},
	} {
		if err := w.set(ctx, kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// SaveFailure records a final failure of a mode for a media (after the
// last retry): a parse_error=1 ollama_results row keeping the raw model
// answer, and the mode's .meta key with parse_error and the error code, so
// the mode counts as "ran" and is not re-enqueued forever.
func (s *Store) SaveFailure(ctx context.Context, mediaID int64, m Mode, model string, cause error, job JobRef) (int64, error) {
	now := svtime.Format(s.clock.Now())
	code := reason.CodeOr(cause, "unexpected")
	raw := RawOutput(cause)
	var id int64
	err := db.InTx(ctx, s.db, func(tx *sql.Tx) error {
		if err := s.fence(ctx, tx); err != nil {
			return err
		}
		w := &metaWriter{tx: tx, mediaID: mediaID, now: now}
		var err error
		id, err = s.insertResult(ctx, w, m, orStr(model, "unknown"), "", "", nil, nil, nil, "", "", raw, true,
			resultMeta{JobRef: job, Mode: m, ParseError: true, ErrorType: code})
		if err != nil {
			return err
		}
		msg := ""
		if cause != nil {
			msg = reason.Truncate(cause.Error(), 240)
		}
		return w.set(ctx, m.OutputKey(), mustJSON(modeMeta{ResultID: id, Model: model, ParseError: true, Error: msg}))
	})
	if err != nil {
		return 0, fmt.Errorf("save %s failure for media %d: %w", m, mediaID, db.Classify(err))
	}
	return id, nil
}

// MarkTooLarge writes ollama.too_large_for_vision, which excludes the
// media from later vision-mode candidate selection.
func (s *Store) MarkTooLarge(ctx context.Context, mediaID int64, m Mode, cause error) error {
	now := svtime.Format(s.clock.Now())
	msg := ""
	if cause != nil {
		msg = reason.Truncate(cause.Error(), 240)
	}
	return db.InTx(ctx, s.db, func(tx *sql.Tx) error {
		if err := s.fence(ctx, tx); err != nil {
			return err
		}
		w := &metaWriter{tx: tx, mediaID: mediaID, now: now}
		// The timestamp lives in the value, so compare without it: a
		// repeat for the same mode must not append a new row.
		cur, ok, err := w.latest(ctx, "ollama.too_large_for_vision")
		if err != nil {
			return err
		}
		if ok && strings.Contains(cur, `"mode":"`+string(m)+`"`) {
			return nil
		}
		return w.set(ctx, "ollama.too_large_for_vision",
			mustJSON(map[string]any{"ts": now, "details": map[string]any{"mode": m, "error": msg}}))
	})
}

// DeleteCounts is the result of DeleteResults.
type DeleteCounts struct {
	DeletedResults int64 `json:"deleted_results"`
	DeletedMeta    int64 `json:"deleted_meta"`
	DeletedVectors int64 `json:"deleted_vectors"`
}

// DeleteResults removes a mode's results of one media: ollama_results rows,
// the mode's media_meta keys and, for embed, the media's text vectors
// (found by media, so nothing is orphaned). ollama.last_run_at and
// ollama.stage_version stay.
func (s *Store) DeleteResults(ctx context.Context, mediaID int64, m Mode) (DeleteCounts, error) {
	var c DeleteCounts
	if err := m.validate(); err != nil {
		return c, err
	}
	err := db.InTx(ctx, s.db, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `DELETE FROM ollama_results WHERE media_id=? AND mode=?`, mediaID, string(m))
		if err != nil {
			return err
		}
		c.DeletedResults, _ = r.RowsAffected()
		keys := m.MetaKeys()
		args := []any{mediaID}
		for _, k := range keys {
			args = append(args, k)
		}
		r, err = tx.ExecContext(ctx, `DELETE FROM media_meta WHERE media_id=? AND meta_key IN (?`+
			strings.Repeat(",?", len(keys)-1)+`)`, args...)
		if err != nil {
			return err
		}
		c.DeletedMeta, _ = r.RowsAffected()
		if m == ModeEmbed {
			r, err = tx.ExecContext(ctx, `DELETE FROM ollama_vectors WHERE media_id=? AND kind=?`, mediaID, VectorKindText)
			if err != nil {
				return err
			}
			c.DeletedVectors, _ = r.RowsAffected()
		}
		return nil
	})
	if err != nil {
		return c, fmt.Errorf("delete %s results of media %d: %w", m, mediaID, db.Classify(err))
	}
	return c, nil
}

// LatestMeta returns the newest values of the given keys for one media.
func (s *Store) LatestMeta(ctx context.Context, mediaID int64, keys ...string) (map[string]string, error) {
	out := map[string]string{}
	if len(keys) == 0 {
		return out, nil
	}
	args := []any{mediaID}
	for _, k := range keys {
		args = append(args, k)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT meta_key, meta_value FROM media_meta WHERE id IN (
		SELECT MAX(id) FROM media_meta WHERE media_id=? AND meta_key IN (?`+strings.Repeat(",?", len(keys)-1)+`)
		GROUP BY meta_key)`, args...)
	if err != nil {
		return nil, db.Classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var v sql.NullString
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v.String
	}
	return out, rows.Err()
}

// FillInputs loads the results earlier modes produced (caption, title,
// normalised tags, domain, quality flags, reconstructed prompt) into in.
// The caller fills Image, Tags, Prompt and MediaType from the catalogue.
func (s *Store) FillInputs(ctx context.Context, in *Inputs) error {
	m, err := s.LatestMeta(ctx, in.MediaID, "ollama.caption", "ollama.title", "ollama.tags_normalized",
		"ollama.domain.type", "ollama.quality.flags", "ollama.prompt_recon.prompt")
	if err != nil {
		return fmt.Errorf("load ollama inputs of media %d: %w", in.MediaID, err)
	}
	in.Caption = orStr(in.Caption, m["ollama.caption"])
	in.Title = orStr(in.Title, m["ollama.title"])
	in.DomainType = orStr(in.DomainType, m["ollama.domain.type"])
	in.PromptRecon = orStr(in.PromptRecon, m["ollama.prompt_recon.prompt"])
	if len(in.TagsNormalized) == 0 && m["ollama.tags_normalized"] != "" {
		_ = json.Unmarshal([]byte(m["ollama.tags_normalized"]), &in.TagsNormalized)
	}
	if len(in.QualityFlags) == 0 && m["ollama.quality.flags"] != "" {
		_ = json.Unmarshal([]byte(m["ollama.quality.flags"]), &in.QualityFlags)
	}
	return nil
}

// VectorUpToDate reports whether the media's newest embed hash equals hash
// and that vector row exists, so the embed job can finish as deduped
// without an HTTP call.
func (s *Store) VectorUpToDate(ctx context.Context, mediaID int64, model, hash string) (int64, bool, error) {
	m, err := s.LatestMeta(ctx, mediaID, "ollama.embed.text.hash")
	if err != nil || m["ollama.embed.text.hash"] != hash {
		return 0, false, err
	}
	var id int64
	err = s.db.QueryRowContext(ctx, `SELECT id FROM ollama_vectors WHERE media_id=? AND kind=? AND model=? AND input_hash=?`,
		mediaID, VectorKindText, model, hash).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, db.Classify(err)
	}
	return id, true, nil
}

// metaWriter appends media_meta rows inside one transaction, skipping
// values equal to the newest row of the key.
type metaWriter struct {
	tx       *sql.Tx
	mediaID  int64
	now      string
	appended int
}

func (w *metaWriter) latest(ctx context.Context, key string) (string, bool, error) {
	var v sql.NullString
	err := w.tx.QueryRowContext(ctx, `SELECT meta_value FROM media_meta WHERE media_id=? AND meta_key=?
		ORDER BY id DESC LIMIT 1`, w.mediaID, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return v.String, true, nil
}

func (w *metaWriter) set(ctx context.Context, key, value string) error {
	value = strings.TrimSpace(value)
	cur, ok, err := w.latest(ctx, key)
	if err != nil {
		return fmt.Errorf("read meta %s: %w", key, err)
	}
	if ok && cur == value {
		return nil
	}
	if _, err := w.tx.ExecContext(ctx, `INSERT INTO media_meta (media_id, source, meta_key, meta_value, created_at)
		VALUES (?,?,?,?,?)`, w.mediaID, MetaSource, key, value, w.now); err != nil {
		return fmt.Errorf("append meta %s: %w", key, err)
	}
	w.appended++
	return nil
}
