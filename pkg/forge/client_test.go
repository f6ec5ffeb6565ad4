package forge_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/forge"
	"github.com/localsupervisor/supervisor/pkg/forge/forgetest"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

type fixture struct {
	srv   *forgetest.Server
	c     *forge.Client
	clock *svtime.FixedClock
}

func setup(t *testing.T, o forgetest.Options, co forge.ClientOptions) fixture {
	t.Helper()
	srv := forgetest.New(o)
	t.Cleanup(srv.Close)
	clock := &svtime.FixedClock{T: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	co.BaseURL = srv.URL + "/"
	co.Clock = clock
	if co.HealthTimeout == 0 {
		co.HealthTimeout = 5 * time.Second
	}
	if co.GenerationTimeout == 0 {
		co.GenerationTimeout = 20 * time.Second
	}
	c, err := forge.NewClient(co)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{srv, c, clock}
}

func basePayload() forge.Payload {
	return forge.Payload{Prompt: "a red fox in snow, detailed", NegativePrompt: "blurry", Seed: 42, SamplerName: "DPM++ 2M", Scheduler: "Karras", Steps: 20, CFGScale: 6.5, Width: 64, Height: 48, BatchSize: 1, NIter: 1}
}

func TestHealthAndFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fault     forgetest.Fault
		code      string
		kind      reason.Kind
		http      int
		shortWait bool
	}{
		{forgetest.FaultNone, "", reason.KindUnknown, 200, false},
		{forgetest.FaultDown, forge.CodeUnreachable, reason.KindTransient, 0, false},
		{forgetest.FaultUnauthorized, forge.CodeHTTP401, reason.KindPermanent, 401, false},
		{forgetest.FaultForbidden, forge.CodeHTTP403, reason.KindPermanent, 403, false},
		{forgetest.FaultServerError, forge.CodeHTTP5xx, reason.KindTransient, 500, false},
		{forgetest.FaultGarbage, forge.CodeInvalidResponse, reason.KindTransient, 200, false},
		{forgetest.FaultSlow, forge.CodeTimeout, reason.KindTransient, 0, true},
	}
	for _, tc := range tests {
		t.Run(string(tc.fault)+"_"+tc.code, func(t *testing.T) {
			t.Parallel()
			co := forge.ClientOptions{}
			if tc.shortWait {
				co.HealthTimeout = 50 * time.Millisecond
			}
			f := setup(t, forgetest.Options{}, co)
			f.srv.SetFault(tc.fault)
			hr, err := f.c.Health(context.Background())
			if got := reason.Code(err); got != tc.code {
				t.Fatalf("code = %q, want %q (%v)", got, tc.code, err)
			}
			if hr.HTTPCode != tc.http {
				t.Errorf("http_code = %d, want %d", hr.HTTPCode, tc.http)
			}
			wantURL := f.srv.URL + "/sdapi/v1/options"
			if hr.TargetURL != wantURL {
				t.Errorf("target_url = %q, want %q", hr.TargetURL, wantURL)
			}
			if tc.code == "" {
				if !hr.OK || hr.ActiveModel == "" {
					t.Errorf("healthy result %+v", hr)
				}
				return
			}
			if reason.KindOf(err) != tc.kind {
				t.Errorf("kind = %v, want %v", reason.KindOf(err), tc.kind)
			}
			fl := reason.FieldsOf(err)
			if fl["target_url"] != wantURL || fl["http_code"] != tc.http {
				t.Errorf("fields = %v", fl)
			}
			if hr.ReasonCode != tc.code || hr.OK {
				t.Errorf("health result %+v", hr)
			}
		})
	}
}

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	f := setup(t, forgetest.Options{User: "sv", Pass: "secret"}, forge.ClientOptions{User: "sv", Pass: "secret"})
	if _, err := f.c.Health(context.Background()); err != nil {
		t.Fatalf("with credentials: %v", err)
	}
	bad, _ := forge.NewClient(forge.ClientOptions{BaseURL: f.srv.URL, User: "sv", Pass: "wrong"})
	_, err := bad.Health(context.Background())
	if reason.Code(err) != forge.CodeHTTP401 {
		t.Fatalf("wrong credentials: %v", err)
	}
	if got := f.srv.Requests()[0].User; got != "sv" {
		t.Errorf("recorded user %q", got)
	}
	// userinfo in the base URL must not leak into target_url.
	c2, _ := forge.NewClient(forge.ClientOptions{BaseURL: strings.Replace(f.srv.URL, "http://", "http://sv:secret@", 1)})
	if strings.Contains(c2.TargetURL(forge.PathOptions), "secret") {
		t.Fatalf("target url leaks credentials: %s", c2.TargetURL(forge.PathOptions))
	}
}

func TestModelListCache(t *testing.T) {
	t.Parallel()
	f := setup(t, forgetest.Options{}, forge.ClientOptions{ModelsTTL: 90 * time.Second, NegativeTTL: 15 * time.Second})
	ctx := context.Background()
	count := func() int { return len(f.srv.RequestsTo(forge.PathSDModels)) }

	ml, err := f.c.ModelList(ctx)
	if err != nil || ml.Source != forge.SourceLive || len(ml.Models) != 3 || count() != 1 {
		t.Fatalf("first: %+v %v calls=%d", ml, err, count())
	}
	f.clock.Advance(89 * time.Second)
	ml, _ = f.c.ModelList(ctx)
	if ml.Source != forge.SourceCache || count() != 1 {
		t.Fatalf("within TTL: source %s calls=%d", ml.Source, count())
	}
	f.clock.Advance(2 * time.Second)
	f.srv.SetFault(forgetest.FaultServerError)
	ml, err = f.c.ModelList(ctx)
	if err != nil || ml.Source != forge.SourceStaleCache || ml.Status != forge.ListHTTPError || ml.HTTPCode != 500 || len(ml.Models) != 3 || count() != 2 {
		t.Fatalf("stale: %+v %v calls=%d", ml, err, count())
	}
	// Negative cache: no new request while the failure is fresh, even
	// though the server has recovered.
	f.srv.SetFault(forgetest.FaultNone)
	f.clock.Advance(10 * time.Second)
	ml, _ = f.c.ModelList(ctx)
	if ml.Source != forge.SourceStaleCache || count() != 2 {
		t.Fatalf("negative cache: %+v calls=%d", ml, count())
	}
	f.clock.Advance(6 * time.Second)
	ml, _ = f.c.ModelList(ctx)
	if ml.Source != forge.SourceLive || ml.Status != forge.ListOK || count() != 3 {
		t.Fatalf("after negative TTL: %+v calls=%d", ml, count())
	}
}

func TestModelListNoCacheError(t *testing.T) {
	t.Parallel()
	f := setup(t, forgetest.Options{}, forge.ClientOptions{})
	f.srv.SetFault(forgetest.FaultUnauthorized)
	ml, err := f.c.ModelList(context.Background())
	if reason.Code(err) != forge.CodeHTTP401 || ml.Status != forge.ListAuthFailed || len(ml.Models) != 0 {
		t.Fatalf("%+v %v", ml, err)
	}
}

func TestEnsureCheckpoint(t *testing.T) {
	t.Parallel()
	models := forgetest.DefaultModels()
	tests := []struct {
		name      string
		requested string
		fallback  string
		fault     forgetest.Fault
		active    string
		switched  bool
		fallbackU bool
		code      string
	}{
		{"already active by name", "SDXL_FP16_waiNSFWIllustrious_v120", "", "", models[0].Title, false, false, ""},
		{"switch by model name", "ponyDiffusionV6XL", "", "", models[1].Title, true, false, ""},
		{"switch by file name", "ponyDiffusionV6XL.safetensors", "", "", models[1].Title, true, false, ""},
		{"switch by short hash", "67ab2fd8ec", "", "", models[1].Title, true, false, ""},
		{"switch by stale title with right hash", "pony_renamed.safetensors [67ab2fd8ec]", "", "", models[1].Title, true, false, ""},
		{"unknown falls back", "nope", "flux1-dev-bnb-nf4-v2", "", models[2].Title, true, true, ""},
		{"neither installed uses the loaded model", "nope", "also-nope", "", models[0].Title, false, false, ""},
		{"switch ignored", "ponyDiffusionV6XL", "flux1-dev-bnb-nf4-v2", forgetest.FaultIgnoreSwitch, models[0].Title, false, true, forge.CodeModelSwitch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, forgetest.Options{}, forge.ClientOptions{})
			f.srv.SetFault(tc.fault)
			res, err := f.c.EnsureCheckpoint(context.Background(), tc.requested, tc.fallback)
			if reason.Code(err) != tc.code {
				t.Fatalf("code %q, want %q: %v", reason.Code(err), tc.code, err)
			}
			if tc.code != "" {
				fl := reason.FieldsOf(err)
				if fl["requested_model"] != tc.requested || fl["fallback_model"] != tc.fallback {
					t.Errorf("fields %v", fl)
				}
				return
			}
			if f.srv.Active() != tc.active || res.Switched != tc.switched || res.FallbackUsed != tc.fallbackU {
				t.Fatalf("active %q switched %v fallback %v; want %q %v %v", f.srv.Active(), res.Switched, res.FallbackUsed, tc.active, tc.switched, tc.fallbackU)
			}
			for _, r := range f.srv.RequestsTo(forge.PathOptions) {
				if r.Method == http.MethodPost && !bytes.Contains(r.Body, []byte(`"sd_model_checkpoint":"`+tc.active+`"`)) {
					t.Errorf("switch sent %s, want the title", r.Body)
				}
			}
		})
	}
}

// TestEnsureCheckpointLoadedModel (issue #17 item 4): when neither the
// image's model nor the fallback is installed, the checkpoint the server
// has loaded (GET /sdapi/v1/options) is used without a switch and the
// result says so; only when that one is not in the list either does the
// job fail with forge_model_not_found.
func TestEnsureCheckpointLoadedModel(t *testing.T) {
	t.Parallel()
	models := forgetest.DefaultModels()
	f := setup(t, forgetest.Options{Models: models[1:], Active: models[1].Title}, forge.ClientOptions{})
	res, err := f.c.EnsureCheckpoint(context.Background(), "sdxl_base_1.0", forge.InternalModelFallbackDefault)
	if err != nil {
		t.Fatal(err)
	}
	want := "model sdxl_base_1.0 was not installed; used " + models[1].Title + " (loaded on the server)"
	if !res.LoadedUsed || res.Switched || res.FallbackUsed || res.Active != models[1].Title || res.MatchedBy != forge.MatchLoaded || res.Note != want {
		t.Errorf("result %+v, want the loaded %s and note %q", res, models[1].Title, want)
	}
	for _, r := range f.srv.RequestsTo(forge.PathOptions) {
		if r.Method == http.MethodPost {
			t.Errorf("switched although the loaded model was used: %s", r.Body)
		}
	}

	fb := setup(t, forgetest.Options{}, forge.ClientOptions{})
	res, err = fb.c.EnsureCheckpoint(context.Background(), "sdxl_base_1.0", models[2].ModelName)
	if err != nil || !res.FallbackUsed || res.Active != models[2].Title || !strings.Contains(res.Note, "configured fallback") {
		t.Errorf("installed fallback: %+v %v", res, err)
	}

	gone := setup(t, forgetest.Options{Models: models[1:], Active: "deleted.safetensors [0123456789]"}, forge.ClientOptions{})
	_, err = gone.c.EnsureCheckpoint(context.Background(), "sdxl_base_1.0", "also-nope")
	if reason.Code(err) != forge.CodeModelNotFound {
		t.Errorf("loaded model not installed either: %v, want %s", err, forge.CodeModelNotFound)
	}
}

func TestSamplersAndSchedulers(t *testing.T) {
	t.Parallel()
	f := setup(t, forgetest.Options{}, forge.ClientOptions{})
	ctx := context.Background()
	ss, err := f.c.Samplers(ctx)
	if err != nil || len(ss) == 0 {
		t.Fatal(ss, err)
	}
	sch, err := f.c.Schedulers(ctx)
	if err != nil || len(sch) == 0 {
		t.Fatal(sch, err)
	}
	name, sched, err := forge.ResolveSampler(ss, sch, "k_dpmpp_2m", "karras")
	if err != nil || name != "DPM++ 2M" || sched != "Karras" {
		t.Fatalf("resolve alias: %q %q %v", name, sched, err)
	}
	if _, _, err := forge.ResolveSampler(ss, sch, "Bogus", ""); reason.Code(err) != forge.CodeSamplerUnknown {
		t.Fatalf("unknown sampler: %v", err)
	}
	if _, _, err := forge.ResolveSampler(ss, sch, "Euler", "wobbly"); reason.Code(err) != forge.CodeSchedulerUnknown {
		t.Fatalf("unknown scheduler: %v", err)
	}

	old := setup(t, forgetest.Options{NoSchedulers: true}, forge.ClientOptions{})
	sch, err = old.c.Schedulers(ctx)
	if err != nil || len(sch) != 0 {
		t.Fatalf("pre-1.9 server: %v %v", sch, err)
	}
}

func decodePNGParams(t *testing.T, b []byte) string {
	t.Helper()
	// Find the tEXt chunk "parameters".
	i := bytes.Index(b, []byte("tEXtparameters\x00"))
	if i < 0 {
		t.Fatal("no parameters tEXt chunk")
	}
	n := int(b[i-4])<<24 | int(b[i-3])<<16 | int(b[i-2])<<8 | int(b[i-1])
	return string(b[i+4+len("parameters\x00") : i+4+n])
}

func TestTxt2ImgVariantsAndPayload(t *testing.T) {
	t.Parallel()
	f := setup(t, forgetest.Options{}, forge.ClientOptions{})
	p := basePayload()
	p.BatchSize, p.NIter = 2, 2
	res, err := f.c.Generate(context.Background(), forge.Txt2Img, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 4 || len(res.Seeds) != 4 || len(res.Infotexts) != 4 {
		t.Fatalf("want 4 variants, got %d images %d seeds", len(res.Images), len(res.Seeds))
	}
	for i, im := range res.Images {
		if im.Format != "png" || im.Width != 64 || im.Height != 48 || im.Size != len(im.Data) || len(im.MD5) != 32 {
			t.Errorf("image %d: %+v", i, im)
		}
		if _, err := png.Decode(bytes.NewReader(im.Data)); err != nil {
			t.Errorf("image %d not a PNG: %v", i, err)
		}
		params := decodePNGParams(t, im.Data)
		if !strings.Contains(params, "Sampler: DPM++ 2M, Schedule type: Karras") || !strings.HasPrefix(params, p.Prompt+"\nNegative prompt: blurry") {
			t.Errorf("parameters chunk: %q", params)
		}
	}
	// Result JSON carries no image data.
	b, _ := json.Marshal(res)
	if len(b) > 8000 || bytes.Contains(b, []byte("iVBOR")) {
		t.Errorf("result JSON holds image data (%d bytes)", len(b))
	}
	// The request body holds only real API keys.
	reqs := f.srv.RequestsTo(forge.PathTxt2Img)
	var body map[string]any
	_ = json.Unmarshal(reqs[0].Body, &body)
	for k := range body {
		if strings.HasPrefix(k, "_sv") || k == "sampler" || k == "model" || k == "init_images" || k == "denoising_strength" {
			t.Errorf("internal or img2img key %q in txt2img body", k)
		}
	}
	if body["sampler_name"] != "DPM++ 2M" || body["send_images"] != true {
		t.Errorf("body %v", body)
	}
}

func tinyPNG(t *testing.T) []byte {
	t.Helper()
	b, err := forgetest.EncodePNG(image.NewGray(image.Rect(0, 0, 40, 40)), "")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestImg2Img(t *testing.T) {
	t.Parallel()
	f := setup(t, forgetest.Options{}, forge.ClientOptions{})
	p := basePayload()
	d := 0.4
	p.DenoisingStrength = &d
	init := tinyPNG(t)
	if _, err := f.c.Generate(context.Background(), forge.Img2Img, p, nil); reason.Code(err) != "forge_init_image_missing" {
		t.Fatalf("missing init: %v", err)
	}
	res, err := f.c.Generate(context.Background(), forge.Img2Img, p, init)
	if err != nil || len(res.Images) != 1 {
		t.Fatal(res, err)
	}
	var body struct {
		InitImages []string `json:"init_images"`
		Denoise    float64  `json:"denoising_strength"`
	}
	_ = json.Unmarshal(f.srv.RequestsTo(forge.PathImg2Img)[0].Body, &body)
	if len(body.InitImages) != 1 || body.Denoise != 0.4 {
		t.Fatalf("body %+v", body)
	}
	if got, _ := base64.StdEncoding.DecodeString(body.InitImages[0]); !bytes.Equal(got, init) {
		t.Fatal("init image not sent verbatim")
	}
	if p.InitImages != nil {
		t.Fatal("Generate mutated the caller's payload")
	}
}

func TestGenerateFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fault forgetest.Fault
		code  string
	}{
		{forgetest.FaultEmptyImages, forge.CodeEmptyImages},
		{forgetest.FaultServerError, forge.CodeHTTP5xx},
		{forgetest.FaultDown, forge.CodeUnreachable},
		{forgetest.FaultGarbage, forge.CodeInvalidResponse},
	}
	for _, tc := range tests {
		t.Run(string(tc.fault), func(t *testing.T) {
			t.Parallel()
			f := setup(t, forgetest.Options{}, forge.ClientOptions{})
			f.srv.SetFault(tc.fault)
			_, err := f.c.Generate(context.Background(), forge.Txt2Img, basePayload(), nil)
			if reason.Code(err) != tc.code || reason.IsPermanent(err) {
				t.Fatalf("got %q (%v), want transient %q", reason.Code(err), err, tc.code)
			}
		})
	}
}

func TestUnknownSampler422(t *testing.T) {
	t.Parallel()
	for _, status := range []int{422, 404, 400} {
		f := setup(t, forgetest.Options{SamplerErrorStatus: status}, forge.ClientOptions{})
		p := basePayload()
		p.SamplerName = "DPM++ 2M Karras Turbo"
		_, err := f.c.Generate(context.Background(), forge.Txt2Img, p, nil)
		fl := reason.FieldsOf(err)
		if want := "forge_http_" + itoa(status); reason.Code(err) != want || !reason.IsPermanent(err) || fl["detail"] != "Sampler not found" || fl["http_code"] != status {
			t.Fatalf("status %d: %q %v %v", status, reason.Code(err), err, fl)
		}
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestGenerateWithChain(t *testing.T) {
	t.Parallel()
	t.Run("bad sampler falls through to the next attempt", func(t *testing.T) {
		t.Parallel()
		f := setup(t, forgetest.Options{}, forge.ClientOptions{})
		p := basePayload()
		out, err := f.c.GenerateWithChain(context.Background(), forge.Txt2Img, p, nil, forge.SamplerChain("Bogus", "Karras"))
		if err != nil {
			t.Fatal(err)
		}
		if out.AttemptIndex != 2 || out.UsedSampler != "DPM++ 2M" || len(out.AttemptErrors) != 1 || out.AttemptErrors[0].ReasonCode != forge.CodeHTTP422 {
			t.Fatalf("outcome %+v", out)
		}
	})
	t.Run("black images exhaust the chain", func(t *testing.T) {
		t.Parallel()
		f := setup(t, forgetest.Options{}, forge.ClientOptions{})
		f.srv.SetFault(forgetest.FaultBlackImage)
		out, err := f.c.GenerateWithChain(context.Background(), forge.Txt2Img, basePayload(), nil, nil)
		if reason.Code(err) != forge.CodeAllAttemptsFail || reason.IsPermanent(err) {
			t.Fatalf("err %v", err)
		}
		if len(out.AttemptErrors) != 3 || out.AttemptErrors[0].ReasonCode != forge.CodeImageBlack {
			t.Fatalf("errors %+v", out.AttemptErrors)
		}
		if fl := reason.FieldsOf(err); fl["attempt_chain"] == nil || fl["attempt_errors"] == nil {
			t.Fatalf("fields %v", fl)
		}
	})
	t.Run("tiny images are rejected", func(t *testing.T) {
		t.Parallel()
		f := setup(t, forgetest.Options{}, forge.ClientOptions{})
		f.srv.SetFault(forgetest.FaultTinyImage)
		out, err := f.c.GenerateWithChain(context.Background(), forge.Txt2Img, basePayload(), nil, []forge.Attempt{{Sampler: "Euler"}})
		if reason.Code(err) != forge.CodeAllAttemptsFail || out.AttemptErrors[0].ReasonCode != forge.CodeImageTooSmall {
			t.Fatalf("%v %+v", err, out)
		}
	})
	t.Run("server down stops at once", func(t *testing.T) {
		t.Parallel()
		f := setup(t, forgetest.Options{}, forge.ClientOptions{})
		f.srv.SetFault(forgetest.FaultDown)
		out, err := f.c.GenerateWithChain(context.Background(), forge.Txt2Img, basePayload(), nil, nil)
		if reason.Code(err) != forge.CodeUnreachable || len(out.AttemptErrors) != 1 {
			t.Fatalf("%v %+v", err, out)
		}
	})
}

func TestProgressAndCancelInterrupts(t *testing.T) {
	t.Parallel()
	f := setup(t, forgetest.Options{}, forge.ClientOptions{})
	f.srv.Hold()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		p := basePayload()
		p.NIter = 3
		_, err := f.c.Generate(ctx, forge.Txt2Img, p, nil)
		errc <- err
	}()
	<-f.srv.Started()
	pr, err := f.c.Progress(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if pr.State.JobCount != 3 || pr.State.SamplingSteps != 20 || pr.State.SamplingStep != 1 || pr.Bits(1000) != 50 {
		t.Fatalf("progress %+v bits %d", pr, pr.Bits(1000))
	}
	if q := f.srv.RequestsTo(forge.PathProgress)[0].Query; q != "skip_current_image=true" {
		t.Errorf("progress query %q", q)
	}
	cancel()
	err = <-errc
	if reason.Code(err) != forge.CodeCancelled || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel: %v", err)
	}
	if f.srv.Interrupts() != 1 {
		t.Fatalf("interrupts = %d, want 1", f.srv.Interrupts())
	}
	pr, _ = f.c.Progress(context.Background())
	if pr.State.JobCount != 0 && !pr.State.Interrupted {
		t.Fatalf("generation neither ended nor interrupted: %+v", pr)
	}
}

func TestInterruptEndsHeldGeneration(t *testing.T) {
	t.Parallel()
	f := setup(t, forgetest.Options{}, forge.ClientOptions{})
	f.srv.Hold()
	resc := make(chan *forge.Result, 1)
	go func() {
		p := basePayload()
		p.BatchSize, p.NIter = 2, 3
		res, err := f.c.Generate(context.Background(), forge.Txt2Img, p, nil)
		if err != nil {
			t.Error(err)
		}
		resc <- res
	}()
	<-f.srv.Started()
	if err := f.c.Interrupt(context.Background()); err != nil {
		t.Fatal(err)
	}
	res := <-resc
	if res == nil || len(res.Images) != 2 {
		t.Fatalf("interrupted generation should return the current batch only")
	}
}

func TestGenerationTimeoutIsSeparate(t *testing.T) {
	t.Parallel()
	// A short health timeout must not cut a long generation (defect 31);
	// the generation timeout alone applies and sends an interrupt.
	f := setup(t, forgetest.Options{}, forge.ClientOptions{HealthTimeout: time.Nanosecond, GenerationTimeout: 50 * time.Millisecond})
	f.srv.Hold()
	_, err := f.c.Generate(context.Background(), forge.Txt2Img, basePayload(), nil)
	if reason.Code(err) != forge.CodeTimeout {
		t.Fatalf("err %v", err)
	}
	// The interrupt uses the (tiny) health timeout here, so it may not
	// arrive; what matters is that the generation got its own deadline.
	f.srv.Release()
	f2 := setup(t, forgetest.Options{}, forge.ClientOptions{HealthTimeout: time.Nanosecond, GenerationTimeout: 20 * time.Second})
	if _, err := f2.c.Generate(context.Background(), forge.Txt2Img, basePayload(), nil); err != nil {
		t.Fatalf("generation limited by health timeout: %v", err)
	}
}

func TestUpscale(t *testing.T) {
	t.Parallel()
	f := setup(t, forgetest.Options{}, forge.ClientOptions{})
	im, err := f.c.UpscaleImage(context.Background(), forge.UpscaleRequest{Image: tinyPNG(t), Factor: 2})
	if err != nil || im.Width != 80 || im.Height != 80 {
		t.Fatalf("%+v %v", im, err)
	}
	im, err = f.c.UpscaleImage(context.Background(), forge.UpscaleRequest{Image: tinyPNG(t), Width: 100, Height: 60, Upscaler: "Lanczos"})
	if err != nil || im.Width != 100 || im.Height != 60 {
		t.Fatalf("%+v %v", im, err)
	}
	_, err = f.c.UpscaleImage(context.Background(), forge.UpscaleRequest{Image: tinyPNG(t), Upscaler: "SwinIR 9000"})
	if reason.Code(err) != "forge_http_400" {
		t.Fatalf("unknown upscaler: %v", err)
	}
}

func TestDecodeImageDataURL(t *testing.T) {
	t.Parallel()
	raw := tinyPNG(t)
	for _, s := range []string{
		base64.StdEncoding.EncodeToString(raw),
		"data:image/png;base64," + base64.StdEncoding.EncodeToString(raw),
		base64.RawStdEncoding.EncodeToString(raw),
	} {
		im, err := forge.DecodeImage(s)
		if err != nil || !bytes.Equal(im.Data, raw) || im.Width != 40 {
			t.Fatalf("%v %+v", err, im)
		}
	}
	if _, err := forge.DecodeImage("%%%"); reason.Code(err) != forge.CodeInvalidResponse {
		t.Fatal(err)
	}
}

func TestOutcomeAndErrorDetailHoldNoBlobs(t *testing.T) {
	t.Parallel()
	f := setup(t, forgetest.Options{}, forge.ClientOptions{})
	p := basePayload()
	p.BatchSize = 2
	out, err := f.c.GenerateWithChain(context.Background(), forge.Img2Img, p, tinyPNG(t), nil)
	if err != nil || len(out.Result.Images) != 2 {
		t.Fatal(out, err)
	}
	b, _ := json.Marshal(out)
	if bytes.Contains(b, []byte("iVBOR")) || len(b) > 10000 {
		t.Fatalf("outcome JSON holds image data: %d bytes", len(b))
	}
	f.srv.SetFault(forgetest.FaultUnauthorized)
	_, err = f.c.Health(context.Background())
	d := forge.ErrorDetail(err)
	if d["reason_code"] != forge.CodeHTTP401 || d["http_code"] != 401 || d["target_url"] != f.srv.URL+"/sdapi/v1/options" {
		t.Fatalf("detail %v", d)
	}
}
