package comfy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

func TestSystemStats(t *testing.T) {
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		wantCode string
	}{
		{"ok", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"system":{"os":"posix","comfyui_version":"0.3.40"},"devices":[{"name":"cpu","type":"cpu"}]}`))
		}, ""},
		{"500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) }, CodeHTTPStatus},
		{"garbage", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) }, CodeInvalidResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			c, err := New(srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			st, err := c.SystemStats(context.Background())
			if got := reason.Code(err); got != tt.wantCode {
				t.Fatalf("code %q, want %q (err %v)", got, tt.wantCode, err)
			}
			if tt.wantCode == "" && st.System.ComfyUIVersion != "0.3.40" {
				t.Fatalf("stats %+v", st)
			}
		})
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	c, _ := New(srv.URL, nil)
	if _, err := c.SystemStats(context.Background()); reason.Code(err) != CodeUnreachable {
		t.Fatalf("down server: %v", err)
	}
}
