package forgejob_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/forge"
	"github.com/localsupervisor/supervisor/pkg/forge/forgetest"
	"github.com/localsupervisor/supervisor/pkg/forgejob"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/mediaops"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// TestReplaceRenewsFileChecks (issue #17 item 3): after a replace the
// media's hash.sha256 is the new file's, the old file's integrity verdict
// is gone, the follow-up jobs an import gets are queued, and the hash job
// itself then finds no mismatch.
func TestReplaceRenewsFileChecks(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	id, _, orig := e.addMedia(100, 70, "png", true)
	oldSHA := sha256.Sum256(orig)
	for k, v := range map[string]string{"hash.sha256": hex.EncodeToString(oldSHA[:]), "integrity.ok": "0",
		"integrity.error_code": "truncated_file", "integrity.checked_at": "2026-01-01T00:00:00Z"} {
		if _, err := media.SetMeta(ctx, e.db, id, "test", k, v, t0); err != nil {
			t.Fatal(err)
		}
	}
	jobID := e.enqueue(id, forgejob.EnqueueRequest{Overrides: forge.Overrides{Mode: forge.OutputReplace}})
	e.runOne()
	res := e.result(jobID)
	if !res.Replaced {
		t.Fatalf("job %+v", e.job(jobID))
	}
	m, err := media.Get(ctx, e.db, id)
	if err != nil {
		t.Fatal(err)
	}
	newSHA := sha256.Sum256(svtest.ReadFile(t, m.Path))
	if v, _, _ := media.GetMeta(ctx, e.db, id, "hash.sha256"); v != hex.EncodeToString(newSHA[:]) {
		t.Errorf("hash.sha256 = %q, new file %x", v, newSHA)
	}
	if n := e.count(`SELECT COUNT(*) FROM media_meta WHERE media_id=? AND meta_key LIKE 'integrity.%'`, id); n != 0 {
		t.Errorf("%d integrity.* rows of the old file remain", n)
	}
	for _, typ := range []string{jobs.TypeHashCompute, jobs.TypeIntegrityCheck} {
		if n := e.count(`SELECT COUNT(*) FROM jobs WHERE media_id=? AND type=? AND status='queued'`, id, typ); n != 1 {
			t.Errorf("%s jobs queued for the replaced media: %d, want 1", typ, n)
		}
	}
	ops := &mediaops.Service{DB: e.db, Clock: e.clock, Roots: e.roots}
	hr, err := ops.HashMedia(ctx, id, nil)
	if err != nil || hr.Mismatch {
		t.Errorf("hash job after the replace: %+v, %v", hr, err)
	}
}

// TestRegenUsesLoadedModel (issue #17 item 4): the image's model
// (sdxl_base_1.0) and the default fallback are not installed; the job
// generates with the checkpoint loaded on the server and its result and
// job view say so, instead of failing with forge_model_not_found.
func TestRegenUsesLoadedModel(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	models := forgetest.DefaultModels()
	pony := models[1].Title
	if err := e.svc.Client.SetCheckpoint(ctx, pony); err != nil {
		t.Fatal(err)
	}
	e.fake.SetModels(models[1:]) // the fallback checkpoint is gone
	id, _, _ := e.addMedia(100, 70, "png", true)
	jobID := e.enqueue(id, forgejob.EnqueueRequest{})
	e.runOne()
	if row := e.job(jobID); row.Status != jobs.StatusDone {
		t.Fatalf("job %s %s %s", row.Status, row.Code, row.Msg)
	}
	res := e.result(jobID)
	want := "model sdxl_base_1.0 was not installed; used " + pony + " (loaded on the server)"
	if res.Model.Active != pony || !res.Model.LoadedUsed || res.Model.Note != want {
		t.Errorf("result model %+v, want note %q", res.Model, want)
	}
	if e.fake.Active() != pony {
		t.Errorf("server switched to %s", e.fake.Active())
	}
	views, err := forgejob.MediaJobs(ctx, e.db, id, 0)
	if err != nil || len(views) != 1 || views[0].ModelNote != want || views[0].Model != pony {
		t.Errorf("job view %+v %v", views, err)
	}
}
