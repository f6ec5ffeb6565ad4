package ollama

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/prompts"
)

// Template is a loaded prompt template.
type Template struct {
	Mode Mode
	Text string
	// Source is "file:<abs path>" for an override or "embedded:<name>".
	Source string
}

// Templates resolves prompt templates: a file in Dir wins, else the
// embedded default. Files are read on every Load so edits apply without a
// restart (templates are tiny).
type Templates struct {
	dir      string
	embedded fs.FS
}

// NewTemplates returns a resolver for dir (may be empty: embedded only).
func NewTemplates(dir string) *Templates {
	sub, err := fs.Sub(prompts.Ollama, "ollama")
	if err != nil {
		// The embed pattern guarantees the folder; this is a build defect.
		panic(err)
	}
	return &Templates{dir: dir, embedded: sub}
}

// Load returns the template of a generate mode.
func (t *Templates) Load(m Mode) (Template, error) {
	name := m.TemplateFile()
	if t.dir != "" {
		p := filepath.Join(t.dir, name)
		b, err := os.ReadFile(p)
		switch {
		case err == nil && strings.TrimSpace(string(b)) != "":
			abs, _ := filepath.Abs(p)
			return Template{Mode: m, Text: string(b), Source: "file:" + abs}, nil
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return Template{}, reason.Permanent(CodeTemplateMissing, fmt.Errorf("read template %s: %w", p, err))
		}
	}
	b, err := fs.ReadFile(t.embedded, name)
	if err != nil {
		return Template{}, reason.Permanent(CodeTemplateMissing, fmt.Errorf("no prompt template for mode %s", m))
	}
	return Template{Mode: m, Text: string(b), Source: "embedded:" + name}, nil
}

// Missing returns the template file names of the given generate modes that
// cannot be loaded (for the service's preflight "missing_prompts").
func (t *Templates) Missing(modes ...Mode) []string {
	var out []string
	for _, m := range modes {
		if m.ModelKind() == ModelEmbed || m.ModelKind() == ModelNone {
			continue
		}
		if _, err := t.Load(m); err != nil {
			out = append(out, m.TemplateFile())
		}
	}
	return out
}

var placeholderRE = regexp.MustCompile(`\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)

// Render replaces {{name}} placeholders with vars[name] (unknown names
// become empty so no raw placeholder reaches the model) and, for templates
// written for the PHP version, the single-brace form {name} of known vars.
func (t Template) Render(vars map[string]string) string {
	out := placeholderRE.ReplaceAllStringFunc(t.Text, func(m string) string {
		return vars[placeholderRE.FindStringSubmatch(m)[1]]
	})
	for k, v := range vars {
		out = strings.ReplaceAll(out, "{"+k+"}", v)
	}
	return strings.TrimSpace(out)
}
