package dupes

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Member is one media of a listed group: what a person compares to pick
// the one to keep.
type Member struct {
	ID        int64    `json:"id"`
	Path      string   `json:"path"`
	Type      string   `json:"type"`
	Format    string   `json:"format"`
	Width     int64    `json:"width"`
	Height    int64    `json:"height"`
	Filesize  int64    `json:"filesize"`
	Rating    int      `json:"rating"`
	HasPrompt bool     `json:"has_prompt"`
	Tags      []string `json:"tags"`
	// NSFW is the 18+ mark: the review page blurs or hides such media
	// like every other page (data-adult).
	NSFW bool `json:"nsfw"`
	// ParentID (0: none) and Children are the media's lineage: an upscale
	// or regen of another member is a derivative, not a stray copy.
	ParentID int64 `json:"parent_id,omitempty"`
	Children int   `json:"children,omitempty"`
}

// Pixels is width × height (0 when unknown).
func (m Member) Pixels() int64 { return m.Width * m.Height }

// ListedGroup is a stored group with its members that are not deleted.
type ListedGroup struct {
	ID      int64    `json:"id"`
	Tier    string   `json:"tier"`
	Members []Member `json:"members"`
}

// List returns the groups of the newest finished build that still have
// two or more media that are not soft-deleted (a resolved group drops
// out by itself), strongest tier first, at most limit (0: all); tier ""
// means every tier.
func List(ctx context.Context, q db.Execer, tier string, limit int) ([]ListedGroup, error) {
	return ListAfter(ctx, q, tier, 0, limit)
}

// ListAfter is List from the group after the one numbered after: groups
// are stored in queue order (Groups' order), so the id is the position.
func ListAfter(ctx context.Context, q db.Execer, tier string, after int64, limit int) ([]ListedGroup, error) {
	if tier != "" && !ValidTier(tier) {
		return nil, badTier(tier)
	}
	if limit <= 0 {
		limit = -1
	}
	rows, err := q.QueryContext(ctx, `SELECT g.id, g.tier FROM dupe_groups g
		WHERE g.build_id = (SELECT MAX(id) FROM dupe_builds WHERE finished_at IS NOT NULL) AND (? = '' OR g.tier = ?) AND g.id > ?
		  AND (SELECT count(*) FROM dupe_group_media gm JOIN media m ON m.id = gm.media_id WHERE gm.group_id = g.id AND m.is_deleted = 0) >= 2
		ORDER BY g.id LIMIT ?`, tier, tier, after, limit)
	if err != nil {
		return nil, fmt.Errorf("duplicate groups: %w", db.Classify(err))
	}
	var out []ListedGroup
	for rows.Next() {
		var g ListedGroup
		if err := rows.Scan(&g.ID, &g.Tier); err != nil {
			rows.Close()
			return nil, fmt.Errorf("duplicate groups: %w", db.Classify(err))
		}
		out = append(out, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("duplicate groups: %w", db.Classify(err))
	}
	for i := range out {
		ids, err := db.QueryIDs(ctx, q, `SELECT gm.media_id FROM dupe_group_media gm JOIN media m ON m.id = gm.media_id
			WHERE gm.group_id = ? AND m.is_deleted = 0 ORDER BY gm.media_id`, out[i].ID)
		if err != nil {
			return nil, fmt.Errorf("duplicate group %d: %w", out[i].ID, err)
		}
		if out[i].Members, err = Members(ctx, q, ids); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Members describes media ids (in the order given; unknown ids are left
// out).
func Members(ctx context.Context, q db.Execer, ids []int64) ([]Member, error) {
	out := make([]Member, 0, len(ids))
	for _, id := range ids {
		m, err := media.Get(ctx, q, id)
		if err != nil {
			if reason.Code(err) == media.CodeNotFound {
				continue
			}
			return nil, err
		}
		out = append(out, memberOf(m))
		mb := &out[len(out)-1]
		var one int
		err = q.QueryRowContext(ctx, `SELECT 1 FROM prompts WHERE media_id = ? LIMIT 1`, id).Scan(&one)
		if err != nil && err != sql.ErrNoRows {
			return nil, fmt.Errorf("media %d: %w", id, db.Classify(err))
		}
		mb.HasPrompt = err == nil
		if m.ParentID != nil {
			mb.ParentID = *m.ParentID
		}
		// idx_media_parent: a count of the media's derivatives.
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM media WHERE parent_media_id = ? AND is_deleted = 0`, id).Scan(&mb.Children); err != nil {
			return nil, fmt.Errorf("derivatives of media %d: %w", id, db.Classify(err))
		}
		tags, err := media.Tags(ctx, q, id)
		if err != nil {
			return nil, fmt.Errorf("tags of media %d: %w", id, err)
		}
		for _, t := range tags {
			mb.Tags = append(mb.Tags, t.Name)
		}
	}
	return out, nil
}

func memberOf(m *media.Media) Member {
	v := func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return *p
	}
	return Member{ID: m.ID, Path: m.Path, Type: m.Type, Format: Format(m.Path), Width: v(m.Width), Height: v(m.Height),
		Filesize: v(m.Filesize), Rating: m.Rating, NSFW: m.HasNSFW}
}

// Format is a file's format as its extension names it, lower case, with
// jpeg spelt jpg.
func Format(path string) string {
	f := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	if f == "jpeg" {
		return "jpg"
	}
	return f
}
