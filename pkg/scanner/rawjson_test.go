package scanner_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/scanner"
	"github.com/localsupervisor/supervisor/pkg/scanner/scannertest"
)

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("raw_json %s: %v", b, err)
	}
	return m
}

func TestRawJSONSuccess(t *testing.T) {
	t.Parallel()
	srv := scannertest.New(t, scannertest.Options{Token: testToken, NSFWScore: 0.8})
	res, err := scanner.New(cfgFor(srv.URL), nil).ScanImage(context.Background(), writeFile(t, "a.png", 16))
	if err != nil {
		t.Fatal(err)
	}
	b, err := scanner.RawJSON(res, nil, map[string]any{"tags_written": 3, "path_after": "/lib/x.png"})
	if err != nil {
		t.Fatal(err)
	}
	doc := decode(t, b)
	if _, ok := doc["modules.nsfw_scanner"]; !ok {
		t.Errorf("response keys missing: %v", doc)
	}
	if _, ok := doc["_error"]; ok {
		t.Errorf("success must not carry _error")
	}
	meta := doc["_meta"].(map[string]any)
	want := map[string]any{
		"tags_written": 3.0, "path_after": "/lib/x.png", "has_nsfw": true, "rating": 3.0,
		"response_shape": "single", "merged_parts_count": 1.0, "fallback_used": false,
		"response_type_detected": "B", "http_status": 200.0, "endpoint": srv.URL + "/check", "error_code": nil,
	}
	for k, v := range want {
		if meta[k] != v {
			t.Errorf("_meta.%s = %#v, want %#v", k, meta[k], v)
		}
	}
}

func TestRawJSONListResponse(t *testing.T) {
	t.Parallel()
	res, err := scanner.Parse(readFixture(t, "list.json"), 0.7)
	if err != nil {
		t.Fatal(err)
	}
	b, err := scanner.RawJSON(res, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	doc := decode(t, b)
	if l, ok := doc["response"].([]any); !ok || len(l) != 3 {
		t.Errorf("list response not kept under \"response\": %s", b)
	}
}

func TestRawJSONFailures(t *testing.T) {
	t.Parallel()
	srv := scannertest.New(t, scannertest.Options{Token: testToken, Fault: scannertest.Fault500})
	_, httpErr := scanner.New(cfgFor(srv.URL), nil).ScanImage(context.Background(), writeFile(t, "a.png", 16))
	cfgErr := cfgFor("http://x").ValidateAt("/cfg/config.json")
	_ = cfgErr
	noTok := cfgFor("http://x")
	noTok.Token = ""
	cfgErr = noTok.ValidateAt("/cfg/config.json")

	cases := []struct {
		name   string
		err    error
		checks map[string]any
	}{
		{"http 500", httpErr, map[string]any{
			"error_code": scanner.CodeHTTP5xx, "http_status": 500.0, "endpoint": srv.URL + "/check",
			"response_type_detected": "none",
		}},
		{"config", cfgErr, map[string]any{
			"error_code": scanner.CodeAuthMissing, "reason_code": scanner.CodeAuthMissing,
			"config_path": "/cfg/config.json", "response_type_detected": "config_error",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil {
				t.Fatal("setup: no error")
			}
			b, err := scanner.RawJSON(nil, tc.err, map[string]any{"tags_written": 0})
			if err != nil {
				t.Fatal(err)
			}
			doc := decode(t, b)
			for k, v := range tc.checks {
				if doc[k] != v {
					t.Errorf("%s = %#v, want %#v", k, doc[k], v)
				}
			}
			if e, _ := doc["_error"].(string); e == "" || !strings.Contains(e, tc.checks["error_code"].(string)) {
				t.Errorf("_error = %q", e)
			}
			meta := doc["_meta"].(map[string]any)
			if meta["error_code"] != tc.checks["error_code"] || meta["rating"] != 0.0 || meta["has_nsfw"] != false {
				t.Errorf("_meta = %v", meta)
			}
			if strings.Contains(string(b), testToken) {
				t.Errorf("raw_json leaks the token")
			}
		})
	}
	if got := reason.FieldsOf(cfgErr)["missing_keys"]; len(got.([]string)) != 1 {
		t.Errorf("missing_keys %v", got)
	}
}

func TestSanitizeSnippet(t *testing.T) {
	t.Parallel()
	b64 := strings.Repeat("iVBORw0KGgoAAAANSUhEUg", 6)
	cases := []struct{ in, want string }{
		{`{"image": "data:image/png;base64,` + b64 + `"}`, `{"image": "<base64>"}`},
		{`{"blob": "` + b64 + `=="}`, `{"blob": "<base64>"}`},
		{`{"path": "/home/user/pics/a.png", "url": "http://h:8000/check"}`, `{"path": "[path]", "url": "http://h:8000/check"}`},
		{`failed to open C:\Users\me\Pictures\x.png now`, `failed to open [path] now`},
		{`short /check stays`, `short /check stays`},
	}
	for _, tc := range cases {
		if got := scanner.SanitizeSnippet(tc.in, 4096); got != tc.want {
			t.Errorf("SanitizeSnippet(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
	if got := scanner.SanitizeSnippet(strings.Repeat("x", 600), 512); len([]rune(got)) != 512 {
		t.Errorf("not truncated to 512 runes: %d", len([]rune(got)))
	}
}

func TestCharacterTagsMeta(t *testing.T) {
	t.Parallel()
	res, err := scanner.Parse(readFixture(t, "modules_A.json"), 0.7)
	if err != nil {
		t.Fatal(err)
	}
	got := scanner.CharacterTagsMeta(res)
	want := `[{"name":"hatsune_miku","confidence":0.88,"source":"scanner","namespace":"danbooru.character.v1"}]`
	if got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	res2, _ := scanner.Parse(readFixture(t, "list.json"), 0.7)
	if s := scanner.CharacterTagsMeta(res2); s != "" {
		t.Errorf("no character tags should give empty string, got %q", s)
	}
}

func TestLogFields(t *testing.T) {
	t.Parallel()
	res, err := scanner.Parse(readFixture(t, "pixai_check_B.json"), 0.7)
	if err != nil {
		t.Fatal(err)
	}
	in := scanner.IngestFields(res, nil)
	keys, _ := in["response_keys_top"].([]string)
	if len(keys) != 5 || keys[0] != "modules.deepdanbooru_tags" {
		t.Errorf("response_keys_top %v", keys)
	}
	pf := scanner.ParseFields(res)
	if pf["rating_detected"] != "rating:explicit" || pf["tag_count_deduped"] != 8 || pf["nsfw_score_raw"] != 0.81 {
		t.Errorf("parse fields %v", pf)
	}
	noTok := cfgFor("http://x")
	noTok.Token = ""
	ef := scanner.IngestFields(nil, noTok.ValidateAt("/c.json"))
	if ef["response_type_detected"] != "config_error" || ef["reason_code"] != scanner.CodeAuthMissing || ef["config_path"] != "/c.json" {
		t.Errorf("config error ingest fields %v", ef)
	}
}
