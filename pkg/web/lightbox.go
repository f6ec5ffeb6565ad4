package web

import (
	"cmp"
	"net/http"
	"strconv"

	"github.com/localsupervisor/supervisor/pkg/catalog"
	"github.com/localsupervisor/supervisor/pkg/media"
)

// mediaInfo is what the lightbox and the culling page show of one media
// and what their copy keys copy: read per flip, so it is one media row,
// one prompt row and two small lookups, not the detail page's sections.
type mediaInfo struct {
	OK        bool       `json:"ok"`
	ID        int64      `json:"id"`
	Type      string     `json:"type"`
	Title     string     `json:"title"`
	Width     int64      `json:"width"`
	Height    int64      `json:"height"`
	Adult     bool       `json:"adult"`
	Rating    int        `json:"rating"`
	Deleted   bool       `json:"deleted"`
	Checked   bool       `json:"checked"`
	StreamURL string     `json:"stream_url"`
	ThumbURL  string     `json:"thumb_url"`
	Prompt    string     `json:"prompt"`
	Negative  string     `json:"negative"`
	Seed      string     `json:"seed"`
	A1111     string     `json:"parameters"`
	Params    [][]string `json:"params"` // [name, value] in display order
}

// handleMediaInfo answers /api/media/info?id=N (same adult gate as the
// detail page).
func (s *Server) handleMediaInfo(w http.ResponseWriter, r *http.Request) {
	id, ok := parseID(r.URL.Query().Get("id"))
	if !ok {
		s.fail(w, r, http.StatusBadRequest, CodeBadRequest, nil)
		return
	}
	ctx := r.Context()
	m, err := catalog.Get(ctx, s.rdb, id)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	if m.NSFW && !info(r).sess.Adult {
		s.fail(w, r, http.StatusForbidden, CodeAdultHidden, nil)
		return
	}
	p, err := catalog.CurrentPrompt(ctx, s.rdb, id)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	checked, _, err := media.GetMeta(ctx, s.rdb, id, media.MetaChecked)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	title, err := media.AllMeta(ctx, s.rdb, id)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	sid := strconv.FormatInt(id, 10)
	out := mediaInfo{OK: true, ID: id, Type: m.Type, Width: m.Width, Height: m.Height, Adult: m.NSFW, Rating: m.Rating,
		Deleted: m.Deleted, Checked: checked == "1", StreamURL: "/media_stream.php?id=" + sid, ThumbURL: "/thumb.php?id=" + sid + "&size=1600",
		Title: catalog.DisplayTitle(cmp.Or(title["title.override"], title["ollama.title"]), title["original_name"], m.Path)}
	if p != nil {
		hash, err := catalog.ModelHash(ctx, s.rdb, id)
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		out.Prompt, out.Negative, out.Seed, out.A1111 = p.Prompt, p.Negative, p.Seed, catalog.A1111Text(*p, hash)
		for _, kv := range [][]string{{"Model", p.Model}, {"Sampler", p.Sampler}, {"Scheduler", p.Scheduler}, {"Steps", p.Steps},
			{"CFG", p.CFG}, {"Seed", p.Seed}, {"LoRAs", p.Loras}} {
			if kv[1] != "" {
				out.Params = append(out.Params, kv)
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}
