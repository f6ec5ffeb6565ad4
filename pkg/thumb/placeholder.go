package thumb

import "fmt"

// Placeholder returns a small SVG shown instead of a thumbnail that could
// not be made (serve it with ContentTypePlaceholder). kind "video" draws
// the original's dark 320×200 frame with a play triangle, "image" a
// picture symbol, "busy" an hourglass-like ring for 503 answers; anything
// else a crossed frame.
func Placeholder(kind string) []byte {
	var glyph string
	switch kind {
	case "video":
		glyph = `<polygon points="140,70 140,130 190,100" fill="#ddd"/>`
	case "image":
		glyph = `<rect x="120" y="65" width="80" height="70" rx="6" fill="none" stroke="#ddd" stroke-width="5"/>` +
			`<polygon points="128,128 152,98 168,116 178,106 194,128" fill="#ddd"/><circle cx="178" cy="84" r="7" fill="#ddd"/>`
	case "busy":
		glyph = `<circle cx="160" cy="100" r="28" fill="none" stroke="#ddd" stroke-width="6" stroke-dasharray="120 60"/>`
	default:
		glyph = `<path d="M135 75 L185 125 M185 75 L135 125" stroke="#ddd" stroke-width="8" stroke-linecap="round"/>`
	}
	return fmt.Appendf(nil, `<svg xmlns="http://www.w3.org/2000/svg" width="320" height="200" viewBox="0 0 320 200">`+
		`<rect width="320" height="200" fill="#222"/>%s</svg>`, glyph)
}
