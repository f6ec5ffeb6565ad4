package cliapp

import "github.com/localsupervisor/supervisor/pkg/jobs"

// Queue returns the job queue built from the already decoded jobs section,
// so no binary decodes that section a second time.
func (e *Env) Queue() *jobs.Queue {
	return jobs.NewQueue(jobs.QueueOptions{DB: e.DB, Clock: e.Clock, Config: e.Modules.Jobs, Logger: e.Log})
}
