package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/db"
)

// A1111Text writes p in the text form A1111 embeds in its PNGs ("the
// parameters"), which A1111, Forge and most other UIs paste back into
// their prompt boxes: the prompt, "Negative prompt: …" and one line of
// "Key: value" pairs. Empty values are left out; modelHash is the
// media_gen model hash ("" when unknown).
func A1111Text(p Prompt, modelHash string) string {
	var b strings.Builder
	b.WriteString(p.Prompt)
	if p.Negative != "" {
		b.WriteString("\nNegative prompt: ")
		b.WriteString(p.Negative)
	}
	var kv []string
	add := func(k, v string) {
		if v = strings.TrimSpace(v); v != "" {
			kv = append(kv, k+": "+v)
		}
	}
	add("Steps", p.Steps)
	add("Sampler", p.Sampler)
	add("Schedule type", p.Scheduler)
	add("CFG scale", trimFloat(p.CFG))
	add("Seed", p.Seed)
	if p.Width != "" && p.Height != "" {
		add("Size", p.Width+"x"+p.Height)
	}
	add("Model hash", modelHash)
	add("Model", p.Model)
	if len(kv) > 0 {
		b.WriteString("\n")
		b.WriteString(strings.Join(kv, ", "))
	}
	return b.String()
}

// trimFloat writes a stored REAL as A1111 does: 7 not 7.0, 6.5 as is.
func trimFloat(s string) string {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return s
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// ModelHash is the model hash of a media's generation parameters
// (media_gen; "" when none is known).
func ModelHash(ctx context.Context, q db.Execer, id int64) (string, error) {
	var h sql.NullString
	err := q.QueryRowContext(ctx, `SELECT model_hash FROM media_gen WHERE media_id = ?`, id).Scan(&h)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("model hash of media %d: %w", id, db.Classify(err))
	}
	return h.String, nil
}
