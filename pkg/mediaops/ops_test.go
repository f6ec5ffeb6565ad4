package mediaops_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"image"
	_ "image/png"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/forge"
	"github.com/localsupervisor/supervisor/pkg/forge/forgetest"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/mediaops"
	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

func TestHashFileMatchesStdlib(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{0, 1, 1<<20 - 1, 1 << 20, 1<<20 + 1, 3<<20 + 17} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(i*31 + i>>9)
			}
			p := writeFile(t, filepath.Join(dir, strconv.Itoa(n)), b)
			for _, withMD5 := range []bool{false, true} {
				d, err := mediaops.HashFile(context.Background(), p, withMD5)
				if err != nil {
					t.Fatal(err)
				}
				want := sha256.Sum256(b)
				if d.SHA256 != hex.EncodeToString(want[:]) || d.Size != int64(n) {
					t.Fatalf("sha256 %s size %d", d.SHA256, d.Size)
				}
				if withMD5 && d.MD5 != md5hex(b) {
					t.Fatalf("md5 %s", d.MD5)
				}
			}
		})
	}
	if _, err := mediaops.HashFile(context.Background(), filepath.Join(dir, "nope"), false); reason.Code(err) != probe.CodeMissingFile {
		t.Fatalf("missing file: %v", err)
	}
}

func TestHashMediaDetectsBitRot(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := pngBytes(t, 30, 30)
	p := filepath.Join(e.dir, "in", "a.png")
	id := e.addMedia(t, p, "image", data, false)
	res, err := e.svc.HashMedia(ctx, id, nil)
	if err != nil || res.Mismatch {
		t.Fatalf("clean file: %+v %v", res, err)
	}
	want := sha256.Sum256(data)
	if e.meta(t, id, "hash.sha256") != hex.EncodeToString(want[:]) || e.meta(t, id, "hash.checked_at") == "" {
		t.Fatal("hash meta not written")
	}
	// Flip one byte: bit rot.
	data[len(data)/2] ^= 0x40
	writeFile(t, p, data)
	res, err = e.svc.HashMedia(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Mismatch || res.ReasonCode != mediaops.CodeHashMismatch {
		t.Fatalf("bit rot not reported: %+v", res)
	}
	if e.meta(t, id, "integrity.ok") != "0" || e.meta(t, id, "integrity.error_code") != mediaops.CodeHashMismatch {
		t.Fatal("mismatch must flag the media as broken")
	}
	if e.count(t, `SELECT COUNT(*) FROM consistency_log WHERE check_name='hash_mismatch'`) != 1 {
		t.Fatal("no consistency_log row")
	}
	var h string
	e.db.QueryRow(`SELECT hash FROM media WHERE id=?`, id).Scan(&h)
	if h == md5hex(data) {
		t.Fatal("media.hash must not be rewritten")
	}
	os.Remove(p)
	if _, err := e.svc.HashMedia(ctx, id, nil); reason.Code(err) != probe.CodeMissingFile || reason.KindOf(err) != reason.KindPermanent {
		t.Fatalf("missing file must be a permanent job error: %v", err)
	}
}

func TestUpscaleLocal(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	parent := e.addMedia(t, filepath.Join(e.svc.Roots.ImagesNSFW, "p.png"), "image", pngBytes(t, 40, 30), true)
	res, err := e.svc.Upscale(ctx, parent, mediaops.UpscalePayload{Scale: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Width != 80 || res.Height != 60 || !res.Preferred {
		t.Fatalf("result %+v", res)
	}
	f, err := os.Open(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := image.DecodeConfig(f)
	f.Close()
	if err != nil || cfg.Width != 80 || cfg.Height != 60 {
		t.Fatalf("output %v %+v", err, cfg)
	}
	if filepath.Dir(res.Path) != e.svc.Derivatives || filepath.Base(res.Path) != "upscale_1_20260102_030405_x2.png" {
		t.Fatalf("path %s", res.Path)
	}
	child, err := media.Get(ctx, e.db, res.ChildID)
	if err != nil {
		t.Fatal(err)
	}
	if child.Source != "upscale" || child.ParentID == nil || *child.ParentID != parent || !child.HasNSFW || child.Rating != 1 ||
		*child.Width != 80 || child.Hash == "" || *child.Filesize != res.Filesize {
		t.Fatalf("child row %+v", child)
	}
	if e.meta(t, res.ChildID, "variant.role") != "upscale" || e.meta(t, res.ChildID, "upscale.scale") != "2" {
		t.Fatal("child meta")
	}
	if e.meta(t, parent, "variant.preferred_media_id") != strconv.FormatInt(res.ChildID, 10) {
		t.Fatal("preferred not set")
	}
	// A smaller second upscale does not replace the preferred 2x child,
	// and gets a unique name in the same second.
	res2, err := e.svc.Upscale(ctx, parent, mediaops.UpscalePayload{Scale: 1.5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Preferred || e.meta(t, parent, "variant.preferred_media_id") != strconv.FormatInt(res.ChildID, 10) {
		t.Fatalf("smaller variant became preferred: %+v", res2)
	}
	// A bigger one does.
	res3, err := e.svc.Upscale(ctx, parent, mediaops.UpscalePayload{Scale: 3}, nil)
	if err != nil || !res3.Preferred {
		t.Fatalf("3x: %+v %v", res3, err)
	}
}

func TestUpscaleFailuresLeaveNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	parent := e.addMedia(t, filepath.Join(e.svc.Roots.ImagesSFW, "p.png"), "image", pngBytes(t, 50, 50), false)
	video := e.addMedia(t, filepath.Join(e.svc.Roots.VideosSFW, "v.mp4"), "video", []byte("not really"), false)
	metaBefore := e.count(t, `SELECT COUNT(*) FROM media_meta`)

	// Disk full / unwritable derivatives: the folder cannot be created.
	blocker := writeFile(t, filepath.Join(e.dir, "blocker"), []byte("x"))
	full := *e.svc
	full.Derivatives = filepath.Join(blocker, "derivatives")
	if _, err := full.Upscale(ctx, parent, mediaops.UpscalePayload{Scale: 2}, nil); reason.Code(err) != mediaops.CodeWriteFailed {
		t.Fatalf("unwritable: %v", err)
	}
	// Pixel budget: 50×50×4² = 40000 > 30000.
	small := *e.svc
	small.MaxPixels = 30_000
	if _, err := small.Upscale(ctx, parent, mediaops.UpscalePayload{Scale: 4}, nil); reason.Code(err) != probe.CodeDecompressionBomb {
		t.Fatalf("budget: %v", err)
	}
	if _, err := e.svc.Upscale(ctx, video, mediaops.UpscalePayload{}, nil); reason.Code(err) != mediaops.CodeNotImage {
		t.Fatalf("video: %v", err)
	}
	if _, err := e.svc.Upscale(ctx, parent, mediaops.UpscalePayload{Scale: -1}, nil); reason.Code(err) != mediaops.CodeScaleInvalid {
		t.Fatalf("scale: %v", err)
	}
	// DB failure after the write (the commit hook fails): the output is removed.
	_, err := e.svc.Upscale(ctx, parent, mediaops.UpscalePayload{Scale: 2}, func(_ *sql.Tx, _ any) error { return os.ErrDeadlineExceeded })
	if err == nil {
		t.Fatal("want error")
	}
	if ents, _ := os.ReadDir(e.svc.Derivatives); len(ents) != 0 {
		t.Fatalf("partial output left: %v", ents)
	}
	if n := e.count(t, `SELECT COUNT(*) FROM media`); n != 2 {
		t.Fatalf("media rows %d", n)
	}
	if e.count(t, `SELECT COUNT(*) FROM media_meta`) != metaBefore {
		t.Fatal("parent meta touched")
	}
}

func TestRenameMovesAndCompensates(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := pngBytes(t, 10, 10)
	from := filepath.Join(e.svc.Roots.ImagesSFW, "flat.png")
	id := e.addMedia(t, from, "image", data, false)
	canon := library.CanonicalPath(e.svc.Roots, "image", false, md5hex(data), "png")

	// DB failure after the move: the file goes back.
	bad := *e.svc
	bad.AfterMove = func(string, string) {
		e.db.Exec(`UPDATE media SET path='/elsewhere' WHERE id=?`, id)
	}
	if _, err := bad.Rename(ctx, id, nil); err == nil {
		t.Fatal("want error")
	}
	if _, err := os.Stat(from); err != nil {
		t.Fatal("compensation did not move the file back")
	}
	if _, err := os.Stat(canon); err == nil {
		t.Fatal("target left behind")
	}
	e.db.Exec(`UPDATE media SET path=? WHERE id=?`, from, id)

	res, err := e.svc.Rename(ctx, id, nil)
	if err != nil || res.Outcome != "moved" {
		t.Fatalf("%+v %v", res, err)
	}
	m, _ := media.Get(ctx, e.db, id)
	if m.Path != canon {
		t.Fatalf("row %s", m.Path)
	}
	if _, err := os.Stat(canon); err != nil {
		t.Fatal(err)
	}
	if e.meta(t, id, "original_path") != from || e.meta(t, id, "rename_at") == "" {
		t.Fatal("meta")
	}
	res, err = e.svc.Rename(ctx, id, nil)
	if err != nil || res.Outcome != "already_canonical" {
		t.Fatalf("second run %+v %v", res, err)
	}

	// Target occupied by different content: error, nothing overwritten.
	data2 := pngBytes(t, 11, 10)
	from2 := filepath.Join(e.svc.Roots.ImagesSFW, "other.png")
	id2 := e.addMedia(t, from2, "image", data2, false)
	canon2 := library.CanonicalPath(e.svc.Roots, "image", false, md5hex(data2), "png")
	writeFile(t, canon2, []byte("squatter"))
	if _, err := e.svc.Rename(ctx, id2, nil); reason.Code(err) != mediaops.CodeRenameCollision {
		t.Fatalf("collision: %v", err)
	}
	if b, _ := os.ReadFile(canon2); string(b) != "squatter" {
		t.Fatal("target overwritten")
	}
	if _, err := os.Stat(from2); err != nil {
		t.Fatal("source lost")
	}
}

// TestUpscaleForge upscales through Forge's extras endpoint (the fake
// A1111 server): the configured upscaler is sent unless the job names
// one, the child records engine and model, and a refused upscaler leaves
// no file and no row.
func TestUpscaleForge(t *testing.T) {
	srv := forgetest.New(forgetest.Options{})
	t.Cleanup(srv.Close)
	cl, err := forge.NewClient(forge.ClientOptions{BaseURL: srv.URL, Clock: &svtime.FixedClock{T: t0}})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	e.svc.Remote = mediaops.ForgeUpscaler(cl, "R-ESRGAN 4x+")
	ctx := context.Background()
	parent := e.addMedia(t, filepath.Join(e.svc.Roots.ImagesSFW, "p.png"), "image", pngBytes(t, 30, 20), false)

	tests := []struct {
		name, model, wantSent string
		scale                 float64
		wantCode              string
	}{
		// Different scales: identical output would be reused, not added.
		{"configured upscaler", "", "R-ESRGAN 4x+", 2, ""},
		{"job names the upscaler", "Lanczos", "Lanczos", 3, ""},
		{"unknown upscaler", "NoSuchNet", "NoSuchNet", 2.5, "*"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rowsBefore := e.count(t, `SELECT COUNT(*) FROM media`)
			res, err := e.svc.Upscale(ctx, parent, mediaops.UpscalePayload{Scale: tc.scale, Model: tc.model}, nil)
			reqs := srv.RequestsTo("/sdapi/v1/extra-single-image")
			if len(reqs) != i+1 {
				t.Fatalf("%d extras requests, want %d", len(reqs), i+1)
			}
			var sent struct {
				Upscaler string  `json:"upscaler_1"`
				Resize   float64 `json:"upscaling_resize"`
			}
			if err := json.Unmarshal(reqs[i].Body, &sent); err != nil || sent.Upscaler != tc.wantSent || sent.Resize != tc.scale {
				t.Fatalf("sent %+v (%v), want upscaler %q ×%v", sent, err, tc.wantSent, tc.scale)
			}
			if tc.wantCode != "" {
				if err == nil {
					t.Fatalf("want an error, got %+v", res)
				}
				if n := e.count(t, `SELECT COUNT(*) FROM media`); n != rowsBefore {
					t.Fatalf("media rows %d → %d", rowsBefore, n)
				}
				if ents, _ := os.ReadDir(e.svc.Derivatives); len(ents) != i {
					t.Fatalf("derivatives %v", ents)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Engine != "forge" || res.Reused || res.Width != int(30*tc.scale) || res.Height != int(20*tc.scale) {
				t.Fatalf("result %+v", res)
			}
			if e.meta(t, res.ChildID, "upscale.engine") != "forge" || e.meta(t, res.ChildID, "upscale.model") != tc.wantSent {
				t.Fatalf("child meta engine=%q model=%q", e.meta(t, res.ChildID, "upscale.engine"), e.meta(t, res.ChildID, "upscale.model"))
			}
		})
	}
}
