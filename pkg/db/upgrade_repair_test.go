package db_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// repairMigration carries the original's data over and repairs databases
// upgraded before it existed (issue #17 item 6).
const repairMigration = "0900_original_data_repair"

// openLegacy builds the original-shaped database of legacyDB and opens it.
func openLegacy(t *testing.T) *sql.DB {
	t.Helper()
	d, err := db.Open(context.Background(), db.Options{Path: legacyDB(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// timestampColumns lists every TEXT column that holds a timestamp: the
// *_at columns of every table and jobs.not_before.
func timestampColumns(t *testing.T, d *sql.DB) map[string][]string {
	t.Helper()
	rows, err := d.Query(`SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
		WHERE m.type = 'table' AND upper(p.type) = 'TEXT' AND (p.name LIKE '%\_at' ESCAPE '\' OR p.name = 'not_before')`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var tbl, col string
		if err := rows.Scan(&tbl, &col); err != nil {
			t.Fatal(err)
		}
		out[tbl] = append(out[tbl], col)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkUpgradedData asserts what an upgraded original database must hold:
// timestamps only in the house form (UTC, "Z") or NULL, never empty; the
// original's click history in media_activity; the Ollama retry count in
// jobs.attempts.
func checkUpgradedData(t *testing.T, d *sql.DB, wantClicks, wantLastClick int64) {
	t.Helper()
	cols := timestampColumns(t, d)
	if len(cols["jobs"]) < 7 || len(cols["media"]) < 3 {
		t.Fatalf("timestamp columns not found: %v", cols)
	}
	checked := 0
	for tbl, cs := range cols {
		for _, c := range cs {
			rows, err := d.Query(fmt.Sprintf(`SELECT %q FROM %q WHERE %q IS NOT NULL`, c, tbl, c))
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var v string
				if err := rows.Scan(&v); err != nil {
					t.Fatal(err)
				}
				checked++
				if _, err := time.Parse(svtime.Layout, v); err != nil {
					t.Errorf("%s.%s is %q, want NULL or UTC %s", tbl, c, v, svtime.Layout)
				}
			}
			rows.Close()
		}
	}
	if checked < 30 {
		t.Fatalf("only %d timestamps checked", checked)
	}

	type check struct{ name, query, want string }
	checks := []check{
		{"clicks carried", `SELECT clicks||'|'||COALESCE(last_click_at, 'NULL') FROM media_activity WHERE media_id = 1`,
			fmt.Sprintf("%d|%d", wantClicks, wantLastClick)},
		{"clicks without a last click", `SELECT clicks||'|'||COALESCE(last_click_at, 'NULL') FROM media_activity WHERE media_id = 2`, "2|NULL"},
		{"no activity invented", `SELECT count(*) FROM media_activity WHERE media_id = 3`, "0"},
		{"ollama attempts carried", `SELECT attempts||'|'||max_attempts||'|'||status FROM jobs WHERE id = 6`, "2|3|queued"},
		{"no attempts without payload count", `SELECT attempts FROM jobs WHERE id = 2`, "0"},
		// The claim counts an attempt only while started_at IS NULL; ''
		// made every retry of an upgraded job free.
		{"unstarted job has NULL started_at", `SELECT count(*) FROM jobs WHERE id IN (1, 2, 5, 6) AND started_at IS NULL`, "4"},
		{"retry time kept", `SELECT not_before FROM jobs WHERE id = 6`, "2024-03-02T09:06:00Z"},
		{"import time in UTC", `SELECT imported_at FROM media WHERE id = 1`, "2024-03-02T07:00:00Z"},
	}
	for _, c := range checks {
		var got string
		if err := d.QueryRow(c.query).Scan(&got); err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
	// A --since filter in the house form must select by instant: media 1
	// was imported 07:00Z, media 2 07:01Z.
	var n int
	if err := d.QueryRow(`SELECT count(*) FROM media WHERE imported_at >= '2024-03-02T07:00:30Z'`).Scan(&n); err != nil || n != 2 {
		t.Errorf("media imported since 07:00:30Z: %d (%v), want media 2 and 3", n, err)
	}
}

// TestUpgradeOriginalDataIsClean: upgrading the original's database leaves
// no empty timestamps (sv_ts(NULL) wrote them) and no local offsets in any
// table, and carries clicks and Ollama attempts over.
func TestUpgradeOriginalDataIsClean(t *testing.T) {
	d := openLegacy(t)
	if _, err := db.Migrate(context.Background(), d, db.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	checkUpgradedData(t, d, 5, 1709632800)
}

// TestRepairDatabaseUpgradedByOldVersion: a database upgraded by the
// version before the repair migration (empty jobs timestamps where the
// original had NULL, other tables still in local offsets, clicks and
// attempts left behind, and clicks counted by this version since) is
// repaired by the next migrate, keeping the clicks made since.
func TestRepairDatabaseUpgradedByOldVersion(t *testing.T) {
	ctx := context.Background()
	d := openLegacy(t)
	all, err := db.LoadMigrations(nil)
	if err != nil {
		t.Fatal(err)
	}
	var old []db.Migration
	for _, m := range all {
		if m.Version != repairMigration {
			old = append(old, m)
		}
	}
	if len(old) != len(all)-1 {
		t.Fatalf("migration %s not found", repairMigration)
	}
	if _, err := db.Migrate(ctx, d, db.MigrateOptions{Migrations: old}); err != nil {
		t.Fatal(err)
	}
	// What the old sv_ts wrote for NULL: the driver hands NULL to a Go
	// function as a nil []byte, which became ''.
	var sets []string
	for _, c := range []string{"cancelled_at", "not_before", "started_at", "stage_changed_at", "heartbeat_at", "updated_at"} {
		sets = append(sets, fmt.Sprintf("%s = COALESCE(%s, '')", c, c))
	}
	if _, err := d.Exec(`UPDATE jobs SET ` + strings.Join(sets, ", ")); err != nil {
		t.Fatal(err)
	}
	// One click on media 1 since the upgrade, recorded by this version.
	if _, err := d.Exec(`INSERT INTO media_activity(media_id, clicks, last_click_at) VALUES (1, 1, 1709999999)`); err != nil {
		t.Fatal(err)
	}
	res, err := db.Migrate(ctx, d, db.MigrateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != 1 || res.Applied[0] != repairMigration {
		t.Fatalf("applied %v, want only %s", res.Applied, repairMigration)
	}
	checkUpgradedData(t, d, 6, 1709999999)
}

// TestSvTsKeepsNull: sv_ts(NULL) is NULL, not the empty string.
func TestSvTsKeepsNull(t *testing.T) {
	d, _ := openFresh(t)
	var got sql.NullString
	if err := d.QueryRow(`SELECT sv_ts(NULL)`).Scan(&got); err != nil || got.Valid {
		t.Fatalf("sv_ts(NULL) = %+v (%v), want NULL", got, err)
	}
	var s string
	if err := d.QueryRow(`SELECT sv_ts('2024-03-02T08:00:00+01:00')`).Scan(&s); err != nil || s != "2024-03-02T07:00:00Z" {
		t.Fatalf("sv_ts(offset) = %q (%v)", s, err)
	}
}
