package web

import (
	"net/url"
	"strings"
)

// safeRedirect returns target when it is a path on this server, else
// fallback. It is the one check for every redirect target that comes from
// a request (login "next", settings and media-action "back").
//
// Browsers are lenient where a server check is strict: they drop tab, CR
// and LF anywhere in a URL, trim leading and trailing control characters
// and spaces, and read a backslash as a slash. So "/\evil.example",
// "/<TAB>/evil.example" and "/\t/evil.example" all become the
// scheme-relative "//evil.example", which leaves the site. Only a target
// that is unambiguous to every parser is accepted: it starts with exactly
// one "/", contains no backslash, no control character and no space, and
// parses as a bare path (no scheme, no host).
func safeRedirect(target, fallback string) string {
	if !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "//") {
		return fallback
	}
	for i := 0; i < len(target); i++ {
		if c := target[i]; c <= ' ' || c == 0x7f || c == '\\' {
			return fallback
		}
	}
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return fallback
	}
	return target
}
