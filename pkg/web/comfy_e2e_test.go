package web

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/localsupervisor/supervisor/pkg/comfyjob"
	"github.com/localsupervisor/supervisor/pkg/forgejob"
	"github.com/localsupervisor/supervisor/pkg/jobs"
)

// TestComfyBrowserFlow drives the ComfyUI panel in headless Chromium: the
// form is posted with an edited prompt, the panel's poller reloads the
// page when the job (run in-process against the fake ComfyUI) finishes,
// the preview shows and is accepted as a child media.
func TestComfyBrowserFlow(t *testing.T) {
	b := newBrowserSteps(t, 90*time.Second, "comfy")
	e := newComfyEnv(t, true)
	ts := httptest.NewServer(e.h)
	defer ts.Close()
	b.Login(ts.URL, "/mediadb.php", `#grid`)
	var msg string
	b.Run("regen form",
		chromedp.Navigate(ts.URL+"/media_view.php?id="+strconv.FormatInt(e.comfyID, 10)),
		chromedp.WaitVisible(`#comfy-regen-form`, chromedp.ByQuery),
		chromedp.SetValue(`#comfy-regen-form textarea[name=prompt]`, "a lighthouse in a storm, oil painting", chromedp.ByQuery),
		chromedp.Click(`#comfy-regen-btn`, chromedp.ByQuery),
		chromedp.WaitVisible(`#comfy-msg`, chromedp.ByQuery),
		chromedp.Text(`#comfy-msg`, &msg, chromedp.ByQuery),
		chromedp.WaitVisible(`.comfy-job[data-live="true"] progress`, chromedp.ByQuery),
		b.Shot("01-queued"),
	)
	if !strings.Contains(msg, "queued") {
		t.Fatalf("enqueue message %q", msg)
	}
	r, err := jobs.NewRunner(jobs.RunnerOptions{Queue: e.queue, Worker: "forge_worker", Types: comfyjob.Types(), Handlers: e.comfy.Handlers(),
		LogsDir: filepath.Join(e.base, "LOGS"), HeartbeatInterval: 20 * time.Millisecond, Grace: time.Second, Abandon: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	s, err := r.RunBatch(context.Background(), 1)
	r.Close()
	if err != nil || s.Done != 1 {
		t.Fatalf("runner %+v %v", s, err)
	}
	var loaded bool
	b.Run("preview after poll reload, accept as child",
		chromedp.WaitVisible(`.comfy-version[data-variant="1"] img`, chromedp.ByQuery),
		chromedp.Poll(`Array.from(document.querySelectorAll('.comfy-version img')).every(function (i) { return i.complete && i.naturalWidth > 0; })`, &loaded, chromedp.WithPollingTimeout(20*time.Second)),
		b.Shot("02-preview"),
		chromedp.Click(`.comfy-version[data-variant="1"] .comfy-accept-child`, chromedp.ByQuery),
		chromedp.WaitVisible(`.comfy-version[data-variant="1"][data-accepted="child"]`, chromedp.ByQuery),
	)
	jobID := queryInt(t, e.db, `SELECT id FROM jobs WHERE type = ?`, jobs.TypeComfyRegen)
	if vs := e.versions(jobID); vs[0].AcceptedAs != forgejob.AcceptChild || vs[0].ChildMediaID == 0 {
		t.Fatalf("versions %+v", vs)
	}
}
