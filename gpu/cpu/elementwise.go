package cpu

import (
	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/gpu/fmath"
)

// Elementwise operations share one task type; op selects the loop. Every element is independent, so
// the split over threads cannot change any bit.
type ewOp int

const (
	opFill ewOp = iota
	opCopy
	opAdd
	opAddInPlace
	opScale
	opSwiGLU
	opSwiGLUBack
	opGELU
	opGELUBack
	opSiLU
	opSiLUBack
	opSoftplus
	opSoftplusBack
	opNegExp
	opMul
	opMulBack
)

type ewTask struct {
	v         *vecImpl
	op        ewOp
	out, out2 []float32
	a, b, c   []float32
	s         float32
}

func (t *ewTask) Run(lo, hi int) {
	switch t.op {
	case opFill:
		o, v := t.out[lo:hi], t.s
		for i := range o {
			o[i] = v
		}
	case opCopy:
		copy(t.out[lo:hi], t.a[lo:hi])
	case opAdd:
		o := t.out[lo:hi]
		a, b := t.a[lo:hi], t.b[lo:hi]
		a, b = a[:len(o)], b[:len(o)]
		for i := range o {
			o[i] = a[i] + b[i]
		}
	case opAddInPlace:
		o := t.out[lo:hi]
		a := t.a[lo:hi]
		a = a[:len(o)]
		for i := range o {
			o[i] += a[i]
		}
	case opScale:
		o, s := t.out[lo:hi], t.s
		for i := range o {
			o[i] *= s
		}
	case opSwiGLU: // out = silu(gate)·up; a = gate, b = up
		t.v.swiglu(t.out[lo:hi], t.a[lo:hi], t.b[lo:hi])
	case opSwiGLUBack: // out = dgate, out2 = dup; a = dout, b = gate, c = up
		t.v.swigluBack(t.out[lo:hi], t.out2[lo:hi], t.a[lo:hi], t.b[lo:hi], t.c[lo:hi])
	case opGELU:
		t.v.gelu(t.out[lo:hi], t.a[lo:hi])
	case opGELUBack: // out = dx; a = dout, b = x
		t.v.geluBack(t.out[lo:hi], t.a[lo:hi], t.b[lo:hi])
	case opSiLU:
		t.v.silu(t.out[lo:hi], t.a[lo:hi])
	case opSiLUBack:
		t.v.siluBack(t.out[lo:hi], t.a[lo:hi], t.b[lo:hi])
	case opSoftplus:
		o := t.out[lo:hi]
		a := t.a[lo:hi]
		a = a[:len(o)]
		for i := range o {
			o[i] = fmath.Softplus(a[i])
		}
	case opSoftplusBack:
		o := t.out[lo:hi]
		dy, a := t.a[lo:hi], t.b[lo:hi]
		dy, a = dy[:len(o)], a[:len(o)]
		for i := range o {
			o[i] = dy[i] * fmath.Sigmoid(a[i])
		}
	case opNegExp:
		o := t.out[lo:hi]
		a := t.a[lo:hi]
		a = a[:len(o)]
		for i := range o {
			o[i] = -fmath.Exp(a[i])
		}
	case opMul:
		o := t.out[lo:hi]
		a, b := t.a[lo:hi], t.b[lo:hi]
		a, b = a[:len(o)], b[:len(o)]
		for i := range o {
			o[i] = a[i] * b[i]
		}
	case opMulBack: // out = da, out2 = db; a = dout, b = a, c = b
		da := t.out[lo:hi]
		db, dy, x, y := t.out2[lo:hi], t.a[lo:hi], t.b[lo:hi], t.c[lo:hi]
		db, dy, x, y = db[:len(da)], dy[:len(da)], x[:len(da)], y[:len(da)]
		for i := range da {
			g, xa, yb := dy[i], x[i], y[i]
			da[i] = g * yb
			db[i] = g * xa
		}
	}
}

// ew runs an elementwise op over n elements with the given relative cost per element.
func (d *Device) ew(op ewOp, n, cost int, out, out2, a, b, c []float32, s float32) {
	t := &d.k.ew
	*t = ewTask{v: d.vec, op: op, out: out, out2: out2, a: a, b: b, c: c, s: s}
	d.parallel(n, cost, t)
	*t = ewTask{}
}

// Fill sets every element of x to v.
func (d *Device) Fill(x gpu.Buffer, v float32) {
	xs, ok := d.f(x)
	if !ok {
		return
	}
	d.ew(opFill, len(xs), 1, xs, nil, nil, nil, nil, v)
}

// Copy copies src into dst.
func (d *Device) Copy(dst, src gpu.Buffer) {
	o, ok1 := d.f(dst)
	a, ok2 := d.f(src)
	if !ok1 || !ok2 || !d.shape(len(o) == len(a), "Copy") {
		return
	}
	d.ew(opCopy, len(o), 1, o, nil, a, nil, nil, 0)
}

// Add computes dst = a + b.
func (d *Device) Add(dst, a, b gpu.Buffer) {
	o, ok1 := d.f(dst)
	x, ok2 := d.f(a)
	y, ok3 := d.f(b)
	if !ok1 || !ok2 || !ok3 || !d.shape(len(o) == len(x) && len(o) == len(y), "Add") {
		return
	}
	d.ew(opAdd, len(o), 1, o, nil, x, y, nil, 0)
}

// AddInPlace computes dst += src.
func (d *Device) AddInPlace(dst, src gpu.Buffer) {
	o, ok1 := d.f(dst)
	a, ok2 := d.f(src)
	if !ok1 || !ok2 || !d.shape(len(o) == len(a), "AddInPlace") {
		return
	}
	d.ew(opAddInPlace, len(o), 1, o, nil, a, nil, nil, 0)
}

// Scale computes x *= s.
func (d *Device) Scale(x gpu.Buffer, s float32) {
	xs, ok := d.f(x)
	if !ok {
		return
	}
	d.ew(opScale, len(xs), 1, xs, nil, nil, nil, nil, s)
}

// unary checks and runs a one-input elementwise op.
func (d *Device) unary(op ewOp, name string, out, x gpu.Buffer) {
	o, ok1 := d.f(out)
	a, ok2 := d.f(x)
	if !ok1 || !ok2 || !d.shape(len(o) == len(a), name) {
		return
	}
	d.ew(op, len(o), 16, o, nil, a, nil, nil, 0)
}

// unaryBack checks and runs the backward of a one-input elementwise op.
func (d *Device) unaryBack(op ewOp, name string, dx, dout, x gpu.Buffer) {
	o, ok1 := d.f(dx)
	g, ok2 := d.f(dout)
	a, ok3 := d.f(x)
	if !ok1 || !ok2 || !ok3 || !d.shape(len(o) == len(g) && len(o) == len(a), name) {
		return
	}
	d.ew(op, len(o), 16, o, nil, g, a, nil, 0)
}

// SwiGLU computes out = silu(gate)·up, silu(x) = x·σ(x).
func (d *Device) SwiGLU(out, gate, up gpu.Buffer) {
	o, ok1 := d.f(out)
	g, ok2 := d.f(gate)
	u, ok3 := d.f(up)
	if !ok1 || !ok2 || !ok3 || !d.shape(len(o) == len(g) && len(o) == len(u), "SwiGLU") {
		return
	}
	d.ew(opSwiGLU, len(o), 16, o, nil, g, u, nil, 0)
}

// SwiGLUBackward overwrites dgate = dout·up·σ(g)(1+g(1-σ(g))) and dup = dout·silu(gate).
func (d *Device) SwiGLUBackward(dgate, dup, dout, gate, up gpu.Buffer) {
	dg, ok1 := d.f(dgate)
	du, ok2 := d.f(dup)
	dy, ok3 := d.f(dout)
	g, ok4 := d.f(gate)
	u, ok5 := d.f(up)
	n := len(dg)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 ||
		!d.shape(len(du) == n && len(dy) == n && len(g) == n && len(u) == n, "SwiGLUBackward") {
		return
	}
	d.ew(opSwiGLUBack, n, 16, dg, du, dy, g, u, 0)
}

// GELU computes the tanh approximation of GELU, ½x(1+tanh(√(2/π)(x+0.044715x³))), evaluated as
// x·σ(2√(2/π)(x+0.044715x³)) (the same function; no cancellation for negative x).
func (d *Device) GELU(out, x gpu.Buffer) { d.unary(opGELU, "GELU", out, x) }

// GELUBackward overwrites dx = dout·gelu'(x).
func (d *Device) GELUBackward(dx, dout, x gpu.Buffer) {
	d.unaryBack(opGELUBack, "GELUBackward", dx, dout, x)
}

// SiLU computes out = x·σ(x).
func (d *Device) SiLU(out, x gpu.Buffer) { d.unary(opSiLU, "SiLU", out, x) }

// SiLUBackward overwrites dx = dout·σ(x)(1+x(1-σ(x))).
func (d *Device) SiLUBackward(dx, dout, x gpu.Buffer) {
	d.unaryBack(opSiLUBack, "SiLUBackward", dx, dout, x)
}

// Softplus computes out = ln(1+eˣ).
func (d *Device) Softplus(out, x gpu.Buffer) { d.unary(opSoftplus, "Softplus", out, x) }

// SoftplusBackward overwrites dx = dout·σ(x).
func (d *Device) SoftplusBackward(dx, dout, x gpu.Buffer) {
	d.unaryBack(opSoftplusBack, "SoftplusBackward", dx, dout, x)
}

// NegExp computes out = -eˣ with fmath.Exp.
func (d *Device) NegExp(out, x gpu.Buffer) { d.unary(opNegExp, "NegExp", out, x) }

// Mul computes out = a·b.
func (d *Device) Mul(out, a, b gpu.Buffer) {
	o, ok1 := d.f(out)
	x, ok2 := d.f(a)
	y, ok3 := d.f(b)
	if !ok1 || !ok2 || !ok3 || !d.shape(len(o) == len(x) && len(o) == len(y), "Mul") {
		return
	}
	d.ew(opMul, len(o), 1, o, nil, x, y, nil, 0)
}

// MulBackward overwrites da = dout·b and db = dout·a.
func (d *Device) MulBackward(da, db, dout, a, b gpu.Buffer) {
	o1, ok1 := d.f(da)
	o2, ok2 := d.f(db)
	g, ok3 := d.f(dout)
	x, ok4 := d.f(a)
	y, ok5 := d.f(b)
	n := len(o1)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 ||
		!d.shape(len(o2) == n && len(g) == n && len(x) == n && len(y) == n, "MulBackward") {
		return
	}
	d.ew(opMulBack, n, 2, o1, o2, g, x, y, 0)
}

// sumSqBlock is the fixed block size of SumSquares: each block is summed alone, then the block sums in
// block order, so the result does not depend on the thread count.
const sumSqBlock = 4096

type sumSqTask struct {
	x    []float32
	part []float64
}

func (t *sumSqTask) Run(lo, hi int) {
	for blk := lo; blk < hi; blk++ {
		x := t.x[blk*sumSqBlock : min(len(t.x), (blk+1)*sumSqBlock)]
		var s float64
		for _, v := range x {
			f := float64(v)
			s += float64(f * f) // exact: a float32 squared fits in a float64
		}
		t.part[blk] = s
	}
}

// SumSquares returns Σ x² in float64: every block of 4096 elements is summed in index order, then the
// block sums in block order.
func (d *Device) SumSquares(x gpu.Buffer) float64 {
	xs, ok := d.f(x)
	if !ok {
		return 0
	}
	nb := (len(xs) + sumSqBlock - 1) / sumSqBlock
	t := &d.k.sumSq
	t.x, t.part = xs, d.scr.f64(&d.scr.partial, nb)
	d.parallel(nb, sumSqBlock, t)
	var s float64
	for _, p := range t.part {
		s += p
	}
	t.x = nil
	return s
}
