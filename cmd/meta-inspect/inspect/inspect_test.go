package inspect

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/svtest"
)

func TestRun(t *testing.T) {
	dir := svtest.SharedFixtures(t)
	duck := filepath.Join(dir, "sd_a1111", "sdparsers_automatic1111_cropped.png")
	bad := filepath.Join(dir, "corrupt", "derived_text_named.jpg")
	cases := []struct {
		name  string
		args  []string
		code  int
		lines int
	}{
		{"json after files", []string{"meta-inspect", duck, "--json"}, 0, 1},
		{"unreadable file", []string{"meta-inspect", "--json", duck, bad}, 1, 2},
		{"missing file", []string{"meta-inspect", "--json", filepath.Join(dir, "nope.png")}, 1, 1},
		{"no files", []string{"meta-inspect"}, 2, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := Run(context.Background(), c.args, &out, &errb); code != c.code {
				t.Fatalf("exit %d, want %d (stderr %s)", code, c.code, errb.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if c.lines == 0 {
				return
			}
			if len(lines) != c.lines {
				t.Fatalf("lines %d: %s", len(lines), out.String())
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
				t.Fatal(err)
			}
			// The --json contract: these keys are always there; new ones
			// may only be added.
			for _, k := range strings.Split("cfg_scale,controlnet,file,format,height,loras,model,negative_prompt,prompt,sampler,sampler_settings,scheduler,seed,steps,warnings,width,prompt_raw,negative_prompt_raw,model_hash", ",") {
				if _, ok := m[k]; !ok {
					t.Errorf("key %s missing from %v", k, m)
				}
			}
			if c.name == "json after files" && (m["prompt"] != "photo of a duck" || m["seed"] != "235284042" || m["steps"] != 15.0 || m["model_hash"] != "c0d1994c73") {
				t.Errorf("line %v", m)
			}
		})
	}
}

func TestTextOutput(t *testing.T) {
	dir := svtest.SharedFixtures(t)
	var out bytes.Buffer
	if code := Run(context.Background(), []string{"meta-inspect", filepath.Join(dir, "novelai", "sdparsers_novelai1_cropped.png")}, &out, &out); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	for _, s := range []string{"format:          novelai", "sampler:         k_euler_ancestral", "seed:            2253955223", "model_hash:      1D44365E"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("missing %q in\n%s", s, out.String())
		}
	}
}

func TestFFprobeTags(t *testing.T) {
	bin := svtest.RequireTool(t, "ffprobe")
	dir := svtest.SharedFixtures(t)
	tags, err := FFprobeTags(bin)(context.Background(), filepath.Join(dir, "video", "selfmade_vhs_comment_sample.webm"))
	if err != nil || !strings.Contains(tags["COMMENT"]+tags["comment"], "workflow") {
		t.Fatalf("tags %v err %v", tags, err)
	}
	if _, err := FFprobeTags(filepath.Join(t.TempDir(), "no-ffprobe"))(context.Background(), "x"); err == nil {
		t.Error("missing binary gave no error")
	}
}

// TestStealthModes: meta-inspect reads stealth info like the import does by
// default (auto), and off/always/--stealth choose as the config setting.
func TestStealthModes(t *testing.T) {
	file := filepath.Join(svtest.SharedFixtures(t), "sd_a1111", "sdparsers_automatic1111_stealth.png")
	for _, c := range []struct {
		args   []string
		code   int
		format string
	}{
		{nil, 0, "a1111"},
		{[]string{"--stealth-pnginfo=off"}, 0, "none"},
		{[]string{"--stealth-pnginfo=always"}, 0, "a1111"},
		{[]string{"--stealth-pnginfo=off", "--stealth"}, 0, "a1111"},
		{[]string{"--stealth-pnginfo=sometimes"}, 2, ""},
	} {
		var out, errb bytes.Buffer
		args := append(append([]string{"meta-inspect", "--json"}, c.args...), file)
		if code := Run(context.Background(), args, &out, &errb); code != c.code {
			t.Fatalf("%v: exit %d, want %d (%s)", c.args, code, c.code, errb.String())
		}
		if c.code != 0 {
			if !strings.Contains(errb.String()+out.String(), "must be off, auto or always") {
				t.Errorf("%v: no plain reason: %s %s", c.args, out.String(), errb.String())
			}
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(out.Bytes(), &m); err != nil || m["format"] != c.format {
			t.Errorf("%v: format %v (%v), want %s", c.args, m["format"], err, c.format)
		}
	}
}

// TestNewFormats: Draw Things and C2PA files (pkg/sdmeta testdata) show
// their format, fields and, for C2PA, the manifest summary.
func TestNewFormats(t *testing.T) {
	td := filepath.Join("..", "..", "..", "pkg", "sdmeta", "testdata")
	var out, errb bytes.Buffer
	args := []string{"meta-inspect", "--json", filepath.Join(td, "drawthings", "drawthings_xmp.png"), filepath.Join(td, "c2pa", "c2pa_openai.png")}
	if code := Run(context.Background(), args, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines: %s", out.String())
	}
	var dt, cp map[string]any
	if json.Unmarshal([]byte(lines[0]), &dt) != nil || json.Unmarshal([]byte(lines[1]), &cp) != nil {
		t.Fatal(out.String())
	}
	if dt["format"] != "drawthings" || dt["prompt_raw"] != "a lighthouse on a cliff, \nstorm clouds " || dt["cfg_scale"] != 5.5 || dt["c2pa"] != nil {
		t.Errorf("draw things line %v", dt)
	}
	sum, _ := cp["c2pa"].(map[string]any)
	if cp["format"] != "c2pa" || sum["vendor"] != "openai" || sum["ai_generated"] != true {
		t.Errorf("c2pa line %v", cp)
	}
	out.Reset()
	if code := Run(context.Background(), []string{"meta-inspect", filepath.Join(td, "c2pa", "c2pa_openai.png")}, &out, &out); code != 0 || !strings.Contains(out.String(), `c2pa:            {"ai_generated":true`) {
		t.Errorf("text output %s", out.String())
	}
}
