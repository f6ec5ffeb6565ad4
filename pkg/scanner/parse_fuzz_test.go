package scanner_test

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/scanner"
)

// FuzzParse feeds arbitrary bodies to the tagger-response parser. Beyond
// "never panics" it checks what callers rely on: a failure is a permanent
// *reason.Error with one of the four parse codes; a success is rated 1..3
// with HasNSFW consistent, carries only trimmed, non-empty, finite,
// positive-confidence tags, deduplicated, and everything it stores
// (raw_json fields, character-tag meta) can be JSON-encoded. Parsing its
// own Raw again, and parsing the tags re-serialised as a flat response,
// give the same verdict.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "responses", "*"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed responses: %v", err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, 0.7)
	}
	for _, s := range []string{
		``, `null`, `[]`, `{}`, `[1,"a",null]`, `{"tags":"x"}`, `{"tags":{"a":"b"}}`,
		`{"tags":[{"label":" a ","confidence":"0.5"},{"label":"A","confidence":0.9}]}`,
		`{"tags":[{"label":"x","confidence":"NaN"}],"risk":"Inf"}`,
		`{"modules.a.b":1,"modules.a":2,"modules.nsfw_scanner.nsfw_score":"0.9"}`,
		`{"results":[{"error":{"message":"boom"}},{"result":{"porn":0.2}}]}`,
		`{"frames":[],"message":"no frames"}`, `{"data":[{"tags":["rating:explicit"]}],"meta":{"model_id":3}}`,
		"\xff\xfe{", `{"tags":[{"name":"b","category":"Character","score":1e308}]}`,
	} {
		f.Add([]byte(s), 0.0)
	}
	parseCodes := []string{scanner.CodeInvalidJSON, scanner.CodeErrorResponse, scanner.CodeNoParts, scanner.CodeUnrecognized}
	f.Fuzz(func(t *testing.T, body []byte, threshold float64) {
		res, err := scanner.Parse(body, threshold)
		if err != nil {
			var re *reason.Error
			if res != nil || !errors.As(err, &re) || !slices.Contains(parseCodes, re.Code) || re.Kind != reason.KindPermanent {
				t.Fatalf("failure is not a permanent parse reason: res=%v err=%#v", res, err)
			}
			if strings.TrimSpace(re.Msg) == "" {
				t.Fatalf("reason %s without a message", re.Code)
			}
			return
		}
		checkResult(t, res)

		again, err := scanner.Parse(res.Raw, threshold)
		if err != nil {
			t.Fatalf("own Raw no longer parses: %v", err)
		}
		if !reflect.DeepEqual(again.Tags, res.Tags) || again.Rating != res.Rating || !eqPtr(again.NSFWScore, res.NSFWScore) {
			t.Fatalf("re-parse of Raw differs:\n%+v\n%+v", again, res)
		}

		// Serialise the verdict as the flat type-C shape and read it back.
		// Only for one part: merged parts keep the most severe per-part
		// rating label, which a single flat part cannot express.
		if res.PartsCount != 1 {
			return
		}
		type flatTag struct {
			Label      string  `json:"label"`
			Type       string  `json:"type"`
			Confidence float64 `json:"confidence"`
		}
		flat := map[string]any{"tags": []flatTag{}}
		for _, tg := range res.Tags {
			flat["tags"] = append(flat["tags"].([]flatTag), flatTag{tg.Name, tg.Type, tg.Confidence})
		}
		if res.Debug.NSFWScoreRaw != nil {
			flat["nsfw_score"] = *res.Debug.NSFWScoreRaw
		}
		b, err := json.Marshal(flat)
		if err != nil {
			t.Fatalf("serialise: %v", err)
		}
		rt, err := scanner.Parse(b, threshold)
		if err != nil {
			t.Fatalf("serialised result does not parse: %v\n%s", err, b)
		}
		if !reflect.DeepEqual(rt.Tags, res.Tags) || rt.Rating != res.Rating || rt.HasNSFW != res.HasNSFW ||
			!eqPtr(rt.NSFWScore, res.NSFWScore) {
			t.Fatalf("round trip differs:\n got %+v\nwant %+v", rt, res)
		}
	})
}

func eqPtr(a, b *float64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func checkResult(t *testing.T, res *scanner.Result) {
	t.Helper()
	if res.Rating < scanner.RatingSafe || res.Rating > scanner.RatingExplicit {
		t.Fatalf("rating %d out of 1..3", res.Rating)
	}
	if res.HasNSFW != (res.Rating >= scanner.RatingQuestionable) {
		t.Fatalf("has_nsfw %v inconsistent with rating %d", res.HasNSFW, res.Rating)
	}
	if res.PartsCount < 1 || res.ResponseType == "" || res.ResponseShape == "" {
		t.Fatalf("parts=%d type=%q shape=%q", res.PartsCount, res.ResponseType, res.ResponseShape)
	}
	if res.NSFWScore != nil && (math.IsNaN(*res.NSFWScore) || math.IsInf(*res.NSFWScore, 0)) {
		t.Fatalf("nsfw score %v is not finite", *res.NSFWScore)
	}
	seen := map[[2]string]bool{}
	for _, tg := range res.Tags {
		if tg.Name == "" || tg.Name != strings.TrimSpace(tg.Name) || tg.Type == "" || tg.Type != strings.TrimSpace(tg.Type) {
			t.Fatalf("tag not trimmed/non-empty: %+v", tg)
		}
		if !(tg.Confidence > 0) || math.IsInf(tg.Confidence, 0) {
			t.Fatalf("tag confidence %v not a positive finite number: %+v", tg.Confidence, tg)
		}
		k := [2]string{strings.ToLower(tg.Name), strings.ToLower(tg.Type)}
		if seen[k] {
			t.Fatalf("duplicate tag %+v", tg)
		}
		seen[k] = true
	}
	var chars []scanner.Tag
	for _, tg := range res.Tags {
		if l := strings.ToLower(tg.Type); strings.HasPrefix(l, "danbooru.character") || strings.HasPrefix(l, "scanner.character") {
			chars = append(chars, tg)
		}
	}
	if !reflect.DeepEqual(chars, res.CharacterTags) {
		t.Fatalf("character tags %+v are not the character subset %+v", res.CharacterTags, chars)
	}
	if !json.Valid(res.Raw) {
		t.Fatalf("Raw is not JSON: %q", res.Raw)
	}
	// What the job stores must encode: a NaN would make json.Marshal fail
	// and the row be written without its parse fields.
	if _, err := json.Marshal(scanner.ParseFields(res)); err != nil {
		t.Fatalf("parse fields do not encode: %v", err)
	}
	if len(res.CharacterTags) > 0 && scanner.CharacterTagsMeta(res) == "" {
		t.Fatalf("character tags meta lost (encode failed)")
	}
	if _, err := json.Marshal(scanner.IngestFields(res, nil)); err != nil {
		t.Fatalf("ingest fields do not encode: %v", err)
	}
	doc, err := scanner.RawJSON(res, nil, nil)
	if err != nil || !json.Valid(doc) {
		t.Fatalf("scan_results.raw_json not built: %v", err)
	}
	if snip := scanner.SanitizeSnippet(string(res.Raw), 4096); utf8.RuneCountInString(snip) > 4096 {
		t.Fatalf("snippet has %d runes, want <= 4096", utf8.RuneCountInString(snip))
	}
}
