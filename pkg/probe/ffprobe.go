package probe

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Defaults for FFprobe and FFmpeg fields left zero.
const (
	DefaultFFprobePath    = "ffprobe"
	DefaultFFmpegPath     = "ffmpeg"
	DefaultProbeTimeout   = 30 * time.Second
	DefaultFFmpegTimeout  = 60 * time.Second
	DefaultMaxProbeOutput = 16 << 20 // ComfyUI workflows in tags can be large
)

// FFprobe runs ffprobe. The zero value is usable: Path defaults to
// DefaultFFprobePath (looked up in PATH), Timeout to DefaultProbeTimeout.
type FFprobe struct {
	// Path of the ffprobe binary (config tools.ffprobe).
	Path string
	// Timeout bounds one ffprobe run; the process is killed after it.
	Timeout time.Duration
	// MaxOutput bounds the JSON read from ffprobe (default
	// DefaultMaxProbeOutput); more yields tool_output_too_large.
	MaxOutput int
}

// Stream is one ffprobe stream, with the fields every caller needs parsed
// and all fields kept raw.
type Stream struct {
	Index       int
	CodecType   string // video, audio, subtitle, data, attachment
	CodecName   string
	Width       int
	Height      int
	AttachedPic bool // cover art: a video stream that is not the video
	Tags        map[string]string
	// Fields holds every field ffprobe printed for the stream, raw JSON.
	Fields map[string]json.RawMessage
}

// VideoInfo is what ffprobe reports about a media file.
type VideoInfo struct {
	// Width and Height are the coded size of the primary video stream.
	Width, Height int
	// Rotation is the display rotation in degrees (0, 90, 180, 270) from
	// the display matrix or a legacy rotate tag.
	Rotation int
	// Duration is format.duration, else the primary video stream's
	// duration, else a Matroska DURATION tag; 0 when unknown.
	Duration time.Duration
	// FPS comes from avg_frame_rate, else r_frame_rate ("n/d"); 0 unknown.
	FPS        float64
	VideoCodec string
	AudioCodec string
	// HasVideo is true when a video stream that is not cover art exists.
	HasVideo bool
	HasAudio bool
	// FormatName is ffprobe's format_name, e.g. "mov,mp4,m4a,3gp,3g2,mj2".
	FormatName string
	// Size is format.size in bytes.
	Size int64
	// BitRate is format.bit_rate in bits per second.
	BitRate int64
	// FormatTags are the container tags (where ComfyUI writers put
	// prompt/workflow/comment).
	FormatTags map[string]string
	// Streams are all streams in file order.
	Streams []Stream
	// Format holds every format field, raw JSON.
	Format map[string]json.RawMessage
	// Warnings is what ffprobe printed at error level although it
	// succeeded (damaged but readable files); empty for clean files.
	Warnings string
}

// DisplaySize returns width and height as shown, after rotation.
func (v *VideoInfo) DisplaySize() (int, int) {
	if v.Rotation == 90 || v.Rotation == 270 {
		return v.Height, v.Width
	}
	return v.Width, v.Height
}

// Tag returns a container tag by name, ignoring case: muxers differ
// (Matroska TITLE, MP4 title) and ffprobe keeps what the file says.
func (v *VideoInfo) Tag(name string) string {
	if t, ok := v.FormatTags[name]; ok {
		return t
	}
	for k, t := range v.FormatTags {
		if strings.EqualFold(k, name) {
			return t
		}
	}
	return ""
}

// PrimaryVideo returns the first video stream that is not cover art.
func (v *VideoInfo) PrimaryVideo() (Stream, bool) {
	for _, s := range v.Streams {
		if s.CodecType == "video" && !s.AttachedPic {
			return s, true
		}
	}
	return Stream{}, false
}

func (p *FFprobe) tool() tool {
	return tool{name: "ffprobe", path: cmp.Or(p.Path, DefaultFFprobePath),
		timeout:     cmp.Or(p.Timeout, DefaultProbeTimeout),
		codeMissing: CodeFFprobeMissing, codeFailed: CodeFFprobeFailed, codeTime: CodeFFprobeTimeout}
}

// Probe runs `ffprobe -v error -print_format json -show_format
// -show_streams` on path. A file in which ffprobe finds no stream at all
// is an ffprobe_failed error; an audio-only file is not (HasVideo false).
func (p *FFprobe) Probe(ctx context.Context, path string) (*VideoInfo, error) {
	out, stderr, err := p.tool().run(ctx, cmp.Or(p.MaxOutput, DefaultMaxProbeOutput),
		"-v", "error", "-print_format", "json", "-show_format", "-show_streams", "--", inputPath(path))
	if err != nil {
		return nil, fmt.Errorf("probe %s: %w", path, err)
	}
	info, err := ParseProbeJSON(out)
	if err != nil {
		return nil, fmt.Errorf("probe %s: %w", path, err)
	}
	info.Warnings = reason.Truncate(lastLines(stderr, 3), 400)
	if len(info.Streams) == 0 {
		return nil, fmt.Errorf("probe %s: %w", path, reason.New(CodeFFprobeFailed, "no streams found"))
	}
	return info, nil
}

// ParseProbeJSON parses ffprobe's JSON output (-show_format -show_streams).
func ParseProbeJSON(data []byte) (*VideoInfo, error) {
	var raw struct {
		Streams []map[string]json.RawMessage `json:"streams"`
		Format  map[string]json.RawMessage   `json:"format"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, reason.Permanent(CodeFFprobeBadOutput, fmt.Errorf("parse ffprobe json: %w", err))
	}
	v := &VideoInfo{Format: raw.Format, FormatTags: stringMap(raw.Format["tags"])}
	v.FormatName = rawString(raw.Format["format_name"])
	v.Size, _ = strconv.ParseInt(rawString(raw.Format["size"]), 10, 64)
	v.BitRate, _ = strconv.ParseInt(rawString(raw.Format["bit_rate"]), 10, 64)
	for _, f := range raw.Streams {
		s := Stream{Fields: f, CodecType: rawString(f["codec_type"]), CodecName: rawString(f["codec_name"]),
			Tags: stringMap(f["tags"])}
		s.Index, _ = strconv.Atoi(rawString(f["index"]))
		s.Width, _ = strconv.Atoi(rawString(f["width"]))
		s.Height, _ = strconv.Atoi(rawString(f["height"]))
		var disp map[string]int
		_ = json.Unmarshal(f["disposition"], &disp)
		s.AttachedPic = disp["attached_pic"] == 1
		v.Streams = append(v.Streams, s)
	}
	var vs Stream
	vs, v.HasVideo = v.PrimaryVideo()
	if v.HasVideo {
		v.Width, v.Height, v.VideoCodec = vs.Width, vs.Height, vs.CodecName
		v.FPS = parseRate(rawString(vs.Fields["avg_frame_rate"]))
		if v.FPS == 0 {
			v.FPS = parseRate(rawString(vs.Fields["r_frame_rate"]))
		}
		v.Rotation = rotation(vs)
	}
	for _, s := range v.Streams {
		if s.CodecType == "audio" {
			v.HasAudio, v.AudioCodec = true, s.CodecName
			break
		}
	}
	v.Duration = seconds(rawString(raw.Format["duration"]))
	if v.Duration == 0 && v.HasVideo {
		v.Duration = seconds(rawString(vs.Fields["duration"]))
		if v.Duration == 0 {
			v.Duration = clockDuration(vs.Tags["DURATION"])
		}
	}
	return v, nil
}

// MetaPair is one media_meta row (source "ffmpeg").
type MetaPair struct {
	Key, Value string
}

// MetaPairs returns the media_meta keys of spec 5.1 in a stable order:
// format.duration, format.size, format.bit_rate; then
// <codec_type>.<field> for every field of the first stream of each codec
// type (cover art skipped) except tags, disposition and side_data_list,
// scalars as text and nested values as JSON; then the derived video.width,
// video.height, video.fps, video.duration; then filesize. Unlike the
// original, each key appears once (the original appended one row per
// stream, so a cover-art stream could override the real video's values).
func (v *VideoInfo) MetaPairs() []MetaPair {
	var out []MetaPair
	idx := map[string]int{}
	set := func(k, val string) {
		if val == "" {
			return
		}
		if i, ok := idx[k]; ok {
			out[i].Value = val
			return
		}
		idx[k] = len(out)
		out = append(out, MetaPair{k, val})
	}
	for _, k := range []string{"duration", "size", "bit_rate"} {
		set("format."+k, rawText(v.Format[k]))
	}
	seen := map[string]bool{}
	for _, s := range v.Streams {
		if s.CodecType == "" || seen[s.CodecType] || s.AttachedPic {
			continue
		}
		seen[s.CodecType] = true
		keys := make([]string, 0, len(s.Fields))
		for k := range s.Fields {
			switch k {
			case "tags", "disposition", "side_data_list":
				continue
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			set(s.CodecType+"."+k, rawText(s.Fields[k]))
		}
	}
	if v.HasVideo {
		set("video.width", strconv.Itoa(v.Width))
		set("video.height", strconv.Itoa(v.Height))
		if v.FPS > 0 {
			set("video.fps", strconv.FormatFloat(v.FPS, 'f', -1, 64))
		}
		if v.Duration > 0 {
			set("video.duration", strconv.FormatFloat(v.Duration.Seconds(), 'f', -1, 64))
		}
	}
	if v.Size > 0 {
		set("filesize", strconv.FormatInt(v.Size, 10))
	}
	return out
}

// rawText renders a JSON value for media_meta: strings unquoted, numbers
// and booleans as written, objects and arrays as compact JSON.
func rawText(r json.RawMessage) string {
	r = bytes.TrimSpace(r)
	if len(r) == 0 || string(r) == "null" {
		return ""
	}
	switch r[0] {
	case '"':
		return rawString(r)
	case '{', '[':
		var b bytes.Buffer
		if json.Compact(&b, r) == nil {
			return b.String()
		}
	}
	return string(r)
}

// rawString returns a JSON string's value, or a number's literal text.
func rawString(r json.RawMessage) string {
	var s string
	if json.Unmarshal(r, &s) == nil {
		return s
	}
	if len(r) > 0 && (r[0] == '-' || (r[0] >= '0' && r[0] <= '9')) {
		return string(r)
	}
	return ""
}

func stringMap(r json.RawMessage) map[string]string {
	var m map[string]json.RawMessage
	if json.Unmarshal(r, &m) != nil {
		return map[string]string{}
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = rawText(v)
	}
	return out
}

// parseRate parses "30000/1001" or "25"; "0/0" and garbage give 0.
func parseRate(s string) float64 {
	n, d, found := strings.Cut(s, "/")
	num, err := strconv.ParseFloat(n, 64)
	if err != nil {
		return 0
	}
	den := 1.0
	if found {
		if den, err = strconv.ParseFloat(d, 64); err != nil || den == 0 {
			return 0
		}
	}
	r := num / den
	if math.IsNaN(r) || math.IsInf(r, 0) || r < 0 {
		return 0
	}
	return r
}

func seconds(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || math.IsNaN(f) || f > 1e9 {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

// clockDuration parses Matroska's "HH:MM:SS.nnnnnnnnn" DURATION tag.
func clockDuration(s string) time.Duration {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return 0
	}
	h, err1 := strconv.Atoi(parts[0])
	m, err2 := strconv.Atoi(parts[1])
	sec, err3 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil || err3 != nil || h < 0 || m < 0 || sec < 0 {
		return 0
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec*float64(time.Second))
}

// rotation reads the display-matrix rotation (ffprobe ≥ 5) or the legacy
// "rotate" tag and normalises it to 0, 90, 180 or 270 clockwise degrees.
func rotation(s Stream) int {
	deg := 0.0
	if r, ok := s.Tags["rotate"]; ok {
		deg, _ = strconv.ParseFloat(r, 64)
	}
	var sides []map[string]json.RawMessage
	if json.Unmarshal(s.Fields["side_data_list"], &sides) == nil {
		for _, sd := range sides {
			if r, ok := sd["rotation"]; ok {
				f, err := strconv.ParseFloat(rawString(r), 64)
				if err == nil {
					// The display matrix rotation is counter-clockwise.
					deg = -f
				}
			}
		}
	}
	d := int(math.Round(deg/90)) * 90 % 360
	if d < 0 {
		d += 360
	}
	return d
}
