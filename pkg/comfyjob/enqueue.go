package comfyjob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/localsupervisor/supervisor/pkg/comfy"
	"github.com/localsupervisor/supervisor/pkg/forgejob"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// EnqueueRequest asks for one regeneration of a media.
type EnqueueRequest struct {
	MediaID int64
	// NewSeed draws a new seed (Edits.Seed is then ignored); otherwise
	// Edits.Seed, or the graph's own seed when nil.
	NewSeed bool
	Edits   comfy.Edits
	ActorIP string
	// ProbeTimeout, when > 0, checks the graph against the server's
	// /object_info within that time, so missing nodes and models are
	// refused at once, naming them. A server that does not answer in time
	// does not refuse the job: the worker checks again before submitting.
	ProbeTimeout time.Duration
}

// EnqueueResult is the answer of Enqueue.
type EnqueueResult struct {
	JobID   int64       `json:"job_id"`
	Deduped bool        `json:"deduped"`
	Status  string      `json:"status"`
	Edits   comfy.Edits `json:"edits"`
	// Checked says whether the server check ran (false: ComfyUI did not
	// answer within ProbeTimeout).
	Checked bool `json:"checked"`
}

// Payload is a comfy_regen job's payload_json: the graph to submit, edits
// already applied, so a retry submits exactly the same thing.
type Payload struct {
	MediaID  int64           `json:"media_id"`
	Graph    json.RawMessage `json:"graph"`
	Edits    comfy.Edits     `json:"edits"`
	MainNode string          `json:"main_node"`
	// Seed is the main pass's seed as submitted.
	Seed     string `json:"seed,omitempty"`
	ClientID string `json:"client_id"`
}

// Enqueue loads the media's graph, applies the edits (refusing values the
// graph computes elsewhere), optionally checks it against the server and
// queues a comfy_regen job. The same edits twice while the first job is
// live return that job (dedupe on the submitted graph).
func (s *Service) Enqueue(ctx context.Context, er EnqueueRequest) (*EnqueueResult, error) {
	if err := s.ConfigError(); err != nil {
		return nil, err
	}
	if s.Queue == nil {
		return nil, reason.New(CodeRequestInvalid, "comfyjob: no queue configured")
	}
	m, _, err := forgejob.SourceMedia(ctx, s.DB, er.MediaID)
	if err != nil {
		return nil, err
	}
	src, err := LoadSource(ctx, s.DB, m)
	if err != nil {
		return nil, err
	}
	edits := er.Edits
	if er.NewSeed {
		// ComfyUI seeds are unsigned 64-bit; 2^53 keeps them exact in every
		// JSON reader on the way (browsers included).
		seed := s.Rand(1 << 53)
		edits.Seed = &seed
	}
	g := src.Graph.Clone()
	if err := g.Apply(src.Targets, edits); err != nil {
		return nil, err
	}
	res := &EnqueueResult{Status: jobs.StatusQueued, Edits: edits}
	if er.ProbeTimeout > 0 {
		pctx, cancel := context.WithTimeout(ctx, er.ProbeTimeout)
		oi, oerr := s.Client.ObjectInfo(pctx)
		cancel()
		if oerr == nil {
			if err := g.CheckServer(oi); err != nil {
				return nil, err
			}
			res.Checked = true
		}
	}
	body, err := g.JSON()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	seed := src.Targets.Main.Seed
	if edits.Seed != nil {
		seed = strconv.FormatInt(*edits.Seed, 10)
	}
	p := Payload{MediaID: m.ID, Graph: body, Edits: edits, MainNode: src.Targets.Main.NodeID, Seed: seed,
		ClientID: "supervisor-" + hex.EncodeToString(sum[:6])}
	mid := m.ID
	jr, err := s.Queue.Enqueue(ctx, jobs.EnqueueRequest{Type: jobs.TypeComfyRegen, MediaID: &mid, Payload: p,
		DedupeKey: fmt.Sprintf("%s:media:%d:%s", jobs.TypeComfyRegen, m.ID, hex.EncodeToString(sum[:16]))})
	if err != nil {
		return nil, err
	}
	res.JobID, res.Deduped = jr.JobID, jr.Deduped
	if err := media.Audit(ctx, s.DB, media.AuditEntry{Action: AuditJobCreated, EntityType: "media", EntityID: m.ID, ActorIP: er.ActorIP,
		Details: map[string]any{"job_id": jr.JobID, "deduped": jr.Deduped, "main_node": p.MainNode, "edits": edits,
			"graph_from": src.From, "server_checked": res.Checked}, At: s.now()}); err != nil {
		return nil, err
	}
	return res, nil
}
