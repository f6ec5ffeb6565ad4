package catalog

import "testing"

// TestA1111Text: the parameters text A1111 itself writes (the selftest's
// fixture form): prompt, negative, then the key line in A1111's order;
// missing values are left out, never written empty.
func TestA1111Text(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Prompt
		hash string
		want string
	}{
		{"full", Prompt{Prompt: "a castle", Negative: "blurry, lowres", Steps: "12", Sampler: "Euler a", Scheduler: "Karras", CFG: "6.5",
			Seed: "18446744073709551615", Width: "96", Height: "64", Model: "selftest"}, "abc123",
			"a castle\nNegative prompt: blurry, lowres\nSteps: 12, Sampler: Euler a, Schedule type: Karras, CFG scale: 6.5, Seed: 18446744073709551615, Size: 96x64, Model hash: abc123, Model: selftest"},
		{"cfg as stored", Prompt{Prompt: "x", CFG: "7.0", Steps: "20"}, "", "x\nSteps: 20, CFG scale: 7"},
		{"prompt only", Prompt{Prompt: "only words"}, "", "only words"},
		{"no size without height", Prompt{Prompt: "p", Width: "512"}, "", "p"},
	} {
		if got := A1111Text(tc.p, tc.hash); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}
