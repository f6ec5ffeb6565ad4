package jobs

import (
	"fmt"
	"sort"
	"time"
)

// Job statuses (jobs.status).
const (
	StatusQueued    = "queued"
	StatusRunning   = "running"
	StatusDone      = "done"
	StatusError     = "error"
	StatusCancelled = "cancelled"
)

// Worker groups.
const (
	GroupScan   = "scan"
	GroupMedia  = "media"
	GroupRename = "rename"
	GroupForge  = "forge"
	GroupOllama = "ollama"
)

// Original job type names (spec 2.1).
const (
	TypeScanPath         = "scan_path"
	TypeRescanMedia      = "rescan_media"
	TypeScanBackfillTags = "scan_backfill_tags"
	TypeLibraryRename    = "library_rename"
	TypeIntegrityCheck   = "integrity_check"
	TypeHashCompute      = "hash_compute"
	// TypePHashCompute (new) computes a media's perceptual hash
	// (media_phash) for similar images and duplicate review.
	TypePHashCompute      = "phash_compute"
	TypeUpscale           = "upscale"
	TypeForgeRegen        = "forge_regen"
	TypeForgeRegenReplace = "forge_regen_replace"
	TypeForgeRegenV3      = "forge_regen_v3"
	// TypeComfyRegen (new) regenerates a media from the ComfyUI workflow
	// embedded in its file (pkg/comfyjob); forge-worker runs it next to
	// the Forge types, and its previews share Forge's accept flow.
	TypeComfyRegen = "comfy_regen"
	// TypeMediaBulk applies one person's action to a large selection of
	// media (pkg/bulk) in chunks, resuming from its checkpoint after a
	// crash; media-worker runs it.
	TypeMediaBulk = "media_bulk"
	// TypeDupesRebuild (new) recomputes the duplicate groups (pkg/dupes)
	// for the review page; cmd/dupes rebuild does the same from cron.
	TypeDupesRebuild = "dupes_rebuild"
)

// OllamaModes are the Ollama job modes; the job type is "ollama_" + mode.
var ollamaModes = []string{"caption", "title", "prompt_eval", "tags_normalize", "quality", "nsfw_classify", "embed", "prompt_recon"}

// OllamaModes returns the Ollama modes in their original order.
func OllamaModes() []string { return append([]string(nil), ollamaModes...) }

// TypeSpec declares how one job type is queued and run.
type TypeSpec struct {
	// Name is the jobs.type value.
	Name string
	// Group is the worker group that processes the type (scan, media, …).
	Group string
	// Lease is how long a running job may go without a heartbeat before
	// stuck recovery takes it back; 0 uses Config.StuckMinutes.
	Lease time.Duration
	// MaxAttempts is written to jobs.max_attempts at enqueue (default 3).
	MaxAttempts int
	// Priority is the default jobs.priority (lower runs first; default 100).
	Priority int
	// UniquePerMedia dedupes on (type, media_id) when the caller gives no
	// dedupe key: a second enqueue while one is queued or running returns
	// the existing job.
	UniquePerMedia bool
	// Weight is the share of claims the type gets inside its worker's type
	// list when several types have work (weighted round robin; default 1).
	Weight int
	// Resumable declares that the handler records its durable progress
	// with Job.AdvanceTx in the transactions that commit its work and
	// resumes from that work after a crash. Stuck recovery then gives back
	// the attempt of a crashed run whose progress advanced (it is not a
	// crash loop: a run that keeps committing work ends), re-queued
	// without backoff; a crashed run that committed nothing spends its
	// attempt as for any type, so max_attempts still bounds a job that
	// kills its worker before committing anything.
	Resumable bool
}

// Registry maps type names to specs. Build one with NewRegistry or
// DefaultRegistry; it is read-only after construction and safe to share.
type Registry struct {
	specs map[string]TypeSpec
}

// NewRegistry builds a registry; duplicate or empty names are programmer
// errors and panic.
func NewRegistry(specs ...TypeSpec) *Registry {
	r := &Registry{specs: make(map[string]TypeSpec, len(specs))}
	for _, s := range specs {
		if s.Name == "" {
			panic("jobs: TypeSpec without Name")
		}
		if _, dup := r.specs[s.Name]; dup {
			panic(fmt.Sprintf("jobs: duplicate type %q", s.Name))
		}
		if s.MaxAttempts <= 0 {
			s.MaxAttempts = 3
		}
		if s.Priority == 0 {
			s.Priority = 100
		}
		if s.Weight <= 0 {
			s.Weight = 1
		}
		r.specs[s.Name] = s
	}
	return r
}

// DefaultRegistry registers the original job types (spec 2.1).
//
// Weights implement the scan group's order scan_backfill_tags → rescan_media
// → scan_path without starvation: out of every 7 claims when all three have
// work, backfill gets 4, rescan 2 and scan_path 1 (the original gave
// scan_path nothing as soon as 10 rescans were queued).
func DefaultRegistry() *Registry {
	specs := []TypeSpec{
		{Name: TypeScanBackfillTags, Group: GroupScan, MaxAttempts: 3, Weight: 4},
		{Name: TypeRescanMedia, Group: GroupScan, MaxAttempts: 3, UniquePerMedia: true, Weight: 2},
		{Name: TypeScanPath, Group: GroupScan, MaxAttempts: 3, Lease: 30 * time.Minute, Weight: 1, Resumable: true},
		{Name: TypeIntegrityCheck, Group: GroupMedia, MaxAttempts: 3, UniquePerMedia: true},
		{Name: TypeHashCompute, Group: GroupMedia, MaxAttempts: 3, UniquePerMedia: true},
		// After the checks of new files: similar images can wait.
		{Name: TypePHashCompute, Group: GroupMedia, MaxAttempts: 3, UniquePerMedia: true, Priority: 150},
		{Name: TypeUpscale, Group: GroupMedia, MaxAttempts: 2, UniquePerMedia: true},
		// Resumable: every chunk commits its work with its checkpoint, so a
		// crashed run that advanced gets its attempt back.
		{Name: TypeMediaBulk, Group: GroupMedia, MaxAttempts: 5, Resumable: true},
		// After the perceptual hashes it groups.
		{Name: TypeDupesRebuild, Group: GroupMedia, MaxAttempts: 2, Priority: 200},
		{Name: TypeLibraryRename, Group: GroupRename, MaxAttempts: 3, UniquePerMedia: true},
		{Name: TypeForgeRegen, Group: GroupForge, MaxAttempts: 2, Lease: 30 * time.Minute},
		{Name: TypeForgeRegenReplace, Group: GroupForge, MaxAttempts: 2, Lease: 30 * time.Minute},
		{Name: TypeForgeRegenV3, Group: GroupForge, MaxAttempts: 2, Lease: 30 * time.Minute},
		// Transient ComfyUI failures (down, 5xx, timeout) retry with the
		// queue's backoff; the lease outlives comfyui.generation_timeout.
		{Name: TypeComfyRegen, Group: GroupForge, MaxAttempts: 3, Lease: 30 * time.Minute},
	}
	for _, m := range ollamaModes {
		specs = append(specs, TypeSpec{Name: "ollama_" + m, Group: GroupOllama, MaxAttempts: 3, UniquePerMedia: true})
	}
	return NewRegistry(specs...)
}

// Spec returns the spec of typ.
func (r *Registry) Spec(typ string) (TypeSpec, bool) {
	s, ok := r.specs[typ]
	return s, ok
}

// Names returns all registered type names, sorted.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.specs))
	for n := range r.specs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Group returns the type names of one worker group, sorted by name.
func (r *Registry) Group(group string) []string {
	var out []string
	for n, s := range r.specs {
		if s.Group == group {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func (r *Registry) lease(typ string, cfg Config) time.Duration {
	if s, ok := r.specs[typ]; ok && s.Lease > 0 {
		return s.Lease
	}
	return time.Duration(cfg.StuckMinutes) * time.Minute
}
