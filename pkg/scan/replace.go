package scan

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// replaceContent records the new content of an in-place file whose path
// an active media already has: the file was edited. One path keeps one
// active media, so that media is updated rather than a second one
// inserted: hash, size, dimensions, tags, rating and metadata follow the
// new content (a person's NSFW decision and locked tags stay), the old
// hashes stay in media_meta (hash.previous, and the earlier hash.sha256
// rows: the newest row is the current value), and the follow-up jobs of a
// new import (hash_compute, integrity_check) are queued for it. The
// thumbnail cache needs nothing: its key includes the file's size and
// mtime. One write transaction; the error is a catalogue failure.
func (im *Importer) replaceContent(ctx context.Context, it *pendingImport, old *media.Media) (Outcome, error) {
	p := it.p
	now := im.now()
	nsfw, rating := old.HasNSFW, old.Rating
	if it.res != nil && it.scanErr == nil {
		nsfw, rating = it.nsfw, it.rating
	}
	nm := media.NewMedia{Path: p.path, Width: p.width, Height: p.height, Filesize: p.info.Size(), Hash: p.md5, Rating: rating}
	if p.vinfo != nil {
		nm.Duration, nm.FPS = p.vinfo.Duration.Seconds(), p.vinfo.FPS
	}
	var refused []string
	err := db.InTx(ctx, im.DB, func(tx *sql.Tx) error {
		// A person's 18+/safe decision wins over the tagger's verdict;
		// read in the write transaction, so one made while the tagger
		// ran counts too.
		manual, decided, err := media.NSFWDecision(ctx, tx, old.ID)
		if err != nil {
			return err
		}
		nm.HasNSFW = nsfw
		if decided {
			nm.HasNSFW = manual
		}
		ok, err := media.UpdateContent(ctx, tx, old.ID, nm)
		if err != nil {
			return err
		}
		if !ok {
			return reason.Newf(CodeDBError, "media %d left %s meanwhile", old.ID, p.path)
		}
		pairs := []media.MetaPair{
			{Source: media.SourceImport, Key: "hash.previous", Value: old.Hash},
			{Source: media.SourceImport, Key: "hash.sha256", Value: p.sha},
		}
		if p.vinfo != nil {
			for _, mp := range p.vinfo.MetaPairs() {
				pairs = append(pairs, media.MetaPair{Source: "ffmpeg", Key: mp.Key, Value: mp.Value})
			}
		}
		if im.Tagger == nil || it.scanErr != nil || it.res == nil {
			pairs = append(pairs, media.MetaPair{Source: media.SourceScanner, Key: "scanner.pending", Value: "1"})
		}
		pairs = append(pairs, brokenPairs(p)...)
		if _, err := media.SetMetaPairs(ctx, tx, old.ID, pairs, now); err != nil {
			return err
		}
		if im.Tagger != nil {
			extra := map[string]any{"path_after": p.path, "content_replaced": true}
			if err := storeScan(ctx, tx, old.ID, it.res, it.scanErr, im.ScannerName, extra, now, true); err != nil {
				return err
			}
		}
		if p.meta != nil {
			if _, err := media.StoreExtraction(ctx, tx, old.ID, *p.meta, media.PromptSourceImport, now); err != nil {
				return err
			}
		}
		if err := media.Audit(ctx, tx, media.AuditEntry{Action: "media_content_replaced", EntityType: "media", EntityID: old.ID,
			Details: map[string]any{"path": p.path, "hash_before": old.Hash, "hash_after": p.md5}, At: now}); err != nil {
			return err
		}
		if err := media.ImportLog(ctx, tx, p.path, StatusImported, fmt.Sprintf("content_changed: media %d", old.ID), now); err != nil {
			return err
		}
		if err := recordFile(ctx, tx, p.path, p.k, old.ID, p.md5, StatusImported, now); err != nil {
			return err
		}
		if im.Enqueue == nil {
			return nil
		}
		refused, err = im.Enqueue(ctx, tx, []int64{old.ID}, false)
		return err
	})
	if err != nil {
		if db.IsBusy(err) || ctx.Err() != nil {
			return Outcome{}, err
		}
		// Another importer catalogued the new content meanwhile (unique
		// hash), or the row changed: this file is reported, the next
		// scan looks at it again.
		return im.fail(ctx, p.path, p.k, reason.Wrap(err, reason.CodeOr(err, CodeDBError), reason.KindOf(err)))
	}
	for _, r := range refused {
		_ = media.ConsistencyLog(ctx, im.DB, "import_enqueue", "warning", r, now)
	}
	return Outcome{Path: p.path, Status: StatusImported, MediaID: old.ID, Dest: p.path}, nil
}
