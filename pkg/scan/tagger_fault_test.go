package scan_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/scanner"
	"github.com/localsupervisor/supervisor/pkg/scanner/scannertest"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

// TestTaggerFaultModesDuringImport: every tagger failure during an import
// still imports the file (import_log imported, the scanner's reason code
// in the message, rating 0, a failed scan_results row with that error_code,
// scanner.pending set) and loses nothing: the source stays (copy mode), the
// library copy is complete, a later rescan against a healthy tagger tags
// it and clears the flag, and a re-scan of the folder finds it unchanged.
// The auth cases check the header actually sent, the wrong-route case is
// the seed's "scanner receives no image data" (image posted to a route the
// scanner does not serve).
func TestTaggerFaultModesDuringImport(t *testing.T) {
	cases := []struct {
		name  string
		fake  scannertest.Options
		setup func(cfg *scanner.Config)
		code  string // "" = tagging succeeds
		// header checked on the recorded request ("" = none recorded)
		header, value string
	}{
		{name: "down", fake: scannertest.Options{Fault: scannertest.FaultDown}, code: scanner.CodeUnreachable},
		{name: "slow", fake: scannertest.Options{Fault: scannertest.FaultSlow}, code: scanner.CodeTimeout,
			setup: func(c *scanner.Config) { c.Timeout = 0.3 }},
		{name: "401", fake: scannertest.Options{Fault: scannertest.Fault401}, code: scanner.CodeAuthFailed},
		{name: "403 wrong token", fake: scannertest.Options{Token: "right"}, code: scanner.CodeAuthFailed,
			setup: func(c *scanner.Config) { c.Token = "wrong" }, header: "Authorization", value: "wrong"},
		{name: "no automatic Bearer prefix", fake: scannertest.Options{Token: "Bearer tok"}, code: scanner.CodeAuthFailed,
			setup: func(c *scanner.Config) { c.Token = "tok" }, header: "Authorization", value: "tok"},
		{name: "token verbatim", fake: scannertest.Options{Token: "tok-123"},
			setup: func(c *scanner.Config) { c.Token = "tok-123" }, header: "Authorization", value: "tok-123"},
		{name: "api key header", fake: scannertest.Options{APIKeyHeader: "X-API-Key", APIKey: "k-9"},
			setup: func(c *scanner.Config) { c.Token, c.APIKey, c.APIKeyHeader = "", "k-9", "X-API-Key" }, header: "X-API-Key", value: "k-9"},
		{name: "wrong route receives no image data", code: scanner.CodeHTTP4xx,
			setup: func(c *scanner.Config) { c.ImageEndpoint = "/predict" }},
		{name: "500", fake: scannertest.Options{Fault: scannertest.Fault500}, code: scanner.CodeHTTP5xx},
		{name: "garbage not json", fake: scannertest.Options{Fault: scannertest.FaultNotJSON}, code: scanner.CodeInvalidJSON},
		{name: "truncated json", fake: scannertest.Options{Fault: scannertest.FaultTruncated}, code: scanner.CodeInvalidJSON},
		{name: "error json", fake: scannertest.Options{Fault: scannertest.FaultErrorJSON}, code: scanner.CodeErrorResponse},
		{name: "unexpected json", fake: scannertest.Options{Fault: scannertest.FaultUnexpected}, code: scanner.CodeUnrecognized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			d := openDB(t)
			fake := scannertest.New(t, tc.fake)
			cfg := scanner.DefaultConfig()
			cfg.BaseURL, cfg.Token = fake.URL, "tok"
			if tc.setup != nil {
				tc.setup(&cfg)
			}
			roots := testRoots(t)
			im := newImporter(d, roots, scan.ModeCopy)
			im.Tagger = scanner.New(cfg, nil)
			src := t.TempDir()
			p := filepath.Join(src, "a.png")
			data := pngtest.PNG(12, 10, 3)
			os.WriteFile(p, data, 0o644)

			sum, err := im.ScanPath(ctx, src, scan.RunOptions{})
			if err != nil || sum.Imported != 1 || sum.Errors != 0 {
				t.Fatalf("summary %+v %v", sum, err)
			}
			var id int64
			var dest string
			var rating, nsfw int
			if err := d.QueryRow(`SELECT id, path, rating, has_nsfw FROM media`).Scan(&id, &dest, &rating, &nsfw); err != nil {
				t.Fatal(err)
			}
			var logStatus string
			var logMsg sql.NullString
			d.QueryRow(`SELECT status, message FROM import_log`).Scan(&logStatus, &logMsg)
			var scans int
			var errCode sql.NullString
			d.QueryRow(`SELECT COUNT(*), MAX(json_extract(raw_json, '$.error_code')) FROM scan_results WHERE media_id=?`, id).Scan(&scans, &errCode)
			pending := metaCount(t, d, id, "scanner.pending")
			if logStatus != scan.StatusImported || logMsg.String != tc.code || scans != 1 || errCode.String != tc.code {
				t.Errorf("import_log %s %q, scan_results %d error_code %q; want imported %q", logStatus, logMsg.String, scans, errCode.String, tc.code)
			}
			if tc.code != "" && (rating != 0 || nsfw != 0 || pending != 1) {
				t.Errorf("failed tagging: rating=%d nsfw=%d pending=%d, want 0 0 1", rating, nsfw, pending)
			}
			if tc.code == "" && (rating == 0 || pending != 0) {
				t.Errorf("tagged: rating=%d pending=%d", rating, pending)
			}
			for _, f := range []string{p, dest} {
				if got, err := os.ReadFile(f); err != nil || md5hex(got) != md5hex(data) {
					t.Errorf("%s lost or damaged: %v", f, err)
				}
			}
			if tc.header != "" {
				reqs := fake.Requests()
				if len(reqs) == 0 || reqs[0].Header.Get(tc.header) != tc.value {
					t.Fatalf("requests %+v, want %s: %s", reqs, tc.header, tc.value)
				}
				if tc.header != "Authorization" && reqs[0].Header.Get("Authorization") != "" {
					t.Errorf("api key mode sent Authorization")
				}
			}
			if tc.name == "wrong route receives no image data" {
				// The image was posted, in field "image", to the configured
				// route, which the scanner does not serve.
				reqs := fake.Requests()
				if len(reqs) != 1 || reqs[0].Path != "/predict" || len(reqs[0].Files) != 1 || reqs[0].Files[0].Field != "image" || reqs[0].Files[0].Size != int64(len(data)) {
					t.Errorf("requests %+v", reqs)
				}
			}
			if tc.code == "" {
				return
			}
			// Later, against a healthy tagger: nothing was lost.
			good := scannertest.New(t, scannertest.Options{})
			cfg2 := scanner.DefaultConfig()
			cfg2.BaseURL, cfg2.Token = good.URL, "tok"
			im.Tagger = scanner.New(cfg2, nil)
			res, err := im.RescanMedia(ctx, id)
			if err != nil || res.Result != "ok" || res.TagsWritten == 0 {
				t.Fatalf("rescan %+v %v", res, err)
			}
			d.QueryRow(`SELECT rating FROM media WHERE id=?`, id).Scan(&rating)
			if rating == 0 || metaCount(t, d, id, "scanner.pending") != 0 {
				t.Errorf("after rescan rating=%d pending=%d", rating, metaCount(t, d, id, "scanner.pending"))
			}
			sum2, err := im.ScanPath(ctx, src, scan.RunOptions{})
			var n int
			d.QueryRow(`SELECT COUNT(*) FROM media`).Scan(&n)
			if err != nil || sum2.Unchanged != 1 || sum2.Imported != 0 || n != 1 {
				t.Errorf("re-scan %+v %v, media %d", sum2, err, n)
			}
		})
	}
}

func metaCount(t *testing.T, d *sql.DB, id int64, key string) int {
	t.Helper()
	var n int
	if err := d.QueryRow(`SELECT COUNT(*) FROM media_meta WHERE media_id=? AND meta_key=?`, id, key).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
