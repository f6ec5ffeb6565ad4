package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/media"
)

// GenCard is a card with the media's current prompt and the generation
// record derived from it (media.GenFromPrompt, the one mapping media_gen is
// written from, so the values are the ones the query language matches):
// what the compare page and the lineage show of one media.
type GenCard struct {
	Card
	Prompt media.Prompt
	Gen    media.Gen
}

// GenCards returns the cards of ids in the order given with their prompts
// (ids without a media row are left out): the card queries plus one for
// the prompts.
func GenCards(ctx context.Context, q *sql.DB, ids []int64) ([]GenCard, error) {
	cards, err := CardsByID(ctx, q, ids)
	if err != nil {
		return nil, err
	}
	prompts, err := media.CurrentPrompts(ctx, q, ids)
	if err != nil {
		return nil, fmt.Errorf("generation records: %w", err)
	}
	out := make([]GenCard, len(cards))
	for i, c := range cards {
		out[i].Card = c
		if p, ok := prompts[c.ID]; ok {
			out[i].Prompt, out[i].Gen = p, media.GenFromPrompt(p)
		}
	}
	return out, nil
}

// FamilyNode is one media of a lineage: its parent (0 for the root) and
// how it was made (media.source: import, upscale, forge, …).
type FamilyNode struct {
	ID, ParentID int64
	Source       string
	// Replaced counts the forge previews accepted in place of this
	// media's file (prompt versions written by an accepted replacement).
	Replaced int
}

// Family is the tree of media linked by parent_media_id that a media
// belongs to, root first in breadth-first order, at most the limit asked
// for (Truncated then says some were left out). The path from the root to
// the media asked for is always part of it.
type Family struct {
	Nodes     []FamilyNode
	Truncated bool
}

// sourceAcceptReplace is the prompt_history source of a forge preview
// accepted as the media's new file (forgejob.SourceAccept; catalog reads
// it and does not import the forge job code).
const sourceAcceptReplace = "forge_accept_replace"

// LoadFamily walks from id up to the root of its lineage and from there
// down, level by level through idx_media_parent, keeping at most limit
// media. A parent chain that loops (damaged data) ends where it repeats.
func LoadFamily(ctx context.Context, q *sql.DB, id int64, limit int) (Family, error) {
	var fam Family
	wrap := func(err error) error { return fmt.Errorf("lineage of media %d: %w", id, db.Classify(err)) }
	row := func(mid int64) (FamilyNode, error) {
		n := FamilyNode{ID: mid}
		var parent sql.NullInt64
		err := q.QueryRowContext(ctx, `SELECT parent_media_id, COALESCE(source,'') FROM media WHERE id = ?`, mid).Scan(&parent, &n.Source)
		n.ParentID = parent.Int64
		return n, err
	}
	// Up: the chain from id to its root, id first.
	var chain []FamilyNode
	seen := map[int64]bool{}
	for cur := id; cur != 0 && !seen[cur]; {
		n, err := row(cur)
		if errors.Is(err, sql.ErrNoRows) {
			if cur == id {
				return fam, fmt.Errorf("media %d: %w", id, ErrNotFound)
			}
			break
		}
		if err != nil {
			return fam, wrap(err)
		}
		seen[cur] = true
		chain = append(chain, n)
		if len(chain) == limit {
			fam.Truncated = n.ParentID != 0
			break
		}
		cur = n.ParentID
	}
	root := chain[len(chain)-1]
	root.ParentID = 0 // a looped or cut chain starts here
	fam.Nodes = append(fam.Nodes, root)
	onPath := map[int64]FamilyNode{}
	for _, n := range chain[:len(chain)-1] {
		onPath[n.ID] = n
	}
	// Down: breadth first from the root; the chain's members are taken
	// whatever the limit, the rest while there is room.
	room := max(limit-len(chain), 0)
	for level := []int64{root.ID}; len(level) > 0; {
		kids, err := children(ctx, q, level, room+len(onPath)+1)
		if err != nil {
			return fam, wrap(err)
		}
		parents := make(map[int64]bool, len(level))
		for _, p := range level {
			parents[p] = true
		}
		// The LIMIT may have cut a member of the chain (ids are in id
		// order): it comes along anyway.
		for _, n := range onPath {
			if parents[n.ParentID] && !slices.ContainsFunc(kids, func(k FamilyNode) bool { return k.ID == n.ID }) {
				kids = append(kids, n)
			}
		}
		level = nil
		for _, k := range kids {
			if n, ok := onPath[k.ID]; ok {
				fam.Nodes = append(fam.Nodes, n)
				delete(onPath, k.ID)
			} else if seen[k.ID] {
				continue
			} else if room > 0 {
				room--
				fam.Nodes = append(fam.Nodes, k)
			} else {
				fam.Truncated = true
				continue
			}
			seen[k.ID] = true
			level = append(level, k.ID)
		}
	}
	if err := countReplaced(ctx, q, fam.Nodes); err != nil {
		return fam, wrap(err)
	}
	return fam, nil
}

// children lists the media whose parent is one of ids, in id order, at
// most limit of them.
func children(ctx context.Context, q *sql.DB, ids []int64, limit int) ([]FamilyNode, error) {
	args := make([]any, 0, len(ids)+1)
	for _, id := range ids {
		args = append(args, id)
	}
	args = append(args, limit)
	rows, err := q.QueryContext(ctx, `SELECT id, parent_media_id, COALESCE(source,'') FROM media
		WHERE parent_media_id IN (?`+strings.Repeat(",?", len(ids)-1)+`) ORDER BY id LIMIT ?`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []FamilyNode
	for rows.Next() {
		var n FamilyNode
		if err := rows.Scan(&n.ID, &n.ParentID, &n.Source); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

func countReplaced(ctx context.Context, q *sql.DB, nodes []FamilyNode) error {
	args := make([]any, 0, len(nodes)+1)
	args = append(args, sourceAcceptReplace)
	pos := make(map[int64]int, len(nodes))
	for i, n := range nodes {
		args = append(args, n.ID)
		pos[n.ID] = i
	}
	rows, err := q.QueryContext(ctx, `SELECT media_id, count(*) FROM prompt_history WHERE source = ?
		AND media_id IN (?`+strings.Repeat(",?", len(nodes)-1)+`) GROUP BY media_id`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return err
		}
		nodes[pos[id]].Replaced = n
	}
	return rows.Err()
}

// Duplicates returns up to limit media besides id, in id order, that are
// visible to the session (not soft-deleted; 18+ only when adult): those
// with the SHA-256 sha (same content; "" for none) first, then those of
// also (near-duplicate hints), each once.
func Duplicates(ctx context.Context, q *sql.DB, id int64, sha string, also []int64, adult bool, limit int) (same, similar []int64, err error) {
	visible := `m.is_deleted = 0 AND (m.has_nsfw = 0 OR ?)`
	if sha != "" {
		// INDEXED BY: otherwise the planner walks every hash.sha256 row
		// of idx_media_meta_key_media for its media_id order (the whole
		// library) instead of seeking the few rows with this value.
		same, err = db.QueryIDs(ctx, q, `SELECT DISTINCT mm.media_id FROM media_meta mm INDEXED BY idx_media_meta_sha256 JOIN media m ON m.id = mm.media_id
			WHERE mm.meta_key = 'hash.sha256' AND mm.meta_value = ? AND mm.media_id <> ? AND `+visible+`
			ORDER BY mm.media_id LIMIT ?`, sha, id, adult, limit)
		if err != nil {
			return nil, nil, fmt.Errorf("duplicates of media %d: %w", id, err)
		}
	}
	var want []int64
	for _, a := range also {
		if a != id && !slices.Contains(same, a) && !slices.Contains(want, a) {
			want = append(want, a)
		}
	}
	if len(want) == 0 {
		return same, nil, nil
	}
	args := make([]any, 0, len(want)+1)
	for _, a := range want {
		args = append(args, a)
	}
	args = append(args, adult)
	found, err := db.QueryIDs(ctx, q, `SELECT m.id FROM media m WHERE m.id IN (?`+strings.Repeat(",?", len(want)-1)+`) AND `+visible, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("similar media of media %d: %w", id, err)
	}
	for _, a := range want { // the hints' order (best first)
		if slices.Contains(found, a) && len(similar) < limit {
			similar = append(similar, a)
		}
	}
	return same, similar, nil
}
