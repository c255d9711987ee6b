package cpu

import (
	"fmt"

	"github.com/airanode/airanode/gpu"
)

type embedTask struct {
	back     bool
	out, tab []float32
	tok      []int32
	d        int
}

// Run: forward over rows [lo,hi); backward over columns [lo,hi), every row in increasing order.
func (t *embedTask) Run(lo, hi int) {
	d := t.d
	if !t.back {
		for r := lo; r < hi; r++ {
			id := int(t.tok[r])
			copy(t.out[r*d:(r+1)*d], t.tab[id*d:(id+1)*d])
		}
		return
	}
	// backward: t.out is dout [rows, d], t.tab is dtable
	for r, id := range t.tok {
		src := t.out[r*d+lo : r*d+hi]
		dst := t.tab[int(id)*d+lo : int(id)*d+hi]
		dst = dst[:len(src)]
		for j := range src {
			dst[j] += src[j]
		}
	}
}

// checkTokens records ErrIndex and returns false if a token id is outside [0, v).
func (d *Device) checkTokens(tok []int32, v int, kernel string) bool {
	for r, id := range tok {
		if id < 0 || int(id) >= v {
			d.fail(fmt.Errorf("%w: %s: token %d at row %d, table has %d rows", ErrIndex, kernel, id, r, v))
			return false
		}
	}
	return true
}

// Embed writes out[r,:] = table[tok[r],:] for r < tok.Len().
func (d *Device) Embed(out, table gpu.Buffer, tok gpu.Ints, dim int) {
	o, ok1 := d.f(out)
	tab, ok2 := d.f(table)
	ids, ok3 := d.i(tok)
	if !ok1 || !ok2 || !ok3 || !d.shape(dim > 0 && len(o) >= len(ids)*dim && len(tab)%dim == 0, "Embed") ||
		!d.checkTokens(ids, len(tab)/dim, "Embed") {
		return
	}
	t := &d.k.embed
	*t = embedTask{out: o, tab: tab, tok: ids, d: dim}
	d.parallel(len(ids), dim, t)
	*t = embedTask{}
}

// EmbedBackward accumulates dtable[tok[r],:] += dout[r,:]. Threads split the columns; every column
// adds its rows in increasing r.
func (d *Device) EmbedBackward(dtable, dout gpu.Buffer, tok gpu.Ints, dim int) {
	tab, ok1 := d.f(dtable)
	g, ok2 := d.f(dout)
	ids, ok3 := d.i(tok)
	if !ok1 || !ok2 || !ok3 || !d.shape(dim > 0 && len(g) >= len(ids)*dim && len(tab)%dim == 0, "EmbedBackward") ||
		!d.checkTokens(ids, len(tab)/dim, "EmbedBackward") {
		return
	}
	t := &d.k.embed
	*t = embedTask{back: true, out: g, tab: tab, tok: ids, d: dim}
	d.parallel(dim, len(ids), t)
	*t = embedTask{}
}

type posTask struct {
	back   bool
	x, pos []float32
	B, T   int
	d      int
}

// Run: forward over rows r = b*T+t in [lo,hi); backward over positions t in [lo,hi), b increasing.
func (t *posTask) Run(lo, hi int) {
	d := t.d
	if !t.back {
		for r := lo; r < hi; r++ {
			x := t.x[r*d : (r+1)*d]
			p := t.pos[(r%t.T)*d : (r%t.T+1)*d]
			p = p[:len(x)]
			for j := range x {
				x[j] += p[j]
			}
		}
		return
	}
	for tt := lo; tt < hi; tt++ {
		p := t.pos[tt*d : (tt+1)*d]
		for b := range t.B {
			x := t.x[(b*t.T+tt)*d : (b*t.T+tt+1)*d]
			x = x[:len(p)]
			for j := range p {
				p[j] += x[j]
			}
		}
	}
}

// AddPositions computes x[b*T+t,:] += pos[t,:].
func (d *Device) AddPositions(x, pos gpu.Buffer, B, T, dim int) {
	xs, ok1 := d.f(x)
	ps, ok2 := d.f(pos)
	if !ok1 || !ok2 || !d.shape(B >= 0 && T >= 0 && dim > 0 && len(xs) >= B*T*dim && len(ps) >= T*dim, "AddPositions") {
		return
	}
	t := &d.k.pos
	*t = posTask{x: xs, pos: ps, B: B, T: T, d: dim}
	d.parallel(B*T, dim, t)
	*t = posTask{}
}

// AddPositionsBackward accumulates dpos[t,:] += Σ_b dx[b*T+t,:], b increasing. Threads split t.
func (d *Device) AddPositionsBackward(dpos, dx gpu.Buffer, B, T, dim int) {
	ps, ok1 := d.f(dpos)
	xs, ok2 := d.f(dx)
	if !ok1 || !ok2 || !d.shape(B >= 0 && T >= 0 && dim > 0 && len(xs) >= B*T*dim && len(ps) >= T*dim, "AddPositionsBackward") {
		return
	}
	t := &d.k.pos
	*t = posTask{back: true, x: xs, pos: ps, B: B, T: T, d: dim}
	d.parallel(T, B*dim, t)
	*t = posTask{}
}
