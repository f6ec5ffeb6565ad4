// Package similar stores perceptual hashes (pkg/phash) in media_phash and
// finds the media whose hash lies within a Hamming distance of a given
// one, at a million media, without reading every hash: multi-index
// hashing over four 16-bit bands. Two hashes within distance d differ in
// at most d/4 bits in at least one band (pigeonhole), so the candidates
// are the rows whose band i is within ⌊d/4⌋ bits of the query's band i
// for some i: for d = 10 that is 137 band values per band, each an
// index seek, and the exact distance then decides.
package similar

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
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

// Near returns the media whose hash is within maxDist of h, nearest
// first (then by id), at most limit. The lookup reads the band indexes
// only (each holds band and hash, the media id being the rowid).
func Near(ctx context.Context, q db.Execer, h phash.Hash, maxDist, limit int) ([]Match, error) {
	if maxDist < 0 || maxDist > MaxDistance {
		return nil, fmt.Errorf("similar: distance %d outside 0..%d", maxDist, MaxDistance)
	}
	r := maxDist / 4
	args := make([]any, 4)
	for i, b := range phash.Bands(h) {
		js, err := json.Marshal(phash.BandNeighbours(b, r))
		if err != nil {
			return nil, err
		}
		args[i] = string(js)
	}
	rows, err := q.QueryContext(ctx, `
		SELECT media_id, phash FROM media_phash WHERE b0 IN (SELECT value FROM json_each(?))
		UNION SELECT media_id, phash FROM media_phash WHERE b1 IN (SELECT value FROM json_each(?))
		UNION SELECT media_id, phash FROM media_phash WHERE b2 IN (SELECT value FROM json_each(?))
		UNION SELECT media_id, phash FROM media_phash WHERE b3 IN (SELECT value FROM json_each(?))`, args...)
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
		if d := phash.Distance(h, phash.FromInt64(v)); d <= maxDist {
			out = append(out, Match{MediaID: id, Hash: phash.FromInt64(v), Distance: d})
		}
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
