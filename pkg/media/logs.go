package media

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// import_log statuses.
const (
	ImportImported         = "imported"
	ImportSkippedDuplicate = "skipped_duplicate"
	ImportError            = "error"
)

// AuditEntry is one audit_log row. Details is marshalled to details_json
// after secret-looking keys are redacted.
type AuditEntry struct {
	Action     string
	EntityType string
	EntityID   int64
	Details    map[string]any
	ActorIP    string
	ActorKey   string
	// At is the event time; zero means now (UTC).
	At time.Time
}

// secretKey matches detail keys whose values must never reach the log.
var secretKey = regexp.MustCompile(`(?i)(token|secret|password|passwd|api[_-]?key|authorization|internal[_-]?key|cookie|csrf)`)

// Redacted is what a secret value is replaced with.
const Redacted = "[redacted]"

// Redact returns a deep copy of v with the values of secret-looking keys
// replaced by Redacted.
func Redact(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			if secretKey.MatchString(k) {
				if s, ok := x.(string); ok && s == "" {
					out[k] = ""
				} else {
					out[k] = Redacted
				}
				continue
			}
			out[k] = Redact(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = Redact(x)
		}
		return out
	}
	return v
}

// redactActorKey keeps only a short, non-reversible hint of an actor key.
func redactActorKey(k string) string {
	if k == "" {
		return ""
	}
	if len(k) <= 4 {
		return "***"
	}
	return "***" + k[len(k)-4:]
}

// Audit writes one audit_log row.
func Audit(ctx context.Context, q db.Execer, e AuditEntry) error {
	at := e.At
	if at.IsZero() {
		at = time.Now()
	}
	var details any
	if e.Details != nil {
		b, err := json.Marshal(Redact(e.Details))
		if err != nil {
			return fmt.Errorf("audit details: %w", err)
		}
		details = string(b)
	}
	var eid any
	if e.EntityID != 0 {
		eid = e.EntityID
	}
	_, err := q.ExecContext(ctx,
		`INSERT INTO audit_log(action, entity_type, entity_id, details_json, actor_ip, actor_key, created_at) VALUES (?,?,?,?,?,?,?)`,
		e.Action, nullStr(e.EntityType), eid, details, nullStr(e.ActorIP), nullStr(redactActorKey(e.ActorKey)), svtime.Format(at))
	if err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, db.Classify(err))
	}
	return nil
}

// ImportLog writes one import_log row (status ImportImported,
// ImportSkippedDuplicate or ImportError; message carries the reason code for
// errors).
func ImportLog(ctx context.Context, q db.Execer, path, status, message string, now time.Time) error {
	_, err := q.ExecContext(ctx,
		`INSERT INTO import_log(path, status, message, created_at) VALUES (?,?,?,?)`,
		path, status, nullStr(message), svtime.Format(now))
	if err != nil {
		return fmt.Errorf("import_log: %w", db.Classify(err))
	}
	return nil
}

// ConsistencyLog writes one consistency_log row.
func ConsistencyLog(ctx context.Context, q db.Execer, check, severity, message string, now time.Time) error {
	_, err := q.ExecContext(ctx,
		`INSERT INTO consistency_log(check_name, severity, message, created_at) VALUES (?,?,?,?)`,
		check, severity, nullStr(message), svtime.Format(now))
	if err != nil {
		return fmt.Errorf("consistency_log: %w", db.Classify(err))
	}
	return nil
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}
