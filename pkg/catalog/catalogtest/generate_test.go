package catalogtest_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/catalog/catalogtest"
	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
)

// TestGenerateGenParameters: the generated library carries generation
// parameters spread like a real collection, and media_gen agrees with the
// prompts rows it was derived from.
func TestGenerateGenParameters(t *testing.T) {
	ctx := context.Background()
	d := dbtest.Open(t, filepath.Join(t.TempDir(), "g.sqlite"))
	const n = 20000
	if err := catalogtest.Generate(ctx, d, n, "/lib"); err != nil {
		t.Fatal(err)
	}
	one := func(q string) float64 {
		t.Helper()
		var v float64
		if err := d.QueryRow(q).Scan(&v); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
		return v
	}
	checks := []struct {
		name     string
		q        string
		min, max float64
	}{
		{"media_gen rows", `SELECT COUNT(*) FROM media_gen`, n, n},
		{"models", `SELECT COUNT(DISTINCT model) FROM media_gen`, 35, 42},
		{"top model share", `SELECT MAX(c) * 1.0 / 20000 FROM (SELECT COUNT(*) c FROM media_gen GROUP BY model)`, 0.15, 0.40},
		// NOCASE columns: "Euler"/"euler" and "Karras"/"karras" are one.
		{"samplers", `SELECT COUNT(DISTINCT sampler) FROM media_gen`, 14, 14},
		{"schedulers", `SELECT COUNT(DISTINCT scheduler) FROM media_gen`, 8, 8},
		{"software", `SELECT COUNT(DISTINCT software) FROM media_gen`, 7, 7},
		{"steps range", `SELECT MIN(steps) = 20 AND MAX(steps) = 50 FROM media_gen`, 1, 1},
		{"cfg range", `SELECT MIN(cfg) = 3 AND MAX(cfg) = 12 AND SUM(cfg * 2 <> CAST(cfg * 2 AS INTEGER)) = 0 FROM media_gen`, 1, 1},
		{"seeds above 2^63", `SELECT AVG(length(seed) = 20 OR (length(seed) = 19 AND seed > '9223372036854775807')) FROM media_gen`, 0.1, 0.4},
		{"seeds NULL (-1)", `SELECT AVG(seed IS NULL) FROM media_gen`, 0.005, 0.05},
		{"max seed exact", `SELECT COUNT(*) FROM media_gen WHERE seed = '18446744073709551615'`, 1, 1},
		{"with LoRAs", `SELECT COUNT(DISTINCT media_id) * 1.0 / 20000 FROM media_gen_loras`, 0.25, 0.35},
		{"LoRA names", `SELECT COUNT(DISTINCT name) FROM media_gen_loras`, 150, 400},
		{"denoise", `SELECT AVG(denoise IS NOT NULL) FROM media_gen`, 0.15, 0.25},
		{"model hash", `SELECT AVG(model_hash IS NOT NULL) FROM media_gen`, 0.6, 0.8},
		{"agrees with prompts", `SELECT COUNT(*) FROM media_gen g JOIN prompts p ON p.media_id = g.media_id
			WHERE p.model IS NOT g.model OR p.sampler IS NOT g.sampler OR p.steps IS NOT g.steps OR p.cfg_scale IS NOT g.cfg
			OR p.width IS NOT g.width OR (p.seed <> '-1' AND p.seed IS NOT g.seed)`, 0, 0},
	}
	for _, c := range checks {
		if v := one(c.q); v < c.min || v > c.max {
			t.Errorf("%s: %v, want %v..%v", c.name, v, c.min, c.max)
		}
	}
}
