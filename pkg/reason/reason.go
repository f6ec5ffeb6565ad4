// Package reason carries the stable machine-readable reason codes that users,
// logs and the web UI see, and the retry classification workers act on.
//
// Every error a user can see is wrapped in an *Error with a Code such as
// "scanner_auth_failed" or "queue_full_total". Code(err) finds the code
// anywhere in a wrap chain, so lower layers can add context with %w freely.
package reason

import (
	"errors"
	"fmt"
	"strings"
)

// Kind classifies an error for the job runner.
type Kind int

const (
	// KindUnknown errors are treated as transient by the job runner: a
	// retry is cheap, losing work is not.
	KindUnknown Kind = iota
	// KindTransient errors (service down, timeout, disk busy) are retried
	// with backoff while attempts remain.
	KindTransient
	// KindPermanent errors (corrupt file, bad config, unsupported codec)
	// fail the job at once.
	KindPermanent
)

// String names the kind as stored in job results.
func (k Kind) String() string {
	switch k {
	case KindTransient:
		return "transient"
	case KindPermanent:
		return "permanent"
	default:
		return "unknown"
	}
}

// Error is an error with a stable reason code.
type Error struct {
	// Code is the stable reason_code, snake_case.
	Code string
	// Kind tells the job runner whether to retry.
	Kind Kind
	// Msg is a short human-readable message (no secrets, no stack traces).
	Msg string
	// Fields carries structured details such as missing_keys or config_path.
	Fields map[string]any
	// Err is the wrapped cause, if any.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Code)
	if e.Msg != "" {
		b.WriteString(": ")
		b.WriteString(e.Msg)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// New returns a permanent error with a code and message.
func New(code, msg string) *Error { return &Error{Code: code, Kind: KindPermanent, Msg: msg} }

// Newf is New with formatting.
func Newf(code, format string, args ...any) *Error {
	return &Error{Code: code, Kind: KindPermanent, Msg: fmt.Sprintf(format, args...)}
}

// Transient returns a retryable error with a code, wrapping err.
func Transient(code string, err error) *Error {
	return &Error{Code: code, Kind: KindTransient, Err: err}
}

// Permanent returns a non-retryable error with a code, wrapping err.
func Permanent(code string, err error) *Error {
	return &Error{Code: code, Kind: KindPermanent, Err: err}
}

// Wrap attaches a code and kind to err. It returns nil for a nil err.
func Wrap(err error, code string, kind Kind) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Kind: kind, Err: err}
}

// With returns a copy of e with an extra structured field.
func (e *Error) With(key string, value any) *Error {
	c := *e
	c.Fields = make(map[string]any, len(e.Fields)+1)
	for k, v := range e.Fields {
		c.Fields[k] = v
	}
	c.Fields[key] = value
	return &c
}

// Code returns the reason code of the outermost *Error in err's chain, or
// "" when there is none.
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// CodeOr returns Code(err), or fallback when err carries no code.
func CodeOr(err error, fallback string) string {
	if c := Code(err); c != "" {
		return c
	}
	return fallback
}

// KindOf returns the kind of the outermost *Error in err's chain.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindUnknown
}

// IsPermanent reports whether err must not be retried.
func IsPermanent(err error) bool { return KindOf(err) == KindPermanent }

// FieldsOf returns the structured fields of the outermost *Error, or nil.
func FieldsOf(err error) map[string]any {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// Truncate shortens a message to at most n runes, for columns such as
// jobs.error_message (240 characters).
func Truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 1 {
		return string(r[:n])
	}
	return string(r[:n-1]) + "…"
}
