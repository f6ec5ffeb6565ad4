package comfy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/comfy"
	"github.com/localsupervisor/supervisor/pkg/comfy/comfytest"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/sdmeta"
)

func client(t *testing.T, fake *comfytest.Server) *comfy.Client {
	t.Helper()
	c, err := comfy.New(fake.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func graph(t *testing.T) comfy.Graph {
	t.Helper()
	g, err := comfy.ParseGraph(comfytest.Graph)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestRunProducesImageWithSubmittedGraph(t *testing.T) {
	fake := comfytest.Start(t, comfytest.Options{})
	c := client(t, fake)
	var stages []string
	res, err := c.Run(context.Background(), graph(t), comfy.RunOptions{ClientID: "sv-test", PollInterval: time.Millisecond,
		OnStage: func(s string) { stages = append(stages, s) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 1 || res.Images[0].Type != "output" {
		t.Fatalf("images %+v", res.Images)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(res.Images[0].Data))
	if err != nil || cfg.Width != 256 || cfg.Height != 256 {
		t.Fatalf("png %+v %v", cfg, err)
	}
	// The output carries the graph like SaveImage: the importer reads it back.
	r, err := sdmeta.ExtractBytes(context.Background(), res.Images[0].Data, "x.png", sdmeta.Options{})
	if err != nil || r.Format != sdmeta.FormatComfyUI || !strings.Contains(r.Prompt, "purple galaxy bottle") {
		t.Fatalf("extract %+v %v", r.Format, err)
	}
	if len(fake.Submitted()) != 1 {
		t.Fatalf("submitted %d", len(fake.Submitted()))
	}
	var body map[string]any
	_ = json.Unmarshal(fake.RequestsTo(comfy.PathPrompt)[0].Body, &body)
	if body["client_id"] != "sv-test" {
		t.Fatalf("client_id %v", body["client_id"])
	}
	if stages[0] != comfy.StageValidate || stages[len(stages)-1] != comfy.StageFetch {
		t.Fatalf("stages %v", stages)
	}
}

func TestRunFaults(t *testing.T) {
	tests := []struct {
		name      string
		fault     comfytest.Fault
		paths     []string
		wantCode  string
		transient bool
	}{
		{"down", comfytest.FaultDown, nil, comfy.CodeUnreachable, true},
		{"slow", comfytest.FaultSlow, nil, comfy.CodeTimeout, true},
		{"404", comfytest.FaultNotFound, nil, comfy.CodeHTTPStatus, false},
		{"500", comfytest.FaultServerError, nil, comfy.CodeHTTPStatus, true},
		{"garbage", comfytest.FaultGarbage, nil, comfy.CodeInvalidResponse, false},
		{"500 on history", comfytest.FaultServerError, []string{comfy.PathHistory}, comfy.CodeHTTPStatus, true},
		{"garbage on view", comfytest.FaultGarbage, []string{comfy.PathView}, "", false},
		{"down on submit", comfytest.FaultDown, []string{comfy.PathPrompt}, comfy.CodeUnreachable, true},
		{"exec error", comfytest.FaultExecError, nil, comfy.CodeExecutionFailed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := comfytest.Start(t, comfytest.Options{SlowDelay: 5 * time.Second})
			fake.SetFault(tt.fault, tt.paths...)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			_, err := client(t, fake).Run(ctx, graph(t), comfy.RunOptions{PollInterval: time.Millisecond})
			if tt.wantCode == "" {
				// /view answering HTML is still bytes: the caller's image
				// decoding refuses it (forgejob's output step).
				if err != nil {
					t.Fatalf("err %v", err)
				}
				return
			}
			if got := reason.Code(err); got != tt.wantCode {
				t.Fatalf("code %q want %q (%v)", got, tt.wantCode, err)
			}
			if (reason.KindOf(err) == reason.KindTransient) != tt.transient {
				t.Fatalf("kind %v (%v)", reason.KindOf(err), err)
			}
		})
	}
}

func TestRunTimeoutCancelsPrompt(t *testing.T) {
	fake := comfytest.Start(t, comfytest.Options{})
	fake.Hold()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := client(t, fake).Run(ctx, graph(t), comfy.RunOptions{PollInterval: 5 * time.Millisecond})
	if reason.Code(err) != comfy.CodeTimeout {
		t.Fatalf("err %v", err)
	}
	if len(fake.RequestsTo(comfy.PathInterrupt)) != 1 {
		t.Fatalf("no interrupt sent: %v", fake.Requests())
	}
	var body map[string]string
	_ = json.Unmarshal(fake.RequestsTo(comfy.PathInterrupt)[0].Body, &body)
	if body["prompt_id"] == "" {
		t.Fatalf("interrupt body %v", body)
	}
}

func TestCancelDeletesPending(t *testing.T) {
	fake := comfytest.Start(t, comfytest.Options{})
	fake.Hold()
	c := client(t, fake)
	ctx := context.Background()
	body, _ := graph(t).JSON()
	first, err := c.Submit(ctx, body, "a")
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Submit(ctx, body, "a")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Cancel(ctx, second.PromptID); err != nil {
		t.Fatal(err)
	}
	q, err := c.Queue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if q.Has(second.PromptID) || !q.Has(first.PromptID) {
		t.Fatalf("queue %+v", q)
	}
	if len(fake.RequestsTo(comfy.PathInterrupt)) != 0 {
		t.Fatal("a pending prompt must not interrupt the running one")
	}
}

func TestSubmitRejectedNamesNodes(t *testing.T) {
	fake := comfytest.Start(t, comfytest.Options{})
	g := graph(t)
	g["4"].Inputs["ckpt_name"] = "missing.safetensors"
	body, _ := g.JSON()
	_, err := client(t, fake).Submit(context.Background(), body, "x")
	if reason.Code(err) != comfy.CodePromptRejected || !strings.Contains(err.Error(), "node 4 (CheckpointLoaderSimple)") ||
		!strings.Contains(err.Error(), "missing.safetensors") {
		t.Fatalf("err %v", err)
	}
	if reason.FieldsOf(err)["error_type"] != "prompt_outputs_failed_validation" {
		t.Fatalf("fields %v", reason.FieldsOf(err))
	}
}

func TestPromptLostIsTransient(t *testing.T) {
	fake := comfytest.Start(t, comfytest.Options{})
	fake.Hold()
	go func() {
		for fake.Running() == "" {
			time.Sleep(time.Millisecond)
		}
		fake.Restart()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := client(t, fake).Run(ctx, graph(t), comfy.RunOptions{PollInterval: time.Millisecond})
	if reason.Code(err) != comfy.CodePromptLost || reason.KindOf(err) != reason.KindTransient {
		t.Fatalf("err %v", err)
	}
}

func TestObjectInfoOptionsAndModels(t *testing.T) {
	fake := comfytest.Start(t, comfytest.Options{})
	c := client(t, fake)
	ctx := context.Background()
	oi, err := c.ObjectInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ class, input, want string }{
		{"CheckpointLoaderSimple", "ckpt_name", "sd_xl_base_1.0.safetensors"}, // [[…], {}]
		{"LoraLoader", "lora_name", "detail_tweaker.safetensors"},             // ["COMBO", {options}]
		{"VAELoader", "vae_name", "sdxl_vae.safetensors"},
		{"UpscaleModelLoader", "model_name", "4x-UltraSharp.pth"},
	} {
		opts, ok := oi.Options(tc.class, tc.input)
		if !ok || len(opts) == 0 || opts[0] != tc.want {
			t.Fatalf("%s.%s: %v %v", tc.class, tc.input, opts, ok)
		}
	}
	if _, ok := oi.Options("KSampler", "seed"); ok {
		t.Fatal("INT input is not a combo")
	}
	names, ok, err := c.Models(ctx, "loras")
	if err != nil || !ok || len(names) != 1 {
		t.Fatalf("models %v %v %v", names, ok, err)
	}
	if _, ok, err := c.Models(ctx, "nope"); ok || err != nil {
		t.Fatalf("absent folder: %v %v", ok, err)
	}
}

func TestRunCancelledContext(t *testing.T) {
	fake := comfytest.Start(t, comfytest.Options{})
	fake.Hold()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for fake.Running() == "" {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := client(t, fake).Run(ctx, graph(t), comfy.RunOptions{PollInterval: time.Millisecond})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	if len(fake.RequestsTo(comfy.PathInterrupt)) != 1 {
		t.Fatal("cancel must interrupt the running prompt")
	}
}

func TestRunCallTimeoutCancelsPrompt(t *testing.T) {
	// /history hangs while the generation time is far from used up: the
	// one request times out (comfyui.timeout) and the prompt is taken out
	// of ComfyUI, since a retry submits it anew.
	fake := comfytest.Start(t, comfytest.Options{SlowDelay: 10 * time.Second})
	fake.Hold()
	fake.SetFault(comfytest.FaultSlow, comfy.PathHistory)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := client(t, fake).Run(ctx, graph(t), comfy.RunOptions{PollInterval: time.Millisecond, CallTimeout: 100 * time.Millisecond})
	if reason.Code(err) != comfy.CodeTimeout || reason.KindOf(err) != reason.KindTransient {
		t.Fatalf("err %v", err)
	}
	if len(fake.RequestsTo(comfy.PathInterrupt)) != 1 {
		t.Fatal("the running prompt was not interrupted")
	}
}
