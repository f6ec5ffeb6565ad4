package media

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/sdmeta"
)

// Gen is the query form of a media's current prompt: its media_gen row and
// media_gen_loras rows (schema 0220). Empty strings and nil pointers are
// NULL. It is derived, never edited: GenFromPrompt is the one mapping, and
// every prompt write stores its result in the same transaction.
type Gen struct {
	// Software is the detected generator (sdmeta Format names: a1111,
	// forge, comfyui, novelai…); "" when the extractor did not know it.
	Software  string
	Model     string
	ModelHash string
	Sampler   string
	Scheduler string
	Steps     *int64
	CFG       *float64
	// Seed is canonical unsigned decimal text ("" when the file has none,
	// a random -1 or something that is not a 64-bit unsigned number).
	Seed          string
	Width, Height *int64
	Denoise       *float64
	Loras         []GenLora
}

// GenLora is one media_gen_loras row.
type GenLora struct {
	Name   string
	Weight *float64
}

// modelHashKeys are the sampler_settings keys older extractions kept the
// checkpoint hash under, before Result.ModelHash (A1111/Forge "Model
// hash", NovelAI "model_hash", Fooocus "base_model_hash").
var modelHashKeys = []string{"Model hash", "model_hash", "base_model_hash"}

// denoiseKeys are the sampler_settings keys the readers store the
// denoising strength under: A1111/Forge/Civitai "Denoising strength",
// ComfyUI's main sampler "denoise", diffusers-style "denoising_strength",
// NovelAI/InvokeAI img2img "strength", SwarmUI "initimagecreativity".
var denoiseKeys = []string{"Denoising strength", "denoise", "denoising_strength", "strength", "initimagecreativity"}

// GenFromPrompt derives the query form of a prompts row.
func GenFromPrompt(p Prompt) Gen {
	sm := decodeObject(p.SourceMetadata)
	ss := decodeObject(p.SamplerSettings)
	g := Gen{
		Model: strings.TrimSpace(p.Model), Sampler: strings.TrimSpace(p.Sampler), Scheduler: strings.TrimSpace(p.Scheduler),
		Steps: p.Steps, CFG: finite(p.CFGScale), Seed: CanonicalSeed(p.Seed), Width: p.Width, Height: p.Height,
	}
	switch f := strings.ToLower(strings.TrimSpace(scalarText(sm["format"]))); f {
	case "", sdmeta.FormatUnknown, sdmeta.FormatNone:
	default:
		g.Software = f
	}
	g.ModelHash = strings.TrimSpace(scalarText(sm["model_hash"]))
	for _, k := range modelHashKeys {
		if g.ModelHash != "" {
			break
		}
		g.ModelHash = strings.TrimSpace(scalarText(ss[k]))
	}
	for _, k := range denoiseKeys {
		if g.Denoise = number(ss[k]); g.Denoise != nil {
			break
		}
	}
	g.Loras = genLoras(p.Loras)
	return g
}

// CanonicalSeed is a seed as media_gen stores and the query language
// compares it: unsigned decimal without sign, spaces or leading zeros, up
// to 2^64-1 exactly (parsed as an integer, never through float64). -1
// (A1111's "random") and anything else that is not such a number give "".
func CanonicalSeed(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || s[0] == '+' {
		return ""
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return ""
	}
	return strconv.FormatUint(v, 10)
}

// genLoras reads prompts.loras ([{name, weight, …}]): names trimmed, empty
// ones dropped, the first of several spellings of one name (any case: the
// column is NOCASE and the key) kept with its weight.
func genLoras(js string) []GenLora {
	if strings.TrimSpace(js) == "" {
		return nil
	}
	var raw []map[string]any
	d := json.NewDecoder(strings.NewReader(js))
	d.UseNumber()
	if d.Decode(&raw) != nil {
		return nil
	}
	var out []GenLora
	seen := make(map[string]bool, len(raw))
	for _, l := range raw {
		name := strings.TrimSpace(scalarText(l["name"]))
		key := strings.ToLower(name)
		if name == "" || seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, GenLora{Name: name, Weight: number(l["weight"])})
	}
	return out
}

func decodeObject(js string) map[string]any {
	if strings.TrimSpace(js) == "" {
		return nil
	}
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(js))
	d.UseNumber()
	if d.Decode(&m) != nil {
		return nil
	}
	return m
}

// scalarText is a JSON string or number as text ("" for anything else).
func scalarText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	}
	return ""
}

// number is a JSON number or numeric string as a finite float.
func number(v any) *float64 {
	s := strings.TrimSpace(scalarText(v))
	if s == "" {
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil
	}
	return finite(&f)
}

func finite(f *float64) *float64 {
	if f == nil || math.IsNaN(*f) || math.IsInf(*f, 0) {
		return nil
	}
	return f
}

// SyncGen makes the media's media_gen and media_gen_loras rows what its
// current prompt (CurrentPrompt's rule: highest prompts.id) says, and
// removes them when it has no prompt. Prompt writers call it (or writeGens
// with the prompt they just wrote) in their transaction.
func SyncGen(ctx context.Context, q db.Execer, mediaID int64) error {
	id, p, err := CurrentPrompt(ctx, q, mediaID)
	if err != nil {
		return err
	}
	if id == 0 {
		for _, t := range []string{"media_gen", "media_gen_loras"} {
			if _, err := q.ExecContext(ctx, `DELETE FROM `+t+` WHERE media_id=?`, mediaID); err != nil {
				return fmt.Errorf("delete %s: %w", t, db.Classify(err))
			}
		}
		return nil
	}
	return writeGen(ctx, q, mediaID, GenFromPrompt(p))
}

// writeGen stores one media's Gen unless its rows already say the same: a
// re-extraction that changes nothing writes nothing, so the text index
// triggers on media_gen do not mark the media for a refold.
func writeGen(ctx context.Context, q db.Execer, mediaID int64, g Gen) error {
	cur, ok, err := storedGen(ctx, q, mediaID)
	if err != nil || (ok && sameGen(cur, g)) {
		return err
	}
	return writeGens(ctx, q, []mediaGen{{mediaID, g}})
}

// storedGen reads a media's media_gen row and LoRAs (ok false: no row).
func storedGen(ctx context.Context, q db.Execer, mediaID int64) (Gen, bool, error) {
	var g Gen
	var s [6]sql.NullString
	var steps, w, h sql.NullInt64
	var cfg, dn sql.NullFloat64
	err := q.QueryRowContext(ctx, `SELECT software, model, model_hash, sampler, scheduler, steps, cfg, seed, width, height, denoise
		FROM media_gen WHERE media_id=?`, mediaID).Scan(&s[0], &s[1], &s[2], &s[3], &s[4], &steps, &cfg, &s[5], &w, &h, &dn)
	if errors.Is(err, sql.ErrNoRows) {
		return g, false, nil
	}
	if err != nil {
		return g, false, fmt.Errorf("read media_gen: %w", db.Classify(err))
	}
	g = Gen{Software: s[0].String, Model: s[1].String, ModelHash: s[2].String, Sampler: s[3].String, Scheduler: s[4].String,
		Seed: s[5].String, Steps: nullI(steps), CFG: nullF(cfg), Width: nullI(w), Height: nullI(h), Denoise: nullF(dn)}
	rows, err := q.QueryContext(ctx, `SELECT name, weight FROM media_gen_loras WHERE media_id=?`, mediaID)
	if err != nil {
		return g, false, fmt.Errorf("read media_gen_loras: %w", db.Classify(err))
	}
	defer rows.Close()
	for rows.Next() {
		var l GenLora
		var wt sql.NullFloat64
		if err := rows.Scan(&l.Name, &wt); err != nil {
			return g, false, db.Classify(err)
		}
		l.Weight = nullF(wt)
		g.Loras = append(g.Loras, l)
	}
	return g, true, db.Classify(rows.Err())
}

func nullI(v sql.NullInt64) *int64 {
	if !v.Valid {
		return nil
	}
	return &v.Int64
}

func nullF(v sql.NullFloat64) *float64 {
	if !v.Valid {
		return nil
	}
	return &v.Float64
}

// sameGen compares two Gens as stored: LoRAs as a set.
func sameGen(a, b Gen) bool {
	eqI := func(x, y *int64) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	eqF := func(x, y *float64) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	if a.Software != b.Software || a.Model != b.Model || a.ModelHash != b.ModelHash || a.Sampler != b.Sampler ||
		a.Scheduler != b.Scheduler || a.Seed != b.Seed || !eqI(a.Steps, b.Steps) || !eqF(a.CFG, b.CFG) ||
		!eqI(a.Width, b.Width) || !eqI(a.Height, b.Height) || !eqF(a.Denoise, b.Denoise) || len(a.Loras) != len(b.Loras) {
		return false
	}
	byName := make(map[string]GenLora, len(a.Loras))
	for _, l := range a.Loras {
		byName[l.Name] = l
	}
	for _, l := range b.Loras {
		o, ok := byName[l.Name]
		if !ok || !eqF(o.Weight, l.Weight) {
			return false
		}
	}
	return true
}

// mediaGen is the Gen of one media.
type mediaGen struct {
	MediaID int64
	Gen     Gen
}

const genCols = 12

const genInsert = `INSERT INTO media_gen(media_id, software, model, model_hash, sampler, scheduler, steps, cfg, seed,
	width, height, denoise) VALUES `

// writeGens replaces the rows of gs (delete, then insert) with multi-row
// statements: a batch of media costs a few statements, not a few per
// media. Not an UPSERT: an outer ON CONFLICT clause overrides the INSERT
// OR IGNORE of the text index triggers on these tables (schema 0306), which
// then fail on a media already marked.
func writeGens(ctx context.Context, q db.Execer, gs []mediaGen) error {
	if len(gs) == 0 {
		return nil
	}
	args := make([]any, 0, genCols*len(gs))
	ids := make([]any, 0, len(gs))
	var largs []any
	for _, m := range gs {
		g := m.Gen
		args = append(args, m.MediaID, nullStr(g.Software), nullStr(g.Model), nullStr(g.ModelHash), nullStr(g.Sampler),
			nullStr(g.Scheduler), ptr(g.Steps), ptr(g.CFG), nullStr(g.Seed), ptr(g.Width), ptr(g.Height), ptr(g.Denoise))
		ids = append(ids, m.MediaID)
		for _, l := range g.Loras {
			largs = append(largs, m.MediaID, l.Name, ptr(l.Weight))
		}
	}
	for len(ids) > 0 {
		n := min(len(ids), db.MaxParams)
		for _, t := range []string{"media_gen", "media_gen_loras"} {
			if _, err := q.ExecContext(ctx, `DELETE FROM `+t+` WHERE media_id IN (?`+strings.Repeat(",?", n-1)+`)`, ids[:n]...); err != nil {
				return fmt.Errorf("replace %s: %w", t, db.Classify(err))
			}
		}
		ids = ids[n:]
	}
	if err := db.MultiInsert(ctx, q, genInsert, "", genCols, args); err != nil {
		return fmt.Errorf("write media_gen: %w", err)
	}
	if err := db.MultiInsert(ctx, q, `INSERT INTO media_gen_loras(media_id, name, weight) VALUES `, "", 3, largs); err != nil {
		return fmt.Errorf("write media_gen_loras: %w", err)
	}
	return nil
}

// ptr is a nullable column value.
func ptr[T any](v *T) any {
	if v == nil {
		return nil
	}
	return *v
}

// GenBackfillBatch is how many media one BackfillGen transaction fills:
// a few milliseconds of write lock, so imports and the web UI running
// beside it barely wait.
const GenBackfillBatch = 500

// BackfillGen gives every media that has a prompt but no media_gen row
// (imported before schema 0220, or written with foreign keys off) its rows
// from the stored prompt, without reading any file. Candidates are found
// in id order outside any write transaction; each batch is re-read and
// written in its own short transaction, so a second run finds nothing.
// It returns how many media got rows.
func BackfillGen(ctx context.Context, d *sql.DB, batch int) (int, error) {
	if batch <= 0 || batch > db.MaxParams {
		batch = GenBackfillBatch
	}
	var after int64
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		ids, err := genCandidates(ctx, d, after, batch)
		if err != nil || len(ids) == 0 {
			return total, err
		}
		after = ids[len(ids)-1]
		var n int
		err = db.InTx(ctx, d, func(tx *sql.Tx) error {
			gs, err := currentGens(ctx, tx, ids)
			if err != nil {
				return err
			}
			n = len(gs)
			return writeGens(ctx, tx, gs)
		})
		if err != nil {
			return total, fmt.Errorf("backfill media_gen: %w", err)
		}
		total += n
	}
}

// genCandidates lists up to limit media ids above after that have a prompt
// and no media_gen row (idx_prompts_media and the media_gen key: one pass
// over the prompts index for the whole run).
func genCandidates(ctx context.Context, q db.Execer, after int64, limit int) ([]int64, error) {
	return db.QueryIDs(ctx, q, `SELECT DISTINCT p.media_id FROM prompts p
		WHERE p.media_id > ? AND NOT EXISTS (SELECT 1 FROM media_gen g WHERE g.media_id = p.media_id)
		ORDER BY p.media_id LIMIT ?`, after, limit)
}

// currentGens derives the Gen of each media in ids that still has a
// prompt and no media_gen row, from its current prompt.
func currentGens(ctx context.Context, q db.Execer, ids []int64) ([]mediaGen, error) {
	out := make([]mediaGen, 0, len(ids))
	err := currentPrompts(ctx, q, ids, "AND NOT EXISTS (SELECT 1 FROM media_gen g WHERE g.media_id = p.media_id)",
		func(id int64, p Prompt) { out = append(out, mediaGen{id, GenFromPrompt(p)}) })
	return out, err
}

// CurrentPrompts returns the current prompt (CurrentPrompt's rule) of each
// media in ids that has one, with one query (up to db.MaxParams ids).
func CurrentPrompts(ctx context.Context, q db.Execer, ids []int64) (map[int64]Prompt, error) {
	out := make(map[int64]Prompt, len(ids))
	err := currentPrompts(ctx, q, ids, "", func(id int64, p Prompt) { out[id] = p })
	return out, err
}

// currentPrompts calls fn with the current prompt row of each media in ids
// that matches the extra condition on p (the prompts row).
func currentPrompts(ctx context.Context, q db.Execer, ids []int64, extra string, fn func(int64, Prompt)) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	in := `(?` + strings.Repeat(",?", len(ids)-1) + `)`
	rows, err := q.QueryContext(ctx, `SELECT p.media_id, `+promptCols+` FROM prompts p
		WHERE p.id IN (SELECT MAX(id) FROM prompts WHERE media_id IN `+in+` GROUP BY media_id) `+extra, args...)
	if err != nil {
		return db.Classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		p, err := scanPrompt(rows, &id)
		if err != nil {
			return db.Classify(err)
		}
		fn(id, p)
	}
	return db.Classify(rows.Err())
}
