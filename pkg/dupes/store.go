package dupes

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/collections"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/ollama"
	"github.com/localsupervisor/supervisor/pkg/phash"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/similar"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Options configure a rebuild (config section "dupes").
type Options struct {
	// PhashThreshold: 0 means phash.DefaultThreshold.
	PhashThreshold int
	// EmbeddingThreshold: 0 means DefaultEmbeddingThreshold.
	EmbeddingThreshold float64
	// MaxGroupSize: 0 means DefaultMaxGroupSize.
	MaxGroupSize int
}

func (o Options) normal() Options {
	if o.PhashThreshold <= 0 {
		o.PhashThreshold = phash.DefaultThreshold
	}
	o.PhashThreshold = min(o.PhashThreshold, similar.MaxDistance)
	if o.EmbeddingThreshold <= 0 {
		o.EmbeddingThreshold = DefaultEmbeddingThreshold
	}
	if o.MaxGroupSize <= 0 {
		o.MaxGroupSize = DefaultMaxGroupSize
	}
	return o
}

// runPairsMax: a set of byte-identical media up to this size links every
// pair, a larger one a chain.
const runPairsMax = 64

// insertBatch is how many groups one write transaction stores.
const insertBatch = 500

// Build reports a rebuild.
type Build struct {
	ID     int64          `json:"build_id"`
	Groups map[string]int `json:"groups"`
	Hashed int            `json:"phash_media"`
	GroupStats
}

// Rebuild computes the groups of every media that is not soft-deleted and
// stores them as a new build, replacing the previous one. The reads and
// the grouping run outside any transaction; the groups are written in
// short batches under the new build id and become visible in one last
// short transaction, which also drops the older builds.
func Rebuild(ctx context.Context, d *sql.DB, o Options, now time.Time) (Build, error) {
	o = o.normal()
	var b Build
	links, hashed, err := loadLinks(ctx, d, o)
	if err != nil {
		return b, err
	}
	b.Hashed = hashed
	dismissed, err := Dismissed(ctx, d)
	if err != nil {
		return b, err
	}
	groups, st := Groups(links, dismissed, o.MaxGroupSize)
	b.GroupStats = st
	b.Groups = map[string]int{}
	for _, g := range groups {
		b.Groups[g.Tier]++
	}
	err = db.InTx(ctx, d, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `INSERT INTO dupe_builds(started_at) VALUES (?)`, svtime.Format(now))
		if err != nil {
			return err
		}
		b.ID, err = r.LastInsertId()
		return err
	})
	if err != nil {
		return b, fmt.Errorf("duplicate groups: start build: %w", db.Classify(err))
	}
	for lo := 0; lo < len(groups); lo += insertBatch {
		batch := groups[lo:min(lo+insertBatch, len(groups))]
		if err := db.InTx(ctx, d, func(tx *sql.Tx) error { return insertGroups(ctx, tx, b.ID, batch) }); err != nil {
			return b, fmt.Errorf("duplicate groups: store: %w", db.Classify(err))
		}
	}
	stats, _ := json.Marshal(b)
	err = db.InTx(ctx, d, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE dupe_builds SET finished_at = ?, stats_json = ? WHERE id = ?`, svtime.Format(now), string(stats), b.ID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM dupe_builds WHERE id <> ?`, b.ID)
		return err
	})
	if err != nil {
		return b, fmt.Errorf("duplicate groups: finish build: %w", db.Classify(err))
	}
	return b, nil
}

func insertGroups(ctx context.Context, tx *sql.Tx, build int64, groups []Group) error {
	g, err := tx.PrepareContext(ctx, `INSERT INTO dupe_groups(build_id, tier, size) VALUES (?,?,?)`)
	if err != nil {
		return err
	}
	defer g.Close()
	m, err := tx.PrepareContext(ctx, `INSERT INTO dupe_group_media(group_id, media_id) VALUES (?,?)`)
	if err != nil {
		return err
	}
	defer m.Close()
	for _, gr := range groups {
		r, err := g.ExecContext(ctx, build, gr.Tier, len(gr.Media))
		if err != nil {
			return err
		}
		id, _ := r.LastInsertId()
		for _, mid := range gr.Media {
			if _, err := m.ExecContext(ctx, id, mid); err != nil {
				return err
			}
		}
	}
	return nil
}

// loadLinks reads the links of all three tiers between media that are not
// soft-deleted. Media whose perceptual hash was refused (too small, too
// flat: phash reason codes, phash NULL) or not computed have no pHash
// link: blank pictures never group.
func loadLinks(ctx context.Context, d *sql.DB, o Options) ([]Link, int, error) {
	var links []Link
	// Exact: the newest hash.sha256 of each media, in value order, so a
	// run of equal values is one set. A run links every pair (so a
	// dismissed pair in it leaves the others joined) up to runPairsMax
	// members, a longer one as a chain.
	rows, err := d.QueryContext(ctx, `SELECT mm.media_id, mm.meta_value FROM media_meta mm INDEXED BY idx_media_meta_sha256
		JOIN media m ON m.id = mm.media_id
		WHERE mm.meta_key = 'hash.sha256' AND mm.meta_value <> '' AND m.is_deleted = 0
		  AND mm.id = (SELECT MAX(x.id) FROM media_meta x WHERE x.media_id = mm.media_id AND x.meta_key = 'hash.sha256')
		ORDER BY mm.meta_value, mm.media_id`)
	if err != nil {
		return nil, 0, fmt.Errorf("duplicate groups: content hashes: %w", db.Classify(err))
	}
	var run []int64
	var prev string
	flush := func() {
		for i := 1; i < len(run); i++ {
			from := 0
			if len(run) > runPairsMax {
				from = i - 1
			}
			for _, a := range run[from:i] {
				links = append(links, Link{A: a, B: run[i], Tier: TierExact})
			}
		}
		run = run[:0]
	}
	for rows.Next() {
		var id int64
		var v string
		if err := rows.Scan(&id, &v); err != nil {
			rows.Close()
			return nil, 0, fmt.Errorf("duplicate groups: content hashes: %w", db.Classify(err))
		}
		if v != prev {
			flush()
		}
		if len(run) == 0 || run[len(run)-1] != id {
			run = append(run, id)
		}
		prev = v
	}
	flush()
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("duplicate groups: content hashes: %w", db.Classify(err))
	}
	// pHash: every stored hash in memory (16 bytes a media: 16 MB at 1M).
	rows, err = d.QueryContext(ctx, `SELECT p.media_id, p.phash FROM media_phash p JOIN media m ON m.id = p.media_id
		WHERE p.phash IS NOT NULL AND m.is_deleted = 0`)
	if err != nil {
		return nil, 0, fmt.Errorf("duplicate groups: perceptual hashes: %w", db.Classify(err))
	}
	var hs []Hashed
	for rows.Next() {
		var h Hashed
		var v int64
		if err := rows.Scan(&h.ID, &v); err != nil {
			rows.Close()
			return nil, 0, fmt.Errorf("duplicate groups: perceptual hashes: %w", db.Classify(err))
		}
		h.Hash = phash.FromInt64(v)
		hs = append(hs, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("duplicate groups: perceptual hashes: %w", db.Classify(err))
	}
	links = append(links, PhashLinks(hs, o.PhashThreshold)...)
	// Embedding: the hints ollama-dupe-hints stored (cosine of the text
	// embeddings), the strong ones only.
	hints, err := ollama.NewStore(d, nil, ollama.StoreOptions{}).StoredDupeHints(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("duplicate groups: %w", err)
	}
	if len(hints) > 0 {
		deleted, err := db.QueryIDs(ctx, d, `SELECT id FROM media WHERE is_deleted = 1`)
		if err != nil {
			return nil, 0, fmt.Errorf("duplicate groups: deleted media: %w", err)
		}
		gone := make(map[int64]bool, len(deleted))
		for _, id := range deleted {
			gone[id] = true
		}
		for id, list := range hints {
			for _, h := range list {
				if h.Score >= o.EmbeddingThreshold && !gone[id] && !gone[h.MediaID] && id < h.MediaID {
					links = append(links, Link{A: id, B: h.MediaID, Tier: TierEmbedding, Score: 1 - h.Score})
				}
			}
		}
	}
	return links, len(hs), nil
}

// Dismissed returns every pair said "not duplicates".
func Dismissed(ctx context.Context, q db.Execer) (map[Pair]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT media_a, media_b FROM dupe_not_duplicates`)
	if err != nil {
		return nil, fmt.Errorf("not-duplicate pairs: %w", db.Classify(err))
	}
	defer rows.Close()
	out := map[Pair]bool{}
	for rows.Next() {
		var p Pair
		if err := rows.Scan(&p[0], &p[1]); err != nil {
			return nil, fmt.Errorf("not-duplicate pairs: %w", db.Classify(err))
		}
		out[p] = true
	}
	return out, rows.Err()
}

// Reason codes of this package (a person sees them from the CLI and the
// review page).
const (
	CodeTooFew        = "dupes_too_few_media"
	CodeKeepDiscarded = "dupes_keep_in_discard"
	CodeDeleted       = "dupes_media_deleted"
	CodeBadTier       = "dupes_unknown_tier"
)

// Audit actions of NotDuplicates: a person said the media are different
// pictures, or that they are copies all worth keeping; either way the
// group is done with and does not come back.
const (
	ActionNotDuplicates = "dupes_not_duplicates"
	ActionKeepAll       = "dupes_keep_all"
)

// NotDuplicates remembers that the media ids are not duplicates of each
// other (every pair) and drops the stored groups that held nothing but
// them, in one short transaction with an audit row (action
// ActionNotDuplicates or ActionKeepAll): a later rebuild never groups a
// pair of them again.
func NotDuplicates(ctx context.Context, d *sql.DB, ids []int64, action string, by collections.Actor) error {
	now := by.At
	ids = uniq(ids)
	if len(ids) < 2 {
		return reason.New(CodeTooFew, "name at least two different media that are not duplicates of each other")
	}
	if len(ids) > DefaultMaxGroupSize*4 {
		return reason.Newf(CodeTooFew, "at most %d media at once", DefaultMaxGroupSize*4)
	}
	return db.InTx(ctx, d, func(tx *sql.Tx) error {
		if err := mustExist(ctx, tx, ids, true); err != nil {
			return err
		}
		st, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO dupe_not_duplicates(media_a, media_b, created_at) VALUES (?,?,?)`)
		if err != nil {
			return db.Classify(err)
		}
		defer st.Close()
		ts := svtime.Format(now)
		for i, a := range ids {
			for _, b := range ids[i+1:] {
				p := PairOf(a, b)
				if _, err := st.ExecContext(ctx, p[0], p[1], ts); err != nil {
					return fmt.Errorf("remember not duplicates: %w", db.Classify(err))
				}
			}
		}
		in, args := inList(ids)
		// A group whose every member is among ids has nothing left to
		// review.
		_, err = tx.ExecContext(ctx, `DELETE FROM dupe_groups WHERE id IN (SELECT group_id FROM dupe_group_media WHERE media_id IN `+in+`)
			AND NOT EXISTS (SELECT 1 FROM dupe_group_media gm WHERE gm.group_id = dupe_groups.id AND gm.media_id NOT IN `+in+`)`, append(args, args...)...)
		if err != nil {
			return fmt.Errorf("remember not duplicates: %w", db.Classify(err))
		}
		return media.Audit(ctx, tx, media.AuditEntry{Action: action, EntityType: "media", EntityID: ids[0],
			Details: map[string]any{"media_ids": ids}, ActorIP: by.IP, ActorKey: by.Key, At: now})
	})
}

func uniq(ids []int64) []int64 {
	seen := map[int64]bool{}
	var out []int64
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func inList(ids []int64) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return "(?" + strings.Repeat(",?", len(ids)-1) + ")", args
}
