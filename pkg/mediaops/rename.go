package mediaops

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// SourceLibraryRename is the media_meta source of rename_at.
const SourceLibraryRename = "library_rename"

// RenamePayload is the payload_json of a library_rename job (spec 2.1).
// The handler re-reads the media row: the payload documents intent, the
// row is the truth at run time (the file may have moved since enqueue).
type RenamePayload struct {
	MediaID  int64  `json:"media_id"`
	FromPath string `json:"from_path"`
	ToPath   string `json:"to_path"`
	Hash     string `json:"hash"`
	Ext      string `json:"ext"`
}

// RenameResult is the library_rename job result.
type RenameResult struct {
	MediaID  int64  `json:"media_id"`
	FromPath string `json:"from_path"`
	ToPath   string `json:"to_path"`
	Hash     string `json:"hash"`
	// Outcome is moved, already_canonical, adopted_target (the file was
	// already at the target, e.g. after a crash between move and commit)
	// or deduplicated (identical content at the target; the source copy
	// was removed).
	Outcome string `json:"outcome"`
}

// Target returns the canonical path of m (library.Destination with the
// extension of its current path).
func (s *Service) Target(m *media.Media) (string, error) {
	return library.Destination(s.Roots, m.Type, m.HasNSFW, m.Hash, filepath.Ext(m.Path))
}

// Rename moves media id to its canonical path with file and DB as one
// unit (spec 6.5, defect 28 fixed). Every crash point converges on a
// re-run: before the move nothing changed; after the move the target holds
// the content and the row still names the source, which the next run
// adopts after verifying the content hash; after the commit the row is
// canonical. A DB failure after the move moves the file back. A target
// occupied by different content is a permanent error, never an overwrite.
func (s *Service) Rename(ctx context.Context, id int64, complete func(*sql.Tx, any) error) (RenameResult, error) {
	m, err := media.Get(ctx, s.DB, id)
	if err != nil {
		return RenameResult{}, err
	}
	to, err := s.Target(m)
	if err != nil {
		return RenameResult{}, err
	}
	from := m.Path
	res := RenameResult{MediaID: id, FromPath: from, ToPath: to, Hash: m.Hash}
	if from == to {
		res.Outcome = "already_canonical"
		if complete != nil {
			err := db.InTx(ctx, s.DB, func(tx *sql.Tx) error { return complete(tx, res) })
			return res, err
		}
		return res, nil
	}
	if err := library.RequireInside(s.AllRoots(), from); err != nil {
		return res, err
	}
	if err := library.RequireInside(s.Roots.All(), to); err != nil {
		return res, err
	}
	_, srcErr := os.Stat(from)
	srcExists := srcErr == nil
	if srcErr != nil && !errors.Is(srcErr, os.ErrNotExist) {
		return res, reason.Transient(library.CodePlaceFailed, srcErr)
	}
	moved := false
	if _, err := os.Stat(to); err == nil {
		same, err := library.SameContent(to, m.Hash)
		if err != nil {
			return res, reason.Transient(library.CodePlaceFailed, err)
		}
		if !same {
			return res, reason.Newf(CodeRenameCollision, "target %s holds different content", to)
		}
		res.Outcome = "adopted_target"
		if srcExists {
			res.Outcome = "deduplicated"
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return res, reason.Transient(library.CodePlaceFailed, err)
	} else {
		if !srcExists {
			return res, reason.Newf(CodeRenameSrcMissing, "source file %s is missing", from)
		}
		if err := library.MoveFile(from, to); err != nil {
			return res, err
		}
		moved = true
		res.Outcome = "moved"
		if s.AfterMove != nil {
			s.AfterMove(from, to)
		}
	}
	now := s.Clock.Now()
	err = db.InTx(ctx, s.DB, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `UPDATE media SET path=? WHERE id=? AND path=?`, to, id, from)
		if err != nil {
			return db.Classify(err)
		}
		if n, _ := r.RowsAffected(); n != 1 {
			return reason.Transient(CodeRenameDBFailed, fmt.Errorf("media %d changed path during rename", id))
		}
		if _, err := media.SetMetaIfAbsent(ctx, tx, id, media.SourceImport, "original_path", from, now); err != nil {
			return err
		}
		if _, err := media.SetMetaIfAbsent(ctx, tx, id, media.SourceImport, "original_name", filepath.Base(from), now); err != nil {
			return err
		}
		if _, err := media.SetMeta(ctx, tx, id, SourceLibraryRename, "rename_at", svtime.Format(now), now); err != nil {
			return err
		}
		if err := media.Audit(ctx, tx, media.AuditEntry{Action: "library_rename", EntityType: "media", EntityID: id,
			Details: map[string]any{"from": from, "to": to, "ext": filepath.Ext(to), "outcome": res.Outcome}, ActorIP: "cli", ActorKey: "cli", At: now}); err != nil {
			return err
		}
		if complete != nil {
			return complete(tx, res)
		}
		return nil
	})
	if err != nil {
		if moved {
			// Compensation: the row still names from, so the file goes back.
			if _, statErr := os.Stat(from); errors.Is(statErr, os.ErrNotExist) {
				if mvErr := library.MoveFile(to, from); mvErr != nil {
					_ = media.ConsistencyLog(context.WithoutCancel(ctx), s.DB, "library_rename_compensation", "error",
						fmt.Sprintf("media %d: file at %s, row says %s: %v", id, to, from, mvErr), now)
				}
			}
		}
		if reason.Code(err) == "" {
			err = reason.Transient(CodeRenameDBFailed, err)
		}
		return res, err
	}
	if res.Outcome == "deduplicated" {
		// Identical bytes are at the target and the row points there now.
		_ = os.Remove(from)
	}
	return res, nil
}

// EnqueueSummary counts an enqueue run.
type EnqueueSummary struct {
	Candidates int      `json:"candidates"`
	Enqueued   int      `json:"enqueued"`
	Deduped    int      `json:"deduped"`
	Skipped    int      `json:"skipped"`
	QueueFull  bool     `json:"queue_full"`
	JobIDs     []int64  `json:"job_ids,omitempty"`
	Errors     []string `json:"errors,omitempty"`
}

// add counts one enqueue attempt. A full queue stops the run without an
// error (QueueFull says so); any other error stops it with the error.
func (sum *EnqueueSummary) add(r jobs.EnqueueResult, err error) (stop bool, _ error) {
	sum.Candidates++
	switch {
	case jobs.IsQueueFull(err):
		sum.QueueFull = true
		return true, nil
	case err != nil:
		return true, err
	case r.Deduped:
		sum.Deduped++
	default:
		sum.Enqueued++
		sum.JobIDs = append(sum.JobIDs, r.JobID)
	}
	return false, nil
}

// EnqueueRenames enqueues library_rename jobs for up to limit media whose
// path is not canonical (limit ≤ 0: no limit), paging by id so no read
// cursor stays open while enqueuing. Media without a valid hash or with a
// path outside the roots are skipped; it stops at the queue cap.
func (s *Service) EnqueueRenames(ctx context.Context, q *jobs.Queue, limit int) (EnqueueSummary, error) {
	var sum EnqueueSummary
	err := pageIDs(ctx, s.DB, `SELECT id FROM media WHERE id>? AND hash IS NOT NULL AND hash<>'' AND status='active' AND is_deleted=0 ORDER BY id LIMIT 500`, 0, nil, func(ids []int64) (bool, error) {
		for _, id := range ids {
			m, err := media.Get(ctx, s.DB, id)
			if err != nil {
				continue
			}
			to, err := s.Target(m)
			if err != nil || to == m.Path {
				if err != nil {
					sum.Skipped++
				}
				continue
			}
			if _, in := library.Inside(s.AllRoots(), m.Path); !in {
				sum.Skipped++
				continue
			}
			mid := id
			if stop, err := sum.add(q.Enqueue(ctx, jobs.EnqueueRequest{Type: jobs.TypeLibraryRename, MediaID: &mid,
				Payload: RenamePayload{MediaID: id, FromPath: m.Path, ToPath: to, Hash: m.Hash, Ext: library.NormalizeExt(filepath.Ext(m.Path))}})); err != nil || stop {
				return true, err
			}
			if limit > 0 && sum.Candidates >= limit {
				return true, nil
			}
		}
		return false, nil
	})
	return sum, err
}
