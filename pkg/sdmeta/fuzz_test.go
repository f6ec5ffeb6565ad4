package sdmeta

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/svtest"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

// seedFiles adds the shared fixtures of the given folders to a corpus.
func seedFiles(f *testing.F, globs ...string) {
	for _, b := range seedInputs(f, globs...) {
		f.Add(b)
	}
}

// seedInputs reads the small shared fixtures (< 64 KiB) matching globs
// below the shared real-world fixtures (svtest.OptionalSharedFixtures: the
// fuzz targets have seeds of their own, so absent fixtures only fail under
// SV_REQUIRE_TOOLS=1).
func seedInputs(tb testing.TB, globs ...string) [][]byte {
	tb.Helper()
	root := svtest.OptionalSharedFixtures(tb)
	if root == "" {
		return nil
	}
	var out [][]byte
	for _, g := range globs {
		files, _ := filepath.Glob(filepath.Join(root, g))
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil && len(b) < 64<<10 {
				out = append(out, b)
			}
		}
	}
	return out
}

func checkResult(t *testing.T, r Result) {
	if _, err := json.Marshal(r); err != nil {
		t.Fatalf("result not marshalable: %v", err)
	}
	// The display form is always derived from the verbatim text.
	if r.Prompt != CleanPrompt(r.PromptRaw) || r.NegativePrompt != CleanPrompt(r.NegativePromptRaw) {
		t.Fatalf("prompt %q / %q not the clean form of %q / %q", r.Prompt, r.NegativePrompt, r.PromptRaw, r.NegativePromptRaw)
	}
	for _, c := range r.Chunks {
		if len(c.Value) > MaxRawBytes+len(TruncatedMarker) {
			t.Fatalf("chunk %s too long", c.Key)
		}
	}
}

func FuzzPNGChunks(f *testing.F) {
	f.Add(buildPNG(8, 8, [][]byte{tEXt("parameters", a1111Text), zTXt("prompt", `{"1":{"class_type":"KSampler","inputs":{}}}`), iTXt("Comment", "x", true)}, 10, nil))
	f.Add(buildPNG(8, 8, nil, 10, [][]byte{iTXt("parameters", "p\nSteps: 1", false)}))
	for _, doc := range []string{ruinedFooocusJSON, ruinedFooocusOld, hfSpaceJSON} {
		f.Add(buildPNG(8, 8, [][]byte{tEXt("parameters", doc)}, 10, nil))
	}
	f.Add(buildPNG(8, 8, [][]byte{tEXt("prompt", civitaiHiresGraph)}, 10, nil))
	f.Add(buildPNG(8, 8, [][]byte{tEXt("prompt", civitaiUpscaleGraph), tEXt("extraMetadata", `{"prompt":"x"}`)}, 10, nil))
	// Draw Things' XMP packet and C2PA manifests (caBX).
	f.Add(buildPNG(8, 8, [][]byte{iTXt(xmpPNGKeyword, dtXMP(dtJSON, dtDescription), false)}, 10, nil))
	f.Add(buildPNG(8, 8, [][]byte{pngtest.Chunk("caBX", c2paOpenAI), tEXt("parameters", c2paPNGText)}, 10, nil))
	f.Add(buildPNG(8, 8, [][]byte{pngtest.Chunk("caBX", c2paAdobe)}, 10, nil))
	seedFiles(f, "sd_a1111/*.png", "comfyui/*img2img*", "corrupt/gostd_*", "corrupt/pillow_broken.png", "novelai/*", "invokeai/*")
	f.Fuzz(func(t *testing.T, data []byte) {
		r, _ := ExtractBytes(context.Background(), data, "f.png", Options{MaxTextBytes: 1 << 20})
		checkResult(t, r)
	})
}

func FuzzEXIF(f *testing.F) {
	uc := append([]byte("UNICODE\x00"), utf16Bytes("a\nSteps: 2", binary.BigEndian, true)...)
	f.Add(buildTIFF(binary.LittleEndian, []tiffTag{{0x010F, 2, []byte("prompt:{}\x00")}, {0x9C9C, 1, []byte{0x41, 0, 0, 0}}}, []tiffTag{{0x9286, 7, uc}}))
	f.Add(buildTIFF(binary.BigEndian, nil, []tiffTag{{0x9286, 7, []byte("ASCII\x00\x00\x00hello")}}))
	f.Add([]byte("MM\x00\x2a\x00\x00\x00\x08\xff\xff"))
	f.Add(naiUserComment(f, binary.LittleEndian, true)) // NovelAI export envelope
	f.Fuzz(func(t *testing.T, data []byte) {
		// Through all three containers that carry EXIF.
		for _, file := range [][]byte{
			buildJPEG(jpegSeg(0xE1, append([]byte("Exif\x00\x00"), data[:min(len(data), 65000)]...))),
			buildWebP(riffChunk("EXIF", data)),
			buildPNG(8, 8, [][]byte{pngtest.Chunk("eXIf", data)}, 10, nil),
		} {
			r, _ := ExtractBytes(context.Background(), file, "f", Options{})
			checkResult(t, r)
		}
	})
}

func FuzzA1111(f *testing.F) {
	f.Add(a1111Text)
	f.Add("p\nNegative prompt: n\nSteps: 1, Civitai resources: [{\"a\":\"b,c\"}, Seed: \"x")
	f.Add("Steps: 1, Lora hashes: \"a: 1, b: 2\", ControlNet 0: \"Module: x\"")
	f.Fuzz(func(t *testing.T, s string) {
		a, _ := ParseA1111(s)
		if a.Prompt != CleanPrompt(a.PromptRaw) || a.NegativePrompt != CleanPrompt(a.NegativePromptRaw) {
			t.Fatalf("clean/raw mismatch: %+v", a)
		}
		var r Result
		applyA1111(&r, a)
		if _, err := json.Marshal(r); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzComfyWalk(f *testing.F) {
	f.Add(`{"1":{"class_type":"KSampler","inputs":{"positive":["2",0],"negative":["2",0],"model":["3",0],"latent_image":["1",0],"seed":["1",0]}},"2":{"class_type":"ConditioningCombine","inputs":{"conditioning_1":["2",0],"text":["1",0]}},"3":{"class_type":"LoraLoader","inputs":{"model":["3",0],"lora_name":"x"}}}`, false)
	f.Add(`{"nodes":[{"id":1,"type":"KSampler","widgets_values":[1,"fixed",20,7,"euler","normal",1],"inputs":[{"name":"positive","link":1}]},{"id":2,"type":"CLIPTextEncode","widgets_values":["cat"]}],"links":[[1,2,0,1,1,"CONDITIONING"]]}`, true)
	f.Add(subgraphWorkflow, true)
	f.Add(selfNestedSubgraph, true)
	f.Add(newTemplateGraph, false)
	f.Fuzz(func(t *testing.T, s string, workflow bool) {
		v, ok := decodeJSON(s)
		if !ok {
			return
		}
		var g comfyGraph
		if workflow {
			g = parseComfyWorkflow(v)
		} else {
			g = parseComfyPrompt(v)
		}
		if g == nil {
			return
		}
		if _, err := json.Marshal(walkComfy(g)); err != nil {
			t.Fatal(err)
		}
	})
}

// TestFuzzSeedsFollowSharedDir: the fuzz seeds come from the one shared
// lookup (SV_SHARED_DIR honoured), not from a path of their own.
func TestFuzzSeedsFollowSharedDir(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "fixtures", "realworld", "sd_a1111")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "only.png"), []byte("seed"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SV_SHARED_DIR", dir)
	got := seedInputs(t, "sd_a1111/*.png")
	if len(got) != 1 || string(got[0]) != "seed" {
		t.Fatalf("seeds %d (want exactly the one file under SV_SHARED_DIR)", len(got))
	}
}
