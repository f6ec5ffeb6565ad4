package forgejob

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/forge"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Version is one generated output kept as a file: a preview, or the new
// original in replace mode. Versions are what the UI lists and what Accept
// promotes.
type Version struct {
	Variant  int    `json:"variant"`
	Path     string `json:"path"`
	MD5      string `json:"md5"`
	Filesize int64  `json:"filesize"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
	Ext      string `json:"ext"`
	Seed     *int64 `json:"seed,omitempty"`
	// Role is "preview" or "replaced" (the variant that became the original).
	Role      string `json:"role"`
	GenWidth  int    `json:"gen_width"`
	GenHeight int    `json:"gen_height"`
	// FormatPreserved is false when the original's format could not be kept.
	FormatPreserved bool `json:"format_preserved"`
	// AcceptedAs is set once the preview was accepted (replace|child).
	AcceptedAs    string `json:"accepted_as,omitempty"`
	ChildMediaID  int64  `json:"child_media_id,omitempty"`
	AcceptedAt    string `json:"accepted_at,omitempty"`
	AcceptedHash  string `json:"accepted_hash,omitempty"`
	AcceptedError string `json:"-"`
}

// JobResult is the result_json / forge_response_json of a forge job. It never
// holds image data: outputs are referenced by path and MD5.
type JobResult struct {
	JobID          int64                  `json:"job_id"`
	MediaID        int64                  `json:"media_id"`
	Mode           string                 `json:"mode"`
	GenerationMode forge.GenMode          `json:"generation_mode"`
	Denoise        *float64               `json:"denoise,omitempty"`
	Model          forge.CheckpointResult `json:"model"`
	UsedSampler    string                 `json:"used_sampler"`
	UsedScheduler  string                 `json:"used_scheduler,omitempty"`
	AttemptIndex   int                    `json:"attempt_index"`
	AttemptChain   []forge.Attempt        `json:"attempt_chain"`
	AttemptErrors  []forge.AttemptError   `json:"attempt_errors,omitempty"`
	Dropped        []forge.AttemptError   `json:"dropped_variants,omitempty"`
	Seeds          []int64                `json:"all_seeds,omitempty"`
	Infotexts      []string               `json:"infotexts,omitempty"`
	PromptCategory string                 `json:"prompt_category,omitempty"`
	OrigWidth      int                    `json:"orig_w"`
	OrigHeight     int                    `json:"orig_h"`
	OrigExt        string                 `json:"orig_ext"`
	Versions       []Version              `json:"versions"`
	Replaced       bool                   `json:"replaced"`
	Replace        *ReplaceInfo           `json:"replace,omitempty"`
	FinishedAt     string                 `json:"finished_at"`
	// Origin is set by generators other than Forge (ComfyUI): the result
	// then describes its outputs itself (see Origin).
	Origin *Origin `json:"origin,omitempty"`
}

// Handler returns the jobs.Handler for every type in Types().
func (s *Service) Handler() jobs.Handler { return s.Run }

// Handlers maps every forge job type to the handler (RunnerOptions.Handlers).
func (s *Service) Handlers() map[string]jobs.Handler {
	m := map[string]jobs.Handler{}
	for _, t := range Types() {
		m[t] = s.Run
	}
	return m
}

// Run processes one forge job: validate config, health check, resolve and
// switch the checkpoint, generate with the sampler chain (progress polled
// into the job, interrupt on cancel), then write previews or replace the
// original. Failures are persisted in forge_response_json with their
// reason_code, http_code and target_url.
func (s *Service) Run(ctx context.Context, job *jobs.Job) (any, error) {
	res, err := s.run(ctx, job)
	if err != nil {
		s.RecordFailure(job, err)
		return nil, err
	}
	return res, nil
}

func (s *Service) run(ctx context.Context, job *jobs.Job) (*JobResult, error) {
	if err := s.validate(true); err != nil {
		return nil, err
	}
	req, err := decodeRequest(job, s.Recipes)
	if err != nil {
		return nil, err
	}
	if req.MediaID == 0 {
		return nil, errf(CodeRequestInvalid, "forge job %d has no media id", job.ID)
	}
	mi, m, err := mediaInfo(ctx, s.DB, req.MediaID)
	if err != nil {
		return nil, err
	}
	if err := checkSource(m, mi); err != nil {
		return nil, err
	}
	if err := s.CheckDirs(); err != nil {
		return nil, err
	}

	_ = job.SetStage(ctx, "health")
	if hr, err := s.Client.Health(ctx); err != nil {
		s.auditHealth(context.WithoutCancel(ctx), hr, err, job.ID, req.MediaID)
		return nil, err
	}

	_ = job.SetStage(ctx, "model")
	// A plan that fell back still names the image's model: it may have been
	// installed since, and the result must say which model was missing.
	want := req.Model.Checkpoint
	if want == "" || req.Model.FallbackUsed {
		want = req.Model.Requested
	}
	cp, err := s.Client.EnsureCheckpoint(ctx, want, s.Config.FallbackModel())
	if err != nil {
		return nil, err
	}

	chain := req.Chain
	if len(chain) == 0 {
		chain = forge.SamplerChain(req.Payload.SamplerName, req.Payload.Scheduler)
	}
	// Unknown samplers would only burn attempts on 422s; the lists are a
	// best effort (an old server without /schedulers still works).
	if samplers, err := s.Client.Samplers(ctx); err == nil && len(samplers) > 0 {
		schedulers, _ := s.Client.Schedulers(ctx)
		chain = forge.FilterChain(chain, samplers, schedulers)
	}

	var init []byte
	if req.Generation == forge.Img2Img {
		path := m.Path
		if req.InitImage != nil && req.InitImage.Path != "" {
			path = req.InitImage.Path
		}
		if init, err = os.ReadFile(path); err != nil {
			return nil, reason.Permanent(CodeMediaMissing, fmt.Errorf("read init image: %w", err))
		}
	}

	_ = job.SetStage(ctx, "generate")
	stop := s.pollProgress(ctx, job)
	out, err := s.Client.GenerateWithChain(ctx, req.Generation, req.Payload, init, chain)
	stop()
	if err != nil {
		return nil, err
	}

	origW, origH := req.Plan.OrigWidth, req.Plan.OrigHeight
	if origW <= 0 || origH <= 0 {
		origW, origH = mi.Width, mi.Height
	}
	origExt := mi.Ext()
	res := &JobResult{
		JobID: job.ID, MediaID: req.MediaID, Mode: req.Mode, GenerationMode: req.Generation,
		Denoise: req.Payload.DenoisingStrength, Model: cp, UsedSampler: out.UsedSampler,
		UsedScheduler: out.UsedScheduler, AttemptIndex: out.AttemptIndex, AttemptChain: out.AttemptChain,
		AttemptErrors: out.AttemptErrors, Dropped: out.Dropped, Seeds: out.Result.Seeds,
		Infotexts: out.Result.Infotexts, PromptCategory: req.Plan.Category,
		OrigWidth: origW, OrigHeight: origH, OrigExt: origExt,
	}
	outputs := make([]Output, 0, len(out.Result.Images))
	for i, im := range out.Result.Images {
		info := ""
		if i < len(out.Result.Infotexts) {
			info = out.Result.Infotexts[i]
		}
		o, err := PrepareOutput(im, origW, origH, origExt, info)
		if err != nil {
			return nil, err
		}
		outputs = append(outputs, o)
	}

	_ = job.SetStage(ctx, "output")
	if req.Mode != forge.OutputReplace {
		if err := s.StorePreviews(ctx, job, res, outputs, AuditRegenPreview, map[string]any{"model": cp.Active,
			"generation_mode": req.Generation}); err != nil {
			return nil, err
		}
		return res, nil
	}
	// Variant 1 replaces the original; the others stay previews.
	if err := s.writePreviews(job, res, outputs, 1); err != nil {
		return nil, err
	}

	rin := replaceInput{
		Media: m, Out: outputs[0], JobID: job.ID, Source: SourceRegenReplace,
		Seed: seedAt(res.Seeds, 0), UsedSampler: out.UsedSampler, UsedScheduler: out.UsedScheduler, Model: cp.Active,
	}
	rin.Origin = forgeOrigin(req, rin)
	rin.Finish = func(tx *sql.Tx, info *ReplaceInfo) error {
		res.Replaced, res.Replace = true, info
		res.Versions = append([]Version{{Variant: 1, Path: info.NewPath, MD5: info.NewHash, Filesize: int64(len(outputs[0].Data)),
			Width: outputs[0].Width, Height: outputs[0].Height, Ext: outputs[0].Ext, Seed: rin.Seed, Role: "replaced",
			GenWidth: outputs[0].GenWidth, GenHeight: outputs[0].GenHeight, FormatPreserved: outputs[0].FormatPreserved}}, res.Versions...)
		res.FinishedAt = svtime.Format(s.now())
		return s.complete(ctx, tx, job, res)
	}
	if _, err := s.replace(ctx, rin); err != nil {
		s.removeVersions(res.Versions)
		return nil, err
	}
	return res, nil
}

// StorePreviews writes outputs as the previews of job (files in
// paths.previews, versions in res) and completes the job with res and an
// audit row (action, details plus job_id and variants) in one transaction,
// so a crash cannot leave previews without their job being done. On error
// the preview files are removed again. Every generator's preview mode ends
// here, which is what makes its versions acceptable.
func (s *Service) StorePreviews(ctx context.Context, job *jobs.Job, res *JobResult, outputs []Output, action string, details map[string]any) error {
	if err := s.writePreviews(job, res, outputs, 0); err != nil {
		return err
	}
	res.FinishedAt = svtime.Format(s.now())
	d := map[string]any{"job_id": job.ID, "variants": len(res.Versions)}
	for k, v := range details {
		d[k] = v
	}
	err := db.InTx(ctx, s.DB, func(tx *sql.Tx) error {
		if err := media.Audit(ctx, tx, media.AuditEntry{Action: action, EntityType: "media", EntityID: res.MediaID, Details: d, At: s.now()}); err != nil {
			return err
		}
		return s.complete(ctx, tx, job, res)
	})
	if err != nil {
		s.removeVersions(res.Versions)
		return err
	}
	return nil
}

// writePreviews stores outputs[first:] as preview versions of res.
func (s *Service) writePreviews(job *jobs.Job, res *JobResult, outputs []Output, first int) error {
	ts := s.now().Format("20060102_150405")
	for i := first; i < len(outputs); i++ {
		v, err := s.writePreview(res.MediaID, job.ID, ts, i+1, outputs[i])
		if err != nil {
			s.removeVersions(res.Versions)
			return err
		}
		v.Seed = seedAt(res.Seeds, i)
		res.Versions = append(res.Versions, v)
	}
	return nil
}

func seedAt(seeds []int64, i int) *int64 {
	if i < len(seeds) {
		v := seeds[i]
		return &v
	}
	return nil
}

// complete writes forge_response_json and marks the job done inside tx.
func (s *Service) complete(ctx context.Context, tx *sql.Tx, job *jobs.Job, res *JobResult) error {
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	r, err := tx.ExecContext(ctx, `UPDATE jobs SET forge_response_json = ? WHERE id = ? AND status = 'running' AND worker_owner = ?`,
		string(b), job.ID, job.Owner)
	if err != nil {
		return db.Classify(err)
	}
	if n, _ := r.RowsAffected(); n != 1 {
		return jobs.ErrLeaseLost
	}
	return job.CompleteTx(ctx, tx, res)
}

// RecordFailure persists the failure details (reason_code, http_code,
// target_url, attempt errors, missing_keys/config_path, the error's
// fields) in forge_response_json, where the detail page's job list reads
// them; the Runner writes status and error_message.
func (s *Service) RecordFailure(job *jobs.Job, err error) {
	detail := forge.ErrorDetail(err)
	if p := Problem(err); p != nil {
		detail["missing_keys"], detail["config_path"], detail["message"] = p.MissingKeys, p.ConfigPath, p.Message
	}
	for k, v := range reason.FieldsOf(err) {
		if _, ok := detail[k]; !ok {
			detail[k] = v
		}
	}
	detail["job_id"], detail["replaced"] = job.ID, false
	b, merr := json.Marshal(map[string]any{"error": detail})
	if merr != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.DB.ExecContext(ctx, `UPDATE jobs SET forge_response_json = ? WHERE id = ? AND status = 'running' AND worker_owner = ?`,
		string(b), job.ID, job.Owner); err != nil {
		s.Log.Warn().Err(err).Int64("job_id", job.ID).Msg("forge_failure_record_failed")
	}
	s.Log.Warn().Int64("job_id", job.ID).Str("reason_code", reason.Code(err)).Err(err).Msg("forge_job_failed")
}

// auditHealth writes forge_health_failed with reason_code, http_code and
// target_url (the seed's "Forge Runtime-Validierung").
func (s *Service) auditHealth(ctx context.Context, hr forge.HealthResult, err error, jobID, mediaID int64) {
	d := forge.ErrorDetail(err)
	details := map[string]any{"reason_code": reason.Code(err), "http_code": hr.HTTPCode, "http_status": hr.HTTPCode,
		"target_url": hr.TargetURL, "error": reason.Truncate(err.Error(), 300)}
	if hr.TargetURL == "" {
		details["target_url"] = d["target_url"]
	}
	if hr.HTTPCode == 0 {
		if hc, ok := d["http_code"]; ok {
			details["http_code"], details["http_status"] = hc, hc
		}
	}
	if jobID != 0 {
		details["job_id"] = jobID
	}
	entity, id := "forge", int64(0)
	if mediaID != 0 {
		entity, id, details["media_id"] = "media", mediaID, mediaID
	}
	if aerr := media.Audit(ctx, s.DB, media.AuditEntry{Action: AuditHealthFailed, EntityType: entity, EntityID: id, Details: details, At: s.now()}); aerr != nil {
		s.Log.Warn().Err(aerr).Msg("forge_health_audit_failed")
	}
}

// pollProgress copies /sdapi/v1/progress into jobs.progress_bits until the
// returned stop function is called.
func (s *Service) pollProgress(ctx context.Context, job *jobs.Job) func() {
	if s.ProgressInterval < 0 {
		return func() {}
	}
	pctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(s.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-t.C:
				if p, err := s.Client.Progress(pctx); err == nil {
					_ = job.Progress(pctx, p.Bits(1000), 1000)
				}
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// CheckDirs refuses previews/backups inside the media roots: a preview there
// would be picked up by the next scan as a new media.
func (s *Service) CheckDirs() error {
	for key, d := range map[string]string{"paths.previews": s.PreviewsDir, "paths.backups": s.BackupsDir} {
		if d == "" {
			return errf(CodePathUnsafe, "%s is not configured", key)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return reason.Permanent(CodePathUnsafe, fmt.Errorf("%s: %w", key, err))
		}
		if _, in := library.Inside(s.Roots.All(), d); in {
			return reason.Permanent(CodePathUnsafe, fmt.Errorf("%s %s: %w", key, d, errNotOutside))
		}
	}
	return nil
}

// writePreview stores one variant as PREVIEWS/preview_<media>_<job>_<ts>_<n>.<ext>.
func (s *Service) writePreview(mediaID, jobID int64, ts string, n int, o Output) (Version, error) {
	name := fmt.Sprintf("preview_%d_%d_%s_%d.%s", mediaID, jobID, ts, n, o.Ext)
	path := filepath.Join(s.PreviewsDir, name)
	if err := writeFileAtomic(path, o.Data); err != nil {
		return Version{}, reason.Transient(CodeOutputFailed, fmt.Errorf("write preview: %w", err))
	}
	return Version{Variant: n, Path: path, MD5: o.MD5, Filesize: int64(len(o.Data)), Width: o.Width, Height: o.Height,
		Ext: o.Ext, Role: "preview", GenWidth: o.GenWidth, GenHeight: o.GenHeight, FormatPreserved: o.FormatPreserved}, nil
}

func (s *Service) removeVersions(vs []Version) {
	for _, v := range vs {
		if v.Role == "preview" {
			_ = os.Remove(v.Path)
		}
	}
}
