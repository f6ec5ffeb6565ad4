package ollamatest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/ollama/ollamatest"
)

func post(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func TestFakeValidatesLikeOllama(t *testing.T) {
	s := ollamatest.New()
	defer s.Close()
	cases := []struct {
		name, body string
		status     int
		errPart    string
	}{
		{"bad json", `{"model":`, 400, "unexpected"},
		{"no model", `{"prompt":"x"}`, 400, "model is required"},
		{"unknown model", `{"model":"mistral","prompt":"x"}`, 404, `model "mistral" not found, try pulling it first`},
		{"bad image", `{"model":"llava","prompt":"x","images":["***"]}`, 400, "base64"},
		{"ok tagless", `{"model":"llava","prompt":"give \"title\""}`, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, m := post(t, s.URL+"/api/generate", tc.body)
			if st != tc.status {
				t.Fatalf("status = %d (%v)", st, m)
			}
			if e, _ := m["error"].(string); !strings.Contains(e, tc.errPart) {
				t.Errorf("error = %q", e)
			}
			if st == 200 && (m["done"] != true || !strings.Contains(m["response"].(string), `"title"`)) {
				t.Errorf("answer = %v", m)
			}
		})
	}
}

func TestFakeFaultCountsDown(t *testing.T) {
	s := ollamatest.New()
	defer s.Close()
	s.SetFault(ollamatest.FaultServerError, 1, "")
	if st, _ := post(t, s.URL+"/api/generate", `{"model":"llava"}`); st != 500 {
		t.Errorf("first = %d", st)
	}
	if st, _ := post(t, s.URL+"/api/generate", `{"model":"llava"}`); st != 200 {
		t.Errorf("second = %d", st)
	}
	if n := len(s.RequestsTo("/api/generate")); n != 2 {
		t.Errorf("recorded = %d", n)
	}
}
