package gpu

import (
	"math"
	"testing"
)

func TestAdamWValidate(t *testing.T) {
	nan := float32(math.NaN())
	for _, c := range []struct {
		h  AdamW
		ok bool
	}{
		{AdamW{Beta1: 0.9, Beta2: 0.999, Step: 1}, true},
		{AdamW{Beta1: 0, Beta2: 0, Step: 7}, true},
		{AdamW{Beta1: 0.9, Beta2: 0.999, Step: 0}, false},
		{AdamW{Beta1: 1, Beta2: 0.999, Step: 1}, false},
		{AdamW{Beta1: 0.9, Beta2: -0.1, Step: 1}, false},
		{AdamW{Beta1: nan, Beta2: 0.9, Step: 1}, false},
	} {
		if err := c.h.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: Validate() = %v, want ok %v", c.h, err, c.ok)
		}
	}
}

// The scalars of a first step: no decay of the moments yet, bias corrections 1−β.
func TestAdamWScalars(t *testing.T) {
	s := AdamW{LR: 0.5, Beta1: 0.5, Beta2: 0.75, Eps: 1e-8, WeightDecay: 0.25, Step: 1}.Scalars()
	want := AdamWScalars{B1: 0.5, B2: 0.75, OneMinusB1: 0.5, OneMinusB2: 0.25, Decay: 0.875, StepSize: 1, SqrtBC2: 0.5, Eps: 1e-8}
	if s != want {
		t.Errorf("Scalars() = %+v, want %+v", s, want)
	}
}
