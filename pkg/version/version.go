// Package version holds the build version, stamped at link time with
// -ldflags "-X github.com/localsupervisor/supervisor/pkg/version.Version=…".
package version

// Version is set by the linker; it is never mutated at run time.
var Version = "dev"
