package catalog

import (
	"context"
	"database/sql"
	"strings"
)

// CardsByID returns the filled cards of ids in the order given (ids without
// a media row are left out): pages ordered by something other than a media
// column, such as an album's manual order, select their ids first.
func CardsByID(ctx context.Context, q *sql.DB, ids []int64) ([]Card, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	found, err := cardsWhere(ctx, q, "m.id IN (?"+strings.Repeat(",?", len(ids)-1)+")", args...)
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]Card, len(found))
	for _, c := range found {
		byID[c.ID] = c
	}
	cards := make([]Card, 0, len(ids))
	for _, id := range ids {
		if c, ok := byID[id]; ok {
			cards = append(cards, c)
		}
	}
	return cards, FillCards(ctx, q, cards)
}
