package db

import (
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// BackupOptions configures Backup.
type BackupOptions struct {
	// Dir receives the backup files. Required.
	Dir string
	// Keep is how many backups to retain (default 10; <0 keeps all).
	Keep int
	// SourcePath and ConfigPath are recorded in the .meta.json.
	SourcePath string
	ConfigPath string
	Clock      svtime.Clock
}

// BackupResult names the files a backup wrote.
type BackupResult struct {
	File        string   `json:"backup_file"`
	Gzip        string   `json:"backup_gzip"`
	Meta        string   `json:"meta_file"`
	Bytes       int64    `json:"bytes"`
	Removed     []string `json:"removed"`
	RestoreHint string   `json:"restore_hint"`
}

// Backup writes a consistent online copy of the database with SQLite's
// backup API (the original copied the live WAL file, which is not
// consistent) to <Dir>/supervisor_<ts>.sqlite, a gzip copy and a
// .meta.json, then keeps the newest Keep backups.
func Backup(ctx context.Context, d *sql.DB, opts BackupOptions) (BackupResult, error) {
	var res BackupResult
	if opts.Clock == nil {
		opts.Clock = svtime.SystemClock{}
	}
	if opts.Keep == 0 {
		opts.Keep = 10
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return res, reason.Permanent("backup_dir_failed", err)
	}
	now := opts.Clock.Now()
	stamp := now.Format("20060102_150405")
	base := filepath.Join(opts.Dir, "supervisor_"+stamp)
	res.File = base + ".sqlite"
	res.Gzip = base + ".sqlite.gz"
	res.Meta = base + ".meta.json"
	tmp := res.File + ".partial"
	_ = os.Remove(tmp)
	if err := onlineCopy(ctx, d, tmp); err != nil {
		_ = os.Remove(tmp)
		return res, reason.Permanent("backup_failed", err)
	}
	if err := os.Rename(tmp, res.File); err != nil {
		return res, reason.Permanent("backup_failed", err)
	}
	st, err := os.Stat(res.File)
	if err != nil {
		return res, err
	}
	res.Bytes = st.Size()
	if err := gzipFile(res.File, res.Gzip); err != nil {
		return res, reason.Permanent("backup_gzip_failed", err)
	}
	tables, _ := tableNames(ctx, d)
	res.RestoreHint = fmt.Sprintf("stop webui and all workers, then copy %s over %s (delete %s-wal and %s-shm first)",
		res.File, opts.SourcePath, opts.SourcePath, opts.SourcePath)
	meta := map[string]any{
		"created_at":    svtime.Format(now),
		"database_path": opts.SourcePath,
		"backup_file":   res.File,
		"backup_gzip":   res.Gzip,
		"driver":        "sqlite",
		"config_path":   opts.ConfigPath,
		"restore_hint":  res.RestoreHint,
		"schema_tables": tables,
		"schema_overview": map[string]any{
			"table_count":   len(tables),
			"tables_sample": tables[:min(10, len(tables))],
		},
	}
	b, _ := json.MarshalIndent(meta, "", "  ")
	if err := os.WriteFile(res.Meta, b, 0o644); err != nil {
		return res, err
	}
	if opts.Keep > 0 {
		res.Removed, err = pruneBackups(opts.Dir, opts.Keep)
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

func gzipFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst + ".partial")
	if err != nil {
		return err
	}
	zw, _ := gzip.NewWriterLevel(out, 6)
	if _, err := io.Copy(zw, in); err != nil {
		out.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(dst+".partial", dst)
}

func pruneBackups(dir string, keep int) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(dir, "supervisor_*.sqlite"))
	if err != nil {
		return nil, err
	}
	// Names embed the timestamp, so lexical order is age order.
	sort.Strings(matches)
	var removed []string
	for len(matches) > keep {
		f := matches[0]
		matches = matches[1:]
		base := strings.TrimSuffix(f, ".sqlite")
		for _, p := range []string{f, base + ".sqlite.gz", base + ".meta.json"} {
			if err := os.Remove(p); err == nil {
				removed = append(removed, p)
			}
		}
	}
	return removed, nil
}

func tableNames(ctx context.Context, q Execer) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
