package ollama

import (
	"context"
	"fmt"
	"time"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Result is one analysed answer, ready for Store.SaveResult.
type Result struct {
	Mode  Mode
	Model string
	// Output is the validated answer of a generate mode (nil for embed).
	Output *Output
	// RawText is the model's full answer text (generate modes).
	RawText string
	// Prompt is the rendered prompt, or the embedded text for embed; it is
	// kept for trace files, never stored in the DB.
	Prompt         string
	TemplateSource string
	// ImageSource is path|path_downscaled|video_frame|video_frame_downscaled or "".
	ImageSource string
	// TagsSource is prompt_recon's normalized|db_raw.
	TagsSource string
	// TagsRaw are tags_normalize's input tags.
	TagsRaw    []string
	Usage      Usage
	Latency    time.Duration
	HTTPStatus int
	Attempts   int

	// Vector, InputHash and EmbedEndpoint are set for embed.
	Vector        []float32
	InputHash     string
	EmbedEndpoint string
}

// ParseError reports whether the result is degraded.
func (r *Result) ParseError() bool { return r.Output != nil && r.Output.ParseError }

// Analyzer runs one mode for one media: template → request → parse. It
// writes nothing; see Processor for the storing variant.
type Analyzer struct {
	cfg       Config
	client    *Client
	templates *Templates
}

// NewAnalyzer wires an analyzer. templates may be nil (embedded defaults
// overridden by cfg.PromptsDir).
func NewAnalyzer(cfg Config, client *Client, templates *Templates) *Analyzer {
	cfg = cfg.withDefaults()
	if templates == nil {
		templates = NewTemplates(cfg.PromptsDir)
	}
	return &Analyzer{cfg: cfg, client: client, templates: templates}
}

// Config returns the effective configuration.
func (a *Analyzer) Config() Config { return a.cfg }

// Run analyses in with mode m. Errors carry reason codes (see Code*
// constants); a parse_error error carries the raw answer (RawOutput).
func (a *Analyzer) Run(ctx context.Context, m Mode, in Inputs) (*Result, error) {
	if !a.cfg.Enabled {
		return nil, reason.New(CodeOllamaDisabled, "ollama is disabled in the configuration")
	}
	switch m {
	case ModeEmbed:
		return a.runEmbed(ctx, in)
	case ModeDupeHints:
		return nil, reason.New("invalid_mode", "dupe_hints is computed locally, see DupeHints")
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	tpl, err := a.templates.Load(m)
	if err != nil {
		return nil, err
	}
	vars, tagsSource, err := in.templateVars(m, a.cfg.PromptEvalFallbackSeparator)
	if err != nil {
		return nil, err
	}
	res := &Result{Mode: m, Model: a.cfg.ModelFor(m), TemplateSource: tpl.Source, TagsSource: tagsSource,
		Prompt: tpl.Render(vars)}
	if m == ModeTagsNormalize {
		res.TagsRaw = sortedTags(in.Tags)
	}
	req := GenerateRequest{Mode: m, Model: res.Model, Prompt: res.Prompt, Format: a.cfg.formatFor(m)}
	if m.RequiresImage() {
		img, src, err := a.image(in)
		if err != nil {
			return nil, err
		}
		req.Images = [][]byte{img}
		res.ImageSource = src
	}
	gr, err := a.client.Generate(ctx, req)
	if err != nil {
		return nil, err
	}
	res.Model, res.RawText, res.Usage = gr.Model, gr.Response, gr.Usage
	res.Latency, res.HTTPStatus, res.Attempts = gr.Latency, gr.HTTPStatus, gr.Attempts
	out, err := ParseOutput(m, gr.Response)
	if err != nil {
		return res, err
	}
	res.Output = out
	return res, nil
}

func (a *Analyzer) image(in Inputs) ([]byte, string, error) {
	src := in.ImageSource
	if src == "" {
		src = ImageSourcePath
	}
	if len(in.Image) == 0 {
		if in.MediaType == "video" {
			return nil, "", reason.New(CodeUnsupportedMedia, "vision modes need an image; video frames are disabled or unavailable")
		}
		return nil, "", reason.New(CodeMissingInput, "no image data")
	}
	img, down, err := FitImage(in.Image, a.cfg.MaxImageBytes, a.cfg.MaxImagePixels)
	if err != nil {
		return nil, "", err
	}
	if down {
		src += "_downscaled"
	}
	return img, src, nil
}

func (a *Analyzer) runEmbed(ctx context.Context, in Inputs) (*Result, error) {
	text := in.EmbedText()
	if text == "" {
		return nil, reason.New(CodeMissingInput, "embed needs a caption, normalised tags or a reconstructed prompt")
	}
	model := a.cfg.ModelFor(ModeEmbed)
	res := &Result{Mode: ModeEmbed, Model: model, Prompt: text,
		InputHash: InputHash(text, model, VectorKindText, EmbedVersion)}
	er, err := a.client.Embed(ctx, model, text)
	if err != nil {
		return nil, err
	}
	res.Vector, res.EmbedEndpoint = er.Embedding, er.Endpoint
	res.Latency, res.HTTPStatus, res.Attempts = er.Latency, er.HTTPStatus, er.Attempts
	return res, nil
}

// EmbedPlan returns the text, model and input hash Run would embed, so the
// caller can skip the HTTP call when an identical vector is stored.
func (a *Analyzer) EmbedPlan(in Inputs) (text, model, hash string) {
	text = in.EmbedText()
	model = a.cfg.ModelFor(ModeEmbed)
	return text, model, InputHash(text, model, VectorKindText, EmbedVersion)
}

// describe is a short label for errors and logs.
func (r *Result) describe() string { return fmt.Sprintf("%s/%s", r.Mode, r.Model) }
