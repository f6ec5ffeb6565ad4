package db_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/catalog/ftsindex"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
)

// legacyDB builds a database in the original PHP system's shape with
// representative rows, written the way the PHP code wrote them (local-offset
// timestamps, MD5 hashes, payloads in forge_request_json, legacy statuses,
// media_id=0 path jobs, the legacy jobs.payload column).
func legacyDB(t *testing.T) string {
	t.Helper()
	return dbtest.OpenLegacy(t, filepath.Join(t.TempDir(), "local.sqlite"),
		`INSERT INTO media (id, path, type, source, width, height, filesize, hash, created_at, imported_at, rating, has_nsfw, status)
		 VALUES (1, 'D:/lib/images_sfw/ab/abc.png', 'image', 'import', 512, 768, 12345, '0cc175b9c0f1b6a831c399e269772661', '2024-03-01T12:00:00+01:00', '2024-03-02T08:00:00+01:00', 1, 0, 'active'),
		        (2, 'D:/lib/videos_nsfw/cd/cde.mp4', 'video', 'import', 1920, 1080, 999999, '92eb5ffee6ae2fec3ad71c777531578f', '2024-03-01T12:00:00+01:00', '2024-03-02T08:01:00+01:00', 3, 1, 'missing'),
		        (3, 'D:/lib/derivatives/x.png', 'image', 'upscale', 1024, 1536, 2222, '4a8a08f09d37b73795649038408b5f33', NULL, '2024-03-03T08:00:00+00:00', 1, 0, 'active')`,
		`UPDATE media SET parent_media_id = 1 WHERE id = 3`,
		`INSERT INTO tags (id, name, type) VALUES (1, '1girl', 'content'), (2, 'hatsune miku', 'danbooru.character.v1')`,
		`INSERT INTO media_tags (media_id, tag_id, confidence, locked) VALUES (1, 1, 0.93, 0), (1, 2, 1.0, 1)`,
		`INSERT INTO scan_results (media_id, scanner, run_at, nsfw_score, raw_json) VALUES (1, 'pixai_sensible', '2024-03-02T08:00:01+01:00', 0.12, '{"tags":["1girl"],"_meta":{}}')`,
		`INSERT INTO prompts (id, media_id, prompt, negative_prompt, model, sampler, cfg_scale, steps, seed, width, height, scheduler, source_metadata)
		 VALUES (1, 1, 'a cat, masterpiece', 'lowres', 'sdxl', 'Euler a', 7.0, 28, '18446744073709551615', 512, 768, 'Karras', '{"format":"a1111"}')`,
		`INSERT INTO prompt_history (media_id, prompt_id, version, source, created_at, prompt) VALUES (1, 1, 1, 'import', '2024-03-02T08:00:02+01:00', 'a cat, masterpiece')`,
		`INSERT INTO media_meta (media_id, source, meta_key, meta_value, created_at) VALUES (1, 'import', 'original_path', 'C:/in/cat.png', '2024-03-02T08:00:00+01:00'),
		        (1, 'import', 'original_name', 'cat.png', '2024-03-02T08:00:00+01:00'),
		        (3, 'import', 'original_name', 'x.png', '2024-03-03T08:00:00+00:00'),
		        (1, 'web', 'curation.checked', '1', '2024-03-05T10:00:00+01:00')`,
		// Click history: the original appended a new activity.clicks row
		// (the running total) on every detail view; the newest row counts.
		`INSERT INTO media_meta (media_id, source, meta_key, meta_value, created_at) VALUES (1, 'web', 'activity.clicks', '4', '2024-03-05T10:00:00+01:00'),
		        (1, 'web', 'activity.last_click_at', '1709629200', '2024-03-05T10:00:00+01:00'),
		        (1, 'web', 'activity.clicks', '5', '2024-03-05T11:00:00+01:00'),
		        (1, 'web', 'activity.last_click_at', '1709632800', '2024-03-05T11:00:00+01:00'),
		        (2, 'web', 'activity.clicks', '2', '2024-03-06T11:00:00+01:00')`,
		`INSERT INTO ollama_results (media_id, mode, model, caption, created_at) VALUES (1, 'caption', 'llava', 'A cat.', '2024-03-06T10:00:00+01:00')`,
		`INSERT INTO audit_log (action, entity_type, entity_id, details_json, actor_ip, actor_key, created_at) VALUES ('media_rescan', 'media', 1, '{}', 'cli', 'cli', '2024-03-02T08:00:00+00:00')`,
		`INSERT INTO import_log (path, status, message, created_at) VALUES ('D:/lib/images_sfw/ab/abc.png', 'imported', NULL, '2024-03-02T08:00:00+01:00')`,
		// Jobs: path job with media_id=0 and payload in forge_request_json;
		// a legacy 'pending' ollama job with payload in the old column; a
		// forge job with its request; a finished media job.
		`INSERT INTO jobs (id, media_id, type, status, created_at, updated_at, forge_request_json, forge_response_json)
		 VALUES (1, 0, 'scan_path', 'queued', '2024-03-02T08:00:00+01:00', '2024-03-02T08:00:00+01:00', '{"path":"C:/in","limit":null}', NULL)`,
		`INSERT INTO jobs (id, media_id, type, status, created_at, payload) VALUES (2, 1, 'ollama_caption', 'pending', '2024-03-02T09:00:00+01:00', '{"media_id":1,"mode":"caption"}')`,
		`INSERT INTO jobs (id, media_id, prompt_id, type, status, created_at, updated_at, forge_request_json, forge_response_json)
		 VALUES (3, 1, 1, 'forge_regen', 'done', '2024-03-02T09:00:00+01:00', '2024-03-02T09:05:00+01:00', '{"prompt":"a cat","sampler_name":"Euler a"}', '{"result":"ok"}')`,
		`INSERT INTO jobs (id, media_id, type, status, created_at, updated_at, forge_request_json, forge_response_json, error_message)
		 VALUES (4, 2, 'integrity_check', 'error', '2024-03-02T09:00:00+01:00', '2024-03-02T09:01:00+01:00', '{"media_id":2}', '{"error":"x"}', 'Datei fehlt')`,
		`INSERT INTO jobs (id, media_id, type, status, created_at, forge_request_json) VALUES (5, 0, 'scan_backfill_tags', 'created', '2024-03-02T09:00:00+01:00', '{"mode":"no_tags","chunk":200}')`,
		// An Ollama job that failed twice and waits for its retry: the
		// original counted attempts in the payload.
		`INSERT INTO jobs (id, media_id, type, status, created_at, updated_at, not_before, last_error_code, payload_json)
		 VALUES (6, 1, 'ollama_title', 'queued', '2024-03-02T10:00:00+01:00', '2024-03-02T10:05:00+01:00', '2024-03-02T10:06:00+01:00', 'ollama_timeout',
		         '{"media_id":1,"mode":"title","attempts":2,"last_error":"timeout"}')`,
	)
}

func TestUpgradeOriginalDatabase(t *testing.T) {
	ctx := context.Background()
	path := legacyDB(t)
	d, err := db.Open(ctx, db.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := db.Migrate(ctx, d, db.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}

	type check struct {
		name, query string
		args        []any
		want        string
	}
	checks := []check{
		{"media survived", `SELECT count(*) FROM media`, nil, "3"},
		{"md5 kept", `SELECT hash FROM media WHERE id=1`, nil, "0cc175b9c0f1b6a831c399e269772661"},
		{"media values kept", `SELECT path||'|'||rating||'|'||has_nsfw||'|'||status||'|'||imported_at FROM media WHERE id=2`, nil,
			"D:/lib/videos_nsfw/cd/cde.mp4|3|1|missing|2024-03-02T07:01:00Z"},
		{"new media columns defaulted", `SELECT status_vote||'|'||is_active||'|'||is_deleted FROM media WHERE id=1`, nil, "neutral|1|0"},
		{"lineage kept", `SELECT parent_media_id FROM media WHERE id=3`, nil, "1"},
		{"tags kept", `SELECT group_concat(name||':'||type, ',') FROM (SELECT name, type FROM tags ORDER BY id)`, nil, "1girl:content,hatsune miku:danbooru.character.v1"},
		{"locked tag kept", `SELECT confidence||'|'||locked FROM media_tags WHERE media_id=1 AND tag_id=2`, nil, "1.0|1"},
		{"prompt kept with big seed", `SELECT prompt||'|'||seed||'|'||cfg_scale FROM prompts WHERE id=1`, nil, "a cat, masterpiece|18446744073709551615|7.0"},
		{"history kept", `SELECT version||'|'||source FROM prompt_history WHERE media_id=1`, nil, "1|import"},
		{"meta kept", `SELECT count(*) FROM media_meta`, nil, "9"},
		// Schema 0305 marked a media renamed at import for the text index;
		// schema 0306 recreates the index with more columns and marks every
		// media (webui folds them in the background).
		{"media marked", `SELECT (SELECT count(*) FROM media_fts_pending WHERE media_id=1)||'|'||(SELECT count(*) FROM media_fts_pending WHERE media_id=3)`, nil, "1|1"},
		{"scan result kept", `SELECT nsfw_score FROM scan_results`, nil, "0.12"},
		{"ollama kept", `SELECT caption FROM ollama_results`, nil, "A cat."},
		{"audit kept", `SELECT action FROM audit_log`, nil, "media_rescan"},
		{"jobs survived", `SELECT count(*) FROM jobs`, nil, "6"},
		{"path job media NULL", `SELECT count(*) FROM jobs WHERE id IN (1,5) AND media_id IS NULL`, nil, "2"},
		{"scan payload moved", `SELECT payload_json||'|'||COALESCE(forge_request_json,'NULL') FROM jobs WHERE id=1`, nil, `{"path":"C:/in","limit":null}|NULL`},
		{"legacy payload column moved", `SELECT payload_json FROM jobs WHERE id=2`, nil, `{"media_id":1,"mode":"caption"}`},
		{"pending became queued", `SELECT status FROM jobs WHERE id=2`, nil, "queued"},
		{"created became queued", `SELECT status FROM jobs WHERE id=5`, nil, "queued"},
		{"forge request kept", `SELECT forge_request_json||'|'||forge_response_json FROM jobs WHERE id=3`, nil, `{"prompt":"a cat","sampler_name":"Euler a"}|{"result":"ok"}`},
		{"media job result moved", `SELECT result_json||'|'||COALESCE(forge_response_json,'NULL')||'|'||error_message FROM jobs WHERE id=4`, nil, `{"error":"x"}|NULL|Datei fehlt`},
		{"job timestamps UTC", `SELECT created_at||'|'||finished_at FROM jobs WHERE id=4`, nil, "2024-03-02T08:00:00Z|2024-03-02T08:01:00Z"},
		{"new job columns defaulted", `SELECT priority||'|'||max_attempts||'|'||attempts FROM jobs WHERE id=2`, nil, "100|3|0"},
		{"legacy migration row kept", `SELECT count(*) FROM schema_migrations WHERE version='001_init'`, nil, "1"},
	}
	for _, c := range checks {
		var got string
		if err := d.QueryRow(c.query, c.args...).Scan(&got); err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
	// Folding puts the original name into the index row, next to the path.
	if _, err := ftsindex.FoldAll(ctx, d, 0); err != nil {
		t.Fatal(err)
	}
	var ftsPath string
	if err := d.QueryRow(`SELECT path FROM media_fts WHERE docid=1`).Scan(&ftsPath); err != nil || ftsPath != "D:/lib/images_sfw/ab/abc.png cat.png" {
		t.Errorf("index path of the renamed media: %q (%v)", ftsPath, err)
	}
	rep, err := db.Status(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("status after upgrade: %+v", rep)
	}
	res, err := db.Migrate(ctx, d, db.MigrateOptions{})
	if err != nil || len(res.Applied) != 0 {
		t.Fatalf("second migrate applied %v (%v)", res.Applied, err)
	}
	// The upgraded database has no library sources (0203): the original
	// kept none, and one folder is one source.
	var sources int
	if err := d.QueryRow(`SELECT count(*) FROM library_sources`).Scan(&sources); err != nil || sources != 0 {
		t.Fatalf("library_sources after upgrade: %d rows, %v", sources, err)
	}
	for i := 0; i < 2; i++ {
		_, err := d.Exec(`INSERT INTO library_sources(path, mode, added_at) VALUES ('D:/in', 'in_place', '2026-01-01T00:00:00Z')`)
		if (err == nil) != (i == 0) {
			t.Fatalf("insert %d of one source path: %v", i+1, err)
		}
	}
	// Foreign keys work after the upgrade: deleting a media cascades.
	if _, err := d.Exec(`DELETE FROM media WHERE id=2`); err != nil {
		t.Fatal(err)
	}
	var n int
	d.QueryRow(`SELECT count(*) FROM jobs WHERE media_id=2`).Scan(&n)
	if n != 0 {
		t.Fatalf("cascade did not remove %d jobs", n)
	}
}
