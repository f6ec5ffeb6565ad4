package media

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/sdmeta"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// prompt_history source labels.
const (
	PromptSourceImport        = "import"
	PromptSourceRescan        = "rescan"
	PromptSourceRebuild       = "prompts_rebuild"
	PromptSourceRebuildSingle = "prompts_rebuild_single"
)

// MaxRawText caps prompt_history.raw_text, like the original.
const MaxRawText = 20000

// CodePromptConflict is returned when a history version could not be
// allocated (concurrent writers without a transaction).
const CodePromptConflict = "prompt_history_conflict"

// Prompt is the generation columns shared by prompts and prompt_history
// (promptCols). Empty strings and nil pointers are NULL. The JSON columns
// hold JSON text.
type Prompt struct {
	// Prompt and NegativePrompt are the trimmed display and search form
	// (sdmeta.CleanPrompt); PromptRaw and NegativePromptRaw the text exactly
	// as the file holds it, kept only where it differs ("" when equal).
	// AsWritten returns the verbatim text either way.
	Prompt            string
	NegativePrompt    string
	PromptRaw         string
	NegativePromptRaw string
	Model             string
	Sampler           string
	CFGScale          *float64
	Steps             *int64
	Seed              string
	Width             *int64
	Height            *int64
	Scheduler         string
	SamplerSettings   string
	Loras             string
	Controlnet        string
	SourceMetadata    string
}

// AsWritten returns the prompt and negative prompt exactly as written: what
// "as written" shows and what regeneration sends.
func (p Prompt) AsWritten() (prompt, negative string) {
	return cmp.Or(p.PromptRaw, p.Prompt), cmp.Or(p.NegativePromptRaw, p.NegativePrompt)
}

// onlyIfDifferent is the stored form of a verbatim text: "" (NULL) when it
// adds nothing to the trimmed column.
func onlyIfDifferent(raw, clean string) string {
	if raw == clean {
		return ""
	}
	return raw
}

// HasData reports whether any column is set.
func (p Prompt) HasData() bool {
	return p.Prompt != "" || p.NegativePrompt != "" || p.Model != "" || p.Sampler != "" || p.CFGScale != nil ||
		p.Steps != nil || p.Seed != "" || p.Width != nil || p.Height != nil || p.Scheduler != "" ||
		p.SamplerSettings != "" || p.Loras != "" || p.Controlnet != ""
}

// PromptFromResult maps an sdmeta extraction onto the prompt columns. When
// only a raw block exists, the prompt is the raw text (like the original).
func PromptFromResult(r sdmeta.Result) Prompt {
	p := Prompt{
		Prompt: r.Prompt, NegativePrompt: r.NegativePrompt, Model: r.Model, Sampler: r.Sampler,
		PromptRaw:         onlyIfDifferent(r.PromptRaw, r.Prompt),
		NegativePromptRaw: onlyIfDifferent(r.NegativePromptRaw, r.NegativePrompt),
		CFGScale:          r.CFGScale, Seed: r.Seed, Scheduler: r.Scheduler,
	}
	toI := func(v *int) *int64 {
		if v == nil {
			return nil
		}
		x := int64(*v)
		return &x
	}
	p.Steps, p.Width, p.Height = toI(r.Steps), toI(r.Width), toI(r.Height)
	if len(r.SamplerSettings) > 0 {
		p.SamplerSettings = jsonString(r.SamplerSettings)
	}
	if len(r.Loras) > 0 {
		p.Loras = jsonString(r.Loras)
	}
	if len(r.Controlnet) > 0 {
		p.Controlnet = jsonString(r.Controlnet)
	}
	sm := map[string]any{}
	for k, v := range r.SourceMetadata {
		sm[k] = v
	}
	sm["extractor_version"] = sdmeta.ExtractorVersion
	if r.Format != "" {
		sm["format"] = r.Format
	}
	// The checkpoint hash has no column of its own; media_gen.model_hash
	// reads it from here (GenFromPrompt).
	if h := strings.TrimSpace(r.ModelHash); h != "" {
		sm["model_hash"] = h
	}
	p.SourceMetadata = jsonString(sm)
	if !p.HasData() && strings.TrimSpace(r.RawBlock) != "" {
		p.Prompt = r.RawBlock
	}
	return p
}

const promptCols = `prompt, negative_prompt, model, sampler, cfg_scale, steps, seed, width, height, scheduler,
	sampler_settings, loras, controlnet, source_metadata, prompt_raw, negative_prompt_raw`

// promptColCount is the number of promptCols.
const promptColCount = 16

func (p Prompt) args() []any {
	f := func(v *float64) any {
		if v == nil {
			return nil
		}
		return *v
	}
	i := func(v *int64) any {
		if v == nil {
			return nil
		}
		return *v
	}
	return []any{nullStr(p.Prompt), nullStr(p.NegativePrompt), nullStr(p.Model), nullStr(p.Sampler), f(p.CFGScale),
		i(p.Steps), nullStr(p.Seed), i(p.Width), i(p.Height), nullStr(p.Scheduler), nullStr(p.SamplerSettings),
		nullStr(p.Loras), nullStr(p.Controlnet), nullStr(p.SourceMetadata),
		nullStr(onlyIfDifferent(p.PromptRaw, p.Prompt)), nullStr(onlyIfDifferent(p.NegativePromptRaw, p.NegativePrompt))}
}

func scanPrompt(row interface{ Scan(...any) error }, extra ...any) (Prompt, error) {
	var s [12]sql.NullString
	var cfg sql.NullFloat64
	var steps, w, h sql.NullInt64
	dst := append(extra, &s[0], &s[1], &s[2], &s[3], &cfg, &steps, &s[4], &w, &h, &s[5], &s[6], &s[7], &s[8], &s[9], &s[10], &s[11])
	if err := row.Scan(dst...); err != nil {
		return Prompt{}, err
	}
	p := Prompt{Prompt: s[0].String, NegativePrompt: s[1].String, Model: s[2].String, Sampler: s[3].String,
		Seed: s[4].String, Scheduler: s[5].String, SamplerSettings: s[6].String, Loras: s[7].String,
		Controlnet: s[8].String, SourceMetadata: s[9].String,
		PromptRaw: onlyIfDifferent(s[10].String, s[0].String), NegativePromptRaw: onlyIfDifferent(s[11].String, s[1].String)}
	if cfg.Valid {
		p.CFGScale = &cfg.Float64
	}
	if steps.Valid {
		p.Steps = &steps.Int64
	}
	if w.Valid {
		p.Width = &w.Int64
	}
	if h.Valid {
		p.Height = &h.Int64
	}
	return p, nil
}

// CurrentPrompt returns the current prompt row of a media: the one with the
// highest id. Readers and writers use this same rule. id 0 means none.
func CurrentPrompt(ctx context.Context, q db.Execer, mediaID int64) (int64, Prompt, error) {
	var id int64
	p, err := scanPrompt(q.QueryRowContext(ctx, `SELECT id, `+promptCols+` FROM prompts WHERE media_id=? ORDER BY id DESC LIMIT 1`, mediaID), &id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, Prompt{}, nil
	}
	if err != nil {
		return 0, Prompt{}, fmt.Errorf("current prompt: %w", db.Classify(err))
	}
	return id, p, nil
}

// merge overlays the set fields of n onto o: a new extraction fills and
// updates columns but never blanks one it does not know.
func merge(o, n Prompt) Prompt {
	s := func(a, b string) string {
		if b != "" {
			return b
		}
		return a
	}
	// A verbatim text travels with its trimmed column.
	pr, npr := o.PromptRaw, o.NegativePromptRaw
	if n.Prompt != "" {
		pr = n.PromptRaw
	}
	if n.NegativePrompt != "" {
		npr = n.NegativePromptRaw
	}
	out := Prompt{Prompt: s(o.Prompt, n.Prompt), NegativePrompt: s(o.NegativePrompt, n.NegativePrompt),
		PromptRaw: pr, NegativePromptRaw: npr,
		Model: s(o.Model, n.Model), Sampler: s(o.Sampler, n.Sampler), Seed: s(o.Seed, n.Seed),
		Scheduler: s(o.Scheduler, n.Scheduler), SamplerSettings: s(o.SamplerSettings, n.SamplerSettings),
		Loras: s(o.Loras, n.Loras), Controlnet: s(o.Controlnet, n.Controlnet), SourceMetadata: s(o.SourceMetadata, n.SourceMetadata),
		CFGScale: o.CFGScale, Steps: o.Steps, Width: o.Width, Height: o.Height}
	if n.CFGScale != nil {
		out.CFGScale = n.CFGScale
	}
	if n.Steps != nil {
		out.Steps = n.Steps
	}
	if n.Width != nil {
		out.Width = n.Width
	}
	if n.Height != nil {
		out.Height = n.Height
	}
	return out
}

func eqPrompt(a, b Prompt) bool {
	return fmt.Sprint(a.args()...) == fmt.Sprint(b.args()...)
}

// SavePromptResult says what SavePrompt did.
type SavePromptResult struct {
	PromptID int64
	// Changed is true when the prompts row was inserted or updated.
	Changed bool
	// Version is the prompt_history version written (0: none).
	Version int
}

// SavePrompt stores p as the media's current prompt (insert, or update of
// the current row in place, merged so unknown columns are kept) and records
// a prompt_history version only when something changed. Run it inside a
// transaction: the version is MAX(version)+1 per media, unique.
func SavePrompt(ctx context.Context, q db.Execer, mediaID int64, p Prompt, source, rawText string, now time.Time) (SavePromptResult, error) {
	var res SavePromptResult
	if !storesPrompt(p, rawText) {
		return res, nil
	}
	id, cur, err := CurrentPrompt(ctx, q, mediaID)
	if err != nil {
		return res, err
	}
	final := p
	if id == 0 {
		r, err := q.ExecContext(ctx, db.ValuesSQL(`INSERT INTO prompts(media_id, `+promptCols+`) VALUES `, 1+promptColCount, 1, ""),
			append([]any{mediaID}, p.args()...)...)
		if err != nil {
			return res, fmt.Errorf("insert prompt: %w", db.Classify(err))
		}
		id, _ = r.LastInsertId()
		res.Changed = true
	} else {
		final = merge(cur, p)
		if !eqPrompt(cur, final) {
			_, err := q.ExecContext(ctx, `UPDATE prompts SET prompt=?, negative_prompt=?, model=?, sampler=?, cfg_scale=?, steps=?,
				seed=?, width=?, height=?, scheduler=?, sampler_settings=?, loras=?, controlnet=?, source_metadata=?,
				prompt_raw=?, negative_prompt_raw=? WHERE id=?`,
				append(final.args(), id)...)
			if err != nil {
				return res, fmt.Errorf("update prompt: %w", db.Classify(err))
			}
			res.Changed = true
		}
	}
	res.PromptID = id
	// Checked even when the prompt did not change: a media imported before
	// media_gen existed, or whose row went wrong, gets it right on any
	// re-extraction (a row that is already right is not rewritten).
	if err := writeGen(ctx, q, mediaID, GenFromPrompt(final)); err != nil {
		return res, err
	}
	v, err := recordHistory(ctx, q, mediaID, id, final, source, rawText, now)
	res.Version = v
	return res, err
}

// storesPrompt reports whether a prompt with this raw text is stored at
// all (SavePrompt and InsertNewPromptsMany skip empty ones).
func storesPrompt(p Prompt, rawText string) bool {
	return p.HasData() || strings.TrimSpace(rawText) != ""
}

// historyInsert is the head of a prompt_history INSERT whose rows of
// historyCols values are historyArgs.
const historyCols = 6 + promptColCount

const historyInsert = `INSERT INTO prompt_history(media_id, prompt_id, version, source, created_at, ` + promptCols + `, raw_text) VALUES `

// historyArgs appends one prompt_history row: an empty source is
// "unknown", raw text is cut at MaxRawText.
func historyArgs(args []any, mediaID, promptID int64, version int, p Prompt, source, rawText, ts string) []any {
	args = append(args, mediaID, promptID, version, cmp.Or(source, "unknown"), ts)
	return append(append(args, p.args()...), nullStr(historyRaw(rawText)))
}

// historyRaw is raw text as prompt_history stores it: cut at MaxRawText.
func historyRaw(raw string) string {
	if len(raw) > MaxRawText {
		return reason.Truncate(raw, MaxRawText) + "\n\n[truncated]"
	}
	return raw
}

// recordHistory appends a prompt_history version unless the newest one
// already has the same content.
func recordHistory(ctx context.Context, q db.Execer, mediaID, promptID int64, p Prompt, source, rawText string, now time.Time) (int, error) {
	var ver int
	var raw sql.NullString
	last, err := scanPrompt(q.QueryRowContext(ctx, `SELECT version, raw_text, `+promptCols+` FROM prompt_history WHERE media_id=? ORDER BY version DESC LIMIT 1`, mediaID), &ver, &raw)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		ver = 0
	case err != nil:
		return 0, fmt.Errorf("last history: %w", db.Classify(err))
	default:
		if eqPrompt(last, p) && raw.String == historyRaw(rawText) {
			return 0, nil
		}
	}
	_, err = q.ExecContext(ctx, db.ValuesSQL(historyInsert, historyCols, 1, ""),
		historyArgs(nil, mediaID, promptID, ver+1, p, source, rawText, svtime.Format(now))...)
	if err != nil {
		if db.IsUniqueViolation(err) {
			return 0, reason.Transient(CodePromptConflict, err)
		}
		return 0, fmt.Errorf("insert prompt_history: %w", db.Classify(err))
	}
	return ver + 1, nil
}

// History lists a media's prompt versions, newest first.
func History(ctx context.Context, q db.Execer, mediaID int64) ([]HistoryEntry, error) {
	rows, err := q.QueryContext(ctx, `SELECT version, source, created_at, COALESCE(raw_text,''), `+promptCols+`
		FROM prompt_history WHERE media_id=? ORDER BY version DESC`, mediaID)
	if err != nil {
		return nil, db.Classify(err)
	}
	defer rows.Close()
	var out []HistoryEntry
	for rows.Next() {
		var h HistoryEntry
		p, err := scanPrompt(rows, &h.Version, &h.Source, &h.CreatedAt, &h.RawText)
		if err != nil {
			return nil, err
		}
		h.Prompt = p
		out = append(out, h)
	}
	return out, rows.Err()
}

// HistoryEntry is one prompt_history row.
type HistoryEntry struct {
	Version   int
	Source    string
	CreatedAt string
	RawText   string
	Prompt    Prompt
}
