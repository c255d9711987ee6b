package cpu

import (
	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/gpu/fmath"
)

type adamwTask struct {
	p, g, m, v, decay []float32
	gpu.AdamWScalars
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
			w *= t.Decay
		}
		gi := g[i]
		mi := float32(t.B1*m[i]) + float32(t.OneMinusB1*gi)
		vi := float32(t.B2*v[i]) + float32(float32(t.OneMinusB2*gi)*gi)
		m[i], v[i] = mi, vi
		denom := fmath.Sqrt(vi)/t.SqrtBC2 + t.Eps
		p[i] = w - float32(t.StepSize*mi)/denom
	}
}

// AdamWStep updates params in place (PyTorch's AdamW): p ← p·(1 − lr·wd) where decay is 1 (or
// everywhere when decay is nil); m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
// p ← p − (lr/(1−β₁ᵗ))·m / (√v/√(1−β₂ᵗ) + eps), with the scalars and the arithmetic of
// gpu.AdamWScalars. Threads split elements.
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
	if !d.shape(len(gs) == n && len(ms) == n && len(vs) == n && (dec == nil || len(dec) == n) && h.Validate() == nil, "AdamWStep") {
		return
	}
	t := &d.k.adamw
	*t = adamwTask{p: ps, g: gs, m: ms, v: vs, decay: dec, AdamWScalars: h.Scalars()}
	d.parallel(n, 8, t)
	*t = adamwTask{}
}
