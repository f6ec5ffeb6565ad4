package bulk

import (
	"context"
	"database/sql"

	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Result is the media_bulk job's result_json (and the in-request answer).
type Result struct {
	Action string `json:"action"`
	State
}

// Handler is the media_bulk job handler: it counts the selection once
// (the job's progress total), then runs it with a checkpoint that stores
// the State in the payload and advances the progress in each chunk's
// transaction, fenced by the claim. A rerun (retry or stuck recovery after
// kill -9) starts from the stored State.
func (s *Service) Handler() jobs.Handler {
	return func(ctx context.Context, j *jobs.Job) (any, error) {
		var p Payload
		if err := j.Decode(&p); err != nil {
			return nil, err
		}
		p.Normalize()
		if err := p.Validate(); err != nil {
			return nil, asPermanent(err)
		}
		if err := s.ready(p.Action); err != nil {
			return nil, asPermanent(err)
		}
		if !p.State.Counted {
			if err := s.Count(ctx, &p); err != nil {
				return nil, err
			}
			if err := j.SavePayload(ctx, p); err != nil {
				return nil, err
			}
		}
		// progress_bits already holds what earlier runs committed.
		if err := j.Progress(ctx, p.State.Done+p.State.Skipped, p.State.Total); err != nil {
			return nil, err
		}
		st, err := s.Run(ctx, &p, JobCheckpoint(j))
		s.startWorker(ctx, p.Action.Name, st)
		if err != nil {
			// A refused request is permanent (its reason code says why);
			// a busy database or I/O is retried from the checkpoint.
			return nil, err
		}
		return Result{Action: p.Action.Name, State: st}, nil
	}
}

// JobCheckpoint is the media_bulk job's Checkpoint: the payload with its
// State and n more units of progress, written in the chunk's transaction
// and fenced by the claim (ErrLeaseLost rolls the chunk back).
func JobCheckpoint(j *jobs.Job) Checkpoint {
	return func(ctx context.Context, tx *sql.Tx, p Payload, n int) error {
		if err := j.SavePayloadTx(ctx, tx, p); err != nil {
			return err
		}
		return j.AdvanceTx(ctx, tx, n)
	}
}

// startWorker starts the worker of the jobs the run queued (if any).
func (s *Service) startWorker(ctx context.Context, action string, st State) {
	if _, worker := Needs(action); worker != "" && st.Jobs > 0 && s.Spawn != nil {
		s.Spawn(context.WithoutCancel(ctx), worker)
	}
}

// asPermanent marks a refused request permanent (retrying cannot fix it).
func asPermanent(err error) error {
	if reason.Code(err) != "" && !reason.IsPermanent(err) {
		return reason.Wrap(err, reason.Code(err), reason.KindPermanent)
	}
	return err
}
