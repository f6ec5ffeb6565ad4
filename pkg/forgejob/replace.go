package forgejob

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/forge"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/sdmeta"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// ReplaceInfo describes a replaced original (the original's result fields
// backup_path, old_hash, new_hash, … plus where the file went).
type ReplaceInfo struct {
	BackupPath      string `json:"backup_path"`
	OldPath         string `json:"old_path"`
	NewPath         string `json:"output_path"`
	OldHash         string `json:"old_hash"`
	NewHash         string `json:"new_hash"`
	OrigExt         string `json:"orig_ext"`
	OutExt          string `json:"out_ext"`
	FormatPreserved bool   `json:"format_preserved"`
	OrigWidth       int    `json:"orig_w"`
	OrigHeight      int    `json:"orig_h"`
	OutWidth        int    `json:"out_w"`
	OutHeight       int    `json:"out_h"`
	PromptID        int64  `json:"prompt_id"`
	PromptVersion   int    `json:"prompt_version"`
	PromptCreated   bool   `json:"prompt_created"`
	MetaUpdated     int    `json:"meta_updated"`
	// ScanUpdated is known only after the commit; the job result says
	// "pending" and the scan_stale meta/audit records a failure.
	ScanUpdated  string `json:"scan_updated"`
	VersionToken string `json:"version_token"`
	// NewSHA256 is the new content's SHA-256 (stored as hash.sha256).
	NewSHA256 string `json:"new_sha256"`
	// FollowUpJobs are the hash_compute/integrity_check jobs queued (or
	// found live) for the new file.
	FollowUpJobs []int64 `json:"follow_up_jobs,omitempty"`
}

// replaceInput is what the replace pipeline needs.
type replaceInput struct {
	Media *media.Media
	Out   Output
	// Origin says how Out was generated (forgeOrigin for Forge jobs, the
	// job result's own Origin for other generators).
	Origin Origin
	JobID  int64
	// Source labels the prompt history version and meta rows.
	Source        string
	Seed          *int64
	UsedSampler   string
	UsedScheduler string
	Model         string
	// Finish runs inside the commit transaction (job completion, accept
	// bookkeeping). An error rolls everything back and restores the file.
	Finish func(tx *sql.Tx, info *ReplaceInfo) error
	// Audit extra details.
	Extra map[string]any
}

// replace swaps a media's file for in.Out: back up the original (outside the
// roots), write the new file atomically at its canonical path (or in place
// for media catalogued outside the roots), then in one transaction update
// the media row, the prompt (+ history version), meta and audit, and run
// in.Finish. Any failure before the commit restores the original file
// byte-for-byte; after the commit the old file is removed (the backup stays)
// and the media is re-tagged.
func (s *Service) replace(ctx context.Context, in replaceInput) (*ReplaceInfo, error) {
	m := in.Media
	oldPath := m.Path
	oldHash, err := fileMD5(oldPath)
	if err != nil {
		return nil, reason.Permanent(CodeMediaMissing, fmt.Errorf("read original: %w", err))
	}
	if err := s.CheckDirs(); err != nil {
		return nil, err
	}
	ts := s.now().Format("20060102_150405")
	backup := filepath.Join(s.BackupsDir, fmt.Sprintf("forge_regen_%s_%d_%s", ts, in.JobID, filepath.Base(oldPath)))
	if err := library.CopyAtomic(oldPath, backup); err != nil {
		return nil, reason.Transient(CodeBackupFailed, fmt.Errorf("back up original: %w", err))
	}
	if ok, err := library.SameContent(backup, oldHash); err != nil || !ok {
		_ = os.Remove(backup)
		return nil, reason.Transient(CodeBackupFailed, fmt.Errorf("backup %s does not match the original", backup))
	}

	info := &ReplaceInfo{BackupPath: backup, OldPath: oldPath, OldHash: oldHash, NewHash: in.Out.MD5,
		OrigExt: strings.TrimPrefix(strings.ToLower(filepath.Ext(oldPath)), "."), OutExt: in.Out.Ext,
		FormatPreserved: in.Out.FormatPreserved, OutWidth: in.Out.Width, OutHeight: in.Out.Height, ScanUpdated: "pending"}
	if m.Width != nil {
		info.OrigWidth = int(*m.Width)
	}
	if m.Height != nil {
		info.OrigHeight = int(*m.Height)
	}

	dest, err := s.destination(m, in.Out)
	if err != nil {
		_ = os.Remove(backup)
		return nil, err
	}
	info.NewPath = dest
	inPlace := dest == oldPath
	if !inPlace {
		if _, err := os.Stat(dest); err == nil {
			_ = os.Remove(backup)
			return nil, errf(CodeHashCollision, "a file with the new content already exists at %s", dest)
		}
	}

	// restore undoes the file side of a failed replace. The backup is
	// removed only when the original is verified intact.
	restore := func(cause error) error {
		if inPlace {
			if err := library.CopyAtomic(backup, oldPath); err != nil {
				return reason.Permanent(CodeRestoreFailed, fmt.Errorf("%v; restoring %s from %s failed: %w", cause, oldPath, backup, err))
			}
		} else {
			_ = os.Remove(dest)
		}
		if ok, err := library.SameContent(oldPath, oldHash); err != nil || !ok {
			return reason.Permanent(CodeRestoreFailed, fmt.Errorf("%v; original %s differs from its backup %s after restore", cause, oldPath, backup))
		}
		_ = os.Remove(backup)
		return cause
	}

	if err := writeFileAtomic(dest, in.Out.Data); err != nil {
		return nil, restore(reason.Transient(CodeReplaceFailed, fmt.Errorf("write new file: %w", err)))
	}
	// writeFileAtomic renamed the new bytes into place only after reading
	// them back; the old file goes only after the commit.
	st, err := os.Stat(dest)
	if err != nil {
		return nil, restore(reason.Transient(CodeReplaceFailed, err))
	}
	sha := sha256.Sum256(in.Out.Data)
	newSHA := hex.EncodeToString(sha[:])
	info.VersionToken = strconv.FormatInt(st.ModTime().UnixNano(), 10)
	info.NewSHA256 = newSHA

	var extracted *sdmeta.Result
	if s.Extract != nil {
		if r, err := s.Extract(ctx, dest); err == nil {
			extracted = &r
		}
	}

	err = db.InTx(ctx, s.DB, func(tx *sql.Tx) error {
		if other, err := media.GetByHash(ctx, tx, in.Out.MD5); err != nil {
			return err
		} else if other != nil && other.ID != m.ID {
			return errf(CodeHashCollision, "media %d already has the generated content (hash %s)", other.ID, in.Out.MD5)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE media SET path = ?, hash = ?, width = ?, height = ?, filesize = ?, status = 'active' WHERE id = ?`,
			dest, in.Out.MD5, in.Out.Width, in.Out.Height, len(in.Out.Data), m.ID); err != nil {
			return db.Classify(err)
		}
		if err := updateScanFiles(ctx, tx, oldPath, dest, st, m.ID, in.Out.MD5, s.now()); err != nil {
			return err
		}
		now := s.now()
		if err := s.renewChecks(ctx, tx, m.ID, newSHA, in.Source, now, info); err != nil {
			return err
		}
		// The re-extracted parameters (Forge's own infotext, kept in PNG
		// outputs) are the truth of what was generated; without them the
		// prompt is built from the request that was sent.
		var sp media.SavePromptResult
		var err error
		if extracted != nil && media.PromptFromResult(*extracted).Prompt != "" {
			sp, err = media.StoreExtraction(ctx, tx, m.ID, *extracted, in.Source, now)
		} else {
			sp, err = media.SavePrompt(ctx, tx, m.ID, in.Origin.Prompt, in.Source, in.Origin.OriginalPrompt, now)
		}
		if err != nil {
			return err
		}
		info.PromptID, info.PromptCreated, info.PromptVersion = sp.PromptID, sp.Changed, sp.Version
		n, err := media.SetMetaPairs(ctx, tx, m.ID, []media.MetaPair{
			{Source: in.Source, Key: "forge.last_job_id", Value: strconv.FormatInt(in.JobID, 10)},
			{Source: in.Source, Key: "forge.model", Value: in.Model},
			{Source: in.Source, Key: "forge.previous_hash", Value: oldHash},
			{Source: in.Source, Key: "forge.backup_path", Value: backup},
			{Source: in.Source, Key: "forge.generation_mode", Value: in.Origin.Generation},
		}, now)
		if err != nil {
			return err
		}
		info.MetaUpdated = n
		d := map[string]any{"job_id": in.JobID, "resolved_model": in.Model, "generator": in.Origin.Generator,
			"old_hash": oldHash, "new_hash": in.Out.MD5, "orig_ext": info.OrigExt, "out_ext": info.OutExt,
			"format_preserved": info.FormatPreserved, "orig_w": info.OrigWidth, "orig_h": info.OrigHeight,
			"out_w": info.OutWidth, "out_h": info.OutHeight, "meta_updated": n > 0, "prompt_created": sp.Changed,
			"backup_path": backup, "old_path": oldPath, "new_path": dest,
			"source": in.Source}
		for k, v := range in.Origin.Audit {
			d[k] = v
		}
		for k, v := range in.Extra {
			d[k] = v
		}
		if err := media.Audit(ctx, tx, media.AuditEntry{Action: AuditRegenReplace, EntityType: "media", EntityID: m.ID, Details: d, At: now}); err != nil {
			return err
		}
		if in.Finish != nil {
			return in.Finish(tx, info)
		}
		return nil
	})
	if err != nil {
		if reason.Code(err) == "" {
			err = reason.Transient(CodeReplaceFailed, err)
		}
		return nil, restore(err)
	}
	if !inPlace {
		// The old content lives on in the backup; the library keeps one file
		// per media at its canonical path.
		if err := os.Remove(oldPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.Log.Warn().Err(err).Str("path", oldPath).Msg("forge_replace_old_file_remove_failed")
		}
	}
	s.refresh(context.WithoutCancel(ctx), m.ID, in.JobID)
	return info, nil
}

// renewChecks makes the media's file checks describe the new bytes, in the
// commit that points the row at them: hash.sha256 is the new content's
// (a later hash_compute would otherwise report the replace as bit rot),
// the old file's integrity verdict goes, and the follow-up jobs a newly
// imported file gets (hash_compute, integrity_check) are queued. A job a
// queue cap refuses is not a replace failure: integrity.checked_at is
// missing, so media-worker's top-up queues it later.
func (s *Service) renewChecks(ctx context.Context, tx *sql.Tx, mediaID int64, sha256hex, source string, now time.Time, info *ReplaceInfo) error {
	if _, err := media.SetMetaPairs(ctx, tx, mediaID, []media.MetaPair{
		{Source: source, Key: "hash.sha256", Value: sha256hex},
		{Source: source, Key: "hash.checked_at", Value: svtime.Format(now)},
	}, now); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM media_meta WHERE media_id = ? AND meta_key LIKE 'integrity.%'`, mediaID); err != nil {
		return db.Classify(err)
	}
	if s.Queue == nil {
		return nil
	}
	res, err := s.Queue.EnqueueTx(ctx, tx, scan.FollowUpRequests([]int64{mediaID}, false))
	if err != nil {
		return err
	}
	for _, r := range res {
		if r.Err != nil {
			s.Log.Warn().Int64("media_id", mediaID).Str("reason_code", r.ReasonCode).Msg("forge_replace_followup_refused")
			continue
		}
		info.FollowUpJobs = append(info.FollowUpJobs, r.JobID)
	}
	return nil
}

// updateScanFiles keeps the scanner's source-file index true after a
// replace: the old path's fingerprint (size, mtime, old hash) would claim a
// vanished or rewritten file is unchanged, so it goes, and the new file is
// recorded as this media's imported file so a scan of the library does not
// re-hash it.
func updateScanFiles(ctx context.Context, tx *sql.Tx, oldPath, dest string, st os.FileInfo, mediaID int64, hash string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM scan_files WHERE path IN (?, ?)`, oldPath, dest); err != nil {
		return db.Classify(err)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO scan_files(path, size, mtime_ns, media_id, hash, status, seen_at) VALUES (?,?,?,?,?,?,?)`,
		dest, st.Size(), st.ModTime().UnixNano(), mediaID, hash, media.ImportImported, svtime.Format(now))
	return db.Classify(err)
}

// destination is where the new content goes: the canonical library path for
// files inside the roots (the hash changed, so the name changes), else the
// original's folder and name with the output extension.
func (s *Service) destination(m *media.Media, o Output) (string, error) {
	if _, in := library.Inside(s.Roots.All(), m.Path); in {
		return library.Destination(s.Roots, m.Type, m.HasNSFW, o.MD5, o.Ext)
	}
	base := strings.TrimSuffix(m.Path, filepath.Ext(m.Path))
	ext := strings.ToLower(filepath.Ext(m.Path))
	if strings.TrimPrefix(ext, ".") == o.Ext {
		return m.Path, nil
	}
	return base + "." + o.Ext, nil
}

// refresh re-tags the media after a replace; without a tagger (or when it
// fails) the media is flagged scan_stale like the original.
func (s *Service) refresh(ctx context.Context, mediaID, jobID int64) {
	var err error
	if s.Rescan == nil {
		err = errors.New("forge_regen_no_scanner")
	} else {
		err = s.Rescan(ctx, mediaID)
	}
	if err == nil {
		return
	}
	now := s.now()
	_ = db.InTx(ctx, s.DB, func(tx *sql.Tx) error {
		if _, err := media.SetMeta(ctx, tx, mediaID, SourceRegenReplace, "scan_stale", "1", now); err != nil {
			return err
		}
		return media.Audit(ctx, tx, media.AuditEntry{Action: AuditScanStale, EntityType: "media", EntityID: mediaID,
			Details: map[string]any{"reason": "forge_regen_no_scanner", "job_id": jobID, "error": reason.Truncate(err.Error(), 300)}, At: now})
	})
}

// forgeOrigin describes the Forge output of in: the prompts row built from
// what was actually sent (used sampler/scheduler and seed of the variant)
// and the plan's audit details.
func forgeOrigin(req *forge.Request, in replaceInput) Origin {
	return Origin{Generator: GeneratorForge, Prompt: promptFromRequest(req, in), OriginalPrompt: req.Plan.OriginalPrompt,
		Generation: string(req.Generation), Audit: map[string]any{"requested_model": req.Model.Requested,
			"fallback_used": req.Plan.FallbackUsed, "tag_prompt_used": req.Plan.TagPromptUsed, "prompt_category": req.Plan.Category}}
}

// promptFromRequest builds the prompts row of a regenerated image from what
// was actually sent (used sampler/scheduler and seed of the variant).
func promptFromRequest(req *forge.Request, in replaceInput) media.Prompt {
	pl := req.Payload
	cfg := pl.CFGScale
	steps := int64(pl.Steps)
	w, h := int64(in.Out.Width), int64(in.Out.Height)
	p := media.Prompt{Prompt: pl.Prompt, NegativePrompt: pl.NegativePrompt, Model: in.Model,
		Sampler: firstNonEmpty(in.UsedSampler, pl.SamplerName), Scheduler: firstNonEmpty(in.UsedScheduler, pl.Scheduler),
		CFGScale: &cfg, Steps: &steps, Width: &w, Height: &h}
	if in.Seed != nil {
		p.Seed = strconv.FormatInt(*in.Seed, 10)
	} else if pl.Seed >= 0 {
		p.Seed = strconv.FormatInt(pl.Seed, 10)
	}
	if d := pl.DenoisingStrength; d != nil {
		// A1111's own key: media_gen.denoise reads it like an extracted one.
		ss, _ := json.Marshal(map[string]any{"Denoising strength": *d})
		p.SamplerSettings = string(ss)
	}
	// format: the image came from the Forge server (media_gen.software).
	sm, _ := json.Marshal(map[string]any{"format": sdmeta.FormatForge, "source": in.Source, "prompt_category": req.Plan.Category,
		"fallback_used": req.Plan.FallbackUsed, "tag_prompt_used": req.Plan.TagPromptUsed,
		"original_prompt": req.Plan.OriginalPrompt, "job_id": in.JobID, "generation_mode": req.Generation})
	p.SourceMetadata = string(sm)
	return p
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}
