package media_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// The batch writers span several statements (999 parameters each) and must
// store exactly what the single-row writers store, in order.
func TestBatchWriters(t *testing.T) {
	for _, n := range []int{1, 66, 67, 250} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ctx := context.Background()
			d := openDB(t)
			pre := mustMedia(t, d, "/lib/pre.png", "pre")
			ms := make([]media.NewMedia, n)
			groups := make([]media.MediaPairs, n)
			logs := make([]media.ImportLogEntry, n)
			for i := range ms {
				ms[i] = media.NewMedia{Path: fmt.Sprintf("/lib/%d.png", i), Type: "image", Hash: fmt.Sprintf("H%03d", i), Filesize: int64(i), Width: i, HasNSFW: i%2 == 1}
				logs[i] = media.ImportLogEntry{Path: ms[i].Path, Status: media.ImportImported, Message: map[bool]string{true: "scanner_failed"}[i%3 == 0]}
			}
			var ids []int64
			err := db.InTx(ctx, d, func(tx *sql.Tx) error {
				var err error
				if ids, err = media.InsertMany(ctx, tx, ms, t0); err != nil {
					return err
				}
				for i := range groups {
					groups[i] = media.MediaPairs{MediaID: ids[i], Pairs: []media.MetaPair{
						{Source: "import", Key: "a", Value: "1"}, {Source: "import", Key: "b", Value: fmt.Sprint(i)}, {Source: "import", Key: "a", Value: "2"}}}
				}
				if w, err := media.InsertNewMetaPairsMany(ctx, tx, groups, t0); err != nil || w != 2*n {
					return fmt.Errorf("meta rows %d: %v", w, err)
				}
				return media.ImportLogMany(ctx, tx, logs, t0)
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) != n {
				t.Fatalf("%d ids for %d media", len(ids), n)
			}
			for i, id := range ids {
				if id != pre+1+int64(i) {
					t.Fatalf("ids[%d]=%d, want %d", i, id, pre+1+int64(i))
				}
				m, err := media.GetByHash(ctx, d, fmt.Sprintf("h%03d", i))
				if err != nil || m == nil || m.ID != id || m.Path != ms[i].Path || m.Filesize == nil || *m.Filesize != int64(i) || m.HasNSFW != (i%2 == 1) || m.Status != "active" {
					t.Fatalf("media %d: %+v %v", i, m, err)
				}
				if v, ok, _ := media.GetMeta(ctx, d, id, "a"); !ok || v != "2" {
					t.Errorf("media %d meta a=%q %v", id, v, ok)
				}
				if v, ok, _ := media.GetMeta(ctx, d, id, "b"); !ok || v != fmt.Sprint(i) {
					t.Errorf("media %d meta b=%q %v", id, v, ok)
				}
			}
			if c := count(t, d, `SELECT COUNT(*) FROM import_log`); c != n {
				t.Errorf("import_log rows %d", c)
			}
			if c := count(t, d, `SELECT COUNT(*) FROM import_log WHERE message IS NULL`); c != n-(n+2)/3 {
				t.Errorf("import_log rows without message %d", c)
			}
			// Rows in input order.
			rows, err := d.Query(`SELECT path FROM import_log ORDER BY id`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for i := 0; rows.Next(); i++ {
				var p string
				rows.Scan(&p)
				if p != logs[i].Path {
					t.Fatalf("import_log row %d is %s", i, p)
				}
			}
		})
	}
}

// A duplicate hash fails the statement: no row of it is written.
func TestInsertManyDuplicate(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	mustMedia(t, d, "/lib/x.png", "dup")
	_, err := media.InsertMany(ctx, d, []media.NewMedia{{Path: "/a", Type: "image", Hash: "new"}, {Path: "/b", Type: "image", Hash: "DUP"}}, t0)
	if !db.IsUniqueViolation(err) {
		t.Fatalf("err %v, want unique violation", err)
	}
	if c := count(t, d, `SELECT COUNT(*) FROM media`); c != 1 {
		t.Errorf("%d media rows", c)
	}
}

// InsertNewPromptsMany stores exactly what SavePrompt stores for media
// without prompts, across statement chunks, and skips empty prompts.
func TestInsertNewPromptsManyMatchesSavePrompt(t *testing.T) {
	ctx := context.Background()
	steps, cfg := int64(30), 7.5
	kinds := []media.NewPrompt{
		{Prompt: media.Prompt{Prompt: "a castle", NegativePrompt: "blurry", Model: "sdxl", Steps: &steps, CFGScale: &cfg, Seed: "42"}, Source: "import", Raw: "a castle\nSteps: 30"},
		{Raw: "only raw text", Source: "import"},
		{Source: "import"}, // nothing: no rows
		{Prompt: media.Prompt{Prompt: "long"}, Source: "", Raw: strings.Repeat("x", media.MaxRawText+10)},
	}
	const n = 130 // > one chunk of 999/21 rows
	dump := func(d *sql.DB) []string {
		var out []string
		for _, q := range []string{
			`SELECT p.media_id, COALESCE(p.prompt,'~'), COALESCE(p.negative_prompt,'~'), COALESCE(p.model,'~'), COALESCE(p.steps,-1), COALESCE(p.cfg_scale,-1), COALESCE(p.seed,'~') FROM prompts p ORDER BY p.media_id`,
			`SELECT h.media_id, h.version, h.source, h.created_at, COALESCE(h.prompt,'~'), COALESCE(length(h.raw_text),-1), (SELECT p.media_id FROM prompts p WHERE p.id=h.prompt_id) FROM prompt_history h ORDER BY h.media_id`,
		} {
			rows, err := d.Query(q)
			if err != nil {
				t.Fatal(err)
			}
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				out = append(out, fmt.Sprint(vals...))
			}
			rows.Close()
		}
		return out
	}
	var dumps [2][]string
	for variant := range 2 {
		d := openDB(t)
		ps := make([]media.NewPrompt, n)
		for i := range ps {
			ps[i] = kinds[i%len(kinds)]
			ps[i].MediaID = mustMedia(t, d, fmt.Sprintf("/lib/%d.png", i), fmt.Sprintf("h%d", i))
		}
		err := db.InTx(ctx, d, func(tx *sql.Tx) error {
			if variant == 1 {
				return media.InsertNewPromptsMany(ctx, tx, ps, t0)
			}
			for _, p := range ps {
				if _, err := media.SavePrompt(ctx, tx, p.MediaID, p.Prompt, p.Source, p.Raw, t0); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// Raw text over MaxRawText is cut once, with the marker.
		wantRaw := reason.Truncate(strings.Repeat("x", media.MaxRawText+10), media.MaxRawText) + "\n\n[truncated]"
		var gotRaw string
		if err := d.QueryRow(`SELECT raw_text FROM prompt_history WHERE length(raw_text) > 1000 LIMIT 1`).Scan(&gotRaw); err != nil || gotRaw != wantRaw {
			t.Fatalf("variant %d: long raw text stored as %d bytes (%v), want %d", variant, len(gotRaw), err, len(wantRaw))
		}
		dumps[variant] = dump(d)
	}
	if want := 2 * (n - n/len(kinds)); len(dumps[0]) < want-2 {
		t.Fatalf("SavePrompt wrote %d rows, want about %d", len(dumps[0]), want)
	}
	if strings.Join(dumps[0], "\n") != strings.Join(dumps[1], "\n") {
		for i := range min(len(dumps[0]), len(dumps[1])) {
			if dumps[0][i] != dumps[1][i] {
				t.Fatalf("row %d differs:\nSavePrompt: %s\nbatch:      %s", i, dumps[0][i], dumps[1][i])
			}
		}
		t.Fatalf("row counts differ: %d vs %d", len(dumps[0]), len(dumps[1]))
	}
}
