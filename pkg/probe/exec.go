package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// maxStderr bounds the diagnostic text kept from a tool run.
const maxStderr = 64 << 10

// tool names one external program and the reason codes its failures map to.
type tool struct {
	name                              string // for messages: "ffprobe", "ffmpeg"
	path                              string
	timeout                           time.Duration
	codeMissing, codeFailed, codeTime string
}

// capBuffer is a bytes.Buffer that stops storing at max bytes. It keeps
// accepting (and dropping) writes so the child never blocks on a full pipe
// while it is being killed; the overflow flag lets run report a typed error instead of silently
// returning truncated output.
type capBuffer struct {
	// buf is a field, not embedded: an embedded bytes.Buffer would lend
	// capBuffer its ReadFrom, and io.Copy would bypass the limit in Write.
	buf      bytes.Buffer
	max      int
	overflow bool
	// onOverflow runs once, at the first write past max: it kills the
	// child so a runaway writer costs no more than max bytes of work.
	onOverflow func()
}

func (c *capBuffer) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); len(p) > room {
		if room > 0 {
			c.buf.Write(p[:room])
		}
		if !c.overflow && c.onOverflow != nil {
			c.onOverflow()
		}
		c.overflow = true
		return len(p), nil
	}
	return c.buf.Write(p)
}

// run executes the tool with a hard timeout and bounded output. The process
// is killed when ctx ends or the timeout passes; WaitDelay makes sure a
// stuck pipe cannot keep run from returning.
func (t tool) run(ctx context.Context, maxOut int, args ...string) (stdoutData []byte, stderrText string, err error) {
	tctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	cmd := exec.CommandContext(tctx, t.path, args...)
	cmd.WaitDelay = 2 * time.Second
	stdout := &capBuffer{max: maxOut, onOverflow: cancel}
	stderr := &capBuffer{max: maxStderr}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err = cmd.Run()
	switch {
	case stdout.overflow:
		return nil, "", reason.Permanent(CodeOutputTooLarge, fmt.Errorf("%s: output exceeds %d bytes", t.name, maxOut))
	case err == nil:
		return stdout.buf.Bytes(), stderr.buf.String(), nil
	case errors.Is(err, exec.ErrNotFound) || errors.Is(err, exec.ErrDot) || isNotExist(err):
		// Permanent: retrying cannot help until someone installs the tool
		// or fixes tools.<name> in the config.
		return nil, "", reason.Permanent(t.codeMissing, fmt.Errorf("%s not found at %q: %w", t.name, t.path, err))
	case ctx.Err() != nil:
		return nil, "", reason.Transient(CodeCancelled, fmt.Errorf("%s: %w", t.name, ctx.Err()))
	case tctx.Err() != nil:
		// Transient: a slow disk or a busy machine are the usual causes; the
		// job runner's attempt limit stops a file that always times out.
		return nil, "", reason.Transient(t.codeTime, fmt.Errorf("%s: killed after %s", t.name, t.timeout))
	}
	msg := lastLines(stderr.buf.String(), 3)
	if msg == "" {
		msg = err.Error()
	}
	return nil, stderr.buf.String(), &reason.Error{Code: t.codeFailed, Kind: reason.KindPermanent,
		Msg: reason.Truncate(msg, 400), Err: err}
}

// isNotExist catches a configured absolute tool path that does not exist
// (fork/exec reports ENOENT); an exit status never counts.
func isNotExist(err error) bool {
	var ee *exec.ExitError
	return !errors.As(err, &ee) && errors.Is(err, fs.ErrNotExist)
}

// lastLines keeps the last n non-empty lines of tool diagnostics, where
// ffmpeg puts the actual reason.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	var keep []string
	for i := len(lines) - 1; i >= 0 && len(keep) < n; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			keep = append([]string{l}, keep...)
		}
	}
	return strings.Join(keep, " | ")
}

// inputPath makes a media path safe to hand to ffmpeg/ffprobe: relative
// names such as "concat:a|b" or "http:x" would be taken as protocols and a
// leading "-" as an option, so every input is passed as an absolute path.
func inputPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}
