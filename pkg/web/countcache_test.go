package web

import (
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/catalog"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// TestCountCache: a capped count is reused for countCacheTTL (the library
// shrinking below the cap shows only after it), an exact count never is.
func TestCountCache(t *testing.T) {
	f := newFixture(t)
	if _, err := f.db.Exec(`WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
		INSERT INTO media(path, type, source, hash, imported_at) SELECT '/lib/x/img' || i || '.png', 'image', 'import', 'h' || i, '2026-01-01T00:00:00Z' FROM seq`,
		catalog.CountCap+10); err != nil {
		t.Fatal(err)
	}
	clock := f.srv.clock.(*svtime.FixedClock)
	c := f.client()
	shows := func(want string) {
		t.Helper()
		if line := countLine(c.do("GET", "/mediadb.php?type=image", nil).Body.String()); !strings.Contains(line, ">"+want+"<") {
			t.Fatalf("count %s, want %s", line, want)
		}
	}
	shows("10000 matches+")
	if _, err := f.db.Exec(`DELETE FROM media WHERE path LIKE '/lib/x/%' AND id % 2 = 0`); err != nil {
		t.Fatal(err)
	}
	shows("10000 matches+") // reused
	clock.T = clock.T.Add(countCacheTTL + time.Second)
	shows("5006 matches") // 5005 odd-id generated media + hopper
	if _, err := f.db.Exec(`DELETE FROM media WHERE path = '/lib/x/img1.png'`); err != nil {
		t.Fatal(err)
	}
	shows("5005 matches") // exact counts are never reused
}
