package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"strings"
)

//go:embed i18n/*.json
var i18nFS embed.FS

// catalogue is the UI message catalogue: one JSON file per language, loaded
// once. English is the fallback for keys missing in another language; a key
// missing everywhere renders as the key, so gaps are visible, never blank.
type catalogue struct {
	msgs  map[string]map[string]string
	langs []string
}

func loadCatalogue() (*catalogue, error) {
	c := &catalogue{msgs: map[string]map[string]string{}}
	for _, lang := range []string{"en", "de"} {
		b, err := i18nFS.ReadFile("i18n/" + lang + ".json")
		if err != nil {
			return nil, fmt.Errorf("i18n %s: %w", lang, err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("i18n %s: %w", lang, err)
		}
		c.msgs[lang] = m
		c.langs = append(c.langs, lang)
	}
	return c, nil
}

// T translates key into lang, formatting args with fmt when given.
func (c *catalogue) T(lang, key string, args ...any) string {
	s, ok := c.msgs[lang][key]
	if !ok {
		if s, ok = c.msgs["en"][key]; !ok {
			s = key
		}
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

func (c *catalogue) has(lang string) bool { _, ok := c.msgs[lang]; return ok }

// pick chooses the language: explicit session choice, then Accept-Language
// (first supported tag by order; q-values are in practice descending), then
// the configured default, then English.
func (c *catalogue) pick(sessLang, accept, def string) string {
	if c.has(sessLang) {
		return sessLang
	}
	for _, part := range strings.Split(accept, ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		base, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if c.has(base) {
			return base
		}
	}
	if c.has(def) {
		return def
	}
	return "en"
}

// prefixed is every message whose key starts with prefix, in lang with
// English where lang has none, keyed without the prefix: the layout hands
// the "js." messages to the page scripts, which hold no text of their own.
func (c *catalogue) prefixed(lang, prefix string) map[string]string {
	out := map[string]string{}
	for _, l := range []string{"en", lang} {
		for k, v := range c.msgs[l] {
			if rest, ok := strings.CutPrefix(k, prefix); ok {
				out[rest] = v
			}
		}
	}
	return out
}
