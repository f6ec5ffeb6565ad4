// Package vidax is the Go VIDAX (issue #22): a small optional service that
// installs ComfyUI assets (workflows, models) from a manifest with SHA-256
// checks into its state directory and starts, watches and stops a local
// ComfyUI process. `cmd/vidax` is its binary (serve, doctor, install); the
// web UI talks to it through Client.
//
// Files: config.go (vidax.json, state layout and lookup), assets.go and
// fetch.go/unzip.go (manifest, download, verify, unpack), proc*.go (the
// ComfyUI process), server.go (HTTP routes), client.go (Go client).
package vidax
