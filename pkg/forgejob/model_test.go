package forgejob_test

import (
	"context"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/forge/forgetest"
	"github.com/localsupervisor/supervisor/pkg/forgejob"
	"github.com/localsupervisor/supervisor/pkg/jobs"
)

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
