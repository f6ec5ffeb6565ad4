// Package selftest checks a Supervisor installation end to end in a
// throw-away folder: it creates a database, generates a PNG with A1111
// parameters and (when ffmpeg exists) an MP4, imports both through the real
// importer, checks the extracted prompt, makes thumbnails, runs the
// integrity and hash jobs' code, checks WAL mode and log-folder writability,
// reports every worker's heartbeat, and asks the configured external
// services whether they answer.
package selftest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/forge"
	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/mediaops"
	"github.com/localsupervisor/supervisor/pkg/ollama"
	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/scanner"
	"github.com/localsupervisor/supervisor/pkg/svtime"
	"github.com/localsupervisor/supervisor/pkg/thumb"
)

// Status of one check.
const (
	StatusOK      = "ok"
	StatusSkipped = "skipped" // not configured: nothing to check
	StatusMissing = "missing" // optional part unavailable (exit 2)
	StatusFail    = "fail"    // broken (exit 1)
)

// Check is one line of the report.
type Check struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// Report is the whole result.
type Report struct {
	Checks []Check `json:"checks"`
	TmpDir string  `json:"tmp_dir,omitempty"`
}

// Failed reports whether any check failed.
func (r *Report) Failed() bool { return r.count(StatusFail) > 0 }

// Degraded reports whether an optional part is missing.
func (r *Report) Degraded() bool { return r.count(StatusMissing) > 0 }

func (r *Report) count(s string) int {
	n := 0
	for _, c := range r.Checks {
		if c.Status == s {
			n++
		}
	}
	return n
}

func (r *Report) add(name, status, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, Status: status, Detail: fmt.Sprintf(format, args...)})
}

// Options configures Run.
type Options struct {
	// Config is the user's configuration: its logs folder, tools and
	// external services are checked; the library test runs elsewhere.
	Config *config.Config
	// Scanner, Forge, Ollama are the decoded module sections.
	Scanner scanner.Config
	Forge   forge.Config
	Ollama  ollama.Config
	// HTTP is used for service reachability (default: 5 s timeout).
	HTTP *http.Client
	// Keep leaves the temporary folder in place for inspection.
	Keep bool
	// Clock dates the heartbeat check (default: system clock); Fresh is
	// how old a heartbeat may be (default 180 s, jobs.fresh_seconds).
	Clock svtime.Clock
	Fresh time.Duration
}

// Prompt is what the generated PNG carries.
const Prompt = "selftest lighthouse at dawn, <lora:film:0.6>"

const parameters = Prompt + "\nNegative prompt: blurry, lowres\nSteps: 12, Sampler: Euler a, Schedule type: Karras, CFG scale: 6.5, Seed: 18446744073709551615, Size: 96x64, Model: selftest"

// Run performs every check; it never returns an error, a failing step is a
// StatusFail line.
func Run(ctx context.Context, opts Options) *Report {
	rep := &Report{}
	hc := opts.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Second}
	}
	checkLogs(rep, opts.Config.Paths.Logs)
	clock := opts.Clock
	if clock == nil {
		clock = svtime.SystemClock{}
	}
	rep.Checks = append(rep.Checks, Heartbeats(opts.Config.Paths.Logs, clock.Now(), opts.Fresh)...)

	tmp, err := os.MkdirTemp("", "supervisor-selftest-")
	if err != nil {
		rep.add("tmp_dir", StatusFail, "%v", err)
		return rep
	}
	if opts.Keep {
		rep.TmpDir = tmp
	} else {
		defer os.RemoveAll(tmp)
	}
	runLibrary(ctx, rep, opts, tmp)
	checkServices(ctx, rep, opts, hc)
	return rep
}

func checkLogs(rep *Report, dir string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		rep.add("logs_writable", StatusFail, "%s: %v", dir, err)
		return
	}
	f, err := os.CreateTemp(dir, ".selftest-*")
	if err != nil {
		rep.add("logs_writable", StatusFail, "%s: %v", dir, err)
		return
	}
	f.Close()
	os.Remove(f.Name())
	rep.add("logs_writable", StatusOK, "%s", dir)
}

// Heartbeats reports every worker and service that has written a
// heartbeat into logsDir, judged as /health.php judges it (lock held and
// heartbeat fresh): running is ok, a clean stop is skipped, and a stale one
// (a worker that died or hangs) is missing, which makes the run degraded
// rather than failed — the installation itself works.
func Heartbeats(logsDir string, now time.Time, fresh time.Duration) []Check {
	if fresh <= 0 {
		fresh = 180 * time.Second
	}
	files, _ := filepath.Glob(filepath.Join(logsDir, "*.heartbeat.json"))
	sort.Strings(files)
	if len(files) == 0 {
		return []Check{{Name: "heartbeats", Status: StatusSkipped, Detail: "no worker has written a heartbeat in " + logsDir}}
	}
	var out []Check
	for _, f := range files {
		svc := strings.TrimSuffix(filepath.Base(f), ".heartbeat.json")
		st := workerstate.ServiceState(logsDir, svc, now, fresh)
		c := Check{Name: "heartbeat_" + svc,
			Detail: fmt.Sprintf("%s (%s), last %s, %ds ago, pid %d", st.Status, st.ReasonCode, st.LastHeartbeatUTC, st.AgeSeconds, st.PID)}
		switch {
		case st.Running:
			c.Status = StatusOK
		case st.Status == workerstate.StatusStopped:
			c.Status = StatusSkipped
		default:
			c.Status = StatusMissing
		}
		out = append(out, c)
	}
	return out
}

func runLibrary(ctx context.Context, rep *Report, opts Options, tmp string) {
	cfg, err := config.Load(config.LoadOptions{WorkDir: tmp, Getenv: func(string) string { return "" }})
	if err != nil {
		rep.add("config_defaults", StatusFail, "%v", err)
		return
	}
	cfg.Import.Mode = "copy"
	cfg.Tools = opts.Config.Tools
	cfg.Scanner = []byte(`{"enabled":false}`)
	d, err := db.Open(ctx, db.Options{Path: cfg.DB.Path, Create: true})
	if err != nil {
		rep.add("database", StatusFail, "%v", err)
		return
	}
	defer d.Close()
	if _, err := db.Migrate(ctx, d, db.MigrateOptions{}); err != nil {
		rep.add("database", StatusFail, "migrate: %v", err)
		return
	}
	var mode string
	if err := d.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || !strings.EqualFold(mode, "wal") {
		rep.add("wal", StatusFail, "journal_mode=%q (%v)", mode, err)
	} else {
		rep.add("wal", StatusOK, "journal_mode=wal")
	}
	rep.add("database", StatusOK, "created and migrated %s", cfg.DB.Path)

	src := filepath.Join(tmp, "input")
	os.MkdirAll(src, 0o755)
	files := map[string]string{} // path -> media type
	pngPath := filepath.Join(src, "selftest.png")
	if err := os.WriteFile(pngPath, pngWithParameters(96, 64, parameters), 0o644); err != nil {
		rep.add("generate_png", StatusFail, "%v", err)
		return
	}
	files[pngPath] = "image"
	ffmpegPath, ffErr := exec.LookPath(cfg.Tools.FFmpeg)
	_, fpErr := exec.LookPath(cfg.Tools.FFprobe)
	if ffErr != nil || fpErr != nil {
		rep.add("ffmpeg", StatusMissing, "ffmpeg/ffprobe not found: video import, video thumbnails and video integrity are not available")
	} else {
		mp4 := filepath.Join(src, "selftest.mp4")
		cmd := exec.CommandContext(ctx, ffmpegPath, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=128x72:rate=10",
			"-t", "1", "-pix_fmt", "yuv420p", "-metadata", "comment="+parameters, "-y", mp4)
		if out, err := cmd.CombinedOutput(); err != nil {
			rep.add("ffmpeg", StatusFail, "generate mp4: %v %s", err, bytes.TrimSpace(out))
		} else {
			rep.add("ffmpeg", StatusOK, "%s", ffmpegPath)
			files[mp4] = "video"
		}
	}

	clock := svtime.SystemClock{}
	setup, err := scan.FromConfig(cfg, d, clock, nil)
	if err != nil {
		rep.add("import", StatusFail, "%v", err)
		return
	}
	ops, err := mediaops.FromConfig(cfg, d, clock, nil)
	if err != nil {
		rep.add("media_ops", StatusFail, "%v", err)
		return
	}
	th, err := thumb.New(thumb.Options{CacheDir: cfg.Paths.ThumbCache, MaxPixels: cfg.Import.MaxPixels,
		FFmpeg: &probe.FFmpeg{Path: cfg.Tools.FFmpeg, Probe: &probe.FFprobe{Path: cfg.Tools.FFprobe}}})
	if err != nil {
		rep.add("thumbnails", StatusFail, "%v", err)
		return
	}
	for path, typ := range files {
		name := "import_" + typ
		out, err := setup.Importer.ImportFile(ctx, path)
		if err != nil || out.MediaID == 0 {
			rep.add(name, StatusFail, "%s: status=%s code=%s err=%v", filepath.Base(path), out.Status, out.Code, err)
			continue
		}
		rep.add(name, StatusOK, "media %d (%s)", out.MediaID, out.Status)
		m, err := media.Get(ctx, d, out.MediaID)
		if err != nil {
			rep.add(name, StatusFail, "read back: %v", err)
			continue
		}
		if _, p, err := media.CurrentPrompt(ctx, d, out.MediaID); err != nil || p.Prompt != Prompt {
			rep.add("metadata_"+typ, StatusFail, "prompt %q (%v), want %q", p.Prompt, err, Prompt)
		} else {
			rep.add("metadata_"+typ, StatusOK, "prompt, sampler %q, steps read", p.Sampler)
		}
		st, _ := os.Stat(m.Path)
		src := thumb.Source{MediaID: m.ID, Path: m.Path, Type: m.Type, Size: 256}
		if st != nil {
			src.ModTime, src.FileSize = st.ModTime(), st.Size()
		}
		if p, ct, err := th.Get(ctx, src); err != nil {
			rep.add("thumbnail_"+typ, StatusFail, "%v", err)
		} else {
			rep.add("thumbnail_"+typ, StatusOK, "%s (%s)", filepath.Base(p), ct)
		}
		if r, err := ops.CheckMedia(ctx, m.ID, nil); err != nil || !r.OK {
			rep.add("integrity_"+typ, StatusFail, "%+v %v", r.Integrity, err)
		} else {
			rep.add("integrity_"+typ, StatusOK, "file is intact")
		}
		if r, err := ops.HashMedia(ctx, m.ID, nil); err != nil || len(r.SHA256) != 64 || r.Mismatch {
			rep.add("hash_"+typ, StatusFail, "%+v %v", r, err)
		} else {
			rep.add("hash_"+typ, StatusOK, "sha256 %s…", r.SHA256[:12])
		}
	}
}

func checkServices(ctx context.Context, rep *Report, opts Options, hc *http.Client) {
	sc := opts.Scanner
	switch {
	case !sc.Enabled:
		rep.add("scanner", StatusSkipped, "scanner.enabled is false")
	case sc.ValidateAt(opts.Config.ConfigPath) != nil:
		rep.add("scanner", StatusFail, "%v", sc.ValidateAt(opts.Config.ConfigPath))
	default:
		// Any HTTP answer means the tagger process is up; the image endpoint
		// itself needs an upload, which selftest does not send.
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(sc.BaseURL, "/")+"/", nil)
		if resp, err := hc.Do(req); err != nil {
			rep.add("scanner", StatusMissing, "%s unreachable: %v", sc.BaseURL, err)
		} else {
			resp.Body.Close()
			rep.add("scanner", StatusOK, "%s answered HTTP %d", sc.BaseURL, resp.StatusCode)
		}
	}
	fc := opts.Forge
	if fc.Enabled == nil || !*fc.Enabled {
		rep.add("forge", StatusSkipped, "forge.enabled is false")
	} else if err := fc.Validate(false); err != nil {
		rep.add("forge", StatusFail, "%v", err)
	} else if cl, err := forge.NewClientFromConfig(&fc, hc, svtime.SystemClock{}); err != nil {
		rep.add("forge", StatusFail, "%v", err)
	} else if h, err := cl.Health(ctx); err != nil || !h.OK {
		rep.add("forge", StatusMissing, "%s: %s %v", h.TargetURL, h.ReasonCode, err)
	} else {
		rep.add("forge", StatusOK, "%s, model %s", h.TargetURL, h.ActiveModel)
	}
	oc := opts.Ollama
	if !oc.Enabled {
		rep.add("ollama", StatusSkipped, "ollama.enabled is false")
	} else if err := oc.Validate(); err != nil {
		rep.add("ollama", StatusFail, "%v", err)
	} else if v, err := ollama.New(oc, hc).Version(ctx); err != nil {
		rep.add("ollama", StatusMissing, "%s: %v", oc.BaseURL, err)
	} else {
		rep.add("ollama", StatusOK, "%s version %s", oc.BaseURL, v)
	}
}

// pngWithParameters encodes a gradient PNG with an A1111 "parameters" tEXt
// chunk inserted before IEND, as the WebUI writes it.
func pngWithParameters(w, h int, params string) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, 255})
		}
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	b := buf.Bytes()
	iend := len(b) - 12
	data := append([]byte("parameters\x00"), params...)
	var chunk bytes.Buffer
	binary.Write(&chunk, binary.BigEndian, uint32(len(data)))
	crc := crc32.NewIEEE()
	chunk.WriteString("tEXt")
	crc.Write([]byte("tEXt"))
	chunk.Write(data)
	crc.Write(data)
	binary.Write(&chunk, binary.BigEndian, crc.Sum32())
	out := append([]byte{}, b[:iend]...)
	out = append(out, chunk.Bytes()...)
	return append(out, b[iend:]...)
}
