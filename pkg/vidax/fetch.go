package vidax

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// download fetches an asset into a ".part" file beside dest, verifies it and
// only then renames it (or its unpacked folder) to dest, so dest never holds
// a half or unverified file. A broken download keeps its .part and the next
// install resumes it with a Range request; a resumed file that fails the
// hash is fetched once more from the start (its old part may be stale).
func (in *Installer) download(ctx context.Context, e entry, dest string) error {
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return writeErr(filepath.Dir(dest), err)
	}
	part := dest + ".part"
	if e.a.Unpack != "" {
		part = dest + ".zip.part"
	}
	for attempt := 0; ; attempt++ {
		resumed, err := in.fetch(ctx, e.a.URL, part)
		if err != nil {
			return err
		}
		if e.a.SHA256 == "" {
			break
		}
		sum, err := fileSHA256(part)
		if err != nil {
			return writeErr(part, err)
		}
		if strings.EqualFold(sum, e.a.SHA256) {
			break
		}
		_ = os.Remove(part)
		if resumed && attempt == 0 {
			continue
		}
		return reason.Newf(CodeHashMismatch, "the download of %s has SHA-256 %s, the manifest says %s: check the url and the sha256 in the manifest", e.a.URL, sum, strings.ToLower(e.a.SHA256)).
			With("url", e.a.URL).With("got", sum).With("want", strings.ToLower(e.a.SHA256))
	}
	if e.a.Unpack != "" {
		err := unpackZip(part, dest, e.a.StripRoot)
		// A refused archive is not resumed later: it is removed with the
		// unpacked one.
		_ = os.Remove(part)
		if err != nil {
			return err
		}
	} else {
		// A changed asset fetched again replaces the old file in one rename.
		if err := os.Rename(part, dest); err != nil {
			return writeErr(dest, err)
		}
	}
	if e.a.SHA256 != "" {
		return in.writeMarker(e, dest)
	}
	return nil
}

// fetch downloads url into part, resuming an existing part with a Range
// request. It reports whether it resumed.
func (in *Installer) fetch(ctx context.Context, url, part string) (bool, error) {
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return false, reason.Newf(CodeInputNotFound, "asset url %q is not an http(s) URL", url)
	}
	hc := in.HTTP
	if hc == nil {
		hc = &http.Client{}
	}
	var have int64
	if fi, err := os.Stat(part); err == nil {
		have = fi.Size()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, reason.Newf(CodeInputNotFound, "asset url %q: %v", url, err)
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := hc.Do(req)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return false, err
		}
		return false, dlErr(url, err)
	}
	defer resp.Body.Close()
	flags := os.O_CREATE | os.O_WRONLY
	resumed := false
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0 && rangeStart(resp.Header.Get("Content-Range")) == have:
		flags |= os.O_APPEND
		resumed = true
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && have > 0:
		// The part is already complete; the hash decides.
		return true, nil
	case resp.StatusCode == http.StatusOK:
		flags |= os.O_TRUNC // the server ignored Range: start over
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return false, reason.Newf(CodeInputNotFound, "%s answered HTTP %d: the asset is not there (check the url in the manifest)", url, resp.StatusCode).With("http_status", resp.StatusCode)
	default:
		return false, &reason.Error{Code: CodeDownloadFailed, Kind: reason.KindTransient,
			Msg: fmt.Sprintf("%s answered HTTP %d: try again later or check the url", url, resp.StatusCode)}
	}
	f, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return false, writeErr(part, err)
	}
	_, cerr := io.Copy(f, resp.Body)
	if err := f.Close(); err != nil && cerr == nil {
		cerr = err
	}
	if cerr != nil {
		var pe *os.PathError
		if errors.As(cerr, &pe) {
			return false, writeErr(part, cerr)
		}
		if errors.Is(cerr, context.Canceled) {
			return false, cerr
		}
		return false, dlErr(url, cerr)
	}
	if resp.ContentLength >= 0 {
		if fi, err := os.Stat(part); err == nil && resumed && fi.Size() != have+resp.ContentLength {
			return false, dlErr(url, fmt.Errorf("got %d bytes, expected %d", fi.Size()-have, resp.ContentLength))
		}
	}
	return resumed, nil
}

func dlErr(url string, err error) error {
	return &reason.Error{Code: CodeDownloadFailed, Kind: reason.KindTransient, Err: err,
		Msg: fmt.Sprintf("downloading %s broke off: run install again, it resumes where it stopped", url)}
}

// rangeStart parses the first byte of "bytes 100-199/200" (-1 if unknown).
func rangeStart(cr string) int64 {
	s, ok := strings.CutPrefix(strings.TrimSpace(cr), "bytes ")
	if !ok {
		return -1
	}
	s, _, _ = strings.Cut(s, "-")
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// sha256Hex is the hex SHA-256 of b (tests and manifests).
func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
