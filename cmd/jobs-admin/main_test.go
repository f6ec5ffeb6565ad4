package main

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/jobs"
)

func setup(t *testing.T) (cfgPath string, q *jobs.Queue) {
	t.Helper()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "DB", "local.sqlite")
	d := dbtest.Open(t, dbPath)
	cfg := map[string]any{"db": map[string]any{"path": dbPath}, "paths": map[string]any{"logs": filepath.Join(dir, "LOGS")}}
	b, _ := json.Marshal(cfg)
	cfgPath = filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgPath, jobs.NewQueue(jobs.QueueOptions{DB: d, Config: jobs.DefaultConfig()})
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	a := app()
	a.Writer, a.ErrWriter = &out, &out
	a.ExitErrHandler = func(*cli.Context, error) {}
	err := a.Run(append([]string{"jobs-admin"}, args...))
	return out.String(), err
}

func TestAdminCommands(t *testing.T) {
	cfg, q := setup(t)
	ctx := context.Background()
	var ids []int64
	for i := 0; i < 3; i++ {
		r, err := q.Enqueue(ctx, jobs.EnqueueRequest{Type: jobs.TypeScanPath, Payload: map[string]string{"path": "/x"}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.JobID)
	}
	c := "--config=" + cfg
	steps := []struct {
		args    []string
		wantErr bool
		want    string
	}{
		{[]string{c, "list", "--group=scan"}, false, "jobs: 3"},
		{[]string{c, "--json", "list", "--status=queued"}, false, `"count":3`},
		{[]string{c, "cancel", "1"}, false, "job 1: cancelled"},
		{[]string{c, "cancel", "1"}, true, ""},
		{[]string{c, "show", "1"}, false, `"status":"cancelled"`},
		{[]string{c, "delete", "2"}, true, ""},
		{[]string{c, "prune", "--dry-run"}, false, "Matched: 1 | Deleted: 0"},
		{[]string{c, "requeue", "1"}, false, "job 1: queued"},
		{[]string{c, "cancel", "1"}, false, "cancelled"},
		{[]string{c, "prune", "--group=scan"}, false, "Deleted: 1"},
		{[]string{c, "stats"}, false, "scan_path\tqueued=2"},
		{[]string{c, "prune", "--group=nope"}, true, ""},
	}
	for _, s := range steps {
		out, err := run(t, s.args...)
		if (err != nil) != s.wantErr || !strings.Contains(out, s.want) {
			t.Fatalf("%v: err=%v out=%q", s.args, err, out)
		}
	}
	if _, err := q.Get(ctx, ids[0]); err == nil {
		t.Fatal("pruned job still there")
	}
}
