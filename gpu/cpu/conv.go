package cpu

import "github.com/airanode/airanode/gpu"

// convTask computes the causal depthwise convolution (forward) or its input gradient (backward) for
// rows [lo,hi); every row is independent.
type convTask struct {
	back            bool
	out, x, w, bias []float32
	T, C, width     int
}

func (t *convTask) Run(lo, hi int) {
	C, W := t.C, t.width
	for r := lo; r < hi; r++ {
		tt := r % t.T
		o := t.out[r*C : (r+1)*C]
		if !t.back {
			// out[t,c] = bias[c] + Σ_j w[c,j]·x[t−W+1+j, c], j increasing, each product rounded.
			copy(o, t.bias[:C])
			for j := range W {
				src := tt - W + 1 + j
				if src < 0 {
					continue
				}
				x := t.x[(r-tt+src)*C : (r-tt+src+1)*C]
				x = x[:len(o)]
				for c := range o {
					o[c] += float32(t.w[c*W+j] * x[c])
				}
			}
			continue
		}
		// dx[s,c] = Σ_j w[c,j]·dout[s+W−1−j, c] over the rows that exist, j increasing.
		clear(o)
		for j := range W {
			dst := tt + W - 1 - j
			if dst >= t.T {
				continue
			}
			g := t.x[(r-tt+dst)*C : (r-tt+dst+1)*C]
			g = g[:len(o)]
			for c := range o {
				o[c] += float32(t.w[c*W+j] * g[c])
			}
		}
	}
}

// convColsTask accumulates dw and dbias for channels [lo,hi): every (c, j) sums over sequences b and
// positions t in increasing order, in float64, and is added to the gradient once.
type convColsTask struct {
	dw, dbias, dout, x []float32
	B, T, C, width     int
	acc                []float64 // [C·width] then [C]
}

func (t *convColsTask) Run(lo, hi int) {
	C, W := t.C, t.width
	aw := t.acc[lo*W : hi*W]
	ab := t.acc[C*W+lo : C*W+hi]
	for b := range t.B {
		for tt := range t.T {
			r := b*t.T + tt
			g := t.dout[r*C+lo : r*C+hi]
			g = g[:len(ab)]
			for c := range g {
				ab[c] += float64(g[c])
			}
			for j := range W {
				src := tt - W + 1 + j
				if src < 0 {
					continue
				}
				x := t.x[(r-tt+src)*C+lo : (r-tt+src)*C+hi]
				x = x[:len(g)]
				for c := range g {
					aw[c*W+j] += float64(float64(g[c]) * float64(x[c]))
				}
			}
		}
	}
	dw := t.dw[lo*W : hi*W]
	dw = dw[:len(aw)]
	for i := range aw {
		dw[i] = float32(float64(dw[i]) + aw[i])
	}
	db := t.dbias[lo:hi]
	db = db[:len(ab)]
	for c := range ab {
		db[c] = float32(float64(db[c]) + ab[c])
	}
}

// CausalConv1D computes out[b,t,c] = bias[c] + Σ_j w[c,j]·x[b,t−width+1+j,c] (zero before t=0), the
// sum starting from the bias and adding the rounded products in increasing j. Threads split rows.
func (d *Device) CausalConv1D(out, x, w, bias gpu.Buffer, B, T, C, width int) {
	o, ok1 := d.f(out)
	xs, ok2 := d.f(x)
	ws, ok3 := d.f(w)
	bs, ok4 := d.f(bias)
	n := B * T * C
	if !ok1 || !ok2 || !ok3 || !ok4 || !d.shape(B >= 0 && T > 0 && C > 0 && width > 0 &&
		len(o) >= n && len(xs) >= n && len(ws) >= C*width && len(bs) >= C, "CausalConv1D") {
		return
	}
	t := &d.k.conv
	*t = convTask{out: o, x: xs, w: ws, bias: bs, T: T, C: C, width: width}
	d.parallel(B*T, C*width, t)
	*t = convTask{}
}

// CausalConv1DBackward overwrites dx (threads split rows) and accumulates dw and dbias (threads split
// channels; see convColsTask for the order).
func (d *Device) CausalConv1DBackward(dx, dw, dbias, dout, x, w gpu.Buffer, B, T, C, width int) {
	dxs, ok1 := d.f(dx)
	dws, ok2 := d.f(dw)
	dbs, ok3 := d.f(dbias)
	g, ok4 := d.f(dout)
	xs, ok5 := d.f(x)
	ws, ok6 := d.f(w)
	n := B * T * C
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !d.shape(B >= 0 && T > 0 && C > 0 && width > 0 &&
		len(dxs) >= n && len(g) >= n && len(xs) >= n && len(ws) >= C*width && len(dws) >= C*width &&
		len(dbs) >= C, "CausalConv1DBackward") {
		return
	}
	t := &d.k.conv
	*t = convTask{back: true, out: dxs, x: g, w: ws, T: T, C: C, width: width}
	d.parallel(B*T, C*width, t)
	*t = convTask{}
	c := &d.k.convB
	*c = convColsTask{dw: dws, dbias: dbs, dout: g, x: xs, B: B, T: T, C: C, width: width,
		acc: d.scr.f64(&d.scr.colAcc, C*width+C)}
	d.parallel(C, B*T*width, c)
	*c = convColsTask{}
}
