package ollama

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// DupeState is everything DupeHints needs, loaded from the DB.
type DupeState struct {
	Model string
	Index *VectorIndex
	// VectorIDs maps media → its current vector row id.
	VectorIDs map[int64]int64
	// Seeds are media whose current vector has no hints built from it yet.
	Seeds []int64
	// Existing are the stored hint lists of the other media.
	Existing map[int64][]Hint
	// Skipped counts vectors with a wrong dimension or zero norm.
	Skipped int
}

// newestMetaSQL selects the newest row per media of one key.
const newestMetaSQL = `SELECT media_id, meta_value FROM media_meta WHERE id IN (
	SELECT MAX(id) FROM media_meta WHERE meta_key = ? GROUP BY media_id)`

func (s *Store) newestMetaAll(ctx context.Context, key string) (map[int64]string, error) {
	rows, err := s.db.QueryContext(ctx, newestMetaSQL, key)
	if err != nil {
		return nil, db.Classify(err)
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var id int64
		var v sql.NullString
		if err := rows.Scan(&id, &v); err != nil {
			return nil, err
		}
		out[id] = v.String
	}
	return out, rows.Err()
}

// LoadDupeState loads the current text vectors of one embed model (the
// vector each media's newest ollama.embed.text.vector_id points at), the
// domain types, the existing hint lists and the seeds (new or changed
// vectors). Vectors are decoded straight into the index, never all kept
// as JSON.
func (s *Store) LoadDupeState(ctx context.Context, model string) (*DupeState, error) {
	st := &DupeState{Model: model, VectorIDs: map[int64]int64{}, Existing: map[int64][]Hint{}}
	domains, err := s.newestMetaAll(ctx, "ollama.domain.type")
	if err != nil {
		return nil, fmt.Errorf("load domains: %w", err)
	}
	built := map[int64]int64{}
	metas, err := s.newestMetaAll(ctx, "ollama.dupe_hints.meta")
	if err != nil {
		return nil, fmt.Errorf("load dupe meta: %w", err)
	}
	for id, v := range metas {
		var m struct {
			BuiltFrom int64 `json:"built_from_vector_id"`
		}
		if json.Unmarshal([]byte(v), &m) == nil {
			built[id] = m.BuiltFrom
		}
	}
	hints, err := s.StoredDupeHints(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT v.media_id, v.id, v.dims, v.vector_json FROM ollama_vectors v
		JOIN (`+newestMetaSQL+`) m ON m.media_id = v.media_id AND CAST(m.meta_value AS INTEGER) = v.id
		WHERE v.model = ? AND v.kind = ? ORDER BY v.media_id`, "ollama.embed.text.vector_id", model, VectorKindText)
	if err != nil {
		return nil, db.Classify(err)
	}
	defer rows.Close()
	var vec []float32
	for rows.Next() {
		var mediaID, vid int64
		var dims int
		var js []byte
		if err := rows.Scan(&mediaID, &vid, &dims, &js); err != nil {
			return nil, err
		}
		vec = vec[:0]
		if err := json.Unmarshal(js, &vec); err != nil {
			st.Skipped++
			continue
		}
		if st.Index == nil {
			st.Index = NewVectorIndex(len(vec), 1024)
		}
		if !st.Index.Add(mediaID, vec, domains[mediaID]) {
			st.Skipped++
			continue
		}
		st.VectorIDs[mediaID] = vid
		if built[mediaID] != vid {
			st.Seeds = append(st.Seeds, mediaID)
		} else if list, ok := hints[mediaID]; ok {
			st.Existing[mediaID] = list
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if st.Index == nil {
		st.Index = NewVectorIndex(0, 0)
	}
	return st, nil
}

// DupeRun reports a dupe-hints run.
type DupeRun struct {
	Vectors  int           `json:"vectors"`
	Seeds    int           `json:"seeds"`
	Updated  int           `json:"updated"`
	Skipped  int           `json:"skipped"`
	Duration time.Duration `json:"duration_ns"`
}

// RunDupeHints loads the state of model, computes the hints of new or
// changed vectors (and the symmetric updates of older media) and stores
// them. limit > 0 bounds the seeds per run.
func (s *Store) RunDupeHints(ctx context.Context, model string, o DupeOptions, limit int) (DupeRun, error) {
	start := time.Now()
	st, err := s.LoadDupeState(ctx, model)
	if err != nil {
		return DupeRun{}, err
	}
	seeds := st.Seeds
	if limit > 0 && len(seeds) > limit {
		seeds = seeds[:limit]
	}
	hints := DupeHints(st.Index, seeds, st.Existing, o)
	n, err := s.SaveDupeHints(ctx, st, seeds, hints, o)
	run := DupeRun{Vectors: st.Index.Len(), Seeds: len(seeds), Updated: n, Skipped: st.Skipped, Duration: time.Since(start)}
	return run, err
}

// SaveDupeHints writes ollama.dupe_hints.top/.threshold/.meta for every
// changed list in one transaction. Lists of non-seed media that did not
// change are not rewritten.
func (s *Store) SaveDupeHints(ctx context.Context, st *DupeState, seeds []int64, hints map[int64][]Hint, o DupeOptions) (int, error) {
	if o.Threshold <= 0 {
		o.Threshold = DefaultDupeThreshold
	}
	now := svtime.Format(s.clock.Now())
	ids := make([]int64, 0, len(hints))
	for id := range hints {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	isSeed := make(map[int64]bool, len(seeds))
	for _, id := range seeds {
		isSeed[id] = true
	}
	updated := 0
	err := db.InTx(ctx, s.db, func(tx *sql.Tx) error {
		for _, id := range ids {
			list := hints[id]
			if old, ok := st.Existing[id]; ok && !isSeed[id] && slices.Equal(old, list) {
				continue
			}
			w := &metaWriter{tx: tx, mediaID: id, now: now}
			for _, kv := range [][2]string{
				{"ollama.dupe_hints.top", mustJSON(list)},
				{"ollama.dupe_hints.threshold", strconv.FormatFloat(o.Threshold, 'f', -1, 64)},
				{"ollama.dupe_hints.meta", mustJSON(map[string]any{"built_from_vector_id": st.VectorIDs[id], "model": st.Model,
					"dims": st.Index.Dims(), "compared_count": st.Index.Len() - 1, "ts": now})},
				{"ollama.last_run_at", now},
				{"ollama.stage_version", DupeStageVersion},
			} {
				if err := w.set(ctx, kv[0], kv[1]); err != nil {
					return err
				}
			}
			updated++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("save dupe hints: %w", db.Classify(err))
	}
	return updated, nil
}

// StoredDupeHints returns every media's current hint list (the newest
// ollama.dupe_hints.top), as ollama-dupe-hints last wrote it: the
// embedding tier of the duplicate groups (pkg/dupes) reads these instead
// of comparing the vectors again. Lists that do not parse are skipped.
func (s *Store) StoredDupeHints(ctx context.Context) (map[int64][]Hint, error) {
	tops, err := s.newestMetaAll(ctx, "ollama.dupe_hints.top")
	if err != nil {
		return nil, fmt.Errorf("load dupe hints: %w", err)
	}
	out := make(map[int64][]Hint, len(tops))
	for id, top := range tops {
		var list []Hint
		if json.Unmarshal([]byte(top), &list) == nil {
			out[id] = list
		}
	}
	return out, nil
}
