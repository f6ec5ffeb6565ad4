package forge

import (
	"regexp"
	"sort"
	"strings"
)

// TagInput is one tag of the media as the planner needs it (joined from
// tags and media_tags).
type TagInput struct {
	Name       string  `json:"name"`
	Type       string  `json:"type"`
	Confidence float64 `json:"confidence"`
	// Locked is media_tags.locked or tags.locked (manual tags first).
	Locked bool `json:"locked"`
}

// MaxPromptTags is the number of tags a tag prompt is built from.
const MaxPromptTags = 8

// Quality grades of a stored prompt.
const (
	GradeA = "A"
	GradeB = "B"
	GradeC = "C"
)

// Quality is the result of AnalyzePromptQuality.
type Quality struct {
	Score  int      `json:"quality_score"`
	Grade  string   `json:"quality_grade"`
	Issues []string `json:"quality_issues"`
}

// garbled matches token soup that is not prompt syntax: runs of symbols
// outside the usual weighting/lora punctuation, six consonants in a row,
// escaped bytes, replacement characters and UTF-8 read as Latin-1 ("Ã©").
var garbled = regexp.MustCompile(`[^\p{L}\p{N}\s,.;()\[\]{}:<>_\-'"!?|/+*#&%=~^@]{2,}|(?i)\b[bcdfghjklmnpqrstvwxz]{6,}\b|\\x[0-9a-f]{2}|\x{FFFD}|[ÃÂ][\x{0080}-\x{00BF}]|â€`)

// AnalyzePromptQuality grades a stored prompt like the original
// sv_analyze_prompt_quality: start at 85, subtract for emptiness, brevity,
// fragmentation, garbling, missing substance, unknown resolution and tags that
// say more than the prompt; A ≥ 75, B ≥ 55, else C. hasSize tells whether
// the prompt row knows width and height; tagConfidenceSum is the sum of the
// media's tag confidences.
func AnalyzePromptQuality(prompt string, hasSize bool, tagConfidenceSum float64) Quality {
	q := Quality{Score: 85, Issues: []string{}}
	p := strings.TrimSpace(prompt)
	words := len(strings.Fields(p))
	if p == "" {
		q.Score -= 35
		q.Issues = append(q.Issues, "empty")
	}
	if words < 6 {
		q.Score -= 25
		q.Issues = append(q.Issues, "too_short")
	} else if words > 20 {
		q.Score += 5
	}
	frags := splitFragments(p)
	short, substantial := 0, false
	for _, f := range frags {
		if len([]rune(f)) < 4 {
			short++
		}
		if len([]rune(f)) >= 6 {
			substantial = true
		}
	}
	if len(frags) >= 3 && short >= 2 {
		q.Score -= 15
		q.Issues = append(q.Issues, "fragmented")
	} else if len(frags) >= 3 {
		q.Score += 5
	}
	if garbled.MatchString(p) {
		q.Score -= 20
		q.Issues = append(q.Issues, "garbled")
	}
	if p != "" && !substantial {
		q.Score -= 15
		q.Issues = append(q.Issues, "no_substantial_fragment")
	}
	if !hasSize {
		q.Score -= 5
		q.Issues = append(q.Issues, "missing_resolution")
	}
	if tagConfidenceSum >= 3 && tagConfidenceSum > float64(words)/2 {
		q.Score -= 10
		q.Issues = append(q.Issues, "tags_richer_than_prompt")
	}
	switch {
	case q.Score >= 75:
		q.Grade = GradeA
	case q.Score >= 55:
		q.Grade = GradeB
	default:
		q.Grade = GradeC
	}
	return q
}

func splitFragments(p string) []string {
	var out []string
	for _, f := range strings.Split(p, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// humanWords are stripped from tag prompts when the media is tagged
// no_humans, so a landscape is not regenerated with a person in it.
var humanWords = regexp.MustCompile(`(?i)\b(?:human|people|person|man|men|woman|women|male|female|boy|girl|guy|lady|ladies|gentleman|gentlemen|portrait|face|body|adult|kid|child|children)s?\b`)

// HasNoHumans reports whether the tags contain no_humans / "no humans".
func HasNoHumans(tags []TagInput) bool {
	for _, t := range tags {
		n := strings.ToLower(strings.TrimSpace(t.Name))
		if n == "no_humans" || n == "no humans" {
			return true
		}
	}
	return false
}

// StripHumanWords removes human words from a comma-separated prompt and
// drops fragments that become empty.
func StripHumanWords(p string) string {
	var keep []string
	for _, f := range splitFragments(p) {
		lf := strings.ToLower(f)
		if lf == "no humans" || lf == "no_humans" {
			keep = append(keep, f)
			continue
		}
		f = strings.Join(strings.Fields(humanWords.ReplaceAllString(f, " ")), " ")
		if f != "" {
			keep = append(keep, f)
		}
	}
	return strings.Join(keep, ", ")
}

// SelectTags orders tags like the original query (locked first, then
// confidence, then name), drops confidence ≤ 0 and keeps at most max. It
// reports whether tags were cut off.
func SelectTags(tags []TagInput, max int) ([]TagInput, bool) {
	var ts []TagInput
	for _, t := range tags {
		if t.Confidence > 0 && strings.TrimSpace(t.Name) != "" {
			ts = append(ts, t)
		}
	}
	sort.SliceStable(ts, func(i, j int) bool {
		if ts[i].Locked != ts[j].Locked {
			return ts[i].Locked
		}
		if ts[i].Confidence != ts[j].Confidence {
			return ts[i].Confidence > ts[j].Confidence
		}
		return ts[i].Name < ts[j].Name
	})
	if len(ts) > max {
		return ts[:max], true
	}
	return ts, false
}

// tagText turns a booru tag into prompt words ("long_hair" → "long hair")
// but leaves emoticons such as "^_^" alone.
func tagText(name string) string {
	n := strings.TrimSpace(name)
	if strings.ContainsFunc(n, func(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }) {
		n = strings.ReplaceAll(n, "_", " ")
	}
	return n
}

// TagPrompt is the result of BuildTagPrompt.
type TagPrompt struct {
	Text        string `json:"tag_fragment"`
	TagsUsed    int    `json:"tags_used_count"`
	TagsLimited bool   `json:"tags_limited"`
	NoHumans    bool   `json:"no_humans"`
}

// BuildTagPrompt builds the tag prompt from up to MaxPromptTags tags grouped
// as subject (content, character), pattern (≤3 + "pattern mix"), background
// (other types, ≤3 + "background detail") and style, with human words
// removed for no_humans media.
func BuildTagPrompt(tags []TagInput) TagPrompt {
	sel, limited := SelectTags(tags, MaxPromptTags)
	noHumans := HasNoHumans(tags)
	var subject, pattern, background, style []string
	for _, t := range sel {
		txt := tagText(t.Name)
		switch ty := strings.ToLower(t.Type); {
		case ty == "" || ty == "content" || strings.Contains(ty, "character"):
			subject = append(subject, txt)
		case ty == "pattern":
			if len(pattern) < 3 {
				pattern = append(pattern, txt)
			}
		case ty == "style":
			style = append(style, txt)
		default:
			if len(background) < 3 {
				background = append(background, txt)
			}
		}
	}
	parts := append([]string{}, subject...)
	if len(pattern) > 0 {
		parts = append(parts, pattern...)
		parts = append(parts, "pattern mix")
	}
	if len(background) > 0 {
		parts = append(parts, background...)
		parts = append(parts, "background detail")
	}
	parts = append(parts, style...)
	text := strings.Join(parts, ", ")
	if noHumans {
		text = StripHumanWords(text)
	}
	return TagPrompt{Text: text, TagsUsed: len(sel), TagsLimited: limited, NoHumans: noHumans}
}

// RepairTagPrompt is the repair's tag source: the selected tag names sorted
// alphabetically, at most 200 characters, human words stripped for
// no_humans media.
func RepairTagPrompt(tags []TagInput) string {
	sel, _ := SelectTags(tags, MaxPromptTags)
	names := make([]string, 0, len(sel))
	for _, t := range sel {
		names = append(names, tagText(t.Name))
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		add := n
		if b.Len() > 0 {
			add = ", " + n
		}
		if b.Len()+len(add) > 200 {
			break
		}
		b.WriteString(add)
	}
	s := b.String()
	if HasNoHumans(tags) {
		s = StripHumanWords(s)
	}
	return s
}
