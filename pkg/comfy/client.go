package comfy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Reason codes produced by the client.
const (
	CodeUnreachable     = "comfy_unreachable"
	CodeTimeout         = "comfy_timeout"
	CodeHTTPStatus      = "comfy_http_error"
	CodeInvalidResponse = "comfy_invalid_response"
)

// ComfyUI API paths.
const (
	PathSystemStats = "/system_stats"
)

// maxResponseBytes bounds a JSON response body (object_info of a large
// install is a few MB).
const maxResponseBytes = 64 << 20

// Client calls one ComfyUI server. It is safe for concurrent use.
type Client struct {
	base *url.URL
	http *http.Client
}

// New returns a client for baseURL using hc (nil: a client without a global
// timeout; every call is bounded by its context).
func New(baseURL string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, reason.Newf(CodeConfigInvalid, "ComfyUI address %q is not an http(s) URL", baseURL)
	}
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: u, http: hc}, nil
}

// BaseURL is the server's address as configured.
func (c *Client) BaseURL() string { return c.base.String() }

func (c *Client) url(path string, q url.Values) string {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = q.Encode()
	return u.String()
}

// SystemStats is /system_stats: what the dashboard shows as "ComfyUI is up".
type SystemStats struct {
	System struct {
		OS             string `json:"os"`
		PythonVersion  string `json:"python_version"`
		ComfyUIVersion string `json:"comfyui_version"`
		EmbeddedPython bool   `json:"embedded_python"`
	} `json:"system"`
	Devices []struct {
		Name      string `json:"name"`
		Type      string `json:"type"`
		Index     int    `json:"index"`
		VRAMTotal int64  `json:"vram_total"`
		VRAMFree  int64  `json:"vram_free"`
	} `json:"devices"`
}

// SystemStats asks the server for its version and devices; it is the
// liveness check.
func (c *Client) SystemStats(ctx context.Context) (SystemStats, error) {
	var out SystemStats
	err := c.getJSON(ctx, PathSystemStats, nil, &out)
	return out, err
}

// getJSON GETs path and decodes a JSON body into dst.
func (c *Client) getJSON(ctx context.Context, path string, q url.Values, dst any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(path, q), nil)
	if err != nil {
		return fmt.Errorf("comfy: build request: %w", err)
	}
	return c.doJSON(req, dst)
}

// doJSON sends req and decodes a 2xx JSON body into dst (nil: body
// discarded). Transport failures, non-2xx answers and undecodable bodies
// become reason errors naming the path and saying what to check.
func (c *Client) doJSON(req *http.Request, dst any) error {
	status, body, err := c.do(req, maxResponseBytes)
	if err != nil {
		return err
	}
	if err := c.statusError(req.URL.Path, status, body); err != nil {
		return err
	}
	return c.decode(req.URL.Path, body, dst)
}

// do sends req and reads the whole body, at most limit bytes (a longer
// body is comfy_invalid_response); transport failures become comfy_timeout
// / comfy_unreachable (transient).
func (c *Client) do(req *http.Request, limit int64) (int, []byte, error) {
	path := req.URL.Path
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			return 0, nil, reason.Transient(CodeTimeout, fmt.Errorf("ComfyUI at %s did not answer %s in time: is it busy or stuck? %w", c.base.Host, path, err))
		}
		if errors.Is(err, context.Canceled) {
			return 0, nil, err
		}
		return 0, nil, reason.Transient(CodeUnreachable, fmt.Errorf("ComfyUI is not reachable at %s: start it (or vidax) and check comfyui.base_url: %w", c.base.Host, err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return 0, nil, reason.Transient(CodeUnreachable, fmt.Errorf("ComfyUI at %s broke off the answer to %s: %w", c.base.Host, path, err))
	}
	if int64(len(body)) > limit {
		return 0, nil, reason.Newf(CodeInvalidResponse, "ComfyUI's answer to %s is larger than %d MiB: is %s really ComfyUI?", path, limit>>20, c.base.Host)
	}
	return resp.StatusCode, body, nil
}

// statusError is comfy_http_error for a non-2xx answer (transient for 5xx).
func (c *Client) statusError(path string, status int, body []byte) error {
	if status >= 200 && status <= 299 {
		return nil
	}
	e := reason.Newf(CodeHTTPStatus, "ComfyUI answered %s with HTTP %d: %s", path, status, snippet(body)).With("http_status", status)
	if status >= 500 {
		e.Kind = reason.KindTransient
	}
	return e
}

// decode unmarshals a JSON body into dst (nil: ignored).
func (c *Client) decode(path string, body []byte, dst any) error {
	if dst == nil {
		return nil
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return reason.Newf(CodeInvalidResponse, "ComfyUI answered %s with something that is not the expected JSON (%v): is %s really ComfyUI?", path, err, c.base.Host)
	}
	return nil
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// snippet is the start of a body for an error message.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
