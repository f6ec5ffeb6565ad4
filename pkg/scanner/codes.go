// Package scanner is the client of the external PixAI-compatible tagger
// (POST /check for images, POST /batch for videos) and the tolerant parser
// of its many response shapes.
//
// The package does no database or filesystem bookkeeping: it turns a file
// into a *Result or a *reason.Error. Callers (pkg/scan) persist results;
// RawJSON builds the scan_results.raw_json value for both outcomes.
//
// A scanner that is disabled or misconfigured never receives image data:
// every Scan* method validates the config first and returns
// scanner_disabled / scanner_not_configured / scanner_auth_missing
// without opening the file or the network.
package scanner

// Reason codes returned by this package. Transient ones (the service is
// down, slow or failing) are retried by the job runner; permanent ones
// (bad config, rejected credentials, a response we cannot use) are not.
const (
	// CodeDisabled: scanner.enabled=false. Permanent.
	CodeDisabled = "scanner_disabled"
	// CodeNotConfigured: scanner.base_url missing or not http(s). Permanent.
	CodeNotConfigured = "scanner_not_configured"
	// CodeAuthMissing: neither token nor api_key+api_key_header. Permanent.
	CodeAuthMissing = "scanner_auth_missing"
	// CodeAuthFailed: the scanner answered 401/403. Permanent.
	CodeAuthFailed = "scanner_auth_failed"
	// CodeUnreachable: connection refused/reset, DNS failure. Transient.
	CodeUnreachable = "scanner_unreachable"
	// CodeTimeout: connect or total timeout. Transient.
	CodeTimeout = "scanner_timeout"
	// CodeCancelled: the caller's context was cancelled. Transient (the
	// runner decides; the job was not at fault).
	CodeCancelled = "scanner_cancelled"
	// CodeHTTP5xx: the scanner answered 5xx. Transient.
	CodeHTTP5xx = "scanner_http_5xx"
	// CodeCircuitOpen: the call was not sent because the Breaker is open
	// after consecutive timeouts/connection errors/5xx (see Breaker).
	// Transient: a later rescan or backfill tags the media.
	CodeCircuitOpen = "scanner_circuit_open"
	// CodeHTTP4xx: the scanner answered 4xx other than 401/403.
	// Permanent, except 408 and 429 which are transient.
	CodeHTTP4xx = "scanner_http_4xx"
	// CodeInvalidJSON: body not JSON, truncated, or not an object/array.
	// Permanent.
	CodeInvalidJSON = "scanner_invalid_json"
	// CodeErrorResponse: 2xx JSON carrying an error message. Permanent.
	CodeErrorResponse = "scanner_error_response"
	// CodeNoParts: a list/results/frames/data container with no usable
	// part. Permanent.
	CodeNoParts = "scanner_no_parts"
	// CodeUnrecognized: JSON with none of the known result keys (often a
	// wrong endpoint answering with something else). Permanent.
	CodeUnrecognized = "scanner_unrecognized_response"
	// CodeFileMissing: the media file does not exist. Permanent.
	CodeFileMissing = "file_missing"
	// CodeFileUnreadable: the media file cannot be opened/read. Permanent.
	CodeFileUnreadable = "file_unreadable"
	// CodeNoFrames: the video fallback got no frames. Permanent.
	CodeNoFrames = "no_frames"
	// CodeFrameExtractFailed: the FrameSource failed without its own code.
	// Permanent.
	CodeFrameExtractFailed = "frame_extract_failed"
	// CodeFallbackFailed: every fallback frame scan failed. Kind follows
	// the frame errors.
	CodeFallbackFailed = "fallback_scan_failed"
)

// Response shapes (spec 4.5 response_shape).
const (
	ShapeList     = "list"
	ShapeResults  = "results"
	ShapeFrames   = "frames"
	ShapeData     = "data"
	ShapeSingle   = "single"
	ShapeFallback = "fallback_frames"
)

// Response types (spec 4.5 response_type / response_type_detected).
const (
	TypeA              = "A" // nested "modules" object
	TypeB              = "B" // dotted "modules.x" keys (the PixAI /check output)
	TypeC              = "C" // flat tags / class scores (PixAI /batch output)
	TypeUnknown        = "unknown"
	TypeConfigError    = "config_error"
	TypeTransportError = "curl_error" // name kept from the original for log readers
	TypeFallbackFrames = "fallback_frames"
	TypeNone           = "none"
)

// Tag types.
const (
	// TagTypeContent is the default type of scanner tags.
	TagTypeContent = "content"
	// TagTypeCharacter is the type of character tags (seed: stored as
	// danbooru.character.v1 and listed in media_meta scanner.character.tags).
	TagTypeCharacter = "danbooru.character.v1"
)

// Ratings (media.rating).
const (
	RatingUnknown      = 0 // scan failed / not scanned
	RatingSafe         = 1
	RatingQuestionable = 2
	RatingExplicit     = 3
)
