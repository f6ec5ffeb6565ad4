package jobs

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Warnings counts the items of a job that failed while the job as a whole
// still ended done (a scan_path job whose files partly could not be
// imported). A handler puts it at the top level of its result as
// "warnings": {"total": n, "by_reason": {"place_failed": n}}, where the job
// center and jobs-admin find and show it (ResultWarnings, Text).
type Warnings struct {
	Total    int            `json:"total"`
	ByReason map[string]int `json:"by_reason"`
	// Unit names the items in plain words ("files"); "" means "items".
	Unit string `json:"unit,omitempty"`
}

// AddWarning counts one failed item (unit names the items, e.g. "files")
// with its reason code on *w, creating it on first use; an empty code
// counts as "error".
func AddWarning(w **Warnings, unit, code string) {
	if *w == nil {
		*w = &Warnings{ByReason: map[string]int{}, Unit: unit}
	}
	if code == "" {
		code = "error"
	}
	(*w).Total++
	(*w).ByReason[code]++
}

// Codes returns the reason codes, most frequent first (ties by name).
func (w *Warnings) Codes() []string {
	if w == nil {
		return nil
	}
	codes := make([]string, 0, len(w.ByReason))
	for c := range w.ByReason {
		codes = append(codes, c)
	}
	sort.Slice(codes, func(i, j int) bool {
		a, b := w.ByReason[codes[i]], w.ByReason[codes[j]]
		if a != b {
			return a > b
		}
		return codes[i] < codes[j]
	})
	return codes
}

// Dominant is the most frequent reason code ("" without warnings).
func (w *Warnings) Dominant() string {
	if c := w.Codes(); len(c) > 0 {
		return c[0]
	}
	return ""
}

// Text says in plain words how many items failed and why, with what to do
// when the main reason has general advice, e.g. "1271 files failed
// (disk_full: 1271): no space left on the disk; free space …". It is ""
// for a nil w.
func (w *Warnings) Text() string {
	if w == nil || w.Total == 0 {
		return ""
	}
	noun := w.Unit
	if noun == "" {
		noun = "items"
	}
	parts := make([]string, 0, len(w.ByReason))
	for _, c := range w.Codes() {
		parts = append(parts, fmt.Sprintf("%s: %d", c, w.ByReason[c]))
	}
	s := fmt.Sprintf("%d %s failed (%s)", w.Total, noun, strings.Join(parts, ", "))
	if h := reason.Hint(w.Dominant()); h != "" {
		s += ": " + h
	}
	return s
}

// ResultWarnings returns the top-level "warnings" object of a job's result
// JSON, or nil when it has none.
func ResultWarnings(resultJSON string) *Warnings {
	if !strings.Contains(resultJSON, `"warnings"`) {
		return nil
	}
	var r struct {
		Warnings json.RawMessage `json:"warnings"`
	}
	if json.Unmarshal([]byte(resultJSON), &r) != nil {
		return nil
	}
	return ParseWarnings(string(r.Warnings))
}

// ParseWarnings decodes a warnings object (as json_extract(result_json,
// '$.warnings') returns it), or returns nil when s is empty, invalid or
// counts nothing.
func ParseWarnings(s string) *Warnings {
	if s == "" || s == "null" {
		return nil
	}
	var w Warnings
	if json.Unmarshal([]byte(s), &w) != nil || w.Total == 0 {
		return nil
	}
	return &w
}
