package web

import (
	"strings"
	"testing"
)

// TestJobCenterShowsWarningsAndErrors: a done job whose result has
// warnings shows them in plain words, an error job its message; a result
// that is not JSON does not break the listing.
func TestJobCenterShowsWarningsAndErrors(t *testing.T) {
	f := newFixture(t)
	for _, row := range []struct{ status, code, msg, result string }{
		{"done", "", "", `{"path":"/in","warnings":{"total":1271,"by_reason":{"place_failed":1271},"unit":"files"}}`},
		{"error", "disk_full", "none of the media files could be imported: free space there", ""},
		{"done", "", "", `not json`},
	} {
		if _, err := f.db.Exec(`INSERT INTO jobs (type, status, payload_json, result_json, last_error_code, error_message, created_at, priority, attempts, max_attempts)
			VALUES ('scan_path', ?, '{}', NULLIF(?, ''), NULLIF(?, ''), NULLIF(?, ''), '2026-01-01T00:00:00Z', 100, 1, 3)`,
			row.status, row.result, row.code, row.msg); err != nil {
			t.Fatal(err)
		}
	}
	c := f.client()
	c.hdr.Set("X-Internal-Key", testKey)
	rec := c.do("GET", "/index.php", nil)
	page := rec.Body.String()
	for _, want := range []string{"1271 files failed: The file could not be copied into the library (1271)", "none of the media files could be imported: free space there"} {
		if !strings.Contains(page, want) {
			t.Errorf("job center lacks %q (status %d)", want, rec.Code)
		}
	}
}
