// Package jobs is Supervisor's job queue on SQLite: a registry of job types,
// enqueue with caps and dedupe, atomic claim, leases kept alive by
// heartbeats, retries with backoff, cancellation, stuck recovery, pruning,
// and the Runner every worker binary uses (worker lockfile, heartbeat file,
// batch and service loops, graceful shutdown).
//
// State machine (column jobs.status):
//
//	queued ──claim──► running ──► done | error | cancelled
//	  ▲                 │
//	  └──── retry (transient error, snooze, stuck recovery, shutdown release)
//
// Every write to a running job is fenced with
// `WHERE id=? AND status='running' AND worker_owner=?`, where the owner token
// is unique per claim, so a job that was recovered, cancelled or re-claimed can
// never be overwritten by a late worker.
//
// # Throughput
//
// The Runner claims up to RunnerOptions.Prefetch jobs per transaction while
// handlers are fast (about PrefetchBudget / average handler time; one at a
// time for slow handlers) and writes the fenced completions of the jobs that
// succeeded since the last claim in that same transaction. A lease keeper
// goroutine heartbeats every job the Runner holds (running, waiting in the
// prefetch buffer, waiting for its completion write) and flags jobs that were
// lost or cancelled; held jobs that never started are released to queued at
// shutdown without counting an attempt. Failures, retries, snoozes and
// cancels are written at once.
//
// Attempts: the Runner's claims hold jobs without starting them (attempts
// unchanged, started_at NULL). A run's attempt is counted by the first write
// after its handler started: the completion, the failure write, or the lease
// keeper's next tick for a handler still running (a write per start would
// cost a transaction per job). After a kill -9, stuck recovery therefore
// knows which jobs the dead worker never started (started_at NULL) and gives
// them back without spending an attempt (reason stuck_not_started, audited
// with started=false). Such a job may have been running when the worker
// died without its start being written yet, so its next run counts the
// attempt before the handler starts: a job that kills its worker still
// exhausts max_attempts. attempts never exceeds the number of handler
// starts. Claims outside the Runner (Queue.Claim) count the attempt at once.
//
// Resumable types (TypeSpec.Resumable, scan_path) record durable progress
// with Job.AdvanceTx inside the transactions that commit their work; the
// claim remembers the progress a run starts from (progress_mark). A crashed
// run that advanced is not a crash loop: recovery gives its attempt back and
// re-queues it without backoff (stuck_progressed), so only crashes without
// progress count toward max_attempts. jobs.recoveries (Job.Recoveries)
// counts every recovery, for handlers that work more cautiously after one.
//
// # Claim filters
//
// RunnerOptions.ClaimFilter restricts claims in SQL, per job type, so a
// worker never claims a job it would refuse (no claim-and-snooze, no burnt
// attempt). Filters are typed rules that pkg/jobs turns into indexed SQL;
// no consumer writes SQL against the jobs table:
//
//   - ClaimFilter{PayloadField, PayloadPrefix}: a payload field starts with
//     a prefix.
//   - ClaimFilter{Folder: FolderFilter{Field, Sep, Under, Exclusive}}: a
//     folder in the payload at or below a root (scan-worker --path), and/or
//     no running job of the same type on an overlapping folder
//     (scan.ScanPathClaimFilter).
//   - ClaimFilter{WaitFor: types}: no queued or running job of those types
//     for the same media enqueued before it (Ollama's dependent modes).
//
// # Ending a job
//
// The Runner ends every job it ran; a consumer outside it ends its jobs
// with Job.End and one of the typed endings, all fenced by id + running +
// owner: Done(result), Job.Failure(err, final) (the one retry rule: retry
// after the backoff while attempts remain and the error is not permanent,
// else error), Released(code, msg) (queued at once, the attempt given back:
// not the job's fault), Cancelled(msg), Blocked(code, msg, until) (queued
// until then, the attempt given back). Ending.Stage and ProgressDone add
// what a dashboard shows. The Runner's own ends go through the same code.
//
// # Consumers outside the Runner
//
// A service that runs jobs its own way (the Ollama service starts a child
// process per job) uses the same fenced primitives: Queue.Claim with a
// ClaimRequest (Owner from NewOwner, Types, Mixed for one candidate set over
// several types ordered by priority, Filter, CapAttempts, Stage and
// ProgressTotal for what the claim writes besides, Limit), Queue.Attach in a
// child that got the job id and owner token, Queue.Heartbeat for every held
// job every Config.HeartbeatSeconds, Job.SetStage, SetPID, Progress and
// ReportProgress while it runs, Job.End (or Job.CompleteTx inside the
// caller's transaction) to end it, and Queue.Release for claimed jobs that
// were never started.
package jobs

import "time"

// Config holds the queue settings. pkg/config embeds it under the "jobs" key.
// A cap ≤ 0 disables that check (as in the original).
type Config struct {
	// QueueMaxTotal caps queued jobs over all types (default 2000).
	QueueMaxTotal int `json:"queue_max_total"`
	// QueueMaxPerTypeDefault caps queued jobs of one type (default 500).
	QueueMaxPerTypeDefault int `json:"queue_max_per_type_default"`
	// QueueMaxPerType overrides QueueMaxPerTypeDefault for single types.
	QueueMaxPerType map[string]int `json:"queue_max_per_type,omitempty"`
	// QueueMaxPerMedia caps queued jobs of one type for one media (default 2).
	QueueMaxPerMedia int `json:"queue_max_per_media"`
	// RetryBaseMS is the first retry delay (default 5000 ms); it doubles per
	// attempt with ±20 % jitter.
	RetryBaseMS int `json:"retry_base_ms"`
	// RetryCapMS caps the retry delay (default 600000 ms = 10 min).
	RetryCapMS int `json:"retry_cap_ms"`
	// StuckMinutes is the lease of job types that declare none (default 10).
	// A running job whose heartbeat is older than its lease is recovered.
	StuckMinutes int `json:"stuck_minutes"`
	// HeartbeatSeconds is how often a running job's heartbeat_at (and the
	// worker's heartbeat file) is refreshed, and how often the cancel flag is
	// polled (default 2).
	HeartbeatSeconds int `json:"heartbeat_seconds"`
	// ShutdownGraceSeconds is how long a running job may finish after
	// SIGTERM/SIGINT before it is released back to the queue (default 10).
	ShutdownGraceSeconds int `json:"shutdown_grace_seconds"`
	// FreshSeconds is the age up to which a heartbeat file counts as fresh
	// for health/launcher decisions (default 180, as the original).
	FreshSeconds int `json:"fresh_seconds"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		QueueMaxTotal:          2000,
		QueueMaxPerTypeDefault: 500,
		QueueMaxPerType:        map[string]int{},
		QueueMaxPerMedia:       2,
		RetryBaseMS:            5000,
		RetryCapMS:             600000,
		StuckMinutes:           10,
		HeartbeatSeconds:       2,
		ShutdownGraceSeconds:   10,
		FreshSeconds:           180,
	}
}

// withDefaults fills zero timings. Caps are taken as given because 0 means
// "disabled"; start from DefaultConfig() to get the default caps.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.RetryBaseMS <= 0 {
		c.RetryBaseMS = d.RetryBaseMS
	}
	if c.RetryCapMS <= 0 {
		c.RetryCapMS = d.RetryCapMS
	}
	if c.StuckMinutes <= 0 {
		c.StuckMinutes = d.StuckMinutes
	}
	if c.HeartbeatSeconds <= 0 {
		c.HeartbeatSeconds = d.HeartbeatSeconds
	}
	if c.ShutdownGraceSeconds <= 0 {
		c.ShutdownGraceSeconds = d.ShutdownGraceSeconds
	}
	if c.FreshSeconds <= 0 {
		c.FreshSeconds = d.FreshSeconds
	}
	return c
}

func (c Config) typeCap(typ string) int {
	if v, ok := c.QueueMaxPerType[typ]; ok {
		return v
	}
	return c.QueueMaxPerTypeDefault
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }
