package comfyjob

import (
	"context"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/comfy"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/sdmeta"
)

// Meta keys the importer stores for ComfyUI PNGs (the tEXt keywords
// SaveImage writes; see sdmeta.comfyCandidates).
const (
	metaAPIGraph = "prompt"
	metaWorkflow = "workflow"
)

// Source is the regenerable graph of one media.
type Source struct {
	MediaID int64
	Graph   comfy.Graph
	// Targets are the main pass and its editable inputs.
	Targets sdmeta.ComfyTargets
	// From is "meta" (media_meta) or "file" (re-read because media_meta
	// keeps only sdmeta.MaxRawBytes of a large graph).
	From string
}

// LoadSource finds the API graph of a media: the importer's media_meta
// "prompt" row, or the file itself when that row was truncated. A media
// with only an editor workflow, or none, is comfy_graph_absent; a graph
// with missing links or cycles fails with their reason (before anything
// is queued). No ComfyUI call is made.
func LoadSource(ctx context.Context, q db.Execer, m *media.Media) (*Source, error) {
	text, ok, err := media.GetMeta(ctx, q, m.ID, metaAPIGraph)
	if err != nil {
		return nil, err
	}
	from := "meta"
	if !ok {
		if _, wf, err := media.GetMeta(ctx, q, m.ID, metaWorkflow); err != nil {
			return nil, err
		} else if wf {
			return nil, reason.Newf(CodeNoGraph, "media %d carries only ComfyUI's editor workflow, not the API graph ComfyUI runs: open it in ComfyUI and queue it from there", m.ID)
		}
		return nil, reason.Newf(CodeNoGraph, "media %d has no embedded ComfyUI workflow to regenerate from", m.ID)
	}
	if strings.HasSuffix(text, sdmeta.TruncatedMarker) {
		r, err := sdmeta.Extract(ctx, m.Path, sdmeta.Options{})
		if err != nil {
			return nil, err
		}
		if r.ComfyAPIGraph == "" {
			return nil, reason.Newf(CodeNoGraph, "the file of media %d no longer carries its ComfyUI workflow (%s): rescan it", m.ID, m.Path)
		}
		text, from = r.ComfyAPIGraph, "file"
	}
	g, err := comfy.ParseGraph(text)
	if err != nil {
		if reason.Code(err) == comfy.CodeGraphInvalid {
			// A "prompt" text chunk of another tool (plain prompt text).
			return nil, reason.Newf(CodeNoGraph, "media %d has no embedded ComfyUI API graph (its \"prompt\" metadata is not one)", m.ID)
		}
		return nil, err
	}
	if err := g.CheckStructure(); err != nil {
		return nil, err
	}
	t, err := g.Targets()
	if err != nil {
		return nil, err
	}
	return &Source{MediaID: m.ID, Graph: g, Targets: t, From: from}, nil
}

// Source is LoadSource for a media id (the detail page's check whether
// and how a media can be regenerated with ComfyUI).
func (s *Service) Source(ctx context.Context, q db.Execer, mediaID int64) (*Source, error) {
	m, err := media.Get(ctx, q, mediaID)
	if err != nil {
		return nil, err
	}
	return LoadSource(ctx, q, m)
}

// Check asks ComfyUI, within timeout, whether it can run the media's
// graph as it is: nil, or the refusal naming unknown node types
// (comfy_node_unknown) or missing models (comfy_model_missing), or why
// ComfyUI could not be asked.
func (s *Service) Check(ctx context.Context, mediaID int64, timeout time.Duration) (*Source, error) {
	if err := s.ConfigError(); err != nil {
		return nil, err
	}
	src, err := s.Source(ctx, s.DB, mediaID)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	oi, err := s.Client.ObjectInfo(cctx)
	if err != nil {
		return nil, err
	}
	return src, src.Graph.CheckServer(oi)
}
