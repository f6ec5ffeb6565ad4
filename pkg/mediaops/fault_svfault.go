//go:build svfault

package mediaops

import "os"

// faultAfterMove returns the AfterMove hook that crash tests switch on with
// EnvCrashAfterMove=1. Only binaries built with -tags svfault contain it:
// a release build cannot be told to kill itself mid-rename.
func faultAfterMove() func(from, to string) {
	if os.Getenv(EnvCrashAfterMove) != "1" {
		return nil
	}
	return func(string, string) { killSelf() }
}
