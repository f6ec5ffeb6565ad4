// Package svtime is the single place where Supervisor formats and parses
// timestamps. Every timestamp written to the database, a log or a status file
// is UTC RFC 3339 with second precision ("2026-01-02T03:04:05Z"), so that
// lexical comparison in SQL equals chronological comparison.
package svtime

import (
	"strings"
	"time"
)

// Layout is the one timestamp layout Supervisor writes.
const Layout = "2006-01-02T15:04:05Z"

// Clock tells the current time. Tests inject a fixed or stepping clock.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real wall clock.
type SystemClock struct{}

// Now returns the current time in UTC.
func (SystemClock) Now() time.Time { return time.Now().UTC() }

// FixedClock is a settable clock for tests. It is not safe for concurrent
// mutation; tests that advance it from several goroutines must synchronise.
type FixedClock struct{ T time.Time }

// Now returns the fixed time.
func (c *FixedClock) Now() time.Time { return c.T.UTC() }

// Advance moves the clock forward by d.
func (c *FixedClock) Advance(d time.Duration) { c.T = c.T.Add(d) }

// Format renders t as UTC RFC 3339 with second precision.
func Format(t time.Time) string { return t.UTC().Format(Layout) }

// FormatOrEmpty renders t, or returns "" for a zero time.
func FormatOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return Format(t)
}

// NowString is Format(c.Now()).
func NowString(c Clock) string { return Format(c.Now()) }

// legacyLayouts are the formats the original PHP system wrote: date('c') with a
// local offset, gmdate('c') with +00:00, SQLite datetime('now') and unix
// seconds are handled by Parse.
var legacyLayouts = []string{
	time.RFC3339Nano,
	time.RFC3339,
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02",
}

// Parse reads any timestamp format found in Supervisor or legacy PHP
// databases and returns it in UTC. It returns false for empty or unknown
// input.
func Parse(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	for _, l := range legacyLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// Normalize converts any parseable timestamp to the canonical layout and
// returns s unchanged when it cannot be parsed.
func Normalize(s string) string {
	if t, ok := Parse(s); ok {
		return Format(t)
	}
	return s
}
