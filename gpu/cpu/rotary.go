package cpu

import (
	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/gpu/fmath"
)

// ropeKey identifies the cached rotary tables.
type ropeKey struct {
	T, rotDim int
	base      float32
}

// ropeTables returns cos and sin tables [T, rotDim/2]: angle(t, i) = t·base^(−2i/rotDim), computed in
// float64 (θ_i = Exp64(−(2i/rotDim)·Log64(base))) and rounded once by fmath.SinCos. They are cached
// until the shape or base changes.
func (d *Device) ropeTables(T, rotDim int, base float32) (cos, sin []float32) {
	k := ropeKey{T, rotDim, base}
	half := rotDim / 2
	p := &d.scr
	if p.rope != k || len(p.ropeCos) != T*half {
		p.ropeCos = grow32(p.ropeCos, T*half)
		p.ropeSin = grow32(p.ropeSin, T*half)
		lb := fmath.Log64(float64(base))
		for i := range half {
			theta := fmath.Exp64(-float64(2*i) / float64(rotDim) * lb)
			for t := range T {
				s, c := fmath.SinCos(float64(t) * theta)
				p.ropeCos[t*half+i], p.ropeSin[t*half+i] = c, s
			}
		}
		p.rope = k
	}
	return p.ropeCos, p.ropeSin
}

type rotaryTask struct {
	back              bool
	x, cos, sin       []float32
	T, heads, D, half int
}

// Run rotates rows [lo,hi); every (row, head, pair) is independent.
func (t *rotaryTask) Run(lo, hi int) {
	half, D := t.half, t.D
	for r := lo; r < hi; r++ {
		tt := r % t.T
		c := t.cos[tt*half : (tt+1)*half]
		s := t.sin[tt*half : (tt+1)*half]
		s = s[:len(c)]
		for h := range t.heads {
			o := (r*t.heads + h) * D
			x1 := t.x[o : o+half]
			x2 := t.x[o+half : o+2*half]
			x1, x2 = x1[:len(c)], x2[:len(c)]
			if !t.back {
				for i := range c {
					a, b := x1[i], x2[i]
					x1[i] = float32(a*c[i]) - float32(b*s[i])
					x2[i] = float32(b*c[i]) + float32(a*s[i])
				}
			} else {
				for i := range c {
					a, b := x1[i], x2[i]
					x1[i] = float32(a*c[i]) + float32(b*s[i])
					x2[i] = float32(b*c[i]) - float32(a*s[i])
				}
			}
		}
	}
}

func (d *Device) rotary(back bool, name string, x gpu.Buffer, B, T, heads, D, rotDim int, base float32) {
	xs, ok := d.f(x)
	if !ok || !d.shape(B >= 0 && T > 0 && heads > 0 && D > 0 && rotDim >= 0 && rotDim%2 == 0 && rotDim <= D &&
		len(xs) >= B*T*heads*D && base > 0, name) {
		return
	}
	if rotDim == 0 {
		return
	}
	cos, sin := d.ropeTables(T, rotDim, base)
	t := &d.k.rotary
	*t = rotaryTask{back: back, x: xs, cos: cos, sin: sin, T: T, heads: heads, D: D, half: rotDim / 2}
	d.parallel(B*T, heads*rotDim, t)
	*t = rotaryTask{}
}

// Rotary rotates, in place, the pairs (i, i+rotDim/2) of the first rotDim dimensions of every head of
// x [B*T, heads*D] by the angle t·base^(−2i/rotDim) (GPT-NeoX layout):
// x₁' = x₁cos − x₂sin, x₂' = x₂cos + x₁sin.
func (d *Device) Rotary(x gpu.Buffer, B, T, heads, D, rotDim int, base float32) {
	d.rotary(false, "Rotary", x, B, T, heads, D, rotDim, base)
}

// RotaryBackward applies the inverse rotation to the gradient in place.
func (d *Device) RotaryBackward(dx gpu.Buffer, B, T, heads, D, rotDim int, base float32) {
	d.rotary(true, "RotaryBackward", dx, B, T, heads, D, rotDim, base)
}
