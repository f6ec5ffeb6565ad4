// Package bulk applies one person's action (rating, 18+, tags, checked,
// delete/restore, hard delete, collections, Ollama analyze, rescan, Forge
// regen) to a selection of media: a list of ids, or "every media the list's
// query matches" resolved here by the list's own filter (catalog.Filter),
// never by ids the browser collected. Large selections run as a media_bulk
// job (media-worker): the selection is walked in id order in chunks; each
// chunk's changes, its audit rows and the job's checkpoint (payload cursor
// and progress) commit in one short transaction, so a worker killed at any
// point resumes after the last committed chunk and applies nothing twice.
// Actions with effects outside the database (file moves, file removal,
// jobs of other services) run per media through the existing code paths
// (media.SetNSFW, media.HardDelete, the Ollama and Forge enqueuers), each
// idempotent, and checkpoint after every media.
package bulk

import (
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/catalog"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Reason codes of refused bulk requests (all permanent: the request itself
// is wrong, retrying cannot help).
const (
	CodeUnknownAction  = "bulk_unknown_action"
	CodeEmptySelection = "bulk_empty_selection"
	CodeBadValue       = "bulk_bad_value"
	CodeTooManyIDs     = "bulk_too_many_ids"
	CodeBadQuery       = "bulk_bad_query"
	CodeServiceOff     = "bulk_service_off"
	CodeConfirm        = "confirmation_required"
)

// Limits.
const (
	// MaxIDs bounds an explicit id list (a hand-made selection); larger
	// selections are made with "select all matching", which sends the
	// query instead.
	MaxIDs = 10000
	// DefaultChunk is how many media one chunk transaction changes: small
	// enough that the write lock is held for milliseconds.
	DefaultChunk = 200
	// InRequestMax is the largest hand-made selection the web applies
	// inside the request; anything larger (and every select-all) is a job.
	InRequestMax = 200
)

// The actions, named as the single-media actions of /media/action.
const (
	ActRate          = "rate"
	ActNSFW          = "toggle_nsfw"
	ActTagAdd        = "tag_add"
	ActTagRemove     = "tag_remove"
	ActChecked       = "checked_toggle"
	ActSoftDelete    = "soft_delete"
	ActRestore       = "restore_media"
	ActHardDelete    = "hard_delete"
	ActCollAdd       = "collection_add"
	ActCollRemove    = "collection_remove"
	ActOllamaAnalyze = "ollama_analyze"
	ActRescan        = "rescan_job"
	ActForgeRegen    = "forge_regen"
)

// perMedia are the actions whose effect lies outside the database (files,
// other services' jobs): they run one media at a time through their
// existing code path and checkpoint after each.
var perMedia = []string{ActNSFW, ActHardDelete, ActOllamaAnalyze, ActForgeRegen}

// inChunk are the actions a chunk transaction applies together.
var inChunk = []string{ActRate, ActTagAdd, ActTagRemove, ActChecked, ActSoftDelete, ActRestore, ActCollAdd, ActCollRemove, ActRescan}

// Action is what to do to every selected media.
type Action struct {
	Name string `json:"name"`
	// Rating for rate (0..3).
	Rating int `json:"rating,omitempty"`
	// On is the value of toggle_nsfw (18+) and checked_toggle (checked).
	On bool `json:"on,omitempty"`
	// Tag and TagType for tag_add/tag_remove.
	Tag     string `json:"tag,omitempty"`
	TagType string `json:"tag_type,omitempty"`
	// Collection is the album id of collection_add/remove.
	Collection int64 `json:"collection,omitempty"`
	// Mode is the Ollama mode of ollama_analyze (default caption).
	Mode string `json:"mode,omitempty"`
	// Recipe is the Forge repair recipe ("goal.intensity") of forge_regen.
	Recipe string `json:"recipe,omitempty"`
	// Confirmed must be set for hard_delete (the person confirmed the
	// count).
	Confirmed bool `json:"confirmed,omitempty"`
}

// Known reports whether name is a bulk action.
func Known(name string) bool {
	return slices.Contains(perMedia, name) || slices.Contains(inChunk, name)
}

// Validate checks the action's values; errors carry a reason code and a
// sentence a person can act on.
func (a Action) Validate() error {
	if !Known(a.Name) {
		return reason.Newf(CodeUnknownAction, "unknown bulk action %q", a.Name).With("action", a.Name)
	}
	switch a.Name {
	case ActRate:
		if a.Rating < 0 || a.Rating > 3 {
			return reason.Newf(CodeBadValue, "rating %d is not 0..3", a.Rating)
		}
	case ActTagAdd, ActTagRemove:
		if t := strings.TrimSpace(a.Tag); t == "" || len(t) > 200 || len(a.TagType) > 100 {
			return reason.New(CodeBadValue, "give a tag name (1 to 200 characters)")
		}
	case ActCollAdd, ActCollRemove:
		if a.Collection <= 0 {
			return reason.New(CodeBadValue, "choose a collection")
		}
	case ActHardDelete:
		if !a.Confirmed {
			return reason.New(CodeConfirm, "hard delete needs the confirmation of the count")
		}
	}
	return nil
}

// Request is a bulk action on a selection, as the web builds it and the
// media_bulk job stores it.
type Request struct {
	Action Action `json:"action"`
	// IDs is a hand-made selection (ascending, distinct after Normalize).
	IDs []int64 `json:"ids,omitempty"`
	// All selects every media the list query Query matches (the URL query
	// of the list page, catalog.Filter.Values), Adult as the session had
	// it, media ids up to UpTo (the newest media when the person chose).
	All   bool   `json:"all,omitempty"`
	Query string `json:"query,omitempty"`
	Adult bool   `json:"adult,omitempty"`
	UpTo  int64  `json:"upto,omitempty"`
	// At is when the selection was made (unix seconds): relative dates of
	// the query and the audit rows use it.
	At int64 `json:"at"`
	// ActorIP and ActorKey say who asked, for the audit rows ("session",
	// "internal_key"; never a secret).
	ActorIP  string `json:"actor_ip,omitempty"`
	ActorKey string `json:"actor_key,omitempty"`
}

// Normalize sorts and dedupes IDs (the walk is in id order).
func (r *Request) Normalize() {
	slices.Sort(r.IDs)
	r.IDs = slices.Compact(r.IDs)
}

// Validate checks action and selection.
func (r Request) Validate() error {
	if err := r.Action.Validate(); err != nil {
		return err
	}
	if r.All {
		_, err := r.Filter()
		return err
	}
	if len(r.IDs) == 0 {
		return reason.New(CodeEmptySelection, "nothing is selected: select media or all media matching the search")
	}
	if len(r.IDs) > MaxIDs {
		return reason.Newf(CodeTooManyIDs, "%d media ids at once; at most %d — use \"select all matching\" for more", len(r.IDs), MaxIDs)
	}
	for _, id := range r.IDs {
		if id <= 0 {
			return reason.Newf(CodeBadValue, "media id %d is not valid", id)
		}
	}
	return nil
}

// Filter is the list filter of an All selection, parsed as the list page
// parses it (admin: bulk actions are admin-only) at the selection's time.
func (r Request) Filter() (catalog.Filter, error) {
	v, err := url.ParseQuery(r.Query)
	if err != nil {
		return catalog.Filter{}, reason.Newf(CodeBadQuery, "the search cannot be read: %v", err)
	}
	f := catalog.ParseFilterAt(v, true, time.Unix(r.At, 0))
	f.Adult = r.Adult
	if e := f.QueryErr; e != nil {
		return f, reason.Newf(CodeBadQuery, "the search cannot be used: %s", e.Msg).With("query_error", e.Code).With("position", e.Pos)
	}
	return f, nil
}

// Big reports whether the selection runs as a job rather than inside the
// web request.
func (r Request) Big() bool { return r.All || len(r.IDs) > InRequestMax }
