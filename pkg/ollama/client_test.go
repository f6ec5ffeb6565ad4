package ollama_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/ollama"
	"github.com/localsupervisor/supervisor/pkg/ollama/ollamatest"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// sleepRecorder records backoff sleeps instead of sleeping.
type sleepRecorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (r *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waits = append(r.waits, d)
	return ctx.Err()
}

func newFake(t *testing.T) *ollamatest.Server {
	t.Helper()
	s := ollamatest.New()
	t.Cleanup(s.Close)
	return s
}

func testConfig(url string) ollama.Config {
	cfg := ollama.DefaultConfig()
	cfg.BaseURL = url
	cfg.Retry.BackoffMS = 100
	cfg.TimeoutMSText = 2000
	cfg.TimeoutMSVision = 2000
	cfg.HealthTimeoutMS = 500
	return cfg
}

func newClient(t *testing.T, s *ollamatest.Server, mut ...func(*ollama.Config)) (*ollama.Client, *sleepRecorder) {
	t.Helper()
	cfg := testConfig(s.URL)
	for _, m := range mut {
		m(&cfg)
	}
	rec := &sleepRecorder{}
	return ollama.New(cfg, &http.Client{}, ollama.WithSleep(rec.sleep)), rec
}

func TestGeneratePayloadIsClean(t *testing.T) {
	s := newFake(t)
	c, _ := newClient(t, s, func(c *ollama.Config) { c.KeepAlive = "10m"; c.Options = map[string]any{"num_ctx": 4096, "model": "x"} })
	_, err := c.Generate(context.Background(), ollama.GenerateRequest{Mode: ollama.ModeCaption, Model: "llava",
		Prompt: "describe", Images: [][]byte{[]byte("\x89PNGfake")}, Format: ollama.Schema(ollama.ModeCaption),
		Options: map[string]any{"temperature": 0.9}})
	if err != nil {
		t.Fatal(err)
	}
	reqs := s.RequestsTo("/api/generate")
	if len(reqs) != 1 {
		t.Fatalf("requests = %d", len(reqs))
	}
	js := reqs[0].JSON
	if js["stream"] != false || js["model"] != "llava" || js["keep_alive"] != "10m" {
		t.Errorf("payload top level wrong: %v", js)
	}
	if _, ok := js["system"]; ok {
		t.Error("empty system must be omitted")
	}
	opts := js["options"].(map[string]any)
	if _, ok := opts["model"]; ok {
		t.Error("model must not be inside options")
	}
	if opts["temperature"] != 0.0 || opts["seed"] != 42.0 || opts["num_ctx"] != 4096.0 {
		t.Errorf("deterministic options not applied: %v", opts)
	}
	if imgs := js["images"].([]any); imgs[0] != "iVBOR2Zha2U=" {
		t.Errorf("image must be raw base64, got %v", imgs[0])
	}
	if f, ok := js["format"].(map[string]any); !ok || f["type"] != "object" {
		t.Errorf("format must be a schema object, got %v", js["format"])
	}
	for k, v := range js {
		if v == nil {
			t.Errorf("null value for %s", k)
		}
	}
}

func TestFaultCodes(t *testing.T) {
	cases := []struct {
		fault ollamatest.Fault
		code  string
		kind  reason.Kind
		tries int
	}{
		{ollamatest.FaultBadRequest, ollama.CodeHTTP400, reason.KindPermanent, 1},
		{ollamatest.FaultModelMissing, ollama.CodeHTTP404Model, reason.KindPermanent, 1},
		{ollamatest.FaultServerError, ollama.CodeHTTP5xx, reason.KindTransient, 1},
		{ollamatest.FaultUnavailable, ollama.CodeHTTP5xx, reason.KindTransient, 3},
		{ollamatest.FaultNonJSONBody, ollama.CodeInvalidJSON, reason.KindTransient, 1},
		{ollamatest.FaultReset, ollama.CodeOllamaDown, reason.KindTransient, 3},
		{ollamatest.FaultHang, ollama.CodeTimeout, reason.KindTransient, 1},
	}
	for _, tc := range cases {
		t.Run(string(tc.fault), func(t *testing.T) {
			s := newFake(t)
			s.SetFault(tc.fault, -1, "")
			c, _ := newClient(t, s)
			_, err := c.Generate(context.Background(), ollama.GenerateRequest{Model: "llava", Prompt: "x", Timeout: 150 * time.Millisecond})
			if got := reason.Code(err); got != tc.code {
				t.Fatalf("code = %q (%v), want %q", got, err, tc.code)
			}
			if reason.KindOf(err) != tc.kind {
				t.Errorf("kind = %v, want %v", reason.KindOf(err), tc.kind)
			}
			if n := len(s.RequestsTo("/api/generate")); n != tc.tries {
				t.Errorf("attempts = %d, want %d", n, tc.tries)
			}
		})
	}
}

func TestOllamaDownRetriesWithBackoff(t *testing.T) {
	s := newFake(t)
	s.Stop()
	c, rec := newClient(t, s, func(c *ollama.Config) { c.Retry.MaxAttempts = 4; c.Retry.BackoffMS = 500; c.Retry.BackoffMSMax = 1500 })
	_, err := c.Generate(context.Background(), ollama.GenerateRequest{Model: "llava", Prompt: "x"})
	if reason.Code(err) != ollama.CodeOllamaDown || reason.KindOf(err) != reason.KindTransient {
		t.Fatalf("err = %v", err)
	}
	want := []time.Duration{500 * time.Millisecond, 1000 * time.Millisecond, 1500 * time.Millisecond}
	if len(rec.waits) != len(want) {
		t.Fatalf("waits = %v, want %v", rec.waits, want)
	}
	for i := range want {
		if rec.waits[i] != want[i] {
			t.Errorf("wait[%d] = %v, want %v", i, rec.waits[i], want[i])
		}
	}
}

func TestTransientThenSuccess(t *testing.T) {
	s := newFake(t)
	s.SetFault(ollamatest.FaultUnavailable, 2, "")
	c, rec := newClient(t, s)
	res, err := c.Generate(context.Background(), ollama.GenerateRequest{Mode: ollama.ModeTitle, Model: "llava", Prompt: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 3 || len(rec.waits) != 2 {
		t.Errorf("attempts = %d waits = %v", res.Attempts, rec.waits)
	}
	if res.Usage.InputTokens != 26 || res.Usage.OutputTokens != 290 {
		t.Errorf("usage = %+v", res.Usage)
	}
}

func TestEmbedFallsBackToLegacyEndpoint(t *testing.T) {
	s := newFake(t)
	s.SetLegacyEmbeddingsOnly(true)
	s.SetDims(16)
	c, _ := newClient(t, s)
	res, err := c.Embed(context.Background(), "nomic-embed-text", "caption: fox")
	if err != nil {
		t.Fatal(err)
	}
	if res.Endpoint != "/api/embeddings" || len(res.Embedding) != 16 {
		t.Errorf("endpoint = %s dims = %d", res.Endpoint, len(res.Embedding))
	}
	if got := s.RequestsTo("/api/embeddings")[0].JSON["prompt"]; got != "caption: fox" {
		t.Errorf("legacy payload prompt = %v", got)
	}

	// A missing model on the new endpoint must not trigger the fallback.
	s.SetLegacyEmbeddingsOnly(false)
	s.ResetRequests()
	_, err = c.Embed(context.Background(), "not-pulled", "x")
	if reason.Code(err) != ollama.CodeHTTP404Model {
		t.Fatalf("err = %v", err)
	}
	if n := len(s.RequestsTo("/api/embeddings")); n != 0 {
		t.Errorf("fallback used for a missing model (%d calls)", n)
	}
}

func TestEmbedNewEndpoint(t *testing.T) {
	s := newFake(t)
	c, _ := newClient(t, s)
	res, err := c.Embed(context.Background(), "nomic-embed-text:latest", "caption: fox")
	if err != nil {
		t.Fatal(err)
	}
	if res.Endpoint != "/api/embed" || len(res.Embedding) != 768 {
		t.Errorf("endpoint = %s dims = %d", res.Endpoint, len(res.Embedding))
	}
	if got := s.RequestsTo("/api/embed")[0].JSON["input"]; got != "caption: fox" {
		t.Errorf("input = %v", got)
	}
}

func TestVersionAndTags(t *testing.T) {
	s := newFake(t)
	s.SetModels("llava:latest", "llama3:8b", "registry.ollama.ai/library/nomic-embed-text:latest")
	c, _ := newClient(t, s)
	v, err := c.Version(context.Background())
	if err != nil || v == "" {
		t.Fatalf("version = %q, %v", v, err)
	}
	missing, err := c.MissingModels(context.Background(), []string{"llava", "LLaVA:latest", "llama3", "llama3:8b", "nomic-embed-text"})
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != 1 || missing[0] != "llama3" {
		t.Errorf("missing = %v, want [llama3]", missing)
	}
	s.Stop()
	if _, err := c.Version(context.Background()); reason.Code(err) != ollama.CodeOllamaDown {
		t.Errorf("down: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Version(context.Background()); err != nil {
		t.Errorf("after restart: %v", err)
	}
}

func TestModelMatches(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"llava", "llava:latest", true},
		{"llava:latest", "LLAVA", true},
		{"llava:7b", "llava", false},
		{"registry.ollama.ai/library/llava:latest", "llava", true},
		{"user/model", "user/model:latest", true},
		{"", "", false},
	}
	for _, tc := range cases {
		if got := ollama.ModelMatches(tc.a, tc.b); got != tc.want {
			t.Errorf("ModelMatches(%q,%q) = %v", tc.a, tc.b, got)
		}
	}
}

func TestCancelledContextStopsRetrying(t *testing.T) {
	s := newFake(t)
	s.Stop()
	c := ollama.New(testConfig(s.URL), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Generate(ctx, ollama.GenerateRequest{Model: "llava", Prompt: "x"})
	if err == nil {
		t.Fatal("want error")
	}
	_ = json.Valid
}
