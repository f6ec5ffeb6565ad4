package scanner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Tagger is what a Breaker guards: the two calls the importer and rescans
// make. *Client implements it.
type Tagger interface {
	ScanImage(ctx context.Context, path string) (*Result, error)
	ScanVideo(ctx context.Context, path string, frames FrameSource) (*Result, error)
}

// BreakerState is the state of a Breaker.
type BreakerState int

// Breaker states.
const (
	// BreakerClosed: calls go through; consecutive failures are counted.
	BreakerClosed BreakerState = iota
	// BreakerOpen: calls are refused with scanner_circuit_open until the
	// cool-down has passed.
	BreakerOpen
	// BreakerHalfOpen: the cool-down has passed; one probe call is let
	// through, others are refused until it has answered.
	BreakerHalfOpen
)

// String names the state as logged.
func (s BreakerState) String() string {
	switch s {
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half_open"
	default:
		return "closed"
	}
}

// BreakerEvent describes one state change of a Breaker.
type BreakerEvent struct {
	From, To BreakerState
	// At is when the change happened (the Breaker's clock).
	At time.Time
	// Failures is the number of consecutive failures behind an opening
	// (0 for the other changes).
	Failures int
	// Code is the reason code of the failure that opened the breaker
	// ("" for the other changes).
	Code string
	// RetryAt is when an open breaker lets the next probe through (zero
	// unless To is BreakerOpen).
	RetryAt time.Time
}

// Fields returns the event as log fields (scanner_breaker events in
// LOGS/scanner_ingest.jsonl).
func (e BreakerEvent) Fields() map[string]any {
	f := map[string]any{"breaker_state": e.To.String(), "breaker_from": e.From.String(), "at": svtime.Format(e.At)}
	if e.To == BreakerOpen {
		f["consecutive_failures"] = e.Failures
		f["error_code"] = e.Code
		f["retry_at"] = svtime.Format(e.RetryAt)
	}
	return f
}

// BreakerOptions configure a Breaker. Zero values get the defaults.
type BreakerOptions struct {
	// Threshold is how many consecutive failing calls open the breaker.
	// Default DefaultBreakerThreshold.
	Threshold int
	// CoolDown is how long an open breaker refuses calls before it lets a
	// probe through. Default DefaultBreakerCoolDownSecs seconds.
	CoolDown time.Duration
	// Clock tells the time (tests step a fake one). Default the system
	// clock.
	Clock svtime.Clock
	// OnChange, if set, is called after every state change, outside the
	// breaker's lock, so it may log or do I/O. It is called once per
	// change, never per refused call.
	OnChange func(BreakerEvent)
}

// Breaker is a circuit breaker in front of the tagger. A hanging or dead
// tagger otherwise costs scanner.timeout per file; after Threshold
// consecutive failures the Breaker refuses calls at once with a transient
// scanner_circuit_open error for CoolDown, so an import goes on without
// tags (the media are flagged scanner.pending and the backfill tags them
// later). After the cool-down one probe call goes through (half-open): a
// success closes the breaker, a failure opens it for another cool-down.
//
// A failure is a call ending in scanner_timeout, scanner_unreachable or
// scanner_http_5xx (anywhere in the error chain, so a video fallback whose
// frames all timed out counts too): the service is down, hanging or
// broken, and the next file would fare the same. 5xx counts because a
// tagger that answers every file with 500 (model not loaded, GPU out of
// memory, a proxy in front of a dead service) is as useless as a silent
// one, and needing several in a row keeps one bad file from tripping it.
// Any other answer (a result, 4xx, an unusable body) proves the service
// responds and resets the count. A call whose context was cancelled, or
// that never reached the service (file or config errors), changes
// nothing.
//
// A Breaker is safe for concurrent use. Several taggers may share one
// (Guard), so a per-job client with other settings sees the same state.
type Breaker struct {
	threshold int
	coolDown  time.Duration
	clock     svtime.Clock
	onChange  func(BreakerEvent)

	mu        sync.Mutex
	state     BreakerState
	failures  int    // consecutive failures (probes included)
	lastCode  string // reason code of the failure that opened it
	openUntil time.Time
	probing   bool // a half-open probe is in flight
}

// NewBreaker returns a closed breaker.
func NewBreaker(o BreakerOptions) *Breaker {
	b := &Breaker{threshold: o.Threshold, coolDown: o.CoolDown, clock: o.Clock, onChange: o.OnChange}
	if b.threshold <= 0 {
		b.threshold = DefaultBreakerThreshold
	}
	if b.coolDown <= 0 {
		b.coolDown = DefaultBreakerCoolDownSecs * time.Second
	}
	if b.clock == nil {
		b.clock = svtime.SystemClock{}
	}
	return b
}

// State returns the current state. An open breaker whose cool-down has
// passed still reports open until a call probes it.
func (b *Breaker) State() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

// Guard returns t behind b. A nil b returns t itself (breaker disabled).
func (b *Breaker) Guard(t Tagger) Tagger {
	if b == nil {
		return t
	}
	return guarded{b: b, t: t}
}

type guarded struct {
	b *Breaker
	t Tagger
}

func (g guarded) ScanImage(ctx context.Context, path string) (*Result, error) {
	return g.b.call(ctx, func() (*Result, error) { return g.t.ScanImage(ctx, path) })
}

func (g guarded) ScanVideo(ctx context.Context, path string, frames FrameSource) (*Result, error) {
	return g.b.call(ctx, func() (*Result, error) { return g.t.ScanVideo(ctx, path, frames) })
}

// call runs fn unless the breaker refuses it, and records its outcome.
func (b *Breaker) call(ctx context.Context, fn func() (*Result, error)) (*Result, error) {
	probe, err := b.allow()
	if err != nil {
		return nil, err
	}
	res, err := fn()
	b.record(probe, classify(ctx, err), reason.Code(failureCause(err)))
	return res, err
}

// allow decides whether a call may go to the tagger; probe reports that it
// is the half-open probe.
func (b *Breaker) allow() (probe bool, err error) {
	b.mu.Lock()
	now := b.clock.Now()
	var ev *BreakerEvent
	switch {
	case b.state == BreakerClosed:
	case b.state == BreakerOpen && !now.Before(b.openUntil):
		ev = &BreakerEvent{From: BreakerOpen, To: BreakerHalfOpen, At: now}
		b.state, b.probing, probe = BreakerHalfOpen, true, true
	case b.state == BreakerHalfOpen && !b.probing:
		// The previous probe ended without a verdict (cancelled, file
		// error): this call probes instead.
		b.probing, probe = true, true
	default:
		err = b.refusal()
	}
	b.mu.Unlock()
	b.emit(ev)
	return probe, err
}

// refusal is the error of a refused call; b.mu is held.
func (b *Breaker) refusal() error {
	msg := fmt.Sprintf("tagger not called: circuit open after %d consecutive failures (last %s); next probe after %s",
		b.failures, b.lastCode, svtime.Format(b.openUntil))
	if b.state == BreakerHalfOpen {
		msg = fmt.Sprintf("tagger not called: circuit half-open, a probe call is in flight (last failure %s)", b.lastCode)
	}
	return &reason.Error{Code: CodeCircuitOpen, Kind: reason.KindTransient, Msg: msg,
		Fields: map[string]any{
			"breaker_state":          b.state.String(),
			"last_error_code":        b.lastCode,
			"consecutive_failures":   b.failures,
			"retry_at":               svtime.Format(b.openUntil),
			"response_type_detected": TypeNone,
		}}
}

// outcome is what a finished call says about the tagger's health.
type outcome int

const (
	outcomeNeutral outcome = iota // says nothing (cancelled, never sent)
	outcomeHealthy                // the service answered
	outcomeFailure                // down, hanging or failing
)

// classify judges a finished call (see the Breaker doc).
func classify(ctx context.Context, err error) outcome {
	switch {
	case err == nil:
		return outcomeHealthy
	case ctx.Err() != nil:
		return outcomeNeutral
	case failureCause(err) != nil:
		return outcomeFailure
	}
	switch reason.Code(err) {
	case CodeCancelled, CodeCircuitOpen, CodeDisabled, CodeNotConfigured, CodeAuthMissing, CodeFileMissing, CodeFileUnreadable:
		return outcomeNeutral
	}
	return outcomeHealthy
}

// failureCause returns the first *reason.Error in err's chain whose code
// counts as a tagger failure, or nil.
func failureCause(err error) error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if re, ok := e.(*reason.Error); ok {
			switch re.Code {
			case CodeTimeout, CodeUnreachable, CodeHTTP5xx:
				return re
			}
		}
	}
	return nil
}

// record updates the state with a finished call's outcome. Results of
// calls that started before the breaker opened are ignored while it is
// open or half-open: only the probe decides.
func (b *Breaker) record(probe bool, o outcome, code string) {
	b.mu.Lock()
	now := b.clock.Now()
	var ev *BreakerEvent
	switch {
	case probe && o == outcomeNeutral:
		b.probing = false
	case probe && o == outcomeHealthy:
		ev = &BreakerEvent{From: b.state, To: BreakerClosed, At: now}
		b.state, b.probing, b.failures, b.lastCode = BreakerClosed, false, 0, ""
	case probe && o == outcomeFailure:
		b.failures++
		b.lastCode = code
		ev = b.open(now)
	case b.state != BreakerClosed || o == outcomeNeutral:
	case o == outcomeHealthy:
		b.failures = 0
	default:
		b.failures++
		if b.failures >= b.threshold {
			b.lastCode = code
			ev = b.open(now)
		}
	}
	b.mu.Unlock()
	b.emit(ev)
}

// open moves to BreakerOpen for a cool-down; b.mu is held.
func (b *Breaker) open(now time.Time) *BreakerEvent {
	ev := &BreakerEvent{From: b.state, To: BreakerOpen, At: now, Failures: b.failures, Code: b.lastCode}
	b.state, b.probing, b.openUntil = BreakerOpen, false, now.Add(b.coolDown)
	ev.RetryAt = b.openUntil
	return ev
}

func (b *Breaker) emit(ev *BreakerEvent) {
	if ev != nil && b.onChange != nil {
		b.onChange(*ev)
	}
}
