// Package mediaops implements the additive media jobs (integrity_check,
// hash_compute, upscale), the library rename job and the operator tools
// built on them (consistency checks, cleanup of missing media, selftest).
//
// Handlers are plain functions over *sql.DB and the filesystem so that the
// worker binaries only wire them to pkg/jobs.
package mediaops

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Reason codes of this package.
const (
	CodeHashMismatch     = "hash_mismatch"
	CodeRIFFSize         = probe.CodeRIFFSize
	CodeNotImage         = "not_an_image"
	CodeScaleInvalid     = "upscale_scale_invalid"
	CodeUpscaleFailed    = "upscale_failed"
	CodeWriteFailed      = "derivative_write_failed"
	CodeMediaMissing     = "media_not_found"
	CodeRenameCollision  = "rename_target_occupied"
	CodeRenameSrcMissing = "rename_source_missing"
	CodeRenameDBFailed   = "rename_db_failed"
	CodeToolMissing      = "tool_missing"
	// CodeDuplicateActivePath: consistency-check found one path held by
	// several active media.
	CodeDuplicateActivePath = "media_duplicate_active_path"
)

// Integrity is the outcome of an integrity check. A broken file is a
// result, not an error: OK=false with Code and Message.
type Integrity struct {
	OK      bool   `json:"ok"`
	Code    string `json:"error_code"`
	Message string `json:"error_message"`
	// Warning is what the checker noticed in a file it still judged
	// playable (e.g. junk after a live-recorded Matroska stream).
	Warning string `json:"warning,omitempty"`
}

// VideoChecker probes and decode-checks a video. *probe.FFmpeg (with its
// Prober) satisfies it through FFmpegChecker.
type VideoChecker interface {
	// Probe returns an error when ffprobe cannot read the container or
	// finds no video stream, else the container's duration (0: unknown).
	Probe(ctx context.Context, path string) (time.Duration, error)
	// DecodeCheck decodes the start and end of the primary video stream
	// (duration from Probe lets a short clip be decoded in one run).
	// warnings describes remarks about a file that still passed.
	DecodeCheck(ctx context.Context, path string, duration time.Duration) (warnings string, err error)
}

// FFmpegChecker adapts pkg/probe's ffmpeg wrappers to VideoChecker.
type FFmpegChecker struct{ FF *probe.FFmpeg }

// Probe runs ffprobe and requires a video stream.
func (c FFmpegChecker) Probe(ctx context.Context, path string) (time.Duration, error) {
	vi, err := c.FF.Prober().Probe(ctx, path)
	if err != nil {
		return 0, err
	}
	if !vi.HasVideo {
		return 0, reason.New(probe.CodeNoVideoStream, "no video stream")
	}
	return vi.Duration, nil
}

// DecodeCheck runs the bounded ffmpeg decode probe.
func (c FFmpegChecker) DecodeCheck(ctx context.Context, path string, duration time.Duration) (string, error) {
	return c.FF.DecodeCheckKnown(ctx, path, duration)
}

// toolErrorCodes are failures of the environment, not of the file: they
// fail the job (so an operator sees it) instead of flagging the media.
var toolErrorCodes = map[string]bool{
	probe.CodeFFprobeMissing: true, probe.CodeFFmpegMissing: true,
	probe.CodeFFprobeTimeout: true, probe.CodeFFmpegTimeout: true,
	probe.CodeCancelled: true, probe.CodeOutputTooLarge: true,
}

// CheckIntegrity checks one file (spec 6.2, defect 29 fixed): existence,
// readability and size for every type; images get header, pixel budget,
// a full decode (refused above maxPixels before allocating); every file
// first gets the import's structural check (probe.CheckStructure: PNG chunk
// CRCs and IEND, JPEG EOI, WebP RIFF size, MP4 boxes, Matroska segment
// size); videos get ffprobe plus a decode probe of start and end. It returns an
// error only when the check itself could not run (tool missing, timeout,
// cancelled, transient I/O); a broken file is reported in Integrity.
func CheckIntegrity(ctx context.Context, path, mediaType string, maxPixels int64, vc VideoChecker) (Integrity, error) {
	if err := ctx.Err(); err != nil {
		return Integrity{}, err
	}
	st, err := os.Stat(path)
	switch {
	case path == "" || errors.Is(err, os.ErrNotExist):
		return bad(probe.CodeMissingFile, "file does not exist"), nil
	case errors.Is(err, os.ErrPermission):
		return bad(probe.CodeNotReadable, "permission denied"), nil
	case err != nil:
		return Integrity{}, reason.Transient(probe.CodeNotReadable, err)
	case !st.Mode().IsRegular():
		return bad(probe.CodeMissingFile, "not a regular file"), nil
	case st.Size() == 0:
		return bad(probe.CodeEmptyFile, "file is empty"), nil
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return bad(probe.CodeNotReadable, "permission denied"), nil
		}
		return bad(probe.CodeNotReadable, err.Error()), nil
	}
	// The import's structural check first (PNG CRCs and IEND, JPEG EOI,
	// WebP RIFF size, MP4 boxes, Matroska segment size): the job then
	// reports a file the import flagged with the same reason code, and
	// never clears a verdict ffmpeg is lenient about.
	serr := probe.CheckStructure(f, st.Size())
	f.Close()
	if serr != nil {
		if reason.KindOf(serr) == reason.KindTransient {
			return Integrity{}, serr
		}
		return bad(reason.Code(serr), serr.Error()), nil
	}
	if mediaType == "video" {
		if vc == nil {
			return Integrity{}, reason.New(CodeToolMissing, "no video checker configured")
		}
		dur, err := vc.Probe(ctx, path)
		if err != nil {
			return classify(err)
		}
		warn, err := vc.DecodeCheck(ctx, path, dur)
		if err != nil {
			return classify(err)
		}
		return Integrity{OK: true, Warning: reason.Truncate(warn, 240)}, nil
	}
	if err := probe.CheckImage(path, maxPixels); err != nil {
		return classify(err)
	}
	return Integrity{OK: true}, nil
}

func bad(code, msg string) Integrity {
	return Integrity{OK: false, Code: code, Message: reason.Truncate(msg, 240)}
}

// classify turns a probe error into a file verdict, or passes it on when it
// is about the environment rather than the file.
func classify(err error) (Integrity, error) {
	code := reason.Code(err)
	if toolErrorCodes[code] || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Integrity{}, err
	}
	if code == "" {
		code = probe.CodeDecodeFailed
	}
	return bad(code, err.Error()), nil
}
