package scannertest_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/scanner/scannertest"
)

// post sends one multipart file under field to path.
func post(t *testing.T, url, field, auth string) int {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile(field, "x.png")
	fw.Write([]byte("data"))
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, url, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The fake must reject what the real scanner rejects, or client tests
// would pass against requests the real one refuses.
func TestFakeFidelity(t *testing.T) {
	t.Parallel()
	srv := scannertest.New(t, scannertest.Options{Token: "t1"})
	cases := []struct {
		path, field, auth string
		status            int
	}{
		{"/check", "image", "t1", 200},
		{"/check", "file", "t1", 400}, // /check wants "image"
		{"/batch", "file", "t1", 200},
		{"/batch", "image", "t1", 400}, // /batch wants "file"
		{"/check", "image", "Bearer t1", 403},
		{"/check", "image", "", 403},
		{"/predict", "image", "t1", 404},
	}
	for _, tc := range cases {
		if got := post(t, srv.URL+tc.path, tc.field, tc.auth); got != tc.status {
			t.Errorf("%s field %s auth %q: %d, want %d", tc.path, tc.field, tc.auth, got, tc.status)
		}
	}
	if n := len(srv.Requests()); n != len(cases) {
		t.Errorf("recorded %d requests, want %d", n, len(cases))
	}
	if got := srv.Requests()[0].Files[0]; got.Field != "image" || got.Size != 4 {
		t.Errorf("recorded file %+v", got)
	}
}
