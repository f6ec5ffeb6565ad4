//go:build !svfault

package mediaops

// faultAfterMove is the release build's hook: none. EnvCrashAfterMove is
// ignored, so no environment variable can make a worker kill itself.
func faultAfterMove() func(from, to string) { return nil }
