//go:build !unix

package logging

// keepOpen: on Windows an open file cannot be renamed, so no process may
// hold a log file between lines or rotation would fail; the writer opens
// the file per line.
const keepOpen = false
