// Command jobs-admin inspects and maintains the job queue: list, show,
// cancel, requeue, delete, prune, stats.
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

func main() { os.Exit(cliapp.Run(app(), os.Args)) }

func app() *cli.App {
	return &cli.App{
		Name:  "jobs-admin",
		Usage: "inspect and maintain the job queue",
		Flags: cliapp.Flags(),
		Commands: []*cli.Command{
			{Name: "list", Usage: "list jobs (newest first)", Flags: []cli.Flag{
				&cli.StringFlag{Name: "type", Usage: "comma-separated types"},
				&cli.StringFlag{Name: "group", Usage: "worker group (scan, media, rename, forge, ollama)"},
				&cli.StringFlag{Name: "status", Usage: "comma-separated statuses"},
				&cli.Int64Flag{Name: "media-id"},
				&cli.DurationFlag{Name: "older-than", Usage: "created before now minus this (e.g. 24h)"},
				&cli.IntFlag{Name: "limit", Value: 100},
			}, Action: withQueue(list)},
			{Name: "show", Usage: "show one job", ArgsUsage: "<id>", Action: withQueue(show)},
			{Name: "cancel", Usage: "cancel a queued job, request cancel of a running one", ArgsUsage: "<id>", Action: withQueue(cancel)},
			{Name: "requeue", Usage: "put a finished job back to queued", ArgsUsage: "<id>", Action: withQueue(requeue)},
			{Name: "delete", Usage: "delete a finished job", ArgsUsage: "<id>", Action: withQueue(del)},
			{Name: "prune", Usage: "delete finished jobs", Flags: []cli.Flag{
				&cli.DurationFlag{Name: "older-than", Usage: "only jobs last updated before now minus this"},
				&cli.IntFlag{Name: "keep-last", Usage: "keep the newest N per type"},
				&cli.StringFlag{Name: "group", Usage: "worker group"},
				&cli.StringFlag{Name: "type", Usage: "comma-separated types"},
				&cli.StringFlag{Name: "status", Usage: "comma-separated statuses (default done,error,cancelled; 'all' with --force)"},
				&cli.BoolFlag{Name: "dry-run", Usage: "count only, write nothing"},
				&cli.BoolFlag{Name: "force", Usage: "also cancel+delete queued jobs and request cancel of running ones"},
			}, Action: withQueue(prune)},
			{Name: "stats", Usage: "counts per type and status, oldest queued, stuck", Action: withQueue(stats)},
		},
	}
}

type cmdEnv struct {
	*cliapp.Env
	q *jobs.Queue
}

func withQueue(fn func(c *cli.Context, e cmdEnv) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		env, err := cliapp.Setup(c, cliapp.Options{Service: "jobs_admin", NeedDB: true, CurrentSchema: true})
		if err != nil {
			return err
		}
		defer env.Close()
		env.JSON = env.JSON || c.Bool("json")
		q := env.Queue()
		return fn(c, cmdEnv{env, q})
	}
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func types(c *cli.Context, q *jobs.Queue) ([]string, error) {
	t := split(c.String("type"))
	if g := c.String("group"); g != "" {
		gt := q.Registry().Group(g)
		if len(gt) == 0 {
			return nil, reason.Newf("job_group_unknown", "unknown group %q", g)
		}
		t = append(t, gt...)
	}
	return t, nil
}

func jobID(c *cli.Context) (int64, error) {
	var id int64
	if _, err := fmt.Sscan(c.Args().First(), &id); err != nil || id <= 0 {
		return 0, reason.New("usage", "a job id is required")
	}
	return id, nil
}

func list(c *cli.Context, e cmdEnv) error {
	t, err := types(c, e.q)
	if err != nil {
		return err
	}
	f := jobs.ListFilter{Types: t, Statuses: split(c.String("status")), OlderThan: c.Duration("older-than"), Limit: c.Int("limit")}
	if c.IsSet("media-id") {
		id := c.Int64("media-id")
		f.MediaID = &id
	}
	rows, err := e.q.List(c.Context, f)
	if err != nil {
		return err
	}
	if e.JSON {
		e.Summary("", map[string]any{"jobs": rows, "count": len(rows)})
		return nil
	}
	for _, r := range rows {
		media := "-"
		if r.MediaID != nil {
			media = fmt.Sprint(*r.MediaID)
		}
		line := fmt.Sprintf("%d\t%s\t%s\tmedia=%s\tattempts=%d/%d\tcreated=%s\t%s", r.ID, r.Type, r.Status, media, r.Attempts, r.MaxAttempts, r.CreatedAt, r.LastErrorCode)
		if w := jobs.ResultWarnings(r.Result).Text(); w != "" {
			line += "\twarnings: " + w
		}
		fmt.Fprintln(e.Stdout, line)
	}
	fmt.Fprintf(e.Stdout, "jobs: %d\n", len(rows))
	return nil
}

func show(c *cli.Context, e cmdEnv) error {
	id, err := jobID(c)
	if err != nil {
		return err
	}
	r, err := e.q.Get(c.Context, id)
	if err != nil {
		return err
	}
	e.JSON = true // a job is best shown as JSON
	e.Summary("", struct {
		jobs.Row
		// Warnings says in plain words which items of a done job failed.
		Warnings string `json:"warnings,omitempty"`
	}{r, jobs.ResultWarnings(r.Result).Text()})
	return nil
}

func cancel(c *cli.Context, e cmdEnv) error {
	id, err := jobID(c)
	if err != nil {
		return err
	}
	r, err := e.q.Cancel(c.Context, id)
	if err != nil {
		return err
	}
	e.Summary(fmt.Sprintf("job %d: %s", id, r.Status), r)
	return nil
}

func requeue(c *cli.Context, e cmdEnv) error {
	id, err := jobID(c)
	if err != nil {
		return err
	}
	if err := e.q.Requeue(c.Context, id); err != nil {
		return err
	}
	e.Summary(fmt.Sprintf("job %d: queued", id), map[string]any{"job_id": id, "status": "queued"})
	return nil
}

func del(c *cli.Context, e cmdEnv) error {
	id, err := jobID(c)
	if err != nil {
		return err
	}
	if err := e.q.Delete(c.Context, id); err != nil {
		return err
	}
	e.Summary(fmt.Sprintf("job %d: deleted", id), map[string]any{"job_id": id, "deleted": true})
	return nil
}

func prune(c *cli.Context, e cmdEnv) error {
	t, err := types(c, e.q)
	if err != nil {
		return err
	}
	st := split(c.String("status"))
	if len(st) == 1 && st[0] == "all" {
		st = []string{jobs.StatusDone, jobs.StatusError, jobs.StatusCancelled, jobs.StatusQueued, jobs.StatusRunning}
	}
	res, err := e.q.Prune(c.Context, jobs.PruneOptions{Types: t, Statuses: st, OlderThan: c.Duration("older-than"),
		KeepLast: c.Int("keep-last"), DryRun: c.Bool("dry-run"), Force: c.Bool("force")})
	if err != nil {
		return err
	}
	e.Summary(fmt.Sprintf("Matched: %d | Deleted: %d | Cancel requested: %d | Blocked (live): %d | Dry run: %v",
		res.Matched, res.Deleted, res.CancelRequested, res.BlockedRunning, res.DryRun), res)
	return nil
}

func stats(c *cli.Context, e cmdEnv) error {
	s, err := e.q.Stats(c.Context)
	if err != nil {
		return err
	}
	if e.JSON {
		e.Summary("", s)
		return nil
	}
	names := make([]string, 0, len(s.Counts))
	for t := range s.Counts {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range names {
		var parts []string
		for _, st := range []string{jobs.StatusQueued, jobs.StatusRunning, jobs.StatusDone, jobs.StatusError, jobs.StatusCancelled} {
			if n, ok := s.Counts[t][st]; ok {
				parts = append(parts, fmt.Sprintf("%s=%d", st, n))
			}
		}
		fmt.Fprintf(e.Stdout, "%s\t%s\n", t, strings.Join(parts, " "))
	}
	fmt.Fprintf(e.Stdout, "oldest queued: %s | stuck: %d | at %s\n", s.OldestQueued, len(s.Stuck), svtime.NowString(e.Clock))
	return nil
}
