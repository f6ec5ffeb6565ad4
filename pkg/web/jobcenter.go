package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/localsupervisor/supervisor/pkg/catalog"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// dashTTL is how long one computed dashboard serves every poll: any number
// of open tabs costs one set of job queries per dashTTL.
const dashTTL = time.Second

// dashCache holds the last computed dashboard (single flight: concurrent
// polls wait for one computation instead of each running the queries).
type dashCache struct {
	mu   sync.Mutex
	at   time.Time
	data dashboardData
	// clockAt is the server clock's time of the computation: a clock that
	// moved (tests drive it) recomputes, as ages and staleness changed.
	clockAt time.Time
}

// cachedDashboard returns the dashboard, computed at most once per dashTTL.
func (s *Server) cachedDashboard(ctx context.Context) (dashboardData, error) {
	s.dash.mu.Lock()
	defer s.dash.mu.Unlock()
	now := time.Now()
	clockNow := s.clock.Now()
	if !s.dash.at.IsZero() && now.Sub(s.dash.at) < dashTTL && clockNow.Equal(s.dash.clockAt) {
		return s.dash.data, nil
	}
	d, err := s.dashboard(ctx)
	if err != nil {
		return d, err
	}
	s.dash.data, s.dash.at, s.dash.clockAt = d, now, clockNow
	return d, nil
}

// invalidateDashboard makes the next poll compute the dashboard afresh:
// after an action (an import queued, a job cancelled) the job center shows
// it at once instead of up to dashTTL later.
func (s *Server) invalidateDashboard() {
	s.dash.mu.Lock()
	s.dash.at = time.Time{}
	s.dash.mu.Unlock()
}

// jobsSignature fingerprints what the job tables show, so a poll can tell
// whether the tables need re-rendering without fetching them.
func jobsSignature(d dashboardData) string {
	h := sha256.New()
	for _, rows := range [][]catalog.JobRow{d.Imports, d.Running, d.Queued, d.Stuck, d.Done, d.Errors} {
		for _, j := range rows {
			fmt.Fprintf(h, "%d|%s|%s|%d|%s|%s\n", j.ID, j.Status, j.UpdatedAt, j.Progress, j.Live, j.Heartbeat)
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// handleJobTables serves the job center's tables as an HTML fragment: the
// dashboard swaps it in whenever jobs_sig changes, so running jobs show
// their progress live and finished ones move without a page reload.
func (s *Server) handleJobTables(w http.ResponseWriter, r *http.Request) {
	if !info(r).admin {
		s.fail(w, r, http.StatusForbidden, CodeAuthRequired, nil)
		return
	}
	d, err := s.cachedDashboard(r.Context())
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	s.renderFragment(w, r, "dashboard", "jobcenter", map[string]any{"D": d})
}

// handleSourcesFragment serves the dashboard's library sources section:
// the dashboard refreshes it with the job tables, so a folder imported in
// place appears (with its count and last scan) without a reload.
func (s *Server) handleSourcesFragment(w http.ResponseWriter, r *http.Request) {
	if !info(r).admin {
		s.fail(w, r, http.StatusForbidden, CodeAuthRequired, nil)
		return
	}
	s.renderFragment(w, r, "dashboard", "sources", map[string]any{"Sources": s.sourcesSection(r.Context())})
}

// liveInfo is a running job's progress for the job center: a sentence and,
// when the total is known, a bar (Value of Max).
type liveInfo struct {
	Text       string
	Value, Max int
}

// live is a running job's progress in the user's language: files done of
// the total with rate and time left for an import (scan.ScanProgress in
// progress_json), n of m for a batch job; nil when the job reports none.
func (s *Server) live(lang string, j catalog.JobRow) *liveInfo {
	var p scan.ScanProgress
	switch {
	case j.Live != "" && json.Unmarshal([]byte(j.Live), &p) == nil:
		if !p.Counted {
			return &liveInfo{Text: s.i18n.T(lang, "jobs.progress_counting", p.Done, p.Rate)}
		}
		li := &liveInfo{Text: s.i18n.T(lang, "jobs.progress_files", p.Done, p.Total, p.Rate, duration(time.Duration(p.ETA)*time.Second))}
		if p.Total > 0 {
			li.Value, li.Max = p.Done, p.Total
		}
		return li
	case j.ProgressOf > 0:
		return &liveInfo{Text: s.i18n.T(lang, "jobs.progress_batch", j.Progress, j.ProgressOf), Value: j.Progress, Max: j.ProgressOf}
	}
	return nil
}

// outcomeInfo is a finished import's summary and the link to its refused
// files.
type outcomeInfo struct {
	Text    string
	Refused int
	JobID   int64
}

// outcome is nil for jobs that are not finished imports.
func (s *Server) outcome(lang string, j catalog.JobRow) *outcomeInfo {
	if j.Status != jobs.StatusDone && j.Status != jobs.StatusError {
		return nil
	}
	t, refused, ok := s.outcomeText(lang, j)
	if !ok {
		return nil
	}
	return &outcomeInfo{Text: t, Refused: refused, JobID: j.ID}
}

// outcomeText summarises a finished import: imported, duplicates,
// unchanged, refused. ok=false when the job has no import result.
func (s *Server) outcomeText(lang string, j catalog.JobRow) (string, int, bool) {
	if j.Type != jobs.TypeScanPath || !strings.HasPrefix(j.Outcome, "{") {
		return "", 0, false
	}
	var o scan.Summary
	if json.Unmarshal([]byte(j.Outcome), &o) != nil {
		return "", 0, false
	}
	text := s.i18n.T(lang, "jobs.import_summary", o.Imported, o.Duplicates, o.Unchanged, o.Errors)
	if o.DuplicatesMoved > 0 {
		// A move import's duplicate sources left the inbox: say where
		// they went, so nobody thinks them lost.
		text += " " + s.i18n.T(lang, "jobs.import_dupes_moved", o.DuplicatesMoved, s.cfg.Resolve(s.cfg.Paths.Duplicates))
	}
	return text, o.Errors, true
}

// duration renders a time left as "45 s", "12 min", "2 h 5 min".
func duration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes()+0.5)) + " min"
	default:
		return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
	}
}

// refusedRow is one file an import refused.
type refusedRow struct {
	Path   string
	Code   string
	Reason string
	At     string
}

// refusedLimit bounds the refused-files page (the newest first).
const refusedLimit = 1000

// handleRefused lists the files one import refused (import_log error rows
// written below the job's folder while it ran) with their reasons in plain
// words, and links the integrity check's findings (the Issues filter).
func (s *Server) handleRefused(w http.ResponseWriter, r *http.Request) {
	if !s.requireAdminPage(w, r) {
		return
	}
	ctx := r.Context()
	id, ok := parseID(r.URL.Query().Get("job"))
	if !ok {
		s.fail(w, r, http.StatusBadRequest, CodeBadRequest, nil)
		return
	}
	var typ, payload, created string
	var finished, result string
	err := s.rdb.QueryRowContext(ctx, `SELECT type, COALESCE(payload_json,''), created_at, COALESCE(finished_at,''),
		COALESCE(CASE WHEN json_valid(result_json) THEN json_extract(result_json, '$.result') END, '') FROM jobs WHERE id = ?`, id).
		Scan(&typ, &payload, &created, &finished, &result)
	if err != nil || typ != jobs.TypeScanPath {
		s.fail(w, r, http.StatusNotFound, CodeNotFound, err)
		return
	}
	var p struct {
		Path string `json:"path"`
	}
	_ = json.Unmarshal([]byte(payload), &p)
	rows, err := s.refusedFiles(ctx, p.Path, created, finished)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	lang := info(r).lang
	for i := range rows {
		rows[i].Reason = s.reasonText(lang, rows[i].Code)
	}
	var issues int
	_ = s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM (`+catalog.IntegrityFailedIDs+`)`).Scan(&issues)
	jr := catalog.JobRow{Type: typ, Outcome: result}
	summary, _, _ := s.outcomeText(lang, jr)
	s.render(w, r, "refused", map[string]any{"Title": "refused.title", "JobID": id, "Folder": p.Path, "Rows": rows,
		"Limited": len(rows) >= refusedLimit, "Summary": summary, "Issues": issues})
}

// refusedFiles reads the import_log error rows below folder written between
// from and to ("" = now), newest first. The created_at index bounds the
// scan to the job's lifetime; the folder test runs on those rows only.
func (s *Server) refusedFiles(ctx context.Context, folder, from, to string) ([]refusedRow, error) {
	if to == "" {
		to = svtime.Format(s.clock.Now().Add(time.Minute))
	}
	lo, hi := library.PrefixRange(folder)
	rows, err := s.rdb.QueryContext(ctx, `SELECT path, COALESCE(message, ''), created_at FROM import_log INDEXED BY idx_import_log_created_at
		WHERE created_at >= ? AND created_at <= ? AND status = 'error' AND (path = ? OR (path >= ? AND path < ?))
		ORDER BY created_at DESC, id DESC LIMIT ?`, from, to, folder, lo, hi, refusedLimit)
	if err != nil {
		return nil, db.Classify(err)
	}
	defer rows.Close()
	var out []refusedRow
	for rows.Next() {
		var rr refusedRow
		var msg string
		if err := rows.Scan(&rr.Path, &msg, &rr.At); err != nil {
			return nil, db.Classify(err)
		}
		rr.Code, _, _ = strings.Cut(msg, ":")
		rr.Code = strings.TrimSpace(rr.Code)
		out = append(out, rr)
	}
	return out, db.Classify(rows.Err())
}

// reasonText is a file's refusal reason in plain words (the one code →
// sentence mapping, message), with a general sentence for codes without
// one.
func (s *Server) reasonText(lang, code string) string {
	if t, _, known := s.message(lang, code, 0); known {
		return t
	}
	return s.i18n.T(lang, "refused.unknown_reason")
}

// warnText says in plain words which items of a finished job failed and
// why ("" when none): the job center's line for a job that ended done
// with failures (jobs.Warnings in its result).
func (s *Server) warnText(lang, warnings string) string {
	w := jobs.ParseWarnings(warnings)
	if w == nil {
		return ""
	}
	codes := make([]string, 0, len(w.ByReason))
	for c := range w.ByReason {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%s (%d)", strings.TrimSuffix(s.reasonText(lang, c), "."), w.ByReason[c])
	}
	return s.i18n.T(lang, "jobs.warnings", w.Total) + " " + strings.Join(parts, "; ")
}
