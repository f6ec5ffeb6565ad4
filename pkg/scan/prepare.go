package scan

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/sdmeta"
)

// headSize is the first read of every file: it serves type detection and
// the image header (a JPEG's SOF can sit behind a 64 KiB EXIF segment) and
// is then fed to the hashers, so a small file is read exactly once.
const headSize = 128 << 10

// prepared is what the importer learns about one file without writing to
// the catalogue. Workers produce it in parallel; the single writer consumes
// it in walk order.
type prepared struct {
	path string
	info fs.FileInfo
	k    fileKey
	ext  string
	// done is the final outcome of a file that needs no catalogue write
	// (unchanged, not media, vanished).
	done *Outcome
	// ferr is a problem with the file; it ends as an import_log error.
	ferr error
	// fatal ends the run (ctx cancelled).
	fatal error

	kind          probe.Kind
	cext          string
	width, height int
	vinfo         *probe.VideoInfo
	md5, sha      string
	// broken is the structural check's verdict over the bytes hashed
	// (probe.StructureCheck): a file cut short or with a bad chunk CRC is
	// still catalogued, flagged integrity.ok=0 with this reason.
	broken error
	// meta is the sdmeta extraction, done here (in parallel) for content
	// not yet catalogued.
	meta *sdmeta.Result
	// viaLink: the walk reached the file through a symlink of its own.
	viaLink bool
	// rel is the path below the scanned folder (set by the writer), where
	// a move-mode duplicate goes under Importer.DuplicatesDir.
	rel string
	// copy is the library copy staged in copy mode (nil: none, the writer
	// copies the file when it places it). Whoever drops p without
	// publishing it calls dropCopy.
	copy *stagedCopy
}

// sourceFile is an open source file (openSource: plain syscalls where the
// platform has them, *os.File elsewhere).
type sourceFile interface {
	io.Reader
	io.ReaderAt
	io.Closer
}

// scratch is one examining goroutine's reusable memory: the read buffer
// (at least headSize) and the buffered reader image headers are parsed
// through, so a small file costs no allocation for either.
type scratch struct {
	buf []byte
	br  *bufio.Reader
}

func newScratch() *scratch {
	return &scratch{buf: make([]byte, headSize), br: bufio.NewReaderSize(nil, 8192)}
}

// headReaderAt serves ReadAt from the already-read head and falls back to
// the file beyond it, so detection and header parsing add no read for
// small files.
type headReaderAt struct {
	head []byte
	f    io.ReaderAt
	// whole: head is the entire file, so a read past it is EOF without a
	// pread (type detection and header parsing probe beyond small files).
	whole bool
}

func (h headReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) <= int64(len(h.head)) {
		return copy(p, h.head[off:]), nil
	}
	if h.whole {
		if off >= int64(len(h.head)) {
			return 0, io.EOF
		}
		return copy(p, h.head[off:]), io.EOF
	}
	return h.f.ReadAt(p, off)
}

// hashPair writes to MD5 and SHA-256 at once.
type hashPair struct{ m, s hash.Hash }

func (h hashPair) Write(p []byte) (int, error) {
	h.m.Write(p)
	return h.s.Write(p)
}

// checkTee feeds the hashed bytes to the structural check as well, so the
// check costs no read of its own.
type checkTee struct {
	w io.Writer
	c *probe.StructureCheck
}

func (t checkTee) Write(p []byte) (int, error) {
	t.c.Write(p)
	return t.w.Write(p)
}

// prepare examines one file with one open and one streaming read: type
// from the head, image header from the head, MD5+SHA-256 over head and
// rest, with the structural check (probe.StructureCheck) riding on the
// same bytes; videos are probed with ffprobe. sc is the caller's reusable
// memory. With st (copy mode) the bytes hashed are also written to a
// staged library copy (p.copy, not yet fsynced).
func (im *Importer) prepare(ctx context.Context, path string, info fs.FileInfo, sc *scratch, st *stager) *prepared {
	buf := sc.buf
	p := &prepared{path: path, info: info, k: keyOf(info), ext: library.NormalizeExt(filepath.Ext(path)), viaLink: ViaSymlink(info)}
	if err := ctx.Err(); err != nil {
		p.fatal = err
		return p
	}
	f, err := openSource(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			// Vanished between walk and import: nothing to log against a row.
			p.done = &Outcome{Path: path, Status: StatusError, Code: probe.CodeMissingFile}
			return p
		}
		p.ferr = reason.Permanent(probe.CodeNotReadable, err)
		return p
	}
	defer f.Close()
	// A file no bigger than the walk saw and the buffer is read with one
	// call: a short read of exactly its size is its end, no second read
	// to see EOF. Otherwise the head is filled as far as the file goes.
	n, err := f.Read(buf[:headSize])
	if err == nil && n < headSize && int64(n) != info.Size() {
		var m int
		m, err = io.ReadFull(f, buf[n:headSize])
		n += m
	}
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		p.ferr = reason.Transient(probe.CodeNotReadable, err)
		return p
	}
	head := buf[:n]
	ra := headReaderAt{head: head, f: f, whole: n < headSize}

	kind, cext, derr := probe.DetectType(ra)
	if derr != nil {
		if !mediaExts[p.ext] && (reason.Code(derr) == probe.CodeUnsupportedType || info.Size() == 0) {
			p.done = &Outcome{Path: path, Status: StatusNotMedia}
			return p
		}
		p.ferr = derr
		return p
	}
	p.kind, p.cext = kind, cext
	if kind == probe.KindImage {
		maxPix := im.MaxPixels
		if maxPix <= 0 {
			maxPix = probe.DefaultMaxPixels
		}
		if im.VerifyDecode {
			if err := probe.CheckImage(path, maxPix); err != nil {
				p.ferr = err
				return p
			}
		}
		sc.br.Reset(io.NewSectionReader(ra, 0, info.Size()))
		w, h, _, err := probe.ImageHeader(sc.br)
		if err != nil {
			p.ferr = err
			return p
		}
		if err := probe.CheckPixels(int64(w), int64(h), maxPix); err != nil {
			p.ferr = err
			return p
		}
		p.width, p.height = w, h
	} else if im.Prober != nil {
		vi, err := im.Prober.Probe(ctx, path)
		if err != nil {
			if ctx.Err() != nil {
				p.fatal = ctx.Err()
				return p
			}
			p.ferr = unreadableVideo(f, info.Size(), err)
			return p
		}
		p.vinfo = vi
		p.width, p.height = vi.DisplaySize()
	}

	// Metadata from the bytes already read (the whole of a small file) or
	// the open file: no second open. Extracted for duplicates too; parsing
	// costs less than the catalogue lookup that could skip it.
	if im.Extract != nil {
		var r io.ReadSeeker = io.NewSectionReader(f, 0, info.Size())
		if ra.whole {
			r = bytes.NewReader(head)
		}
		if res, err := im.Extract(ctx, r, path, p.vinfo); err == nil {
			p.meta = &res
		}
	}

	hp := hashPair{md5.New(), sha256.New()}
	var hw io.Writer = hp
	var hc *hashCopy
	if st != nil {
		if c := st.stage(kind, info.Size(), info.ModTime()); c != nil {
			hc = &hashCopy{hp: hp, c: c}
			hw = hc
		}
	}
	chk := probe.NewStructureCheck(head)
	if chk != nil {
		hw = checkTee{w: hw, c: chk}
	}
	hw.Write(head)
	if n == headSize {
		if err := copyCtx(ctx, hw, f, buf); err != nil {
			if hc != nil {
				hc.c.discard()
			}
			if ctx.Err() != nil {
				p.fatal = ctx.Err()
				return p
			}
			p.ferr = reason.Transient(CodeHashFailed, err)
			return p
		}
	}
	p.md5, p.sha = hex.EncodeToString(hp.m.Sum(nil)), hex.EncodeToString(hp.s.Sum(nil))
	if chk != nil {
		p.broken = chk.Err()
	}
	if hc != nil {
		if hc.err == nil {
			p.copy = hc.c
		} else {
			hc.c.discard()
		}
	}

	return p
}

// unreadableVideo is the refusal of a video ffprobe could not read. When
// the container structure says why (cut short, no moov: a header walk, not
// a read of the file) that reason is the one a person can act on, with
// ffprobe's words kept; tool failures (missing, timeout) stay as they are.
func unreadableVideo(f io.ReaderAt, size int64, perr error) error {
	if reason.Code(perr) != probe.CodeFFprobeFailed {
		return perr
	}
	serr := probe.CheckStructure(f, size)
	if serr == nil || reason.KindOf(serr) == reason.KindTransient {
		return perr
	}
	return reason.Wrap(fmt.Errorf("%v (%w)", serr, perr), reason.Code(serr), reason.KindPermanent)
}

// copyCtx streams r into w with buf, checking ctx between chunks so a
// multi-GB hash stops promptly when the job is cancelled.
func copyCtx(ctx context.Context, w io.Writer, r io.Reader, buf []byte) error {
	for i := 0; ; i++ {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		n, err := r.Read(buf)
		if n > 0 {
			w.Write(buf[:n])
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
