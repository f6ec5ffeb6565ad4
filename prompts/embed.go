// Package prompts embeds Supervisor's default prompt templates so that every
// binary works without a PROMPTS folder on disk. A user's ollama.prompts_dir
// overrides these files one by one (see pkg/ollama.Templates).
package prompts

import "embed"

// Ollama holds the default Ollama templates as ollama/<mode>.txt.
//
//go:embed ollama/*.txt
var Ollama embed.FS
