package ollama

import (
	"context"
	"fmt"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Processor runs a mode and stores its result: what the ollama-worker
// child does for one job once it has claimed it and loaded the inputs.
type Processor struct {
	Analyzer *Analyzer
	Store    *Store
}

// Outcome is what Process did.
type Outcome struct {
	Result *Result `json:"-"`
	Saved  *Saved  `json:"saved,omitempty"`
	// Deduped is set when embed found an identical stored vector and made
	// no HTTP call.
	Deduped  bool  `json:"deduped,omitempty"`
	VectorID int64 `json:"vector_id,omitempty"`
}

// Process completes in with stored results of earlier modes, runs mode m
// and stores the result. A too_large_for_vision failure is recorded on the
// media before it is returned. Other errors are returned unchanged (with
// their reason code) for the caller's retry decision; on the final attempt
// the caller records them with Store.SaveFailure.
func (p *Processor) Process(ctx context.Context, m Mode, in Inputs, job JobRef) (*Outcome, error) {
	if err := p.Store.FillInputs(ctx, &in); err != nil {
		return nil, err
	}
	if m == ModeEmbed {
		text, model, hash := p.Analyzer.EmbedPlan(in)
		if text != "" {
			vid, ok, err := p.Store.VectorUpToDate(ctx, in.MediaID, model, hash)
			if err != nil {
				return nil, err
			}
			if ok {
				return &Outcome{Deduped: true, VectorID: vid}, nil
			}
		}
	}
	res, err := p.Analyzer.Run(ctx, m, in)
	if err != nil {
		if reason.Code(err) == CodeTooLargeForVision {
			if merr := p.Store.MarkTooLarge(ctx, in.MediaID, m, err); merr != nil {
				return nil, fmt.Errorf("%w (marking too large failed: %v)", err, merr)
			}
		}
		return &Outcome{Result: res}, err
	}
	saved, err := p.Store.SaveResult(ctx, in.MediaID, res, job)
	if err != nil {
		return &Outcome{Result: res}, err
	}
	return &Outcome{Result: res, Saved: saved, VectorID: saved.VectorID}, nil
}
