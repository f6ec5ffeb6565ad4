package vidax

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

// Client calls a `vidax serve` (the web UI's dashboard card). Safe for
// concurrent use.
type Client struct {
	base *url.URL
	key  string
	http *http.Client
}

// NewClient returns a client for baseURL sending key as x-api-key; hc nil:
// every call is bounded by its context only.
func NewClient(baseURL, key string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, reason.Newf(CodeConfigInvalid, "vidax address %q is not an http(s) URL: set comfyui.vidax_url like http://127.0.0.1:4111/", baseURL)
	}
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: u, key: key, http: hc}, nil
}

// Status is GET /install/status.
func (c *Client) Status(ctx context.Context) (StatusAnswer, error) {
	var a StatusAnswer
	return a, c.do(ctx, http.MethodGet, PathInstallStatus, &a)
}

// Install is POST /install.
func (c *Client) Install(ctx context.Context) (InstallAnswer, error) {
	var a InstallAnswer
	return a, c.do(ctx, http.MethodPost, PathInstall, &a)
}

// Start is POST /jobs/web/start (vidax ignores the id).
func (c *Client) Start(ctx context.Context) (StartAnswer, error) {
	var a StartAnswer
	return a, c.do(ctx, http.MethodPost, strings.Replace(PathJobStart, "{id}", "web", 1), &a)
}

// Stop is POST /comfyui/stop.
func (c *Client) Stop(ctx context.Context) (StopAnswer, error) {
	var a StopAnswer
	return a, c.do(ctx, http.MethodPost, PathComfyStop, &a)
}

// do sends one request. A vidax refusal keeps the server's reason_code and
// sentence; transport failures and non-vidax answers get client codes.
func (c *Client) do(ctx context.Context, method, path string, dst any) error {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return fmt.Errorf("vidax: build request: %w", err)
	}
	req.Header.Set("x-api-key", c.key)
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		return reason.Transient(CodeUnreachable, fmt.Errorf("vidax is not reachable at %s: start it with `vidax serve` and check comfyui.vidax_url: %w", c.base.Host, err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return reason.Transient(CodeUnreachable, fmt.Errorf("vidax at %s broke off the answer to %s: %w", c.base.Host, path, err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var eb ErrorBody
		if json.Unmarshal(body, &eb) == nil && eb.ReasonCode != "" {
			e := reason.New(eb.ReasonCode, eb.Message).With("http_status", resp.StatusCode)
			if resp.StatusCode >= 500 {
				e.Kind = reason.KindTransient
			}
			return e
		}
		return reason.Newf(CodeBadResponse, "vidax at %s answered %s with HTTP %d: is comfyui.vidax_url really vidax?", c.base.Host, path, resp.StatusCode).With("http_status", resp.StatusCode)
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return reason.Newf(CodeBadResponse, "vidax at %s answered %s with something that is not its JSON (%v)", c.base.Host, path, err)
	}
	return nil
}
