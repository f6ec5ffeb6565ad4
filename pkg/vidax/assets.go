package vidax

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Manifest is assets.json.
type Manifest struct {
	Policy    Policy  `json:"policy"`
	Workflows []Asset `json:"workflows"`
	Models    []Asset `json:"models"`
}

// Policy says what install does with a missing or changed asset.
type Policy struct {
	// OnMissing is "download" (default) or "fail".
	OnMissing string `json:"on_missing,omitempty"`
	// OnHashMismatch is "fail" (default) or "download" (fetch it again).
	OnHashMismatch string `json:"on_hash_mismatch,omitempty"`
}

// Asset is one manifest entry.
type Asset struct {
	ID     string `json:"id"`
	URL    string `json:"url,omitempty"`
	Dest   string `json:"dest"`
	SHA256 string `json:"sha256,omitempty"`
	// Unpack is "zip" (or true): the download is a zip archive unpacked
	// into the dest folder.
	Unpack    Unpack `json:"unpack,omitempty"`
	StripRoot bool   `json:"strip_root,omitempty"`
}

// Unpack is an archive format; true means zip.
type Unpack string

// UnmarshalJSON accepts true/false or a format name.
func (u *Unpack) UnmarshalJSON(b []byte) error {
	switch s := string(bytes.TrimSpace(b)); s {
	case "true":
		*u = "zip"
		return nil
	case "false", "null":
		*u = ""
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("unpack must be true, false or \"zip\"")
	}
	*u = Unpack(strings.ToLower(s))
	return nil
}

// Asset status values.
const (
	StatusPresent      = "present"
	StatusDownloaded   = "downloaded"
	StatusMissing      = "missing"
	StatusHashMismatch = "hash_mismatch"
	StatusError        = "error"
)

// AssetStatus is one asset's state in /install answers.
type AssetStatus struct {
	Type       string `json:"type"` // workflow or model
	ID         string `json:"id"`
	Status     string `json:"status"`
	Path       string `json:"path,omitempty"`
	ReasonCode string `json:"reason_code,omitempty"`
	Message    string `json:"message,omitempty"`
}

// LoadManifest reads assets.json.
func LoadManifest(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		code := CodeConfigInvalid
		if errors.Is(err, fs.ErrNotExist) {
			code = CodeInputNotFound
		}
		return nil, &reason.Error{Code: code, Kind: reason.KindPermanent, Err: err,
			Msg: fmt.Sprintf("no asset manifest at %s: run `vidax install` (it copies CONFIG/assets.example.json) or set VIDAX_ASSETS_CONFIG", path)}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, reason.Newf(CodeConfigInvalid, "%s is not a valid asset manifest: %v", path, err).With("config_path", path)
	}
	return &m, nil
}

// Installer checks and installs the manifest's assets into the layout's
// state directory.
type Installer struct {
	Layout   Layout
	Manifest *Manifest
	// HTTP downloads assets (nil: a client without a global timeout; the
	// context bounds every download).
	HTTP *http.Client
	// Clock stamps the verified markers (nil: the system clock).
	Clock svtime.Clock
}

type entry struct {
	typ string
	a   Asset
}

func (in *Installer) entries() []entry {
	var out []entry
	if in.Manifest == nil {
		return nil
	}
	for _, a := range in.Manifest.Workflows {
		out = append(out, entry{"workflow", a})
	}
	for _, a := range in.Manifest.Models {
		out = append(out, entry{"model", a})
	}
	return out
}

// Check reports every asset without downloading or hashing (cheap enough
// for /install/status and doctor): present when its dest exists (install
// verified it before renaming it there).
func (in *Installer) Check() []AssetStatus {
	out := []AssetStatus{} // [] not null in answers
	for _, e := range in.entries() {
		st := AssetStatus{Type: e.typ, ID: e.a.ID}
		p, err := in.Layout.Confine(e.a.Dest)
		if err != nil {
			out = append(out, failed(st, err))
			continue
		}
		st.Path = p
		if _, err := os.Stat(p); err != nil {
			st.Status = StatusMissing
		} else {
			st.Status = StatusPresent
		}
		out = append(out, st)
	}
	return out
}

// Ensure makes every asset present and verified: missing ones are
// downloaded (policy on_missing), changed ones fail or are fetched again
// (policy on_hash_mismatch). It goes through all assets and returns the
// first error; each status carries its own.
func (in *Installer) Ensure(ctx context.Context) ([]AssetStatus, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	out := []AssetStatus{}
	var first error
	for _, e := range in.entries() {
		st, err := in.ensureOne(ctx, e)
		if err != nil {
			st = failed(st, err)
			if first == nil {
				first = fmt.Errorf("%s %q: %w", e.typ, e.a.ID, err)
			}
		}
		out = append(out, st)
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
	}
	return out, first
}

func failed(st AssetStatus, err error) AssetStatus {
	st.Status = StatusError
	if reason.Code(err) == CodeHashMismatch {
		st.Status = StatusHashMismatch
	}
	st.ReasonCode = reason.CodeOr(err, "error")
	st.Message = err.Error()
	return st
}

func (in *Installer) validate() error {
	seen := map[string]bool{}
	for _, e := range in.entries() {
		key := e.typ + "/" + e.a.ID
		if strings.TrimSpace(e.a.ID) == "" || seen[key] {
			return reason.Newf(CodeConfigInvalid, "every %s in the asset manifest needs a unique id (found %q twice or empty)", e.typ, e.a.ID)
		}
		seen[key] = true
		if e.a.Unpack != "" && e.a.Unpack != "zip" {
			return reason.Newf(CodeUnsupportedFormat, "%s %q: unpack %q is not supported (only zip)", e.typ, e.a.ID, e.a.Unpack)
		}
		if e.a.SHA256 != "" {
			if b, err := hex.DecodeString(e.a.SHA256); err != nil || len(b) != sha256.Size {
				return reason.Newf(CodeConfigInvalid, "%s %q: sha256 must be 64 hex digits", e.typ, e.a.ID)
			}
		}
	}
	return nil
}

func (in *Installer) ensureOne(ctx context.Context, e entry) (AssetStatus, error) {
	st := AssetStatus{Type: e.typ, ID: e.a.ID}
	dest, err := in.Layout.Confine(e.a.Dest)
	if err != nil {
		return st, err
	}
	st.Path = dest
	info, err := os.Stat(dest)
	switch {
	case err == nil:
		ok, err := in.verifyExisting(e, dest, info)
		if err != nil {
			return st, err
		}
		if ok {
			st.Status = StatusPresent
			return st, nil
		}
		if in.Manifest.Policy.OnHashMismatch != "download" {
			return st, reason.Newf(CodeHashMismatch, "%s exists but its SHA-256 is not the manifest's: delete it (or set policy.on_hash_mismatch to \"download\") and run install again", dest)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return st, writeErr(dest, err)
	case in.Manifest.Policy.OnMissing == "fail":
		return st, reason.Newf(CodeInputNotFound, "%s is missing and policy.on_missing is \"fail\": put the file there or set it to \"download\"", dest)
	}
	if strings.TrimSpace(e.a.URL) == "" {
		return st, reason.Newf(CodeInputNotFound, "%s is missing and the manifest gives no url to download it from", dest)
	}
	if err := in.download(ctx, e, dest); err != nil {
		return st, err
	}
	st.Status = StatusDownloaded
	return st, nil
}

// verifyExisting checks an existing dest against the manifest hash. A file
// whose size and time match the marker written after the last
// verification is not hashed again (models are gigabytes); an unpacked
// folder is checked through its marker only (the hash is the archive's).
func (in *Installer) verifyExisting(e entry, dest string, info fs.FileInfo) (bool, error) {
	if e.a.SHA256 == "" {
		return true, nil
	}
	m, err := in.readMarker(e)
	if err == nil && strings.EqualFold(m.SHA256, e.a.SHA256) && (info.IsDir() || (m.Size == info.Size() && m.ModTime.Equal(info.ModTime()))) {
		return true, nil
	}
	if info.IsDir() {
		return false, nil
	}
	sum, err := fileSHA256(dest)
	if err != nil {
		return false, writeErr(dest, err)
	}
	if !strings.EqualFold(sum, e.a.SHA256) {
		return false, nil
	}
	return true, in.writeMarker(e, dest)
}

// marker records a verified asset: <state>/state/vidax/verified/<type>-<id>.json.
type marker struct {
	SHA256     string    `json:"sha256"`
	Size       int64     `json:"size"`
	ModTime    time.Time `json:"mod_time"`
	VerifiedAt string    `json:"verified_at"`
}

func (in *Installer) markerPath(e entry) string {
	return filepath.Join(in.Layout.Dir(), "verified", e.typ+"-"+hex.EncodeToString([]byte(e.a.ID))+".json")
}

func (in *Installer) readMarker(e entry) (marker, error) {
	var m marker
	b, err := os.ReadFile(in.markerPath(e))
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(b, &m)
}

func (in *Installer) writeMarker(e entry, dest string) error {
	info, err := os.Stat(dest)
	if err != nil {
		return writeErr(dest, err)
	}
	m := marker{SHA256: strings.ToLower(e.a.SHA256), Size: info.Size(), ModTime: info.ModTime(), VerifiedAt: svtime.NowString(clockOr(in.Clock))}
	if info.IsDir() {
		m.Size, m.ModTime = 0, time.Time{}
	}
	if err := os.MkdirAll(filepath.Dir(in.markerPath(e)), 0o755); err != nil {
		return writeErr(in.markerPath(e), err)
	}
	return writeErr(in.markerPath(e), workerstate.WriteJSONAtomic(in.markerPath(e), m))
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Confine resolves a manifest dest inside <root>/state. Absolute paths,
// drive letters, ".." components and symlinks leading out are refused, so
// a manifest can never make install write elsewhere.
func (l Layout) Confine(dest string) (string, error) {
	bad := func(why string) error {
		return reason.Newf(CodeDestInvalid, "asset dest %q %s: write it relative to the state directory %s, like \"comfyui/models/x.safetensors\"", dest, why, l.State()).With("dest", dest)
	}
	d := strings.TrimSpace(dest)
	if d == "" {
		return "", bad("is empty")
	}
	slashed := strings.ReplaceAll(d, `\`, "/")
	if filepath.IsAbs(d) || strings.HasPrefix(slashed, "/") || filepath.VolumeName(d) != "" || (len(slashed) > 1 && slashed[1] == ':') {
		return "", bad("is absolute")
	}
	for _, part := range strings.Split(slashed, "/") {
		if part == ".." {
			return "", bad("leaves the state directory (..)")
		}
	}
	root := l.State()
	p := filepath.Join(root, filepath.FromSlash(slashed))
	if p == root {
		return "", bad("is the state directory itself")
	}
	// A symlink anywhere on the way (or the dest itself) must not lead
	// outside: resolve the deepest existing ancestor and compare with the
	// resolved root.
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return "", writeErr(root, err)
		}
		return p, nil // nothing exists yet, nothing can point outside
	}
	for probe := p; ; probe = filepath.Dir(probe) {
		real, err := filepath.EvalSymlinks(probe)
		if err == nil {
			if !within(realRoot, real) {
				return "", bad("leads outside through a symbolic link")
			}
			break
		}
		if fi, lerr := os.Lstat(probe); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return "", bad("is a dangling symbolic link")
		}
		if probe == root || filepath.Dir(probe) == probe {
			break
		}
	}
	return p, nil
}

// within reports whether p is root or below it.
func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}
