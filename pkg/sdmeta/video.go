package sdmeta

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// readVideo asks the caller-wired VideoTags (ffprobe format tags) for the
// container tags; ComfyUI video nodes store "prompt"/"workflow" tags or a
// "comment" holding JSON {prompt, workflow}.
func readVideo(ctx context.Context, path string, c *collector) error {
	if c.opts.VideoTags == nil {
		c.res.warn("video_tags_unavailable")
		return nil
	}
	tags, err := c.opts.VideoTags(ctx, path)
	if err != nil {
		return reason.Wrap(fmt.Errorf("video tags of %s: %w", path, err), reason.CodeOr(err, CodeReadFailed), reason.KindOf(err))
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic entry order
	for _, k := range keys {
		v := tags[k]
		if len(v) > c.opts.maxText() {
			c.res.warn("text_truncated_at_cap", k)
			v = v[:c.opts.maxText()]
		}
		c.add(SourceFFmpeg, "format.tags."+strings.ToLower(k), v)
	}
	return nil
}
