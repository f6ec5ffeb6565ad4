package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// TestCollectionCLI drives the built binary through an album's and a saved
// search's lifecycle: exit 0 with a summary, exit 1 with the reason for bad
// input, and deleting an album keeps its media.
func TestCollectionCLI(t *testing.T) {
	bin := svtest.BuildBinary(t, "./cmd/catalog")
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "DB", "local.sqlite")
	d := dbtest.Open(t, dbPath)
	var ids []string
	for i := range 3 {
		id, err := media.Insert(context.Background(), d, media.NewMedia{Path: fmt.Sprintf("/lib/p%d.png", i), Type: "image",
			Hash: fmt.Sprint("h", i)}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, fmt.Sprint(id))
	}
	cfg := filepath.Join(dir, "config.json")
	b, _ := json.Marshal(map[string]any{"db": map[string]any{"path": dbPath}, "paths": map[string]any{"logs": filepath.Join(dir, "LOGS")}})
	if err := os.WriteFile(cfg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"collection", "create", "--description", "by the sea", "Holiday"}, 0, `album 1 "Holiday" created`},
		{[]string{"collection", "show", "Holiday"}, 0, "album 1 \"Holiday\": 0 media\nby the sea\n"},
		{[]string{"collection", "create", "holiday"}, 1, "collection_name_taken"},
		{[]string{"collection", "create", "Other", "--description", "x"}, 1, "put options right after the verb"},
		{[]string{"collection", "create", "42"}, 1, "collection_name_invalid"},
		{[]string{"collection", "add", "Holiday", ids[2], ids[0], ids[1]}, 0, "3 added, 0 already"},
		{[]string{"collection", "add", "Holiday", "999"}, 1, "collection_media_missing"},
		{[]string{"collection", "add", "Holiday", "abc"}, 1, "not a media id"},
		{[]string{"collection", "add", "Nope", ids[0]}, 1, "collection_not_found"},
		{[]string{"collection", "move", "--to", "1", "1", ids[1]}, 0, "order changed"},
		{[]string{"collection", "move", "--by", "-1", "1", ids[0]}, 0, "order changed"},
		{[]string{"collection", "move", "1", ids[0]}, 1, "--to N"},
		{[]string{"collection", "show", "Holiday"}, 0, "1\t" + ids[1] + "\timage\t/lib/p1.png\n2\t" + ids[0] + "\timage\t/lib/p0.png\n3\t" + ids[2]},
		{[]string{"collection", "show", "--json", "Holiday"}, 0, `"media_id": ` + ids[1]},
		{[]string{"collection", "remove", "Holiday", ids[1]}, 0, "1 removed"},
		{[]string{"collection", "rename", "Holiday", "Summer"}, 0, `renamed to "Summer"`},
		{[]string{"collection", "describe", "Summer", "hot"}, 0, "description saved"},
		{[]string{"collection", "list"}, 0, "1\tSummer\t2 media\thot"},
		{[]string{"saved", "create", "Juggernaut", "model:juggernaut cfg:7"}, 0, "created: model:juggernaut cfg:7"},
		{[]string{"saved", "list", "--json"}, 0, `"query": "model:juggernaut cfg:7"`},
		{[]string{"collection", "add", "Juggernaut", ids[0]}, 1, "collection_not_manual"},
		{[]string{"saved", "delete", "Summer"}, 1, "not a saved search"},
		{[]string{"saved", "delete", "Juggernaut"}, 0, "deleted"},
		{[]string{"collection", "delete", "Summer"}, 0, "no media deleted"},
		{[]string{"collection", "list"}, 0, "0 albums"},
	}
	for _, s := range steps {
		r := svtest.RunBinary(t, dir, nil, bin, append([]string{"--config=" + cfg}, s.args...)...)
		if out := r.Stdout + r.Stderr; r.Code != s.code || !strings.Contains(out, s.want) {
			t.Fatalf("catalog %s: exit %d, want %d with %q; output:\n%s", strings.Join(s.args, " "), r.Code, s.code, s.want, out)
		}
	}
	var n int
	if err := d.QueryRow(`SELECT count(*) FROM media`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("media after deleting the album: %d (%v)", n, err)
	}
}
