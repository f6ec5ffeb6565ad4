// Package sdmeta reads the generation metadata that AI image and video front
// ends embed in their output files: A1111/Forge/reForge/SD.Next parameter
// text (and the Forge classic/neo/EasyReforge builds), ComfyUI prompt and
// workflow graphs, NovelAI, InvokeAI, Fooocus, RuinedFooocus, SwarmUI,
// EasyDiffusion, Hugging Face Space, TensorArt, Draw Things and Civitai
// data (infotext and generator graphs), from PNG tEXt/zTXt/iTXt chunks
// (XMP packets included), JPEG EXIF/COM/XMP, WebP EXIF/XMP, A1111
// "stealth" alpha-channel info and video container tags; and it detects
// C2PA Content Credentials (PNG caBX, JPEG APP11, WebP C2PA).
//
// The package is pure Go and never touches the database; Result is shaped
// like the prompts table so that storing it is a straight copy. Every reader
// is bounded: lengths from a file are checked against caps before anything is
// allocated, and malformed input yields warnings or a typed *reason.Error,
// never a panic.
package sdmeta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// ExtractorVersion identifies the extraction logic. Store it with every
// extraction (source_metadata.extractor_version) so a rebuild can find rows
// written by an older extractor and re-extract them.
//
// 2: Forge classic/neo/EasyReforge/reForge, Civitai graphs, Hugging Face
// Space and RuinedFooocus recognised (issue #19), so files read by 1 get
// their format and fields corrected on the next rebuild.
//
// 3: prompts kept verbatim beside the trimmed form (prompt_raw),
// Stability Matrix and TensorArt recognised, model identity in one place
// (Result.ModelHash; InvokeAI v3+ model/LoRA/VAE hashes, TensorArt's model
// from generation_data).
//
// 4: Draw Things (XMP in PNG/JPEG/WebP) and C2PA Content Credentials
// recognised; XMP values kept as written.
const ExtractorVersion = 4

// Defaults for Options.
const (
	// MaxTextBytesDefault caps one text chunk / tag / EXIF value (after
	// decompression). Larger values are cut and a warning is recorded.
	MaxTextBytesDefault = 16 << 20
	// MaxRawBytes is the size above which raw blocks (media_meta values,
	// RawBlock, source_metadata.raw_parameters) are truncated with
	// TruncatedMarker appended.
	MaxRawBytes = 20000
	// TruncatedMarker is appended to a raw block cut at MaxRawBytes.
	TruncatedMarker = "\n\n[truncated]"
	// MaxStealthPixelsDefault bounds the image size the stealth decoder will
	// decode (it must decode all pixels).
	MaxStealthPixelsDefault = 64 << 20
)

// Generator formats recorded in Result.Format and source_metadata.format.
const (
	FormatNone          = "none" // no generation metadata at all
	FormatUnknown       = "unknown"
	FormatA1111         = "a1111"
	FormatForge         = "forge"
	FormatReForge       = "reforge"
	FormatSDNext        = "sdnext"
	FormatComfyUI       = "comfyui"
	FormatNovelAI       = "novelai"
	FormatInvokeAI      = "invokeai"
	FormatFooocus       = "fooocus"
	FormatSwarmUI       = "swarmui"
	FormatEasyDiffusion = "easydiffusion"
	FormatCivitai       = "civitai"
	// Forge forks tell themselves apart only by their Version string.
	FormatForgeClassic  = "forgeclassic"
	FormatForgeNeo      = "forgeneo"
	FormatEasyReForge   = "easyreforge"
	FormatRuinedFooocus = "ruinedfooocus"
	// FormatHFSpace is a Gradio + diffusers Hugging Face Space.
	FormatHFSpace = "hfspace"
	// FormatStabilityMatrix is Stability Matrix's Inference (a ComfyUI
	// front end with its own parameters-json).
	FormatStabilityMatrix = "stabilitymatrix"
	// FormatTensorArt is TensorArt: a generation_data JSON beside the
	// ComfyUI graph that ran.
	FormatTensorArt = "tensorart"
	// FormatDrawThings is Draw Things (iOS/macOS): XMP with a parameter
	// JSON in exif:UserComment.
	FormatDrawThings = "drawthings"
	// FormatC2PA is a file whose only generation trace is a C2PA Content
	// Credentials manifest (ChatGPT/OpenAI, Google Gemini, Adobe Firefly):
	// no prompt or parameters, but who made it and whether an AI model did
	// (source_metadata.c2pa). Any real parameter text wins over it.
	FormatC2PA = "c2pa"
)

// Sources of raw chunks (the media_meta source column).
const (
	SourcePNGText  = "pngtext"
	SourceEXIF     = "exif"
	SourceFFmpeg   = "ffmpeg"
	SourceRawBlock = "raw_block"
)

// Reason codes of the errors Extract returns.
const (
	CodeOpenFailed  = "meta_open_failed"
	CodeReadFailed  = "meta_read_failed"
	CodeUnsupported = "meta_unsupported_format"
	CodeCorrupt     = "meta_corrupt_file"
	CodeInternal    = "meta_internal_error"
)

// Options tune one extraction. The zero value is valid.
type Options struct {
	// Stealth enables reading A1111 "stealth pnginfo" from the alpha (or
	// RGB) least significant bits. It decodes every pixel, so it is off by
	// default and only tried when no other metadata was found.
	Stealth bool
	// StealthAuto tries stealth info only where A1111 can have put it
	// cheaply-to-tell: a PNG with an alpha channel (colour type 6 RGBA or
	// 4 gray+alpha) and no metadata at all (no text chunk, no eXIf). The
	// check needs only the chunks already walked, so RGB PNGs and PNGs
	// with text never pay the pixel decode (import.stealth_pnginfo auto).
	// Stealth, when set, wins.
	StealthAuto bool
	// MaxTextBytes caps one text value; 0 means MaxTextBytesDefault.
	MaxTextBytes int
	// MaxStealthPixels caps the pixel count decoded for stealth info;
	// 0 means MaxStealthPixelsDefault.
	MaxStealthPixels int
	// VideoTags returns the container format tags of a video (ffprobe
	// format.tags). The caller wires ffprobe; nil means videos yield no
	// metadata (a warning is recorded).
	VideoTags func(ctx context.Context, path string) (map[string]string, error)
}

// Stealth modes: import.stealth_pnginfo and meta-inspect --stealth-pnginfo.
const (
	StealthOff    = "off"
	StealthAuto   = "auto"
	StealthAlways = "always"
)

// StealthMode returns the options of a stealth mode (StealthOff, …); an
// unknown mode reads no stealth info. Import and meta-inspect share it so
// meta-inspect shows what the import stores.
func StealthMode(mode string) Options {
	return Options{Stealth: mode == StealthAlways, StealthAuto: mode == StealthAuto}
}

func (o Options) maxText() int {
	if o.MaxTextBytes <= 0 {
		return MaxTextBytesDefault
	}
	return o.MaxTextBytes
}

// wantStealth reports whether the pixel decode for stealth info is
// tried after the chunks of a file of container c were read into col.
func (o Options) wantStealth(c container, col *collector) bool {
	switch {
	case col.res.HasPrompt():
		return false
	case o.Stealth:
		return c == contPNG || c == contWebP
	case o.StealthAuto:
		// A C2PA-signed file comes from a commercial service, which never
		// writes A1111 stealth info: no pixel decode for it either.
		return c == contPNG && col.pngAlpha && !col.any() && col.c2pa == nil
	}
	return false
}

func (o Options) maxStealthPixels() int {
	if o.MaxStealthPixels <= 0 {
		return MaxStealthPixelsDefault
	}
	return o.MaxStealthPixels
}

// Chunk is one raw (source, key, value) pair destined for media_meta.
// Values longer than MaxRawBytes are already truncated with TruncatedMarker.
type Chunk struct {
	Source string `json:"source"`
	Key    string `json:"key"`
	Value  string `json:"value"`
}

// Lora is one LoRA/LyCORIS network used for a generation.
type Lora struct {
	Name string `json:"name"`
	// Weight is the (model) strength; nil when unknown.
	Weight *float64 `json:"weight,omitempty"`
	// ClipWeight is the CLIP strength where the front end records it.
	ClipWeight *float64 `json:"clip_weight,omitempty"`
	Hash       string   `json:"hash,omitempty"`
	// Source tells where it was found: prompt_tag, lora_hashes, graph,
	// metadata.
	Source string `json:"source,omitempty"`
}

// ParameterSet is the parameters of one sampler pass. ComfyUI graphs can
// have several; Result's columns are copied from the main one.
type ParameterSet struct {
	NodeID         string `json:"node_id,omitempty"`
	ClassType      string `json:"class_type,omitempty"`
	Prompt         string `json:"prompt"`
	NegativePrompt string `json:"negative_prompt"`
	// PromptRaw/NegativePromptRaw: the encoders' texts as written, joined
	// by "\n" (see Result).
	PromptRaw         string         `json:"prompt_raw,omitempty"`
	NegativePromptRaw string         `json:"negative_prompt_raw,omitempty"`
	Model             string         `json:"model,omitempty"`
	ModelHash         string         `json:"model_hash,omitempty"`
	Sampler           string         `json:"sampler,omitempty"`
	Scheduler         string         `json:"scheduler,omitempty"`
	CFGScale          *float64       `json:"cfg_scale,omitempty"`
	Steps             *int           `json:"steps,omitempty"`
	Seed              string         `json:"seed,omitempty"`
	Denoise           *float64       `json:"denoise,omitempty"`
	Width             *int           `json:"width,omitempty"`
	Height            *int           `json:"height,omitempty"`
	Loras             []Lora         `json:"loras,omitempty"`
	Controlnet        []ControlNet   `json:"controlnet,omitempty"`
	Extra             map[string]any `json:"extra,omitempty"`
}

// ControlNet is one ControlNet unit; keys are what the front end wrote
// (A1111: Module, Model, Weight, …; ComfyUI: model, strength, …).
type ControlNet map[string]any

// Result is what one extraction read. String fields are "" and pointer
// fields nil when the file does not say; storage maps those to NULL.
type Result struct {
	// Format is the detected generator (Format* constants).
	Format string `json:"format"`

	// Prompt and NegativePrompt are the display and search form
	// (CleanPrompt of the verbatim text); PromptRaw and NegativePromptRaw are
	// the text exactly as the file holds it (spaces, \n and \r\n kept) —
	// what regeneration sends and what "as written" shows.
	Prompt            string   `json:"prompt"`
	NegativePrompt    string   `json:"negative_prompt"`
	PromptRaw         string   `json:"prompt_raw"`
	NegativePromptRaw string   `json:"negative_prompt_raw"`
	Model             string   `json:"model"`
	Sampler           string   `json:"sampler"`
	CFGScale          *float64 `json:"cfg_scale"`
	Steps             *int     `json:"steps"`
	// Seed is text: seeds exceed 2^53.
	Seed      string `json:"seed"`
	Width     *int   `json:"width"`
	Height    *int   `json:"height"`
	Scheduler string `json:"scheduler"`
	// ModelHash is the checkpoint's hash as the file writes it, algorithm
	// prefix included where there is one ("blake3:…"; A1111's short
	// "c0d1994c73"). It is the one place to read it: front ends name it
	// "Model hash", "model_hash", "base_model_hash", model.hash…, and those
	// keys stay in SamplerSettings only for earlier readers.
	ModelHash string `json:"model_hash,omitempty"`
	// SamplerSettings holds every generation parameter that has no column
	// of its own (denoising strength, hires, ADetailer, clip skip, hashes…).
	SamplerSettings map[string]any `json:"sampler_settings"`
	Loras           []Lora         `json:"loras"`
	Controlnet      []ControlNet   `json:"controlnet"`
	// SourceMetadata is the source_metadata JSON object: format,
	// raw_parameters, extractor_version, source_key and, for graphs,
	// parameter_sets and main_node.
	SourceMetadata map[string]any `json:"source_metadata"`

	// ParameterSets lists every sampler pass found (ComfyUI), main first.
	ParameterSets []ParameterSet `json:"parameter_sets,omitempty"`
	// ComfyAPIGraph is the ComfyUI API graph the parameters came from,
	// whole (media_meta keeps MaxRawBytes of it): what regeneration
	// submits. Empty when the file had only an editor workflow or none.
	ComfyAPIGraph string `json:"-"`

	// RawBlock is the selected raw metadata block (≤ MaxRawBytes plus
	// marker); stored as media_meta raw_block/prompt_raw.
	RawBlock string `json:"raw_block,omitempty"`
	// Chunks are the raw (source,key,value) pairs for media_meta.
	Chunks []Chunk `json:"chunks,omitempty"`
	// Warnings are stable snake_case codes, optionally followed by ": detail".
	Warnings []string `json:"warnings"`
	// BytesRead counts the bytes read from the file (benchmarks, tests).
	BytesRead int64 `json:"bytes_read"`
	// ImageWidth/ImageHeight are the pixel dimensions from the header, when
	// the container reader saw them (PNG IHDR, WebP VP8X, JPEG SOF).
	ImageWidth  int `json:"image_width,omitempty"`
	ImageHeight int `json:"image_height,omitempty"`
}

// CleanPrompt is the display and search form of a prompt as written:
// line ends normalised to \n and surrounding white space removed. Inner
// spacing is the author's and stays.
func CleanPrompt(s string) string {
	return strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n"))
}

// settleVerbatim makes the verbatim/clean prompt pairs consistent: a
// parser either fills both or leaves the verbatim text in Prompt.
func settleVerbatim(raw, prompt *string) {
	if *raw == "" {
		*raw = *prompt
	}
	*prompt = CleanPrompt(*prompt)
	if *prompt == "" {
		*raw = ""
	}
}

// HasPrompt reports whether a positive prompt was found.
func (r Result) HasPrompt() bool { return strings.TrimSpace(r.Prompt) != "" }

// HasMetadata reports whether any generation metadata was recognised or
// kept raw (anything other than FormatNone).
func (r Result) HasMetadata() bool { return r.Format != "" && r.Format != FormatNone }

func (r *Result) warn(code string, detail ...any) {
	if len(r.Warnings) >= 64 {
		return // a hostile file must not grow the list without bound
	}
	w := code
	if len(detail) > 0 {
		w += ": " + reason.Truncate(fmt.Sprint(detail...), 200)
	}
	for _, e := range r.Warnings {
		if e == w {
			return
		}
	}
	r.Warnings = append(r.Warnings, w)
}

// kind of container.
type container int

const (
	contUnknown container = iota
	contPNG
	contJPEG
	contWebP
	contVideo
)

func sniff(head []byte, name string) container {
	switch {
	case bytes.HasPrefix(head, pngSig):
		return contPNG
	case len(head) >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF:
		return contJPEG
	case len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return contWebP
	case len(head) >= 12 && string(head[4:8]) == "ftyp",
		len(head) >= 4 && bytes.Equal(head[:4], []byte{0x1A, 0x45, 0xDF, 0xA3}), // EBML: mkv/webm
		len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:11]) == "AVI",
		len(head) >= 4 && string(head[:4]) == "OggS":
		return contVideo
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi", ".gif":
		return contVideo
	}
	return contUnknown
}

// Extract reads the generation metadata of the file at path. It returns a
// *reason.Error when the file cannot be opened or is not a supported
// container; damaged metadata inside a readable file gives a partial Result
// with Warnings instead.
func Extract(ctx context.Context, path string, opts Options) (Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return Result{Format: FormatNone}, reason.Wrap(fmt.Errorf("open %s: %w", path, err), CodeOpenFailed, reason.KindPermanent)
	}
	defer f.Close()
	return extract(ctx, f, path, opts)
}

// ExtractReader is Extract over an already open file. name is used for the
// video tag callback and as an extension hint only.
func ExtractReader(ctx context.Context, r io.ReadSeeker, name string, opts Options) (Result, error) {
	return extract(ctx, r, name, opts)
}

// ExtractBytes is Extract over an in-memory file.
func ExtractBytes(ctx context.Context, data []byte, name string, opts Options) (Result, error) {
	return extract(ctx, bytes.NewReader(data), name, opts)
}

func extract(ctx context.Context, rs io.ReadSeeker, name string, opts Options) (res Result, err error) {
	// Last-resort guard: a bug in a parser must cost one file, not the
	// worker. The partial result is kept.
	defer func() {
		if p := recover(); p != nil {
			res.warn("internal_panic", p)
			err = reason.Newf(CodeInternal, "metadata extraction panicked: %v", p)
		}
	}()
	cr := &countingReader{r: rs}
	res.Format = FormatNone
	head := make([]byte, 16)
	n, rerr := io.ReadFull(cr, head)
	if n == 0 {
		if rerr == nil || errors.Is(rerr, io.EOF) {
			return res, reason.New(CodeCorrupt, "empty file")
		}
		return res, reason.Wrap(fmt.Errorf("read %s: %w", name, rerr), CodeReadFailed, reason.KindTransient)
	}
	head = head[:n]
	if _, err := cr.Seek(0, io.SeekStart); err != nil {
		return res, reason.Wrap(fmt.Errorf("seek %s: %w", name, err), CodeReadFailed, reason.KindTransient)
	}
	c := sniff(head, name)
	col := &collector{res: &res, opts: opts}
	switch c {
	case contPNG:
		err = readPNG(ctx, cr, col)
	case contJPEG:
		err = readJPEG(ctx, cr, col)
	case contWebP:
		err = readWebP(ctx, cr, col)
	case contVideo:
		err = readVideo(ctx, name, col)
	default:
		res.BytesRead = cr.n
		return res, reason.Newf(CodeUnsupported, "not a PNG, JPEG, WebP or video file")
	}
	if err != nil && !col.any() {
		res.BytesRead = cr.n
		return res, err
	}
	if err != nil {
		res.warn("container_damaged", err)
	}
	interpret(col)
	if opts.wantStealth(c, col) {
		if _, serr := cr.Seek(0, io.SeekStart); serr == nil {
			readStealth(ctx, cr, c, col)
		}
	}
	res.BytesRead = cr.n
	if res.Warnings == nil {
		res.Warnings = []string{}
	}
	return res, nil
}

// countingReader counts bytes read so benchmarks can report bytes/file.
type countingReader struct {
	r io.ReadSeeker
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) Seek(off int64, whence int) (int64, error) {
	return c.r.Seek(off, whence)
}
