//go:build unix

package logging

// keepOpen: on Unix a file another process renamed stays writable, so the
// writer keeps its file open between lines and reopens it only when the
// path names another file (someone rotated it).
const keepOpen = true
