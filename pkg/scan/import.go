package scan

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/scanner"
	"github.com/localsupervisor/supervisor/pkg/sdmeta"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Import modes (config import.mode).
const (
	ModeMove    = "move"
	ModeCopy    = "copy"
	ModeInPlace = "in_place"
)

// Outcome statuses of one file. The first three are import_log statuses.
const (
	StatusImported         = media.ImportImported
	StatusSkippedDuplicate = media.ImportSkippedDuplicate
	StatusError            = media.ImportError
	// StatusUnchanged: same (path, size, mtime) as a file already handled.
	StatusUnchanged = "unchanged"
	// StatusNotMedia: neither extension nor content is a supported type.
	StatusNotMedia = "not_media"
)

// Reason codes of the importer.
const (
	CodeInvalidMode      = "invalid_import_mode"
	CodeHashFailed       = "hash_failed"
	CodeDBError          = "db_error"
	CodeScannerFailed    = "scanner_failed"
	CodeMetaFailed       = "meta_extract_failed"
	CodeFileMissing      = "file_missing"
	CodeScanPathMissing  = "scan_path_missing"
	CodeScannerNoConfig  = "scanner_not_configured"
	CodeBackfillBadMode  = "backfill_unknown_mode"
	CodeRescanNotAllowed = "rescan_failed"
)

// MediaExts are the extensions treated as media even when the content is
// not recognised (so a corrupt "x.png" is an import error, not ignored).
var mediaExts = map[string]bool{"png": true, "jpg": true, "jpeg": true, "webp": true, "bmp": true, "gif": true,
	"mp4": true, "m4v": true, "mkv": true, "mov": true, "webm": true, "avi": true}

// Tagger is the subset of *scanner.Client the importer uses (tests fake it
// with scannertest behind a real client).
type Tagger interface {
	ScanImage(ctx context.Context, path string) (*scanner.Result, error)
	ScanVideo(ctx context.Context, path string, frames scanner.FrameSource) (*scanner.Result, error)
}

// VideoProber reads video properties (probe.FFprobe).
type VideoProber interface {
	Probe(ctx context.Context, path string) (*probe.VideoInfo, error)
}

// Enqueuer queues follow-up jobs; pkg/jobs' Queue is wired by the caller.
// mediaID jobs: hash_compute and integrity_check for every new media.
type Enqueuer func(ctx context.Context, jobType string, mediaID int64) error

// Importer imports files into the catalogue. Fields are dependencies and
// settings; the zero value of optional fields disables that step.
type Importer struct {
	DB    *sql.DB
	Roots library.Roots
	// Mode is move, copy or in_place (default move, like the original).
	Mode string
	// MaxPixels is the decompression-bomb budget (default probe's).
	MaxPixels int64
	Clock     svtime.Clock
	// Tagger is nil when scanner.enabled is false: media are imported
	// unrated and flagged scanner.pending for a later rescan.
	Tagger Tagger
	// ScannerName labels failed scan_results when no response named one.
	ScannerName string
	Frames      scanner.FrameSource
	// Prober reads video dimensions/duration; nil leaves them NULL.
	Prober VideoProber
	// Extract pulls generation metadata (sdmeta.Extract wired with
	// options); nil skips metadata.
	Extract func(ctx context.Context, path string) (sdmeta.Result, error)
	// Enqueue queues hash_compute/integrity_check; nil skips.
	Enqueue Enqueuer
	// DefaultNSFW is has_nsfw for media imported without a tagger.
	DefaultNSFW bool
	// VerifyDecode fully decodes images at import (truncation and corrupt
	// data become import errors). Header-only when false.
	VerifyDecode bool
	// Ingest receives scanner_ingest events (LOGS/scanner_ingest.jsonl).
	Ingest func(event string, fields map[string]any)
}

// Outcome is what happened to one file.
type Outcome struct {
	Path    string `json:"path"`
	Status  string `json:"status"`
	MediaID int64  `json:"media_id,omitempty"`
	Code    string `json:"reason_code,omitempty"`
	Dest    string `json:"dest,omitempty"`
	// Resumed: the file's media row was committed by an interrupted run;
	// this run only finished it (removed the source in move mode).
	Resumed bool `json:"resumed,omitempty"`
}

func (im *Importer) now() time.Time {
	if im.Clock == nil {
		return time.Now().UTC()
	}
	return im.Clock.Now()
}

func (im *Importer) mode() string {
	if im.Mode == "" {
		return ModeMove
	}
	return im.Mode
}

// ValidMode reports whether m is a known import mode.
func ValidMode(m string) bool { return m == ModeMove || m == ModeCopy || m == ModeInPlace }

// Hashes computes MD5 and SHA-256 of r in one streaming read.
func Hashes(r io.Reader) (md5hex, sha256hex string, n int64, err error) {
	m, s := md5.New(), sha256.New()
	n, err = io.CopyBuffer(io.MultiWriter(m, s), r, make([]byte, 256<<10))
	if err != nil {
		return "", "", n, err
	}
	return hex.EncodeToString(m.Sum(nil)), hex.EncodeToString(s.Sum(nil)), n, nil
}

// HashFile is Hashes on a file.
func HashFile(path string) (string, string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", 0, err
	}
	defer f.Close()
	return Hashes(f)
}

// fileKey is the unchanged-detection key of a source file.
type fileKey struct {
	size    int64
	mtimeNS int64
}

func keyOf(info fs.FileInfo) fileKey {
	return fileKey{size: info.Size(), mtimeNS: info.ModTime().UnixNano()}
}

// unchanged reports whether path was handled before with the same size and
// mtime and its media row still exists.
func (im *Importer) unchanged(ctx context.Context, path string, k fileKey) (bool, int64, error) {
	var size, mt int64
	var mid sql.NullInt64
	var status string
	err := im.DB.QueryRowContext(ctx, `SELECT size, mtime_ns, media_id, status FROM scan_files WHERE path=?`, path).Scan(&size, &mt, &mid, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, db.Classify(err)
	}
	if size != k.size || mt != k.mtimeNS || !mid.Valid || (status != StatusImported && status != StatusSkippedDuplicate) {
		return false, 0, nil
	}
	return true, mid.Int64, nil
}

func recordFile(ctx context.Context, q db.Execer, path string, k fileKey, mediaID int64, hash, status string, now time.Time) error {
	var mid any
	if mediaID != 0 {
		mid = mediaID
	}
	_, err := q.ExecContext(ctx, `INSERT INTO scan_files(path, size, mtime_ns, media_id, hash, status, seen_at) VALUES (?,?,?,?,?,?,?)
		ON CONFLICT(path) DO UPDATE SET size=excluded.size, mtime_ns=excluded.mtime_ns, media_id=excluded.media_id,
		hash=excluded.hash, status=excluded.status, seen_at=excluded.seen_at`,
		path, k.size, k.mtimeNS, mid, hash, status, svtime.Format(now))
	return db.Classify(err)
}

// logError writes the import_log error row (and a scan_files row, so an
// unchanged broken file is not re-examined on every scan… but a changed one
// is).
func (im *Importer) fail(ctx context.Context, path string, k fileKey, err error) (Outcome, error) {
	code := reason.CodeOr(err, CodeDBError)
	now := im.now()
	msg := code
	if e := err.Error(); e != "" && !strings.HasPrefix(e, code) {
		msg = code + ": " + reason.Truncate(e, 300)
	} else if e != "" {
		msg = reason.Truncate(e, 300)
	}
	if lerr := media.ImportLog(ctx, im.DB, path, StatusError, msg, now); lerr != nil {
		return Outcome{}, lerr
	}
	_ = recordFile(ctx, im.DB, path, k, 0, "", StatusError, now)
	return Outcome{Path: path, Status: StatusError, Code: code}, nil
}

// ImportFile imports one file. The returned error is only for failures of
// the catalogue itself (DB unavailable, ctx cancelled); problems with the
// file become an Outcome with status error and a reason code, logged in
// import_log.
func (im *Importer) ImportFile(ctx context.Context, path string) (Outcome, error) {
	if !ValidMode(im.mode()) {
		return Outcome{}, reason.Newf(CodeInvalidMode, "unknown import mode %q", im.Mode)
	}
	if err := ctx.Err(); err != nil {
		return Outcome{}, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Outcome{}, err
	}
	path = abs
	info, err := os.Stat(path)
	if err != nil {
		// Vanished between walk and import: nothing to log against a row.
		return Outcome{Path: path, Status: StatusError, Code: probe.CodeMissingFile}, nil
	}
	k := keyOf(info)
	ext := library.NormalizeExt(filepath.Ext(path))
	if ok, mid, err := im.unchanged(ctx, path, k); err != nil {
		return Outcome{}, err
	} else if ok {
		return Outcome{Path: path, Status: StatusUnchanged, MediaID: mid}, nil
	}

	kind, cext, derr := probe.DetectFile(path)
	if derr != nil {
		if !mediaExts[ext] && reason.Code(derr) == probe.CodeUnsupportedType {
			return Outcome{Path: path, Status: StatusNotMedia}, nil
		}
		if info.Size() == 0 && !mediaExts[ext] {
			return Outcome{Path: path, Status: StatusNotMedia}, nil
		}
		return im.fail(ctx, path, k, derr)
	}
	mediaType := string(kind)

	var width, height int
	var vinfo *probe.VideoInfo
	if kind == probe.KindImage {
		maxPix := im.MaxPixels
		if maxPix <= 0 {
			maxPix = probe.DefaultMaxPixels
		}
		if im.VerifyDecode {
			if err := probe.CheckImage(path, maxPix); err != nil {
				return im.fail(ctx, path, k, err)
			}
		}
		w, h, _, err := probe.ImageInfo(path)
		if err != nil {
			return im.fail(ctx, path, k, err)
		}
		if err := probe.CheckPixels(int64(w), int64(h), maxPix); err != nil {
			return im.fail(ctx, path, k, err)
		}
		width, height = w, h
	} else if im.Prober != nil {
		vi, err := im.Prober.Probe(ctx, path)
		if err != nil {
			if ctx.Err() != nil {
				return Outcome{}, ctx.Err()
			}
			return im.fail(ctx, path, k, err)
		}
		vinfo = vi
		width, height = vi.DisplaySize()
	}

	md5hex, shahex, _, err := HashFile(path)
	if err != nil {
		return im.fail(ctx, path, k, reason.Transient(CodeHashFailed, err))
	}

	// Duplicate check BEFORE any tagger call (spec §10 item 16).
	existing, err := media.GetByHash(ctx, im.DB, md5hex)
	if err != nil {
		return Outcome{}, err
	}
	if existing != nil {
		return im.duplicate(ctx, path, k, existing, md5hex, cext)
	}

	// Tagger (outside any transaction).
	var res *scanner.Result
	var scanErr error
	rating, nsfw := 0, im.DefaultNSFW
	if im.Tagger != nil {
		if kind == probe.KindVideo {
			res, scanErr = im.Tagger.ScanVideo(ctx, path, im.Frames)
		} else {
			res, scanErr = im.Tagger.ScanImage(ctx, path)
		}
		if ctx.Err() != nil {
			return Outcome{}, ctx.Err()
		}
		if scanErr == nil && res != nil {
			rating, nsfw = res.Rating, res.HasNSFW
		}
		im.ingest("import", path, mediaType, info.Size(), res, scanErr)
	}

	// Metadata (outside the transaction; failures only warn).
	var meta *sdmeta.Result
	if im.Extract != nil {
		if r, err := im.Extract(ctx, path); err == nil {
			meta = &r
		}
	}

	dest := path
	placed := false
	if im.mode() != ModeInPlace {
		d, err := library.Destination(im.Roots, mediaType, nsfw, md5hex, cext)
		if err != nil {
			return im.fail(ctx, path, k, err)
		}
		dest = d
		if dest != path {
			// Temps of this destination left by a killed run go first, so
			// a re-run after a crash leaves no .svtmp behind.
			library.RemoveStaleTemps(dest, time.Hour, time.Now(), workerstate.ProcessAlive)
			if _, err := os.Stat(dest); err == nil {
				// Left by an interrupted run (placed, not committed) or a
				// foreign file: only identical content is accepted.
				same, err := library.SameContent(dest, md5hex)
				if err != nil || !same {
					return im.fail(ctx, path, k, reason.Newf(library.CodeHashCollision, "destination %s exists with other content", dest))
				}
			} else {
				var perr error
				if im.mode() == ModeMove {
					perr = library.LinkOrCopyAtomic(path, dest)
				} else {
					perr = library.CopyAtomic(path, dest)
				}
				if perr != nil {
					return im.fail(ctx, path, k, perr)
				}
				placed = true
			}
		}
	}

	now := im.now()
	var mediaID int64
	err = db.InTx(ctx, im.DB, func(tx *sql.Tx) error {
		nm := media.NewMedia{Path: dest, Type: mediaType, Source: media.SourceImport, Width: width, Height: height,
			Filesize: info.Size(), Hash: md5hex, FileMTime: info.ModTime(), Rating: rating, HasNSFW: nsfw}
		if vinfo != nil {
			nm.Duration = vinfo.Duration.Seconds()
			nm.FPS = vinfo.FPS
		}
		id, err := media.Insert(ctx, tx, nm, now)
		if err != nil {
			return err
		}
		mediaID = id
		pairs := []media.MetaPair{
			{Source: media.SourceImport, Key: "original_path", Value: path},
			{Source: media.SourceImport, Key: "original_name", Value: filepath.Base(path)},
			{Source: media.SourceImport, Key: "hash.sha256", Value: shahex},
		}
		if cext != ext && !(cext == "jpg" && ext == "jpeg") && mediaExts[ext] {
			pairs = append(pairs, media.MetaPair{Source: media.SourceImport, Key: "ext_mismatch",
				Value: fmt.Sprintf(`{"content":%q,"name":%q}`, cext, ext)})
		}
		if vinfo != nil {
			for _, p := range vinfo.MetaPairs() {
				pairs = append(pairs, media.MetaPair{Source: "ffmpeg", Key: p.Key, Value: p.Value})
			}
		}
		if im.Tagger == nil {
			pairs = append(pairs, media.MetaPair{Source: media.SourceScanner, Key: "scanner.pending", Value: "1"})
		}
		if _, err := media.SetMetaPairs(ctx, tx, id, pairs, now); err != nil {
			return err
		}
		if im.Tagger != nil {
			if err := storeScan(ctx, tx, id, res, scanErr, im.ScannerName, map[string]any{"path_after": dest}, now, false); err != nil {
				return err
			}
		}
		if meta != nil {
			if _, err := media.StoreExtraction(ctx, tx, id, *meta, media.PromptSourceImport, now); err != nil {
				return err
			}
		}
		if err := media.ImportLog(ctx, tx, dest, StatusImported, "", now); err != nil {
			return err
		}
		return recordFile(ctx, tx, path, k, id, md5hex, StatusImported, now)
	})
	if err != nil {
		// Compensation: the row is not there, so the placed copy must go
		// (the source is untouched).
		if placed {
			os.Remove(dest)
		}
		if db.IsUniqueViolation(err) {
			// Another worker imported the same content meanwhile.
			existing, gerr := media.GetByHash(ctx, im.DB, md5hex)
			if gerr == nil && existing != nil {
				return im.duplicate(ctx, path, k, existing, md5hex, cext)
			}
		}
		if ctx.Err() != nil || db.IsBusy(err) {
			return Outcome{}, err
		}
		return im.fail(ctx, path, k, reason.Wrap(err, CodeDBError, reason.KindOf(err)))
	}
	if im.mode() == ModeMove && dest != path {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			_ = media.ConsistencyLog(ctx, im.DB, "import_source_remove", "warning", fmt.Sprintf("%s: %v", path, err), now)
		}
	}
	if im.Enqueue != nil {
		for _, t := range []string{"hash_compute", "integrity_check"} {
			if err := im.Enqueue(ctx, t, mediaID); err != nil {
				_ = media.ConsistencyLog(ctx, im.DB, "import_enqueue", "warning", fmt.Sprintf("media %d %s: %v", mediaID, t, err), now)
			}
		}
	}
	return Outcome{Path: path, Status: StatusImported, MediaID: mediaID, Dest: dest}, nil
}

// duplicate handles a file whose content is already catalogued. No tagger
// call, no new media row. In move mode the source is removed once the
// library copy is verified present (the original left it to be re-imported
// on every scan); a library copy that went missing is healed from it.
func (im *Importer) duplicate(ctx context.Context, path string, k fileKey, ex *media.Media, md5hex, cext string) (Outcome, error) {
	now := im.now()
	own := false
	if op, ok, _ := media.GetMeta(ctx, im.DB, ex.ID, "original_path"); ok && op == path {
		own = true // our own interrupted import: finish it quietly
	}
	healPath := ""
	exOK := false
	if st, err := os.Stat(ex.Path); err == nil && st.Size() == k.size {
		exOK = true
	}
	if !exOK && im.mode() != ModeInPlace {
		dst, err := library.Destination(im.Roots, ex.Type, ex.HasNSFW, md5hex, cext)
		if err == nil && dst != path {
			if err := library.CopyAtomic(path, dst); err == nil {
				healPath = dst
				exOK = true
			}
		}
	} else if !exOK {
		healPath = path
		exOK = true
	}
	err := db.InTx(ctx, im.DB, func(tx *sql.Tx) error {
		if healPath != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE media SET path=?, status='active' WHERE id=?`, healPath, ex.ID); err != nil {
				return db.Classify(err)
			}
		}
		if !own {
			if err := media.ImportLog(ctx, tx, path, StatusSkippedDuplicate, "hash_exists: media "+fmt.Sprint(ex.ID), now); err != nil {
				return err
			}
			if _, err := media.SetMetaIfAbsent(ctx, tx, ex.ID, media.SourceImport, "original_path", path, now); err != nil {
				return err
			}
			if _, err := media.SetMetaIfAbsent(ctx, tx, ex.ID, media.SourceImport, "original_name", filepath.Base(path), now); err != nil {
				return err
			}
			if exExt := library.NormalizeExt(filepath.Ext(ex.Path)); exExt != cext {
				if _, err := media.SetMeta(ctx, tx, ex.ID, media.SourceImport, "ext_mismatch",
					fmt.Sprintf(`{"existing":%q,"incoming":%q}`, exExt, cext), now); err != nil {
					return err
				}
			}
		}
		st := StatusSkippedDuplicate
		if own {
			st = StatusImported
		}
		return recordFile(ctx, tx, path, k, ex.ID, md5hex, st, now)
	})
	if err != nil {
		return Outcome{}, err
	}
	if im.mode() == ModeMove && exOK && path != ex.Path && path != healPath {
		_ = os.Remove(path)
	}
	out := Outcome{Path: path, Status: StatusSkippedDuplicate, MediaID: ex.ID, Dest: ex.Path}
	if own {
		out.Status, out.Resumed = StatusImported, true
	}
	return out, nil
}

func (im *Importer) ingest(op, path, mediaType string, size int64, res *scanner.Result, scanErr error) {
	if im.Ingest == nil {
		return
	}
	f := scanner.IngestFields(res, scanErr)
	if f == nil {
		f = map[string]any{}
	}
	f["operation"] = op
	f["file_basename"] = filepath.Base(path)
	f["media_type"] = mediaType
	f["file_size"] = size
	im.Ingest("scanner_ingest", f)
}

// storeScan writes tags, scanner meta and the scan_results row of one
// attempt. replace deletes unlocked tags first (rescan).
func storeScan(ctx context.Context, tx db.Execer, mediaID int64, res *scanner.Result, scanErr error, name string, extra map[string]any, now time.Time, replace bool) error {
	if extra == nil {
		extra = map[string]any{}
	}
	written := 0
	if scanErr == nil && res != nil {
		tags := make([]media.TagInput, 0, len(res.Tags))
		for _, t := range res.Tags {
			tags = append(tags, media.TagInput{Name: t.Name, Type: t.Type, Confidence: t.Confidence})
		}
		var err error
		if replace {
			written, err = media.ReplaceScannerTags(ctx, tx, mediaID, tags)
		} else {
			written, err = media.UpsertTags(ctx, tx, mediaID, tags)
		}
		if err != nil {
			return err
		}
		if ct := scanner.CharacterTagsMeta(res); ct != "" {
			if _, err := media.SetMeta(ctx, tx, mediaID, media.SourceScanner, "scanner.character.tags", ct, now); err != nil {
				return err
			}
		}
		extra["has_nsfw"] = res.HasNSFW
		extra["rating"] = res.Rating
		if err := media.DeleteMeta(ctx, tx, mediaID, "scanner.pending"); err != nil {
			return err
		}
	}
	extra["tags_written"] = written
	raw, err := scanner.RawJSON(res, scanErr, extra)
	if err != nil {
		return err
	}
	sr := media.ScanResult{MediaID: mediaID, Scanner: name, RunAt: now, RawJSON: raw}
	if sr.Scanner == "" {
		sr.Scanner = "pixai_sensible"
	}
	if res != nil && scanErr == nil {
		if res.Scanner != "" {
			sr.Scanner = res.Scanner
		}
		sr.NSFWScore = res.NSFWScore
		sr.Flags = res.Flags
	}
	_, err = media.InsertScanResult(ctx, tx, sr)
	return err
}
