package mediaops

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/sources"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Meta sources written by the media worker.
const (
	SourceIntegrity = "integrity"
	SourceHash      = "hash"
)

// Service holds what the media and rename jobs need. Fields are set by the
// caller (cmd wiring); zero values are documented per field.
type Service struct {
	// DB is the writer handle. Required.
	DB *sql.DB
	// Clock stamps checked_at values. Required.
	Clock svtime.Clock
	// Roots are the four library roots (rename targets, inside checks).
	Roots library.Roots
	// Derivatives is paths.derivatives, where upscales are written.
	Derivatives string
	// MaxPixels is the decode budget (0: probe.DefaultMaxPixels).
	MaxPixels int64
	// Decode bounds the pixels decoded at once by this process's
	// integrity checks and upscales (nil: unbounded).
	Decode *probe.DecodeBudget
	// Video checks videos; nil makes video integrity jobs fail with
	// tool_missing.
	Video VideoChecker
	// Frames reads a video's frames for its perceptual hash; nil makes
	// video phash_compute jobs fail with ffmpeg_missing.
	Frames FrameSource
	// Remote, when set, upscales through Forge instead of locally.
	Remote RemoteUpscaler
	// AfterMove is a test hook called by Rename right after the file was
	// moved and before the DB commit (crash tests kill the process here).
	AfterMove func(from, to string)
}

// AllRoots are the library roots plus the derivatives folder, the set a
// catalogued file must lie in.
func (s *Service) AllRoots() []string {
	r := s.Roots.All()
	if s.Derivatives != "" {
		r = append(r, s.Derivatives)
	}
	return r
}

// readPath is where the media worker may read a catalogued file: its
// real path when it lies inside the roots, the library sources included
// (sources.Readable, the web UI's rule); a symlink pointing elsewhere is
// refused with path_outside_roots. A missing file keeps its path, so the
// caller reports it as missing as before.
func (s *Service) readPath(ctx context.Context, path string) (string, error) {
	real, err := sources.CheckReadable(ctx, s.DB, s.AllRoots(), path)
	if errors.Is(err, fs.ErrNotExist) {
		return path, nil
	}
	return real, err
}

// MediaHandlers returns the handlers for the media worker's job types.
func (s *Service) MediaHandlers() map[string]jobs.Handler {
	return map[string]jobs.Handler{
		jobs.TypeIntegrityCheck: mediaJob(byMedia(s.CheckMedia)),
		jobs.TypeHashCompute:    mediaJob(byMedia(s.HashMedia)),
		jobs.TypePHashCompute:   mediaJob(byMedia(s.PHashMedia)),
		jobs.TypeUpscale:        mediaJob(s.handleUpscale),
	}
}

// RenameHandlers returns the handler of the library rename worker.
func (s *Service) RenameHandlers() map[string]jobs.Handler {
	return map[string]jobs.Handler{jobs.TypeLibraryRename: mediaJob(byMedia(s.Rename))}
}

// mediaJob adapts a per-media operation to a jobs.Handler: the job's
// media_id is the target, and the job completes inside the operation's own
// transaction, so result and job state commit together.
func mediaJob[R any](run func(ctx context.Context, j *jobs.Job, id int64, complete func(*sql.Tx, any) error) (R, error)) jobs.Handler {
	return func(ctx context.Context, j *jobs.Job) (any, error) {
		if j.MediaID == nil {
			return nil, reason.New(jobs.CodePayloadInvalid, "job has no media_id")
		}
		res, err := run(ctx, j, *j.MediaID, func(tx *sql.Tx, v any) error { return j.CompleteTx(ctx, tx, v) })
		return res, err
	}
}

// byMedia drops the job argument for operations that need only the id.
func byMedia[R any](op func(ctx context.Context, id int64, complete func(*sql.Tx, any) error) (R, error)) func(context.Context, *jobs.Job, int64, func(*sql.Tx, any) error) (R, error) {
	return func(ctx context.Context, _ *jobs.Job, id int64, complete func(*sql.Tx, any) error) (R, error) {
		return op(ctx, id, complete)
	}
}

// IntegrityResult is the integrity_check job result.
type IntegrityResult struct {
	MediaID int64 `json:"media_id"`
	Integrity
}

// CheckMedia runs the integrity check for one media row and stores
// integrity.* meta. complete (may be nil) runs in the same transaction.
func (s *Service) CheckMedia(ctx context.Context, id int64, complete func(*sql.Tx, any) error) (IntegrityResult, error) {
	m, err := media.Get(ctx, s.DB, id)
	if err != nil {
		return IntegrityResult{}, err
	}
	// Reads are done before the transaction: no external work while the
	// write lock is held.
	var res Integrity
	if src, rerr := s.readPath(ctx, m.Path); reason.Code(rerr) == library.CodeOutsideRoots {
		// Not read: the finding is that the file is not where a
		// catalogued file may be.
		res = Integrity{Code: library.CodeOutsideRoots, Message: reason.Truncate(rerr.Error(), 240)}
	} else if rerr != nil {
		return IntegrityResult{}, rerr
	} else {
		var release func()
		if m.Type == "image" {
			// A PNG is checked row by row and costs little; other
			// formats decode in full and hold their pixel count of the
			// budget.
			if release, err = s.Decode.Acquire(ctx, probe.DecodeCost(src)); err != nil {
				return IntegrityResult{}, err
			}
		}
		res, err = CheckIntegrity(ctx, src, m.Type, s.MaxPixels, s.Video)
		if release != nil {
			release()
		}
	}
	if err != nil {
		return IntegrityResult{}, err
	}
	out := IntegrityResult{MediaID: id, Integrity: res}
	err = db.InTx(ctx, s.DB, func(tx *sql.Tx) error {
		if err := s.writeIntegrity(ctx, tx, id, res); err != nil {
			return err
		}
		if complete != nil {
			return complete(tx, out)
		}
		return nil
	})
	return out, err
}

func (s *Service) writeIntegrity(ctx context.Context, tx *sql.Tx, id int64, res Integrity) error {
	now := s.Clock.Now()
	ok := "1"
	if !res.OK {
		ok = "0"
	}
	pairs := []media.MetaPair{
		{Source: SourceIntegrity, Key: "integrity.ok", Value: ok},
		{Source: SourceIntegrity, Key: "integrity.error_code", Value: res.Code},
		{Source: SourceIntegrity, Key: "integrity.error_message", Value: res.Message},
		// checked_at always changes, so it is always appended: it records
		// that the check ran.
		{Source: SourceIntegrity, Key: "integrity.checked_at", Value: svtime.Format(now)},
	}
	// integrity.warning (beyond the spec's keys) is written when there is
	// one, and cleared when an earlier one no longer applies; clean files
	// never get the key.
	prev, _, err := media.GetMeta(ctx, tx, id, "integrity.warning")
	if err != nil {
		return err
	}
	if res.Warning != "" || prev != "" {
		pairs = append(pairs, media.MetaPair{Source: SourceIntegrity, Key: "integrity.warning", Value: res.Warning})
	}
	_, err = media.SetMetaPairs(ctx, tx, id, pairs, now)
	return err
}

// HashResult is the hash_compute job result.
type HashResult struct {
	MediaID int64  `json:"media_id"`
	SHA256  string `json:"sha256"`
	MD5     string `json:"md5"`
	Size    int64  `json:"filesize"`
	// Mismatch is set when the content no longer matches the import-time
	// MD5 (media.hash) or the previously recorded SHA-256: bit rot or a
	// replaced file.
	Mismatch   bool   `json:"mismatch"`
	ReasonCode string `json:"reason_code,omitempty"`
	Detail     string `json:"detail,omitempty"`
}

// HashMedia computes SHA-256 (and MD5) of one media file, stores
// hash.sha256/hash.checked_at and reports a mismatch against the import-
// time hash as hash_mismatch (integrity.ok=0, a consistency_log row and an
// audit entry). media.hash is never changed: it is the identity the
// library path is derived from.
func (s *Service) HashMedia(ctx context.Context, id int64, complete func(*sql.Tx, any) error) (HashResult, error) {
	m, err := media.Get(ctx, s.DB, id)
	if err != nil {
		return HashResult{}, err
	}
	prev, _, err := media.GetMeta(ctx, s.DB, id, "hash.sha256")
	if err != nil {
		return HashResult{}, err
	}
	src, err := s.readPath(ctx, m.Path)
	if err != nil {
		return HashResult{}, err
	}
	d, err := HashFile(ctx, src, true)
	if err != nil {
		return HashResult{}, err
	}
	res := HashResult{MediaID: id, SHA256: d.SHA256, MD5: d.MD5, Size: d.Size}
	var why []string
	if m.Hash != "" && !strings.EqualFold(m.Hash, d.MD5) {
		why = append(why, fmt.Sprintf("md5 %s, import-time %s", d.MD5, m.Hash))
	}
	if prev != "" && !strings.EqualFold(prev, d.SHA256) {
		why = append(why, fmt.Sprintf("sha256 %s, previously %s", d.SHA256, prev))
	}
	if len(why) > 0 {
		res.Mismatch, res.ReasonCode, res.Detail = true, CodeHashMismatch, strings.Join(why, "; ")
	}
	now := s.Clock.Now()
	err = db.InTx(ctx, s.DB, func(tx *sql.Tx) error {
		pairs := []media.MetaPair{
			{Source: SourceHash, Key: "hash.sha256", Value: d.SHA256},
			{Source: SourceHash, Key: "hash.checked_at", Value: svtime.Format(now)},
		}
		if _, err := media.SetMetaPairs(ctx, tx, id, pairs, now); err != nil {
			return err
		}
		if res.Mismatch {
			if err := s.writeIntegrity(ctx, tx, id, Integrity{OK: false, Code: CodeHashMismatch, Message: reason.Truncate(res.Detail, 240)}); err != nil {
				return err
			}
			if err := media.ConsistencyLog(ctx, tx, CodeHashMismatch, "warn", fmt.Sprintf("media %d: %s", id, res.Detail), now); err != nil {
				return err
			}
			if err := media.Audit(ctx, tx, media.AuditEntry{Action: CodeHashMismatch, EntityType: "media", EntityID: id,
				Details: map[string]any{"sha256": d.SHA256, "md5": d.MD5, "hash": m.Hash, "previous_sha256": prev}, ActorIP: "cli", ActorKey: "cli", At: now}); err != nil {
				return err
			}
		}
		if complete != nil {
			return complete(tx, res)
		}
		return nil
	})
	return res, err
}

// handleUpscale runs an upscale job with the payload's scale and model.
func (s *Service) handleUpscale(ctx context.Context, j *jobs.Job, id int64, complete func(*sql.Tx, any) error) (UpscaleResult, error) {
	var p UpscalePayload
	if err := j.Decode(&p); err != nil {
		return UpscaleResult{}, err
	}
	return s.Upscale(ctx, id, p, complete)
}
