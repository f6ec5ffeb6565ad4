package mediaops

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/media"
)

// CleanupOptions configures CleanupMissing.
type CleanupOptions struct {
	// Mark sets status=missing for media whose file vanished and back to
	// active when it reappeared.
	Mark bool
	// Delete hard-deletes missing media (only with both --confirm and
	// --no-dry-run); otherwise the run is a dry run that lists them.
	Delete bool
}

// CleanupItem is one media the run marked or would delete.
type CleanupItem struct {
	MediaID int64  `json:"media_id"`
	Path    string `json:"path"`
	Action  string `json:"action"`
}

// CleanupReport is the outcome of CleanupMissing.
type CleanupReport struct {
	Marked   int           `json:"marked_missing"`
	Restored int           `json:"marked_active"`
	Deleted  int           `json:"deleted"`
	Locked   int           `json:"skipped_locked"`
	DryRun   bool          `json:"dry_run"`
	Items    []CleanupItem `json:"items"`
}

// CleanupMissing marks and (with Delete) removes media whose files are
// gone (the original cleanup_missing_cli.php, plus the mark step its
// filesync never managed). Media with a locked tag are never deleted.
func (s *Service) CleanupMissing(ctx context.Context, o CleanupOptions) (*CleanupReport, error) {
	rep := &CleanupReport{DryRun: !o.Delete}
	now := s.Clock.Now()
	if o.Mark {
		var last int64
		for {
			rs, err := s.DB.QueryContext(ctx, `SELECT id, path, status FROM media WHERE id>? AND is_deleted=0 AND status IN ('active','missing') ORDER BY id LIMIT 500`, last)
			if err != nil {
				return rep, db.Classify(err)
			}
			type row struct {
				id           int64
				path, status string
			}
			var page []row
			for rs.Next() {
				var r row
				if err := rs.Scan(&r.id, &r.path, &r.status); err != nil {
					rs.Close()
					return rep, err
				}
				page = append(page, r)
			}
			rs.Close()
			// A page cut short by an error is not the end of the media:
			// stopping here would leave the rest unchecked silently.
			if err := rs.Err(); err != nil {
				return rep, db.Classify(err)
			}
			if len(page) == 0 {
				break
			}
			last = page[len(page)-1].id
			for _, r := range page {
				_, serr := os.Stat(r.path)
				to := ""
				switch {
				case serr != nil && r.status == media.StatusActive:
					to = media.StatusMissing
				case serr == nil && r.status == media.StatusMissing:
					to = media.StatusActive
				default:
					continue
				}
				if to == media.StatusActive {
					// Not when another active media has the path
					// meanwhile: one path, one active media.
					if ok, err := media.Reactivate(ctx, s.DB, r.id); err != nil {
						return rep, err
					} else if !ok {
						rep.Items = append(rep.Items, CleanupItem{MediaID: r.id, Path: r.path, Action: "keep_missing_path_taken"})
						continue
					}
				} else if err := media.SetStatus(ctx, s.DB, r.id, to); err != nil {
					return rep, err
				}
				_ = media.Audit(ctx, s.DB, media.AuditEntry{Action: "media_mark_missing", EntityType: "media", EntityID: r.id,
					Details: map[string]any{"status": to}, ActorIP: "cli", ActorKey: "cli", At: now})
				if to == media.StatusMissing {
					rep.Marked++
				} else {
					rep.Restored++
				}
				rep.Items = append(rep.Items, CleanupItem{MediaID: r.id, Path: r.path, Action: "mark_" + to})
			}
		}
	}
	rs, err := s.DB.QueryContext(ctx, `SELECT m.id, m.path, EXISTS (SELECT 1 FROM media_tags mt WHERE mt.media_id=m.id AND mt.locked=1)
		FROM media m WHERE m.status='missing' ORDER BY m.id`)
	if err != nil {
		return rep, db.Classify(err)
	}
	type cand struct {
		id     int64
		path   string
		locked bool
	}
	var cands []cand
	for rs.Next() {
		var c cand
		if err := rs.Scan(&c.id, &c.path, &c.locked); err != nil {
			rs.Close()
			return rep, err
		}
		cands = append(cands, c)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return rep, db.Classify(err)
	}
	for _, c := range cands {
		if c.locked {
			rep.Locked++
			rep.Items = append(rep.Items, CleanupItem{MediaID: c.id, Path: c.path, Action: "keep_locked"})
			continue
		}
		if !o.Delete {
			rep.Items = append(rep.Items, CleanupItem{MediaID: c.id, Path: c.path, Action: "would_delete"})
			continue
		}
		// Re-check the file right before deleting: it may have come back.
		if _, err := os.Stat(c.path); err == nil {
			rep.Items = append(rep.Items, CleanupItem{MediaID: c.id, Path: c.path, Action: "keep_file_present"})
			continue
		}
		if _, err := media.HardDelete(ctx, s.DB, s.AllRoots(), c.id, now); err != nil {
			return rep, fmt.Errorf("delete media %s: %w", strconv.FormatInt(c.id, 10), err)
		}
		_ = media.Audit(ctx, s.DB, media.AuditEntry{Action: "cleanup_missing_delete", EntityType: "media", EntityID: c.id,
			Details: map[string]any{"path": c.path}, ActorIP: "cli", ActorKey: "cli", At: now})
		rep.Deleted++
		rep.Items = append(rep.Items, CleanupItem{MediaID: c.id, Path: c.path, Action: "deleted"})
	}
	return rep, nil
}
