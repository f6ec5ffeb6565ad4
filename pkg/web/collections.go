package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/catalog"
	"github.com/localsupervisor/supervisor/pkg/collections"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Collections (albums) and saved searches (pkg/collections): the
// Collections page lists both, an album has its own page in its manual
// order (the list's card template, keyboard and infinite scroll), a saved
// search opens as the media list with its query. Reading is public like the
// media list (adult media stay behind the session's opt-in); every write is
// admin-only through one CSRF-checked endpoint.

func (s *Server) collectionRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /collections", s.handleCollections)
	mux.HandleFunc("GET /collection", s.handleCollection)
	mux.HandleFunc("GET /api/collection", s.handleCollectionJSON)
	mux.HandleFunc("/collections/action", s.mutating(true, s.handleCollectionAction))
}

// actor is who writes, for the audit log.
func (s *Server) actor(r *http.Request) collections.Actor {
	ri := info(r)
	key := "session"
	if ri.keyAuth {
		key = "internal_key"
	}
	return collections.Actor{At: s.clock.Now(), IP: ri.clientIP, Key: key}
}

func collectionURL(id int64) string { return "/collection?id=" + strconv.FormatInt(id, 10) }

// savedURL opens a saved search: the media list with its query; saved=
// names the search for the list's heading.
func savedURL(c collections.Collection) string {
	return listURL(url.Values{"q": {c.Query}, "saved": {strconv.FormatInt(c.ID, 10)}}.Encode())
}

// collectionFail answers a failed collection request: an unknown
// collection is a 404 page (with the way back), a refusal a person can act
// on (name taken, not a member…) the sentence, the rest as usual.
func (s *Server) collectionFail(w http.ResponseWriter, r *http.Request, back string, err error) {
	if reason.Code(err) == collections.CodeNotFound {
		s.fail(w, r, http.StatusNotFound, collections.CodeNotFound, err)
		return
	}
	s.refuse(w, r, back, err)
}

func (s *Server) handleCollections(w http.ResponseWriter, r *http.Request) {
	list, err := collections.List(r.Context(), s.rdb)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	s.render(w, r, "collections", map[string]any{"Colls": list, "Title": "coll.title", "Msg": s.banner(r)})
}

// collectionID reads ?id=; a malformed id is an unknown collection.
func (s *Server) collectionID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, ok := parseID(r.URL.Query().Get("id"))
	if !ok {
		s.fail(w, r, http.StatusNotFound, collections.CodeNotFound, nil)
	}
	return id, ok
}

// collectionPage loads an album and one page of it (after=/before= are
// (position, media id) cursors).
func (s *Server) collectionPage(w http.ResponseWriter, r *http.Request) (collections.Collection, collections.ItemsPage, bool) {
	id, ok := s.collectionID(w, r)
	if !ok {
		return collections.Collection{}, collections.ItemsPage{}, false
	}
	c, err := collections.Get(r.Context(), s.rdb, id)
	if err != nil {
		s.collectionFail(w, r, "", err)
		return c, collections.ItemsPage{}, false
	}
	if c.Saved {
		return c, collections.ItemsPage{}, true
	}
	_, pg := s.listParams(r)
	items, err := collections.Items(r.Context(), s.rdb, id, pg, info(r).sess.Adult)
	if err != nil {
		s.failErr(w, r, err)
		return c, items, false
	}
	return c, items, true
}

func (s *Server) handleCollection(w http.ResponseWriter, r *http.Request) {
	c, items, ok := s.collectionPage(w, r)
	if !ok {
		return
	}
	if c.Saved {
		// Re-evaluated when opened: the list runs the query now.
		http.Redirect(w, r, savedURL(c), http.StatusSeeOther)
		return
	}
	data := map[string]any{"C": c, "Items": items, "Title": "coll.album", "Msg": s.banner(r), "CardQS": albumQS(c.ID),
		"Query": url.Values{"id": {strconv.FormatInt(c.ID, 10)}}}
	if items.Next != nil {
		data["NextCursor"] = items.Next.String()
		data["NextURL"] = collectionURL(c.ID) + "&after=" + items.Next.String()
	}
	if items.Prev != nil {
		data["PrevURL"] = collectionURL(c.ID) + "&before=" + items.Prev.String()
	}
	s.render(w, r, "collection", data)
}

// handleCollectionJSON is the album's next page for infinite scroll, in
// the list's JSON form.
func (s *Server) handleCollectionJSON(w http.ResponseWriter, r *http.Request) {
	c, items, ok := s.collectionPage(w, r)
	if !ok {
		return
	}
	if c.Saved {
		s.fail(w, r, http.StatusBadRequest, collections.CodeNotManual, nil)
		return
	}
	resp := map[string]any{"ok": true, "items": cardsJSON(items.Cards, albumQS(c.ID))}
	if items.Next != nil {
		resp["next"] = items.Next.String()
	}
	writeJSON(w, http.StatusOK, resp)
}

// albumQS is the query a card of an album carries to its detail page
// (albumContext).
func albumQS(id int64) string { return "album=" + strconv.FormatInt(id, 10) }

// detailAlbum is the album a detail page was opened from.
type detailAlbum struct {
	prev, next int64
	qs, back   string
}

// albumContext reads ?album= on a detail page: its neighbours in the
// album's order and the way back to it. A media that is not (any more) in
// the album falls back to the list's context.
func (s *Server) albumContext(ctx context.Context, r *http.Request, mediaID int64) (detailAlbum, bool) {
	id, ok := parseID(r.URL.Query().Get("album"))
	if !ok {
		return detailAlbum{}, false
	}
	prev, next, member, err := collections.Neighbours(ctx, s.rdb, id, mediaID, info(r).sess.Adult)
	if err != nil {
		s.log.Warn().Err(err).Int64("collection_id", id).Msg("album neighbours not loaded")
	}
	if err != nil || !member {
		return detailAlbum{}, false
	}
	return detailAlbum{prev: prev, next: next, qs: albumQS(id), back: collectionURL(id)}, true
}

// parseIDs reads comma- or space-separated media ids (ids=, else
// media_id=); malformed parts are skipped.
func parseIDs(r *http.Request) []int64 {
	raw := r.PostFormValue("ids")
	if raw == "" {
		raw = r.PostFormValue("media_id")
	}
	return splitIDs(raw)
}

// splitIDs reads comma- or space-separated media ids; malformed parts are
// skipped.
func splitIDs(raw string) []int64 {
	var ids []int64
	for _, part := range strings.FieldsFunc(raw, func(r rune) bool { return r == ',' || r == ' ' }) {
		if id, ok := parseID(part); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// target is the album an action names: collection_id, else the name
// typed in the bulk bar or on the detail page.
func (s *Server) target(ctx context.Context, r *http.Request) (collections.Collection, error) {
	if id, ok := parseID(r.PostFormValue("collection_id")); ok {
		return collections.Get(ctx, s.db, id)
	}
	name, err := collections.ValidateName(r.PostFormValue("collection"))
	if err != nil {
		return collections.Collection{}, err
	}
	return collections.Resolve(ctx, s.db, name)
}

// addTarget is target for an "add": a new name creates the album.
func (s *Server) addTarget(ctx context.Context, r *http.Request, by collections.Actor) (collections.Collection, bool, error) {
	c, err := s.target(ctx, r)
	if reason.Code(err) != collections.CodeNotFound || r.PostFormValue("collection_id") != "" {
		return c, false, err
	}
	name, _ := collections.ValidateName(r.PostFormValue("collection"))
	c, err = collections.Create(ctx, s.db, name, "", "", by)
	return c, err == nil, err
}

// handleCollectionAction performs one write (form field action). A form
// post is redirected to back (or the page the result belongs on) with the
// sentence as a banner; fetch callers get JSON with the sentence.
func (s *Server) handleCollectionAction(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	by := s.actor(r)
	back := safeRedirect(r.PostFormValue("back"), "/collections")
	target := back
	id, _ := parseID(r.PostFormValue("collection_id"))
	ids := parseIDs(r)
	var (
		code string
		n    int64
		err  error
		out  = map[string]any{}
	)
	switch r.PostFormValue("action") {
	case "create":
		var c collections.Collection
		c, err = collections.Create(ctx, s.db, r.PostFormValue("name"), r.PostFormValue("description"), "", by)
		code, target, out["collection_id"] = "collection_created", collectionURL(c.ID), c.ID
	case "save_search":
		var c collections.Collection
		c, err = collections.Create(ctx, s.db, r.PostFormValue("name"), r.PostFormValue("description"), r.PostFormValue("query"), by)
		code, target, out["collection_id"] = "saved_search_created", savedURL(c), c.ID
	case "rename":
		err, code = collections.Rename(ctx, s.db, id, r.PostFormValue("name"), by), "collection_renamed"
	case "describe":
		err, code = collections.Describe(ctx, s.db, id, r.PostFormValue("description"), by), "saved"
	case "delete":
		err, code, target = collections.Delete(ctx, s.db, id, by), "collection_deleted", "/collections"
	case "add":
		var c collections.Collection
		var created bool
		if c, created, err = s.addTarget(ctx, r, by); err == nil {
			var res collections.AddResult
			res, err = collections.Add(ctx, s.db, c.ID, ids, by)
			n, out["already"] = int64(res.Added), res.Already
		}
		code, out["collection_id"], out["url"], out["created"] = "collection_added", c.ID, collectionURL(c.ID), created
	case "remove":
		var c collections.Collection
		var removed int
		if c, err = s.target(ctx, r); err == nil {
			removed, err = collections.Remove(ctx, s.db, c.ID, ids, by)
		}
		code, n = "collection_removed", int64(removed)
	case "move":
		to, _ := strconv.Atoi(r.PostFormValue("to"))
		err, code = collections.MoveTo(ctx, s.db, id, ids, to, by), "collection_moved"
	case "shift":
		delta, _ := strconv.Atoi(r.PostFormValue("delta"))
		err, code = collections.Shift(ctx, s.db, id, ids, delta, by), "collection_moved"
	default:
		s.fail(w, r, http.StatusBadRequest, CodeBadRequest, nil)
		return
	}
	if err != nil {
		s.collectionFail(w, r, back, err)
		return
	}
	s.answer(w, r, target, code, n, out)
}

// mediaCollections is the detail page's Collections panel data: the albums
// the media is in, and (for admins) every album name to offer.
func (s *Server) mediaCollections(ctx context.Context, mediaID int64, admin bool) map[string]any {
	of, err := collections.OfMedia(ctx, s.rdb, mediaID)
	if err != nil {
		s.log.Warn().Err(err).Int64("media_id", mediaID).Msg("collections of media not loaded")
	}
	return map[string]any{"Of": of, "Names": s.albumNames(ctx, admin)}
}

// albumNames are the album names the "add to collection" fields suggest
// (admins only: nobody else can add).
func (s *Server) albumNames(ctx context.Context, admin bool) []string {
	if !admin {
		return nil
	}
	// A bounded suggestion list; any other name can still be typed.
	names, err := collections.AlbumNames(ctx, s.rdb, 500)
	if err != nil {
		s.log.Warn().Err(err).Msg("collection names not loaded")
	}
	return names
}

// savedHeading is the saved search a list page shows (?saved=ID), while
// the list still runs that search's query.
func (s *Server) savedHeading(r *http.Request, q string) *collections.Collection {
	id, ok := parseID(r.URL.Query().Get("saved"))
	if !ok {
		return nil
	}
	c, err := collections.Get(r.Context(), s.rdb, id)
	if err != nil || !c.Saved || c.Query != strings.TrimSpace(q) {
		return nil
	}
	return &c
}

// cardsJSON is the JSON form of cards for infinite scroll; qs is the list
// query their detail links keep.
func cardsJSON(cards []catalog.Card, qs string) []cardJSON {
	out := make([]cardJSON, 0, len(cards))
	for _, c := range cards {
		ar := ""
		if c.Width > 0 && c.Height > 0 {
			ar = arClass(c.Width, c.Height)
		}
		out = append(out, cardJSON{ID: c.ID, Title: c.DisplayTitle(), Name: c.FileName(), Type: c.Type, Width: c.Width,
			Height: c.Height, Rating: c.Rating, NSFW: c.NSFW, Locked: c.NSFWLocked, ARClass: ar, Vote: c.Vote, Tags: c.TagCount, Prompt: c.HasPrompt,
			Deleted: c.Deleted, ThumbURL: "/thumb.php?id=" + strconv.FormatInt(c.ID, 10), ViewURL: mediaURL(c.ID, qs)})
	}
	return out
}
