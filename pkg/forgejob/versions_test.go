package forgejob_test

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/forge"
	"github.com/localsupervisor/supervisor/pkg/forge/forgetest"
	"github.com/localsupervisor/supervisor/pkg/forgejob"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

func TestDiscardPreviews(t *testing.T) {
	for _, c := range []struct {
		name      string
		variant   int
		discarded []int
		kept      []int
	}{
		{"one variant", 2, []int{2}, []int{1, 3}},
		{"all previews", 0, []int{1, 2, 3}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, nil)
			ctx := context.Background()
			id, _, _ := e.addMedia(100, 70, "png", true)
			jobID := e.enqueue(id, forgejob.EnqueueRequest{Overrides: forge.Overrides{Variants: 3}})
			e.runOne()
			before := e.result(jobID).Versions
			res, err := e.svc.Discard(ctx, forgejob.DiscardRequest{JobID: jobID, Variant: c.variant})
			if err != nil {
				t.Fatal(err)
			}
			if !equalInts(res.Discarded, c.discarded) {
				t.Fatalf("discarded %v, want %v", res.Discarded, c.discarded)
			}
			after := e.result(jobID).Versions
			for _, n := range c.discarded {
				if fileExistsT(before[n-1].Path) || after[n-1].AcceptedAs != forgejob.AcceptDiscarded {
					t.Errorf("variant %d: file kept or not marked (%+v)", n, after[n-1])
				}
				if _, err := e.svc.Accept(ctx, forgejob.AcceptRequest{JobID: jobID, Variant: n, As: forgejob.AcceptChild}); reason.Code(err) != forgejob.CodeAlreadyAccepted {
					t.Errorf("accepting discarded variant %d: %v", n, err)
				}
				if _, _, err := e.svc.PreviewFile(ctx, jobID, n); reason.Code(err) != forgejob.CodeVariantNotFound {
					t.Errorf("preview file of discarded variant %d: %v", n, err)
				}
			}
			for _, n := range c.kept {
				if !fileExistsT(before[n-1].Path) || after[n-1].AcceptedAs != "" {
					t.Errorf("variant %d touched", n)
				}
			}
			if n := e.count(`SELECT COUNT(*) FROM audit_log WHERE action = ? AND entity_id = ?`, forgejob.AuditPreviewDiscarded, id); n != 1 {
				t.Errorf("discard audits = %d", n)
			}
		})
	}
}

func TestDiscardKeepsAcceptedAndRefusesTwice(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	id, _, _ := e.addMedia(100, 70, "png", true)
	jobID := e.enqueue(id, forgejob.EnqueueRequest{Overrides: forge.Overrides{Variants: 2}})
	e.runOne()
	if _, err := e.svc.Accept(ctx, forgejob.AcceptRequest{JobID: jobID, Variant: 1, As: forgejob.AcceptChild}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Discard(ctx, forgejob.DiscardRequest{JobID: jobID, Variant: 1}); reason.Code(err) != forgejob.CodeAlreadyAccepted {
		t.Errorf("discarding an accepted preview: %v", err)
	}
	res, err := e.svc.Discard(ctx, forgejob.DiscardRequest{JobID: jobID})
	if err != nil || !equalInts(res.Discarded, []int{2}) {
		t.Fatalf("discard all: %v %+v", err, res)
	}
	if v := e.result(jobID).Versions[0]; v.AcceptedAs != forgejob.AcceptChild || !fileExistsT(v.Path) {
		t.Errorf("accepted preview changed: %+v", v)
	}
	if _, err := e.svc.Discard(ctx, forgejob.DiscardRequest{JobID: jobID, Variant: 9}); reason.Code(err) != forgejob.CodeVariantNotFound {
		t.Errorf("unknown variant: %v", err)
	}
}

// runClosed runs one job with a runner that is closed right after, so a
// test can run jobs several times (the worker lock is per runner).
func (e *env) runClosed() jobs.Summary {
	e.t.Helper()
	r := e.runner(e.svc.Handlers())
	defer r.Close()
	sum, err := r.RunBatch(context.Background(), 1)
	if err != nil {
		e.t.Fatal(err)
	}
	return sum
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMediaJobsListsProgressVersionsAndFailures(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	id, _, _ := e.addMedia(100, 70, "png", true)
	done := e.enqueue(id, forgejob.EnqueueRequest{Overrides: forge.Overrides{Variants: 2}})
	e.runClosed()
	failed := e.enqueue(id, forgejob.EnqueueRequest{Overrides: forge.Overrides{Seed: int64p(77)}})
	e.fake.SetFault(forgetest.FaultUnauthorized)
	e.runClosed()
	e.fake.SetFault(forgetest.FaultNone)
	queued := e.enqueue(id, forgejob.EnqueueRequest{Overrides: forge.Overrides{Seed: int64p(78), Variants: 3}})
	if _, err := e.db.Exec(`UPDATE jobs SET status = 'running', stage = 'generate', progress_bits = 400, progress_bits_total = 1000 WHERE id = ?`, queued); err != nil {
		t.Fatal(err)
	}
	jv, err := forgejob.MediaJobs(ctx, e.db, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(jv) != 3 || jv[0].ID != queued || jv[1].ID != failed || jv[2].ID != done {
		t.Fatalf("jobs %+v", jv)
	}
	if j := jv[0]; !j.Live() || j.Percent() != 40 || j.Stage != "generate" || j.Variants != 3 || j.Mode != forge.OutputPreview {
		t.Errorf("running job %+v", j)
	}
	if j := jv[1]; j.Live() || j.Failure == nil || j.Failure["http_code"] != float64(401) || !strings.Contains(j.Failure["target_url"].(string), "/sdapi/v1/options") {
		t.Errorf("failed job %+v", j)
	}
	if j := jv[2]; j.Status != jobs.StatusDone || len(j.Versions) != 2 || j.Model == "" {
		t.Errorf("done job %+v", j)
	}
	// Other media and other job types are not listed.
	if jv, _ := forgejob.MediaJobs(ctx, e.db, id+1, 0); len(jv) != 0 {
		t.Errorf("other media: %+v", jv)
	}
}

func int64p(v int64) *int64 { return &v }

func TestReplaceRefreshesScanFiles(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	id, oldPath, _ := e.addMedia(100, 70, "png", true)
	// The scanner's fingerprint of the original file.
	if _, err := e.db.Exec(`INSERT INTO scan_files(path, size, mtime_ns, media_id, hash, status, seen_at) VALUES (?, 1, 1, ?, 'old', 'imported', 'x')`, oldPath, id); err != nil {
		t.Fatal(err)
	}
	jobID := e.enqueue(id, forgejob.EnqueueRequest{Overrides: forge.Overrides{Mode: forge.OutputReplace}})
	e.runOne()
	if !e.result(jobID).Replaced {
		t.Fatalf("job %+v", e.job(jobID))
	}
	m, err := media.Get(ctx, e.db, id)
	if err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT COUNT(*) FROM scan_files WHERE path = ?`, oldPath); n != 0 {
		t.Errorf("stale scan_files row for the old path %s", oldPath)
	}
	st, err := os.Stat(m.Path)
	if err != nil {
		t.Fatal(err)
	}
	var size, mt, mid int64
	var hash string
	if err := e.db.QueryRow(`SELECT size, mtime_ns, media_id, hash FROM scan_files WHERE path = ?`, m.Path).Scan(&size, &mt, &mid, &hash); err != nil {
		t.Fatalf("no scan_files row for the new file: %v", err)
	}
	if size != st.Size() || mt != st.ModTime().UnixNano() || mid != id || hash != m.Hash {
		t.Errorf("scan_files row (%d %d %d %s), file (%d %d %d %s)", size, mt, mid, hash, st.Size(), st.ModTime().UnixNano(), id, m.Hash)
	}
}

func TestEnqueueProbeTimeoutDoesNotBlock(t *testing.T) {
	e := newEnv(t, nil)
	id, _, _ := e.addMedia(100, 70, "png", true)
	e.fake.SetFault(forgetest.FaultSlow)
	res, err := e.svc.Enqueue(context.Background(), forgejob.EnqueueRequest{MediaID: id, ProbeTimeout: 30 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Health == nil || res.Health.State != forgejob.HealthUnverified || res.JobID == 0 {
		t.Fatalf("result %+v health %+v", res, res.Health)
	}
	// Only a real failure is audited.
	if n := e.count(`SELECT COUNT(*) FROM audit_log WHERE action = 'forge_health_failed'`); n != 0 {
		t.Errorf("health audits = %d", n)
	}
	e.fake.SetFault(forgetest.FaultDown)
	if _, err := e.svc.Enqueue(context.Background(), forgejob.EnqueueRequest{MediaID: id, ProbeTimeout: time.Second}); err == nil {
		t.Fatal("enqueue with Forge down succeeded")
	}
	if n := e.count(`SELECT COUNT(*) FROM audit_log WHERE action = 'forge_health_failed'`); n != 1 {
		t.Errorf("health audits after down = %d", n)
	}
	h, err := e.svc.Health(context.Background(), time.Second)
	if err != nil || h.State != forgejob.HealthFailed || h.TargetURL == "" || h.ReasonCode == "" {
		t.Errorf("health %+v %v", h, err)
	}
}

// TestNoBase64AnywhereInDatabase scans every text value of every table
// after preview, replace, accept (both ways) and discard.
func TestNoBase64AnywhereInDatabase(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	id, _, _ := e.addMedia(100, 70, "png", true)
	prev := e.enqueue(id, forgejob.EnqueueRequest{Overrides: forge.Overrides{Strategy: forge.StrategyImg2Img, Variants: 3}})
	e.runClosed()
	if _, err := e.svc.Accept(ctx, forgejob.AcceptRequest{JobID: prev, Variant: 1, As: forgejob.AcceptChild}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Accept(ctx, forgejob.AcceptRequest{JobID: prev, Variant: 2, As: forgejob.AcceptReplace}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Discard(ctx, forgejob.DiscardRequest{JobID: prev}); err != nil {
		t.Fatal(err)
	}
	e.enqueue(id, forgejob.EnqueueRequest{Recipe: "repair.strong", Overrides: forge.Overrides{Mode: forge.OutputReplace}})
	e.runClosed()
	if n := len(e.fake.RequestsTo(forge.PathImg2Img)); n == 0 {
		t.Fatal("no img2img request was sent; the test would not see an init image")
	}
	assertNoImageData(t, e.db)
}

func assertNoImageData(t *testing.T, d *sql.DB) {
	t.Helper()
	rows, err := d.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		_ = rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	// PNG, JPEG, WebP and GIF signatures in base64, and the data-URI prefix.
	sigs := []string{"iVBORw0KGgo", "/9j/", "UklGR", "R0lGOD", "base64,"}
	checked := 0
	for _, tb := range tables {
		rs, err := d.Query(`SELECT * FROM "` + tb + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rs.Columns()
		for rs.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rs.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				var s string
				switch x := v.(type) {
				case string:
					s = x
				case []byte:
					s = string(x)
				default:
					continue
				}
				checked++
				for _, sig := range sigs {
					if strings.Contains(s, sig) {
						t.Errorf("%s.%s holds %q (%d bytes)", tb, cols[i], sig, len(s))
					}
				}
				if len(s) > 20000 {
					t.Errorf("%s.%s holds %d bytes", tb, cols[i], len(s))
				}
			}
		}
		rs.Close()
	}
	if checked == 0 {
		t.Fatal("no text values checked")
	}
}
