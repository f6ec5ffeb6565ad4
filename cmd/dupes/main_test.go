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
	"github.com/localsupervisor/supervisor/pkg/phash"
	"github.com/localsupervisor/supervisor/pkg/similar"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// TestDupesCLI drives the built binary: rebuild, list, a dry run and a
// real resolve, bad input with its reason code (exit 1, nothing written),
// a dismissal, and the automatic rules off by default and on when
// configured.
func TestDupesCLI(t *testing.T) {
	bin := svtest.BuildBinary(t, "./cmd/dupes")
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "DB", "local.sqlite")
	d := dbtest.Open(t, dbPath)
	ctx := context.Background()
	now := time.Now()
	add := func(name string, w int) string {
		id, err := media.Insert(ctx, d, media.NewMedia{Path: "/lib/" + name, Type: "image", Source: "import", Width: w, Height: w,
			Filesize: int64(w), Hash: "md5-" + name}, now)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(id)
	}
	id := func(s string) int64 {
		var v int64
		fmt.Sscan(s, &v)
		return v
	}
	// a, b: byte-identical; c, e: a PNG and its JPEG export (pHash);
	// f, g: another pair the rules will decide (larger resolution).
	a, b, c, e, f, g := add("a.png", 512), add("b.png", 512), add("c.png", 512), add("e.jpg", 512), add("f.png", 256), add("g.png", 1024)
	for _, s := range []struct {
		id, sha string
	}{{a, "same"}, {b, "same"}} {
		if _, err := media.SetMeta(ctx, d, id(s.id), "hash", "hash.sha256", s.sha, now); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []struct {
		id string
		h  phash.Hash
	}{{c, 0xf0f0_1234_5678_abcd}, {e, 0xf0f0_1234_5678_abcf}, {f, 0x0f0f_8888_7777_1111}, {g, 0x0f0f_8888_7777_1113}} {
		if err := similar.Save(ctx, d, id(p.id), p.h, "", now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := media.SavePrompt(ctx, d, id(c), media.Prompt{Prompt: "a lighthouse"}, "import", "", now); err != nil {
		t.Fatal(err)
	}
	writeCfg := func(name string, extra map[string]any) string {
		m := map[string]any{"db": map[string]any{"path": dbPath}, "paths": map[string]any{"logs": filepath.Join(dir, "LOGS")}}
		for k, v := range extra {
			m[k] = v
		}
		p := filepath.Join(dir, name)
		bs, _ := json.Marshal(m)
		if err := os.WriteFile(p, bs, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	off := writeCfg("config.json", nil)
	on := writeCfg("auto.json", map[string]any{"dupes": map[string]any{"auto": map[string]any{"enabled": true}}})
	steps := []struct {
		cfg  string
		args []string
		code int
		want string
	}{
		{off, []string{"list"}, 0, "0 groups"},
		{off, []string{"rebuild"}, 0, "groups exact=1 phash=2 embedding=0"},
		{off, []string{"list"}, 0, "group 1 (exact)\n  " + a + "\tpng\t512x512"},
		{off, []string{"list", "--tier=phash", "--json"}, 0, `"count": 2`},
		{off, []string{"list", "--tier=nope"}, 1, "dupes_unknown_tier"},
		{off, []string{"resolve", "--keep=" + e, "--discard=" + c, "--dry-run"}, 0, "dry run: would keep " + e + ", soft-delete [" + c + "]: 0 tags, 0 albums, 0 meta values, prompt history (1 versions) from " + c},
		{off, []string{"resolve", "--keep=" + e}, 1, "dupes_discard_empty"},
		{off, []string{"resolve", "--keep=" + e, "--discard=" + e}, 1, "dupes_keep_in_discard"},
		{off, []string{"resolve", "--keep=999", "--discard=" + e}, 1, "media_not_found"},
		{off, []string{"resolve", "--discard=" + e}, 1, "--keep=ID is required"},
		{off, []string{"resolve", "--keep=" + e, "--discard=x"}, 1, "invalid value"},
		{off, []string{"resolve", "--keep=" + e, "--discard=" + c}, 0, "kept " + e},
		{off, []string{"resolve", "--keep=" + e, "--discard=" + c}, 1, "dupes_media_deleted"},
		{off, []string{"list", "--tier=phash"}, 0, "1 groups"},
		{off, []string{"dismiss", a}, 1, "dupes_too_few_media"},
		{off, []string{"dismiss", a, b}, 0, "not duplicates"},
		{off, []string{"rebuild"}, 0, "groups exact=0 phash=1"},
		{off, []string{"auto"}, 1, "dupes_auto_off"},
		{off, []string{"auto", "--dry-run"}, 0, "keep " + g + ", discard [" + f + "] (larger resolution)\ndry run: 1 of 1 groups resolved"},
		{on, []string{"auto"}, 0, "1 of 1 groups resolved"},
		{on, []string{"list"}, 0, "0 groups"},
	}
	for _, s := range steps {
		r := svtest.RunBinary(t, dir, nil, bin, append([]string{"--config=" + s.cfg}, s.args...)...)
		if out := r.Stdout + r.Stderr; r.Code != s.code || !strings.Contains(out, s.want) {
			t.Fatalf("dupes %s: exit %d, want %d with %q; output:\n%s", strings.Join(s.args, " "), r.Code, s.code, s.want, out)
		}
	}
	var deleted string
	if err := d.QueryRow(`SELECT group_concat(id) FROM (SELECT id FROM media WHERE is_deleted = 1 ORDER BY id)`).Scan(&deleted); err != nil {
		t.Fatal(err)
	}
	if deleted != c+","+f {
		t.Fatalf("soft-deleted %s, want %s,%s", deleted, c, f)
	}
}
