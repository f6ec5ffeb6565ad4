package web

import (
	"context"
	"encoding/json"
	"html/template"
	"slices"

	"github.com/localsupervisor/supervisor/pkg/catalog"
	"github.com/localsupervisor/supervisor/pkg/phash"
	"github.com/localsupervisor/supervisor/pkg/similar"
	"github.com/localsupervisor/supervisor/pkg/worddiff"
)

// familyLimit caps the lineage graph of the detail page: a media
// regenerated hundreds of times would otherwise draw a page of boxes (and
// cost a query per level); the graph says when it was cut.
const familyLimit = 50

// edgePromptChanges is how many changed runs of words an edge shows; the
// compare page has the whole diff.
const edgePromptChanges = 8

// lineageEdge is what changed from a parent to a child: the parameters that
// differ (paramRows' keys), a short word diff of the prompt and the link
// to the compare page of the pair.
type lineageEdge struct {
	CompareURL string
	Params     []paramChange
	Prompt     template.HTML
	PromptMore bool
	Same       bool
}

type paramChange struct{ Key, From, To string }

// lineageNode is one media of the graph. Hidden: 18+ in a session that
// hides it, drawn without picture, title or prompt.
type lineageNode struct {
	catalog.GenCard
	Lang     string // the page's language: the template recurses per node
	Source   string
	Replaced int
	Current  bool
	Hidden   bool
	Edge     *lineageEdge
	Children []*lineageNode
}

// lineageView is the detail page's family graph.
type lineageView struct {
	Root      *lineageNode
	Count     int
	Truncated bool
	Limit     int
}

// lineage loads the family of id as a tree (nil when the media has neither
// parent nor children nor a replacement accepted in place).
func (s *Server) lineage(ctx context.Context, lang string, id int64, adult bool) (*lineageView, error) {
	fam, err := catalog.LoadFamily(ctx, s.rdb, id, familyLimit)
	if err != nil || (len(fam.Nodes) == 1 && fam.Nodes[0].Replaced == 0) {
		return nil, err
	}
	ids := make([]int64, len(fam.Nodes))
	for i, n := range fam.Nodes {
		ids[i] = n.ID
	}
	cards, err := catalog.GenCards(ctx, s.rdb, ids)
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]catalog.GenCard, len(cards))
	for _, c := range cards {
		byID[c.ID] = c
	}
	nodes := make(map[int64]*lineageNode, len(fam.Nodes))
	v := &lineageView{Truncated: fam.Truncated, Limit: familyLimit}
	for _, fn := range fam.Nodes {
		c, ok := byID[fn.ID]
		if !ok { // removed between the two reads
			continue
		}
		n := &lineageNode{GenCard: c, Lang: lang, Source: fn.Source, Replaced: fn.Replaced, Current: fn.ID == id, Hidden: c.NSFW && !adult}
		nodes[fn.ID] = n
		v.Count++
		p := nodes[fn.ParentID]
		if p == nil {
			if v.Root == nil {
				v.Root = n
			}
			continue
		}
		p.Children = append(p.Children, n)
		n.Edge = edgeBetween(p, n)
	}
	return v, nil
}

// edgeBetween says what changed from parent p to child c (nil: nothing
// to say). Nothing of a hidden media is told, not even through the edge.
func edgeBetween(p, c *lineageNode) *lineageEdge {
	if p.Hidden || c.Hidden {
		return nil
	}
	e := &lineageEdge{CompareURL: compareURL(p.ID, c.ID)}
	for _, r := range paramRows([]catalog.GenCard{p.GenCard, c.GenCard}) {
		if r.Differ {
			e.Params = append(e.Params, paramChange{r.Key, r.Values[0], r.Values[1]})
		}
	}
	spans := worddiff.Words(p.Prompt.Prompt, c.Prompt.Prompt)
	changes, more := worddiff.Changes(spans, edgePromptChanges)
	shown := make([]worddiff.Span, 0, 2*len(changes))
	for i, ch := range changes {
		if i > 0 {
			shown = append(shown, worddiff.Span{Op: worddiff.Equal, Text: " "})
		}
		shown = append(shown, ch)
	}
	e.Prompt, e.PromptMore = worddiff.HTML(shown), more
	// Two files always differ in size: "nothing changed" means nothing
	// but that.
	e.Same = len(changes) == 0 && (len(e.Params) == 0 || len(e.Params) == 1 && e.Params[0].Key == "filesize")
	return e
}

// duplicatesView is the detail page's duplicates: media with the same
// content, media that look alike (perceptual hash, nearest first, with
// their distance) and the Ollama near-duplicate hints, each with a
// compare link.
type duplicatesView struct {
	SHA        string
	Same       []int64
	Alike      []alikeView
	Similar    []int64
	CompareAll string
}

// alikeView is a media whose perceptual hash is Distance bits from this
// one's.
type alikeView struct {
	ID       int64
	Distance int
}

// dupeShown is how many duplicates of each kind the panel names (the
// compare page takes four media, this one included).
const dupeShown = compareMax - 1

func (s *Server) duplicates(ctx context.Context, d *catalog.Detail, adult bool) (*duplicatesView, error) {
	id := d.Media.ID
	var hints []struct {
		MediaID int64 `json:"media_id"`
	}
	// The hints are best first; a damaged value just gives none.
	_ = json.Unmarshal([]byte(d.MetaMap["ollama.dupe_hints.top"]), &hints)
	also := make([]int64, 0, len(hints))
	for _, h := range hints {
		also = append(also, h.MediaID)
	}
	sha := d.MetaMap["hash.sha256"]
	same, similar, err := catalog.Duplicates(ctx, s.rdb, id, sha, also, adult, dupeShown)
	if err != nil {
		return nil, err
	}
	alike, err := s.lookAlike(ctx, id, same, adult)
	if err != nil || len(same)+len(alike)+len(similar) == 0 {
		return nil, err
	}
	all := append([]int64{id}, same...)
	for _, a := range alike {
		all = append(all, a.ID)
	}
	all = append(all, similar...)
	v := &duplicatesView{Same: same, Alike: alike, Similar: similar, CompareAll: compareURL(all[:min(len(all), compareMax)]...)}
	if len(same) > 0 {
		v.SHA = sha
	}
	return v, nil
}

// lookAlike is the visible media whose perceptual hash lies within the
// default threshold of media id's (pkg/similar: a few index seeks at 1M
// media), nearest first, without id and its byte-identical copies.
func (s *Server) lookAlike(ctx context.Context, id int64, same []int64, adult bool) ([]alikeView, error) {
	h, ok, err := similar.Of(ctx, s.rdb, id)
	if err != nil || !ok {
		return nil, err
	}
	near, err := similar.Near(ctx, s.rdb, h, phash.DefaultThreshold, 50)
	if err != nil {
		return nil, err
	}
	dist := map[int64]int{}
	var ids []int64
	for _, n := range near {
		if n.MediaID != id && !slices.Contains(same, n.MediaID) {
			dist[n.MediaID] = n.Distance
			ids = append(ids, n.MediaID)
		}
	}
	// Duplicates keeps the visible ones in the given order.
	_, visible, err := catalog.Duplicates(ctx, s.rdb, id, "", ids, adult, dupeShown)
	if err != nil {
		return nil, err
	}
	out := make([]alikeView, 0, len(visible))
	for _, v := range visible {
		out = append(out, alikeView{ID: v, Distance: dist[v]})
	}
	return out, nil
}
