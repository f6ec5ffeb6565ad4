// Package inspect is the testable body of the meta-inspect command.
package inspect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/sdmeta"
	"github.com/localsupervisor/supervisor/pkg/version"
)

// Line is the --json output for one file: the prompts columns plus format,
// file and warnings, with exactly these names.
type Line struct {
	File           string `json:"file"`
	Format         string `json:"format"`
	Prompt         string `json:"prompt"`
	NegativePrompt string `json:"negative_prompt"`
	// PromptRaw/NegativePromptRaw are the texts exactly as the file holds
	// them; Prompt/NegativePrompt their trimmed display and search form.
	PromptRaw         string              `json:"prompt_raw"`
	NegativePromptRaw string              `json:"negative_prompt_raw"`
	Steps             *int                `json:"steps"`
	Sampler           string              `json:"sampler"`
	Scheduler         string              `json:"scheduler"`
	CFGScale          *float64            `json:"cfg_scale"`
	Seed              string              `json:"seed"`
	Width             *int                `json:"width"`
	Height            *int                `json:"height"`
	Model             string              `json:"model"`
	ModelHash         string              `json:"model_hash"`
	Loras             []sdmeta.Lora       `json:"loras"`
	Controlnet        []sdmeta.ControlNet `json:"controlnet"`
	SamplerSettings   map[string]any      `json:"sampler_settings"`
	Warnings          []string            `json:"warnings"`
	// C2PA is the Content Credentials summary (vendor, ai_generated,
	// digital_source_type, claim_generator) when the file is signed.
	C2PA any `json:"c2pa,omitempty"`
}

// errUnreadable marks "at least one file could not be read" (exit 1).
var errUnreadable = errors.New("some files could not be read")

// Run runs the command and returns the exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := &cli.App{
		Name:      "meta-inspect",
		Usage:     "print the generation metadata (prompt, parameters) embedded in image/video files",
		Version:   version.Version,
		ArgsUsage: "FILE...",
		Writer:    stdout,
		ErrWriter: stderr,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "one JSON object per line per file"},
			&cli.StringFlag{Name: "stealth-pnginfo", Value: sdmeta.StealthAuto, Usage: "A1111 stealth info in pixel data: off, auto (RGBA PNGs without other metadata, like the import's default) or always (decodes every PNG/WebP without metadata)"},
			&cli.BoolFlag{Name: "stealth", Usage: "same as --stealth-pnginfo=always"},
			&cli.StringFlag{Name: "ffprobe", Value: "ffprobe", Usage: "ffprobe binary used to read video container tags"},
			&cli.StringFlag{Name: "config", Usage: "ignored; accepted for consistency with the other binaries"},
		},
		HideHelpCommand: true,
		// Exit codes are mapped by Run; urfave/cli must not call os.Exit.
		ExitErrHandler: func(*cli.Context, error) {},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return cli.Exit("meta-inspect: no FILE given (see --help)", 2)
			}
			mode := c.String("stealth-pnginfo")
			if c.Bool("stealth") {
				mode = sdmeta.StealthAlways
			}
			switch mode {
			case sdmeta.StealthOff, sdmeta.StealthAuto, sdmeta.StealthAlways:
			default:
				return cli.Exit(fmt.Sprintf("meta-inspect: --stealth-pnginfo %q must be off, auto or always", mode), 2)
			}
			opts := sdmeta.StealthMode(mode)
			opts.VideoTags = FFprobeTags(c.String("ffprobe"))
			failed := false
			for _, f := range c.Args().Slice() {
				res, err := sdmeta.Extract(c.Context, f, opts)
				if err != nil {
					failed = true
				}
				if c.Bool("json") {
					writeJSON(stdout, f, res, err)
				} else {
					writeText(stdout, f, res, err)
				}
			}
			if failed {
				return errUnreadable
			}
			return nil
		},
	}
	err := app.RunContext(ctx, flagsFirst(args))
	var ec cli.ExitCoder
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ec):
		fmt.Fprintln(stderr, err)
		return ec.ExitCode()
	case errors.Is(err, errUnreadable):
		return 1
	default:
		fmt.Fprintln(stderr, "meta-inspect:", err)
		return 2
	}
}

func toLine(file string, r sdmeta.Result, err error) Line {
	l := Line{
		File: file, Format: r.Format, Prompt: r.Prompt, NegativePrompt: r.NegativePrompt,
		PromptRaw: r.PromptRaw, NegativePromptRaw: r.NegativePromptRaw,
		Steps: r.Steps, Sampler: r.Sampler, Scheduler: r.Scheduler, CFGScale: r.CFGScale,
		Seed: r.Seed, Width: r.Width, Height: r.Height, Model: r.Model, ModelHash: r.ModelHash, Loras: r.Loras,
		Controlnet: r.Controlnet, SamplerSettings: r.SamplerSettings, Warnings: r.Warnings,
		C2PA: r.SourceMetadata["c2pa"],
	}
	if l.Warnings == nil {
		l.Warnings = []string{}
	}
	if err != nil {
		// The error's reason code leads the text, e.g. "meta_corrupt_file: empty file".
		l.Warnings = append(l.Warnings, err.Error())
	}
	return l
}

func writeJSON(w io.Writer, file string, r sdmeta.Result, err error) {
	b, merr := json.Marshal(toLine(file, r, err))
	if merr != nil {
		b, _ = json.Marshal(map[string]string{"file": file, "error": merr.Error()})
	}
	fmt.Fprintf(w, "%s\n", b)
}

func writeText(w io.Writer, file string, r sdmeta.Result, err error) {
	l := toLine(file, r, err)
	js := func(v any) string {
		b, _ := json.Marshal(v)
		return string(b)
	}
	ptr := func(v any) string {
		switch x := v.(type) {
		case *int:
			if x != nil {
				return fmt.Sprint(*x)
			}
		case *float64:
			if x != nil {
				return fmt.Sprint(*x)
			}
		}
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "== %s\n", file)
	rows := [][2]string{
		{"format", l.Format}, {"prompt", l.Prompt}, {"negative_prompt", l.NegativePrompt},
		{"steps", ptr(l.Steps)}, {"sampler", l.Sampler}, {"scheduler", l.Scheduler},
		{"cfg_scale", ptr(l.CFGScale)}, {"seed", l.Seed}, {"width", ptr(l.Width)}, {"height", ptr(l.Height)},
		{"model", l.Model}, {"model_hash", l.ModelHash}, {"loras", js(l.Loras)}, {"controlnet", js(l.Controlnet)},
		{"sampler_settings", js(l.SamplerSettings)}, {"warnings", strings.Join(l.Warnings, "; ")},
	}
	// The verbatim text is shown only where it differs from the trimmed
	// one, quoted so its spaces and line ends are visible.
	if l.PromptRaw != l.Prompt {
		rows = append(rows, [2]string{"prompt_raw", fmt.Sprintf("%q", l.PromptRaw)})
	}
	if l.C2PA != nil {
		rows = append(rows, [2]string{"c2pa", js(l.C2PA)})
	}
	if l.NegativePromptRaw != l.NegativePrompt {
		rows = append(rows, [2]string{"negative_raw", fmt.Sprintf("%q", l.NegativePromptRaw)})
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "%-16s %s\n", r[0]+":", strings.ReplaceAll(r[1], "\n", "\n"+strings.Repeat(" ", 17)))
	}
	io.WriteString(w, b.String())
}

// FFprobeTags returns an Options.VideoTags function that runs
// `ffprobe -v error -print_format json -show_format FILE` and returns
// format.tags.
func FFprobeTags(bin string) func(ctx context.Context, path string) (map[string]string, error) {
	return func(ctx context.Context, path string) (map[string]string, error) {
		ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "-v", "error", "-print_format", "json", "-show_format", "--", path)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			var ee *exec.Error
			if errors.As(err, &ee) {
				return nil, reason.Wrap(fmt.Errorf("run %s: %w", bin, err), "ffprobe_missing", reason.KindPermanent)
			}
			return nil, reason.Wrap(fmt.Errorf("ffprobe %s: %w: %s", path, err, reason.Truncate(strings.TrimSpace(errb.String()), 300)), "ffprobe_failed", reason.KindPermanent)
		}
		var doc struct {
			Format struct {
				Tags map[string]string `json:"tags"`
			} `json:"format"`
		}
		if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
			return nil, reason.Wrap(fmt.Errorf("ffprobe output: %w", err), "ffprobe_bad_output", reason.KindPermanent)
		}
		return doc.Format.Tags, nil
	}
}

// flagsFirst moves flags given after FILE arguments in front of them, since
// the usage is "meta-inspect FILE... [--json]" and urfave/cli stops parsing
// flags at the first argument. Everything after "--" stays a file.
func flagsFirst(args []string) []string {
	if len(args) == 0 {
		return args
	}
	out := []string{args[0]}
	var files []string
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			files = append(files, args[i+1:]...)
			break
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			out = append(out, a)
			continue
		}
		files = append(files, a)
	}
	return append(append(out, "--"), files...)
}
