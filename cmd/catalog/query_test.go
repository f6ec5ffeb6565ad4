package main_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// TestQueryCommand runs the real binary: text lines and --json objects for
// a query, --limit, and a query that does not parse: the query with a
// caret under the position on stderr, exit 2.
func TestQueryCommand(t *testing.T) {
	bin := svtest.BuildBinary(t, "./cmd/catalog")
	dir := t.TempDir()
	ctx := context.Background()
	d, err := db.Open(ctx, db.Options{Path: filepath.Join(dir, "DB", "local.sqlite"), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx, d, db.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		`INSERT INTO media(id, path, type, source, hash, imported_at, has_nsfw) VALUES
			(1, '/lib/a.png', 'image', 'import', 'h1', '2026-01-01T00:00:00Z', 0),
			(2, '/lib/b.png', 'image', 'import', 'h2', '2026-01-01T00:00:00Z', 1),
			(3, '/lib/c.png', 'image', 'import', 'h3', '2026-01-01T00:00:00Z', 0)`,
		`INSERT INTO prompts(media_id, prompt) VALUES (1, 'a red castle'), (2, 'a blue dragon'), (3, 'green forest')`,
		`INSERT INTO media_gen(media_id, model, steps) VALUES (1, 'juggernautXL_v9', 30), (2, 'juggernaut_reborn', 40), (3, 'ponyXL', 30)`,
	} {
		if _, err := d.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	env := []string{"SV_CONFIG=", "SV_BASE="}

	r := svtest.RunBinary(t, dir, env, bin, "query", "model:juggernaut")
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if r.Code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "2\t/lib/b.png\tjuggernaut_reborn\ta blue dragon") {
		t.Fatalf("text: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	r = svtest.RunBinary(t, dir, env, bin, "query", "steps:30", "--json", "--limit", "1")
	var m struct {
		ID    int64  `json:"id"`
		Model string `json:"model"`
	}
	if r.Code != 0 || strings.Count(r.Stdout, "\n") != 1 || json.Unmarshal([]byte(r.Stdout), &m) != nil || m.ID != 3 || m.Model != "ponyXL" {
		t.Fatalf("json: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	r = svtest.RunBinary(t, dir, env, bin, "query", "--json", "steps:>=30 -model:pony")
	if r.Code != 0 || strings.Count(r.Stdout, "\n") != 2 {
		t.Fatalf("json before the query: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	r = svtest.RunBinary(t, dir, env, bin, "query", "model:jugg steps:abc")
	if r.Code != 2 || !strings.Contains(r.Stderr, "query_bad_value") ||
		!strings.Contains(r.Stderr, "  model:jugg steps:abc\n  "+strings.Repeat(" ", len("model:jugg steps:"))+"^") {
		t.Fatalf("bad query: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
}
