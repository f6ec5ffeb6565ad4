package mediaops

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"os"
	"sync"

	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// hashChunk is the read size. 1 MiB keeps syscalls rare without holding
// much memory; two buffers are in flight at a time.
const hashChunk = 1 << 20

// Digests are the content hashes of a file.
type Digests struct {
	SHA256 string `json:"sha256"`
	// MD5 is empty unless requested (media.hash is MD5).
	MD5  string `json:"md5,omitempty"`
	Size int64  `json:"filesize"`
}

// HashFile streams path through SHA-256 (and MD5 when withMD5) with
// bounded memory. With both hashes the two run in parallel goroutines
// while the next chunk is read, so the cost is about max(SHA-256, MD5,
// read) rather than their sum. ctx is checked between chunks.
func HashFile(ctx context.Context, path string, withMD5 bool) (Digests, error) {
	f, err := os.Open(path)
	if err != nil {
		return Digests{}, openErr(err)
	}
	defer f.Close()
	hs := []hash.Hash{sha256.New()}
	if withMD5 {
		hs = append(hs, md5.New())
	}
	var bufs [2][]byte
	bufs[0] = make([]byte, hashChunk)
	bufs[1] = make([]byte, hashChunk)
	var wg sync.WaitGroup
	var size int64
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			wg.Wait()
			return Digests{}, err
		}
		buf := bufs[i%2]
		n, rerr := io.ReadFull(f, buf)
		// The previous chunk must be hashed before this one is handed out,
		// and before its buffer is overwritten by the next read.
		wg.Wait()
		if n > 0 {
			size += int64(n)
			chunk := buf[:n]
			if len(hs) == 1 {
				hs[0].Write(chunk)
			} else {
				wg.Add(len(hs))
				for _, h := range hs {
					go func(h hash.Hash) { defer wg.Done(); h.Write(chunk) }(h)
				}
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			wg.Wait()
			return Digests{}, reason.Transient(probe.CodeNotReadable, rerr)
		}
	}
	wg.Wait()
	d := Digests{SHA256: hex.EncodeToString(hs[0].Sum(nil)), Size: size}
	if withMD5 {
		d.MD5 = hex.EncodeToString(hs[1].Sum(nil))
	}
	return d, nil
}

// openErr classifies an open failure: a vanished file or a permission
// problem will not fix itself by retrying.
func openErr(err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return reason.Permanent(probe.CodeMissingFile, err)
	case errors.Is(err, os.ErrPermission):
		return reason.Permanent(probe.CodeNotReadable, err)
	}
	return reason.Transient(probe.CodeNotReadable, err)
}

func hashReader(r io.Reader) (Digests, error) {
	s, m := sha256.New(), md5.New()
	n, err := io.Copy(io.MultiWriter(s, m), r)
	if err != nil {
		return Digests{}, err
	}
	return Digests{SHA256: hex.EncodeToString(s.Sum(nil)), MD5: hex.EncodeToString(m.Sum(nil)), Size: n}, nil
}
