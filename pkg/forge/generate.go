package forge

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // A1111 returns JPEG when samples_format=jpg
	_ "image/png"
	"net/http"
	"strings"

	_ "golang.org/x/image/webp" // and WebP when samples_format=webp

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// GenMode is the A1111 generation endpoint.
type GenMode string

// Generation modes.
const (
	Txt2Img GenMode = "txt2img"
	Img2Img GenMode = "img2img"
)

// Payload is the request body of /sdapi/v1/txt2img and /sdapi/v1/img2img.
// It holds only real A1111 API fields (defect 30: no "sampler", no "model",
// no "_sv_*" keys). The model is switched beforehand through
// /sdapi/v1/options. InitImages stays empty in everything Supervisor stores;
// Client.Generate attaches the image when sending.
type Payload struct {
	Prompt         string  `json:"prompt"`
	NegativePrompt string  `json:"negative_prompt"`
	Seed           int64   `json:"seed"`
	SamplerName    string  `json:"sampler_name,omitempty"`
	Scheduler      string  `json:"scheduler,omitempty"`
	Steps          int     `json:"steps"`
	CFGScale       float64 `json:"cfg_scale"`
	Width          int     `json:"width"`
	Height         int     `json:"height"`
	// BatchSize images are generated per iteration, NIter iterations run;
	// variants = BatchSize*NIter.
	BatchSize int `json:"batch_size"`
	NIter     int `json:"n_iter"`
	// DenoisingStrength is only sent for img2img.
	DenoisingStrength *float64 `json:"denoising_strength,omitempty"`
	// ResizeMode 0 = "just resize" (img2img only).
	ResizeMode *int     `json:"resize_mode,omitempty"`
	InitImages []string `json:"init_images,omitempty"`
	// SendImages must be true or the answer has no images; SaveImages false
	// keeps the server from writing files (and from adding a grid image).
	SendImages bool `json:"send_images"`
	SaveImages bool `json:"save_images"`
}

// Variants is the number of images a payload asks for.
func (p Payload) Variants() int {
	b, n := p.BatchSize, p.NIter
	if b < 1 {
		b = 1
	}
	if n < 1 {
		n = 1
	}
	return b * n
}

// WithInitImage returns a copy with init_images set to the base64 of data.
func (p Payload) WithInitImage(data []byte) Payload {
	p.InitImages = []string{base64.StdEncoding.EncodeToString(data)}
	return p
}

// Image is one decoded output image. Data is never serialised, so a Result
// can be stored as JSON without base64 blobs.
type Image struct {
	Data   []byte `json:"-"`
	Format string `json:"format"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Size   int    `json:"filesize"`
	// MD5 of Data, the hash Supervisor's media table uses.
	MD5 string `json:"md5"`
}

// Ext is the file extension for the image format.
func (im Image) Ext() string {
	switch im.Format {
	case "jpeg":
		return "jpg"
	case "":
		return "png"
	default:
		return im.Format
	}
}

// Result is a decoded generation answer.
type Result struct {
	Images []Image `json:"images"`
	// Seeds are info.all_seeds, one per image.
	Seeds []int64 `json:"all_seeds,omitempty"`
	// Infotexts are the A1111 "parameters" texts per image.
	Infotexts []string `json:"infotexts,omitempty"`
	// Info is the parsed info object (never holds base64).
	Info map[string]any `json:"info,omitempty"`
}

type genResponse struct {
	Images []string `json:"images"`
	Info   string   `json:"info"`
}

// DecodeImage decodes a base64 image as the API returns it (optionally with
// a data: URL prefix) and reads its header.
func DecodeImage(b64 string) (Image, error) {
	s := strings.TrimSpace(b64)
	if strings.HasPrefix(s, "data:") {
		if i := strings.Index(s, ","); i >= 0 {
			s = s[i+1:]
		}
	}
	data, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		// Some proxies strip padding.
		if d2, err2 := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "=")); err2 == nil {
			data, err = d2, nil
		}
	}
	if err != nil {
		return Image{}, reason.Transient(CodeInvalidResponse, fmt.Errorf("image is not base64: %w", err))
	}
	return ImageFromBytes(data)
}

// ImageFromBytes reads an encoded image's header and hashes it.
func ImageFromBytes(data []byte) (Image, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return Image{}, reason.Transient(CodeInvalidResponse, fmt.Errorf("image header: %w", err))
	}
	sum := md5.Sum(data)
	return Image{Data: data, Format: format, Width: cfg.Width, Height: cfg.Height, Size: len(data), MD5: hex.EncodeToString(sum[:])}, nil
}

// Generate runs txt2img or img2img. For img2img, init is the source image
// (or p.InitImages must already be set). The generation timeout applies; when
// ctx is cancelled or the timeout passes, an interrupt is sent so Forge does
// not keep working for nobody.
func (c *Client) Generate(ctx context.Context, mode GenMode, p Payload, init []byte) (*Result, error) {
	path := PathTxt2Img
	switch mode {
	case Txt2Img:
		p.InitImages, p.DenoisingStrength, p.ResizeMode = nil, nil, nil
	case Img2Img:
		path = PathImg2Img
		if len(init) > 0 {
			p = p.WithInitImage(init)
		}
		if len(p.InitImages) == 0 {
			return nil, reason.Newf("forge_init_image_missing", "img2img needs an init image")
		}
	default:
		return nil, reason.Newf("forge_mode_invalid", "unknown generation mode %q", mode)
	}
	p.SendImages = true
	var resp genResponse
	err := c.do(ctx, call{method: http.MethodPost, path: path, body: p, out: &resp, timeout: c.genTO})
	if err != nil {
		if code := reason.Code(err); code == CodeCancelled || code == CodeTimeout {
			c.interruptDetached(ctx)
		}
		return nil, err
	}
	return decodeResult(resp, c.TargetURL(path))
}

func decodeResult(resp genResponse, target string) (*Result, error) {
	if len(resp.Images) == 0 {
		e := reason.Transient(CodeEmptyImages, errors.New("forge answered without images"))
		e.Fields = map[string]any{"target_url": target, "http_code": http.StatusOK}
		return nil, e
	}
	r := &Result{}
	for i, b := range resp.Images {
		im, err := DecodeImage(b)
		if err != nil {
			return nil, fmt.Errorf("image %d: %w", i, err)
		}
		r.Images = append(r.Images, im)
	}
	if resp.Info != "" {
		var info map[string]any
		if json.Unmarshal([]byte(resp.Info), &info) == nil {
			r.Info = info
			if seeds, ok := info["all_seeds"].([]any); ok {
				for _, s := range seeds {
					if f, ok := s.(float64); ok {
						r.Seeds = append(r.Seeds, int64(f))
					}
				}
			}
			if its, ok := info["infotexts"].([]any); ok {
				for _, s := range its {
					if t, ok := s.(string); ok {
						r.Infotexts = append(r.Infotexts, t)
					}
				}
			}
		}
	}
	return r, nil
}

// Thresholds of CheckImage, as in the original (images at most 16 px wide
// or at most 1 KiB are failures) plus a black-frame test: an all-black
// result is the classic NaN/VAE failure the black_reset tech fix targets.
const (
	minImageSide  = 16
	minImageBytes = 1024
	blackLimit    = 8 // max 8-bit channel value still considered black
)

// CheckImage rejects outputs that cannot be a real generation.
func CheckImage(im Image) error {
	if im.Width <= minImageSide || im.Height <= minImageSide || im.Size <= minImageBytes {
		e := reason.Newf(CodeImageTooSmall, "output image too small: %dx%d, %d bytes", im.Width, im.Height, im.Size)
		e.Kind = reason.KindTransient
		return e
	}
	img, _, err := image.Decode(bytes.NewReader(im.Data))
	if err != nil {
		return reason.Transient(CodeInvalidResponse, fmt.Errorf("decode output image: %w", err))
	}
	if isBlack(img) {
		e := reason.Newf(CodeImageBlack, "output image is black (%dx%d)", im.Width, im.Height)
		e.Kind = reason.KindTransient
		return e
	}
	return nil
}

// isBlack samples a grid of at most 64×64 pixels.
func isBlack(img image.Image) bool {
	b := img.Bounds()
	sx, sy := max(b.Dx()/64, 1), max(b.Dy()/64, 1)
	for y := b.Min.Y; y < b.Max.Y; y += sy {
		for x := b.Min.X; x < b.Max.X; x += sx {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 > blackLimit || g>>8 > blackLimit || bl>>8 > blackLimit {
				return false
			}
		}
	}
	return true
}

// Attempt is one sampler/scheduler combination of the attempt chain.
type Attempt struct {
	Sampler   string `json:"sampler_name"`
	Scheduler string `json:"scheduler,omitempty"`
}

// AttemptError records why one attempt failed.
type AttemptError struct {
	Attempt    int    `json:"attempt"`
	Sampler    string `json:"sampler_name"`
	Scheduler  string `json:"scheduler,omitempty"`
	ReasonCode string `json:"reason_code"`
	HTTPCode   int    `json:"http_code,omitempty"`
	Error      string `json:"error"`
}

// MaxAttempts bounds the sampler attempt chain.
const MaxAttempts = 4

// SamplerChain is the original's attempt chain: the requested pair, then
// DPM++ 2M/Karras, Euler a/Normal, DPM++ SDE/Karras, deduplicated
// (case-insensitively), at most MaxAttempts.
func SamplerChain(sampler, scheduler string) []Attempt {
	cands := []Attempt{{sampler, scheduler}, {"DPM++ 2M", "Karras"}, {"Euler a", "Normal"}, {"DPM++ SDE", "Karras"}}
	var out []Attempt
	seen := map[string]bool{}
	for _, a := range cands {
		if strings.TrimSpace(a.Sampler) == "" {
			continue
		}
		k := strings.ToLower(a.Sampler + "\x00" + a.Scheduler)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, a)
		if len(out) == MaxAttempts {
			break
		}
	}
	return out
}

// Outcome is the result of GenerateWithChain; it marshals without image data.
type Outcome struct {
	Result        *Result        `json:"result"`
	UsedSampler   string         `json:"used_sampler"`
	UsedScheduler string         `json:"used_scheduler,omitempty"`
	AttemptIndex  int            `json:"attempt_index"`
	AttemptChain  []Attempt      `json:"attempt_chain"`
	AttemptErrors []AttemptError `json:"attempt_errors,omitempty"`
	// Dropped lists variants rejected by CheckImage in the successful
	// attempt (e.g. one black image out of four).
	Dropped []AttemptError `json:"dropped_variants,omitempty"`
}

// attemptLocal reports whether an error belongs to this sampler attempt (a
// different sampler may succeed) rather than to the server or the job.
func attemptLocal(err error) bool {
	code := reason.Code(err)
	switch code {
	case CodeUnreachable, CodeTimeout, CodeCancelled, CodeHTTP401, CodeHTTP403, "forge_init_image_missing", "forge_mode_invalid":
		return false
	}
	return strings.HasPrefix(code, "forge_")
}

// GenerateWithChain tries the attempts in order until one returns at least
// one image passing CheckImage. Server-level failures (down, timeout, auth,
// cancel) end the chain at once. When every attempt fails the error is
// forge_all_attempts_failed with Fields attempt_chain and attempt_errors.
func (c *Client) GenerateWithChain(ctx context.Context, mode GenMode, p Payload, init []byte, chain []Attempt) (Outcome, error) {
	if len(chain) == 0 {
		chain = SamplerChain(p.SamplerName, p.Scheduler)
	}
	if len(chain) == 0 {
		chain = []Attempt{{Sampler: p.SamplerName, Scheduler: p.Scheduler}}
	}
	out := Outcome{AttemptChain: chain}
	allPermanent := true
	for i, a := range chain {
		q := p
		q.SamplerName, q.Scheduler = a.Sampler, a.Scheduler
		res, err := c.Generate(ctx, mode, q, init)
		if err == nil {
			var good []Image
			var seeds []int64
			var dropped []AttemptError
			for j, im := range res.Images {
				if cerr := CheckImage(im); cerr != nil {
					dropped = append(dropped, attemptErr(i+1, a, cerr))
					err = cerr
					continue
				}
				good = append(good, im)
				if j < len(res.Seeds) {
					seeds = append(seeds, res.Seeds[j])
				}
			}
			if len(good) > 0 {
				res.Images = good
				if len(seeds) == len(good) {
					res.Seeds = seeds
				}
				out.Result, out.UsedSampler, out.UsedScheduler, out.AttemptIndex, out.Dropped = res, a.Sampler, a.Scheduler, i+1, dropped
				return out, nil
			}
		}
		out.AttemptErrors = append(out.AttemptErrors, attemptErr(i+1, a, err))
		if !reason.IsPermanent(err) {
			allPermanent = false
		}
		if !attemptLocal(err) {
			return out, err
		}
	}
	e := reason.Newf(CodeAllAttemptsFail, "forge request failed for all %d sampler attempts", len(chain))
	if !allPermanent {
		e.Kind = reason.KindTransient
	}
	e.Fields = map[string]any{"attempt_chain": chain, "attempt_errors": out.AttemptErrors}
	return out, e
}

func attemptErr(n int, a Attempt, err error) AttemptError {
	ae := AttemptError{Attempt: n, Sampler: a.Sampler, Scheduler: a.Scheduler, ReasonCode: reason.CodeOr(err, "forge_error"), Error: reason.Truncate(err.Error(), 240)}
	if f := reason.FieldsOf(err); f != nil {
		if h, ok := f["http_code"].(int); ok {
			ae.HTTPCode = h
		}
	}
	return ae
}

// UpscaleRequest is the input of UpscaleImage.
type UpscaleRequest struct {
	// Image is the encoded source image.
	Image []byte
	// Upscaler is upscaler_1 (e.g. "R-ESRGAN 4x+"); default UpscalerDefault.
	Upscaler string
	// Factor scales by a factor (resize_mode 0) when Width/Height are zero.
	Factor float64
	// Width and Height request an exact size (resize_mode 1).
	Width, Height int
}

type extraSingleRequest struct {
	ResizeMode                int     `json:"resize_mode"`
	ShowExtrasResults         bool    `json:"show_extras_results"`
	GfpganVisibility          float64 `json:"gfpgan_visibility"`
	CodeformerVisibility      float64 `json:"codeformer_visibility"`
	CodeformerWeight          float64 `json:"codeformer_weight"`
	UpscalingResize           float64 `json:"upscaling_resize"`
	UpscalingResizeW          int     `json:"upscaling_resize_w"`
	UpscalingResizeH          int     `json:"upscaling_resize_h"`
	UpscalingCrop             bool    `json:"upscaling_crop"`
	Upscaler1                 string  `json:"upscaler_1"`
	Upscaler2                 string  `json:"upscaler_2"`
	ExtrasUpscaler2Visibility float64 `json:"extras_upscaler_2_visibility"`
	UpscaleFirst              bool    `json:"upscale_first"`
	Image                     string  `json:"image"`
}

// UpscaleImage calls POST /sdapi/v1/extra-single-image.
func (c *Client) UpscaleImage(ctx context.Context, r UpscaleRequest) (Image, error) {
	if len(r.Image) == 0 {
		return Image{}, reason.New("forge_upscale_input_missing", "upscale needs an image")
	}
	body := extraSingleRequest{
		UpscalingResize: r.Factor,
		UpscalingCrop:   true,
		Upscaler1:       r.Upscaler,
		Upscaler2:       "None",
		Image:           base64.StdEncoding.EncodeToString(r.Image),
	}
	if body.Upscaler1 == "" {
		body.Upscaler1 = UpscalerDefault
	}
	if body.UpscalingResize <= 0 {
		body.UpscalingResize = 2
	}
	if r.Width > 0 && r.Height > 0 {
		body.ResizeMode, body.UpscalingResizeW, body.UpscalingResizeH = 1, r.Width, r.Height
	}
	var resp struct {
		HTMLInfo string `json:"html_info"`
		Image    string `json:"image"`
	}
	if err := c.do(ctx, call{method: http.MethodPost, path: PathExtraSingle, body: body, out: &resp, timeout: c.genTO}); err != nil {
		if reason.Code(err) == CodeCancelled || reason.Code(err) == CodeTimeout {
			c.interruptDetached(ctx)
		}
		return Image{}, err
	}
	if resp.Image == "" {
		e := reason.Transient(CodeEmptyImages, errors.New("extra-single-image answered without image"))
		e.Fields = map[string]any{"target_url": c.TargetURL(PathExtraSingle), "http_code": http.StatusOK}
		return Image{}, e
	}
	return DecodeImage(resp.Image)
}
