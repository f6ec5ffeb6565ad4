//go:build !unix

package scan

import "os"

func openSource(path string) (sourceFile, error) { return os.Open(path) }
