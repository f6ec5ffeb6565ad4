package mediaops

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nfnt/resize"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// SourceUpscale is media.source and the media_meta source of derivatives.
const SourceUpscale = "upscale"

// RemoteUpscaler upscales encoded image bytes on an external service (Forge
// /sdapi/v1/extra-single-image). model may be empty (the service's
// configured upscaler). It returns the encoded result, its format ("png",
// "jpeg", …) and the upscaler it used, which upscale.model records.
type RemoteUpscaler func(ctx context.Context, src []byte, scale float64, model string) (out []byte, format, used string, err error)

// UpscalePayload is the payload_json of an upscale job (spec 2.1).
type UpscalePayload struct {
	Scale float64 `json:"scale,omitempty"`
	Model string  `json:"model,omitempty"`
	Steps *int    `json:"steps,omitempty"`
	Seed  *string `json:"seed,omitempty"`
}

// UpscaleResult is the job result (spec 6.4 response).
type UpscaleResult struct {
	ChildID   int64   `json:"child_id"`
	Path      string  `json:"path"`
	Width     int     `json:"width"`
	Height    int     `json:"height"`
	Hash      string  `json:"hash"`
	Filesize  int64   `json:"filesize"`
	Scale     float64 `json:"scale"`
	Engine    string  `json:"engine"`
	Preferred bool    `json:"preferred"`
	Reused    bool    `json:"reused,omitempty"`
}

// encodeLocal writes img in the format its extension asks for: JPEG
// quality 94, PNG default compression. Go has no WebP encoder, so WebP
// (and anything else) becomes PNG, as the original did for unknown types.
func encodeLocal(img image.Image, ext string) ([]byte, string, error) {
	var buf bytes.Buffer
	switch ext {
	case "jpg", "jpeg":
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 94}); err != nil {
			return nil, "", err
		}
		return buf.Bytes(), ext, nil
	default:
		if err := png.Encode(&buf, img); err != nil {
			return nil, "", err
		}
		return buf.Bytes(), "png", nil
	}
}

// ResizeLanczos scales img by scale with Lanczos-3 (nfnt/resize), the
// local default upscaler.
func ResizeLanczos(img image.Image, scale float64) image.Image {
	b := img.Bounds()
	w := uint(math.Round(float64(b.Dx()) * scale))
	h := uint(math.Round(float64(b.Dy()) * scale))
	return resize.Resize(max(w, 1), max(h, 1), img, resize.Lanczos3)
}

// derivativeName is upscale_<id>_<YYYYmmdd_HHMMSS>_x<scale>.<ext>.
func derivativeName(id int64, now time.Time, scale float64, ext string, n int) string {
	s := strings.ReplaceAll(strconv.FormatFloat(scale, 'f', -1, 64), ".", "_")
	base := fmt.Sprintf("upscale_%d_%s_x%s", id, now.UTC().Format("20060102_150405"), s)
	if n > 0 {
		base += "_" + strconv.Itoa(n)
	}
	return base + "." + ext
}

// writeExclusive writes data to a fresh name in dir (suffix _1, _2 … on
// collision) through a temp file, fsync and rename. On any failure (disk
// full included) nothing is left behind.
func writeExclusive(dir string, name func(n int) string, data []byte) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", reason.Transient(CodeWriteFailed, err)
	}
	tmp, err := os.CreateTemp(dir, ".upscale-*"+library.TempSuffix)
	if err != nil {
		return "", reason.Transient(CodeWriteFailed, err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return "", reason.Transient(CodeWriteFailed, err)
	}
	if err := tmp.Sync(); err != nil {
		return "", reason.Transient(CodeWriteFailed, err)
	}
	if err := tmp.Close(); err != nil {
		return "", reason.Transient(CodeWriteFailed, err)
	}
	for n := 0; n < 1000; n++ {
		dst := filepath.Join(dir, name(n))
		// Link fails when dst exists, so a concurrent writer can never be
		// overwritten (rename would replace silently).
		if err := os.Link(tmp.Name(), dst); err == nil {
			os.Remove(tmp.Name())
			ok = true
			return dst, nil
		} else if !errors.Is(err, os.ErrExist) {
			// Filesystems without hard links: fall back to a checked rename.
			if _, serr := os.Stat(dst); serr == nil {
				continue
			}
			if rerr := os.Rename(tmp.Name(), dst); rerr != nil {
				return "", reason.Transient(CodeWriteFailed, rerr)
			}
			ok = true
			return dst, nil
		}
	}
	return "", reason.New(CodeWriteFailed, "no free derivative name")
}

// Upscale creates an upscaled derivative of media id (spec 6.4): decode
// within the pixel budget, resize locally (or via s.Remote when set),
// write to s.Derivatives under a unique name, insert the child media row
// with copied rating/nsfw and its own hash/size/dimensions, variant.* meta,
// and update variant.preferred_media_id on the parent. complete (may be
// nil) runs inside the same transaction (jobs.Job.CompleteTx). Any failure
// after the file was written removes it; the parent row is only touched in
// the committing transaction.
func (s *Service) Upscale(ctx context.Context, id int64, p UpscalePayload, complete func(*sql.Tx, any) error) (UpscaleResult, error) {
	scale := p.Scale
	if scale == 0 {
		scale = 2.0
	}
	if scale <= 0 || scale > 8 || math.IsNaN(scale) {
		return UpscaleResult{}, reason.Newf(CodeScaleInvalid, "scale %v outside (0, 8]", scale)
	}
	parent, err := media.Get(ctx, s.DB, id)
	if err != nil {
		return UpscaleResult{}, err
	}
	if parent.Type != "image" {
		return UpscaleResult{}, reason.Newf(CodeNotImage, "media %d is a %s", id, parent.Type)
	}
	src, err := s.readPath(ctx, parent.Path)
	if err != nil {
		return UpscaleResult{}, err
	}
	w, h, _, err := probe.ImageInfo(src)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return UpscaleResult{}, reason.Permanent(probe.CodeMissingFile, err)
		}
		return UpscaleResult{}, err
	}
	tw, th := int64(math.Round(float64(w)*scale)), int64(math.Round(float64(h)*scale))
	if err := probe.CheckPixels(int64(w), int64(h), s.MaxPixels); err != nil {
		return UpscaleResult{}, err
	}
	// The output is held in memory too: refuse a target above the budget
	// before decoding anything.
	if err := probe.CheckPixels(tw, th, s.MaxPixels); err != nil {
		return UpscaleResult{}, err
	}
	now := s.Clock.Now().UTC()
	ext := library.NormalizeExt(filepath.Ext(parent.Path))
	var data []byte
	var format, engine, model string
	if s.Remote != nil {
		b, err := os.ReadFile(src)
		if err != nil {
			return UpscaleResult{}, openErr(err)
		}
		data, format, model, err = s.Remote(ctx, b, scale, p.Model)
		if err != nil {
			return UpscaleResult{}, err
		}
		engine = "forge"
	} else {
		// Source and result are both in memory while resizing.
		release, err := s.Decode.Acquire(ctx, int64(w)*int64(h)+tw*th)
		if err != nil {
			return UpscaleResult{}, err
		}
		img, _, err := probe.DecodeImageFile(src, s.MaxPixels)
		if err != nil {
			release()
			return UpscaleResult{}, err
		}
		out := ResizeLanczos(img, scale)
		img = nil
		data, format, err = encodeLocal(out, ext)
		release()
		if err != nil {
			return UpscaleResult{}, reason.Permanent(CodeUpscaleFailed, err)
		}
		// Local resizing has no model: payload model and steps are only
		// recorded (spec 6.4).
		engine, model = "lanczos", p.Model
	}
	if err := ctx.Err(); err != nil {
		return UpscaleResult{}, err
	}
	if format == "jpeg" {
		format = "jpg"
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return UpscaleResult{}, reason.Permanent(CodeUpscaleFailed, fmt.Errorf("upscaler output unreadable: %w", err))
	}
	dig, _ := HashBytes(data)
	outPath, err := writeExclusive(s.Derivatives, func(n int) string { return derivativeName(id, now, scale, format, n) }, data)
	if err != nil {
		return UpscaleResult{}, err
	}
	res := UpscaleResult{Path: outPath, Width: cfg.Width, Height: cfg.Height, Hash: dig.MD5, Filesize: int64(len(data)), Scale: scale, Engine: engine}
	err = db.InTx(ctx, s.DB, func(tx *sql.Tx) error {
		childID, err := media.Insert(ctx, tx, media.NewMedia{Path: outPath, Type: "image", Source: SourceUpscale,
			Width: cfg.Width, Height: cfg.Height, Filesize: res.Filesize, Hash: dig.MD5, FileMTime: now,
			Rating: parent.Rating, HasNSFW: parent.HasNSFW, ParentID: id}, now)
		if err != nil {
			return err
		}
		res.ChildID = childID
		pairs := []media.MetaPair{
			{Source: SourceUpscale, Key: "variant.role", Value: "upscale"},
			{Source: SourceUpscale, Key: "variant.is_hd", Value: "1"},
			{Source: SourceUpscale, Key: "upscale.scale", Value: strconv.FormatFloat(scale, 'f', -1, 64)},
			{Source: SourceUpscale, Key: "upscale.model", Value: cmp.Or(model, engine)},
			{Source: SourceUpscale, Key: "upscale.engine", Value: engine},
			{Source: SourceUpscale, Key: "upscale.created_at", Value: svtime.Format(now)},
			{Source: SourceUpscale, Key: "hash.sha256", Value: dig.SHA256},
			{Source: SourceUpscale, Key: "hash.checked_at", Value: svtime.Format(now)},
		}
		if p.Steps != nil {
			pairs = append(pairs, media.MetaPair{Source: SourceUpscale, Key: "upscale.steps", Value: strconv.Itoa(*p.Steps)})
		}
		if p.Seed != nil {
			pairs = append(pairs, media.MetaPair{Source: SourceUpscale, Key: "upscale.seed", Value: *p.Seed})
		}
		if _, err := media.SetMetaPairs(ctx, tx, childID, pairs, now); err != nil {
			return err
		}
		pref, err := s.updatePreferred(ctx, tx, id, childID, int64(cfg.Width)*int64(cfg.Height), scale, now)
		if err != nil {
			return err
		}
		res.Preferred = pref
		if complete != nil {
			return complete(tx, res)
		}
		return nil
	})
	if err != nil {
		os.Remove(outPath)
		if db.IsUniqueViolation(err) {
			// Identical output already catalogued (a re-run after a crash
			// between commit and job completion): report that child.
			if m, gerr := media.GetByHash(ctx, s.DB, dig.MD5); gerr == nil && m.ParentID != nil && *m.ParentID == id {
				res.ChildID, res.Path, res.Reused = m.ID, m.Path, true
				return res, nil
			}
			return UpscaleResult{}, reason.Permanent(library.CodeHashCollision, err)
		}
		return UpscaleResult{}, err
	}
	return res, nil
}

// HashBytes is HashFile for in-memory data (both digests).
func HashBytes(b []byte) (Digests, error) {
	return hashReader(bytes.NewReader(b))
}

// updatePreferred applies spec 6.4's rule: the new child becomes
// variant.preferred_media_id unless the current preferred child still
// exists as a child of parent with its file present and scores at least as
// high (pixels, then scale, then upscale.created_at).
func (s *Service) updatePreferred(ctx context.Context, tx *sql.Tx, parent, child, pixels int64, scale float64, now time.Time) (bool, error) {
	cur, ok, err := media.GetMeta(ctx, tx, parent, "variant.preferred_media_id")
	if err != nil {
		return false, err
	}
	if ok && cur != "" && cur != strconv.FormatInt(child, 10) {
		curID, _ := strconv.ParseInt(cur, 10, 64)
		var path string
		var w, h sql.NullInt64
		var pid sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT path, width, height, parent_media_id FROM media WHERE id=?`, curID).Scan(&path, &w, &h, &pid)
		if err == nil && pid.Valid && pid.Int64 == parent {
			if _, serr := os.Stat(path); serr == nil {
				cs, _, _ := media.GetMeta(ctx, tx, curID, "upscale.scale")
				cc, _, _ := media.GetMeta(ctx, tx, curID, "upscale.created_at")
				curScale, _ := strconv.ParseFloat(cs, 64)
				if better(w.Int64*h.Int64, curScale, cc, pixels, scale, svtime.Format(now)) {
					return false, nil
				}
			}
		} else if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return false, err
		}
	}
	if _, err := media.SetMeta(ctx, tx, parent, SourceUpscale, "variant.preferred_media_id", strconv.FormatInt(child, 10), now); err != nil {
		return false, err
	}
	if _, err := media.SetMeta(ctx, tx, parent, SourceUpscale, "variant.preferred_reason", "upscale", now); err != nil {
		return false, err
	}
	return true, nil
}

// better reports whether the current variant (a) scores ≥ the new one (b).
func better(aPix int64, aScale float64, aAt string, bPix int64, bScale float64, bAt string) bool {
	if aPix != bPix {
		return aPix > bPix
	}
	if aScale != bScale {
		return aScale > bScale
	}
	return aAt >= bAt
}
