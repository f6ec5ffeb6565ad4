package scanner_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/scanner"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// scriptTagger answers each call with the next scripted error (nil: a
// result) and counts the calls that reached it.
type scriptTagger struct {
	calls atomic.Int64
	next  func() error
}

func (s *scriptTagger) ScanImage(ctx context.Context, _ string) (*scanner.Result, error) {
	s.calls.Add(1)
	if err := s.next(); err != nil {
		return nil, err
	}
	return &scanner.Result{Rating: scanner.RatingSafe}, nil
}

func (s *scriptTagger) ScanVideo(ctx context.Context, p string, _ scanner.FrameSource) (*scanner.Result, error) {
	return s.ScanImage(ctx, p)
}

func codeErr(code string) error {
	return &reason.Error{Code: code, Kind: reason.KindTransient, Msg: "test"}
}

// TestBreakerStateMachine drives the breaker call by call with a fake
// clock: which calls reach the tagger, what the caller gets, the state
// after each call, and the events reported (one per change, none per
// refused call).
func TestBreakerStateMachine(t *testing.T) {
	const (
		ok        = ""
		timeout   = scanner.CodeTimeout
		unreach   = scanner.CodeUnreachable
		http5xx   = scanner.CodeHTTP5xx
		http4xx   = scanner.CodeHTTP4xx
		badJSON   = scanner.CodeInvalidJSON
		missing   = scanner.CodeFileMissing
		cancelled = "cancel" // the caller's context is cancelled during the call
		fallback  = "fallback_of_timeouts"
		refused   = "refused" // the breaker must not call the tagger
	)
	closed, open, half := scanner.BreakerClosed, scanner.BreakerOpen, scanner.BreakerHalfOpen
	type step struct {
		advance time.Duration
		tagger  string // what the tagger answers, or refused
		state   scanner.BreakerState
	}
	s := func(tagger string, state scanner.BreakerState) step { return step{tagger: tagger, state: state} }
	after := func(d time.Duration, tagger string, state scanner.BreakerState) step {
		return step{advance: d, tagger: tagger, state: state}
	}
	cases := []struct {
		name      string
		threshold int
		steps     []step
		events    string
	}{
		{name: "opens after threshold consecutive timeouts", steps: []step{
			s(timeout, closed), s(timeout, closed), s(timeout, open), s(refused, open), s(refused, open)},
			events: "closed>open(3,scanner_timeout)"},
		{name: "unreachable and 5xx count like timeouts", steps: []step{
			s(unreach, closed), s(http5xx, closed), s(timeout, open), s(refused, open)},
			events: "closed>open(3,scanner_timeout)"},
		{name: "a video fallback whose frames timed out counts", steps: []step{
			s(fallback, closed), s(fallback, closed), s(fallback, open)},
			events: "closed>open(3,scanner_timeout)"},
		{name: "a success resets the count", steps: []step{
			s(timeout, closed), s(timeout, closed), s(ok, closed), s(timeout, closed), s(timeout, closed), s(timeout, open)},
			events: "closed>open(3,scanner_timeout)"},
		{name: "any answer resets the count", steps: []step{
			s(timeout, closed), s(timeout, closed), s(http4xx, closed), s(timeout, closed), s(timeout, closed),
			s(badJSON, closed), s(timeout, closed)}},
		{name: "cancelled calls and file errors neither count nor reset", steps: []step{
			s(timeout, closed), s(cancelled, closed), s(missing, closed), s(timeout, closed), s(timeout, open)},
			events: "closed>open(3,scanner_timeout)"},
		{name: "threshold 1", threshold: 1, steps: []step{s(unreach, open), s(refused, open)},
			events: "closed>open(1,scanner_unreachable)"},
		{name: "probe after the cool-down, success closes", steps: []step{
			s(timeout, closed), s(timeout, closed), s(timeout, open),
			after(59*time.Second, refused, open), after(time.Second, ok, closed), s(ok, closed), s(timeout, closed)},
			events: "closed>open(3,scanner_timeout) open>half_open half_open>closed"},
		{name: "failed probe reopens for a full cool-down", steps: []step{
			s(timeout, closed), s(timeout, closed), s(timeout, open),
			after(time.Minute, unreach, open), s(refused, open), after(59*time.Second, refused, open),
			after(time.Second, ok, closed)},
			events: "closed>open(3,scanner_timeout) open>half_open half_open>open(4,scanner_unreachable) open>half_open half_open>closed"},
		{name: "a probe without verdict hands the probe to the next call", steps: []step{
			s(timeout, closed), s(timeout, closed), s(timeout, open),
			after(time.Minute, missing, half), s(cancelled, half), s(timeout, open)},
			events: "closed>open(3,scanner_timeout) open>half_open half_open>open(4,scanner_timeout)"},
		{name: "a 4xx probe closes: the service answers", steps: []step{
			s(http5xx, closed), s(http5xx, closed), s(http5xx, open), after(2*time.Minute, http4xx, closed)},
			events: "closed>open(3,scanner_http_5xx) open>half_open half_open>closed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := &svtime.FixedClock{T: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
			var events []string
			b := scanner.NewBreaker(scanner.BreakerOptions{Threshold: tc.threshold, CoolDown: time.Minute, Clock: clock,
				OnChange: func(e scanner.BreakerEvent) {
					ev := e.From.String() + ">" + e.To.String()
					if e.To == scanner.BreakerOpen {
						ev += fmt.Sprintf("(%d,%s)", e.Failures, e.Code)
						if !e.RetryAt.Equal(e.At.Add(time.Minute)) {
							t.Errorf("event %s retry_at %s, want at+1m", ev, e.RetryAt)
						}
					}
					events = append(events, ev)
				}})
			var answer string
			var cancel context.CancelFunc
			fake := &scriptTagger{next: func() error {
				switch answer {
				case ok:
					return nil
				case cancelled:
					cancel()
					return codeErr(scanner.CodeCancelled)
				case fallback:
					return &reason.Error{Code: scanner.CodeFallbackFailed, Kind: reason.KindTransient, Err: codeErr(scanner.CodeTimeout)}
				}
				return codeErr(answer)
			}}
			tg := b.Guard(fake)
			for i, st := range tc.steps {
				clock.Advance(st.advance)
				answer = st.tagger
				var ctx context.Context
				ctx, cancel = context.WithCancel(context.Background())
				before := fake.calls.Load()
				_, err := tg.ScanImage(ctx, "x.png")
				cancel()
				called := fake.calls.Load() > before
				switch {
				case st.tagger == refused:
					if called || reason.Code(err) != scanner.CodeCircuitOpen || reason.KindOf(err) != reason.KindTransient {
						t.Fatalf("step %d: called=%v err=%v, want refused with transient %s", i, called, err, scanner.CodeCircuitOpen)
					}
				case !called:
					t.Fatalf("step %d: tagger not called (err %v)", i, err)
				case st.tagger == ok && err != nil:
					t.Fatalf("step %d: err %v", i, err)
				}
				if got := b.State(); got != st.state {
					t.Fatalf("step %d (%s): state %s, want %s", i, st.tagger, got, st.state)
				}
			}
			if got := strings.Join(events, " "); got != tc.events {
				t.Errorf("events\n got %q\nwant %q", got, tc.events)
			}
		})
	}
}

// TestBreakerRefusalSaysWhy: the refused call's error carries the code,
// the last failure and when the next probe happens, for import_log,
// scan_results and the job's error message.
func TestBreakerRefusalSaysWhy(t *testing.T) {
	t.Parallel()
	clock := &svtime.FixedClock{T: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	b := scanner.NewBreaker(scanner.BreakerOptions{Threshold: 2, CoolDown: 90 * time.Second, Clock: clock})
	tg := b.Guard(&scriptTagger{next: func() error { return codeErr(scanner.CodeUnreachable) }})
	for i := 0; i < 2; i++ {
		tg.ScanVideo(context.Background(), "v.mp4", nil)
	}
	_, err := tg.ScanImage(context.Background(), "x.png")
	f := reason.FieldsOf(err)
	if reason.Code(err) != scanner.CodeCircuitOpen || f["last_error_code"] != scanner.CodeUnreachable ||
		f["retry_at"] != "2026-01-02T03:05:35Z" || f["consecutive_failures"] != 2 ||
		!strings.Contains(err.Error(), "scanner_unreachable") || !strings.Contains(err.Error(), "2026-01-02T03:05:35Z") {
		t.Fatalf("refusal %v %v", err, f)
	}
}

// TestBreakerSharedByGuards: taggers guarded by one breaker share its
// state (the per-job nsfw_threshold client and the worker's), and a nil
// breaker guards nothing.
func TestBreakerSharedByGuards(t *testing.T) {
	t.Parallel()
	b := scanner.NewBreaker(scanner.BreakerOptions{Threshold: 2, Clock: &svtime.FixedClock{}})
	down := &scriptTagger{next: func() error { return codeErr(scanner.CodeTimeout) }}
	healthy := &scriptTagger{next: func() error { return nil }}
	a, c := b.Guard(down), b.Guard(healthy)
	a.ScanImage(context.Background(), "1")
	a.ScanImage(context.Background(), "2")
	if _, err := c.ScanImage(context.Background(), "3"); reason.Code(err) != scanner.CodeCircuitOpen || healthy.calls.Load() != 0 {
		t.Fatalf("second guard: %v, calls %d", err, healthy.calls.Load())
	}
	var nilBreaker *scanner.Breaker
	if tg := nilBreaker.Guard(down); tg != scanner.Tagger(down) {
		t.Fatalf("nil breaker wrapped the tagger: %T", tg)
	}
}

// TestBreakerOneProbeAtATime: while the half-open probe is in flight,
// concurrent calls are refused at once instead of piling onto a tagger
// that may still hang; the probe's success closes the breaker for all.
func TestBreakerOneProbeAtATime(t *testing.T) {
	t.Parallel()
	clock := &svtime.FixedClock{T: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	b := scanner.NewBreaker(scanner.BreakerOptions{Threshold: 1, CoolDown: time.Minute, Clock: clock})
	var failing atomic.Bool
	failing.Store(true)
	entered, release := make(chan struct{}, 1), make(chan struct{})
	fake := &scriptTagger{next: func() error {
		if failing.Load() {
			return codeErr(scanner.CodeTimeout)
		}
		entered <- struct{}{}
		<-release
		return nil
	}}
	tg := b.Guard(fake)
	tg.ScanImage(context.Background(), "x")
	failing.Store(false)
	clock.Advance(time.Minute) // before any goroutine reads the clock
	probeDone := make(chan error)
	go func() {
		_, err := tg.ScanImage(context.Background(), "probe")
		probeDone <- err
	}()
	<-entered
	var wg sync.WaitGroup
	var refusedN atomic.Int64
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := tg.ScanImage(context.Background(), "other"); reason.Code(err) == scanner.CodeCircuitOpen {
				refusedN.Add(1)
			}
		}()
	}
	wg.Wait()
	close(release)
	if err := <-probeDone; err != nil {
		t.Fatal(err)
	}
	if refusedN.Load() != 20 || fake.calls.Load() != 2 || b.State() != scanner.BreakerClosed {
		t.Fatalf("refused %d calls %d state %s; want 20 refused, 2 calls, closed", refusedN.Load(), fake.calls.Load(), b.State())
	}
}

// TestBreakerConcurrentUse hammers one breaker from many goroutines with
// mixed outcomes (run with -race); every call either reaches the tagger
// or is refused with scanner_circuit_open.
func TestBreakerConcurrentUse(t *testing.T) {
	t.Parallel()
	b := scanner.NewBreaker(scanner.BreakerOptions{Threshold: 3, CoolDown: time.Nanosecond})
	var n atomic.Int64
	fake := &scriptTagger{next: func() error {
		if n.Add(1)%4 == 0 {
			return nil
		}
		return codeErr(scanner.CodeTimeout)
	}}
	tg := b.Guard(fake)
	var wg sync.WaitGroup
	var refusedN atomic.Int64
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				_, err := tg.ScanImage(context.Background(), "x")
				if code := reason.Code(err); code == scanner.CodeCircuitOpen {
					refusedN.Add(1)
				} else if err != nil && code != scanner.CodeTimeout {
					t.Errorf("unexpected %v", err)
				}
			}
		}()
	}
	wg.Wait()
	if fake.calls.Load()+refusedN.Load() != 16*200 {
		t.Fatalf("calls %d + refused %d != %d", fake.calls.Load(), refusedN.Load(), 16*200)
	}
}

func TestBreakerConfigDefaults(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name          string
		cfg           scanner.Config
		wantThreshold int
		wantCoolDown  time.Duration
	}{
		{"defaults", scanner.DefaultConfig(), 3, time.Minute},
		{"zero threshold disables, zero cool-down is the default", scanner.Config{}, 0, time.Minute},
		{"negative threshold disables", scanner.Config{BreakerThreshold: -2, BreakerCoolDown: -1}, 0, time.Minute},
		{"set", scanner.Config{BreakerThreshold: 5, BreakerCoolDown: 2.5}, 5, 2500 * time.Millisecond},
	}
	for _, tc := range cases {
		c := tc.cfg.Normalized()
		if c.BreakerThreshold != tc.wantThreshold || c.BreakerCoolDownDuration() != tc.wantCoolDown {
			t.Errorf("%s: threshold %d cool-down %s, want %d %s", tc.name, c.BreakerThreshold, c.BreakerCoolDownDuration(), tc.wantThreshold, tc.wantCoolDown)
		}
	}
}
