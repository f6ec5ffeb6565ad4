package db

import (
	"encoding/json"

	"github.com/localsupervisor/supervisor/pkg/phash"
)

// The SQL functions of the query language's similar: term (pkg/catalog):
// sv_hamming(a, b) is the Hamming distance of two stored hashes (NULL when
// either is NULL), and sv_phash_band(h, i, r) the JSON array of the 16-bit
// values within r bits of band i of h — the band index keys a candidate
// may have (pkg/similar's multi-index lookup, written in SQL so a query
// compiles without reading the database first).

func svHamming(a, b any) any {
	x, ok1 := a.(int64)
	y, ok2 := b.(int64)
	if !ok1 || !ok2 {
		return nil
	}
	return int64(phash.Distance(phash.FromInt64(x), phash.FromInt64(y)))
}

func svPHashBand(h any, band, r int64) any {
	x, ok := h.(int64)
	if !ok || band < 0 || band > 3 || r < 0 || r > 4 {
		return nil
	}
	js, err := json.Marshal(phash.BandNeighbours(phash.Bands(phash.FromInt64(x))[band], int(r)))
	if err != nil {
		return nil
	}
	return string(js)
}
