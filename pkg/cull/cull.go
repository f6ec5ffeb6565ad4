// Package cull is the culling pass (issue #23): a person walks a list one
// media at a time and decides — keep, reject, rate, 18+, add to an album —
// with one key each. Every decision is stored with the state it replaced,
// so the pass survives a reload (its counter comes from the stored
// decisions) and undo writes back exactly what was there. The web layer
// only parses requests; the list itself is read page by page through the
// catalog's keyset, never loaded whole.
package cull

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/localsupervisor/supervisor/pkg/collections"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Reason codes a person sees when a decision is refused.
const (
	CodeUnknownAction = "cull_unknown_action"
	CodeBadValue      = "cull_bad_value"
	CodeNoPass        = "cull_pass_not_found"
	CodePassFinished  = "cull_pass_finished"
	CodeNoCollection  = "cull_no_collection"
	CodeNothingToUndo = "cull_nothing_to_undo"
)

// The decisions. Keep, reject and rate move the pass on to the next media;
// 18+ and collect annotate the current one and stay on it.
const (
	Keep    = "keep"    // mark checked
	Reject  = "reject"  // soft delete
	Rate    = "rate"    // value 0..3
	Adult   = "adult"   // toggle 18+
	Collect = "collect" // add to the pass's album
)

// Advances reports whether action moves the pass to the next media.
func Advances(action string) bool { return action == Keep || action == Reject || action == Rate }

// Pass is one culling pass over a list.
type Pass struct {
	ID int64 `json:"id"`
	// Query is the list's canonical query string (catalog.Filter.Values).
	Query string `json:"query"`
	// Total is the list's size when the pass started: done + left.
	Total int `json:"total"`
	// MaxMediaID is the newest media id when the pass started; "new since
	// the last session" continues after the newest finished pass's.
	MaxMediaID   int64  `json:"max_media_id"`
	CollectionID int64  `json:"collection_id,omitempty"`
	StartedAt    string `json:"started_at"`
	FinishedAt   string `json:"finished_at,omitempty"`
}

// Prev is the state of a media a decision replaced.
type Prev struct {
	Rating    int    `json:"rating"`
	Checked   string `json:"checked"` // curation.checked before ("" none)
	CheckedAt string `json:"checked_at"`
	Deleted   bool   `json:"deleted"`
	NSFW      bool   `json:"nsfw"`
	// NSFWManual is the manual 18+ decision before ("" none).
	NSFWManual string `json:"nsfw_manual"`
	Member     bool   `json:"member"` // already in the pass's album
}

// Decision is one stored decision.
type Decision struct {
	ID       int64  `json:"id"`
	PassID   int64  `json:"pass_id"`
	MediaID  int64  `json:"media_id"`
	Action   string `json:"action"`
	Value    string `json:"value"`
	Prev     Prev   `json:"prev"`
	Advanced bool   `json:"advanced"`
}

// Env is what a decision writes with: the writer database, the library
// roots (an 18+ change moves the file) and who decides, for the audit log.
type Env struct {
	DB    *sql.DB
	Roots library.Roots
	Actor collections.Actor
}

// Start opens a pass over the list query (total matches, albumID the
// album "c" adds to, 0 none).
func Start(ctx context.Context, d *sql.DB, query string, total int, albumID int64, now time.Time) (Pass, error) {
	p := Pass{Query: query, Total: total, CollectionID: albumID, StartedAt: svtime.Format(now)}
	err := db.InTx(ctx, d, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM media`).Scan(&p.MaxMediaID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO cull_passes(query, total, max_media_id, collection_id, started_at) VALUES (?,?,?,?,?)`,
			query, total, p.MaxMediaID, nullID(albumID), p.StartedAt)
		if err != nil {
			return err
		}
		p.ID, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return Pass{}, fmt.Errorf("start culling pass: %w", db.Classify(err))
	}
	return p, nil
}

func nullID(id int64) any {
	if id <= 0 {
		return nil
	}
	return id
}

const passCols = `id, query, total, max_media_id, COALESCE(collection_id, 0), started_at, COALESCE(finished_at, '')`

func scanPass(row interface{ Scan(...any) error }) (Pass, error) {
	var p Pass
	err := row.Scan(&p.ID, &p.Query, &p.Total, &p.MaxMediaID, &p.CollectionID, &p.StartedAt, &p.FinishedAt)
	return p, err
}

// Get loads a pass.
func Get(ctx context.Context, q db.Execer, id int64) (Pass, error) {
	p, err := scanPass(q.QueryRowContext(ctx, `SELECT `+passCols+` FROM cull_passes WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Pass{}, reason.Newf(CodeNoPass, "culling pass %d does not exist; start a new pass from the list", id)
	}
	if err != nil {
		return Pass{}, fmt.Errorf("culling pass %d: %w", id, db.Classify(err))
	}
	return p, nil
}

// Unfinished is the newest unfinished pass over query (ok false: none),
// the pass a reload of the culling page resumes.
func Unfinished(ctx context.Context, q db.Execer, query string) (Pass, bool, error) {
	p, err := scanPass(q.QueryRowContext(ctx, `SELECT `+passCols+` FROM cull_passes WHERE query = ? AND finished_at IS NULL
		ORDER BY id DESC LIMIT 1`, query))
	if errors.Is(err, sql.ErrNoRows) {
		return Pass{}, false, nil
	}
	if err != nil {
		return Pass{}, false, fmt.Errorf("unfinished culling pass: %w", db.Classify(err))
	}
	return p, true, nil
}

// LastSession is the newest media id when the newest finished pass
// started (0 when no pass ever finished): the media after it are "new
// since the last session". A finished pass — not a started one — so a
// pass abandoned after three images does not hide the rest.
func LastSession(ctx context.Context, q db.Execer) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT max_media_id FROM cull_passes WHERE finished_at IS NOT NULL
		ORDER BY finished_at DESC, id DESC LIMIT 1`).Scan(&id)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("last culling session: %w", db.Classify(err))
	}
	return id, nil
}

// Finish closes a pass (the end of its list reached, or the person
// stopped it); finishing twice is harmless.
func Finish(ctx context.Context, d *sql.DB, id int64, now time.Time) error {
	if _, err := Get(ctx, d, id); err != nil {
		return err
	}
	_, err := d.ExecContext(ctx, `UPDATE cull_passes SET finished_at = COALESCE(finished_at, ?) WHERE id = ?`, svtime.Format(now), id)
	return db.Classify(err)
}

// State is a pass with its progress: what the culling page shows.
type State struct {
	Pass Pass `json:"pass"`
	// Done counts the media with at least one decision still in force.
	Done int `json:"done"`
	Left int `json:"left"`
	// Counts are the decisions in force by action ("rate" split by value:
	// "rate:2").
	Counts map[string]int `json:"counts"`
	// Last is the newest decision in force (nil: none), where a reload
	// resumes.
	Last *Decision `json:"last,omitempty"`
}

// Load reads a pass and its progress.
func Load(ctx context.Context, q db.Execer, id int64) (State, error) {
	p, err := Get(ctx, q, id)
	if err != nil {
		return State{}, err
	}
	st := State{Pass: p, Counts: map[string]int{}}
	wrap := func(err error) error { return fmt.Errorf("culling pass %d: %w", id, db.Classify(err)) }
	if err := q.QueryRowContext(ctx, `SELECT count(DISTINCT media_id) FROM cull_decisions WHERE pass_id = ? AND undone = 0`, id).
		Scan(&st.Done); err != nil {
		return State{}, wrap(err)
	}
	rows, err := q.QueryContext(ctx, `SELECT action, CASE action WHEN 'rate' THEN value ELSE '' END, count(*) FROM cull_decisions
		WHERE pass_id = ? AND undone = 0 GROUP BY 1, 2`, id)
	if err != nil {
		return State{}, wrap(err)
	}
	defer rows.Close()
	for rows.Next() {
		var a, v string
		var n int
		if err := rows.Scan(&a, &v, &n); err != nil {
			return State{}, wrap(err)
		}
		if v != "" {
			a += ":" + v
		}
		st.Counts[a] = n
	}
	if err := rows.Err(); err != nil {
		return State{}, wrap(err)
	}
	st.Left = max(p.Total-st.Done, 0)
	last, ok, err := lastDecision(ctx, q, id)
	if err != nil {
		return State{}, err
	}
	if ok {
		st.Last = &last
	}
	return st, nil
}

func lastDecision(ctx context.Context, q db.Execer, passID int64) (Decision, bool, error) {
	var d Decision
	var prev string
	err := q.QueryRowContext(ctx, `SELECT id, pass_id, media_id, action, COALESCE(value, ''), prev_json, advanced FROM cull_decisions
		WHERE pass_id = ? AND undone = 0 ORDER BY id DESC LIMIT 1`, passID).
		Scan(&d.ID, &d.PassID, &d.MediaID, &d.Action, &d.Value, &prev, &d.Advanced)
	if errors.Is(err, sql.ErrNoRows) {
		return Decision{}, false, nil
	}
	if err != nil {
		return Decision{}, false, fmt.Errorf("last culling decision: %w", db.Classify(err))
	}
	if err := json.Unmarshal([]byte(prev), &d.Prev); err != nil {
		return Decision{}, false, fmt.Errorf("culling decision %d: previous state: %w", d.ID, err)
	}
	return d, true, nil
}

// prevState reads what a decision on mediaID is about to replace.
func prevState(ctx context.Context, q db.Execer, mediaID, albumID int64) (Prev, error) {
	var p Prev
	err := q.QueryRowContext(ctx, `SELECT COALESCE(rating, 0), COALESCE(is_deleted, 0), COALESCE(has_nsfw, 0) FROM media WHERE id = ?`, mediaID).
		Scan(&p.Rating, &p.Deleted, &p.NSFW)
	if errors.Is(err, sql.ErrNoRows) {
		return p, reason.Newf(media.CodeNotFound, "media %d not found", mediaID)
	}
	if err != nil {
		return p, fmt.Errorf("media %d: %w", mediaID, db.Classify(err))
	}
	if p.Checked, _, err = media.GetMeta(ctx, q, mediaID, media.MetaChecked); err != nil {
		return p, err
	}
	if p.CheckedAt, _, err = media.GetMeta(ctx, q, mediaID, media.MetaCheckedAt); err != nil {
		return p, err
	}
	if p.NSFWManual, _, err = media.GetMeta(ctx, q, mediaID, media.MetaNSFWManual); err != nil {
		return p, err
	}
	if albumID > 0 {
		err := q.QueryRowContext(ctx, `SELECT 1 FROM collection_media WHERE collection_id = ? AND media_id = ?`, albumID, mediaID).Scan(new(int))
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return p, fmt.Errorf("album membership of media %d: %w", mediaID, db.Classify(err))
		}
		p.Member = err == nil
	}
	return p, nil
}

// Decide applies one decision on mediaID within pass passID and stores it
// with the state it replaced and an audit row. value is the rating for
// Rate and ignored otherwise.
func Decide(ctx context.Context, env Env, passID, mediaID int64, action, value string) (Decision, error) {
	rating := 0
	switch action {
	case Keep, Reject, Adult, Collect:
		value = ""
	case Rate:
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 || n > 3 {
			return Decision{}, reason.Newf(CodeBadValue, "rating %q is not 0, 1, 2 or 3", value)
		}
		rating = n
	default:
		return Decision{}, reason.Newf(CodeUnknownAction, "unknown culling decision %q; use keep, reject, rate, adult or collect", action)
	}
	p, err := Get(ctx, env.DB, passID)
	if err != nil {
		return Decision{}, err
	}
	if p.FinishedAt != "" {
		return Decision{}, reason.Newf(CodePassFinished, "culling pass %d is finished; start a new pass from the list", passID)
	}
	if action == Collect && p.CollectionID == 0 {
		return Decision{}, reason.New(CodeNoCollection, "this pass has no album to add to; add a media to an album once, then start the pass again")
	}
	now := env.Actor.At
	prev, err := prevState(ctx, env.DB, mediaID, p.CollectionID)
	if err != nil {
		return Decision{}, err
	}
	d := Decision{PassID: passID, MediaID: mediaID, Action: action, Value: value, Prev: prev, Advanced: Advances(action)}
	// 18+ moves the file and album adds write their own audit rows: both
	// run in their packages' own transactions, before the decision row.
	switch action {
	case Adult:
		d.Value = strconv.FormatBool(!prev.NSFW)
		if _, err := media.SetNSFW(ctx, env.DB, env.Roots, mediaID, !prev.NSFW, now); err != nil {
			return Decision{}, err
		}
	case Collect:
		if _, err := collections.Add(ctx, env.DB, p.CollectionID, []int64{mediaID}, env.Actor); err != nil {
			return Decision{}, err
		}
		d.Value = strconv.FormatInt(p.CollectionID, 10)
	}
	err = db.InTx(ctx, env.DB, func(tx *sql.Tx) error {
		switch action {
		case Keep:
			if err := media.SetChecked(ctx, tx, mediaID, true, now); err != nil {
				return err
			}
		case Reject:
			if err := media.SoftDelete(ctx, tx, mediaID, now); err != nil {
				return err
			}
		case Rate:
			if err := media.SetRating(ctx, tx, mediaID, rating); err != nil {
				return err
			}
		}
		return record(ctx, tx, env, &d)
	})
	if err != nil {
		return Decision{}, err
	}
	return d, nil
}

// record stores d and its audit row in tx.
func record(ctx context.Context, tx *sql.Tx, env Env, d *Decision) error {
	prev, err := json.Marshal(d.Prev)
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO cull_decisions(pass_id, media_id, action, value, prev_json, advanced, created_at)
		VALUES (?,?,?,?,?,?,?)`, d.PassID, d.MediaID, d.Action, d.Value, string(prev), d.Advanced, svtime.Format(env.Actor.At))
	if err != nil {
		return fmt.Errorf("store culling decision: %w", db.Classify(err))
	}
	if d.ID, err = res.LastInsertId(); err != nil {
		return err
	}
	return audit(ctx, tx, env, "cull_"+d.Action, d, nil)
}

func audit(ctx context.Context, q db.Execer, env Env, action string, d *Decision, extra map[string]any) error {
	details := map[string]any{"pass_id": d.PassID, "decision_id": d.ID, "value": d.Value, "prev": d.Prev}
	for k, v := range extra {
		details[k] = v
	}
	return media.Audit(ctx, q, media.AuditEntry{Action: action, EntityType: "media", EntityID: d.MediaID, Details: details,
		ActorIP: env.Actor.IP, ActorKey: env.Actor.Key, At: env.Actor.At})
}

// Undo reverts the newest decision in force of the pass: the media gets
// back the state the decision replaced (rating, checked mark, deleted
// flag, 18+ with its manual mark, album membership) and the decision no
// longer counts. It returns the decision undone.
func Undo(ctx context.Context, env Env, passID int64) (Decision, error) {
	p, err := Get(ctx, env.DB, passID)
	if err != nil {
		return Decision{}, err
	}
	d, ok, err := lastDecision(ctx, env.DB, passID)
	if err != nil {
		return Decision{}, err
	}
	if !ok {
		return Decision{}, reason.New(CodeNothingToUndo, "nothing to undo in this pass")
	}
	now := env.Actor.At
	switch d.Action {
	case Adult:
		if _, err := media.SetNSFW(ctx, env.DB, env.Roots, d.MediaID, d.Prev.NSFW, now); err != nil {
			return Decision{}, err
		}
	case Collect:
		if !d.Prev.Member {
			if _, err := collections.Remove(ctx, env.DB, p.CollectionID, []int64{d.MediaID}, env.Actor); err != nil {
				return Decision{}, err
			}
		}
	}
	err = db.InTx(ctx, env.DB, func(tx *sql.Tx) error {
		switch d.Action {
		case Keep:
			if err := restoreMeta(ctx, tx, d.MediaID, media.MetaChecked, d.Prev.Checked, now); err != nil {
				return err
			}
			if err := restoreMeta(ctx, tx, d.MediaID, media.MetaCheckedAt, d.Prev.CheckedAt, now); err != nil {
				return err
			}
		case Reject:
			if !d.Prev.Deleted {
				if err := media.Restore(ctx, tx, d.MediaID); err != nil {
					return err
				}
			}
		case Rate:
			if err := media.SetRating(ctx, tx, d.MediaID, d.Prev.Rating); err != nil {
				return err
			}
		case Adult:
			// SetNSFW recorded a manual decision; without one before, the
			// media goes back to having none (automatic verdicts apply).
			if err := restoreMeta(ctx, tx, d.MediaID, media.MetaNSFWManual, d.Prev.NSFWManual, now); err != nil {
				return err
			}
		}
		// Undo at the end of the list reopens a finished pass: the media
		// is back in it and waits for a new decision.
		if _, err := tx.ExecContext(ctx, `UPDATE cull_passes SET finished_at = NULL WHERE id = ?`, passID); err != nil {
			return fmt.Errorf("reopen culling pass: %w", db.Classify(err))
		}
		res, err := tx.ExecContext(ctx, `UPDATE cull_decisions SET undone = 1 WHERE id = ? AND undone = 0`, d.ID)
		if err != nil {
			return fmt.Errorf("undo culling decision: %w", db.Classify(err))
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return reason.New(CodeNothingToUndo, "the decision was undone already")
		}
		return audit(ctx, tx, env, "cull_undo", &d, map[string]any{"undone": d.Action})
	})
	if err != nil {
		return Decision{}, err
	}
	return d, nil
}

// restoreMeta sets key back to prev, or removes it when it had no value.
func restoreMeta(ctx context.Context, q db.Execer, mediaID int64, key, prev string, now time.Time) error {
	if prev == "" {
		return media.DeleteMeta(ctx, q, mediaID, key)
	}
	_, err := media.SetMeta(ctx, q, mediaID, media.SourceWeb, key, prev, now)
	return err
}
