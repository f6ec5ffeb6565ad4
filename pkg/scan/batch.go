package scan

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/scanner"
)

// Batch defaults.
const (
	// DefaultBatchSize new media per write transaction (config
	// import.batch_size): every commit rewrites the hot index pages, so
	// per file the writer costs about 135 us at 256, 115 us at 1024 and
	// 95 us at 4096 (BenchmarkWriter); at 1024 the write lock is held for
	// about 0.1 s, short enough for web writes and job claims waiting on
	// it.
	DefaultBatchSize = 1024
	// DefaultBatchMaxAge flushes a batch that has waited this long.
	DefaultBatchMaxAge = time.Second
)

// followUpJobs are queued for every new media (the media worker's jobs).
var followUpJobs = []string{jobs.TypeHashCompute, jobs.TypeIntegrityCheck, jobs.TypePHashCompute}

// pendingImport is a new media whose file is placed and whose rows wait
// for the batch commit.
type pendingImport struct {
	p       *prepared
	res     *scanner.Result
	scanErr error
	rating  int
	nsfw    bool
	dest    string
	placed  bool
	id      int64
}

// writer is the single catalogue writer of an import run. It takes
// prepared files in walk order, decides duplicates (before any tagger
// call), calls the tagger, places files and commits new media in batches:
// placed → committed (rows + follow-up jobs in one transaction) → source
// removed in move mode, the crash-safe order of a single file, per batch.
type writer struct {
	im     *Importer
	emit   func(Outcome)
	batch  []*pendingImport
	hashes map[string]bool
	// added are the hashes this writer handled that the current window's
	// lookup could not see (see addWindow).
	added   map[string]bool
	started time.Time
	// dirs are library folders with new links not yet fsynced; synced
	// once per batch before its commit.
	dirs library.DirSyncer
	// cleaned are library folders already rid of stale temps this run.
	cleaned map[string]bool
	// stmts are the writer's statements (lookups and the batch INSERTs),
	// prepared once per run and connection instead of once per batch.
	stmts *db.StmtCache
	// onCommit runs inside every batch transaction (RunOptions.OnCommit).
	onCommit func(ctx context.Context, tx *sql.Tx, imported int) error
	// root is the scanned folder ("": a single file), what a duplicate's
	// place under Importer.DuplicatesDir is relative to.
	root string
}

// newWriter returns a writer; close it when the run ends.
func (im *Importer) newWriter(emit func(Outcome)) *writer {
	return &writer{im: im, emit: emit, hashes: map[string]bool{}, added: map[string]bool{}, cleaned: map[string]bool{}, stmts: db.NewStmtCache(im.DB)}
}

// close releases the writer's prepared statements.
func (w *writer) close() { w.stmts.Close() }

func (im *Importer) batchSize() int {
	if im.BatchSize <= 0 {
		return DefaultBatchSize
	}
	return im.BatchSize
}

// windowSize bounds how many prepared files the writer takes at once (and
// the IN list of their hash lookup).
const windowSize = 64

// knownHashesSQL finds which of windowSize hashes are catalogued; unused
// slots repeat a hash, so one prepared statement serves every window.
var knownHashesSQL = `SELECT hash FROM media WHERE hash IN (?` + strings.Repeat(",?", windowSize-1) + `)`

// addWindow adds prepared files in order after one catalogue lookup of
// their hashes. A hash the lookup did not find can only have been
// catalogued since by this writer or by another process, whose row the
// unique index turns into a duplicate at commit (afterInsertError). The
// writer's own are tracked in added: the batch still pending when the
// lookup ran (invisible to it, and committed by a flush inside this
// window) and every file the window handles.
func (w *writer) addWindow(ctx context.Context, ps []*prepared) error {
	clear(w.added)
	for h := range w.hashes {
		w.added[h] = true
	}
	known, err := w.knownHashes(ctx, ps)
	if err != nil {
		return err
	}
	for _, p := range ps {
		mayExist := known[p.md5] || w.added[p.md5]
		if err := w.add(ctx, p, mayExist); err != nil {
			return err
		}
		if p.md5 != "" {
			w.added[p.md5] = true
		}
	}
	return nil
}

// knownHashes returns the hashes of ps (files needing a catalogue write)
// that a media row has.
func (w *writer) knownHashes(ctx context.Context, ps []*prepared) (map[string]bool, error) {
	args := make([]any, 0, windowSize)
	for _, p := range ps {
		if p.fatal == nil && p.done == nil && p.ferr == nil {
			args = append(args, strings.ToLower(p.md5))
		}
	}
	known := map[string]bool{}
	if len(args) == 0 {
		return known, nil
	}
	for len(args) < windowSize {
		args = append(args, args[0])
	}
	rows, err := w.stmts.QueryContext(ctx, knownHashesSQL, args...)
	if err != nil {
		return nil, db.Classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, db.Classify(err)
		}
		known[h] = true
	}
	return known, db.Classify(rows.Err())
}

// add handles one prepared file. Files that need no new media row are
// finished (and emitted) at once; new media join the batch, which is
// flushed when full or old. mayExist=false: the window's lookup proved the
// hash uncatalogued, so the per-file lookup is skipped. The error is a
// catalogue failure.
func (w *writer) add(ctx context.Context, p *prepared, mayExist bool) error {
	im := w.im
	defer p.dropCopy() // a staged copy not placed (duplicate, error)
	if w.root != "" {
		if rel, err := filepath.Rel(w.root, p.path); err == nil && filepath.IsLocal(rel) {
			p.rel = rel
		}
	}
	switch {
	case p.fatal != nil:
		return p.fatal
	case p.done != nil:
		w.emit(*p.done)
		return nil
	case p.ferr != nil:
		out, err := im.fail(ctx, p.path, p.k, p.ferr)
		if err != nil {
			return err
		}
		w.emit(out)
		return nil
	}
	// Same content twice in one batch: commit the first so the second is
	// an ordinary duplicate.
	if w.hashes[p.md5] {
		if err := w.flush(ctx); err != nil {
			return err
		}
		mayExist = true
	}
	// Duplicate check BEFORE any tagger call (spec §10 item 16), with a
	// statement prepared once per run (parsing the wide SELECT per file
	// cost more than the lookup).
	var existing *media.Media
	if mayExist {
		var err error
		if existing, err = media.GetByHash(ctx, w.stmts, p.md5); err != nil {
			return err
		}
	}
	if existing != nil {
		out, err := im.duplicate(ctx, p, existing)
		if err != nil {
			return err
		}
		w.emit(out)
		return nil
	}
	it := &pendingImport{p: p, rating: 0, nsfw: im.DefaultNSFW, dest: p.path}
	mediaType := string(p.kind)
	if im.Tagger != nil {
		if p.kind == probe.KindVideo {
			it.res, it.scanErr = im.Tagger.ScanVideo(ctx, p.path, im.Frames)
		} else {
			it.res, it.scanErr = im.Tagger.ScanImage(ctx, p.path)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if it.scanErr == nil && it.res != nil {
			it.rating, it.nsfw = it.res.Rating, it.res.HasNSFW
		}
		im.ingest("import", p.path, mediaType, p.info.Size(), it.res, it.scanErr)
	}
	if im.mode() == ModeInPlace {
		// An edited file: its path already has an active media, which
		// takes the new content (one path, one active media).
		old, err := media.ActiveAt(ctx, w.stmts, p.path)
		if err != nil {
			return err
		}
		if old != nil {
			out, err := im.replaceContent(ctx, it, old)
			if err != nil {
				return err
			}
			w.emit(out)
			return nil
		}
	} else {
		out, ok, err := w.place(ctx, it)
		if err != nil {
			return err
		}
		if !ok {
			w.emit(out)
			return nil
		}
	}
	if len(w.batch) == 0 {
		w.started = time.Now()
	}
	w.batch = append(w.batch, it)
	w.hashes[p.md5] = true
	if len(w.batch) >= im.batchSize() || time.Since(w.started) >= cmpDur(im.BatchMaxAge, DefaultBatchMaxAge) {
		return w.flush(ctx)
	}
	return nil
}

// await returns the next examined file. While it is not ready (a large
// video still hashing, a slow disk) the files already examined go to the
// writer (pending) and a batch older than its maximum age is committed, so
// placed work never waits uncommitted for longer than that: a crash then
// loses at most one batch age of work, and a recovered job progresses even
// when its next file takes minutes.
func (w *writer) await(ctx context.Context, res <-chan *prepared, pending func() error) (*prepared, error) {
	select {
	case p := <-res:
		return p, nil
	default:
	}
	if err := pending(); err != nil {
		return nil, err
	}
	maxAge := cmpDur(w.im.BatchMaxAge, DefaultBatchMaxAge)
	for {
		if len(w.batch) == 0 {
			return <-res, nil
		}
		t := time.NewTimer(maxAge - time.Since(w.started))
		select {
		case p := <-res:
			t.Stop()
			return p, nil
		case <-t.C:
			if err := w.flush(ctx); err != nil {
				return nil, err
			}
		}
	}
}

func cmpDur(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// place copies (copy mode: publishes the copy staged while the file was
// examined, else copies it now) or links (move mode) the file to its
// canonical destination before any row exists. ok=false: the file ended
// as an error (out says which); err is a catalogue failure.
func (w *writer) place(ctx context.Context, it *pendingImport) (Outcome, bool, error) {
	im, p := w.im, it.p
	fail := func(err error) (Outcome, bool, error) {
		out, ferr := im.fail(ctx, p.path, p.k, err)
		return out, false, ferr
	}
	dest, err := library.Destination(im.Roots, string(p.kind), it.nsfw, p.md5, p.cext)
	if err != nil {
		return fail(err)
	}
	it.dest = dest
	if dest == p.path {
		return Outcome{}, true, nil
	}
	// Temps left in this folder by a killed run go first (once per folder
	// and run), so a re-run after a crash leaves no .svtmp behind.
	if dir := filepath.Dir(dest); !w.cleaned[dir] {
		library.RemoveStaleTempsIn(dir, time.Hour, time.Now(), workerstate.ProcessAlive)
		w.cleaned[dir] = true
	}
	// A destination that exists was left by an interrupted run (placed,
	// not committed), by a concurrent importer of the same content, or is
	// a foreign file: only identical content (by SHA-256) is accepted, and
	// never replaced or removed here. Move mode learns it from the link
	// itself (no stat first).
	existing := func() (Outcome, bool, error) {
		same, err := library.Holds(dest, p.path, p.info, p.sha)
		if err != nil || !same {
			return fail(reason.Newf(library.CodeHashCollision, "destination %s exists with other content", dest))
		}
		return Outcome{}, true, nil
	}
	copyNew := func() error {
		if _, err := os.Stat(dest); err == nil {
			return fs.ErrExist
		}
		return library.CopyNew(p.path, dest, p.sha)
	}
	var perr error
	switch {
	case im.mode() == ModeMove && !p.viaLink:
		perr = library.LinkOrCopyDeferred(p.path, dest, &w.dirs)
	case p.copy != nil:
		// Copy mode: the copy staged and fsynced while the file was
		// examined gets its name; its folder is synced with the batch.
		perr = p.copy.publish(dest, &w.dirs)
		p.copy = nil
		if perr != nil && !errors.Is(perr, fs.ErrExist) {
			// Staged in a root on another filesystem (the tagger's
			// verdict), failed, or removed by a cleanup: copied anew.
			perr = copyNew()
		}
	default:
		// A symlinked source is not linked: link(2) would place the
		// symlink itself (dangling once the source link is removed, if
		// relative). Moving it gives the library a copy of the target,
		// removes the link and leaves the target, which may lie outside
		// the scanned tree.
		perr = copyNew()
	}
	if errors.Is(perr, fs.ErrExist) {
		return existing()
	}
	if perr != nil {
		return fail(perr)
	}
	it.placed = true
	return Outcome{}, true, nil
}

// flush commits the batch in one transaction. If that fails because of one
// file's rows (a unique violation when another worker imported the same
// content meanwhile, a constraint), every file is committed on its own so
// only the culprit ends as an error. Busy and cancellation errors are
// returned; placed copies without rows are removed (the sources are intact).
func (w *writer) flush(ctx context.Context) error {
	items := w.batch
	w.batch = nil
	clear(w.hashes)
	if len(items) == 0 {
		return nil
	}
	// The files are placed and tagged; a cancel arriving now must not
	// throw that away, and the commit is short.
	cctx := context.WithoutCancel(ctx)
	// New folder entries are durable before any row points at them.
	w.dirs.Sync()
	now := w.im.now()
	refused, err := w.commit(cctx, items, now)
	if err == nil {
		w.finish(cctx, items, refused, now)
		return nil
	}
	if db.IsBusy(err) {
		w.compensate(items)
		return err
	}
	for i, it := range items {
		refused, err := w.commit(cctx, items[i:i+1], now)
		if err == nil {
			w.finish(cctx, items[i:i+1], refused, now)
			continue
		}
		w.compensate(items[i : i+1])
		if db.IsBusy(err) {
			w.compensate(items[i+1:])
			return err
		}
		out, oerr := w.im.afterInsertError(cctx, it.p, err)
		if oerr != nil {
			w.compensate(items[i+1:])
			return oerr
		}
		w.emit(out)
	}
	return nil
}

// compensate removes files placed for rows that were not committed, but
// only those no committed row points at, decided under the write lock:
// placement ownership is the committed media row, not who created the
// file. Another importer of the same content may have found this very
// file (EEXIST), committed its row and unlinked its source; holding the
// lock while checking and unlinking means no such commit can fall between
// the two, and an importer that commits after the unlink finds its file
// missing when it verifies (finish) and keeps its source. When the lock
// cannot be had the files stay: a stray library file with a source beside
// it loses nothing, and the next import of that source adopts it.
func (w *writer) compensate(items []*pendingImport) {
	var placed []string
	for _, it := range items {
		if it.placed {
			placed = append(placed, it.dest)
		}
	}
	if len(placed) == 0 {
		return
	}
	_ = db.InTx(context.Background(), w.im.DB, func(tx *sql.Tx) error {
		for _, p := range placed {
			var one int
			err := tx.QueryRow(`SELECT 1 FROM media WHERE path = ? LIMIT 1`, p).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				os.Remove(p)
			}
		}
		return nil
	})
}

// afterInsertError turns a failed commit of one file into its outcome.
func (im *Importer) afterInsertError(ctx context.Context, p *prepared, err error) (Outcome, error) {
	if db.IsUniqueViolation(err) {
		// Another worker imported the same content meanwhile.
		existing, gerr := media.GetByHash(ctx, im.DB, p.md5)
		if gerr == nil && existing != nil {
			return im.duplicate(ctx, p, existing)
		}
	}
	return im.fail(ctx, p.path, p.k, reason.Wrap(err, CodeDBError, reason.KindOf(err)))
}

// commit writes the rows of items and their follow-up jobs in one
// transaction, with statements prepared once per transaction.
func (w *writer) commit(ctx context.Context, items []*pendingImport, now time.Time) ([]string, error) {
	var refused []string
	err := db.InTx(ctx, w.im.DB, func(tx *sql.Tx) error {
		q := w.stmts.In(tx)
		ids, err := w.im.insertNew(ctx, q, items, now)
		if err != nil {
			return err
		}
		if w.onCommit != nil {
			if err := w.onCommit(ctx, tx, len(ids)); err != nil {
				return err
			}
		}
		// The triggers mark the new media for the text index, which is
		// the web's read model: webui folds marks in the background
		// (ftsindex.Run) and, until then, its searches match marked media
		// by the LIKE reference, so results are the same. The importer no
		// longer pays for the fold (about a tenth of its writer time);
		// with webui running the fold's work is the same, only done there.
		if w.im.Enqueue == nil {
			return nil
		}
		refused, err = w.im.Enqueue(ctx, tx, ids, true)
		return err
	})
	return refused, err
}

// finish runs after a commit: sources go in move mode (only now: until the
// commit the source is the file of record, and only once the destination
// is verified to hold its bytes), outcomes are emitted.
func (w *writer) finish(ctx context.Context, items []*pendingImport, refused []string, now time.Time) {
	im := w.im
	for _, r := range refused {
		_ = media.ConsistencyLog(ctx, im.DB, "import_enqueue", "warning", r, now)
	}
	for _, it := range items {
		if im.mode() == ModeMove && it.dest != it.p.path {
			im.removeSource(ctx, it.p, it.dest, now)
		}
		w.emit(Outcome{Path: it.p.path, Status: StatusImported, MediaID: it.id, Dest: it.dest})
	}
}

// removeSource unlinks a move-mode source whose committed row points at
// dest, after verifying that dest holds the source's content (library.Holds:
// free for the hard link move mode makes, a full SHA-256 otherwise). A dest
// that is missing or holds other bytes (a concurrent importer's rollback
// removed it before this row committed, or it was damaged) is placed again
// from the source and verified again; if that fails too the source stays,
// with a consistency_log warning, and the next scan repairs it.
func (im *Importer) removeSource(ctx context.Context, p *prepared, dest string, now time.Time) {
	ok, err := library.Holds(dest, p.path, p.info, p.sha)
	if !ok && err == nil {
		if rerr := library.ReplaceVerified(p.path, dest, p.sha, !p.viaLink); rerr != nil {
			err = rerr
		} else {
			ok, err = library.Holds(dest, p.path, p.info, p.sha)
		}
		if ok {
			_ = media.ConsistencyLog(ctx, im.DB, "import_replaced", "warning", fmt.Sprintf("%s was missing or damaged after the commit; placed again from %s", dest, p.path), now)
		}
	}
	if !ok {
		msg := fmt.Sprintf("%s kept: %s does not hold its content", p.path, dest)
		if err != nil {
			msg += ": " + err.Error()
		}
		_ = media.ConsistencyLog(ctx, im.DB, "import_verify_failed", "error", msg, now)
		return
	}
	if err := os.Remove(p.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		_ = media.ConsistencyLog(ctx, im.DB, "import_source_remove", "warning", fmt.Sprintf("%s: %v", p.path, err), now)
	}
}

// insertNew writes new media with their meta, scan result, extraction,
// import_log and scan_files rows, and returns their ids (also set on the
// items). Rows of one kind are written for the whole batch with multi-row
// INSERTs; per media, the meta rows keep the order of a single import
// (import pairs before scanner and extraction rows, which read them).
func (im *Importer) insertNew(ctx context.Context, q db.Execer, items []*pendingImport, now time.Time) ([]int64, error) {
	nms := make([]media.NewMedia, len(items))
	for i, it := range items {
		p := it.p
		nms[i] = media.NewMedia{Path: it.dest, Type: string(p.kind), Source: media.SourceImport, Width: p.width, Height: p.height,
			Filesize: p.info.Size(), Hash: p.md5, FileMTime: p.info.ModTime(), Rating: it.rating, HasNSFW: it.nsfw}
		if p.vinfo != nil {
			nms[i].Duration = p.vinfo.Duration.Seconds()
			nms[i].FPS = p.vinfo.FPS
		}
	}
	ids, err := media.InsertMany(ctx, q, nms, now)
	if err != nil {
		return nil, err
	}
	groups := make([]media.MediaPairs, len(items))
	logs := make([]media.ImportLogEntry, len(items))
	files := make([]any, 0, scanFileArgs*len(items))
	var prompts []media.NewPrompt
	for i, it := range items {
		it.id = ids[i]
		pairs := im.importPairs(it)
		if r := it.p.meta; r != nil {
			// StoreExtraction's rows, written with the batch: the media
			// is new, so nothing but its import pairs can be current.
			pairs = appendExtraction(pairs, media.ExtractionPairs(*r))
			prompts = append(prompts, media.NewPrompt{MediaID: it.id, Prompt: media.PromptFromResult(*r), Source: media.PromptSourceImport, Raw: r.RawBlock})
		}
		groups[i] = media.MediaPairs{MediaID: it.id, Pairs: pairs}
		// A failed tagger call does not stop the import; its reason code
		// is kept on the import_log row (the details are in scan_results).
		msg := ""
		if im.Tagger != nil && it.scanErr != nil {
			msg = reason.CodeOr(it.scanErr, CodeScannerFailed)
		}
		if b := it.p.broken; b != nil {
			// Catalogued, but the import_log says at once why its card
			// will not show: the structural check's reason code.
			msg = strings.TrimPrefix(msg+"; "+reason.Code(b), "; ")
		}
		logs[i] = media.ImportLogEntry{Path: it.dest, Status: StatusImported, Message: msg}
		files = appendScanFile(files, it.p.path, it.p.k, it.id, it.p.md5, StatusImported, now)
	}
	if _, err := media.InsertNewMetaPairsMany(ctx, q, groups, now); err != nil {
		return nil, err
	}
	if err := media.InsertNewPromptsMany(ctx, q, prompts, now); err != nil {
		return nil, err
	}
	if im.Tagger != nil {
		for _, it := range items {
			if err := storeScan(ctx, q, it.id, it.res, it.scanErr, im.ScannerName, map[string]any{"path_after": it.dest}, now, false); err != nil {
				return nil, err
			}
		}
	}
	if err := media.ImportLogMany(ctx, q, logs, now); err != nil {
		return nil, err
	}
	return ids, recordFiles(ctx, q, files)
}

// importPairs are the import's own meta rows of a new media.
func (im *Importer) importPairs(it *pendingImport) []media.MetaPair {
	p := it.p
	pairs := []media.MetaPair{
		{Source: media.SourceImport, Key: "original_path", Value: p.path},
		{Source: media.SourceImport, Key: "original_name", Value: filepath.Base(p.path)},
		{Source: media.SourceImport, Key: "hash.sha256", Value: p.sha},
	}
	if p.cext != p.ext && !(p.cext == "jpg" && p.ext == "jpeg") && mediaExts[p.ext] {
		pairs = append(pairs, media.MetaPair{Source: media.SourceImport, Key: "ext_mismatch",
			Value: fmt.Sprintf(`{"content":%q,"name":%q}`, p.cext, p.ext)})
	}
	if p.vinfo != nil {
		for _, mp := range p.vinfo.MetaPairs() {
			pairs = append(pairs, media.MetaPair{Source: "ffmpeg", Key: mp.Key, Value: mp.Value})
		}
	}
	pairs = append(pairs, brokenPairs(p)...)
	if im.Tagger == nil || it.scanErr != nil || it.res == nil {
		// Untagged (scanner disabled or failing): flagged so a later
		// rescan/backfill tags it; a successful scan deletes the flag.
		pairs = append(pairs, media.MetaPair{Source: media.SourceScanner, Key: "scanner.pending", Value: "1"})
	}
	return pairs
}

// brokenPairs flag a file the import's structural check found broken with
// the keys the integrity_check job writes (integrity.ok=0 is what the
// library's "broken" filter looks for); none for a file that passed: the
// full check is still the job's. integrity.checked_at stays the job's.
func brokenPairs(p *prepared) []media.MetaPair {
	if p.broken == nil {
		return nil
	}
	return []media.MetaPair{
		{Source: media.SourceImport, Key: "integrity.ok", Value: "0"},
		{Source: media.SourceImport, Key: "integrity.error_code", Value: reason.Code(p.broken)},
		{Source: media.SourceImport, Key: "integrity.error_message", Value: reason.Truncate(p.broken.Error(), 240)},
	}
}

// appendExtraction appends extraction pairs to a new media's import pairs.
// A key the import already wrote is not repeated (the keys never meet in
// practice; the import's value is the one kept).
func appendExtraction(pairs, extra []media.MetaPair) []media.MetaPair {
	have := make(map[string]bool, len(pairs))
	for _, p := range pairs {
		have[p.Key] = true
	}
	for _, p := range extra {
		if !have[p.Key] {
			pairs = append(pairs, p)
		}
	}
	return pairs
}
