package vidax

import (
	"archive/zip"
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

func TestConfine(t *testing.T) {
	root := t.TempDir()
	l := Layout{Root: filepath.Join(root, "va")}
	outside := filepath.Join(root, "outside")
	for _, d := range []string{l.State(), outside, filepath.Join(l.State(), "comfyui")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(l.State(), "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(l.State(), "comfyui"), filepath.Join(l.State(), "inside")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dest string
		ok   bool
	}{
		{"comfyui/models/a.safetensors", true},
		{"comfyui/workflows/w.json", true},
		{"inside/x.json", true},
		{"", false},
		{"/etc/passwd", false},
		{"../x", false},
		{"comfyui/../../x", false},
		{`comfyui\..\..\x`, false},
		{"C:/Windows/x", false},
		{"escape/x", false},
		{"escape", false},
		{".", false},
	}
	for _, tt := range tests {
		p, err := l.Confine(tt.dest)
		if tt.ok != (err == nil) {
			t.Errorf("Confine(%q) = %q, %v; want ok=%v", tt.dest, p, err, tt.ok)
		}
		if err != nil && reason.Code(err) != CodeDestInvalid {
			t.Errorf("Confine(%q) code %q", tt.dest, reason.Code(err))
		}
	}
}

// assetServer serves files by path and records every request's Range
// header. A path in cut sends its first half and then drops the
// connection (once).
type assetServer struct {
	*httptest.Server
	mu     sync.Mutex
	files  map[string][]byte
	cut    map[string]bool
	ranges []string
}

func newAssetServer(t *testing.T, files map[string][]byte) *assetServer {
	s := &assetServer{files: files, cut: map[string]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.ranges = append(s.ranges, r.URL.Path+" "+r.Header.Get("Range"))
		cut := s.cut[r.URL.Path]
		delete(s.cut, r.URL.Path)
		b, ok := s.files[r.URL.Path]
		s.mu.Unlock()
		switch {
		case r.URL.Path == "/500":
			http.Error(w, "boom", 500)
			return
		case !ok:
			http.NotFound(w, r)
			return
		}
		if cut {
			w.Header().Set("Content-Length", itoa(len(b)))
			w.WriteHeader(200)
			w.Write(b[:len(b)/2])
			w.(http.Flusher).Flush()
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		http.ServeContent(w, r, "f", time.Time{}, bytes.NewReader(b))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *assetServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ranges...)
}

func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func installer(t *testing.T, m Manifest) *Installer {
	return &Installer{Layout: Layout{Root: t.TempDir()}, Manifest: &m}
}

func TestEnsureDownloadsVerifiesAndSkipsVerified(t *testing.T) {
	model := bytes.Repeat([]byte("weights"), 1000)
	wf := []byte(`{"nodes":[]}`)
	srv := newAssetServer(t, map[string][]byte{"/model": model, "/wf": wf})
	in := installer(t, Manifest{
		Models:    []Asset{{ID: "m", URL: srv.URL + "/model", Dest: "comfyui/models/m.safetensors", SHA256: sha256Hex(model)}},
		Workflows: []Asset{{ID: "w", URL: srv.URL + "/wf", Dest: "comfyui/workflows/w.json"}},
	})
	st, err := in.Ensure(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 2 || st[0].Status != StatusDownloaded || st[1].Status != StatusDownloaded {
		t.Fatalf("statuses %+v", st)
	}
	if b, _ := os.ReadFile(filepath.Join(in.Layout.State(), "comfyui/models/m.safetensors")); !bytes.Equal(b, model) {
		t.Fatal("model content differs")
	}
	n := len(srv.requests())
	st, err = in.Ensure(context.Background())
	if err != nil || st[0].Status != StatusPresent || st[1].Status != StatusPresent {
		t.Fatalf("second ensure %+v %v", st, err)
	}
	if len(srv.requests()) != n {
		t.Fatalf("present assets downloaded again: %v", srv.requests())
	}
	if c := in.Check(); c[0].Status != StatusPresent {
		t.Fatalf("check %+v", c)
	}
}

func TestEnsureBadInput(t *testing.T) {
	good := []byte("good bytes")
	zipSlip := zipOf(t, map[string]string{"pack/ok.txt": "ok", "../../evil.txt": "evil"})
	srv := newAssetServer(t, map[string][]byte{"/good": good, "/slip.zip": zipSlip, "/notzip": []byte("plain text")})
	tests := []struct {
		name   string
		asset  Asset
		policy Policy
		code   string
	}{
		{"hash mismatch", Asset{ID: "a", URL: srv.URL + "/good", Dest: "comfyui/models/a", SHA256: sha256Hex([]byte("other"))}, Policy{}, CodeHashMismatch},
		{"dest escapes", Asset{ID: "a", URL: srv.URL + "/good", Dest: "../../escaped"}, Policy{}, CodeDestInvalid},
		{"dest absolute", Asset{ID: "a", URL: srv.URL + "/good", Dest: "/tmp/escaped"}, Policy{}, CodeDestInvalid},
		{"zip slip", Asset{ID: "a", URL: srv.URL + "/slip.zip", Dest: "comfyui/pack", Unpack: "zip"}, Policy{}, CodeDestInvalid},
		{"not a zip", Asset{ID: "a", URL: srv.URL + "/notzip", Dest: "comfyui/pack", Unpack: "zip"}, Policy{}, CodeUnsupportedFormat},
		{"unknown format", Asset{ID: "a", URL: srv.URL + "/good", Dest: "comfyui/pack", Unpack: "rar"}, Policy{}, CodeUnsupportedFormat},
		{"404", Asset{ID: "a", URL: srv.URL + "/missing", Dest: "comfyui/a"}, Policy{}, CodeInputNotFound},
		{"500", Asset{ID: "a", URL: srv.URL + "/500", Dest: "comfyui/a"}, Policy{}, CodeDownloadFailed},
		{"no url", Asset{ID: "a", Dest: "comfyui/a"}, Policy{}, CodeInputNotFound},
		{"on_missing fail", Asset{ID: "a", URL: srv.URL + "/good", Dest: "comfyui/a"}, Policy{OnMissing: "fail"}, CodeInputNotFound},
		{"bad sha", Asset{ID: "a", URL: srv.URL + "/good", Dest: "comfyui/a", SHA256: "xyz"}, Policy{}, CodeConfigInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			in := &Installer{Layout: Layout{Root: filepath.Join(root, "va")}, Manifest: &Manifest{Policy: tt.policy, Models: []Asset{tt.asset}}}
			_, err := in.Ensure(context.Background())
			if reason.Code(err) != tt.code {
				t.Fatalf("code %q, want %q (%v)", reason.Code(err), tt.code, err)
			}
			// Nothing outside the state dir, nothing under a final name.
			var written []string
			filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
				if err == nil && !fi.IsDir() {
					written = append(written, p)
				}
				return nil
			})
			if len(written) != 0 {
				t.Fatalf("files written: %v", written)
			}
		})
	}
}

func TestEnsureUnpackStripRoot(t *testing.T) {
	z := zipOf(t, map[string]string{"ComfyUI-pack-main/": "", "ComfyUI-pack-main/a.json": "A", "ComfyUI-pack-main/sub/b.json": "B"})
	srv := newAssetServer(t, map[string][]byte{"/p.zip": z})
	in := installer(t, Manifest{Workflows: []Asset{{ID: "p", URL: srv.URL + "/p.zip", Dest: "comfyui/workflows/pack", Unpack: "zip", StripRoot: true, SHA256: sha256Hex(z)}}})
	if _, err := in.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(in.Layout.State(), "comfyui/workflows/pack")
	for name, want := range map[string]string{"a.json": "A", "sub/b.json": "B"} {
		if b, err := os.ReadFile(filepath.Join(dest, name)); err != nil || string(b) != want {
			t.Fatalf("%s: %q %v", name, b, err)
		}
	}
	if _, err := os.Stat(dest + ".zip.part"); !os.IsNotExist(err) {
		t.Fatal("archive part left behind")
	}
	if st, err := in.Ensure(context.Background()); err != nil || st[0].Status != StatusPresent {
		t.Fatalf("second ensure %+v %v", st, err)
	}
}

func TestStripCommonRoot(t *testing.T) {
	tests := []struct {
		names []string
		dirs  []bool
		want  []string
	}{
		{[]string{"r", "r/a", "r/s/b"}, []bool{true, false, false}, []string{"", "a", "s/b"}},
		{[]string{"r/a", "q/b"}, []bool{false, false}, []string{"r/a", "q/b"}},
		{[]string{"a.json"}, []bool{false}, []string{"a.json"}},
		{[]string{"r/a", "r"}, []bool{false, false}, []string{"r/a", "r"}},
	}
	for _, tt := range tests {
		if got := stripCommonRoot(tt.names, tt.dirs); strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("%q: %q, want %q", tt.names, got, tt.want)
		}
	}
}

func TestEnsureResumesTruncatedDownload(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 5000)
	srv := newAssetServer(t, map[string][]byte{"/big": body})
	srv.cut["/big"] = true
	in := installer(t, Manifest{Models: []Asset{{ID: "big", URL: srv.URL + "/big", Dest: "comfyui/models/big.bin", SHA256: sha256Hex(body)}}})
	dest := filepath.Join(in.Layout.State(), "comfyui/models/big.bin")
	_, err := in.Ensure(context.Background())
	if reason.Code(err) != CodeDownloadFailed {
		t.Fatalf("cut download: %v", err)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Fatal("half file under the final name")
	}
	fi, err := os.Stat(dest + ".part")
	if err != nil || fi.Size() == 0 || fi.Size() >= int64(len(body)) {
		t.Fatalf("part file: %v %v", fi, err)
	}
	if _, err := in.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dest); !bytes.Equal(b, body) {
		t.Fatal("resumed file differs")
	}
	reqs := srv.requests()
	if last := reqs[len(reqs)-1]; last != "/big bytes="+itoa(int(fi.Size()))+"-" {
		t.Fatalf("resume request %q", last)
	}
}

// A part left from an older version of the file fails the hash after the
// resume; the download is then done once more from the start.
func TestEnsureStalePartRefetched(t *testing.T) {
	body := bytes.Repeat([]byte("new content "), 100)
	srv := newAssetServer(t, map[string][]byte{"/m": body})
	in := installer(t, Manifest{Models: []Asset{{ID: "m", URL: srv.URL + "/m", Dest: "m.bin", SHA256: sha256Hex(body)}}})
	dest := filepath.Join(in.Layout.State(), "m.bin")
	os.MkdirAll(filepath.Dir(dest), 0o755)
	os.WriteFile(dest+".part", []byte("OLD VERSION "), 0o644)
	if _, err := in.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dest); !bytes.Equal(b, body) {
		t.Fatalf("content %q", b)
	}
	reqs := srv.requests()
	if len(reqs) != 2 || !strings.HasSuffix(reqs[0], "bytes=12-") || reqs[1] != "/m " {
		t.Fatalf("requests %q: want a resume, then a full download", reqs)
	}
}

func TestEnsureChangedFilePolicy(t *testing.T) {
	body := []byte("the real model")
	srv := newAssetServer(t, map[string][]byte{"/m": body})
	for _, policy := range []string{"fail", "download"} {
		t.Run(policy, func(t *testing.T) {
			in := installer(t, Manifest{Policy: Policy{OnHashMismatch: policy}, Models: []Asset{{ID: "m", URL: srv.URL + "/m", Dest: "m.bin", SHA256: sha256Hex(body)}}})
			dest := filepath.Join(in.Layout.State(), "m.bin")
			os.MkdirAll(filepath.Dir(dest), 0o755)
			os.WriteFile(dest, []byte("tampered"), 0o644)
			st, err := in.Ensure(context.Background())
			b, _ := os.ReadFile(dest)
			if policy == "fail" {
				if reason.Code(err) != CodeHashMismatch || st[0].Status != StatusHashMismatch || string(b) != "tampered" {
					t.Fatalf("%+v %v %q", st, err, b)
				}
				return
			}
			if err != nil || !bytes.Equal(b, body) {
				t.Fatalf("%v %q", err, b)
			}
		})
	}
}

func TestCommandForms(t *testing.T) {
	tests := []struct {
		json string
		want []string
	}{
		{`{"apiKey":"k","comfyui":{"command":"python main.py"}}`, []string{"python", "main.py"}},
		{`{"apiKey":"k","comfyui":{"command":"\"/opt/my comfy/python\" main.py --listen 127.0.0.1","args":["--port","8188"]}}`,
			[]string{"/opt/my comfy/python", "main.py", "--listen", "127.0.0.1", "--port", "8188"}},
		{`{"apiKey":"k","comfyui":{"command":["python","main.py"],"args":["--cpu"]}}`, []string{"python", "main.py", "--cpu"}},
		{`{"apiKey":"k","comfyui":{"command":"python","args":["main.py"]}}`, []string{"python", "main.py"}},
	}
	for _, tt := range tests {
		p := filepath.Join(t.TempDir(), "vidax.json")
		os.WriteFile(p, []byte(tt.json), 0o644)
		c, err := LoadConfig(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.ComfyUI.Argv(); strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("%s: argv %q, want %q", tt.json, got, tt.want)
		}
	}
	p := filepath.Join(t.TempDir(), "vidax.json")
	os.WriteFile(p, []byte(`{"apiKey":"k","comfyui":{"command":"python 'main.py"}}`), 0o644)
	if _, err := LoadConfig(p); reason.Code(err) != CodeConfigInvalid {
		t.Fatalf("unbalanced quote: %v", err)
	}
}
