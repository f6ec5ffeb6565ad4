package forgejob_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"github.com/localsupervisor/supervisor/pkg/forgejob"
)

// BenchmarkMediaJobs measures the detail page's Forge job list: one media's
// 10 jobs (3 preview versions each) among 50,000 forge jobs of 5,000 media.
func BenchmarkMediaJobs(b *testing.B) {
	d := dbtest.Open(b, filepath.Join(b.TempDir(), "bench.sqlite"))
	ctx := context.Background()
	const mediaN, perMedia = 5000, 10
	res := forgejob.JobResult{Mode: "preview", Versions: []forgejob.Version{}}
	for v := 1; v <= 3; v++ {
		res.Versions = append(res.Versions, forgejob.Version{Variant: v, Path: fmt.Sprintf("/lib/PREVIEWS/preview_1_1_20260102_030405_%d.png", v),
			MD5: "0123456789abcdef0123456789abcdef", Width: 1024, Height: 1024, Ext: "png", Role: "preview"})
	}
	rj, _ := json.Marshal(res)
	err := db.InTx(ctx, d, func(tx *sql.Tx) error {
		for m := 1; m <= mediaN; m++ {
			if _, err := tx.ExecContext(ctx, `INSERT INTO media(id, path, type, source, hash, imported_at, created_at) VALUES (?, ?, 'image', 'import', ?, 'x', 'x')`,
				m, fmt.Sprintf("/lib/%d.png", m), fmt.Sprintf("h%d", m)); err != nil {
				return err
			}
			for j := 0; j < perMedia; j++ {
				if _, err := tx.ExecContext(ctx, `INSERT INTO jobs(media_id, type, status, result_json, forge_response_json, created_at, updated_at)
					VALUES (?, 'forge_regen', 'done', ?, ?, '2026-01-02T03:04:05Z', '2026-01-02T03:04:05Z')`, m, string(rj), string(rj)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		jv, err := forgejob.MediaJobs(ctx, d, int64(1+i%mediaN), 0)
		if err != nil || len(jv) != perMedia || len(jv[0].Versions) != 3 {
			b.Fatalf("%d jobs, %v", len(jv), err)
		}
	}
}
