package probe

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Limits for FFmpeg.
const (
	// MaxFrames caps Frames' n: more is never useful for previews or
	// vision models and each frame costs one ffmpeg run.
	MaxFrames = 64
	// maxFrameBytes bounds one encoded frame read from ffmpeg.
	maxFrameBytes = 32 << 20
	// checkWindow is how much of the start and of the end DecodeCheck
	// decodes, so a check costs about the same for a clip and a film.
	checkWindow = 3 * time.Second
)

// FFmpeg runs ffmpeg for frames and decode checks. The zero value is
// usable: Path defaults to DefaultFFmpegPath, Timeout (per ffmpeg run) to
// DefaultFFmpegTimeout.
type FFmpeg struct {
	// Path of the ffmpeg binary (config tools.ffmpeg).
	Path string
	// Timeout bounds one ffmpeg run; the process is killed after it.
	Timeout time.Duration
	// Probe finds durations for Frames. When nil, an ffprobe next to Path
	// is used if present (as the original did), else DefaultFFprobePath.
	Probe *FFprobe
}

func (f *FFmpeg) tool() tool {
	return tool{name: "ffmpeg", path: cmp.Or(f.Path, DefaultFFmpegPath),
		timeout:     cmp.Or(f.Timeout, DefaultFFmpegTimeout),
		codeMissing: CodeFFmpegMissing, codeFailed: CodeFFmpegFailed, codeTime: CodeFFmpegTimeout}
}

// Prober returns the FFprobe used for durations.
func (f *FFmpeg) Prober() *FFprobe {
	if f.Probe != nil {
		return f.Probe
	}
	p := &FFprobe{Path: DefaultFFprobePath, Timeout: f.Timeout}
	if f.Path != "" && strings.ContainsRune(f.Path, filepath.Separator) {
		dir, base := filepath.Split(f.Path)
		sib := filepath.Join(dir, strings.Replace(base, "ffmpeg", "ffprobe", 1))
		if st, err := os.Stat(sib); err == nil && st.Mode().IsRegular() && sib != f.Path {
			p.Path = sib
		}
	}
	return p
}

// Frame extracts one frame at offset at as a JPEG whose longer side is at
// most maxDim pixels (0 keeps the size; small videos are never enlarged).
// Cover-art streams are ignored and display rotation is applied. When at
// lies past the end (a wrong duration), the first frame is returned
// instead. Errors: no_video_stream, no_frame, ffmpeg_failed,
// ffmpeg_timeout, ffmpeg_missing.
func (f *FFmpeg) Frame(ctx context.Context, path string, at time.Duration, maxDim int) ([]byte, error) {
	img, err := f.frame(ctx, path, at, maxDim, 0)
	if err == nil && len(img) == 0 && at > 0 {
		img, err = f.frame(ctx, path, 0, maxDim, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("frame of %s at %s: %w", path, at, err)
	}
	if len(img) == 0 {
		return nil, fmt.Errorf("frame of %s: %w", path, reason.New(CodeNoFrame, "ffmpeg decoded no frame"))
	}
	return img, nil
}

// ReducedJPEG is Frame of a w×h JPEG decoded at reduced size: ffmpeg's
// JPEG decoder (option lowres) runs the inverse DCT at 1/2, 1/4 or 1/8 of
// the size, the largest reduction that still leaves maxDim pixels, so the
// full image is never in memory (a 100 MP JPEG costs ffmpeg about 70 MB
// instead of 300). EXIF orientation is applied like display rotation.
func (f *FFmpeg) ReducedJPEG(ctx context.Context, path string, w, h, maxDim int) ([]byte, error) {
	n := 0
	for n < 3 && max(w, h)>>(n+1) >= maxDim {
		n++
	}
	img, err := f.frame(ctx, path, 0, maxDim, n)
	if err == nil && len(img) == 0 {
		err = reason.New(CodeNoFrame, "ffmpeg decoded no frame")
	}
	if err != nil {
		return nil, fmt.Errorf("reduced decode of %s: %w", path, err)
	}
	return img, nil
}

func (f *FFmpeg) frame(ctx context.Context, path string, at time.Duration, maxDim, lowres int) ([]byte, error) {
	args := []string{"-v", "error", "-nostdin", "-hide_banner"}
	if lowres > 0 {
		args = append(args, "-lowres", strconv.Itoa(lowres))
	}
	if at > 0 {
		// Input seeking: fast (keyframe jump) and frame-accurate since
		// ffmpeg 2.1 because it decodes from the keyframe to the target.
		args = append(args, "-ss", strconv.FormatFloat(at.Seconds(), 'f', 3, 64))
	}
	args = append(args, "-i", inputPath(path), "-map", "0:V:0", "-an", "-sn", "-dn", "-frames:v", "1")
	if maxDim > 0 {
		args = append(args, "-vf", fmt.Sprintf(
			"scale='min(iw,%d)':'min(ih,%d)':force_original_aspect_ratio=decrease", maxDim, maxDim))
	}
	args = append(args, "-f", "image2pipe", "-c:v", "mjpeg", "-q:v", "3", "-")
	out, _, err := f.tool().run(ctx, maxFrameBytes, args...)
	return out, classifyNoVideo(err)
}

// classifyNoVideo turns ffmpeg's "matches no streams" into no_video_stream.
func classifyNoVideo(err error) error {
	if err != nil && reason.Code(err) == CodeFFmpegFailed && strings.Contains(err.Error(), "matches no streams") {
		return &reason.Error{Code: CodeNoVideoStream, Kind: reason.KindPermanent, Msg: "file has no video stream", Err: err}
	}
	return err
}

// Frames extracts n frames (JPEG, longer side ≤ maxDim) spread evenly over
// the duration, at the middles of n equal slices, not the first n
// consecutive frames (a defect of the original). When the duration is
// unknown only the first frame is returned.
func (f *FFmpeg) Frames(ctx context.Context, path string, n, maxDim int) ([][]byte, error) {
	if n <= 0 {
		return nil, nil
	}
	n = min(n, MaxFrames)
	info, err := f.Prober().Probe(ctx, path)
	if err != nil {
		return nil, err
	}
	if !info.HasVideo {
		return nil, fmt.Errorf("frames of %s: %w", path, reason.New(CodeNoVideoStream, "file has no video stream"))
	}
	return f.FramesAt(ctx, path, FrameTimes(info.Duration, n), maxDim)
}

// FrameTimes returns n offsets at the middles of n equal slices of d, or a
// single 0 when d is unknown.
func FrameTimes(d time.Duration, n int) []time.Duration {
	if d <= 0 || n <= 0 {
		return []time.Duration{0}
	}
	ts := make([]time.Duration, n)
	for i := range ts {
		ts[i] = time.Duration((float64(i) + 0.5) / float64(n) * float64(d))
	}
	return ts
}

// FramesAt extracts one frame per offset, in order.
func (f *FFmpeg) FramesAt(ctx context.Context, path string, at []time.Duration, maxDim int) ([][]byte, error) {
	out := make([][]byte, 0, len(at))
	for _, t := range at {
		img, err := f.Frame(ctx, path, t, maxDim)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	return out, nil
}

// DecodeCheck decodes the primary video stream for a few seconds at the
// start and at the end of the file (ffmpeg -v error … -f null -), so the
// cost does not grow with the length of the video.
//
// A file is broken (permanent video_decode_error) when ffmpeg cannot open
// or demux it, a decoder reports an error, ffmpeg says data is missing
// (truncation: "File ended prematurely", "partial file", …) or a window
// decodes no frame (an intact header over cut-off data). Other complaints
// of the container demuxer while both windows decode are not a verdict: a
// live-recorded Matroska file followed by junk plays fine, and the user
// expects it to count as healthy. Those lines come back as warnings (one
// line each, without ffmpeg's memory addresses, so a re-check yields the
// same text). A file without video is no_video_stream; ffmpeg_missing and
// ffmpeg_timeout pass through.
func (f *FFmpeg) DecodeCheck(ctx context.Context, path string) (warnings string, err error) {
	return f.DecodeCheckKnown(ctx, path, 0)
}

// DecodeCheckKnown is DecodeCheck for a file whose container duration is
// known (ffprobe's VideoInfo.Duration; 0 = unknown). A clip no longer than
// the check window is decoded once, completely, because the start and end
// windows would read the same frames: half the cost for short clips, the
// common case of generated videos. A truncated short clip still fails, as
// ffmpeg reports the missing data while reading to the end.
func (f *FFmpeg) DecodeCheckKnown(ctx context.Context, path string, duration time.Duration) (warnings string, err error) {
	window := strconv.FormatFloat(checkWindow.Seconds(), 'f', 0, 64)
	// in are input options (before -i), out output options.
	type run struct {
		name    string
		in, out []string
	}
	runs := []run{
		{"start", nil, []string{"-t", window}},
		// -sseof on a file without a known duration is ignored with a
		// warning, which then checks the start again: harmless.
		{"end", []string{"-sseof", "-" + window}, []string{"-t", window}},
	}
	if duration > 0 && duration <= checkWindow {
		// Bounded anyway, should the container understate its length.
		runs = []run{{"whole", nil, []string{"-t", strconv.FormatFloat(2*checkWindow.Seconds(), 'f', 0, 64)}}}
	}
	var notes []string
	for _, w := range runs {
		args := append([]string{"-v", "error", "-nostdin", "-hide_banner"}, w.in...)
		args = append(args, "-i", inputPath(path), "-map", "0:V:0")
		args = append(args, w.out...)
		args = append(args, "-f", "null", "-", "-progress", "pipe:1")
		out, stderr, err := f.tool().run(ctx, 1<<20, args...)
		fatal, benign := sortDecodeErrors(stderr)
		if err = classifyNoVideo(err); err != nil {
			if reason.Code(err) == CodeFFmpegFailed {
				// ffmpeg could not even open or demux the file.
				return "", fmt.Errorf("decode check of %s (%s): %w", path, w.name,
					&reason.Error{Code: CodeVideoDecodeError, Kind: reason.KindPermanent, Msg: joinLines(append(fatal, benign...)), Err: err})
			}
			return "", fmt.Errorf("decode check of %s (%s): %w", path, w.name, err)
		}
		if len(fatal) > 0 {
			return "", fmt.Errorf("decode check of %s (%s): %w", path, w.name, reason.New(CodeVideoDecodeError, joinLines(fatal)))
		}
		if progressFrames(out) == 0 {
			msg := "no frame could be decoded"
			if len(benign) > 0 {
				msg += ": " + joinLines(benign)
			}
			return "", fmt.Errorf("decode check of %s (%s): %w", path, w.name, reason.New(CodeVideoDecodeError, msg))
		}
		for _, l := range benign {
			if !slices.Contains(notes, l) {
				notes = append(notes, l)
			}
		}
	}
	return joinLines(notes), nil
}

// sortDecodeErrors splits ffmpeg's error output into lines that make the
// file broken and lines that are only remarks of the container demuxer.
// Decoder errors, lines of unknown origin and any line that says data is
// missing are fatal; the null muxer's complaints about timestamps of
// perfectly good WebM audio ("non monotonically increasing dts") say
// nothing about the file and are dropped. Memory addresses are removed.
func sortDecodeErrors(stderr string) (fatal, benign []string) {
	for _, l := range strings.Split(stderr, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "Last message repeated") {
			continue
		}
		src, l := logSource(l)
		switch {
		case src == "null":
			continue
		case reportsMissingData(l):
			fatal = append(fatal, l)
		case isContainerDemuxer(src):
			benign = append(benign, l)
		default:
			fatal = append(fatal, l)
		}
	}
	return fatal, benign
}

// logSource returns the component that logged line l ("matroska,webm" for
// "[matroska,webm @ 0x55…] text"; "" when the line has no prefix) and the
// line with the address dropped ("[matroska,webm] text"). Newer ffmpeg
// tags input-side lines "in#0/matroska,webm".
func logSource(l string) (src, clean string) {
	rest, ok := strings.CutPrefix(l, "[")
	if !ok {
		return "", l
	}
	tag, text, ok := strings.Cut(rest, "]")
	if !ok {
		return "", l
	}
	name, _, _ := strings.Cut(tag, " @ ")
	if i := strings.LastIndex(name, "/"); i >= 0 && strings.HasPrefix(name, "in#") {
		name = name[i+1:]
	}
	return name, "[" + name + "]" + text
}

// reportsMissingData is true for ffmpeg's words for a file that ends
// before its content does (truncation, a lost index), whoever logs them.
func reportsMissingData(l string) bool {
	l = strings.ToLower(l)
	for _, m := range []string{"file ended prematurely", "partial file", "moov atom not found",
		"invalid data found", "truncat", "end of file", "corrupt"} {
		if strings.Contains(l, m) {
			return true
		}
	}
	return false
}

// isContainerDemuxer reports whether src names an ffmpeg demuxer of a
// video container (its log prefix), as opposed to a decoder such as h264.
func isContainerDemuxer(src string) bool {
	switch src {
	case "matroska,webm", "mov,mp4,m4a,3gp,3g2,mj2", "avi", "flv", "mpegts", "mpeg", "asf", "ogg", "nut":
		return true
	}
	return false
}

// joinLines keeps the last three lines, bounded for meta and messages.
func joinLines(ls []string) string {
	return reason.Truncate(lastLines(strings.Join(ls, "\n"), 3), 400)
}

// progressFrames returns the last frame= value of ffmpeg -progress output.
func progressFrames(out []byte) int {
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "frame="); ok {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return n
}
