package vidax

import (
	"net/http"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Reason codes. The original's error names map onto them (INPUT_NOT_FOUND,
// HASH_MISMATCH, UNSUPPORTED_FORMAT, DOWNLOAD_FAILED, WRITE_FAILED).
const (
	CodeInputNotFound     = "vidax_input_not_found"
	CodeConfigInvalid     = "vidax_config_invalid"
	CodeDestInvalid       = "vidax_dest_invalid"
	CodeHashMismatch      = "vidax_hash_mismatch"
	CodeUnsupportedFormat = "vidax_unsupported_format"
	CodeDownloadFailed    = "vidax_download_failed"
	CodeWriteFailed       = "vidax_write_failed"
	CodeUnauthorized      = "vidax_unauthorized"
	CodeStartFailed       = "vidax_start_failed"
	CodeStopFailed        = "vidax_stop_failed"
	CodeNotRunning        = "vidax_not_running"
	CodeUnreachable       = "vidax_unreachable"
	CodeBadResponse       = "vidax_invalid_response"
)

// Exit codes of `vidax install` and `vidax doctor`, as the original's.
const (
	ExitInput = 20 // missing input, hash, download or format error
	ExitWrite = 60 // write or permission error
)

// HTTPStatus maps an error to the status the original answered with:
// missing input 404, hash/format/bad dest 422, download 502, write 507,
// anything else 500.
func HTTPStatus(err error) int {
	switch reason.Code(err) {
	case CodeInputNotFound:
		return http.StatusNotFound
	case CodeHashMismatch, CodeUnsupportedFormat, CodeDestInvalid, CodeConfigInvalid:
		return http.StatusUnprocessableEntity
	case CodeDownloadFailed:
		return http.StatusBadGateway
	case CodeWriteFailed:
		return http.StatusInsufficientStorage
	}
	return http.StatusInternalServerError
}

// ExitCode maps an install/doctor error to the original's exit codes.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	if reason.Code(err) == CodeWriteFailed {
		return ExitWrite
	}
	return ExitInput
}

// writeErr wraps a filesystem write failure; a full or read-only disk is
// named so the sentence says what to do.
func writeErr(what string, err error) error {
	if err == nil {
		return nil
	}
	msg := "could not write " + what + ": check that the state directory is writable and the disk has room"
	if reason.IsDiskFull(err) {
		msg = "the disk is full while writing " + what + ": free space and run install again"
	} else if reason.IsReadOnlyFS(err) {
		msg = "the file system is read-only while writing " + what + ": choose a writable state directory (VA_STATE_DIR)"
	}
	return &reason.Error{Code: CodeWriteFailed, Kind: reason.KindPermanent, Msg: msg, Err: err}
}
