package scan

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/scanner"
	"github.com/localsupervisor/supervisor/pkg/sdmeta"
	"github.com/localsupervisor/supervisor/pkg/sources"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Import modes (config import.mode).
const (
	ModeMove    = "move"
	ModeCopy    = "copy"
	ModeInPlace = "in_place"
)

// What move mode does with a duplicate's source (Importer.Duplicates).
const (
	DupMove   = "move"
	DupKeep   = "keep"
	DupDelete = "delete"
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

// Enqueuer queues the follow-up jobs (hash_compute, integrity_check) of
// newly imported media inside the import transaction, so a crash can never
// commit a media without them. fresh: the media were inserted in tx (no
// job can reference them yet); false for a media whose content an
// in-place import replaced. refused describes jobs a queue cap turned
// down (each line one warning after the commit; QueueEnqueuer returns at
// most one summary line per batch); err rolls the import back.
type Enqueuer func(ctx context.Context, tx *sql.Tx, mediaIDs []int64, fresh bool) (refused []string, err error)

// Importer imports files into the catalogue. Fields are dependencies and
// settings; the zero value of optional fields disables that step.
type Importer struct {
	DB    *sql.DB
	Roots library.Roots
	// Derivatives is paths.derivatives: with Roots and the library
	// sources, the folders whose files rescan and prompts rebuild may read
	// (sources.Readable).
	Derivatives string
	// Mode is move, copy or in_place (default move, like the original).
	Mode string
	// Duplicates is what move mode does with a source whose content is
	// already catalogued (config import.duplicates): DupMove (default)
	// puts it under DuplicatesDir at its path relative to the scanned
	// folder, DupKeep leaves it, DupDelete removes it. Whatever the
	// choice, the catalogued copy was verified by SHA-256 to hold the same
	// bytes first (library.Holds).
	Duplicates string
	// DuplicatesDir is paths.duplicates; without it DupMove keeps the
	// source where it is.
	DuplicatesDir string
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
	// Extract pulls generation metadata (sdmeta wired with options) from
	// an open file: r reads it from its start, name is its path (the
	// extension hint), video is the ffprobe result of a video when the
	// caller has one (nil: the extractor probes itself if it needs tags).
	// The importer hands it the bytes it already read, so metadata costs
	// no second open. nil skips metadata.
	Extract func(ctx context.Context, r io.ReadSeeker, name string, video *probe.VideoInfo) (sdmeta.Result, error)
	// Enqueue queues hash_compute/integrity_check in the import
	// transaction; nil skips.
	Enqueue Enqueuer
	// BatchSize is how many new media one write transaction commits
	// (default DefaultBatchSize); 1 commits every file on its own.
	BatchSize int
	// BatchMaxAge bounds how long imported-but-uncommitted work waits
	// for its batch (default DefaultBatchMaxAge): with a slow tagger a
	// crash loses at most that much tagging.
	BatchMaxAge time.Duration
	// Workers examine (open, detect, hash, probe, extract) files in
	// parallel ahead of the single writer (default GOMAXPROCS).
	Workers int
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
	// Aside is where a duplicate's source was moved (Importer.Duplicates
	// DupMove), verified to hold its bytes.
	Aside string `json:"moved_to,omitempty"`
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

// fileKey is the unchanged-detection key of a source file.
type fileKey struct {
	size    int64
	mtimeNS int64
}

func keyOf(info fs.FileInfo) fileKey {
	return fileKey{size: info.Size(), mtimeNS: info.ModTime().UnixNano()}
}

// scanFileRow is one scan_files row as the unchanged check needs it, with
// the path of its media.
type scanFileRow struct {
	k         fileKey
	media     sql.NullInt64
	status    string
	mediaPath sql.NullString
}

// scanFileCols selects a scanFileRow from scan_files sf (LEFT JOIN media m).
const scanFileCols = `sf.size, sf.mtime_ns, sf.media_id, sf.status, m.path`

// unchangedRow reports whether a scan_files row proves the file at path
// was handled before with the same size and mtime and its media row still
// exists. In move mode a handled source should be gone: if it is still
// there (a kill between commit and removal) it is examined again so the
// duplicate path finishes the move; only the library file itself counts as
// unchanged.
func (im *Importer) unchangedRow(r scanFileRow, path string, k fileKey) (bool, int64) {
	if r.k != k || !r.media.Valid || (r.status != StatusImported && r.status != StatusSkippedDuplicate) {
		return false, 0
	}
	// A duplicate kept on purpose is not a move left unfinished.
	keptDup := r.status == StatusSkippedDuplicate && im.dupPolicy() == DupKeep
	if im.mode() == ModeMove && r.mediaPath.String != path && !keptDup {
		return false, 0
	}
	return true, r.media.Int64
}

// unchanged is the single-file form of the unchanged check (ScanPath loads
// a folder's rows at once, see dirRows).
func (im *Importer) unchanged(ctx context.Context, path string, k fileKey) (bool, int64, error) {
	var r scanFileRow
	err := im.DB.QueryRowContext(ctx, `SELECT `+scanFileCols+` FROM scan_files sf LEFT JOIN media m ON m.id=sf.media_id WHERE sf.path=?`, path).
		Scan(&r.k.size, &r.k.mtimeNS, &r.media, &r.status, &r.mediaPath)
	if errors.Is(err, sql.ErrNoRows) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, db.Classify(err)
	}
	ok, id := im.unchangedRow(r, path, k)
	return ok, id, nil
}

// readable is the inside-the-roots rule for reading catalogued files
// (the web UI's, sources.Readable).
func (im *Importer) readable(ctx context.Context) (sources.Readable, error) {
	fixed := im.Roots.All()
	if im.Derivatives != "" {
		fixed = append(fixed, im.Derivatives)
	}
	return sources.LoadReadable(ctx, im.DB, fixed)
}

// ExtractFile runs Extract on the file at path (rescans, prompts rebuild,
// forge replacements).
func (im *Importer) ExtractFile(ctx context.Context, path string) (sdmeta.Result, error) {
	if im.Extract == nil {
		return sdmeta.Result{Format: sdmeta.FormatNone}, reason.New(CodeMetaFailed, "no metadata extractor configured")
	}
	f, err := os.Open(path)
	if err != nil {
		return sdmeta.Result{Format: sdmeta.FormatNone}, reason.Wrap(fmt.Errorf("open %s: %w", path, err), sdmeta.CodeOpenFailed, reason.KindPermanent)
	}
	defer f.Close()
	return im.Extract(ctx, f, path, nil)
}

const (
	scanFilesInsert = `INSERT INTO scan_files(path, size, mtime_ns, media_id, hash, status, seen_at) VALUES `
	scanFilesUpsert = ` ON CONFLICT(path) DO UPDATE SET size=excluded.size, mtime_ns=excluded.mtime_ns, media_id=excluded.media_id,
		hash=excluded.hash, status=excluded.status, seen_at=excluded.seen_at`
	// scanFileArgs is the number of values of one scan_files row.
	scanFileArgs = 7
)

// appendScanFile appends the values of one scan_files row for recordFiles.
func appendScanFile(args []any, path string, k fileKey, mediaID int64, hash, status string, now time.Time) []any {
	var mid any
	if mediaID != 0 {
		mid = mediaID
	}
	return append(args, path, k.size, k.mtimeNS, mid, hash, status, svtime.Format(now))
}

func recordFile(ctx context.Context, q db.Execer, path string, k fileKey, mediaID int64, hash, status string, now time.Time) error {
	return recordFiles(ctx, q, appendScanFile(nil, path, k, mediaID, hash, status, now))
}

// recordFiles upserts scan_files rows (values from appendScanFile) with
// multi-row statements.
func recordFiles(ctx context.Context, q db.Execer, args []any) error {
	return db.MultiInsert(ctx, q, scanFilesInsert, scanFilesUpsert, scanFileArgs, args)
}

// fail writes the import_log error row (and a scan_files row, so an
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

// ImportFile imports one file and commits it at once. The returned error is
// only for failures of the catalogue itself (DB unavailable, ctx
// cancelled); problems with the file become an Outcome with status error
// and a reason code, logged in import_log. ScanPath imports folders in
// batches instead.
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
	info, err := os.Stat(abs)
	if err != nil {
		// Vanished between walk and import: nothing to log against a row.
		return Outcome{Path: abs, Status: StatusError, Code: probe.CodeMissingFile}, nil
	}
	var p *prepared
	if ok, mid, err := im.unchanged(ctx, abs, keyOf(info)); err != nil {
		return Outcome{}, err
	} else if ok {
		p = &prepared{path: abs, done: &Outcome{Path: abs, Status: StatusUnchanged, MediaID: mid}}
	} else {
		p = im.prepare(ctx, abs, info, newScratch(), nil)
	}
	var out Outcome
	w := im.newWriter(func(o Outcome) { out = o })
	defer w.close()
	if err := w.add(ctx, p, true); err != nil {
		return Outcome{}, err
	}
	if err := w.flush(ctx); err != nil {
		return Outcome{}, err
	}
	return out, nil
}

// duplicate handles a file whose content is already catalogued. No tagger
// call, no new media row. The catalogued file is verified by SHA-256
// against this file's content (library.Holds; a size proves nothing, a
// damaged copy keeps its size). A catalogued copy that is missing or
// damaged is repaired from this intact one (repairDuplicate) instead of
// this one being thrown away. In move mode the source is removed only
// once the catalogued file is verified and the row pointing at it is
// committed (the original left it to be re-imported on every scan).
func (im *Importer) duplicate(ctx context.Context, p *prepared, ex *media.Media) (Outcome, error) {
	now := im.now()
	path := p.path
	own := false
	if op, ok, _ := media.GetMeta(ctx, im.DB, ex.ID, "original_path"); ok && op == path {
		own = true // our own interrupted import: finish it quietly
	}
	exOK := path == ex.Path
	var repair *repairResult
	if !exOK {
		var herr error
		exOK, herr = library.Holds(ex.Path, path, p.info, p.sha)
		switch {
		case herr != nil:
			// Unreadable, not known damaged: nothing is replaced, and
			// the source stays.
			_ = media.ConsistencyLog(ctx, im.DB, "import_verify_failed", "warning",
				fmt.Sprintf("%s kept: cannot read catalogued copy %s: %v", path, ex.Path, herr), now)
		case !exOK:
			repair = im.repairDuplicate(ctx, p, ex)
			exOK = repair.ok
		}
	}
	err := db.InTx(ctx, im.DB, func(tx *sql.Tx) error {
		if repair != nil && repair.ok {
			if repair.path != ex.Path {
				if _, err := tx.ExecContext(ctx, `UPDATE media SET path=?, status='active' WHERE id=?`, repair.path, ex.ID); err != nil {
					return db.Classify(err)
				}
			} else if _, err := tx.ExecContext(ctx, `UPDATE media SET status='active' WHERE id=? AND status='missing'`, ex.ID); err != nil {
				return db.Classify(err)
			}
		}
		if repair != nil {
			d := map[string]any{"path": ex.Path, "from": path, "sha256": p.sha, "found": repair.found, "repaired": repair.ok}
			if repair.path != ex.Path {
				d["new_path"] = repair.path
			}
			if repair.err != nil {
				d["reason_code"] = reason.CodeOr(repair.err, library.CodePlaceFailed)
				d["error"] = reason.Truncate(repair.err.Error(), 300)
			}
			if err := media.Audit(ctx, tx, media.AuditEntry{Action: "library_repair", EntityType: "media", EntityID: ex.ID, Details: d, At: now}); err != nil {
				return err
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
			if exExt := library.NormalizeExt(filepath.Ext(ex.Path)); exExt != p.cext {
				if _, err := media.SetMeta(ctx, tx, ex.ID, media.SourceImport, "ext_mismatch",
					fmt.Sprintf(`{"existing":%q,"incoming":%q}`, exExt, p.cext), now); err != nil {
					return err
				}
			}
		}
		st := StatusSkippedDuplicate
		if own {
			st = StatusImported
		}
		return recordFile(ctx, tx, path, p.k, ex.ID, p.md5, st, now)
	})
	if err != nil {
		return Outcome{}, err
	}
	dest := ex.Path
	if repair != nil && repair.ok {
		dest = repair.path
	}
	out := Outcome{Path: path, Status: StatusSkippedDuplicate, MediaID: ex.ID, Dest: dest}
	if im.mode() == ModeMove && exOK && path != dest {
		out.Aside = im.finishDuplicate(ctx, p, dest, own, now)
	}
	if own {
		out.Status, out.Resumed = StatusImported, true
	}
	return out, nil
}

func (im *Importer) dupPolicy() string {
	if im.Duplicates == "" {
		return DupMove
	}
	return im.Duplicates
}

// ValidDuplicates reports whether d is a known Importer.Duplicates value.
func ValidDuplicates(d string) bool { return d == "" || d == DupMove || d == DupKeep || d == DupDelete }

// finishDuplicate deals with a move-mode source whose content the
// catalogued file dest holds (row committed): per Importer.Duplicates it
// stays, goes, or is placed under DuplicatesDir (library.PlaceAside: never
// replacing a file, verified) and only then removed. own (our interrupted
// import's source) and DupDelete remove it once dest is verified again
// (removeSource: a repair by a concurrent importer replaces the file with
// verified content). It returns where the source was put aside, if it was.
func (im *Importer) finishDuplicate(ctx context.Context, p *prepared, dest string, own bool, now time.Time) string {
	policy := im.dupPolicy()
	if own || policy == DupDelete {
		im.removeSource(ctx, p, dest, now)
		return ""
	}
	if policy == DupKeep || im.DuplicatesDir == "" {
		return ""
	}
	rel := p.rel
	if rel == "" {
		rel = filepath.Base(p.path)
	}
	aside, err := library.PlaceAside(p.path, filepath.Join(im.DuplicatesDir, rel), p.sha, p.info)
	if err != nil {
		_ = media.ConsistencyLog(ctx, im.DB, "import_duplicate_aside", "warning",
			fmt.Sprintf("%s kept where it is: could not put it under %s: %v", p.path, im.DuplicatesDir, err), now)
		return ""
	}
	if err := os.Remove(p.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		_ = media.ConsistencyLog(ctx, im.DB, "import_source_remove", "warning", fmt.Sprintf("%s: %v", p.path, err), now)
	}
	return aside
}

// repairResult is what repairDuplicate did to a catalogued file that did
// not hold its content.
type repairResult struct {
	// found is "missing" or "damaged".
	found string
	// path is where the media's intact file is now (its row's new path
	// when it differs from the old one).
	path string
	ok   bool
	err  error
}

// repairDuplicate restores the content of a catalogued media whose file
// is missing or damaged from the intact incoming file p. A file inside
// the library roots is replaced in place, atomically (library.
// ReplaceVerified: a hard link in move mode, a hash-checked copy
// otherwise). A file outside the roots (an in-place media) is never
// written to: in in_place mode the row moves to the incoming file, in the
// other modes the incoming file is placed at its canonical library path
// and the row moves there. Nothing is deleted here; the damaged file's
// bytes stay until the replacement is complete.
func (im *Importer) repairDuplicate(ctx context.Context, p *prepared, ex *media.Media) *repairResult {
	r := &repairResult{found: "damaged", path: ex.Path}
	if _, err := os.Stat(ex.Path); errors.Is(err, fs.ErrNotExist) {
		r.found = "missing"
	}
	link := im.mode() == ModeMove && !p.viaLink
	_, inLib := library.Inside(im.Roots.All(), ex.Path)
	switch {
	case inLib:
		r.err = library.ReplaceVerified(p.path, ex.Path, p.sha, link)
	case im.mode() == ModeInPlace:
		// Not onto a path another active media holds (its file was
		// edited into this content): one path, one active media.
		if at, err := media.ActiveAt(ctx, im.DB, p.path); err != nil {
			r.err = err
		} else if at != nil && at.ID != ex.ID {
			r.err = reason.Newf(CodeDBError, "%s is the file of media %d", p.path, at.ID)
		} else {
			r.path = p.path
		}
	default:
		dst, err := library.Destination(im.Roots, ex.Type, ex.HasNSFW, p.md5, p.cext)
		if err != nil {
			r.err = err
			break
		}
		r.path = dst
		if ok, _ := library.Holds(dst, p.path, p.info, p.sha); !ok {
			r.err = library.ReplaceVerified(p.path, dst, p.sha, link)
		}
	}
	if r.err == nil {
		r.ok, r.err = library.Holds(r.path, p.path, p.info, p.sha)
		if !r.ok && r.err == nil {
			r.err = reason.Newf(library.CodeHashMismatch, "%s does not hold the content of %s after the repair", r.path, p.path)
		}
	}
	return r
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
