package mediaops

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Finding is one consistency problem (severity warn) or repair note (info).
type Finding struct {
	Check    string `json:"check"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
	Repaired bool   `json:"repaired,omitempty"`
}

// ConsistencyOptions configures RunConsistency.
type ConsistencyOptions struct {
	// Repair is "" (report only) or "simple" (fix what is safe).
	Repair string
	// ThumbCache is the thumbnail cache folder (paths.thumb_cache).
	ThumbCache string
	// StuckAfter flags running jobs without heartbeat for this long
	// (default 30 min, the original's constant).
	StuckAfter time.Duration
	// ScannerEnabled is the scanner module's switch (scanner.enabled).
	// While it is off, images without a scan are expected: they are one
	// informational finding, not a warning per media that fails the run.
	ScannerEnabled bool
}

// ConsistencyReport is the outcome of a run.
type ConsistencyReport struct {
	Findings []Finding      `json:"findings"`
	Counts   map[string]int `json:"counts"`
	Repaired int            `json:"repaired"`
	Mode     string         `json:"mode"`
}

// Warnings counts findings of severity warn.
func (r *ConsistencyReport) Warnings() int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == "warn" {
			n++
		}
	}
	return n
}

// knownJobStatuses are the statuses a job may have, including the
// original's legacy queued equivalents.
var knownJobStatuses = []string{"queued", "running", "done", "error", "cancelled", "pending", "created"}

type checker struct {
	s   *Service
	o   ConsistencyOptions
	rep *ConsistencyReport
	now time.Time
}

func (c *checker) add(check, sev, msg string, repaired bool) {
	c.rep.Findings = append(c.rep.Findings, Finding{Check: check, Severity: sev, Message: msg, Repaired: repaired})
	if sev == "warn" {
		c.rep.Counts[check]++
	}
	if repaired {
		c.rep.Repaired++
	}
}

func (c *checker) repair() bool { return c.o.Repair == "simple" }

// rows runs q and returns each row's columns as strings.
func (c *checker) rows(ctx context.Context, q string, args ...any) ([][]string, error) {
	rs, err := c.s.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("consistency query: %w", db.Classify(err))
	}
	defer rs.Close()
	cols, _ := rs.Columns()
	var out [][]string
	for rs.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = v.String
		}
		out = append(out, row)
	}
	return out, rs.Err()
}

func (c *checker) exec(ctx context.Context, q string, args ...any) (int64, error) {
	r, err := c.s.DB.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, db.Classify(err)
	}
	return r.RowsAffected()
}

// RunConsistency runs every check of spec 9.5 (defect 10 fixed) plus
// untracked library files, derivatives without parent and thumbnails of
// deleted media. Findings are written to consistency_log; "simple" repair
// fixes orphans, missing/active status, prompt_history ids and version
// gaps and stale thumbnails, and audits consistency_repair.
func (s *Service) RunConsistency(ctx context.Context, o ConsistencyOptions) (*ConsistencyReport, error) {
	if o.Repair != "" && o.Repair != "simple" {
		return nil, fmt.Errorf("unknown repair mode %q (only \"simple\")", o.Repair)
	}
	if o.StuckAfter == 0 {
		o.StuckAfter = 30 * time.Minute
	}
	c := &checker{s: s, o: o, rep: &ConsistencyReport{Counts: map[string]int{}, Mode: o.Repair}, now: s.Clock.Now()}
	if c.rep.Mode == "" {
		c.rep.Mode = "report"
	}
	steps := []func(context.Context) error{
		c.mediaTagsOrphan, c.scanResultsOrphan, c.duplicateHash, c.duplicateActivePath, c.mediaMissing, c.lockConflict,
		c.scanMissing, c.jobStates, c.promptHistory, c.mediaGen, c.untrackedFiles, c.derivatives, c.thumbs,
	}
	for _, st := range steps {
		if err := ctx.Err(); err != nil {
			return c.rep, err
		}
		if err := st(ctx); err != nil {
			c.add("consistency_runner", "error", err.Error(), false)
			return c.rep, err
		}
	}
	for _, f := range c.rep.Findings {
		if err := media.ConsistencyLog(ctx, s.DB, f.Check, f.Severity, f.Message, c.now); err != nil {
			return c.rep, err
		}
	}
	if c.repair() {
		if err := media.Audit(ctx, s.DB, media.AuditEntry{Action: "consistency_repair", Details: map[string]any{
			"mode": o.Repair, "findings": c.rep.Warnings(), "repaired": c.rep.Repaired}, ActorIP: "cli", ActorKey: "cli", At: c.now}); err != nil {
			return c.rep, err
		}
	}
	return c.rep, nil
}

func (c *checker) mediaTagsOrphan(ctx context.Context) error {
	rs, err := c.rows(ctx, `SELECT mt.media_id, mt.tag_id, mt.locked FROM media_tags mt
		WHERE NOT EXISTS (SELECT 1 FROM media m WHERE m.id=mt.media_id) OR NOT EXISTS (SELECT 1 FROM tags t WHERE t.id=mt.tag_id) LIMIT 1000`)
	if err != nil {
		return err
	}
	for _, r := range rs {
		fixed := false
		if c.repair() {
			if r[2] == "1" {
				c.add("media_tags_orphan", "info", fmt.Sprintf("media %s tag %s: locked, skipped", r[0], r[1]), false)
			} else if _, err := c.exec(ctx, `DELETE FROM media_tags WHERE media_id=? AND tag_id=? AND locked=0`, r[0], r[1]); err != nil {
				return err
			} else {
				fixed = true
			}
		}
		c.add("media_tags_orphan", "warn", fmt.Sprintf("media_tags(media %s, tag %s) references a missing media or tag", r[0], r[1]), fixed)
	}
	return nil
}

func (c *checker) scanResultsOrphan(ctx context.Context) error {
	rs, err := c.rows(ctx, `SELECT id, media_id FROM scan_results s WHERE NOT EXISTS (SELECT 1 FROM media m WHERE m.id=s.media_id) LIMIT 1000`)
	if err != nil {
		return err
	}
	for _, r := range rs {
		fixed := false
		if c.repair() {
			if _, err := c.exec(ctx, `DELETE FROM scan_results WHERE id=?`, r[0]); err != nil {
				return err
			}
			fixed = true
		}
		c.add("scan_results_orphan", "warn", fmt.Sprintf("scan_results %s references missing media %s", r[0], r[1]), fixed)
	}
	return nil
}

func (c *checker) duplicateHash(ctx context.Context) error {
	rs, err := c.rows(ctx, `SELECT hash, group_concat(id) FROM media WHERE hash IS NOT NULL AND hash<>'' GROUP BY lower(hash) HAVING COUNT(*)>1 LIMIT 500`)
	if err != nil {
		return err
	}
	for _, r := range rs {
		c.add("media_duplicate_hash", "warn", fmt.Sprintf("hash %s shared by media %s", r[0], r[1]), false)
	}
	return nil
}

// duplicateActivePath reports paths held by more than one active media
// (older in-place imports inserted a second row when a file was edited).
// Not repaired: which row keeps the person's tags and votes is a choice;
// the newest row describes the file's current content.
func (c *checker) duplicateActivePath(ctx context.Context) error {
	rs, err := c.rows(ctx, `SELECT path, group_concat(id) FROM media WHERE status='active' GROUP BY path HAVING COUNT(*)>1 LIMIT 500`)
	if err != nil {
		return err
	}
	for _, r := range rs {
		c.add(CodeDuplicateActivePath, "warn", fmt.Sprintf("path %s has %s active media (%s); one path should have one: the newest describes the file's current content, set the others missing or delete them", r[0], strconv.Itoa(strings.Count(r[1], ",")+1), r[1]), false)
	}
	return nil
}

// mediaMissing compares file existence with media.status, paging by id so
// no read cursor is held while stat-ing files.
func (c *checker) mediaMissing(ctx context.Context) error {
	var last int64
	for {
		rs, err := c.rows(ctx, `SELECT id, path, status FROM media WHERE id>? AND is_deleted=0 AND status IN ('active','missing') ORDER BY id LIMIT 500`, last)
		if err != nil || len(rs) == 0 {
			return err
		}
		for _, r := range rs {
			last, _ = strconv.ParseInt(r[0], 10, 64)
			_, serr := os.Stat(r[1])
			exists := serr == nil
			switch {
			case !exists && r[2] == "active":
				fixed := false
				if c.repair() {
					if _, err := c.exec(ctx, `UPDATE media SET status='missing' WHERE id=? AND status='active'`, r[0]); err != nil {
						return err
					}
					fixed = true
				}
				c.add("media_missing", "warn", fmt.Sprintf("media %s: file missing but status active", r[0]), fixed)
			case exists && r[2] == "missing":
				fixed := false
				msg := fmt.Sprintf("media %s: file exists but status missing", r[0])
				if c.repair() {
					id, _ := strconv.ParseInt(r[0], 10, 64)
					ok, err := media.Reactivate(ctx, c.s.DB, id)
					if err != nil {
						return err
					}
					fixed = ok
					if !ok {
						msg += " (kept: another active media has its path)"
					}
				}
				c.add("media_missing", "warn", msg, fixed)
			}
		}
	}
}

func (c *checker) lockConflict(ctx context.Context) error {
	// A locked (manual) assignment of a tag that is itself marked locked
	// on another media is fine; what conflicts is a lock flag outside 0/1
	// or a locked row on a media that is logically deleted and would be
	// purged by cleanup-missing despite the lock.
	rs, err := c.rows(ctx, `SELECT mt.media_id, mt.tag_id, mt.locked FROM media_tags mt LEFT JOIN media m ON m.id=mt.media_id
		WHERE mt.locked NOT IN (0,1) OR (mt.locked=1 AND m.is_deleted=1) LIMIT 500`)
	if err != nil {
		return err
	}
	for _, r := range rs {
		c.add("media_tags_lock_conflict", "warn", fmt.Sprintf("media %s tag %s: locked=%s conflicts with media state", r[0], r[1], r[2]), false)
	}
	return nil
}

func (c *checker) scanMissing(ctx context.Context) error {
	rs, err := c.rows(ctx, `SELECT id, media_id FROM scan_results WHERE run_at IS NULL OR run_at='' LIMIT 500`)
	if err != nil {
		return err
	}
	for _, r := range rs {
		c.add("scan_missing_run_at", "warn", fmt.Sprintf("scan_results %s (media %s) has no run_at", r[0], r[1]), false)
	}
	rs, err = c.rows(ctx, `SELECT id FROM media m WHERE m.type='image' AND m.status='active' AND m.is_deleted=0 AND m.source<>'upscale'
		AND NOT EXISTS (SELECT 1 FROM scan_results s WHERE s.media_id=m.id) ORDER BY id LIMIT ?`, scanMissingLimit)
	if err != nil {
		return err
	}
	if !c.o.ScannerEnabled {
		if len(rs) > 0 {
			n := strconv.Itoa(len(rs))
			if len(rs) == scanMissingLimit {
				n = "at least " + n
			}
			c.add("scan_missing_latest", "info", n+" active images have never been scanned; the scanner module is disabled (scanner.enabled=false), so this is expected", false)
		}
		return nil
	}
	for _, r := range rs {
		c.add("scan_missing_latest", "warn", fmt.Sprintf("media %s has never been scanned", r[0]), false)
	}
	return nil
}

// scanMissingLimit bounds the never-scanned media listed per run.
const scanMissingLimit = 200

func (c *checker) jobStates(ctx context.Context) error {
	in := "'" + strings.Join(knownJobStatuses, "','") + "'"
	rs, err := c.rows(ctx, `SELECT id, type, status FROM jobs WHERE status NOT IN (`+in+`) LIMIT 500`)
	if err != nil {
		return err
	}
	for _, r := range rs {
		c.add("job_state_invalid", "warn", fmt.Sprintf("job %s (%s) has unknown status %q", r[0], r[1], r[2]), false)
	}
	rs, err = c.rows(ctx, `SELECT id, type, status, COALESCE(created_at,''), COALESCE(updated_at,''), COALESCE(heartbeat_at, started_at, ''),
		COALESCE(error_message,'') FROM jobs ORDER BY id DESC LIMIT 500`)
	if err != nil {
		return err
	}
	for _, r := range rs {
		id, typ, st := r[0], r[1], r[2]
		var gaps []string
		if r[3] == "" {
			gaps = append(gaps, "created_at missing")
		}
		if r[4] == "" && st != "queued" {
			gaps = append(gaps, "updated_at missing")
		}
		if st == "running" {
			if hb, ok := svtime.Parse(r[5]); !ok {
				gaps = append(gaps, "running without heartbeat")
			} else if c.now.Sub(hb) > c.o.StuckAfter {
				gaps = append(gaps, fmt.Sprintf("running, heartbeat %s old", c.now.Sub(hb).Round(time.Second)))
			}
			if r[6] != "" {
				gaps = append(gaps, "running with error text")
			}
		}
		if st == "error" && r[6] == "" {
			gaps = append(gaps, "error without message")
		}
		if len(gaps) > 0 {
			c.add("job_state_gap", "warn", fmt.Sprintf("job %s (%s, %s): %s", id, typ, st, strings.Join(gaps, ", ")), false)
		}
	}
	return nil
}

func (c *checker) promptHistory(ctx context.Context) error {
	rs, err := c.rows(ctx, `SELECT h.id, h.prompt_id FROM prompt_history h WHERE h.prompt_id IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM prompts p WHERE p.id=h.prompt_id) LIMIT 1000`)
	if err != nil {
		return err
	}
	for _, r := range rs {
		fixed := false
		if c.repair() {
			if _, err := c.exec(ctx, `UPDATE prompt_history SET prompt_id=NULL WHERE id=?`, r[0]); err != nil {
				return err
			}
			fixed = true
		}
		c.add("prompt_history_orphan", "warn", fmt.Sprintf("prompt_history %s references missing prompt %s", r[0], r[1]), fixed)
	}
	rs, err = c.rows(ctx, `SELECT h.id, h.media_id FROM prompt_history h WHERE NOT EXISTS (SELECT 1 FROM media m WHERE m.id=h.media_id) LIMIT 1000`)
	if err != nil {
		return err
	}
	for _, r := range rs {
		fixed := false
		if c.repair() {
			if _, err := c.exec(ctx, `DELETE FROM prompt_history WHERE id=?`, r[0]); err != nil {
				return err
			}
			fixed = true
		}
		c.add("prompt_history_media_missing", "warn", fmt.Sprintf("prompt_history %s references missing media %s", r[0], r[1]), fixed)
	}
	rs, err = c.rows(ctx, `SELECT media_id, COUNT(*), MIN(version), MAX(version) FROM prompt_history GROUP BY media_id
		HAVING MIN(version)<>1 OR MAX(version)<>COUNT(*) LIMIT 500`)
	if err != nil {
		return err
	}
	for _, r := range rs {
		fixed := false
		if c.repair() {
			// Negate first so the renumbering never collides with the
			// UNIQUE(media_id, version) index mid-update.
			err := db.InTx(ctx, c.s.DB, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, `UPDATE prompt_history SET version=-version-1 WHERE media_id=?`, r[0]); err != nil {
					return err
				}
				_, err := tx.ExecContext(ctx, `UPDATE prompt_history SET version=(SELECT rn FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY -version, created_at, id) rn
					FROM prompt_history WHERE media_id=?) x WHERE x.id=prompt_history.id) WHERE media_id=?`, r[0], r[0])
				return err
			})
			if err != nil {
				return db.Classify(err)
			}
			fixed = true
		}
		c.add("prompt_history_version_gap", "warn", fmt.Sprintf("media %s: %s versions numbered %s..%s", r[0], r[1], r[2], r[3]), fixed)
	}
	return nil
}

// mediaGen checks the query form of the prompts (media_gen, issue #18):
// rows of media without a prompt (written with foreign keys off) go, and
// media whose prompt has no row (imported before schema 0220) are counted
// once and filled from their stored prompts by the repair, as
// prompts-rebuild fills them.
func (c *checker) mediaGen(ctx context.Context) error {
	rs, err := c.rows(ctx, `SELECT g.media_id FROM media_gen g WHERE NOT EXISTS (SELECT 1 FROM prompts p WHERE p.media_id=g.media_id)
		UNION SELECT l.media_id FROM media_gen_loras l WHERE NOT EXISTS (SELECT 1 FROM prompts p WHERE p.media_id=l.media_id) LIMIT 1000`)
	if err != nil {
		return err
	}
	for _, r := range rs {
		fixed := false
		if c.repair() {
			id, _ := strconv.ParseInt(r[0], 10, 64)
			if err := media.SyncGen(ctx, c.s.DB, id); err != nil {
				return err
			}
			fixed = true
		}
		c.add("media_gen_orphan", "warn", fmt.Sprintf("media %s has generation parameter rows but no prompt", r[0]), fixed)
	}
	rs, err = c.rows(ctx, `SELECT COUNT(*) FROM (SELECT DISTINCT p.media_id FROM prompts p
		WHERE NOT EXISTS (SELECT 1 FROM media_gen g WHERE g.media_id=p.media_id))`)
	if err != nil || len(rs) == 0 || rs[0][0] == "0" {
		return err
	}
	fixed := false
	if c.repair() {
		if _, err := media.BackfillGen(ctx, c.s.DB, 0); err != nil {
			return err
		}
		fixed = true
	}
	c.add("media_gen_missing", "warn", fmt.Sprintf("%s media with a prompt have no searchable generation parameters (model, sampler, seed…); run prompts-rebuild to fill them from the stored prompts", rs[0][0]), fixed)
	return nil
}

// knownPaths returns every media path (for the untracked-file checks).
func (c *checker) knownPaths(ctx context.Context) (map[string]bool, error) {
	rs, err := c.rows(ctx, `SELECT path FROM media`)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(rs))
	for _, r := range rs {
		out[filepath.Clean(r[0])] = true
	}
	return out, nil
}

func walkFiles(root string, fn func(p string)) error {
	if root == "" {
		return nil
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() && !library.IsTemp(d.Name()) && !strings.HasPrefix(d.Name(), ".") {
			fn(p)
		}
		return nil
	})
	return err
}

func (c *checker) untrackedFiles(ctx context.Context) error {
	known, err := c.knownPaths(ctx)
	if err != nil {
		return err
	}
	n := 0
	for _, root := range c.s.Roots.All() {
		if err := walkFiles(root, func(p string) {
			if !known[filepath.Clean(p)] && n < 1000 {
				n++
				c.add("library_untracked_file", "warn", fmt.Sprintf("%s is in a library root but not in the database", p), false)
			}
		}); err != nil {
			return err
		}
	}
	return nil
}

func (c *checker) derivatives(ctx context.Context) error {
	rs, err := c.rows(ctx, `SELECT id FROM media m WHERE m.source='upscale' AND (m.parent_media_id IS NULL
		OR NOT EXISTS (SELECT 1 FROM media p WHERE p.id=m.parent_media_id)) LIMIT 500`)
	if err != nil {
		return err
	}
	for _, r := range rs {
		c.add("derivative_without_parent", "warn", fmt.Sprintf("upscale media %s has no parent", r[0]), false)
	}
	known, err := c.knownPaths(ctx)
	if err != nil {
		return err
	}
	n := 0
	return walkFiles(c.s.Derivatives, func(p string) {
		if !known[filepath.Clean(p)] && n < 1000 {
			n++
			c.add("derivative_untracked_file", "warn", fmt.Sprintf("%s is in derivatives but not in the database", p), false)
		}
	})
}

// thumbs finds cache folders <cache>/<id%1000>/<id> of media that no
// longer exist or are deleted; repair removes them (a cache is always
// safe to drop).
func (c *checker) thumbs(ctx context.Context) error {
	if c.o.ThumbCache == "" {
		return nil
	}
	shards, err := os.ReadDir(c.o.ThumbCache)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, sh := range shards {
		if !sh.IsDir() {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(c.o.ThumbCache, sh.Name()))
		if err != nil {
			continue
		}
		for _, e := range ents {
			id, err := strconv.ParseInt(e.Name(), 10, 64)
			if err != nil || !e.IsDir() {
				continue
			}
			var deleted int
			err = c.s.DB.QueryRowContext(ctx, `SELECT is_deleted FROM media WHERE id=?`, id).Scan(&deleted)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return db.Classify(err)
			}
			if err == nil && deleted == 0 {
				continue
			}
			fixed := false
			if c.repair() {
				if os.RemoveAll(filepath.Join(c.o.ThumbCache, sh.Name(), e.Name())) == nil {
					fixed = true
				}
			}
			c.add("thumb_orphan", "warn", fmt.Sprintf("thumbnails of deleted media %d", id), fixed)
		}
	}
	return nil
}
