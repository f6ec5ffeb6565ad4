package forgejob

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/forge"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// AcceptRequest promotes one preview variant of a finished forge job.
type AcceptRequest struct {
	JobID int64
	// Variant is the 1-based variant number listed in the job's versions.
	Variant int
	// As is AcceptReplace (the preview becomes the media's file, with
	// backup and restore like a replace job) or AcceptChild (a new media
	// whose parent_media_id is the source).
	As      string
	ActorIP string
}

// AcceptResult says what Accept did.
type AcceptResult struct {
	JobID        int64        `json:"job_id"`
	Variant      int          `json:"variant"`
	As           string       `json:"as"`
	MediaID      int64        `json:"media_id"`
	ChildMediaID int64        `json:"child_media_id,omitempty"`
	Path         string       `json:"path"`
	Hash         string       `json:"hash"`
	Replace      *ReplaceInfo `json:"replace,omitempty"`
}

type jobRecord struct {
	job    jobs.Job
	status string
	result JobResult
}

func (s *Service) loadJob(ctx context.Context, id int64) (*jobRecord, error) {
	var rec jobRecord
	var media, prompt sql.NullInt64
	var payload, forgeReq, result, resp sql.NullString
	err := s.DB.QueryRowContext(ctx, `SELECT type, status, media_id, prompt_id, payload_json, forge_request_json, result_json, forge_response_json
		FROM jobs WHERE id = ?`, id).Scan(&rec.job.Type, &rec.status, &media, &prompt, &payload, &forgeReq, &result, &resp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errf(jobs.CodeNotFound, "job %d not found", id)
	}
	if err != nil {
		return nil, db.Classify(err)
	}
	rec.job.ID = id
	if media.Valid {
		rec.job.MediaID = &media.Int64
	}
	if prompt.Valid {
		rec.job.PromptID = &prompt.Int64
	}
	rec.job.Payload, rec.job.ForgeRequest = json.RawMessage(payload.String), json.RawMessage(forgeReq.String)
	known := false
	for _, t := range PreviewTypes() {
		known = known || t == rec.job.Type
	}
	if !known {
		return nil, errf(CodeJobNotAccept, "job %d is a %s job, not a regeneration (Forge or ComfyUI) job", id, rec.job.Type)
	}
	if rec.status != jobs.StatusDone {
		return nil, errf(CodeJobNotAccept, "job %d is %s; only finished (done) forge jobs have previews", id, rec.status)
	}
	raw := result.String
	if raw == "" {
		raw = resp.String
	}
	if err := json.Unmarshal([]byte(raw), &rec.result); err != nil {
		return nil, reason.Permanent(CodeJobNotAccept, fmt.Errorf("job %d has no readable result: %w", id, err))
	}
	return &rec, nil
}

// Versions lists the outputs of a finished forge job (for the UI).
func (s *Service) Versions(ctx context.Context, jobID int64) ([]Version, error) {
	rec, err := s.loadJob(ctx, jobID)
	if err != nil {
		return nil, err
	}
	return rec.result.Versions, nil
}

// Accept promotes a preview: as replace it becomes the media's file (backup,
// atomic write, rehash, prompt version, meta, audit; any failure restores
// the original byte-for-byte), as child it becomes a new media linked to its
// source by parent_media_id. The job's result records the acceptance, so a
// preview is accepted at most once.
func (s *Service) Accept(ctx context.Context, ar AcceptRequest) (*AcceptResult, error) {
	if ar.As != AcceptReplace && ar.As != AcceptChild {
		return nil, errf(CodeAcceptModeUnkown, "accept mode must be replace or child, got %q", ar.As)
	}
	rec, err := s.loadJob(ctx, ar.JobID)
	if err != nil {
		return nil, err
	}
	idx := -1
	for i, v := range rec.result.Versions {
		if v.Variant == ar.Variant && v.Role == "preview" {
			idx = i
		}
	}
	if idx < 0 {
		return nil, errf(CodeVariantNotFound, "job %d has no preview variant %d", ar.JobID, ar.Variant)
	}
	v := rec.result.Versions[idx]
	if v.AcceptedAs != "" {
		return nil, errf(CodeAlreadyAccepted, "variant %d of job %d was already accepted as %s", ar.Variant, ar.JobID, v.AcceptedAs)
	}
	data, err := os.ReadFile(v.Path)
	if err != nil {
		return nil, reason.Permanent(CodeVariantNotFound, fmt.Errorf("preview file: %w", err))
	}
	if md5hex(data) != v.MD5 {
		return nil, errf(CodePreviewChanged, "preview %s no longer matches its recorded hash", v.Path)
	}
	// A result that records its Origin (ComfyUI jobs) describes itself;
	// Forge jobs are described by their planned request.
	mediaID := rec.result.MediaID
	var req *forge.Request
	if rec.result.Origin == nil {
		if req, err = decodeRequest(&rec.job, s.Recipes); err != nil {
			return nil, err
		}
		mediaID = req.MediaID
	}
	m, err := media.Get(ctx, s.DB, mediaID)
	if err != nil {
		return nil, err
	}
	out := Output{Data: data, Ext: v.Ext, Width: v.Width, Height: v.Height, MD5: v.MD5, GenWidth: v.GenWidth,
		GenHeight: v.GenHeight, FormatPreserved: v.FormatPreserved}
	origin := func(in replaceInput) Origin {
		if req != nil {
			return forgeOrigin(req, in)
		}
		return rec.result.Origin.forVersion(v, out)
	}
	res := &AcceptResult{JobID: ar.JobID, Variant: ar.Variant, As: ar.As, MediaID: m.ID, Hash: v.MD5}
	mark := func(tx *sql.Tx, childID int64) error {
		now := s.now()
		rec.result.Versions[idx].AcceptedAs = ar.As
		rec.result.Versions[idx].ChildMediaID = childID
		rec.result.Versions[idx].AcceptedAt = svtime.Format(now)
		b, err := json.Marshal(rec.result)
		if err != nil {
			return err
		}
		r, err := tx.ExecContext(ctx, `UPDATE jobs SET result_json = ?, forge_response_json = ? WHERE id = ? AND status = 'done'`, string(b), string(b), ar.JobID)
		if err != nil {
			return db.Classify(err)
		}
		if n, _ := r.RowsAffected(); n != 1 {
			return errf(CodeJobNotAccept, "job %d changed while accepting", ar.JobID)
		}
		return media.Audit(ctx, tx, media.AuditEntry{Action: AuditPreviewAccepted, EntityType: "media", EntityID: m.ID, ActorIP: ar.ActorIP,
			Details: map[string]any{"job_id": ar.JobID, "variant": ar.Variant, "as": ar.As, "preview_path": v.Path, "hash": v.MD5,
				"child_media_id": childID}, At: now})
	}

	if ar.As == AcceptReplace {
		if err := checkSource(m, forge.MediaInfo{Exists: fileExists(m.Path)}); err != nil {
			return nil, err
		}
		in := replaceInput{Media: m, Out: out, JobID: ar.JobID, Source: SourceAccept, Seed: v.Seed,
			UsedSampler: rec.result.UsedSampler, UsedScheduler: rec.result.UsedScheduler, Model: rec.result.Model.Active,
			Extra: map[string]any{"accepted_variant": ar.Variant, "preview_path": v.Path}}
		in.Origin = origin(in)
		in.Finish = func(tx *sql.Tx, _ *ReplaceInfo) error { return mark(tx, 0) }
		info, err := s.replace(ctx, in)
		if err != nil {
			return nil, err
		}
		res.Path, res.Replace = info.NewPath, info
		return res, nil
	}

	childID, path, err := s.acceptChild(ctx, m, out, origin, rec, v, mark)
	if err != nil {
		return nil, err
	}
	res.ChildMediaID, res.Path = childID, path
	return res, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// acceptChild places the preview at its canonical library path and inserts
// a media row with parent_media_id = source, the request's prompt and the
// source's tags (unlocked), then re-tags it.
func (s *Service) acceptChild(ctx context.Context, src *media.Media, out Output, origin func(replaceInput) Origin, rec *jobRecord, v Version,
	mark func(*sql.Tx, int64) error) (int64, string, error) {
	if other, err := media.GetByHash(ctx, s.DB, out.MD5); err != nil {
		return 0, "", err
	} else if other != nil {
		return 0, "", errf(CodeAlreadyAccepted, "the preview is already catalogued as media %d", other.ID)
	}
	dest, err := library.Destination(s.Roots, library.TypeImage, src.HasNSFW, out.MD5, out.Ext)
	if err != nil {
		return 0, "", err
	}
	if err := writeFileAtomic(dest, out.Data); err != nil {
		return 0, "", reason.Transient(CodeReplaceFailed, fmt.Errorf("place child file: %w", err))
	}
	in := replaceInput{Out: out, JobID: rec.job.ID, Source: SourceAcceptChild, Seed: v.Seed,
		UsedSampler: rec.result.UsedSampler, UsedScheduler: rec.result.UsedScheduler, Model: rec.result.Model.Active}
	in.Origin = origin(in)
	var childID int64
	err = db.InTx(ctx, s.DB, func(tx *sql.Tx) error {
		now := s.now()
		id, err := media.Insert(ctx, tx, media.NewMedia{Path: dest, Type: library.TypeImage, Source: in.Origin.Generator, Width: out.Width,
			Height: out.Height, Filesize: int64(len(out.Data)), Hash: out.MD5, FileMTime: now, Rating: src.Rating,
			HasNSFW: src.HasNSFW, ParentID: src.ID}, now)
		if err != nil {
			return err
		}
		childID = id
		if _, err := media.SavePrompt(ctx, tx, id, in.Origin.Prompt, SourceAcceptChild, in.Origin.OriginalPrompt, now); err != nil {
			return err
		}
		tags, err := media.Tags(ctx, tx, src.ID)
		if err != nil {
			return err
		}
		ti := make([]media.TagInput, 0, len(tags))
		for _, t := range tags {
			ti = append(ti, media.TagInput{Name: t.Name, Type: t.Type, Confidence: t.Confidence})
		}
		if _, err := media.UpsertTags(ctx, tx, id, ti); err != nil {
			return err
		}
		if _, err := media.SetMetaPairs(ctx, tx, id, []media.MetaPair{
			{Source: SourceAcceptChild, Key: "forge.job_id", Value: strconv.FormatInt(rec.job.ID, 10)},
			{Source: SourceAcceptChild, Key: "forge.parent_media_id", Value: strconv.FormatInt(src.ID, 10)},
			{Source: SourceAcceptChild, Key: "forge.model", Value: rec.result.Model.Active},
		}, now); err != nil {
			return err
		}
		return mark(tx, id)
	})
	if err != nil {
		_ = os.Remove(dest)
		return 0, "", err
	}
	s.refresh(context.WithoutCancel(ctx), childID, rec.job.ID)
	return childID, dest, nil
}
