package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func setComfy(f *fixture, section map[string]any) {
	b, _ := json.Marshal(section)
	f.cfg.ComfyUI = b
}

// comfyAdmin is a logged-in admin of a server with the comfyui section
// (nil: absent).
func comfyAdmin(t *testing.T, comfySection map[string]any) *client {
	f := newFixture(t)
	if comfySection != nil {
		setComfy(f, comfySection)
	}
	c := f.client()
	c.login()
	return c
}

func (c *client) dashboard() string {
	c.f.t.Helper()
	rec := c.do("GET", "/index.php", nil)
	if rec.Code != http.StatusOK {
		c.f.t.Fatalf("dashboard: %d %s", rec.Code, rec.Body.String())
	}
	return rec.Body.String()
}

func section(page, id string) string {
	i := strings.Index(page, `id="`+id+`"`)
	if i < 0 {
		return ""
	}
	rest := page[i:]
	if j := strings.Index(rest, "</section>"); j >= 0 {
		return rest[:j]
	}
	return rest
}

func TestComfyCardDirect(t *testing.T) {
	comfyUI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/system_stats" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, `{"system":{"comfyui_version":"0.3.40"},"devices":[{"name":"cuda:0 RTX 4090","type":"cuda"}]}`)
	}))
	defer comfyUI.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<html>") }))
	defer garbage.Close()

	tests := []struct {
		name    string
		section map[string]any
		want    []string
		not     []string
	}{
		{"off", nil, []string{`id="comfy-off"`, "comfyui.enabled"}, []string{`id="comfy-error"`, `id="comfy-actions"`}},
		{"up", map[string]any{"enabled": true, "base_url": comfyUI.URL}, []string{"0.3.40", "RTX 4090", `id="comfy-state" class="svc-ok"`, `id="comfy-status"`}, []string{`id="comfy-error"`, `id="comfy-actions"`}},
		{"down", map[string]any{"enabled": true, "base_url": down.URL}, []string{`data-reason="comfy_unreachable"`}, []string{"0.3.40"}},
		{"garbage", map[string]any{"enabled": true, "base_url": garbage.URL}, []string{`data-reason="comfy_invalid_response"`}, nil},
		{"bad url", map[string]any{"enabled": true, "base_url": "ftp://x"}, []string{`data-reason="comfy_config_invalid"`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := comfyAdmin(t, tt.section)
			card := section(c.dashboard(), "comfyui")
			if card == "" {
				t.Fatal("no ComfyUI card on the dashboard")
			}
			for _, w := range tt.want {
				if !strings.Contains(card, w) {
					t.Errorf("card lacks %q:\n%s", w, card)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(card, w) {
					t.Errorf("card has %q:\n%s", w, card)
				}
			}
		})
	}
}

// A card action without vidax, with a dead vidax or with a wrong key is a
// banner with a sentence and the reason code, never a 500.
func TestComfyActionRefusals(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	tests := []struct {
		name    string
		section map[string]any
		action  string
		code    string
	}{
		{"off", nil, "start", "comfy_disabled"},
		{"no vidax", map[string]any{"enabled": true}, "start", "comfy_vidax_not_configured"},
		{"vidax down", map[string]any{"enabled": true, "vidax_url": dead.URL}, "install", "vidax_unreachable"},
		{"unknown action", map[string]any{"enabled": true, "vidax_url": dead.URL}, "reboot", "comfy_action_unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := comfyAdmin(t, tt.section)
			rec := c.post("/comfyui/action", url.Values{"action": {tt.action}}, true)
			if rec.Code != http.StatusSeeOther || !strings.Contains(rec.Header().Get("Location"), "msg="+tt.code) {
				t.Fatalf("answer %d %q %s", rec.Code, rec.Header().Get("Location"), rec.Body.String())
			}
			// A browser does not send the #fragment.
			loc, _, _ := strings.Cut(rec.Header().Get("Location"), "#")
			page := c.do("GET", loc, nil).Body.String()
			if !strings.Contains(page, `id="dash-msg"`) || !strings.Contains(page, `class="banner error"`) {
				t.Fatalf("no error banner for %s", tt.code)
			}
			if tt.code != "comfy_disabled" && !strings.Contains(section(page, "comfyui"), tt.code) {
				t.Fatalf("card does not name %s:\n%s", tt.code, section(page, "comfyui"))
			}
			c.hdr.Set("Accept", "application/json")
			rec = c.post("/comfyui/action", url.Values{"action": {tt.action}}, true)
			c.hdr.Del("Accept")
			var body map[string]any
			json.Unmarshal(rec.Body.Bytes(), &body)
			if rec.Code != http.StatusConflict || body["reason_code"] != tt.code || body["error"] == "" {
				t.Fatalf("JSON answer %d %v", rec.Code, body)
			}
		})
	}
}

func TestComfyActionNeedsAdminAndCSRF(t *testing.T) {
	f := newFixture(t)
	setComfy(f, map[string]any{"enabled": true, "vidax_url": "http://127.0.0.1:1/"})
	c := f.client()
	if rec := c.post("/comfyui/action", url.Values{"action": {"stop"}}, true); rec.Code != http.StatusForbidden && rec.Code != http.StatusSeeOther {
		t.Fatalf("anonymous: %d", rec.Code)
	} else if rec.Code == http.StatusSeeOther && strings.Contains(rec.Header().Get("Location"), "comfy") {
		t.Fatalf("anonymous action reached vidax: %s", rec.Header().Get("Location"))
	}
	c.login()
	if rec := c.post("/comfyui/action", url.Values{"action": {"stop"}}, false); rec.Code != http.StatusForbidden {
		t.Fatalf("without CSRF: %d", rec.Code)
	}
}
