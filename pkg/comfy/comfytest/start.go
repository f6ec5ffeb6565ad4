package comfytest

import (
	"testing"

	"github.com/localsupervisor/supervisor/pkg/comfy"
)

// Start is New with Close registered on tb.Cleanup.
func Start(tb testing.TB, o Options) *Server {
	tb.Helper()
	s := New(o)
	tb.Cleanup(s.Close)
	return s
}

// Config returns an enabled comfyui section pointing at the fake.
func (s *Server) Config() *comfy.Config {
	return &comfy.Config{Enabled: true, BaseURL: s.URL, ConfigPath: "/cfg/config.json"}
}

// Graph is a minimal text-to-image API graph as ComfyUI's default
// workflow exports it (checkpoint, two encoders, empty latent, KSampler,
// VAE decode, SaveImage).
const Graph = `{
 "3": {"class_type": "KSampler", "inputs": {"seed": 156680208700286, "steps": 20, "cfg": 8, "sampler_name": "euler", "scheduler": "normal", "denoise": 1,
       "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}, "_meta": {"title": "KSampler"}},
 "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
 "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
 "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "beautiful scenery nature glass bottle landscape, purple galaxy bottle", "clip": ["4", 1]}},
 "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "text, watermark", "clip": ["4", 1]}},
 "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
 "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}}
}`
