package probe

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

func TestParseProbeJSONMetaPairs(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/ffprobe_prog8s.json")
	if err != nil {
		t.Fatal(err)
	}
	v, err := ParseProbeJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	if v.Width != 640 || v.Height != 360 || v.FPS != 30 || v.Duration != 8*time.Second ||
		v.VideoCodec != "h264" || v.AudioCodec != "aac" || !v.HasVideo || !v.HasAudio {
		t.Fatalf("parsed %+v", v)
	}
	got := map[string]string{}
	var order []string
	for _, p := range v.MetaPairs() {
		if _, dup := got[p.Key]; dup {
			t.Errorf("duplicate key %s", p.Key)
		}
		got[p.Key] = p.Value
		order = append(order, p.Key)
	}
	want := map[string]string{
		"format.duration":   "8.000000",
		"format.size":       "189564",
		"video.codec_name":  "h264",
		"video.fps":         "30",
		"video.width":       "640",
		"video.duration":    "8",
		"audio.sample_rate": "48000",
		"audio.channels":    "2",
		"filesize":          "189564",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
	for _, k := range []string{"video.tags", "video.disposition", "audio.tags", "video.side_data_list"} {
		if _, ok := got[k]; ok {
			t.Errorf("%s must not be stored", k)
		}
	}
	if order[0] != "format.duration" || order[len(order)-1] != "filesize" {
		t.Errorf("order = %v", order)
	}
}

func TestParseProbeJSONCoverArt(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/ffprobe_cover.json")
	if err != nil {
		t.Fatal(err)
	}
	v, err := ParseProbeJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	// The MJPEG cover comes second; it must never become the video.
	if v.VideoCodec != "h264" || v.Width != 640 || v.Height != 480 || v.Tag("TITLE") != "Awesome Movie" {
		t.Fatalf("parsed %+v", v)
	}
	for _, p := range v.MetaPairs() {
		if p.Key == "video.codec_name" && p.Value != "h264" {
			t.Fatalf("video.codec_name = %s", p.Value)
		}
	}
}

func TestParseProbeJSONEdgeCases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		json     string
		check    func(*VideoInfo) bool
		wantCode string
	}{
		{"garbage", `{"streams": [`, nil, CodeFFprobeBadOutput},
		{"rotation display matrix", `{"streams":[{"index":0,"codec_type":"video","width":1920,"height":1080,
			"avg_frame_rate":"0/0","r_frame_rate":"30000/1001",
			"side_data_list":[{"side_data_type":"Display Matrix","rotation":-90}]}],"format":{}}`,
			func(v *VideoInfo) bool {
				w, h := v.DisplaySize()
				return v.Rotation == 90 && w == 1080 && h == 1920 && math.Abs(v.FPS-29.97) < 0.01
			}, ""},
		{"matroska duration tag", `{"streams":[{"index":0,"codec_type":"video","width":320,"height":240,
			"tags":{"DURATION":"00:01:02.500000000"}}],"format":{"format_name":"matroska,webm"}}`,
			func(v *VideoInfo) bool { return v.Duration == 62500*time.Millisecond }, ""},
		{"audio only", `{"streams":[{"index":0,"codec_type":"audio","codec_name":"opus"}],"format":{"duration":"1.0"}}`,
			func(v *VideoInfo) bool { return !v.HasVideo && v.HasAudio && v.Duration == time.Second }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := ParseProbeJSON([]byte(tc.json))
			if reason.Code(err) != tc.wantCode {
				t.Fatalf("err = %v, want %q", err, tc.wantCode)
			}
			if tc.check != nil && !tc.check(v) {
				t.Fatalf("unexpected %+v", v)
			}
		})
	}
}

func TestParseRate(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]float64{"30/1": 30, "30000/1001": 30000.0 / 1001, "0/0": 0, "25": 25, "x": 0, "1/0": 0, "": 0} {
		if got := parseRate(in); got != want {
			t.Errorf("parseRate(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestFFprobeFixtures(t *testing.T) {
	t.Parallel()
	bin := svtest.RequireTool(t, "ffprobe")
	root := sharedFixtures(t)
	p := &FFprobe{Path: bin}
	tests := []struct {
		file     string
		w, h     int
		fps      float64
		dur      time.Duration
		vcodec   string
		hasVideo bool
		wantCode string
	}{
		{"video/mp4ff_bbb_prog_10s.mp4", 320, 240, 24, 9917 * time.Millisecond, "h264", true, ""},
		{"video/mp4ff_hevc.mp4", 1920, 1080, 50, time.Second, "hevc", true, ""},
		{"video/ebmlgo_sample.webm", 320, 240, 30, 0, "vp8", true, ""},
		{"video/mkvparse_example-cover.mkv", 640, 480, 0, 40 * time.Millisecond, "h264", true, ""},
		{"video/mp4ff_opus.mp4", 0, 0, 0, time.Second, "", false, ""},
		{"corrupt/derived_mp4ff_bbb_prog_10s_half.mp4", 0, 0, 0, 0, "", false, CodeFFprobeFailed},
		{"corrupt/derived_mkvparse_example-cover_half.mkv", 0, 0, 0, 0, "", false, CodeFFprobeFailed},
		{"corrupt/mp4ff_init_truncated.mp4", 0, 0, 0, 0, "", false, CodeFFprobeFailed},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			v, err := p.Probe(context.Background(), filepath.Join(root, tc.file))
			if reason.Code(err) != tc.wantCode {
				t.Fatalf("err = %v, want %q", err, tc.wantCode)
			}
			if err != nil {
				if !reason.IsPermanent(err) {
					t.Fatalf("%v must be permanent", err)
				}
				return
			}
			if v.Width != tc.w || v.Height != tc.h || v.VideoCodec != tc.vcodec || v.HasVideo != tc.hasVideo ||
				(tc.fps > 0 && math.Abs(v.FPS-tc.fps) > 0.01) || v.Duration != tc.dur {
				t.Fatalf("got %dx%d %s fps=%v dur=%v video=%v", v.Width, v.Height, v.VideoCodec, v.FPS, v.Duration, v.HasVideo)
			}
		})
	}
}

// fakeTool writes an executable shell script standing in for ffprobe or
// ffmpeg, to exercise kill-on-timeout and output bounds deterministically.
func fakeTool(t *testing.T, body string) string {
	t.Helper()
	svtest.RequireTool(t, "sh")
	p := filepath.Join(t.TempDir(), "fake-ffprobe")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFFprobeFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		probe     func(t *testing.T) *FFprobe
		ctx       func() (context.Context, context.CancelFunc)
		wantCode  string
		wantKind  reason.Kind
		wantCause error
	}{
		{"missing binary in PATH", func(*testing.T) *FFprobe { return &FFprobe{Path: "sv-no-such-ffprobe"} },
			nil, CodeFFprobeMissing, reason.KindPermanent, nil},
		{"missing absolute path", func(t *testing.T) *FFprobe {
			return &FFprobe{Path: filepath.Join(t.TempDir(), "ffprobe")}
		}, nil, CodeFFprobeMissing, reason.KindPermanent, nil},
		{"hangs past timeout", func(t *testing.T) *FFprobe {
			return &FFprobe{Path: fakeTool(t, "exec sleep 30"), Timeout: 100 * time.Millisecond}
		}, nil, CodeFFprobeTimeout, reason.KindTransient, nil},
		{"caller cancels", func(t *testing.T) *FFprobe {
			return &FFprobe{Path: fakeTool(t, "exec sleep 30")}
		}, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}, CodeCancelled, reason.KindTransient, context.DeadlineExceeded},
		{"endless output", func(t *testing.T) *FFprobe {
			return &FFprobe{Path: fakeTool(t, "exec yes '{\"streams\":[]}'"), MaxOutput: 1 << 16, Timeout: 10 * time.Second}
		}, nil, CodeOutputTooLarge, reason.KindPermanent, nil},
		{"garbage output", func(t *testing.T) *FFprobe {
			return &FFprobe{Path: fakeTool(t, "echo not json")}
		}, nil, CodeFFprobeBadOutput, reason.KindPermanent, nil},
		{"exit status with message", func(t *testing.T) *FFprobe {
			return &FFprobe{Path: fakeTool(t, "echo 'x.mp4: Invalid data found when processing input' >&2; exit 1")}
		}, nil, CodeFFprobeFailed, reason.KindPermanent, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tc.ctx != nil {
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			_, err := tc.probe(t).Probe(ctx, "x.mp4")
			if reason.Code(err) != tc.wantCode || reason.KindOf(err) != tc.wantKind {
				t.Fatalf("err = %v (%s), want %s/%s", err, reason.KindOf(err), tc.wantCode, tc.wantKind)
			}
			if tc.wantCause != nil && !errors.Is(err, tc.wantCause) {
				t.Fatalf("err = %v does not wrap %v", err, tc.wantCause)
			}
			if tc.wantCode == CodeFFprobeFailed && !strings.Contains(err.Error(), "Invalid data") {
				t.Fatalf("stderr not in message: %v", err)
			}
		})
	}
}
