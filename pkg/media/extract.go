package media

import (
	"context"
	"strconv"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/sdmeta"
)

// Meta keys the extraction storage writes besides the raw chunks.
const (
	MetaPromptRaw        = "prompt_raw"
	MetaExtractorVersion = "meta.extractor_version"
)

// StoreExtraction stores one sdmeta result for a media: the raw meta pairs
// (never re-appending an unchanged value), prompt_raw, the extractor version
// (meta key meta.extractor_version, so prompts-rebuild can tell stale
// extractions) and the current prompt + history. Run it in a transaction.
func StoreExtraction(ctx context.Context, q db.Execer, mediaID int64, r sdmeta.Result, source string, now time.Time) (SavePromptResult, error) {
	if _, err := SetMetaPairs(ctx, q, mediaID, ExtractionPairs(r), now); err != nil {
		return SavePromptResult{}, err
	}
	return SavePrompt(ctx, q, mediaID, PromptFromResult(r), source, r.RawBlock, now)
}

// ExtractionPairs are the meta rows StoreExtraction writes for r: the raw
// chunks, prompt_raw and the extractor version.
func ExtractionPairs(r sdmeta.Result) []MetaPair {
	pairs := make([]MetaPair, 0, len(r.Chunks)+2)
	for _, c := range r.Chunks {
		pairs = append(pairs, MetaPair{Source: c.Source, Key: c.Key, Value: c.Value})
	}
	if r.RawBlock != "" {
		pairs = append(pairs, MetaPair{Source: SourceRawBlk, Key: MetaPromptRaw, Value: r.RawBlock})
	}
	return append(pairs, MetaPair{Source: "extractor", Key: MetaExtractorVersion, Value: strconv.Itoa(sdmeta.ExtractorVersion)})
}
