package cpu

import (
	"math"

	"github.com/airanode/airanode/gpu"
)

type normKind int

const (
	rmsForward normKind = iota
	rmsBackward
	lnForward
	lnBackward
)

// normTask runs the per-row part of the norms: every row is independent; the row statistics are
// eight-lane float64 sums (vec_norm.go).
type normTask struct {
	v               *vecImpl
	kind            normKind
	out, x, w, b, g []float32
	mean, rstd      []float32
	d               int
	eps             float32
}

func (t *normTask) Run(lo, hi int) {
	d, v := t.d, t.v
	fd := float64(d)
	for r := lo; r < hi; r++ {
		x := t.x[r*d : (r+1)*d]
		o := t.out[r*d : (r+1)*d]
		switch t.kind {
		case rmsForward:
			ss := v.sumSq64(x)
			rs := float32(1 / math.Sqrt(lanes8(&ss)/fd+float64(t.eps)))
			t.rstd[r] = rs
			v.rmsOut(o, x, t.w, rs)
		case rmsBackward:
			g := t.g[r*d : (r+1)*d]
			rs := t.rstd[r]
			dot := v.gwDot64(g, t.w, x)
			c := float32(float64(rs) * float64(rs) * lanes8(&dot) / fd)
			v.rmsBackDx(o, g, t.w, x, rs, c)
		case lnForward:
			s := v.sum64(x)
			mean := lanes8(&s) / fd
			vs := v.sumSqDev64(x, mean)
			rs := float32(1 / math.Sqrt(lanes8(&vs)/fd+float64(t.eps)))
			m := float32(mean)
			t.mean[r], t.rstd[r] = m, rs
			v.lnOut(o, x, t.w, t.b, m, rs)
		case lnBackward:
			g := t.g[r*d : (r+1)*d]
			m, rs := t.mean[r], t.rstd[r]
			s1, s2 := v.lnBackSums(g, t.w, x, m, rs)
			a := float32(lanes8(&s1) / fd)
			bb := float32(lanes8(&s2) / fd)
			v.lnBackDx(o, g, t.w, x, m, rs, a, bb)
		}
	}
}

// normColsTask accumulates the parameter gradients of the norms: threads split the columns and every
// column sums its rows in increasing order in float64, then adds the sum to the gradient once.
type normColsTask struct {
	v          *vecImpl
	ln         bool
	dw, db     []float32
	g, x       []float32
	mean, rstd []float32
	rows, d    int
	acc        []float64 // [2·d]: Σ g·x̂, then Σ g
}

func (t *normColsTask) Run(lo, hi int) {
	d, v := t.d, t.v
	aw := t.acc[lo:hi]
	ab := t.acc[d+lo : d+hi]
	for r := range t.rows {
		x := t.x[r*d+lo : r*d+hi]
		g := t.g[r*d+lo : r*d+hi]
		if t.ln {
			v.colAccLN(aw, ab, g, x, t.mean[r], t.rstd[r])
		} else {
			v.colAccRMS(aw, g, x, t.rstd[r])
		}
	}
	dw := t.dw[lo:hi]
	dw = dw[:len(aw)]
	for j := range aw {
		dw[j] = float32(float64(dw[j]) + aw[j])
	}
	if t.ln {
		db := t.db[lo:hi]
		db = db[:len(ab)]
		for j := range ab {
			db[j] = float32(float64(db[j]) + ab[j])
		}
	}
}

// RMSNorm computes out = x·rstd·w per row, rstd = 1/√(mean(x²)+eps), and saves rstd.
func (d *Device) RMSNorm(out, rstd, x, w gpu.Buffer, rows, dim int, eps float32) {
	o, ok1 := d.f(out)
	rs, ok2 := d.f(rstd)
	xs, ok3 := d.f(x)
	ws, ok4 := d.f(w)
	if !ok1 || !ok2 || !ok3 || !ok4 || !d.shape(rows >= 0 && dim > 0 && len(o) >= rows*dim &&
		len(xs) >= rows*dim && len(rs) >= rows && len(ws) >= dim, "RMSNorm") {
		return
	}
	t := &d.k.norm
	*t = normTask{v: d.vec, kind: rmsForward, out: o, rstd: rs, x: xs, w: ws, d: dim, eps: eps}
	d.parallel(rows, dim, t)
	*t = normTask{}
}

// RMSNormBackward overwrites dx = rstd·(g⊙w − x·rstd²·⟨g⊙w, x⟩/d) and accumulates dw += Σ_rows g·x·rstd.
func (d *Device) RMSNormBackward(dx, dw, dout, x, w, rstd gpu.Buffer, rows, dim int) {
	o, ok1 := d.f(dx)
	dws, ok2 := d.f(dw)
	g, ok3 := d.f(dout)
	xs, ok4 := d.f(x)
	ws, ok5 := d.f(w)
	rs, ok6 := d.f(rstd)
	n := rows * dim
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !d.shape(rows >= 0 && dim > 0 && len(o) >= n &&
		len(g) >= n && len(xs) >= n && len(rs) >= rows && len(ws) >= dim && len(dws) >= dim, "RMSNormBackward") {
		return
	}
	t := &d.k.norm
	*t = normTask{v: d.vec, kind: rmsBackward, out: o, rstd: rs, x: xs, w: ws, g: g, d: dim}
	d.parallel(rows, dim, t)
	*t = normTask{}
	c := &d.k.normCols
	*c = normColsTask{v: d.vec, dw: dws, g: g, x: xs, rstd: rs, rows: rows, d: dim, acc: d.scr.f64(&d.scr.colAcc, 2*dim)}
	d.parallel(dim, rows, c)
	*c = normColsTask{}
}

// LayerNorm computes out = (x−mean)·rstd·w + b per row and saves mean and rstd.
func (d *Device) LayerNorm(out, mean, rstd, x, w, b gpu.Buffer, rows, dim int, eps float32) {
	o, ok1 := d.f(out)
	ms, ok2 := d.f(mean)
	rs, ok3 := d.f(rstd)
	xs, ok4 := d.f(x)
	ws, ok5 := d.f(w)
	bs, ok6 := d.f(b)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !d.shape(rows >= 0 && dim > 0 && len(o) >= rows*dim &&
		len(xs) >= rows*dim && len(rs) >= rows && len(ms) >= rows && len(ws) >= dim && len(bs) >= dim, "LayerNorm") {
		return
	}
	t := &d.k.norm
	*t = normTask{v: d.vec, kind: lnForward, out: o, mean: ms, rstd: rs, x: xs, w: ws, b: bs, d: dim, eps: eps}
	d.parallel(rows, dim, t)
	*t = normTask{}
}

// LayerNormBackward overwrites dx = rstd·(g⊙w − mean(g⊙w) − x̂·mean(g⊙w⊙x̂)) and accumulates
// dw += Σ_rows g·x̂ and db += Σ_rows g.
func (d *Device) LayerNormBackward(dx, dw, db, dout, x, w, mean, rstd gpu.Buffer, rows, dim int) {
	o, ok1 := d.f(dx)
	dws, ok2 := d.f(dw)
	dbs, ok3 := d.f(db)
	g, ok4 := d.f(dout)
	xs, ok5 := d.f(x)
	ws, ok6 := d.f(w)
	ms, ok7 := d.f(mean)
	rs, ok8 := d.f(rstd)
	n := rows * dim
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !ok7 || !ok8 || !d.shape(rows >= 0 && dim > 0 &&
		len(o) >= n && len(g) >= n && len(xs) >= n && len(rs) >= rows && len(ms) >= rows &&
		len(ws) >= dim && len(dws) >= dim && len(dbs) >= dim, "LayerNormBackward") {
		return
	}
	t := &d.k.norm
	*t = normTask{v: d.vec, kind: lnBackward, out: o, mean: ms, rstd: rs, x: xs, w: ws, g: g, d: dim}
	d.parallel(rows, dim, t)
	*t = normTask{}
	c := &d.k.normCols
	*c = normColsTask{v: d.vec, ln: true, dw: dws, db: dbs, g: g, x: xs, mean: ms, rstd: rs, rows: rows, d: dim,
		acc: d.scr.f64(&d.scr.colAcc, 2*dim)}
	d.parallel(dim, rows, c)
	*c = normColsTask{}
}
