// Package similar stores perceptual hashes (pkg/phash) in media_phash and
// finds the media whose hash lies within a Hamming distance of a given
// one, at a million media, without reading every hash: multi-index
// hashing over four 16-bit bands. Two hashes within distance d differ in
// at most d/4 bits in at least one band (pigeonhole), so the candidates
// are the rows whose band i is within ⌊d/4⌋ bits of the query's band i
// for some i: for d = 10 that is 137 band values per band, each an
// index seek, and the exact distance then decides (SetSQL, using the SQL
// functions of pkg/db/phashfunc.go).
package similar

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/phash"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Save stores media id's hash, computed from the content with the given
// SHA-256, replacing an earlier hash or refusal.
func Save(ctx context.Context, x db.Execer, id int64, h phash.Hash, sha256 string, now time.Time) error {
	b := phash.Bands(h)
	_, err := x.ExecContext(ctx, `INSERT OR REPLACE INTO media_phash(media_id, phash, b0, b1, b2, b3, reason_code, source_sha256, computed_at)
		VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?)`, id, h.Int64(), b[0], b[1], b[2], b[3], nullable(sha256), svtime.Format(now))
	if err != nil {
		return fmt.Errorf("save perceptual hash of media %d: %w", id, db.Classify(err))
	}
	return nil
}

// SaveRefusal records that media id has no hash and why (a phash reason
// code), so it is not queued again until its content changes.
func SaveRefusal(ctx context.Context, x db.Execer, id int64, code, sha256 string, now time.Time) error {
	_, err := x.ExecContext(ctx, `INSERT OR REPLACE INTO media_phash(media_id, phash, b0, b1, b2, b3, reason_code, source_sha256, computed_at)
		VALUES (?, NULL, NULL, NULL, NULL, NULL, ?, ?, ?)`, id, code, nullable(sha256), svtime.Format(now))
	if err != nil {
		return fmt.Errorf("save perceptual hash refusal of media %d: %w", id, db.Classify(err))
	}
	return nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Match is a media near the query hash.
type Match struct {
	MediaID  int64
	Hash     phash.Hash
	Distance int
}

// MaxDistance bounds a lookup's distance. Up to 11 bits the band radius
// is 2 (137 keys per band: 10–14 ms p95 at 1M hashes); from 12 it is 3
// (697 keys per band, 80–120 ms), and past the threshold the matches are
// other framings rather than copies (pkg/phash measures copies at ≤ 10,
// different pictures at ≥ 18).
const MaxDistance = 11

// SetSQL is the SQL of the ids of the media whose hash lies within a
// distance of the hash ref selects (ref: a one-column SELECT, e.g. "SELECT
// ?" or the hash of a media); its arguments are ref's, then SetArgs. Per
// band, the index keys within ⌊d/4⌋ bits of the reference's band
// (sv_phash_band), then the exact distance (sv_hamming): a few seeks of the
// band indexes, never a scan of every hash. Near and the query language's
// similar: term both read through it.
func SetSQL(ref string) string {
	arms := make([]string, 4)
	for i := range arms {
		b := strconv.Itoa(i)
		arms[i] = "SELECT p.media_id FROM q CROSS JOIN media_phash p WHERE p.b" + b +
			" IN (SELECT value FROM json_each(sv_phash_band(q.h, " + b + ", ?))) AND sv_hamming(p.phash, q.h) <= ?"
	}
	return "WITH q(h) AS (" + ref + ") " + strings.Join(arms, " UNION ")
}

// SetArgs are SetSQL's own arguments for distance d.
func SetArgs(d int) []any {
	args := make([]any, 0, 8)
	for range 4 {
		args = append(args, d/4, d)
	}
	return args
}

// Near returns the media whose hash is within maxDist of h, nearest
// first (then by id), at most limit.
func Near(ctx context.Context, q db.Execer, h phash.Hash, maxDist, limit int) ([]Match, error) {
	if maxDist < 0 || maxDist > MaxDistance {
		return nil, fmt.Errorf("similar: distance %d outside 0..%d", maxDist, MaxDistance)
	}
	rows, err := q.QueryContext(ctx, "SELECT media_id, phash FROM media_phash WHERE media_id IN ("+SetSQL("SELECT ?")+")",
		append([]any{h.Int64()}, SetArgs(maxDist)...)...)
	if err != nil {
		return nil, fmt.Errorf("similar media: %w", db.Classify(err))
	}
	defer rows.Close()
	var out []Match
	for rows.Next() {
		var id, v int64
		if err := rows.Scan(&id, &v); err != nil {
			return nil, fmt.Errorf("similar media: %w", db.Classify(err))
		}
		out = append(out, Match{MediaID: id, Hash: phash.FromInt64(v), Distance: phash.Distance(h, phash.FromInt64(v))})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("similar media: %w", db.Classify(err))
	}
	slices.SortFunc(out, func(a, b Match) int {
		if a.Distance != b.Distance {
			return a.Distance - b.Distance
		}
		return int(a.MediaID - b.MediaID)
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Of returns media id's stored hash (ok false when it has none).
func Of(ctx context.Context, q db.Execer, id int64) (phash.Hash, bool, error) {
	var v sql.NullInt64
	err := q.QueryRowContext(ctx, "SELECT phash FROM media_phash WHERE media_id = ?", id).Scan(&v)
	switch {
	case err == sql.ErrNoRows:
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("perceptual hash of media %d: %w", id, db.Classify(err))
	}
	return phash.FromInt64(v.Int64), v.Valid, nil
}
