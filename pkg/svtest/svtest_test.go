package svtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

func TestRequestLog(t *testing.T) {
	var l RequestLog[string]
	if got := l.Requests(); len(got) != 0 {
		t.Fatalf("zero log has %v", got)
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() { l.Record("/a", fmt.Sprint("a", i)) })
	}
	wg.Wait()
	l.Record("/b", "b0")
	l.Record("/a", "a-last")
	cases := []struct {
		name string
		got  []string
		n    int
		last string
	}{
		{"all", l.Requests(), 52, "a-last"},
		{"to /a", l.RequestsTo("/a"), 51, "a-last"},
		{"to /b", l.RequestsTo("/b"), 1, "b0"},
		{"to /c", l.RequestsTo("/c"), 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.got) != tc.n || (tc.n > 0 && tc.got[tc.n-1] != tc.last) {
				t.Fatalf("got %d requests ending %v, want %d ending %q", len(tc.got), tc.got[max(len(tc.got)-1, 0):], tc.n, tc.last)
			}
		})
	}
	// Requests is a copy: changing it does not change the log.
	got := l.Requests()
	got[0] = "changed"
	if slices.Contains(l.Requests(), "changed") {
		t.Fatal("Requests returned the log's own slice")
	}
	l.ResetRequests()
	if n := len(l.Requests()); n != 0 {
		t.Fatalf("%d requests after reset", n)
	}
}

func TestBuildBinaryWith(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		opts BuildOptions
		want string
	}{
		{"no tags", BuildOptions{}, "plain"},
		{"tag", BuildOptions{Tags: "svtesttag"}, "tagged"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bin := BuildBinaryWith(t, "./pkg/svtest/testdata/tagged", tc.opts)
			r := RunBinary(t, t.TempDir(), nil, bin)
			if r.Code != 0 || strings.TrimSpace(r.Stdout) != tc.want {
				t.Fatalf("exit %d, stdout %q, want %q", r.Code, r.Stdout, tc.want)
			}
		})
	}
}

// recTB records failures; Fatal ends the calling goroutine like the real one.
type recTB struct {
	testing.TB
	mu      sync.Mutex
	errs    []string
	fatal   bool
	skipped bool
}

func (r *recTB) Helper() {}
func (r *recTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recTB) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.fatal = true
	runtime.Goexit()
}
func (r *recTB) Fatal(args ...any)   { r.Fatalf("%s", fmt.Sprint(args...)) }
func (r *recTB) Logf(string, ...any) {}
func (r *recTB) Skipf(string, ...any) {
	r.skipped = true
	runtime.Goexit()
}

// run calls fn with a recording TB in its own goroutine (Fatal ends it).
func run(fn func(tb testing.TB)) *recTB {
	r := &recTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
	return r
}

func TestConfigError(t *testing.T) {
	perm := reason.Permanent("cfg_incomplete", errors.New("forge.base_url missing")).With("missing_keys", []string{"forge.base_url"})
	transient := reason.Transient("cfg_incomplete", errors.New("x")).With("missing_keys", []string{"forge.base_url"})
	cases := []struct {
		name    string
		err     error
		code    string
		missing []string
		fails   bool
		fatal   bool
	}{
		{"no error wanted, none", nil, "", nil, false, false},
		{"error where none wanted", perm, "", nil, true, true},
		{"matches", perm, "cfg_incomplete", []string{"forge.base_url"}, false, false},
		{"wrong code", perm, "cfg_missing", []string{"forge.base_url"}, true, true},
		{"wrong missing keys", perm, "cfg_incomplete", []string{"forge.enabled"}, true, false},
		{"not permanent", transient, "cfg_incomplete", []string{"forge.base_url"}, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var fields map[string]any
			r := run(func(tb testing.TB) { fields = ConfigError(tb, tc.err, tc.code, tc.missing) })
			if (len(r.errs) > 0) != tc.fails || r.fatal != tc.fatal {
				t.Fatalf("failures %q (fatal %v), want failing %v fatal %v", r.errs, r.fatal, tc.fails, tc.fatal)
			}
			if !tc.fails && tc.code != "" && fields["missing_keys"] == nil {
				t.Fatalf("fields not returned: %v", fields)
			}
		})
	}
}

func TestReadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("content"), 0o644); err != nil {
		t.Fatal(err)
	}
	var got []byte
	if r := run(func(tb testing.TB) { got = ReadFile(tb, p) }); r.fatal || string(got) != "content" {
		t.Fatalf("ReadFile = %q, failures %q", got, r.errs)
	}
	if r := run(func(tb testing.TB) { ReadFile(tb, p+".missing") }); !r.fatal {
		t.Fatal("a missing file must fail the test")
	}
}

// TestSharedFixturesLookup: one lookup of the shared folder, honouring
// SV_SHARED_DIR; an absent folder skips (SharedFixtures), or is tolerated
// (OptionalSharedFixtures), except under SV_REQUIRE_TOOLS=1 where both fail.
func TestSharedFixturesLookup(t *testing.T) {
	withFixtures := t.TempDir()
	fx := filepath.Join(withFixtures, "fixtures", "realworld")
	if err := os.MkdirAll(fx, 0o755); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	cases := []struct {
		name, dir, require  string
		want                string
		wantFatal, wantSkip bool // of SharedFixtures; Optional never skips
	}{
		{name: "present", dir: withFixtures, want: fx},
		{name: "present required", dir: withFixtures, require: "1", want: fx},
		{name: "absent", dir: empty, wantSkip: true},
		{name: "absent required", dir: empty, require: "1", wantFatal: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SV_SHARED_DIR", tc.dir)
			t.Setenv("SV_REQUIRE_TOOLS", tc.require)
			var got string
			r := run(func(tb testing.TB) { got = SharedFixtures(tb) })
			if r.fatal != tc.wantFatal || r.skipped != tc.wantSkip {
				t.Fatalf("SharedFixtures: fatal=%v skipped=%v, want %v %v", r.fatal, r.skipped, tc.wantFatal, tc.wantSkip)
			}
			if !r.fatal && !r.skipped && got != tc.want {
				t.Fatalf("SharedFixtures = %q, want %q", got, tc.want)
			}
			got = "unset"
			r = run(func(tb testing.TB) { got = OptionalSharedFixtures(tb) })
			if r.fatal != tc.wantFatal || r.skipped {
				t.Fatalf("OptionalSharedFixtures: fatal=%v skipped=%v, want fatal=%v", r.fatal, r.skipped, tc.wantFatal)
			}
			if !r.fatal && got != tc.want {
				t.Fatalf("OptionalSharedFixtures = %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("default beside the repository", func(t *testing.T) {
		t.Setenv("SV_SHARED_DIR", "")
		if got, want := SharedDir(t), filepath.Join(RepoRoot(t), "..", "shared"); got != want {
			t.Fatalf("SharedDir = %q, want %q", got, want)
		}
	})
}
