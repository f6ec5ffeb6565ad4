package comfy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Reason codes of the prompt API.
const (
	// CodePromptRejected: ComfyUI refused the graph (HTTP 400 with
	// error/node_errors); the message names the nodes and what was wrong.
	CodePromptRejected = "comfy_prompt_rejected"
	// CodeExecutionFailed: the graph ran and a node raised an error.
	CodeExecutionFailed = "comfy_execution_failed"
	// CodePromptLost: the prompt is neither queued nor in the history any
	// more (ComfyUI restarted or the queue was cleared); worth a retry.
	CodePromptLost = "comfy_prompt_lost"
	// CodeNoOutput: the graph finished without an image output.
	CodeNoOutput = "comfy_no_output"
)

// ComfyUI API paths (server.py).
const (
	PathPrompt     = "/prompt"
	PathHistory    = "/history/"
	PathView       = "/view"
	PathObjectInfo = "/object_info"
	PathModels     = "/models"
	PathQueue      = "/queue"
	PathInterrupt  = "/interrupt"
)

// maxViewBytes bounds one fetched output file.
const maxViewBytes = 256 << 20

// Submitted is the answer to POST /prompt.
type Submitted struct {
	PromptID string `json:"prompt_id"`
	Number   int    `json:"number"`
	// NodeErrors lists nodes ComfyUI could not validate but whose outputs
	// were not needed (the prompt still runs).
	NodeErrors map[string]NodeError `json:"node_errors"`
}

// PromptError is the "error" object of a rejected prompt.
type PromptError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Details string `json:"details"`
}

// NodeError is one entry of "node_errors".
type NodeError struct {
	Errors           []PromptError `json:"errors"`
	DependentOutputs []any         `json:"dependent_outputs"`
	ClassType        string        `json:"class_type"`
}

// Submit queues an API graph (POST /prompt with {prompt, client_id}). A 400
// answer is comfy_prompt_rejected (permanent) naming each failing node, its
// class and ComfyUI's message; fields "node_errors" and "error_type" keep the
// details for the job result.
func (c *Client) Submit(ctx context.Context, graph json.RawMessage, clientID string) (Submitted, error) {
	body, err := json.Marshal(map[string]any{"prompt": graph, "client_id": clientID})
	if err != nil {
		return Submitted{}, fmt.Errorf("comfy: encode prompt: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url(PathPrompt, nil), bytes.NewReader(body))
	if err != nil {
		return Submitted{}, fmt.Errorf("comfy: build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	status, rb, err := c.do(req, maxResponseBytes)
	if err != nil {
		return Submitted{}, err
	}
	if status == http.StatusBadRequest {
		var rej struct {
			Error      PromptError          `json:"error"`
			NodeErrors map[string]NodeError `json:"node_errors"`
		}
		if json.Unmarshal(rb, &rej) == nil && (rej.Error.Type != "" || len(rej.NodeErrors) > 0) {
			return Submitted{}, rejected(rej.Error, rej.NodeErrors)
		}
	}
	if err := c.statusError(PathPrompt, status, rb); err != nil {
		return Submitted{}, err
	}
	var out Submitted
	if err := c.decode(PathPrompt, rb, &out); err != nil {
		return Submitted{}, err
	}
	if out.PromptID == "" {
		return Submitted{}, reason.Newf(CodeInvalidResponse, "ComfyUI accepted the prompt but gave no prompt_id: is %s really ComfyUI?", c.base.Host)
	}
	return out, nil
}

func rejected(pe PromptError, nodes map[string]NodeError) error {
	ids := make([]string, 0, len(nodes))
	for id := range nodes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	parts := make([]string, 0, len(ids))
	for _, id := range ids {
		ne := nodes[id]
		msgs := make([]string, 0, len(ne.Errors))
		for _, e := range ne.Errors {
			msgs = append(msgs, strings.TrimSpace(e.Message+": "+e.Details))
		}
		parts = append(parts, fmt.Sprintf("node %s (%s): %s", id, ne.ClassType, strings.Join(msgs, "; ")))
	}
	msg := strings.TrimSpace(pe.Message + " " + pe.Details)
	if len(parts) > 0 {
		msg += " — " + strings.Join(parts, " | ")
	}
	return reason.Newf(CodePromptRejected, "ComfyUI refused the workflow: %s. Install what it names or choose other values, then try again", msg).
		With("error_type", pe.Type).With("node_errors", nodes)
}

// FileRef names one output file as /history lists it and /view serves it.
type FileRef struct {
	Filename  string `json:"filename"`
	Subfolder string `json:"subfolder"`
	Type      string `json:"type"`
}

// NodeOutput is one node's entry in a history item's "outputs".
type NodeOutput struct {
	Images []FileRef `json:"images"`
}

// HistoryItem is one entry of GET /history/{prompt_id}.
type HistoryItem struct {
	Outputs map[string]NodeOutput `json:"outputs"`
	Status  struct {
		StatusStr string `json:"status_str"`
		Completed bool   `json:"completed"`
		// Messages are [event, data] pairs (execution_start,
		// execution_cached, execution_error, execution_success, …).
		Messages [][]json.RawMessage `json:"messages"`
	} `json:"status"`
}

// Images returns every output image, by output node id order.
func (h HistoryItem) Images() []FileRef {
	ids := make([]string, 0, len(h.Outputs))
	for id := range h.Outputs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []FileRef
	for _, id := range ids {
		out = append(out, h.Outputs[id].Images...)
	}
	return out
}

// ExecutionError is the data of an "execution_error" status message.
type ExecutionError struct {
	NodeID           string `json:"node_id"`
	NodeType         string `json:"node_type"`
	ExceptionType    string `json:"exception_type"`
	ExceptionMessage string `json:"exception_message"`
}

// Failure returns comfy_execution_failed for an item whose status is
// "error" (nil otherwise), naming the node and ComfyUI's exception.
func (h HistoryItem) Failure() error {
	if h.Status.StatusStr != "error" {
		return nil
	}
	var ee ExecutionError
	for _, m := range h.Status.Messages {
		var ev string
		if len(m) == 2 && json.Unmarshal(m[0], &ev) == nil && ev == "execution_error" {
			_ = json.Unmarshal(m[1], &ee)
		}
	}
	return reason.Newf(CodeExecutionFailed, "ComfyUI failed while running node %s (%s): %s %s",
		ee.NodeID, ee.NodeType, ee.ExceptionType, strings.TrimSpace(ee.ExceptionMessage)).
		With("node_id", ee.NodeID).With("node_type", ee.NodeType)
}

// History returns the history item of a prompt; found is false while the
// prompt is still queued or running (ComfyUI answers {}).
func (c *Client) History(ctx context.Context, promptID string) (item HistoryItem, found bool, err error) {
	var all map[string]HistoryItem
	if err := c.getJSON(ctx, PathHistory+url.PathEscape(promptID), nil, &all); err != nil {
		return HistoryItem{}, false, err
	}
	item, found = all[promptID]
	return item, found, nil
}

// QueueState is GET /queue reduced to prompt ids.
type QueueState struct {
	Running []string
	Pending []string
}

// Has reports whether the prompt is running or pending.
func (q QueueState) Has(promptID string) bool {
	return slices.Contains(q.Running, promptID) || slices.Contains(q.Pending, promptID)
}

// Queue lists the running and pending prompts. Each queue entry is
// [number, prompt_id, prompt, extra_data, outputs_to_execute].
func (c *Client) Queue(ctx context.Context) (QueueState, error) {
	var raw struct {
		Running [][]json.RawMessage `json:"queue_running"`
		Pending [][]json.RawMessage `json:"queue_pending"`
	}
	if err := c.getJSON(ctx, PathQueue, nil, &raw); err != nil {
		return QueueState{}, err
	}
	ids := func(entries [][]json.RawMessage) []string {
		out := make([]string, 0, len(entries))
		for _, e := range entries {
			var id string
			if len(e) > 1 && json.Unmarshal(e[1], &id) == nil {
				out = append(out, id)
			}
		}
		return out
	}
	return QueueState{Running: ids(raw.Running), Pending: ids(raw.Pending)}, nil
}

// Cancel takes a prompt out of ComfyUI: deleted from the pending queue
// (POST /queue {"delete": [id]}) and, when it is the running one,
// interrupted (POST /interrupt {"prompt_id": id}; servers that ignore the
// body interrupt the current prompt, which was checked to be this one).
func (c *Client) Cancel(ctx context.Context, promptID string) error {
	q, err := c.Queue(ctx)
	if err != nil {
		return err
	}
	if slices.Contains(q.Pending, promptID) {
		if err := c.postJSON(ctx, PathQueue, map[string]any{"delete": []string{promptID}}); err != nil {
			return err
		}
	}
	if slices.Contains(q.Running, promptID) {
		return c.postJSON(ctx, PathInterrupt, map[string]any{"prompt_id": promptID})
	}
	return nil
}

func (c *Client) postJSON(ctx context.Context, path string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url(path, nil), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("comfy: build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	return c.doJSON(req, nil)
}

// View fetches one output file (GET /view?filename&subfolder&type).
func (c *Client) View(ctx context.Context, f FileRef) ([]byte, error) {
	q := url.Values{"filename": {f.Filename}, "subfolder": {f.Subfolder}, "type": {f.Type}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(PathView, q), nil)
	if err != nil {
		return nil, fmt.Errorf("comfy: build request: %w", err)
	}
	status, body, err := c.do(req, maxViewBytes)
	if err != nil {
		return nil, err
	}
	if err := c.statusError(PathView, status, body); err != nil {
		return nil, err
	}
	return body, nil
}

// NodeInfo is one node class of GET /object_info.
type NodeInfo struct {
	Input struct {
		Required map[string]json.RawMessage `json:"required"`
		Optional map[string]json.RawMessage `json:"optional"`
	} `json:"input"`
	Output     []any `json:"output"`
	OutputNode bool  `json:"output_node"`
}

// ObjectInfo maps node class names to their definitions.
type ObjectInfo map[string]NodeInfo

// ObjectInfo fetches every node class the server knows.
func (c *Client) ObjectInfo(ctx context.Context) (ObjectInfo, error) {
	var out ObjectInfo
	if err := c.getJSON(ctx, PathObjectInfo, nil, &out); err != nil {
		return nil, err
	}
	if out == nil {
		return nil, reason.Newf(CodeInvalidResponse, "ComfyUI answered %s with no node classes: is %s really ComfyUI?", PathObjectInfo, c.base.Host)
	}
	return out, nil
}

// Options returns the allowed values of a combo input (the loaders' model
// lists: CheckpointLoaderSimple.ckpt_name, LoraLoader.lora_name, …). Both
// spellings ComfyUI has used are read: [[values…], {…}] and
// ["COMBO", {"options": [values…]}]. ok is false for other inputs.
func (oi ObjectInfo) Options(class, input string) (values []string, ok bool) {
	ni, known := oi[class]
	if !known {
		return nil, false
	}
	raw, has := ni.Input.Required[input]
	if !has {
		raw, has = ni.Input.Optional[input]
	}
	if !has {
		return nil, false
	}
	var spec []json.RawMessage
	if json.Unmarshal(raw, &spec) != nil || len(spec) == 0 {
		return nil, false
	}
	var list []any
	if json.Unmarshal(spec[0], &list) == nil {
		return stringsOf(list), true
	}
	var typ string
	if json.Unmarshal(spec[0], &typ) == nil && typ == "COMBO" && len(spec) > 1 {
		var opts struct {
			Options []any `json:"options"`
		}
		if json.Unmarshal(spec[1], &opts) == nil && opts.Options != nil {
			return stringsOf(opts.Options), true
		}
	}
	return nil, false
}

func stringsOf(list []any) []string {
	out := make([]string, 0, len(list))
	for _, v := range list {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// Models lists the files of one model folder (GET /models/{folder}, e.g.
// checkpoints, loras, vae, upscale_models). ok is false on servers without
// that route (404).
func (c *Client) Models(ctx context.Context, folder string) (names []string, ok bool, err error) {
	err = c.getJSON(ctx, PathModels+"/"+url.PathEscape(folder), nil, &names)
	if reason.Code(err) == CodeHTTPStatus && reason.FieldsOf(err)["http_status"] == http.StatusNotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return names, true, nil
}
