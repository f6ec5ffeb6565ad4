package phash

// Bands splits h into its four 16-bit bands (band 0 = the low bits): the
// keys of the similar lookup's multi-index hashing (pkg/similar). Two
// hashes within distance d differ in at most ⌊d/4⌋ bits in some band.
func Bands(h Hash) [4]uint16 {
	var b [4]uint16
	for i := range b {
		b[i] = uint16(uint64(h) >> (16 * i))
	}
	return b
}

// BandNeighbours lists the 16-bit values within r bits of v (v first):
// 1, 17, 137, 697 values for r = 0..3.
func BandNeighbours(v uint16, r int) []int {
	out := []int{int(v)}
	var walk func(x uint16, from, left int)
	walk = func(x uint16, from, left int) {
		if left == 0 {
			return
		}
		for bit := from; bit < 16; bit++ {
			y := x ^ (1 << bit)
			out = append(out, int(y))
			walk(y, bit+1, left-1)
		}
	}
	walk(v, 0, r)
	return out
}
