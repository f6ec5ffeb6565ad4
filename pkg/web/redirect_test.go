package web

import "testing"

// TestSafeRedirect: browsers drop tab/CR/LF, trim leading control
// characters and spaces and read "\" as "/", so every such target would
// become scheme-relative ("//evil.example") and leave the site.
func TestSafeRedirect(t *testing.T) {
	const fb = "/fallback"
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", fb},
		{"plain path", "/mediadb.php", "/mediadb.php"},
		{"path with query", "/mediadb.php?q=cat&p=2", "/mediadb.php?q=cat&p=2"},
		{"path with fragment", "/index.php#sources", "/index.php#sources"},
		{"encoded slash stays a path", "/mediadb.php?q=a%2Fb", "/mediadb.php?q=a%2Fb"},
		{"encoded tab stays a path", "/%09x", "/%09x"},
		{"scheme-relative", "//evil.example", fb},
		{"triple slash", "///evil.example", fb},
		{"backslash after slash", "/\\evil.example", fb},
		{"backslash first", "\\\\evil.example", fb},
		{"slash backslash slash", "/\\/evil.example", fb},
		{"backslash later", "/a\\b", fb},
		{"tab between slashes", "/\t/evil.example", fb},
		{"LF between slashes", "/\n/evil.example", fb},
		{"CR between slashes", "/\r/evil.example", fb},
		{"NUL", "/\x00/evil.example", fb},
		{"DEL", "/\x7f/evil.example", fb},
		{"other control char", "/\x1f/evil.example", fb},
		{"leading space", " //evil.example", fb},
		{"space inside", "/ /evil.example", fb},
		{"absolute http", "http://evil.example/", fb},
		{"absolute https", "https://evil.example/", fb},
		{"javascript", "javascript:alert(1)", fb},
		{"data", "data:text/html,x", fb},
		{"relative", "mediadb.php", fb},
		{"encoded slashes decode to //", "/%2F%2Fevil.example", fb},
		{"bad escape", "/%zz", fb},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := safeRedirect(tc.in, fb); got != tc.want {
				t.Fatalf("safeRedirect(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
