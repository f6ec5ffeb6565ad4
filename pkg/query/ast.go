// Package query is Supervisor's one search language: free words, "quoted
// phrases" and field terms (model:juggernaut steps:>=30 created:7d …) with
// negation, OR and parentheses. It only parses and validates; turning a
// query into SQL is the catalog's job (pkg/catalog), so the web list,
// /api/media and the catalog CLI share one meaning.
//
// Grammar (informal; whitespace separates terms, adjacency is AND):
//
//	query   = or
//	or      = and { "OR" and }            // OR binds looser than AND
//	and     = unary { unary }
//	unary   = "-" unary | primary
//	primary = "(" or ")" | term | word | phrase
//	term    = field ":" [op] value        // op: > >= < <=
//	value   = word | phrase | lo ".." hi  // open ends: "..5", "30.."
//
// "OR" is an operator only in upper case; "or" is a word. A field name is
// matched case-insensitively; an unknown field (not in FieldNames), a value of the wrong type
// or a syntax error is a *Error with the byte position, never a panic.
// Parse documents the finer decisions (what a word is, ranges, relative
// dates); String gives the canonical form, which parses back to the same
// tree.
package query

import (
	"sort"
	"strings"
	"time"
)

// MaxQueryBytes bounds a query (larger input is refused with
// CodeTooLong, before any parsing).
const MaxQueryBytes = 4096

// MaxTerms bounds the number of leaf nodes (words, phrases, terms).
const MaxTerms = 64

// Reason codes of *Error (stable; the UI maps them to sentences).
const (
	CodeSyntax       = "query_syntax"        // unbalanced quote/paren, dangling OR/-, empty value
	CodeUnknownField = "query_unknown_field" // foo:bar with foo not a field
	CodeBadValue     = "query_bad_value"     // steps:abc, created:2026-13, type:gif
	CodeTooLong      = "query_too_long"      // > MaxQueryBytes or > MaxTerms
)

// Error is a query that cannot be used: Code is one of the Code*
// constants, Pos the byte offset in the input where the problem is (for a
// caret under the search box), Msg a plain English sentence for logs and
// the CLI (the web UI words it from Code and Field).
type Error struct {
	Code  string
	Pos   int
	Field string // the term's canonical field; for CodeUnknownField the name as typed; "" outside a term
	Msg   string
}

func (e *Error) Error() string { return e.Msg }

// ReasonCode makes *Error carry its code for pkg/reason.
func (e *Error) ReasonCode() string { return e.Code }

// Node is one element of a parsed query: *And, *Or, *Not, *Text, *Term.
type Node interface{ node() }

// And requires every item (adjacent terms). Parse flattens nested Ands.
type And struct{ Items []Node }

// Or requires one of its items. Parse flattens nested Ors.
type Or struct{ Items []Node }

// Not excludes what X matches ("-term", "-(a OR b)").
type Not struct{ X Node }

// Text is a free word or a "quoted phrase", searched in the text fields
// (prompt, negative prompt, file name, title, caption, tag names, model,
// sampler, LoRA names). Value is as typed (unquoted); matching is the
// catalog's (word prefix, accent folded).
type Text struct {
	Value  string
	Phrase bool
	Pos    int
}

// Op is a field term's comparison.
type Op int

const (
	OpEq    Op = iota // field:value (for numbers: equal; for text: match)
	OpGt              // field:>value
	OpGe              // field:>=value
	OpLt              // field:<value
	OpLe              // field:<=value
	OpRange           // field:lo..hi (inclusive; either end may be open)
)

// Term is one field term. Raw/Hi are the value text as typed (Hi only for
// OpRange); the typed fields below are filled by Parse according to the
// field's Kind, so the compiler never re-parses user text.
type Term struct {
	Field  string // canonical field name (a key of Fields, aliases resolved)
	Op     Op
	Raw    string // value as typed, unquoted ("" for the open low end of a range)
	Hi     string // OpRange: upper value as typed ("" = open)
	Quoted bool   // the value was a "quoted phrase" (text and path fields only; elsewhere quotes are mere delimiters)
	Pos    int

	// Num is the numeric interval for KindInt, KindFloat, KindSize (bytes),
	// KindDuration (seconds) and KindRatio (width/height): Lo/Hi nil when
	// open, Inclusive flags per end. OpEq on a number is [v, v].
	Num *Interval
	// Time is the half-open interval [From, To) for KindDate: a day, month
	// or year as typed ("2026-11" is all of November, UTC), a relative
	// "7d"/"24h"/"2w"/"3m"/"1y" from now−N on (open end), or a range of
	// those (see Parse).
	Time *TimeInterval
	// Enum is the canonical lower-case value for KindEnum fields.
	Enum string
	// Seed is the exact interval for KindSeed (Num stays nil there: a
	// float64 cannot hold every 64-bit seed).
	Seed *SeedInterval
	// Similar is the reference of a KindSimilar term.
	Similar *SimilarRef
}

// Interval is a numeric range.
type Interval struct {
	Lo, Hi         *float64
	LoIncl, HiIncl bool
}

// TimeInterval is [From, To); a zero From or To is open.
type TimeInterval struct{ From, To time.Time }

func (*And) node()  {}
func (*Or) node()   {}
func (*Not) node()  {}
func (*Text) node() {}
func (*Term) node() {}

// Kind is the value type of a field.
type Kind int

const (
	KindText     Kind = iota // model:juggernaut — word-prefix / phrase match on that field
	KindInt                  // steps:30, steps:>=20, steps:20..40
	KindFloat                // cfg:7, denoise:<0.5
	KindSeed                 // seed:12345678901234567890 — decimal, up to 64 bits unsigned, exact
	KindSize                 // size:>2MB (B, KB, MB, GB, TB; 1024-based; case-insensitive; decimals allowed)
	KindDuration             // dur:>30s (s, m, h; "1:30", "1:02:03"; bare number = seconds)
	KindRatio                // ratio:16:9, ratio:>1 (width/height)
	KindDate                 // created:2026-11, imported:7d, created:2026-11..2026-12
	KindEnum                 // type:image — one of Spec.Values
	KindPath                 // path:/lib/2026/ — folder prefix of the media path
	KindSimilar              // similar:123 or similar:123~8 — a media id and a perceptual-hash distance
)

// Distances of the similar: term: the default when none is typed (what
// pkg/phash measures as "the same picture") and the largest allowed (the
// banded lookup's cost: up to 11 bits it reads ~550 index keys, from 12
// on ~2,800 and takes 80–120 ms at 1M media; pkg/similar.MaxDistance).
const (
	DefaultSimilarDistance = 10
	MaxSimilarDistance     = 11
)

// SimilarRef is the value of a similar: term.
type SimilarRef struct {
	MediaID  int64
	Distance int
}

// Spec describes one field.
type Spec struct {
	Kind Kind
	// Values are the allowed values of a KindEnum field (lower case).
	Values []string
	// Doc is a short English description for help texts.
	Doc string
}

// fields is every field the language knows, by canonical name (read
// only; Lookup and FieldNames are the way in).
var fields = map[string]Spec{
	"model":      {Kind: KindText, Doc: "checkpoint name (word prefix) or model hash"},
	"sampler":    {Kind: KindText, Doc: "sampler name"},
	"scheduler":  {Kind: KindText, Doc: "scheduler / schedule type"},
	"lora":       {Kind: KindText, Doc: "LoRA / LyCORIS name"},
	"seed":       {Kind: KindSeed, Doc: "generation seed (exact)"},
	"similar":    {Kind: KindSimilar, Doc: "looks like media N (perceptual hash; ~D sets the distance, default 10, at most 11)"},
	"steps":      {Kind: KindInt, Doc: "sampling steps"},
	"cfg":        {Kind: KindFloat, Doc: "CFG scale"},
	"denoise":    {Kind: KindFloat, Doc: "denoising strength"},
	"software":   {Kind: KindText, Doc: "generator: a1111, forge, comfyui, novelai, invokeai, fooocus, swarmui …"},
	"tag":        {Kind: KindText, Doc: "tag name (exact; * at the end for a prefix)"},
	"character":  {Kind: KindText, Doc: "character tag"},
	"rating":     {Kind: KindInt, Doc: "star rating 0..3"},
	"nsfw":       {Kind: KindEnum, Values: []string{"yes", "no"}, Doc: "18+ flag"},
	"type":       {Kind: KindEnum, Values: []string{"image", "video"}, Doc: "media type"},
	"w":          {Kind: KindInt, Doc: "width in pixels"},
	"h":          {Kind: KindInt, Doc: "height in pixels"},
	"ratio":      {Kind: KindRatio, Doc: "aspect ratio width/height (16:9, 1.5, >1)"},
	"dur":        {Kind: KindDuration, Doc: "video duration"},
	"size":       {Kind: KindSize, Doc: "file size"},
	"imported":   {Kind: KindDate, Doc: "import date"},
	"created":    {Kind: KindDate, Doc: "creation date"},
	"path":       {Kind: KindPath, Doc: "folder prefix"},
	"source":     {Kind: KindText, Doc: "library source (its label or folder)"},
	"collection": {Kind: KindText, Doc: "collection name"},
	"has":        {Kind: KindEnum, Values: []string{"prompt", "caption", "title", "tags", "parent", "children", "meta"}, Doc: "has a prompt, AI caption, title, tags, parent or children"},
	"is":         {Kind: KindEnum, Values: []string{"broken", "duplicate", "deleted", "checked", "missing", "archived"}, Doc: "state"},
	"prompt":     {Kind: KindText, Doc: "words in the positive prompt only"},
	"negative":   {Kind: KindText, Doc: "words in the negative prompt only"},
	"title":      {Kind: KindText, Doc: "words in the title (override or AI title)"},
	"caption":    {Kind: KindText, Doc: "words in the AI caption"},
	"name":       {Kind: KindText, Doc: "words in the file name or path"},
	"status":     {Kind: KindEnum, Values: []string{"active", "archived", "deleted", "missing", "deleted_logical"}, Doc: "catalogue status"},
	"curation":   {Kind: KindEnum, Values: []string{"unknown", "ok", "review", "blocked"}, Doc: "quality status"},
	"vote":       {Kind: KindEnum, Values: []string{"neutral", "approved", "rejected"}, Doc: "vote (admin)"},
	"id":         {Kind: KindInt, Doc: "media id"},
}

// aliases are accepted alternative field names (read only).
var aliases = map[string]string{
	"neg": "negative", "width": "w", "height": "h", "duration": "dur", "filesize": "size",
	"lyco": "lora", "sw": "software", "folder": "path", "schedule": "scheduler", "cfg_scale": "cfg",
	"album": "collection", "stars": "rating",
}

// Lookup resolves a field name as typed (any case, aliases allowed) to
// its canonical name and Spec.
func Lookup(name string) (canonical string, spec Spec, ok bool) {
	n := strings.ToLower(name)
	if a, ok := aliases[n]; ok {
		n = a
	}
	spec, ok = fields[n]
	return n, spec, ok
}

// FieldNames lists the canonical field names, sorted (help texts, the
// "unknown field" message).
func FieldNames() []string {
	out := make([]string, 0, len(fields))
	for k := range fields {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
