package scanner_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/scanner"
)

func readFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "responses", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func ptr(f float64) *float64 { return &f }

func TestParseShapes(t *testing.T) {
	t.Parallel()
	type want struct {
		shape, respType string
		parts, failed   int
		score, rawScore *float64
		rating          int
		hasNSFW         bool
		tags            []scanner.Tag
		characters      []string
		scannerName     string
		modelID         string
		flags           []string
		sources         []string
	}
	c := func(name string, conf float64) scanner.Tag {
		return scanner.Tag{Name: name, Type: scanner.TagTypeContent, Confidence: conf}
	}
	cases := []struct {
		file string
		want want
	}{
		{"pixai_check_B.json", want{
			shape: "single", respType: "B", parts: 1,
			// rating:explicit is the most confident rating label → explicit,
			// stored score boosted to 1.0, raw class max 0.81 kept in debug.
			score: ptr(1.0), rawScore: ptr(0.81), rating: 3, hasNSFW: true,
			tags: []scanner.Tag{c("comic_book", 0.41), c("jersey", 0.12), c("1girl", 0.99), c("solo", 0.93),
				c("long_hair", 0.8), c("rating:explicit", 0.71), c("rating:questionable", 0.25), c("rating:safe", 0.21)},
			sources: []string{"modules.tagging.tags", "modules.deepdanbooru_tags.tags"},
		}},
		{"modules_A.json", want{
			shape: "single", respType: "A", parts: 1,
			// questionable label wins over safe; raw 0.35 < 0.7 so it stays 2
			// (the original wrote 3 here via the 0.7 boost: defect 19).
			score: ptr(0.7), rawScore: ptr(0.35), rating: 2, hasNSFW: true,
			tags: []scanner.Tag{{Name: "outdoors", Type: "general", Confidence: 0.9},
				{Name: "hatsune_miku", Type: scanner.TagTypeCharacter, Confidence: 0.88},
				c("rating:questionable", 0.6), c("rating:safe", 0.3)},
			characters:  []string{"hatsune_miku"},
			scannerName: "pixai-v2", modelID: "wd-vit",
			sources: []string{"modules.tagging.tags", "modules.deepdanbooru.tags"},
		}},
		{"dotted_nested_B.json", want{
			shape: "single", respType: "B", parts: 1,
			score: ptr(0.66), rawScore: ptr(0.66), rating: 1,
			tags:    []scanner.Tag{c("cat", 0.9)},
			sources: []string{"modules.deepdanbooru_tags"},
		}},
		{"flat_C.json", want{
			shape: "single", respType: "C", parts: 1,
			score: ptr(0.3), rawScore: ptr(0.3), rating: 1,
			tags: []scanner.Tag{c("1girl", 1), c("smile", 0.6),
				{Name: "saber", Type: scanner.TagTypeCharacter, Confidence: 0.95}, c("armor", 0.5)},
			characters: []string{"saber"}, modelID: "flat-1", flags: []string{"watermark"},
			sources: []string{"tags", "danbooru_tags.tags"},
		}},
		{"pixai_batch.json", want{
			shape: "single", respType: "C", parts: 1,
			score: ptr(1.0), rawScore: ptr(0.83), rating: 3, hasNSFW: true,
			tags:    []scanner.Tag{c("1girl", 1), c("nude", 1), c("rating:explicit", 1)},
			sources: []string{"tags"},
		}},
		{"list.json", want{
			shape: "list", respType: "C", parts: 2, failed: 1,
			score: ptr(0.75), rawScore: ptr(0.75), rating: 3, hasNSFW: true,
			tags:    []scanner.Tag{c("1girl", 0.9), c("beach", 0.4)},
			sources: []string{"tags"},
		}},
		{"results.json", want{
			shape: "results", respType: "A", parts: 2,
			score: ptr(0.3), rawScore: ptr(0.3), rating: 1,
			tags:    []scanner.Tag{c("dog", 0.95), c("park", 0.5)},
			sources: []string{"modules.tagging"},
		}},
		{"frames.json", want{
			shape: "frames", respType: "C", parts: 2, failed: 1,
			score: ptr(0.7), rawScore: ptr(0.2), rating: 2, hasNSFW: true,
			tags:    []scanner.Tag{c("rating:safe", 1), c("rating:questionable", 0.8)},
			sources: []string{"tags"},
		}},
		{"data.json", want{
			shape: "data", respType: "C", parts: 1,
			rating:  1,
			tags:    []scanner.Tag{c("1girl", 0.97), c("rating:safe", 0.95), c("solo", 0.9)},
			sources: []string{"danbooru_tags"},
		}},
		{"single_result.json", want{
			shape: "single", respType: "C", parts: 1,
			score: ptr(0.05), rawScore: ptr(0.05), rating: 1,
			tags:    []scanner.Tag{c("tree", 1.2)},
			sources: []string{"tags"},
		}},
		{"no_nsfw_signal.json", want{
			shape: "single", respType: "B", parts: 1,
			rating:  1,
			tags:    []scanner.Tag{c("tree", 0.4)},
			sources: []string{"modules.tagging.tags"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			body := readFixture(t, tc.file)
			res, err := scanner.Parse(body, 0.7)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			w := tc.want
			if res.ResponseShape != w.shape || res.ResponseType != w.respType {
				t.Errorf("shape/type = %s/%s, want %s/%s", res.ResponseShape, res.ResponseType, w.shape, w.respType)
			}
			if res.PartsCount != w.parts || res.Debug.PartsFailed != w.failed {
				t.Errorf("parts = %d (failed %d), want %d (failed %d)", res.PartsCount, res.Debug.PartsFailed, w.parts, w.failed)
			}
			if !floatPtrEq(res.NSFWScore, w.score) {
				t.Errorf("NSFWScore = %v, want %v", fmtPtr(res.NSFWScore), fmtPtr(w.score))
			}
			if !floatPtrEq(res.Debug.NSFWScoreRaw, w.rawScore) {
				t.Errorf("raw score = %v, want %v", fmtPtr(res.Debug.NSFWScoreRaw), fmtPtr(w.rawScore))
			}
			if res.Rating != w.rating || res.HasNSFW != w.hasNSFW {
				t.Errorf("rating/has_nsfw = %d/%v, want %d/%v", res.Rating, res.HasNSFW, w.rating, w.hasNSFW)
			}
			if !tagsEq(res.Tags, w.tags) {
				t.Errorf("tags = %+v\nwant   %+v", res.Tags, w.tags)
			}
			var chars []string
			for _, ct := range res.CharacterTags {
				chars = append(chars, ct.Name)
			}
			if !reflect.DeepEqual(chars, w.characters) {
				t.Errorf("character tags = %v, want %v", chars, w.characters)
			}
			if res.Scanner != w.scannerName || res.ModelID != w.modelID {
				t.Errorf("scanner/model = %q/%q, want %q/%q", res.Scanner, res.ModelID, w.scannerName, w.modelID)
			}
			if !reflect.DeepEqual(res.Flags, w.flags) {
				t.Errorf("flags = %v, want %v", res.Flags, w.flags)
			}
			if !reflect.DeepEqual(res.Debug.TagSourcesUsed, w.sources) {
				t.Errorf("sources = %v, want %v", res.Debug.TagSourcesUsed, w.sources)
			}
			if !json.Valid(res.Raw) {
				t.Errorf("Raw is not valid JSON")
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file, code string
	}{
		{"error.json", scanner.CodeErrorResponse},
		{"detail_error.json", scanner.CodeErrorResponse},
		{"message_only.json", scanner.CodeErrorResponse},
		{"unrecognized.json", scanner.CodeUnrecognized},
		{"empty_list.json", scanner.CodeNoParts},
		{"truncated.json", scanner.CodeInvalidJSON},
		{"html.txt", scanner.CodeInvalidJSON},
		{"scalar.json", scanner.CodeInvalidJSON},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			_, err := scanner.Parse(readFixture(t, tc.file), 0.7)
			if got := reason.Code(err); got != tc.code {
				t.Fatalf("code = %q (%v), want %q", got, err, tc.code)
			}
			if !reason.IsPermanent(err) {
				t.Errorf("kind = %v, want permanent", reason.KindOf(err))
			}
		})
	}
}

func TestParseThreshold(t *testing.T) {
	t.Parallel()
	body := []byte(`{"modules.nsfw_scanner": {"porn": 0.5}}`)
	cases := []struct {
		threshold float64
		rating    int
		nsfw      bool
	}{
		{0.5, 3, true}, // equal to the threshold counts (>=)
		{0.51, 1, false},
		{0, 1, false},   // invalid → default 0.7
		{1.5, 1, false}, // invalid → default 0.7
	}
	for _, tc := range cases {
		res, err := scanner.Parse(body, tc.threshold)
		if err != nil {
			t.Fatal(err)
		}
		if res.Rating != tc.rating || res.HasNSFW != tc.nsfw {
			t.Errorf("threshold %v: rating %d nsfw %v, want %d %v", tc.threshold, res.Rating, res.HasNSFW, tc.rating, tc.nsfw)
		}
	}
}

func floatPtrEq(a, b *float64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return math.Abs(*a-*b) < 1e-9
}

func fmtPtr(p *float64) any {
	if p == nil {
		return "nil"
	}
	return *p
}

func tagsEq(a, b []scanner.Tag) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Type != b[i].Type || math.Abs(a[i].Confidence-b[i].Confidence) > 1e-9 {
			return false
		}
	}
	return true
}

func BenchmarkParsePixAICheck(b *testing.B) {
	body := readFixture(b, "pixai_check_B.json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := scanner.Parse(body, 0.7); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseLargeTagList(b *testing.B) {
	// A DeepDanbooru answer with a low cut-off can list hundreds of tags.
	tags := make([]map[string]any, 400)
	for i := range tags {
		tags[i] = map[string]any{"label": "tag_" + string(rune('a'+i%26)) + string(rune('a'+i/26)), "score": 0.2 + float64(i%80)/100}
	}
	body, _ := json.Marshal(map[string]any{
		"modules.nsfw_scanner":      map[string]any{"hentai": 0.3, "porn": 0.2, "sexy": 0.1},
		"modules.deepdanbooru_tags": map[string]any{"tags": tags},
	})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := scanner.Parse(body, 0.7); err != nil {
			b.Fatal(err)
		}
	}
}
