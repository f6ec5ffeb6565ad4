package mediaops

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"image"
	"image/jpeg"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/phash"
	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/similar"
	"github.com/localsupervisor/supervisor/pkg/thumb"
)

// FrameSource extracts n frames (JPEG, longer side ≤ maxDim) spread over a
// video's duration; *probe.FFmpeg is one.
type FrameSource interface {
	Frames(ctx context.Context, path string, n, maxDim int) ([][]byte, error)
}

// PHashResult is the phash_compute job result.
type PHashResult struct {
	MediaID int64  `json:"media_id"`
	PHash   string `json:"phash,omitempty"`
	// ReasonCode says why the media has no hash (too small, flat, not
	// decodable, no frames); the refusal is stored, so the media is not
	// queued again until its content changes.
	ReasonCode string `json:"reason_code,omitempty"`
	Detail     string `json:"detail,omitempty"`
}

// spriteFrameSize is the longer side of the frames a video's hash tiles
// (each becomes a 64×64 cell).
const spriteFrameSize = 256

// PHashMedia computes the perceptual hash of one media (pkg/phash: an
// image in display orientation, decoded under the pixel budget; a video
// as a sprite of frames) and stores it in media_phash with the content's
// SHA-256. A file that cannot be hashed for what it is (too small, flat,
// over the pixel budget, corrupt, no frames) is stored as a refusal with
// its reason code and completes the job; a transient failure (unreadable
// now, ffmpeg missing) fails the job for a retry.
func (s *Service) PHashMedia(ctx context.Context, id int64, complete func(*sql.Tx, any) error) (PHashResult, error) {
	m, err := media.Get(ctx, s.DB, id)
	if err != nil {
		return PHashResult{}, err
	}
	sha, _, err := media.GetMeta(ctx, s.DB, id, "hash.sha256")
	if err != nil {
		return PHashResult{}, err
	}
	src, err := s.readPath(ctx, m.Path)
	if err != nil {
		return PHashResult{}, err
	}
	var h phash.Hash
	var herr error
	if m.Type == "video" {
		h, herr = s.videoHash(ctx, src)
	} else {
		h, herr = s.imageHash(ctx, src)
	}
	res := PHashResult{MediaID: id}
	if herr != nil {
		// What the content is (too small, flat, corrupt, over the pixel
		// budget, no video) is stored as the answer; a file that is not
		// there or not readable now fails the job, to be hashed when it is.
		if code := reason.Code(herr); !reason.IsPermanent(herr) || code == "" || code == probe.CodeMissingFile || code == probe.CodeNotReadable {
			return res, herr
		}
		res.ReasonCode, res.Detail = reason.Code(herr), reason.Truncate(herr.Error(), 240)
	} else {
		res.PHash = h.String()
	}
	now := s.Clock.Now()
	err = db.InTx(ctx, s.DB, func(tx *sql.Tx) error {
		var err error
		if res.ReasonCode != "" {
			err = similar.SaveRefusal(ctx, tx, id, res.ReasonCode, sha, now)
		} else {
			err = similar.Save(ctx, tx, id, h, sha, now)
		}
		if err != nil {
			return err
		}
		if complete != nil {
			return complete(tx, res)
		}
		return nil
	})
	return res, err
}

func (s *Service) imageHash(ctx context.Context, path string) (phash.Hash, error) {
	release, err := s.Decode.Acquire(ctx, probe.DecodeCost(path))
	if err != nil {
		return 0, err
	}
	defer release()
	f, err := probe.OpenFile(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	img, format, err := probe.DecodeImage(f, s.MaxPixels)
	if err != nil {
		return 0, err
	}
	// The picture as shown: a JPEG export that stores its rotation in
	// EXIF must hash like the upright PNG it came from.
	return phash.Of(thumb.Orient(img, probe.Orientation(f, format)))
}

func (s *Service) videoHash(ctx context.Context, path string) (phash.Hash, error) {
	if s.Frames == nil {
		return 0, reason.Transient(probe.CodeFFmpegMissing, errors.New("no ffmpeg configured to read video frames"))
	}
	jpegs, err := s.Frames.Frames(ctx, path, phash.SpriteFrames, spriteFrameSize)
	if err != nil {
		return 0, err
	}
	frames := make([]image.Image, 0, len(jpegs))
	for _, j := range jpegs {
		if img, err := jpeg.Decode(bytes.NewReader(j)); err == nil {
			frames = append(frames, img)
		}
	}
	return phash.Sprite(frames)
}
