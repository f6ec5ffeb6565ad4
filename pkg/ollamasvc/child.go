package ollamasvc

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/ollama"
	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// ChildOptions configure RunChild (the ollama-worker binary).
type ChildOptions struct {
	DB *sql.DB
	// Queue is the shared job queue (nil: one on DB with default config).
	Queue  *jobs.Queue
	Clock  svtime.Clock
	Config ollama.Config
	HTTP   *http.Client
	JobID  int64
	// Owner is the claim token the service wrote; every write is fenced by
	// it, and the child refuses a job not running under it.
	Owner     string
	TraceFile string
	// JobsLog is the ollama_jobs channel; ErrorsLog the ollama_errors one.
	JobsLog   zerolog.Logger
	ErrorsLog zerolog.Logger
	// ParentGone reports whether the service that started this child is
	// gone (nil: never). A child interrupted because its service died
	// releases its job: nobody else would end the row before its lease
	// runs out.
	ParentGone func() bool
	// FFmpeg takes the video frame for vision modes when
	// ollama.video_frames is on (nil: ffmpeg and ffprobe from PATH).
	FFmpeg *probe.FFmpeg
}

// ChildResult is the one JSON line the child prints.
type ChildResult struct {
	OK      bool   `json:"ok"`
	JobID   int64  `json:"job_id"`
	Status  string `json:"status"`
	Code    string `json:"error_code,omitempty"`
	Error   string `json:"error,omitempty"`
	Written bool   `json:"written"`
}

// RunChild runs one claimed job: loads inputs, runs the mode through
// ollama.Processor, stores the result or (on the final attempt) the failure,
// and writes the job's end state fenced by the owner token. When ctx ends
// (the service's SIGTERM) it writes nothing: the service finalises.
func RunChild(ctx context.Context, o ChildOptions) ChildResult {
	res := ChildResult{JobID: o.JobID}
	q := o.Queue
	if q == nil {
		q = jobs.NewQueue(jobs.QueueOptions{DB: o.DB, Clock: o.Clock, Config: jobs.DefaultConfig()})
	}
	j, err := attachJob(ctx, q, o.JobID, o.Owner)
	if err != nil {
		res.Status, res.Code, res.Error = "error", reason.CodeOr(err, "init_error"), err.Error()
		return res
	}
	tr := OpenTrace(o.TraceFile, o.Clock)
	if o.TraceFile == "" {
		tr = OpenTrace(os.DevNull+".none", o.Clock)
	}
	cfg := o.Config.Normalized()
	tr.Set(map[string]any{"job_id": j.ID, "media_id": j.MediaID, "job_type": j.Type, "mode": string(j.Mode), "attempt": j.Attempt,
		"model": cfg.ModelFor(j.Mode), "request_url": cfg.BaseURL, "pid": os.Getpid()})
	stage := func(s string) {
		_ = tr.Stage(s, nil)
		_ = j.job.SetStage(ctx, s)
	}
	stage("start")
	_ = j.job.SetPID(ctx, os.Getpid())
	_ = j.job.Progress(ctx, 200, 1000)
	o.JobsLog.Info().Str("event", "start").Int64("job_id", j.ID).Int64("media_id", j.MediaID).Str("mode", string(j.Mode)).
		Int("attempt", j.Attempt).Str("trace_file", o.TraceFile).Int("pid", os.Getpid()).Msg("start")

	var frames *probe.FFmpeg
	if cfg.VideoFrames && j.Mode.RequiresImage() {
		frames = cmp.Or(o.FFmpeg, &probe.FFmpeg{})
	}
	in, err := loadInputs(ctx, o.DB, j.MediaID, j.Mode.RequiresImage(), frames)
	if err == nil {
		stage("request")
		client := ollama.New(cfg, o.HTTP)
		proc := &ollama.Processor{
			Analyzer: ollama.NewAnalyzer(cfg, client, ollama.NewTemplates(cfg.PromptsDir)),
			Store:    ollama.NewStore(o.DB, o.Clock, ollama.StoreOptions{NSFWUpdatesMedia: cfg.NSFWUpdatesMedia, Fence: j.heldIn}),
		}
		var out *ollama.Outcome
		out, err = proc.Process(ctx, j.Mode, in, ollama.JobRef{JobID: j.ID, JobType: j.Type, Attempt: j.Attempt})
		if err == nil && out != nil {
			ex := map[string]any{"deduped": out.Deduped, "vector_id": out.VectorID}
			if out.Result != nil {
				tr.Set(map[string]any{"prompt": out.Result.Prompt, "response_text": out.Result.RawText, "latency_ms": out.Result.Latency.Milliseconds(),
					"template_source": out.Result.TemplateSource, "http_status": out.Result.HTTPStatus, "parse_error": out.Result.ParseError(), "usage": out.Result.Usage})
				if out.Result.Output != nil {
					tr.Set(map[string]any{"extracted": out.Result.Output})
				}
			}
			tr.Set(map[string]any{"outcome": ex})
			stage("persist")
			b, _ := json.Marshal(out)
			return finishChild(ctx, o, j, tr, jobs.Done(json.RawMessage(b)), res)
		}
	}
	if errors.Is(err, jobs.ErrLeaseLost) {
		// Deleted, cancelled by force or recovered elsewhere while the
		// request ran: nothing was stored and the row is not ours to end.
		res.Status, res.Code, res.Error = "error", CodeLeaseLost, err.Error()
		_ = tr.Fail(CodeLeaseLost, res.Error, nil)
		return res
	}
	if ctx.Err() != nil {
		res.Status, res.Code, res.Error = "error", "interrupted", context.Cause(ctx).Error()
		if o.ParentGone != nil && o.ParentGone() {
			// The service died (the parent-death signal): give the job
			// back now, as the service would have at its shutdown.
			e := jobs.Released(jobs.CodeShutdownReleased, "released: ollama-service is gone")
			_ = tr.Fail(e.Code, e.Message, nil)
			return finishChild(context.WithoutCancel(ctx), o, j, tr, e, res)
		}
		// Killed or cancelled by the service: it writes the end state.
		_ = tr.Fail("interrupted", res.Error, nil)
		return res
	}
	f := decide(j, err)
	// too_large_for_vision is recorded by the processor; a missing ffmpeg is
	// the installation's fault, so the mode must stay a candidate.
	if f.Kind == jobs.EndError && f.Code != ollama.CodeTooLargeForVision && f.Code != probe.CodeFFmpegMissing {
		// Final failure: record it so the mode counts as ran (raw answer kept).
		if _, serr := ollama.NewStore(o.DB, o.Clock, ollama.StoreOptions{Fence: j.heldIn}).SaveFailure(ctx, j.MediaID, j.Mode, cfg.ModelFor(j.Mode), err,
			ollama.JobRef{JobID: j.ID, JobType: j.Type, Attempt: j.Attempt}); serr != nil {
			o.ErrorsLog.Error().Err(serr).Int64("job_id", j.ID).Msg("save_failure")
		}
	}
	if raw := ollama.RawOutput(err); raw != "" {
		tr.Set(map[string]any{"response_text": raw})
	}
	_ = tr.Fail(f.Code, f.Message, nil)
	return finishChild(ctx, o, j, tr, f, res)
}

func finishChild(ctx context.Context, o ChildOptions, j *JobRow, tr *Trace, f jobs.Ending, res ChildResult) ChildResult {
	ok, err := finishJob(ctx, j, f)
	res.Status, res.Code, res.Error, res.Written = string(f.Kind), f.Code, f.Message, ok
	res.OK = f.Kind == jobs.EndDone
	if err != nil {
		res.Status, res.Code, res.Error = "error", reason.CodeOr(err, "db_error"), err.Error()
	} else if !ok {
		res.Code = CodeLeaseLost
	}
	if f.Kind == jobs.EndDone {
		_ = tr.Stage("final_done", nil)
	}
	ev := o.JobsLog.Info()
	if f.Kind != jobs.EndDone {
		ev = o.JobsLog.Warn()
		if f.Kind == jobs.EndError {
			o.ErrorsLog.Error().Str("event", "error").Int64("job_id", j.ID).Int64("media_id", j.MediaID).Str("mode", string(j.Mode)).
				Int("attempt", j.Attempt).Str("error_code", f.Code).Str("error", f.Message).Str("trace_file", tr.Path()).Msg("error")
		}
	}
	ev.Str("event", "final").Int64("job_id", j.ID).Int64("media_id", j.MediaID).Str("mode", string(j.Mode)).Int("attempt", j.Attempt).
		Str("status", string(f.Kind)).Str("error_code", f.Code).Str("error", f.Message).Str("not_before", notBefore(f)).Str("trace_file", tr.Path()).Msg("final")
	return res
}

// loadInputs reads what the catalogue knows about a media: type, image bytes
// (vision modes: the file of an image; of a video a representative frame
// when frames is set, else none, so the mode ends unsupported_media), raw
// tags and the newest prompt.
func loadInputs(ctx context.Context, d *sql.DB, mediaID int64, needImage bool, frames *probe.FFmpeg) (ollama.Inputs, error) {
	in := ollama.Inputs{MediaID: mediaID}
	var path string
	var seconds float64
	if err := d.QueryRowContext(ctx, `SELECT path, type, COALESCE(duration, 0) FROM media WHERE id = ?`, mediaID).Scan(&path, &in.MediaType, &seconds); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return in, reason.Permanent("media_not_found", fmt.Errorf("media %d not found", mediaID))
		}
		return in, fmt.Errorf("load media %d: %w", mediaID, err)
	}
	rows, err := d.QueryContext(ctx, `SELECT t.name FROM media_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.media_id = ? ORDER BY mt.confidence DESC, t.name`, mediaID)
	if err != nil {
		return in, fmt.Errorf("load tags %d: %w", mediaID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return in, fmt.Errorf("load tags %d: %w", mediaID, err)
		}
		in.Tags = append(in.Tags, n)
	}
	// A read that broke off must not pass for "fewer tags".
	if err := rows.Err(); err != nil {
		return in, fmt.Errorf("load tags %d: %w", mediaID, err)
	}
	var prompt sql.NullString
	_ = d.QueryRowContext(ctx, `SELECT prompt FROM prompts WHERE media_id = ? AND TRIM(COALESCE(prompt,'')) <> '' ORDER BY id DESC LIMIT 1`, mediaID).Scan(&prompt)
	if strings.TrimSpace(prompt.String) != "" {
		in.Prompt, in.PromptSource = prompt.String, "prompt"
	} else if len(in.Tags) > 0 {
		in.PromptSource = "tags"
	}
	if needImage && in.MediaType == "image" {
		b, err := os.ReadFile(path)
		if err != nil {
			return in, reason.Permanent(ollama.CodeInvalidImage, fmt.Errorf("read media %d: %w", mediaID, err))
		}
		in.Image, in.ImageSource = b, ollama.ImageSourcePath
	}
	if needImage && in.MediaType == "video" && frames != nil {
		b, err := representativeFrame(ctx, frames, path, time.Duration(seconds*float64(time.Second)))
		if err != nil {
			return in, fmt.Errorf("video frame of media %d: %w", mediaID, err)
		}
		in.Image, in.ImageSource = b, ollama.ImageSourceFrame
	}
	return in, nil
}

// notBefore is when a retried job runs again, as logged ("" otherwise).
func notBefore(e jobs.Ending) string {
	if e.NotBefore.IsZero() {
		return ""
	}
	return svtime.Format(e.NotBefore)
}
