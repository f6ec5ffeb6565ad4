package web

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Reason codes of the dashboard actions (each has an "err." sentence).
const (
	// CodeMoveConfirm: a move import was posted without confirm_move=1.
	CodeMoveConfirm = "move_confirmation_required"
	// CodeScanPathEmpty: the import form had no folder.
	CodeScanPathEmpty = "scan_path_empty"
	// CodeJobsUnavailable: the server runs without a job queue.
	CodeJobsUnavailable = "jobs_unavailable"
)

// Import form limits, as the original: one folder per line.
const (
	importMaxFolders = 20
	importMaxPathLen = 500
	importMaxLimit   = 100000
)

// dashboardBack is where a dashboard form post returns to.
const dashboardBack = "/index.php"

// handleDashboardAction runs one dashboard button (POST /index.php): the
// import form, "Rescan library", "Backfill missing tags", the job-center
// buttons. Every answer carries a sentence: JSON for fetch callers, a
// redirect with a banner for plain forms.
func (s *Server) handleDashboardAction(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	action := r.PostFormValue("action")
	var (
		code string
		n    int64
		out  = map[string]any{"action": action}
		err  error
	)
	switch action {
	case "scan_path":
		var ir importRequest
		if ir, err = s.parseImport(r); err != nil {
			break
		}
		if ir.Mode == scan.ModeMove && r.PostFormValue("confirm_move") != "1" {
			s.confirmMove(w, r, ir)
			return
		}
		code, n, err = s.importFolders(ctx, ir, out)
	case "rescan_library", "rescan_db": // rescan_db: the original's name
		code, n, err = s.startBackfill(ctx, scan.BackfillAll, out)
	case "backfill_no_tags":
		code, n, err = s.startBackfill(ctx, scan.BackfillNoTags, out)
	case "job_cancel", "job_requeue", "job_delete":
		id, ok := parseID(r.PostFormValue("job_id"))
		if !ok {
			s.fail(w, r, http.StatusBadRequest, CodeBadRequest, nil)
			return
		}
		if s.jobAdmin == nil {
			err = reason.New("jobs_admin_unavailable", "job administration not configured")
			break
		}
		switch action {
		case "job_cancel":
			err, code = s.jobAdmin.Cancel(ctx, id), "job_cancel_requested"
		case "job_requeue":
			err, code = s.jobAdmin.Requeue(ctx, id), "job_requeued"
		default:
			err, code = s.jobAdmin.Delete(ctx, id), "job_deleted"
		}
		out["job_id"], n = id, id
	case "spawn":
		out["status"] = s.spawn(ctx, "scan-worker", nil)
		code = "scan_worker_start_requested"
	default:
		s.refuse(w, r, dashboardBack, reason.New("unknown_action", "unknown action"))
		return
	}
	if err != nil {
		s.refuse(w, r, dashboardBack, err)
		return
	}
	if err := s.auditGlobal(ctx, r, "dashboard_"+action, out); err != nil {
		s.log.Warn().Err(err).Msg("audit not written")
	}
	s.answer(w, r, dashboardBack, code, n, out)
}

func (s *Server) auditGlobal(ctx context.Context, r *http.Request, action string, details map[string]any) error {
	ri := info(r)
	b, _ := json.Marshal(details)
	_, err := s.db.ExecContext(ctx, `INSERT INTO audit_log(action, entity_type, entity_id, details_json, actor_ip, actor_key, created_at)
		VALUES (?, 'dashboard', NULL, ?, ?, ?, ?)`, action, string(b), ri.clientIP, map[bool]string{true: "internal_key", false: "session"}[ri.keyAuth],
		svtime.Format(s.clock.Now()))
	return err
}

// importRequest is a validated import form.
type importRequest struct {
	// Raw is the textarea as posted (the confirm step posts it again).
	Raw      string
	Payloads []scan.ScanPathPayload
	Limit    int
	Mode     string
}

// parseImport validates the import form: the mode (move, copy, in_place;
// empty means config import.mode), the limit and one existing folder per
// line (at most importMaxFolders, each ≤ importMaxPathLen characters,
// duplicates dropped), relative ones resolved against the base folder.
func (s *Server) parseImport(r *http.Request) (importRequest, error) {
	ir := importRequest{Raw: r.PostFormValue("scan_path"), Mode: cmp.Or(strings.TrimSpace(r.PostFormValue("mode")), s.cfg.Import.Mode)}
	if !scan.ValidMode(ir.Mode) {
		return ir, reason.Newf(scan.CodeInvalidMode, "unknown import mode %q", ir.Mode)
	}
	if n, err := strconv.Atoi(r.PostFormValue("scan_limit")); err == nil && n > 0 {
		ir.Limit = min(n, importMaxLimit)
	}
	now := s.clock.Now()
	seen := map[string]bool{}
	for _, line := range strings.Split(ir.Raw, "\n") {
		p := strings.TrimSpace(line)
		if p == "" || len(p) > importMaxPathLen || seen[p] {
			continue
		}
		seen[p] = true
		abs := p
		if !filepath.IsAbs(abs) {
			abs = s.cfg.Resolve(p)
		}
		if st, err := os.Stat(abs); err != nil || !st.IsDir() {
			return ir, reason.Newf(scan.CodeScanPathMissing, "folder %q not found", p)
		}
		pl, err := scan.NewScanPathPayload(abs, ir.Limit, ir.Mode, "web", now)
		if err != nil {
			return ir, err
		}
		pl.RequestedPath = p
		ir.Payloads = append(ir.Payloads, pl)
		if len(ir.Payloads) >= importMaxFolders {
			break
		}
	}
	if len(ir.Payloads) == 0 {
		return ir, reason.New(CodeScanPathEmpty, "no folder given")
	}
	return ir, nil
}

// confirmMove asks before a move import: the files leave their folder.
// Without JavaScript this page is the confirm step; with it, the form's
// confirm dialog already set confirm_move=1 and this is never reached.
func (s *Server) confirmMove(w http.ResponseWriter, r *http.Request, ir importRequest) {
	if wantsJSON(r) {
		text, _, _ := s.message(info(r).lang, CodeMoveConfirm, 0)
		writeJSON(w, http.StatusConflict, map[string]any{"ok": false, "status": "confirm", "reason_code": CodeMoveConfirm, "error": text, "message": text})
		return
	}
	folders := make([]string, len(ir.Payloads))
	for i, p := range ir.Payloads {
		folders[i] = p.RequestedPath
	}
	s.render(w, r, "import_confirm", map[string]any{"Title": "import.confirm_title", "Raw": ir.Raw, "Folders": folders,
		"Limit": ir.Limit, "Mode": ir.Mode})
}

// importFolders enqueues one scan_path job per folder with the chosen mode
// and starts the scan worker.
func (s *Server) importFolders(ctx context.Context, ir importRequest, out map[string]any) (string, int64, error) {
	if s.jobs == nil {
		return "", 0, reason.New(CodeJobsUnavailable, "job queue not configured")
	}
	var ids []int64
	for _, p := range ir.Payloads {
		res, err := s.jobs.Enqueue(ctx, scanPathRequest(p))
		if err != nil {
			return "", 0, err
		}
		ids = append(ids, res.JobID)
	}
	var args []string
	if ir.Limit > 0 {
		args = append(args, "--limit="+strconv.Itoa(ir.Limit))
	}
	out["job_ids"], out["mode"], out["spawn"] = ids, ir.Mode, s.spawn(ctx, "scan-worker", args)
	return "import_queued_" + ir.Mode, int64(len(ids)), nil
}

// startBackfill queues the checkpointed scan_backfill_tags job of mode
// (all: "Rescan library"; no_tags: "Backfill missing tags"). It enqueues
// rescan_media jobs chunk by chunk, and those need the tagger: with
// scanner.enabled off nothing is queued.
func (s *Server) startBackfill(ctx context.Context, mode string, out map[string]any) (string, int64, error) {
	if err := s.serviceOff(ServiceTagger); err != nil {
		return "", 0, err
	}
	if s.jobs == nil {
		return "", 0, reason.New(CodeJobsUnavailable, "job queue not configured")
	}
	req, err := scan.BackfillRequest(mode, 0, 0, "web", s.clock.Now())
	if err != nil {
		return "", 0, err
	}
	res, err := s.jobs.Enqueue(ctx, req)
	if err != nil {
		return "", 0, err
	}
	out["job_id"], out["deduped"], out["spawn"] = res.JobID, res.Deduped, s.spawn(ctx, "scan-worker", nil)
	code := "rescan_library_queued"
	if mode == scan.BackfillNoTags {
		code = "backfill_queued"
	}
	if res.Deduped {
		code = "job_already_queued"
	}
	return code, res.JobID, nil
}
