package scanner_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/scanner"
	"github.com/localsupervisor/supervisor/pkg/scanner/scannertest"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

const testToken = "tok-s3cret-9f8e"

// cfgFor returns a short-timeout config for base with token auth.
func cfgFor(base string) scanner.Config {
	c := scanner.DefaultConfig()
	c.BaseURL = base
	c.Token = testToken
	c.Timeout = 2
	c.ConnectTimeout = 1
	return c
}

// writeFile creates a file of n bytes in a temp dir.
func writeFile(t *testing.T, name string, n int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidate(t *testing.T) {
	t.Parallel()
	base := scanner.DefaultConfig()
	base.BaseURL = "http://127.0.0.1:8000"
	mod := func(f func(*scanner.Config)) scanner.Config { c := base; f(&c); return c }
	cases := []struct {
		name        string
		cfg         scanner.Config
		code        string
		missing     []string
		requiredAny bool
	}{
		{"zero config is disabled", scanner.Config{}, scanner.CodeDisabled, []string{}, false},
		{"disabled", mod(func(c *scanner.Config) { c.Enabled = false; c.Token = "x" }), scanner.CodeDisabled, []string{}, false},
		{"no base url", mod(func(c *scanner.Config) { c.BaseURL = " "; c.Token = "x" }), scanner.CodeNotConfigured, []string{"scanner.base_url"}, false},
		{"base url without scheme", mod(func(c *scanner.Config) { c.BaseURL = "127.0.0.1:8000"; c.Token = "x" }), scanner.CodeNotConfigured, []string{"scanner.base_url"}, false},
		{"no credentials", base, scanner.CodeAuthMissing, []string{"scanner.token"}, true},
		{"api key without header", mod(func(c *scanner.Config) { c.APIKey = "k" }), scanner.CodeAuthMissing, []string{"scanner.api_key_header"}, true},
		{"header without key", mod(func(c *scanner.Config) { c.APIKeyHeader = "X-Key" }), scanner.CodeAuthMissing, []string{"scanner.token"}, true},
		{"token", mod(func(c *scanner.Config) { c.Token = "x" }), "", nil, false},
		{"api key", mod(func(c *scanner.Config) { c.APIKey = "k"; c.APIKeyHeader = "X-Key" }), "", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := svtest.ConfigError(t, tc.cfg.ValidateAt("/etc/sv/config.json"), tc.code, tc.missing)
			if tc.code == "" {
				return
			}
			if f["config_path"] != "/etc/sv/config.json" {
				t.Errorf("config_path = %v", f["config_path"])
			}
			if _, ok := f["required_any"]; ok != tc.requiredAny {
				t.Errorf("required_any present = %v, want %v", ok, tc.requiredAny)
			}
		})
	}
}

func TestNormalizedClamps(t *testing.T) {
	t.Parallel()
	cases := []struct{ frames, wantFrames, dim, wantDim int }{
		{0, 4, 0, 1280},
		{1, 3, 100, 1280},
		{20, 8, 256, 256},
		{5, 5, 2000, 2000},
	}
	for _, tc := range cases {
		c := scanner.Config{VideoFallbackFrames: tc.frames, VideoFallbackMaxDim: tc.dim}.Normalized()
		if c.VideoFallbackFrames != tc.wantFrames || c.VideoFallbackMaxDim != tc.wantDim {
			t.Errorf("(%d,%d) → (%d,%d), want (%d,%d)", tc.frames, tc.dim, c.VideoFallbackFrames, c.VideoFallbackMaxDim, tc.wantFrames, tc.wantDim)
		}
	}
}

// The seed: a disabled or misconfigured scanner must receive no image
// data at all — not even a request.
func TestNoRequestWhenDisabledOrMisconfigured(t *testing.T) {
	t.Parallel()
	srv := scannertest.New(t, scannertest.Options{})
	img := writeFile(t, "a.png", 100)
	cases := []struct {
		name string
		cfg  scanner.Config
		code string
	}{
		{"disabled", func() scanner.Config { c := cfgFor(srv.URL); c.Enabled = false; return c }(), scanner.CodeDisabled},
		{"no token", func() scanner.Config { c := cfgFor(srv.URL); c.Token = ""; return c }(), scanner.CodeAuthMissing},
		{"no base url", func() scanner.Config { c := cfgFor(""); return c }(), scanner.CodeNotConfigured},
	}
	frames := scanner.FrameSourceFunc(func(context.Context, string, int, int) ([][]byte, error) {
		t.Error("frame source must not be called")
		return nil, nil
	})
	for _, tc := range cases {
		cl := scanner.New(tc.cfg, nil)
		if _, err := cl.ScanImage(context.Background(), img); reason.Code(err) != tc.code {
			t.Errorf("%s ScanImage: %v, want %s", tc.name, err, tc.code)
		}
		if _, err := cl.ScanVideo(context.Background(), img, frames); reason.Code(err) != tc.code {
			t.Errorf("%s ScanVideo: %v, want %s", tc.name, err, tc.code)
		}
		// Config is checked before the file: a missing file still reports
		// the config problem.
		if _, err := cl.ScanImage(context.Background(), "/nonexistent/x.png"); reason.Code(err) != tc.code {
			t.Errorf("%s missing file: %v, want %s", tc.name, err, tc.code)
		}
	}
	if n := len(srv.Requests()); n != 0 {
		t.Fatalf("scanner got %d requests, want 0", n)
	}
}

func TestScanImageRequest(t *testing.T) {
	t.Parallel()
	srv := scannertest.New(t, scannertest.Options{Token: testToken, NSFWScore: 0.9})
	img := writeFile(t, "pic.png", 4321)
	res, err := scanner.New(cfgFor(srv.URL), nil).ScanImage(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("requests = %d", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.Path != "/check" {
		t.Errorf("request %s %s", r.Method, r.Path)
	}
	if len(r.Files) != 1 || r.Files[0].Field != "image" || r.Files[0].Filename != "pic.png" ||
		r.Files[0].Size != 4321 || r.Files[0].ContentType != "image/png" {
		t.Errorf("files = %+v", r.Files)
	}
	if len(r.FormFields) != 0 {
		t.Errorf("unexpected form fields %v", r.FormFields)
	}
	// An exact Content-Length, never chunked: the real scanner cannot read
	// chunked uploads.
	if r.ContentLength <= 4321 || len(r.TransferEncoding) != 0 {
		t.Errorf("content-length %d, transfer-encoding %v", r.ContentLength, r.TransferEncoding)
	}
	if got := r.Header.Get("Accept"); got != "application/json" {
		t.Errorf("Accept = %q", got)
	}
	if res.Rating != 3 || !res.HasNSFW || res.ResponseType != "B" || res.HTTPStatus != 200 {
		t.Errorf("result rating %d nsfw %v type %s status %d", res.Rating, res.HasNSFW, res.ResponseType, res.HTTPStatus)
	}
	if res.Endpoint != srv.URL+"/check" || res.Meta["endpoint"] != srv.URL+"/check" {
		t.Errorf("endpoint %q meta %v", res.Endpoint, res.Meta["endpoint"])
	}
	if res.Scanner != scanner.DefaultName {
		t.Errorf("scanner name %q, want the configured default", res.Scanner)
	}
}

func TestScanVideoUsesBatch(t *testing.T) {
	t.Parallel()
	srv := scannertest.New(t, scannertest.Options{Token: testToken, NSFWScore: 0.2})
	vid := writeFile(t, "clip.mp4", 2000)
	res, err := scanner.New(cfgFor(srv.URL), nil).ScanVideo(context.Background(), vid, nil)
	if err != nil {
		t.Fatal(err)
	}
	reqs := srv.RequestsTo("/batch")
	if len(reqs) != 1 || len(reqs[0].Files) != 1 || reqs[0].Files[0].Field != "file" ||
		reqs[0].Files[0].Size != 2000 || reqs[0].Files[0].ContentType != "video/mp4" {
		t.Fatalf("batch requests = %+v", reqs)
	}
	if res.FallbackUsed || res.NSFWScore == nil || *res.NSFWScore != 0.2 || res.Rating != 1 {
		t.Errorf("result fallback %v score %v rating %d", res.FallbackUsed, fmtPtr(res.NSFWScore), res.Rating)
	}
	if len(res.Tags) != 2 || res.Tags[0].Name != "1girl" {
		t.Errorf("tags %+v", res.Tags)
	}
}

func TestAuthHeaderModes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		server     scannertest.Options
		token      string
		key, hdr   string
		wantHeader string // header name checked on the recorded request
		wantValue  string
		code       string
	}{
		{"token verbatim", scannertest.Options{Token: "abc123"}, "abc123", "", "", "Authorization", "abc123", ""},
		{"token already with Bearer stays verbatim", scannertest.Options{Token: "Bearer abc"}, "Bearer abc", "", "", "Authorization", "Bearer abc", ""},
		{"no automatic Bearer", scannertest.Options{Token: "Bearer abc123"}, "abc123", "", "", "Authorization", "abc123", scanner.CodeAuthFailed},
		{"wrong token 403", scannertest.Options{Token: "other"}, testToken, "", "", "Authorization", testToken, scanner.CodeAuthFailed},
		{"api key header", scannertest.Options{APIKeyHeader: "X-API-Key", APIKey: "k-777"}, "", "k-777", "X-API-Key", "X-API-Key", "k-777", ""},
		{"wrong api key 401", scannertest.Options{APIKeyHeader: "X-API-Key", APIKey: "good"}, "", testToken, "X-API-Key", "X-API-Key", testToken, scanner.CodeAuthFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := scannertest.New(t, tc.server)
			cfg := cfgFor(srv.URL)
			cfg.Token, cfg.APIKey, cfg.APIKeyHeader = tc.token, tc.key, tc.hdr
			_, err := scanner.New(cfg, nil).ScanImage(context.Background(), writeFile(t, "a.jpg", 10))
			if got := reason.Code(err); got != tc.code {
				t.Fatalf("code %q (%v), want %q", got, err, tc.code)
			}
			r := srv.Requests()[0]
			if got := r.Header.Get(tc.wantHeader); got != tc.wantValue {
				t.Errorf("%s = %q, want %q", tc.wantHeader, got, tc.wantValue)
			}
			if tc.hdr != "" && r.Header.Get("Authorization") != "" {
				t.Errorf("api key mode must not send Authorization")
			}
			if tc.code == scanner.CodeAuthFailed {
				if !reason.IsPermanent(err) {
					t.Errorf("auth failure must be permanent")
				}
				msg := err.Error()
				if !strings.Contains(msg, tc.wantHeader) {
					t.Errorf("message %q does not name the header mode %q", msg, tc.wantHeader)
				}
				if strings.Contains(msg, tc.wantValue) {
					t.Errorf("message %q leaks the secret", msg)
				}
			}
		})
	}
}

func TestFaultModes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		fault  scannertest.Fault
		code   string
		kind   reason.Kind
		status any
	}{
		{scannertest.FaultDown, scanner.CodeUnreachable, reason.KindTransient, nil},
		{scannertest.FaultSlow, scanner.CodeTimeout, reason.KindTransient, nil},
		{scannertest.Fault401, scanner.CodeAuthFailed, reason.KindPermanent, 401},
		{scannertest.Fault403, scanner.CodeAuthFailed, reason.KindPermanent, 403},
		{scannertest.Fault404, scanner.CodeHTTP4xx, reason.KindPermanent, 404},
		{scannertest.Fault500, scanner.CodeHTTP5xx, reason.KindTransient, 500},
		{scannertest.FaultNotJSON, scanner.CodeInvalidJSON, reason.KindPermanent, 200},
		{scannertest.FaultErrorJSON, scanner.CodeErrorResponse, reason.KindPermanent, 200},
		{scannertest.FaultTruncated, scanner.CodeInvalidJSON, reason.KindPermanent, 200},
		{scannertest.FaultUnexpected, scanner.CodeUnrecognized, reason.KindPermanent, 200},
	}
	for _, tc := range cases {
		t.Run(string(tc.fault), func(t *testing.T) {
			t.Parallel()
			srv := scannertest.New(t, scannertest.Options{Token: testToken, Fault: tc.fault})
			cfg := cfgFor(srv.URL)
			cfg.Timeout = 0.3 // the slow fake never answers; only the code is asserted
			res, err := scanner.New(cfg, nil).ScanImage(context.Background(), writeFile(t, "a.png", 64))
			if res != nil || err == nil {
				t.Fatalf("want error, got %+v", res)
			}
			if got := reason.Code(err); got != tc.code {
				t.Fatalf("code %q (%v), want %q", got, err, tc.code)
			}
			if got := reason.KindOf(err); got != tc.kind {
				t.Errorf("kind %v, want %v", got, tc.kind)
			}
			f := reason.FieldsOf(err)
			if f["endpoint"] != srv.URL+"/check" {
				t.Errorf("endpoint field %v", f["endpoint"])
			}
			if f["http_status"] != tc.status {
				t.Errorf("http_status field %v, want %v", f["http_status"], tc.status)
			}
			if tc.fault == scannertest.Fault404 && !strings.Contains(err.Error(), "scanner.image_endpoint") {
				t.Errorf("404 message should point at scanner.image_endpoint: %v", err)
			}
		})
	}
}

// blockingDialer never connects; it returns when the request context ends.
func blockingDialer(ctx context.Context, _, _ string) (net.Conn, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	hc := &http.Client{Transport: &http.Transport{DialContext: blockingDialer}}
	cfg := cfgFor("http://scanner.invalid:8000")
	cfg.ConnectTimeout = 0.05
	cfg.Timeout = 30 // the connect timeout, not the total one, must fire
	_, err := scanner.New(cfg, hc).ScanImage(context.Background(), writeFile(t, "a.png", 8))
	if reason.Code(err) != scanner.CodeTimeout || reason.KindOf(err) != reason.KindTransient {
		t.Fatalf("err = %v, want transient scanner_timeout", err)
	}
	if reason.FieldsOf(err)["phase"] != "connect" {
		t.Errorf("phase = %v, want connect", reason.FieldsOf(err)["phase"])
	}
}

func TestCancelledContext(t *testing.T) {
	t.Parallel()
	srv := scannertest.New(t, scannertest.Options{Token: testToken, Fault: scannertest.FaultSlow})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := scanner.New(cfgFor(srv.URL), nil).ScanImage(ctx, writeFile(t, "a.png", 8))
	if reason.Code(err) != scanner.CodeCancelled || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want scanner_cancelled wrapping context.Canceled", err)
	}
}

func TestFileErrors(t *testing.T) {
	t.Parallel()
	srv := scannertest.New(t, scannertest.Options{Token: testToken})
	cl := scanner.New(cfgFor(srv.URL), nil)
	_, err := cl.ScanImage(context.Background(), filepath.Join(t.TempDir(), "gone.png"))
	if reason.Code(err) != scanner.CodeFileMissing {
		t.Errorf("missing file: %v", err)
	}
	_, err = cl.ScanImage(context.Background(), t.TempDir())
	if reason.Code(err) != scanner.CodeFileUnreadable {
		t.Errorf("directory: %v", err)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("requests = %d, want 0", n)
	}
}

func TestShapesOverHTTP(t *testing.T) {
	t.Parallel()
	tags := []scannertest.Tag{{Label: "1girl", Score: 0.9}, {Label: "rem_(re:zero)", Score: 0.8, Category: "character"}}
	cases := []struct {
		shape     scannertest.Shape
		wantShape string
		wantType  string
		wantChars int
	}{
		{scannertest.ShapeA, "single", "A", 1},
		{scannertest.ShapeB, "single", "B", 1},
		{scannertest.ShapeC, "single", "C", 1},
		{scannertest.ShapeBatch, "single", "C", 0}, // batch tags are plain strings
		{scannertest.ShapeList, "list", "C", 1},
		{scannertest.ShapeResults, "results", "C", 1},
		{scannertest.ShapeFrames, "frames", "C", 1},
		{scannertest.ShapeData, "data", "C", 1},
	}
	for _, tc := range cases {
		t.Run(string(tc.shape), func(t *testing.T) {
			t.Parallel()
			srv := scannertest.New(t, scannertest.Options{Token: testToken, Shape: tc.shape, Tags: tags, NSFWScore: 0.75})
			res, err := scanner.New(cfgFor(srv.URL), nil).ScanImage(context.Background(), writeFile(t, "a.webp", 32))
			if err != nil {
				t.Fatal(err)
			}
			if res.ResponseShape != tc.wantShape || res.ResponseType != tc.wantType {
				t.Errorf("shape/type %s/%s, want %s/%s", res.ResponseShape, res.ResponseType, tc.wantShape, tc.wantType)
			}
			if res.NSFWScore == nil || *res.NSFWScore != 0.75 || res.Rating != 3 || !res.HasNSFW {
				t.Errorf("score %v rating %d", fmtPtr(res.NSFWScore), res.Rating)
			}
			if len(res.CharacterTags) != tc.wantChars {
				t.Errorf("character tags %+v, want %d", res.CharacterTags, tc.wantChars)
			}
			if tc.wantChars == 1 && res.CharacterTags[0].Type != scanner.TagTypeCharacter {
				t.Errorf("character tag type %q", res.CharacterTags[0].Type)
			}
		})
	}
}

func TestSecretsNotInSnippets(t *testing.T) {
	t.Parallel()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error": "bad request from token ` + r.Header.Get("Authorization") + `"}`))
	}))
	t.Cleanup(hs.Close)
	_, err := scanner.New(cfgFor(hs.URL), nil).ScanImage(context.Background(), writeFile(t, "a.png", 8))
	if reason.Code(err) != scanner.CodeHTTP4xx {
		t.Fatalf("err = %v", err)
	}
	snip, _ := reason.FieldsOf(err)["body_snippet"].(string)
	if strings.Contains(snip, testToken) || !strings.Contains(snip, "[redacted]") {
		t.Errorf("snippet %q", snip)
	}
}

// frameFake records how the fallback asked for frames.
type frameFake struct {
	mu     sync.Mutex
	calls  int
	n, dim int
	frames [][]byte
	err    error
}

func (f *frameFake) Frames(_ context.Context, _ string, n, maxDim int) ([][]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.n, f.dim = n, maxDim
	return f.frames, f.err
}

var pngMagic = []byte("\x89PNG\r\n\x1a\n0000")

func TestVideoFallback(t *testing.T) {
	t.Parallel()
	frames := [][]byte{pngMagic, pngMagic, pngMagic, pngMagic}
	bodies := [][]byte{
		[]byte(`{"modules.nsfw_scanner": {"porn": 0.2}, "modules.deepdanbooru_tags": {"tags": [{"label": "a", "score": 0.5}]}}`),
		[]byte(`!{"error": "frame decode failed"}`),
		[]byte(`{"modules.nsfw_scanner": {"porn": 0.9}, "modules.deepdanbooru_tags": {"tags": [{"label": "A", "score": 0.8}, {"label": "b", "score": 0.4}]}}`),
		[]byte(`{"tags": [{"name": "rating:questionable", "confidence": 0.9}], "sexy": 0.1}`),
	}
	srv := scannertest.New(t, scannertest.Options{Token: testToken, BatchFault: scannertest.Fault500, CheckBodies: bodies})
	ff := &frameFake{frames: frames}
	res, err := scanner.New(cfgFor(srv.URL), nil).ScanVideo(context.Background(), writeFile(t, "v.mkv", 500), ff)
	if err != nil {
		t.Fatal(err)
	}
	if ff.calls != 1 || ff.n != 4 || ff.dim != 1280 {
		t.Errorf("frames called %d times with n=%d dim=%d", ff.calls, ff.n, ff.dim)
	}
	checks := srv.RequestsTo("/check")
	if len(checks) != 4 {
		t.Fatalf("frame scans = %d, want 4", len(checks))
	}
	if f := checks[0].Files; len(f) != 1 || f[0].Field != "image" || f[0].Filename != "frame_01.png" {
		t.Errorf("frame upload %+v", f)
	}
	if !res.FallbackUsed || res.ResponseShape != scanner.ShapeFallback || res.PartsCount != 3 || res.Debug.PartsFailed != 1 {
		t.Errorf("fallback %v shape %s parts %d failed %d", res.FallbackUsed, res.ResponseShape, res.PartsCount, res.Debug.PartsFailed)
	}
	if res.NSFWScore == nil || *res.NSFWScore != 0.9 || res.Rating != 3 {
		t.Errorf("score %v rating %d, want max 0.9 / 3", fmtPtr(res.NSFWScore), res.Rating)
	}
	want := []scanner.Tag{{Name: "a", Type: "content", Confidence: 0.8}, {Name: "b", Type: "content", Confidence: 0.4},
		{Name: "rating:questionable", Type: "content", Confidence: 0.9}}
	if !tagsEq(res.Tags, want) {
		t.Errorf("tags %+v, want %+v", res.Tags, want)
	}
	if res.Meta["batch_error_code"] != scanner.CodeHTTP5xx || res.Meta["fallback_frames_scanned"] != 3 || res.Meta["fallback_used"] != true {
		t.Errorf("meta %v", res.Meta)
	}
	var raw map[string]any
	if err := json.Unmarshal(res.Raw, &raw); err != nil || len(raw["frames"].([]any)) != 4 {
		t.Errorf("raw %s (%v)", res.Raw, err)
	}
}

func TestVideoFallbackErrors(t *testing.T) {
	t.Parallel()
	coded := reason.New("ffmpeg_missing", "ffmpeg not found")
	cases := []struct {
		name       string
		opts       scannertest.Options
		frames     *frameFake
		code       string
		wantFrames int // FrameSource calls
	}{
		{"batch down: no fallback", scannertest.Options{Fault: scannertest.FaultDown}, &frameFake{frames: [][]byte{pngMagic}}, scanner.CodeUnreachable, 0},
		{"batch auth failure: no fallback", scannertest.Options{Token: "other"}, &frameFake{frames: [][]byte{pngMagic}}, scanner.CodeAuthFailed, 0},
		{"no frames", scannertest.Options{Token: testToken, BatchFault: scannertest.Fault404}, &frameFake{}, scanner.CodeNoFrames, 1},
		{"frame source code kept", scannertest.Options{Token: testToken, BatchFault: scannertest.FaultNotJSON}, &frameFake{err: coded}, "ffmpeg_missing", 1},
		{"frame source plain error", scannertest.Options{Token: testToken, BatchFault: scannertest.FaultNotJSON}, &frameFake{err: errors.New("boom")}, scanner.CodeFrameExtractFailed, 1},
		{"all frames fail", scannertest.Options{Token: testToken, Fault: scannertest.Fault500}, &frameFake{frames: [][]byte{pngMagic, pngMagic, pngMagic}}, scanner.CodeFallbackFailed, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := scannertest.New(t, tc.opts)
			_, err := scanner.New(cfgFor(srv.URL), nil).ScanVideo(context.Background(), writeFile(t, "v.mp4", 50), tc.frames)
			if got := reason.Code(err); got != tc.code {
				t.Fatalf("code %q (%v), want %q", got, err, tc.code)
			}
			if tc.frames.calls != tc.wantFrames {
				t.Errorf("frame source calls %d, want %d", tc.frames.calls, tc.wantFrames)
			}
			if tc.wantFrames > 0 && reason.FieldsOf(err)["batch_error_code"] == nil {
				t.Errorf("fallback error lacks batch_error_code: %v", reason.FieldsOf(err))
			}
		})
	}
	t.Run("nil frame source returns batch error", func(t *testing.T) {
		t.Parallel()
		srv := scannertest.New(t, scannertest.Options{Token: testToken, BatchFault: scannertest.Fault500})
		_, err := scanner.New(cfgFor(srv.URL), nil).ScanVideo(context.Background(), writeFile(t, "v.mp4", 50), nil)
		if reason.Code(err) != scanner.CodeHTTP5xx {
			t.Fatalf("err %v", err)
		}
	})
}

func TestAbsoluteEndpoint(t *testing.T) {
	t.Parallel()
	srv := scannertest.New(t, scannertest.Options{Token: testToken})
	cfg := cfgFor("http://unused.invalid")
	cfg.ImageEndpoint = srv.URL + "/check"
	if _, err := scanner.New(cfg, nil).ScanImage(context.Background(), writeFile(t, "a.png", 5)); err != nil {
		t.Fatal(err)
	}
	cfg = cfgFor(srv.URL + "/")
	cfg.ImageEndpoint = "predict"
	_, err := scanner.New(cfg, nil).ScanImage(context.Background(), writeFile(t, "a.png", 5))
	if reason.Code(err) != scanner.CodeHTTP4xx || reason.FieldsOf(err)["endpoint"] != srv.URL+"/predict" {
		t.Fatalf("err %v fields %v", err, reason.FieldsOf(err))
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/check" {
			http.Redirect(w, r, "/v2/check", http.StatusFound)
			return
		}
		t.Errorf("redirect followed to %s %s", r.Method, r.URL.Path)
	}))
	t.Cleanup(hs.Close)
	_, err := scanner.New(cfgFor(hs.URL), nil).ScanImage(context.Background(), writeFile(t, "a.png", 8))
	if reason.Code(err) != scanner.CodeHTTP4xx || !strings.Contains(err.Error(), "/v2/check") {
		t.Fatalf("err %v", err)
	}
}
