package pngstream

import "image"

// scaler box-filters rows into the output as they are decoded: each
// source pixel adds its alpha-weighted colour to the one output pixel it
// falls in; an output row is written when the source moves past it.
type scaler struct {
	w, h, tw, th int
	col          []int32  // output column of each source column
	colN         []uint32 // source columns per output column
	acc          []uint64 // per output column: r·a, g·a, b·a, a
	rows         int      // source rows in acc
	oy           int      // output row acc belongs to
	out          *image.NRGBA
}

// ThumbSize is the size Scale produces for a w×h image and maxEdge: the
// long edge becomes maxEdge unless the image is smaller (it is never
// enlarged); the short edge follows nfnt/resize.Thumbnail's integer math.
func ThumbSize(w, h, maxEdge int) (int, int) {
	tw, th := w, h
	if maxEdge < tw {
		tw, th = maxEdge, max(1, h*maxEdge/w)
	}
	if maxEdge < th {
		th, tw = maxEdge, max(1, tw*maxEdge/th)
	}
	return tw, th
}

func newScaler(c Config, maxEdge int) *scaler {
	tw, th := ThumbSize(c.Width, c.Height, maxEdge)
	s := &scaler{w: c.Width, h: c.Height, tw: tw, th: th, col: make([]int32, c.Width), colN: make([]uint32, tw),
		acc: make([]uint64, 4*tw), out: image.NewNRGBA(image.Rect(0, 0, tw, th))}
	for x := range s.col {
		ox := int32(int64(x) * int64(tw) / int64(c.Width))
		s.col[x] = ox
		s.colN[ox]++
	}
	return s
}

func (s *scaler) addRow(y int, px []byte) {
	oy := int(int64(y) * int64(s.th) / int64(s.h))
	if oy != s.oy {
		s.flush()
		s.oy = oy
	}
	acc := s.acc
	for x, ox := range s.col {
		p := px[4*x : 4*x+4 : 4*x+4]
		a := uint64(p[3])
		i := 4 * int(ox)
		acc[i] += uint64(p[0]) * a
		acc[i+1] += uint64(p[1]) * a
		acc[i+2] += uint64(p[2]) * a
		acc[i+3] += a
	}
	s.rows++
}

// flush writes the accumulated output row and clears the sums.
func (s *scaler) flush() {
	if s.rows == 0 {
		return
	}
	row := s.out.Pix[s.oy*s.out.Stride:]
	for ox := 0; ox < s.tw; ox++ {
		i := 4 * ox
		sa := s.acc[i+3]
		n := uint64(s.colN[ox]) * uint64(s.rows)
		if sa > 0 {
			row[i] = uint8((s.acc[i] + sa/2) / sa)
			row[i+1] = uint8((s.acc[i+1] + sa/2) / sa)
			row[i+2] = uint8((s.acc[i+2] + sa/2) / sa)
			row[i+3] = uint8((sa + n/2) / n)
		} else {
			row[i], row[i+1], row[i+2], row[i+3] = 0, 0, 0, 0
		}
		s.acc[i], s.acc[i+1], s.acc[i+2], s.acc[i+3] = 0, 0, 0, 0
	}
	s.rows = 0
}
