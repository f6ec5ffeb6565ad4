package scanner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// maxResponseBytes bounds how much of a response is read; tagger answers
// are a few KB, so anything near this is a misbehaving server.
const maxResponseBytes = 32 << 20

// bodySnippetLen is the body excerpt kept in error fields (spec 4.6: ≤512).
const bodySnippetLen = 512

// FrameSource extracts n still frames spread over the duration of a video,
// each scaled so its longer side is at most maxDim, encoded as PNG or JPEG.
// pkg/thumb (ffmpeg) implements it; errors should carry a reason code such
// as ffmpeg_missing.
type FrameSource interface {
	Frames(ctx context.Context, path string, n, maxDim int) ([][]byte, error)
}

// FrameSourceFunc adapts a function to FrameSource.
type FrameSourceFunc func(ctx context.Context, path string, n, maxDim int) ([][]byte, error)

// Frames implements FrameSource.
func (f FrameSourceFunc) Frames(ctx context.Context, path string, n, maxDim int) ([][]byte, error) {
	return f(ctx, path, n, maxDim)
}

// Client talks to one PixAI-compatible tagger. It is safe for concurrent
// use.
type Client struct {
	cfg Config
	hc  *http.Client
}

// New returns a client for cfg (normalised: zero values get defaults).
// httpClient may be nil, in which case a client with its own transport is
// used. The client's own Timeout, if any, still applies; the configured
// scanner.timeout and scanner.connect_timeout are enforced per request
// through the context, so they work with any transport.
func New(cfg Config, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = &http.Client{
			Transport: &http.Transport{
				Proxy:               http.ProxyFromEnvironment,
				MaxIdleConnsPerHost: 4,
				IdleConnTimeout:     90 * time.Second,
			},
			// A followed 301/302 turns the POST into a body-less GET: the
			// scanner would "receive no image data". Surface the redirect.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &Client{cfg: cfg.Normalized(), hc: httpClient}
}

// Config returns the normalised config in use.
func (c *Client) Config() Config { return c.cfg }

// Validate reports whether a scan may be attempted (see Config.Validate).
func (c *Client) Validate() error { return c.cfg.Validate() }

// ImageURL and BatchURL return the endpoint URLs requests go to.
func (c *Client) ImageURL() string { return c.endpointURL(c.cfg.ImageEndpoint) }

// BatchURL returns the batch endpoint URL.
func (c *Client) BatchURL() string { return c.endpointURL(c.cfg.BatchEndpoint) }

func (c *Client) endpointURL(ep string) string {
	if strings.HasPrefix(ep, "http://") || strings.HasPrefix(ep, "https://") {
		return ep
	}
	return strings.TrimRight(c.cfg.BaseURL, "/") + "/" + strings.TrimLeft(ep, "/")
}

// ScanImage posts the image file as multipart field "image" to the image
// endpoint and parses the answer. With a disabled or misconfigured scanner
// it returns the Validate error without reading the file or sending
// anything.
func (c *Client) ScanImage(ctx context.Context, path string) (*Result, error) {
	if err := c.cfg.Validate(); err != nil {
		return nil, err
	}
	f, size, err := openMedia(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return c.post(ctx, c.ImageURL(), "image", filepath.Base(path), f, size)
}

// ScanImageData is ScanImage for in-memory image bytes (Forge outputs,
// fallback frames). name is the file name sent in the multipart header.
func (c *Client) ScanImageData(ctx context.Context, name string, data []byte) (*Result, error) {
	if err := c.cfg.Validate(); err != nil {
		return nil, err
	}
	return c.post(ctx, c.ImageURL(), "image", name, bytes.NewReader(data), int64(len(data)))
}

// ScanVideo posts the video file as multipart field "file" to the batch
// endpoint. When that fails with an HTTP error or an unusable answer (not
// when the scanner is down, slow or rejects the credentials, where frames
// would fail the same way) and frames is not nil, it extracts
// scanner.video_fallback_frames frames spread over the video, scans each
// through the image endpoint and merges them: highest score, highest
// rating, union of tags with the highest confidence. Frames that fail are
// skipped; if all fail the error is fallback_scan_failed.
func (c *Client) ScanVideo(ctx context.Context, path string, frames FrameSource) (*Result, error) {
	if err := c.cfg.Validate(); err != nil {
		return nil, err
	}
	f, size, err := openMedia(path)
	if err != nil {
		return nil, err
	}
	res, batchErr := c.post(ctx, c.BatchURL(), "file", filepath.Base(path), f, size)
	f.Close()
	if batchErr == nil {
		return res, nil
	}
	if frames == nil || !fallbackEligible(batchErr) || ctx.Err() != nil {
		return nil, batchErr
	}
	return c.scanFrames(ctx, path, frames, batchErr)
}

// fallbackEligible: the batch endpoint answered, but not usefully.
func fallbackEligible(err error) bool {
	switch reason.Code(err) {
	case CodeHTTP4xx, CodeHTTP5xx, CodeInvalidJSON, CodeErrorResponse, CodeNoParts, CodeUnrecognized:
		return true
	}
	return false
}

func (c *Client) scanFrames(ctx context.Context, path string, src FrameSource, batchErr error) (*Result, error) {
	n, maxDim := c.cfg.VideoFallbackFrames, c.cfg.VideoFallbackMaxDim
	batchCode := reason.Code(batchErr)
	withBatch := func(e *reason.Error) *reason.Error {
		e = e.With("batch_error_code", batchCode)
		return e.With("response_type_detected", TypeFallbackFrames)
	}
	imgs, err := src.Frames(ctx, path, n, maxDim)
	if err != nil {
		var re *reason.Error
		if !errors.As(err, &re) {
			re = &reason.Error{Code: CodeFrameExtractFailed, Kind: reason.KindPermanent, Msg: "video fallback: frame extraction failed", Err: err}
		} else {
			re = &reason.Error{Code: re.Code, Kind: re.Kind, Msg: "video fallback", Fields: re.Fields, Err: err}
		}
		return nil, withBatch(re)
	}
	if len(imgs) == 0 {
		return nil, withBatch(&reason.Error{Code: CodeNoFrames, Kind: reason.KindPermanent,
			Msg: "video fallback: no frames extracted", Err: batchErr})
	}

	var (
		parts   []*Result
		raws    []any
		lastErr error
		failed  int
		status  int
	)
	for i, img := range imgs {
		name := fmt.Sprintf("frame_%02d%s", i+1, frameExt(img))
		r, err := c.post(ctx, c.ImageURL(), "image", name, bytes.NewReader(img), int64(len(img)))
		if err != nil {
			// Rejected credentials or a cancelled job will not get better
			// on the next frame.
			if code := reason.Code(err); code == CodeAuthFailed || code == CodeCancelled {
				return nil, err
			}
			failed++
			lastErr = err
			raws = append(raws, map[string]any{"_error": err.Error(), "error_code": reason.Code(err)})
			continue
		}
		status = r.HTTPStatus
		parts = append(parts, r)
		raws = append(raws, r.Raw)
	}
	if len(parts) == 0 {
		return nil, withBatch(&reason.Error{Code: CodeFallbackFailed, Kind: reason.KindOf(lastErr),
			Msg: fmt.Sprintf("video fallback: all %d frame scans failed", len(imgs)), Err: lastErr})
	}
	res := merge(parts, c.cfg.NSFWThreshold)
	res.ResponseShape = ShapeFallback
	res.ResponseType = TypeFallbackFrames
	res.FallbackUsed = true
	res.Endpoint = redactURL(c.ImageURL())
	res.HTTPStatus = status
	res.Debug.PartsFailed = failed
	if res.Scanner == "" {
		res.Scanner = c.cfg.Name
	}
	res.Raw, _ = jsonMarshal(map[string]any{
		"fallback":         "frames",
		"batch_endpoint":   redactURL(c.BatchURL()),
		"batch_error_code": batchCode,
		"batch_error":      batchErr.Error(),
		"frames":           raws,
	})
	res.fillMeta()
	res.Meta["fallback_frames_requested"] = n
	res.Meta["fallback_frames_scanned"] = len(parts)
	res.Meta["fallback_frames_failed"] = failed
	res.Meta["batch_error_code"] = batchCode
	return res, nil
}

func frameExt(b []byte) string {
	switch http.DetectContentType(b) {
	case "image/png":
		return ".png"
	case "image/jpeg":
		return ".jpg"
	case "image/webp":
		return ".webp"
	}
	return ".bin"
}

func openMedia(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		code := CodeFileUnreadable
		if errors.Is(err, os.ErrNotExist) {
			code = CodeFileMissing
		}
		return nil, 0, &reason.Error{Code: code, Kind: reason.KindPermanent, Msg: "open " + filepath.Base(path), Err: err}
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = errors.New("not a regular file")
		}
		return nil, 0, &reason.Error{Code: CodeFileUnreadable, Kind: reason.KindPermanent, Msg: "stat " + filepath.Base(path), Err: err}
	}
	return f, st.Size(), nil
}

// errConnectTimeout is the cancel cause set when no connection was
// obtained within connect_timeout.
type connectTimeoutError struct{ d time.Duration }

func (e connectTimeoutError) Error() string { return fmt.Sprintf("connect timed out after %s", e.d) }

// post sends one multipart upload and classifies the outcome.
func (c *Client) post(ctx context.Context, endpoint, field, filename string, body io.Reader, size int64) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, c.transportError(ctx, nil, endpoint, err)
	}
	// The multipart envelope is built around the file so the request has
	// an exact Content-Length: the PixAI scanner's stdlib HTTP server does
	// not decode chunked bodies and would see an empty upload.
	var env bytes.Buffer
	mw := multipart.NewWriter(&env)
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, field, sanitizeFilename(filename)))
	h.Set("Content-Type", contentTypeFor(filename))
	if _, err := mw.CreatePart(h); err != nil {
		return nil, fmt.Errorf("build multipart: %w", err)
	}
	head := append([]byte(nil), env.Bytes()...)
	env.Reset()
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("build multipart: %w", err)
	}
	tail := append([]byte(nil), env.Bytes()...)

	reqCtx, cancelTotal := context.WithTimeout(ctx, c.cfg.TimeoutDuration())
	defer cancelTotal()
	reqCtx, cancelCause := context.WithCancelCause(reqCtx)
	defer cancelCause(nil)
	connectTimeout := c.cfg.ConnectTimeoutDuration()
	connTimer := time.AfterFunc(connectTimeout, func() { cancelCause(connectTimeoutError{connectTimeout}) })
	defer connTimer.Stop()
	reqCtx = httptrace.WithClientTrace(reqCtx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { connTimer.Stop() },
	})

	req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, endpoint,
		io.MultiReader(bytes.NewReader(head), io.LimitReader(body, size), bytes.NewReader(tail)))
	if err != nil {
		return nil, &reason.Error{Code: CodeNotConfigured, Kind: reason.KindPermanent,
			Msg: "invalid scanner URL", Err: err,
			Fields: map[string]any{"missing_keys": []string{"scanner.base_url"}, "endpoint": redactURL(endpoint)}}
	}
	req.ContentLength = int64(len(head)) + size + int64(len(tail))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "supervisor-scanner/1")
	c.setAuth(req.Header)

	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.transportError(reqCtx, ctx, endpoint, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, c.transportError(reqCtx, ctx, endpoint, err)
	}
	res, ierr := c.interpret(resp.StatusCode, endpoint, data)
	if ierr != nil && resp.StatusCode >= 300 && resp.StatusCode < 400 {
		var re *reason.Error
		if errors.As(ierr, &re) {
			re.Msg += fmt.Sprintf(": redirect to %s; point scanner.base_url/endpoints at the final address",
				redactURL(resp.Header.Get("Location")))
		}
	}
	return res, ierr
}

func (c *Client) setAuth(h http.Header) {
	switch c.cfg.AuthMode() {
	case AuthToken:
		// Verbatim: the PixAI scanner compares the raw header value.
		h.Set("Authorization", c.cfg.Token)
	case AuthAPIKey:
		h.Set(c.cfg.APIKeyHeader, c.cfg.APIKey)
	}
}

// authDescription names the header mode without the secret.
func (c *Client) authDescription() string {
	switch c.cfg.AuthMode() {
	case AuthToken:
		return "Authorization header from scanner.token (sent verbatim, no Bearer prefix)"
	case AuthAPIKey:
		return fmt.Sprintf("%s header from scanner.api_key", c.cfg.APIKeyHeader)
	}
	return "no credentials"
}

// interpret classifies a received response.
func (c *Client) interpret(status int, endpoint string, body []byte) (*Result, error) {
	ep := redactURL(endpoint)
	fields := func(respType string) map[string]any {
		return map[string]any{
			"http_status":            status,
			"endpoint":               ep,
			"body_snippet":           c.snippet(body),
			"response_type_detected": respType,
		}
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return nil, &reason.Error{Code: CodeAuthFailed, Kind: reason.KindPermanent,
			Msg:    fmt.Sprintf("scanner rejected credentials (HTTP %d) sent as %s", status, c.authDescription()),
			Fields: withField(fields(TypeNone), "auth_mode", string(c.cfg.AuthMode()))}
	case status >= 500:
		return nil, &reason.Error{Code: CodeHTTP5xx, Kind: reason.KindTransient,
			Msg: httpMsg(status, ep, body), Fields: fields(TypeNone)}
	case status >= 400:
		kind := reason.KindPermanent
		if status == http.StatusRequestTimeout || status == http.StatusTooManyRequests {
			kind = reason.KindTransient
		}
		msg := httpMsg(status, ep, body)
		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
			// The seed's "scanner receives no image data" case: a wrong
			// route. Say which setting to change.
			msg += "; check scanner.image_endpoint / scanner.batch_endpoint"
		}
		return nil, &reason.Error{Code: CodeHTTP4xx, Kind: kind, Msg: msg, Fields: fields(TypeNone)}
	case status < 200 || status >= 300:
		return nil, &reason.Error{Code: CodeHTTP4xx, Kind: reason.KindPermanent,
			Msg: httpMsg(status, ep, body), Fields: fields(TypeNone)}
	}
	res, err := Parse(body, c.cfg.NSFWThreshold)
	if err != nil {
		re := err.(*reason.Error)
		f := fields(TypeUnknown)
		for k, v := range re.Fields {
			f[k] = v
		}
		re.Fields = f
		return nil, re
	}
	res.Endpoint, res.HTTPStatus = ep, status
	if res.Scanner == "" {
		res.Scanner = c.cfg.Name
	}
	res.fillMeta()
	return res, nil
}

func withField(m map[string]any, k string, v any) map[string]any {
	m[k] = v
	return m
}

func httpMsg(status int, ep string, body []byte) string {
	msg := fmt.Sprintf("HTTP %d from %s", status, ep)
	if b := bytes.TrimSpace(body); len(b) > 0 && b[0] == '{' {
		var obj map[string]any
		if jsonUnmarshal(b, &obj) == nil {
			if m := errorMessage(obj, true); m != "" {
				msg += ": " + reason.Truncate(m, 200)
			}
		}
	}
	return msg
}

// transportError classifies a failure to get a response. reqCtx is the
// per-request context, parent the caller's (nil when they are the same).
func (c *Client) transportError(reqCtx, parent context.Context, endpoint string, err error) error {
	if parent == nil {
		parent = reqCtx
	}
	ep := redactURL(endpoint)
	fields := map[string]any{"endpoint": ep, "response_type_detected": TypeTransportError}
	var cte connectTimeoutError
	var netErr net.Error
	switch {
	case errors.Is(parent.Err(), context.Canceled):
		return &reason.Error{Code: CodeCancelled, Kind: reason.KindTransient, Msg: "scan cancelled", Err: parent.Err(), Fields: fields}
	case errors.As(context.Cause(reqCtx), &cte):
		fields["phase"] = "connect"
		return &reason.Error{Code: CodeTimeout, Kind: reason.KindTransient,
			Msg: fmt.Sprintf("%s to %s (is scanner.base_url right and the scanner running?)", cte.Error(), ep), Err: err, Fields: fields}
	case errors.Is(reqCtx.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		fields["phase"] = "response"
		return &reason.Error{Code: CodeTimeout, Kind: reason.KindTransient,
			Msg: fmt.Sprintf("no answer from %s within %s", ep, c.cfg.TimeoutDuration()), Err: err, Fields: fields}
	}
	return &reason.Error{Code: CodeUnreachable, Kind: reason.KindTransient,
		Msg: fmt.Sprintf("scanner at %s not reachable (check scanner.base_url)", ep), Err: redactErr(err, c.secrets()), Fields: fields}
}

func (c *Client) secrets() []string {
	var s []string
	if c.cfg.Token != "" {
		s = append(s, c.cfg.Token)
	}
	if c.cfg.APIKey != "" {
		s = append(s, c.cfg.APIKey)
	}
	return s
}

// snippet is a redacted body excerpt: secrets a server might echo never
// reach the database or logs.
func (c *Client) snippet(body []byte) string {
	s := SanitizeSnippet(string(body), bodySnippetLen)
	for _, sec := range c.secrets() {
		s = strings.ReplaceAll(s, sec, "[redacted]")
	}
	return s
}

type redactedError struct {
	msg string
	err error
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.err }

func redactErr(err error, secrets []string) error {
	msg := err.Error()
	changed := false
	for _, s := range secrets {
		if strings.Contains(msg, s) {
			msg, changed = strings.ReplaceAll(msg, s, "[redacted]"), true
		}
	}
	if !changed {
		return err
	}
	return redactedError{msg: msg, err: err}
}

// redactURL drops user info and query (which may hold credentials).
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}

func sanitizeFilename(name string) string {
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == '"' || r == '\\' || r == 0x7f {
			return '_'
		}
		return r
	}, name)
	if name == "" {
		return "upload"
	}
	return name
}

func contentTypeFor(name string) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png":
		return "image/png"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".webp":
		return "image/webp"
	case ".bmp":
		return "image/bmp"
	case ".gif":
		return "image/gif"
	case ".mp4":
		return "video/mp4"
	case ".mkv":
		return "video/x-matroska"
	case ".mov":
		return "video/quicktime"
	case ".webm":
		return "video/webm"
	case ".avi":
		return "video/x-msvideo"
	}
	return "application/octet-stream"
}
