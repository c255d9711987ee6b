package train

import (
	"fmt"
	"math"

	"github.com/airanode/airanode/gpu/fmath"
)

// Hyper holds a training run's hyper-parameters. Every field is part of what a task fixes: two runs
// with equal Hyper, architecture, shape, data and device class produce identical digests.
type Hyper struct {
	// Steps is the number of optimizer steps; Segments (K) the number of digest segments they are cut
	// into (1 <= K <= Steps). Segment j (1..K) ends after step floor(j·Steps/K).
	Steps, Segments int
	// Warmup is the number of linear warmup steps (0 <= Warmup < Steps).
	Warmup int
	// LR is the peak learning rate, MinLR the floor of the cosine decay (0 <= MinLR <= LR).
	LR, MinLR float32
	// WeightDecay is AdamW's decoupled weight decay, applied to matrices and embeddings only.
	WeightDecay float32
	// Beta1, Beta2 and Eps are AdamW's moment decay rates and denominator epsilon.
	Beta1, Beta2, Eps float32
	// GradClip is the maximum global gradient norm; gradients with a larger L2 norm are scaled down
	// to it. 0 disables clipping.
	GradClip float32
	// Seed determines the initial weights and the training RNG stream.
	Seed uint64
}

// DefaultHyper returns the engine's defaults for a run of the given length: peak LR 1e-3 with 1%
// warmup and cosine decay to 1e-5, weight decay 0.1, β = (0.9, 0.95), eps 1e-8,
// clipping at norm 1, one segment per 100 steps (at most 16, at least 1), seed 0.
func DefaultHyper(steps int) Hyper {
	return Hyper{
		Steps:       steps,
		Segments:    max(1, min(16, steps/100)),
		Warmup:      steps / 100,
		LR:          1e-3,
		MinLR:       1e-5,
		WeightDecay: 0.1,
		Beta1:       0.9,
		Beta2:       0.95,
		Eps:         1e-8,
		GradClip:    1,
	}
}

// MaxSteps bounds Hyper.Steps.
const MaxSteps = 1 << 30

// Validate reports the first invalid field.
func (h Hyper) Validate() error {
	ok := func(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
	switch {
	case h.Steps <= 0 || h.Steps > MaxSteps:
		return fmt.Errorf("%w: steps %d", ErrHyper, h.Steps)
	case h.Segments <= 0 || h.Segments > h.Steps:
		return fmt.Errorf("%w: %d segments for %d steps", ErrHyper, h.Segments, h.Steps)
	case h.Warmup < 0 || h.Warmup >= h.Steps:
		return fmt.Errorf("%w: warmup %d for %d steps", ErrHyper, h.Warmup, h.Steps)
	case !ok(h.LR) || !ok(h.MinLR) || h.LR <= 0 || h.MinLR < 0 || h.MinLR > h.LR:
		return fmt.Errorf("%w: lr %g, min lr %g", ErrHyper, h.LR, h.MinLR)
	case !ok(h.WeightDecay) || h.WeightDecay < 0 || h.WeightDecay >= 1:
		return fmt.Errorf("%w: weight decay %g", ErrHyper, h.WeightDecay)
	case !ok(h.Beta1) || !ok(h.Beta2) || h.Beta1 < 0 || h.Beta1 >= 1 || h.Beta2 < 0 || h.Beta2 >= 1:
		return fmt.Errorf("%w: betas %g, %g", ErrHyper, h.Beta1, h.Beta2)
	case !ok(h.Eps) || h.Eps <= 0:
		return fmt.Errorf("%w: eps %g", ErrHyper, h.Eps)
	case !ok(h.GradClip) || h.GradClip < 0:
		return fmt.Errorf("%w: gradient clip %g", ErrHyper, h.GradClip)
	}
	return nil
}

// LRAt is the learning rate of step s (0-based): LR·(s+1)/Warmup during warmup, then cosine decay
// from LR to MinLR over the remaining steps:
//
//	p  = (s - Warmup) / (Steps - Warmup)
//	lr = MinLR + (LR - MinLR)·(1 + cos(π·p))/2
//
// It is computed in float32 with fmath.Cos and explicit roundings, so its bits are the same
// everywhere.
func (h Hyper) LRAt(s int) float32 {
	if s < h.Warmup {
		return float32(h.LR*float32(s+1)) / float32(h.Warmup)
	}
	p := float32(s-h.Warmup) / float32(h.Steps-h.Warmup)
	c := fmath.Cos(float32(math.Pi * p))
	half := float32((h.LR - h.MinLR) * 0.5)
	return h.MinLR + float32(half*float32(1+c))
}

// boundaries returns the last step (1-based count of steps done) of every segment.
func (h Hyper) boundaries() []int {
	b := make([]int, h.Segments)
	for j := range b {
		b[j] = int(int64(j+1) * int64(h.Steps) / int64(h.Segments))
	}
	return b
}
