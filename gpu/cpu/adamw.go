package cpu

import (
	"math"

	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/gpu/fmath"
)

type adamwTask struct {
	p, g, m, v, decay  []float32
	b1, b2, omb1, omb2 float32
	decayF, stepSize   float32
	bc2s, eps          float32
}

// Run updates elements [lo,hi); elements are independent.
func (t *adamwTask) Run(lo, hi int) {
	p := t.p[lo:hi]
	g, m, v := t.g[lo:hi], t.m[lo:hi], t.v[lo:hi]
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	var dec []float32
	if t.decay != nil {
		dec = t.decay[lo:hi]
		dec = dec[:len(p)]
	}
	for i := range p {
		w := p[i]
		if dec == nil || dec[i] != 0 {
			w *= t.decayF
		}
		gi := g[i]
		mi := float32(t.b1*m[i]) + float32(t.omb1*gi)
		vi := float32(t.b2*v[i]) + float32(float32(t.omb2*gi)*gi)
		m[i], v[i] = mi, vi
		denom := fmath.Sqrt(vi)/t.bc2s + t.eps
		p[i] = w - float32(t.stepSize*mi)/denom
	}
}

// AdamWStep updates params in place (PyTorch's AdamW): p ← p·(1 − lr·wd) where decay is 1 (or
// everywhere when decay is nil); m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
// p ← p − (lr/(1−β₁ᵗ))·m / (√v/√(1−β₂ᵗ) + eps). The bias corrections are computed in float64 with
// fmath. Threads split elements.
func (d *Device) AdamWStep(params, grads, m, v, decay gpu.Buffer, h gpu.AdamW) {
	ps, ok1 := d.f(params)
	gs, ok2 := d.f(grads)
	ms, ok3 := d.f(m)
	vs, ok4 := d.f(v)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return
	}
	var dec []float32
	if decay != nil {
		var ok bool
		if dec, ok = d.f(decay); !ok {
			return
		}
	}
	n := len(ps)
	if !d.shape(len(gs) == n && len(ms) == n && len(vs) == n && (dec == nil || len(dec) == n) && h.Step >= 1 &&
		h.Beta1 >= 0 && h.Beta1 < 1 && h.Beta2 >= 0 && h.Beta2 < 1, "AdamWStep") {
		return
	}
	pow := func(b float32) float64 { // b^step for 0 ≤ b < 1
		if b == 0 {
			return 0
		}
		return fmath.Exp64(float64(h.Step) * fmath.Log64(float64(b)))
	}
	bc1, bc2 := 1-pow(h.Beta1), 1-pow(h.Beta2)
	t := &d.k.adamw
	*t = adamwTask{p: ps, g: gs, m: ms, v: vs, decay: dec,
		b1: h.Beta1, b2: h.Beta2, omb1: 1 - h.Beta1, omb2: 1 - h.Beta2,
		decayF:   float32(1 - float64(float64(h.LR)*float64(h.WeightDecay))),
		stepSize: float32(float64(h.LR) / bc1),
		bc2s:     float32(math.Sqrt(bc2)),
		eps:      h.Eps}
	d.parallel(n, 8, t)
	*t = adamwTask{}
}
