// Package probetest reads the video entries of the shared real-world
// fixture manifest, so the probe and the integrity tests judge every real
// video by the same expectations.
package probetest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// VideoFixture is one video file of fixtures/realworld/manifest.json.
type VideoFixture struct {
	// File is the manifest's path, relative to the fixture folder.
	File string
	// Path is the absolute path of the file.
	Path string
	// Broken is true for the manifest kind "corrupt": a player cannot show
	// the whole video.
	Broken bool
	// AudioOnly is the manifest's expected.audio_only: no video stream.
	AudioOnly bool
}

// isVideoFile reports whether name has the extension of a video container.
func isVideoFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".mp4", ".mkv", ".webm", ".mov", ".m4v", ".avi":
		return true
	}
	return false
}

// VideoFixtures returns every video entry (kind "video", and kind
// "corrupt" with a video file name) of the manifest. It skips like
// svtest.SharedFixtures when the fixtures are absent and fails when the
// manifest cannot be read or lists no video.
func VideoFixtures(tb testing.TB) []VideoFixture {
	tb.Helper()
	root := svtest.SharedFixtures(tb)
	data, err := os.ReadFile(filepath.Join(root, "manifest.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var entries []struct {
		File     string `json:"file"`
		Kind     string `json:"kind"`
		Expected struct {
			AudioOnly bool `json:"audio_only"`
		} `json:"expected"`
	}
	if err := json.Unmarshal(data, &entries); err != nil {
		tb.Fatalf("manifest: %v", err)
	}
	var out []VideoFixture
	for _, e := range entries {
		if (e.Kind != "video" && e.Kind != "corrupt") || !isVideoFile(e.File) {
			continue
		}
		out = append(out, VideoFixture{File: e.File, Path: filepath.Join(root, filepath.FromSlash(e.File)),
			Broken: e.Kind == "corrupt", AudioOnly: e.Expected.AudioOnly})
	}
	if len(out) == 0 {
		tb.Fatal("manifest lists no video fixture")
	}
	return out
}
