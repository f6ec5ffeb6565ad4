package dupes

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/collections"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Audit actions of a resolve: one row for the kept media with the whole
// plan, one per discarded media naming the kept one.
const (
	ActionKeep    = "dupes_keep"
	ActionDiscard = "dupes_discard"
	// MergeSource is the media_meta / prompt_history source of what a
	// resolve copied onto the kept media.
	MergeSource = "dupe_merge"
)

// CodeDiscardEmpty: a resolve without media to discard.
const CodeDiscardEmpty = "dupes_discard_empty"

// maxDiscard bounds one resolve (a group is at most DefaultMaxGroupSize
// unless configured larger).
const maxDiscard = 500

// TagMove is a tag the kept media receives (LockOnly: it has the tag, a
// discarded copy had it locked, so it becomes locked).
type TagMove struct {
	TagID      int64   `json:"tag_id"`
	Name       string  `json:"name"`
	Type       string  `json:"type"`
	Confidence float64 `json:"confidence"`
	Locked     bool    `json:"locked"`
	LockOnly   bool    `json:"lock_only,omitempty"`
	From       int64   `json:"from"`
}

// RatingMove raises the kept media's rating to the best of the group.
type RatingMove struct {
	From     int64 `json:"from"`
	Previous int   `json:"previous"`
	Rating   int   `json:"rating"`
}

// CollectionMove adds the kept media to an album a discarded one was in.
type CollectionMove struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	From int64  `json:"from"`
}

// MetaMove copies a meta value the kept media lacks.
type MetaMove struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	From  int64  `json:"from"`
}

// PromptMove copies a discarded media's prompt history (oldest version
// first, so the current prompt ends up the same) onto a kept media that
// has no prompt: the re-saved copy that lost its generation metadata.
type PromptMove struct {
	From     int64 `json:"from"`
	Versions int   `json:"versions"`
}

// Plan is what a resolve does (or, in a dry run, would do).
type Plan struct {
	Keep        int64            `json:"keep"`
	Discard     []int64          `json:"discard"`
	Tags        []TagMove        `json:"tags"`
	Rating      *RatingMove      `json:"rating,omitempty"`
	Collections []CollectionMove `json:"collections"`
	Meta        []MetaMove       `json:"meta"`
	Prompt      *PromptMove      `json:"prompt,omitempty"`
	DryRun      bool             `json:"dry_run"`
}

// mergedMeta are the meta keys the kept media takes over when it has
// none: the titles (a person's override, Ollama's) and, with a moved
// prompt, the raw metadata block it was read from.
var mergedMeta = []string{"title.override", "ollama.title"}

// ResolveOptions: DryRun plans without writing; Actor is who decides
// (audit rows).
type ResolveOptions struct {
	DryRun bool
	Actor  collections.Actor
}

// Resolve keeps one media of a duplicate set and soft-deletes the others
// (restorable: files and rows stay), after giving the kept one what they
// had and it lacked: tags (a locked tag stays locked), the best rating,
// album memberships, titles, and the prompt history when it has none.
// Everything happens in one short transaction with an audit row per media;
// a dry run only reads and returns the plan. Bad input (no discard, the
// kept media among the discarded, an unknown or already deleted media) is
// a reason.Error and nothing is written.
func Resolve(ctx context.Context, d *sql.DB, keep int64, discard []int64, o ResolveOptions) (Plan, error) {
	discard = uniq(discard)
	if len(discard) == 0 {
		return Plan{}, reason.New(CodeDiscardEmpty, "name at least one media to discard besides the one kept")
	}
	if len(discard) > maxDiscard {
		return Plan{}, reason.Newf(CodeDiscardEmpty, "at most %d media can be discarded at once", maxDiscard)
	}
	if slices.Contains(discard, keep) {
		return Plan{}, reason.Newf(CodeKeepDiscarded, "media %d is both kept and discarded: leave it out of the discard list", keep).With("media_id", keep)
	}
	if o.DryRun {
		p, err := plan(ctx, d, keep, discard)
		p.DryRun = true
		return p, err
	}
	var p Plan
	err := db.InTx(ctx, d, func(tx *sql.Tx) error {
		var err error
		if p, err = plan(ctx, tx, keep, discard); err != nil {
			return err
		}
		return apply(ctx, tx, p, o.Actor)
	})
	return p, err
}

// mustExist checks that every id is a media, and (unless deletedOK) not
// soft-deleted.
func mustExist(ctx context.Context, q db.Execer, ids []int64, deletedOK bool) error {
	for _, id := range ids {
		m, err := media.Get(ctx, q, id)
		if err != nil {
			return err
		}
		if m.IsDeleted && !deletedOK {
			return reason.Newf(CodeDeleted, "media %d is already deleted: restore it first or leave it out", id).With("media_id", id)
		}
	}
	return nil
}

func plan(ctx context.Context, q db.Execer, keep int64, discard []int64) (Plan, error) {
	p := Plan{Keep: keep, Discard: discard, Tags: []TagMove{}, Collections: []CollectionMove{}, Meta: []MetaMove{}}
	if err := mustExist(ctx, q, append([]int64{keep}, discard...), false); err != nil {
		return p, err
	}
	km, err := media.Get(ctx, q, keep)
	if err != nil {
		return p, err
	}
	keepTags, err := media.Tags(ctx, q, keep)
	if err != nil {
		return p, fmt.Errorf("tags of media %d: %w", keep, err)
	}
	has := map[int64]bool{} // tag id → locked on the kept media (or planned)
	for _, t := range keepTags {
		has[t.TagID] = t.Locked
	}
	keepCols, err := collections.OfMedia(ctx, q, keep)
	if err != nil {
		return p, err
	}
	inCol := map[int64]bool{}
	for _, c := range keepCols {
		inCol[c.ID] = true
	}
	keepMeta, err := media.AllMeta(ctx, q, keep)
	if err != nil {
		return p, fmt.Errorf("meta of media %d: %w", keep, err)
	}
	promptID, _, err := media.CurrentPrompt(ctx, q, keep)
	if err != nil {
		return p, err
	}
	best := km.Rating
	for _, id := range discard {
		m, err := media.Get(ctx, q, id)
		if err != nil {
			return p, err
		}
		if m.Rating > best {
			best = m.Rating
			p.Rating = &RatingMove{From: id, Previous: km.Rating, Rating: best}
		}
		tags, err := media.Tags(ctx, q, id)
		if err != nil {
			return p, fmt.Errorf("tags of media %d: %w", id, err)
		}
		for _, t := range tags {
			locked, ok := has[t.TagID]
			switch {
			case !ok:
				p.Tags = append(p.Tags, TagMove{TagID: t.TagID, Name: t.Name, Type: t.Type, Confidence: t.Confidence, Locked: t.Locked, From: id})
			case t.Locked && !locked:
				p.Tags = append(p.Tags, TagMove{TagID: t.TagID, Name: t.Name, Type: t.Type, Locked: true, LockOnly: true, From: id})
			default:
				continue
			}
			has[t.TagID] = t.Locked
		}
		cols, err := collections.OfMedia(ctx, q, id)
		if err != nil {
			return p, err
		}
		for _, c := range cols {
			if !inCol[c.ID] {
				inCol[c.ID] = true
				p.Collections = append(p.Collections, CollectionMove{ID: c.ID, Name: c.Name, From: id})
			}
		}
		meta, err := media.AllMeta(ctx, q, id)
		if err != nil {
			return p, fmt.Errorf("meta of media %d: %w", id, err)
		}
		keys := mergedMeta
		if promptID == 0 && p.Prompt == nil {
			keys = append(slices.Clone(keys), media.MetaPromptRaw)
		}
		for _, k := range keys {
			if strings.TrimSpace(keepMeta[k]) == "" && strings.TrimSpace(meta[k]) != "" {
				keepMeta[k] = meta[k]
				p.Meta = append(p.Meta, MetaMove{Key: k, Value: meta[k], From: id})
			}
		}
		if promptID == 0 && p.Prompt == nil {
			from, _, err := media.CurrentPrompt(ctx, q, id)
			if err != nil {
				return p, err
			}
			if from != 0 {
				hist, err := media.History(ctx, q, id)
				if err != nil {
					return p, fmt.Errorf("prompt history of media %d: %w", id, err)
				}
				p.Prompt = &PromptMove{From: id, Versions: max(len(hist), 1)}
			}
		}
	}
	return p, nil
}

func apply(ctx context.Context, tx *sql.Tx, p Plan, by collections.Actor) error {
	now := by.At
	for _, t := range p.Tags {
		var err error
		if t.LockOnly {
			err = media.LockTag(ctx, tx, p.Keep, t.TagID, true)
		} else {
			_, err = media.AddTag(ctx, tx, p.Keep, t.Name, t.Type, t.Confidence, t.Locked)
		}
		if err != nil {
			return fmt.Errorf("give media %d tag %q: %w", p.Keep, t.Name, err)
		}
	}
	if p.Rating != nil {
		if err := media.SetRating(ctx, tx, p.Keep, p.Rating.Rating); err != nil {
			return err
		}
	}
	for _, c := range p.Collections {
		if _, err := collections.AddTx(ctx, tx, c.ID, []int64{p.Keep}, by); err != nil {
			return err
		}
	}
	for _, m := range p.Meta {
		if _, err := media.SetMeta(ctx, tx, p.Keep, MergeSource, m.Key, m.Value, now); err != nil {
			return err
		}
	}
	if p.Prompt != nil {
		if err := copyPrompts(ctx, tx, p.Prompt.From, p.Keep, now); err != nil {
			return err
		}
	}
	for _, id := range p.Discard {
		if err := media.SoftDelete(ctx, tx, id, now); err != nil {
			return err
		}
		if err := media.Audit(ctx, tx, media.AuditEntry{Action: ActionDiscard, EntityType: "media", EntityID: id,
			Details: map[string]any{"kept": p.Keep}, ActorIP: by.IP, ActorKey: by.Key, At: now}); err != nil {
			return err
		}
	}
	return media.Audit(ctx, tx, media.AuditEntry{Action: ActionKeep, EntityType: "media", EntityID: p.Keep,
		Details: map[string]any{"discard": p.Discard, "tags": p.Tags, "rating": p.Rating, "collections": p.Collections,
			"meta": p.Meta, "prompt": p.Prompt}, ActorIP: by.IP, ActorKey: by.Key, At: now})
}

// copyPrompts replays from's prompt history onto to, oldest version first,
// through media.SavePrompt (which writes prompts, prompt_history and
// media_gen the one way every prompt writer does). A media with a prompt
// row but no history (written before history existed) gives its current
// prompt.
func copyPrompts(ctx context.Context, tx *sql.Tx, from, to int64, now time.Time) error {
	hist, err := media.History(ctx, tx, from)
	if err != nil {
		return fmt.Errorf("prompt history of media %d: %w", from, err)
	}
	if len(hist) == 0 {
		_, cur, err := media.CurrentPrompt(ctx, tx, from)
		if err != nil {
			return err
		}
		hist = []media.HistoryEntry{{Prompt: cur}}
	}
	for _, h := range slices.Backward(hist) {
		if _, err := media.SavePrompt(ctx, tx, to, h.Prompt, MergeSource, h.RawText, now); err != nil {
			return fmt.Errorf("copy prompt of media %d to %d: %w", from, to, err)
		}
	}
	return nil
}
