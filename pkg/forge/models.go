package forge

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Model is one entry of GET /sdapi/v1/sd-models.
type Model struct {
	// Title is what sd_model_checkpoint holds: "name.safetensors [hash]".
	Title     string `json:"title"`
	ModelName string `json:"model_name"`
	Hash      string `json:"hash,omitempty"`
	SHA256    string `json:"sha256,omitempty"`
	Filename  string `json:"filename,omitempty"`
}

// Name is the display name: the first non-empty of model_name, title,
// filename (as in the original's list).
func (m Model) Name() string {
	for _, s := range []string{m.ModelName, m.Title, m.Filename} {
		if s != "" {
			return s
		}
	}
	return ""
}

// Model list statuses and sources (original names).
const (
	ListOK             = "ok"
	ListTransportError = "transport_error"
	ListTimeout        = "timeout"
	ListHTTPError      = "http_error"
	ListAuthFailed     = "auth_failed"
	ListParseError     = "parse_error"

	SourceLive       = "live"
	SourceCache      = "cache"
	SourceStaleCache = "stale_cache"
)

// ModelList is the answer of Client.ModelList: the models plus where they
// came from and what the last fetch reported.
type ModelList struct {
	Models    []Model   `json:"models"`
	Status    string    `json:"status"`
	Source    string    `json:"source"`
	Error     string    `json:"error,omitempty"`
	HTTPCode  int       `json:"http_code,omitempty"`
	FetchedAt time.Time `json:"fetched_at"`
}

type modelCache struct {
	models    []Model
	fetchedAt time.Time // zero when never fetched successfully
	failAt    time.Time // zero when the last fetch succeeded
	failErr   error
}

// ModelList returns the sd-models list, cached for ModelsTTL. A failed
// fetch is cached for NegativeTTL; while it is, or when the fetch fails,
// the last good list is returned with source stale_cache. The error is
// non-nil only when no list at all is available.
func (c *Client) ModelList(ctx context.Context) (ModelList, error) {
	return c.modelList(ctx, false)
}

// RefreshModelList bypasses the positive cache (a checkpoint was just added
// to the server) but still honours the negative cache.
func (c *Client) RefreshModelList(ctx context.Context) (ModelList, error) {
	return c.modelList(ctx, true)
}

// CachedModelList returns the last fetched list without any network call
// (ok false when none was ever fetched), so a page can render a model select
// without waiting for Forge.
func (c *Client) CachedModelList() (ModelList, bool) {
	c.mu.Lock()
	cached := c.cache
	c.mu.Unlock()
	if cached.fetchedAt.IsZero() {
		return ModelList{Models: []Model{}}, false
	}
	src := SourceCache
	if !cached.failAt.IsZero() || c.clock.Now().Sub(cached.fetchedAt) >= c.modelsTTL {
		src = SourceStaleCache
	}
	return ModelList{Models: cloneModels(cached.models), Status: ListOK, Source: src, FetchedAt: cached.fetchedAt}, true
}

func (c *Client) modelList(ctx context.Context, force bool) (ModelList, error) {
	now := c.clock.Now()
	c.mu.Lock()
	cached := c.cache
	c.mu.Unlock()

	if !force && !cached.fetchedAt.IsZero() && cached.failAt.IsZero() && now.Sub(cached.fetchedAt) < c.modelsTTL {
		return ModelList{Models: cloneModels(cached.models), Status: ListOK, Source: SourceCache, FetchedAt: cached.fetchedAt}, nil
	}
	if !cached.failAt.IsZero() && now.Sub(cached.failAt) < c.negTTL {
		return staleOrErr(cached, cached.failErr)
	}

	var models []Model
	err := c.do(ctx, call{method: http.MethodGet, path: PathSDModels, out: &models, timeout: c.shortTO})
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		// A cancelled caller says nothing about the server: do not cache it.
		if reason.Code(err) != CodeCancelled {
			c.cache.failAt = now
			c.cache.failErr = err
		}
		return staleOrErr(c.cache, err)
	}
	c.cache = modelCache{models: models, fetchedAt: now}
	return ModelList{Models: cloneModels(models), Status: ListOK, Source: SourceLive, FetchedAt: now}, nil
}

func staleOrErr(mc modelCache, err error) (ModelList, error) {
	ml := ModelList{Status: listStatus(err), Error: reason.Truncate(err.Error(), 240), FetchedAt: mc.fetchedAt}
	if f := reason.FieldsOf(err); f != nil {
		if n, ok := f["http_code"].(int); ok {
			ml.HTTPCode = n
		}
	}
	if mc.fetchedAt.IsZero() {
		ml.Models = []Model{}
		return ml, err
	}
	ml.Models = cloneModels(mc.models)
	ml.Source = SourceStaleCache
	return ml, nil
}

func cloneModels(m []Model) []Model {
	out := make([]Model, len(m))
	copy(out, m)
	return out
}

func listStatus(err error) string {
	switch code := reason.Code(err); {
	case code == CodeTimeout:
		return ListTimeout
	case code == CodeUnreachable || code == CodeCancelled:
		return ListTransportError
	case code == CodeHTTP401 || code == CodeHTTP403:
		return ListAuthFailed
	case code == CodeInvalidResponse:
		return ListParseError
	default:
		return ListHTTPError
	}
}

// splitTitle splits a checkpoint title "name [hash]" into its parts; hash
// is "" when the string has no bracketed hex suffix. Hand-written because it
// runs for every model on every lookup.
func splitTitle(s string) (name, hash string) {
	t := strings.TrimSpace(s)
	if !strings.HasSuffix(t, "]") {
		return t, ""
	}
	i := strings.LastIndexByte(t, '[')
	if i < 0 || !isHex(t[i+1:len(t)-1]) {
		return t, ""
	}
	return strings.TrimSpace(t[:i]), t[i+1 : len(t)-1]
}

// isHex reports whether s is 8..64 hex digits (short hash to sha256).
func isHex(s string) bool {
	if len(s) < 8 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// baseName strips directories written with either separator.
func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

// stem strips directories and a checkpoint extension.
func stem(p string) string {
	b := baseName(strings.TrimSpace(p))
	lower := strings.ToLower(b)
	for _, ext := range []string{".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft"} {
		if strings.HasSuffix(lower, ext) {
			return b[:len(b)-len(ext)]
		}
	}
	return b
}

// Match kinds reported in ModelResolution.MatchedBy.
const (
	MatchTitle      = "title"
	MatchName       = "name"
	MatchFilename   = "filename"
	MatchStem       = "stem"
	MatchHash       = "hash"
	MatchFallback   = "fallback"
	MatchUnverified = "unverified"
	// MatchLoaded: the checkpoint loaded on the server, used because
	// neither the requested model nor the fallback is installed.
	MatchLoaded = "loaded"
)

// FindModel looks a requested model up in the server's list. It accepts the
// checkpoint title ("name.safetensors [hash]"), the model_name, the file name
// with or without directory and extension, the short hash or the sha256
// (also as the bracketed part of a title whose name part changed), all
// case-insensitively. It returns the match kind.
func FindModel(models []Model, requested string) (Model, string, bool) {
	q := strings.TrimSpace(requested)
	if q == "" {
		return Model{}, "", false
	}
	for _, m := range models {
		if m.Title != "" && strings.EqualFold(m.Title, q) {
			return m, MatchTitle, true
		}
	}
	for _, m := range models {
		if m.ModelName != "" && strings.EqualFold(m.ModelName, q) {
			return m, MatchName, true
		}
	}
	namePart, hashPart := splitTitle(q)
	for _, m := range models {
		if m.Filename != "" && strings.EqualFold(baseName(m.Filename), baseName(namePart)) {
			return m, MatchFilename, true
		}
	}
	qs := stem(namePart)
	for _, m := range models {
		for _, cand := range []string{m.Filename, m.ModelName, titleName(m.Title)} {
			if cand != "" && strings.EqualFold(stem(cand), qs) {
				return m, MatchStem, true
			}
		}
	}
	if hashPart == "" && isHex(q) {
		hashPart = q
	}
	if hashPart != "" {
		for _, m := range models {
			if hashMatches(m, hashPart) {
				return m, MatchHash, true
			}
		}
	}
	return Model{}, "", false
}

func titleName(title string) string {
	n, _ := splitTitle(title)
	return n
}

func hashMatches(m Model, h string) bool {
	h = strings.ToLower(h)
	hs := []string{strings.ToLower(m.Hash), strings.ToLower(m.SHA256)}
	if _, th := splitTitle(m.Title); th != "" {
		hs = append(hs, strings.ToLower(th))
	}
	for _, x := range hs {
		if x == "" {
			continue
		}
		// Short hashes are sha256 prefixes (A1111 uses 10 hex digits,
		// legacy model hashes 8), so a prefix match in either direction
		// identifies the same file.
		if x == h || strings.HasPrefix(x, h) || strings.HasPrefix(h, x) {
			return true
		}
	}
	return false
}

// SameModel reports whether two checkpoint strings denote the same model in
// the list (e.g. an active title versus a requested model name). Without a
// list it falls back to a case-insensitive comparison of the name parts.
func SameModel(models []Model, a, b string) bool {
	ma, _, oka := FindModel(models, a)
	mb, _, okb := FindModel(models, b)
	if oka && okb {
		return strings.EqualFold(ma.Title, mb.Title) && strings.EqualFold(ma.Filename, mb.Filename)
	}
	return a != "" && strings.EqualFold(stem(titleName(a)), stem(titleName(b)))
}

// ModelResolution is how a requested model was mapped to a checkpoint.
type ModelResolution struct {
	Requested string `json:"requested_model"`
	// Checkpoint is the string to send as sd_model_checkpoint: the server's
	// title when the list knew the model, else the requested (or fallback)
	// string unverified.
	Checkpoint   string `json:"resolved_model"`
	Name         string `json:"model_name"`
	MatchedBy    string `json:"matched_by"`
	FallbackUsed bool   `json:"fallback_used"`
}

// ResolveModel maps requested to a checkpoint of the list, then tries the
// fallback. With an empty list (server down while planning) the request is
// kept unverified so the worker can resolve it against the live list; with
// a non-empty list an unknown model becomes the fallback.
func ResolveModel(models []Model, requested, fallback string) ModelResolution {
	r := ModelResolution{Requested: requested}
	if m, by, ok := FindModel(models, requested); ok {
		r.Checkpoint, r.Name, r.MatchedBy = checkpointOf(m), m.Name(), by
		return r
	}
	if len(models) == 0 {
		r.MatchedBy = MatchUnverified
		r.Checkpoint = strings.TrimSpace(requested)
		if r.Checkpoint == "" {
			r.Checkpoint, r.FallbackUsed = fallback, true
		}
		r.Name = stem(titleName(r.Checkpoint))
		return r
	}
	r.FallbackUsed = true
	r.MatchedBy = MatchFallback
	if m, _, ok := FindModel(models, fallback); ok {
		r.Checkpoint, r.Name = checkpointOf(m), m.Name()
		return r
	}
	r.Checkpoint, r.Name = fallback, stem(fallback)
	return r
}

func checkpointOf(m Model) string {
	if m.Title != "" {
		return m.Title
	}
	return m.Name()
}

// CheckpointResult reports what EnsureCheckpoint did.
type CheckpointResult struct {
	Requested    string `json:"requested_model"`
	Active       string `json:"active_model"`
	Switched     bool   `json:"switched"`
	FallbackUsed bool   `json:"fallback_used"`
	// LoadedUsed is set when neither the requested model nor the fallback
	// is installed and the checkpoint already loaded on the server was used.
	LoadedUsed bool   `json:"loaded_used,omitempty"`
	MatchedBy  string `json:"matched_by"`
	// Note explains a substitution in plain words ("model X was not
	// installed; used Y (loaded on the server)"); empty when the requested
	// model was used.
	Note string `json:"note,omitempty"`
}

// EnsureCheckpoint makes the requested model (or else the fallback, or when
// neither is installed the checkpoint the server has loaded) the active
// checkpoint: resolve against the model list (refreshing it once when
// the model is unknown), read sd_model_checkpoint, switch when it differs and
// verify by re-reading. Comparison goes through the model list, so a model
// name matches the server's "name [hash]" title (defect 30).
func (c *Client) EnsureCheckpoint(ctx context.Context, requested, fallback string) (CheckpointResult, error) {
	res := CheckpointResult{Requested: requested}
	ml, err := c.ModelList(ctx)
	if err != nil {
		return res, err
	}
	models := ml.Models
	if _, _, ok := FindModel(models, requested); !ok && requested != "" && ml.Source != SourceLive {
		if fresh, ferr := c.RefreshModelList(ctx); ferr == nil {
			models = fresh.Models
		}
	}
	targets := []struct {
		name     string
		fallback bool
	}{{requested, false}, {fallback, true}}
	var lastActive string
	tried := 0
	for _, t := range targets {
		m, by, ok := FindModel(models, t.name)
		if !ok {
			continue
		}
		if t.fallback && tried > 0 && strings.EqualFold(m.Title, res.Active) {
			continue
		}
		tried++
		active, err := c.ActiveCheckpoint(ctx)
		if err != nil {
			return res, err
		}
		res.Active, res.MatchedBy, res.FallbackUsed = active, by, t.fallback
		if t.fallback {
			res.Note = modelNote(requested, m.Title, "the configured fallback, forge.internal_model_fallback")
		}
		if SameModel(models, active, m.Title) {
			return res, nil
		}
		if err := c.SetCheckpoint(ctx, checkpointOf(m)); err != nil {
			// A switch to an unknown name is a 500 on A1111; try the
			// fallback, but transport problems end the attempt.
			if reason.Code(err) != CodeHTTP5xx {
				return res, err
			}
		}
		active, err = c.ActiveCheckpoint(ctx)
		if err != nil {
			return res, err
		}
		lastActive = active
		res.Active = active
		if SameModel(models, active, m.Title) {
			res.Switched = true
			return res, nil
		}
	}
	if tried == 0 {
		// Neither the image's model nor the fallback is installed: generate
		// with the checkpoint the server has loaded, the one model known to
		// work there, instead of failing (issue #17 item 4).
		active, err := c.ActiveCheckpoint(ctx)
		if err != nil {
			return res, err
		}
		lastActive = active
		if m, _, ok := FindModel(models, active); ok {
			res.Active, res.MatchedBy, res.LoadedUsed = m.Title, MatchLoaded, true
			res.Note = modelNote(requested, m.Title, "loaded on the server")
			return res, nil
		}
	}
	code := CodeModelSwitch
	if tried == 0 {
		code = CodeModelNotFound
	}
	e := reason.Newf(code, "model resolve failed: requested %q, fallback %q, active %q", requested, fallback, lastActive)
	e.Fields = map[string]any{"requested_model": requested, "fallback_model": fallback, "active_model": lastActive}
	return res, e
}

// modelNote says which checkpoint replaced the requested one and why, for
// the job result and the UI's job view.
func modelNote(requested, used, why string) string {
	if strings.TrimSpace(requested) == "" {
		return fmt.Sprintf("the image names no model; used %s (%s)", used, why)
	}
	return fmt.Sprintf("model %s was not installed; used %s (%s)", requested, used, why)
}

// ErrorDetail is a compact description of a Forge error for job results and
// audit rows: reason_code, http_code, target_url, message.
func ErrorDetail(err error) map[string]any {
	if err == nil {
		return nil
	}
	out := map[string]any{"reason_code": reason.CodeOr(err, "forge_error"), "error": reason.Truncate(err.Error(), 240)}
	for k, v := range reason.FieldsOf(err) {
		out[k] = v
	}
	if _, ok := out["http_code"]; !ok {
		out["http_code"] = 0
	}
	return out
}
