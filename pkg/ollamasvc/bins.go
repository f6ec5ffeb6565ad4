package ollamasvc

import (
	"os"
	"path/filepath"
	"runtime"
)

// SiblingBinary returns the path of another Supervisor binary installed next
// to the running one (ollama-service → ollama-worker, enqueue → service).
func SiblingBinary(name string) string {
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	exe, err := os.Executable()
	if err != nil {
		return name
	}
	return filepath.Join(filepath.Dir(exe), name)
}
