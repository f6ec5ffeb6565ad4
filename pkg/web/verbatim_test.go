package web

import (
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/probe"
)

// TestDetailShowsPromptAsWritten: the detail page shows the trimmed prompt
// and, where the text as written differs, an "as written" block with the
// invisible characters marked (#19 item 1). Identical texts get no block.
func TestDetailShowsPromptAsWritten(t *testing.T) {
	f := newFixture(t)
	other := f.insert(f.cfg.MediaRoots()[0]+"/other.png", "image", 0, "ccc")
	if _, err := f.db.Exec(`INSERT INTO prompts(media_id, prompt, negative_prompt, prompt_raw, negative_prompt_raw) VALUES
		(?, 'a fox' || char(10) || 'in snow', 'blurry', ' a fox' || char(13,10) || 'in snow  ', NULL),
		(?, 'plain', NULL, NULL, NULL)`, f.imgID, other); err != nil {
		t.Fatal(err)
	}
	c := f.client()
	body := c.do("GET", "/media_view.php?id="+fmtID(f.imgID), nil).Body.String()
	for _, want := range []string{`id="prompt-as-written"`, "As written", "·a fox\\r↵\nin snow··"} {
		if !strings.Contains(body, want) {
			t.Errorf("detail misses %q", want)
		}
	}
	if strings.Contains(body, `id="negative-raw"`) {
		t.Error("negative prompt equal to its trimmed form shown as written")
	}
	if body := c.do("GET", "/media_view.php?id="+fmtID(other), nil).Body.String(); strings.Contains(body, "prompt-as-written") || !strings.Contains(body, "plain") {
		t.Error("a prompt without a verbatim difference gets an as-written block, or its prompt is missing")
	}
}

// TestIntegrityCodesSayPlainWords: every reason the import's structural
// check or the integrity job can give a broken file has a sentence with a
// next step in both languages (the job center and detail page show it
// instead of the raw code).
func TestIntegrityCodesSayPlainWords(t *testing.T) {
	f := newFixture(t)
	for _, code := range []string{probe.CodeEmptyFile, probe.CodeInvalidHeader, probe.CodeDecodeFailed, probe.CodeTruncatedFile,
		probe.CodeCRCMismatch, probe.CodeRIFFSize, probe.CodeMoovMissing, probe.CodeMediaDataMissing} {
		for _, lang := range []string{"de", "en"} {
			if text, isErr, known := f.srv.message(lang, code, 0); !known || !isErr || strings.Contains(text, code) {
				t.Errorf("%s/%s: %q known=%v", lang, code, text, known)
			}
		}
	}
}

// TestSaveSearchKeepsFilters: Save search stores the list's URL filters as
// query terms next to the search box's text, and names the filters it
// cannot keep (#18 item 4).
func TestSaveSearchKeepsFilters(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	c.login()
	body := c.do("GET", "/mediadb.php?q=hopper&type=image&min_rating=2&character=with", nil).Body.String()
	for _, want := range []string{`id="save-search"`, `name="query" value="hopper type:image rating:&gt;=2"`, `id="save-not-kept"`, "character"} {
		if !strings.Contains(body, want) {
			t.Errorf("list page misses %q", want)
		}
	}
	if body := c.do("GET", "/mediadb.php?type=video", nil).Body.String(); !strings.Contains(body, `name="query" value="type:video"`) {
		t.Error("a filter without a search text cannot be saved")
	}
}
