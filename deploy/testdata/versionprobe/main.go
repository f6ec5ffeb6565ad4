// Command versionprobe prints pkg/version.Version. The Taskfile test links
// it with the build task's -ldflags: it imports nothing else, so the link
// takes a second where a real binary (cgo SQLite) takes far longer.
package main

import (
	"os"

	"github.com/localsupervisor/supervisor/pkg/version"
)

func main() { os.Stdout.WriteString(version.Version + "\n") }
