package gpu

import (
	"fmt"
	"math"

	"github.com/airanode/airanode/gpu/fmath"
)

// AdamWScalars are the per-step scalars of one AdamW update, computed on the host once per step in
// the same way by every device, so that devices whose per-element arithmetic agrees also agree on
// the update: per element i,
//
//	w = p[i]·Decay  (where decay applies)
//	m = float32(B1·m[i]) + float32(OneMinusB1·g)
//	v = float32(B2·v[i]) + float32(float32(OneMinusB2·g)·g)
//	p[i] = w − float32(StepSize·m) / (√v / SqrtBC2 + Eps)
type AdamWScalars struct {
	B1, B2, OneMinusB1, OneMinusB2 float32
	// Decay is 1 − lr·wd, StepSize lr/(1−β₁ᵗ), SqrtBC2 √(1−β₂ᵗ): the bias corrections in float64
	// with gpu/fmath, rounded once.
	Decay, StepSize, SqrtBC2 float32
	Eps                      float32
}

// Validate reports whether h is a step AdamWStep can take: Step at least 1, β₁ and β₂ in [0, 1).
func (h AdamW) Validate() error {
	if h.Step < 1 || !(h.Beta1 >= 0 && h.Beta1 < 1) || !(h.Beta2 >= 0 && h.Beta2 < 1) {
		return fmt.Errorf("gpu: AdamW step %d with betas %v, %v: want a step from 1 and betas in [0, 1)", h.Step, h.Beta1, h.Beta2)
	}
	return nil
}

// Scalars returns the step's scalars, for an h that Validate accepts.
func (h AdamW) Scalars() AdamWScalars {
	pow := func(b float32) float64 { // b^step for 0 ≤ b < 1
		if b == 0 {
			return 0
		}
		return fmath.Exp64(float64(h.Step) * fmath.Log64(float64(b)))
	}
	bc1, bc2 := 1-pow(h.Beta1), 1-pow(h.Beta2)
	return AdamWScalars{
		B1: h.Beta1, B2: h.Beta2, OneMinusB1: 1 - h.Beta1, OneMinusB2: 1 - h.Beta2,
		Decay:    float32(1 - float64(float64(h.LR)*float64(h.WeightDecay))),
		StepSize: float32(float64(h.LR) / bc1),
		SqrtBC2:  float32(math.Sqrt(bc2)),
		Eps:      h.Eps,
	}
}
