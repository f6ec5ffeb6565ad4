package svtest

import (
	"os"
	"reflect"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// ReadFile returns the content of p and fails the test when it cannot be
// read.
func ReadFile(tb testing.TB, p string) []byte {
	tb.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// ConfigError checks a config validation error the way every client
// config reports one: reason code wantCode ("": no error at all), a
// permanent error, and a missing_keys field equal to wantMissing. It
// returns the error's fields for further, package-specific checks (nil
// when wantCode is "").
func ConfigError(tb testing.TB, err error, wantCode string, wantMissing []string) map[string]any {
	tb.Helper()
	if got := reason.Code(err); got != wantCode {
		tb.Fatalf("code = %q (%v), want %q", got, err, wantCode)
	}
	if wantCode == "" {
		return nil
	}
	if !reason.IsPermanent(err) {
		tb.Errorf("config errors must be permanent")
	}
	f := reason.FieldsOf(err)
	if !reflect.DeepEqual(f["missing_keys"], wantMissing) {
		tb.Errorf("missing_keys = %#v, want %#v", f["missing_keys"], wantMissing)
	}
	return f
}
