package train

import (
	"errors"
	"math"
	"testing"
)

func TestLRSchedule(t *testing.T) {
	h := DefaultHyper(110)
	h.Warmup, h.LR, h.MinLR = 10, 1e-3, 1e-5
	tests := []struct {
		step int
		want float64
	}{
		{0, 1e-4},  // warmup: LR·1/10
		{4, 5e-4},  // LR·5/10
		{9, 1e-3},  // end of warmup
		{10, 1e-3}, // cosine starts at LR
		{60, (1e-3 + 1e-5) / 2},
		{109, 1e-5 + (1e-3-1e-5)*(1+math.Cos(math.Pi*99/100))/2},
	}
	for _, tc := range tests {
		if got := float64(h.LRAt(tc.step)); math.Abs(got-tc.want) > 1e-5*tc.want {
			t.Errorf("LRAt(%d) = %g, want %g", tc.step, got, tc.want)
		}
	}
	prev := h.LRAt(10)
	for s := 11; s < h.Steps; s++ {
		lr := h.LRAt(s)
		if lr > prev || lr < h.MinLR {
			t.Fatalf("LRAt(%d) = %g after %g", s, lr, prev)
		}
		prev = lr
	}
	// No warmup.
	h.Warmup = 0
	if got := h.LRAt(0); got != h.LR {
		t.Errorf("LRAt(0) without warmup = %g", got)
	}
}

func TestHyperValidate(t *testing.T) {
	if err := DefaultHyper(1).Validate(); err != nil {
		t.Fatalf("DefaultHyper(1): %v", err)
	}
	if err := DefaultHyper(5000).Validate(); err != nil {
		t.Fatalf("DefaultHyper(5000): %v", err)
	}
	nan := float32(math.NaN())
	tests := []struct {
		name string
		mod  func(*Hyper)
	}{
		{"zero steps", func(h *Hyper) { h.Steps = 0 }},
		{"too many steps", func(h *Hyper) { h.Steps = MaxSteps + 1 }},
		{"zero segments", func(h *Hyper) { h.Segments = 0 }},
		{"more segments than steps", func(h *Hyper) { h.Segments = h.Steps + 1 }},
		{"warmup too long", func(h *Hyper) { h.Warmup = h.Steps }},
		{"negative warmup", func(h *Hyper) { h.Warmup = -1 }},
		{"zero lr", func(h *Hyper) { h.LR = 0 }},
		{"nan lr", func(h *Hyper) { h.LR = nan }},
		{"min above lr", func(h *Hyper) { h.MinLR = 2 * h.LR }},
		{"negative decay", func(h *Hyper) { h.WeightDecay = -0.1 }},
		{"beta1 one", func(h *Hyper) { h.Beta1 = 1 }},
		{"beta2 nan", func(h *Hyper) { h.Beta2 = nan }},
		{"zero eps", func(h *Hyper) { h.Eps = 0 }},
		{"negative clip", func(h *Hyper) { h.GradClip = -1 }},
		{"inf clip", func(h *Hyper) { h.GradClip = float32(math.Inf(1)) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := DefaultHyper(100)
			tc.mod(&h)
			if err := h.Validate(); !errors.Is(err, ErrHyper) {
				t.Fatalf("got %v, want ErrHyper", err)
			}
		})
	}
}

func TestBoundaries(t *testing.T) {
	tests := []struct {
		steps, k int
		want     []int
	}{
		{10, 1, []int{10}},
		{10, 3, []int{3, 6, 10}},
		{7, 7, []int{1, 2, 3, 4, 5, 6, 7}},
	}
	for _, tc := range tests {
		h := DefaultHyper(tc.steps)
		h.Segments = tc.k
		got := h.boundaries()
		if len(got) != len(tc.want) {
			t.Fatalf("%d/%d: %v", tc.steps, tc.k, got)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("%d/%d: %v, want %v", tc.steps, tc.k, got, tc.want)
			}
		}
	}
}

// TestInit checks the initialisation rules: deterministic, seed-dependent and with the documented
// statistics.
func TestInit(t *testing.T) {
	m := mustModel(t, &refDevice{}, "width=64 vocab=64 norm=layer: A(heads=4) S(state=4) M", 1, 4)
	read := func(seed uint64) []float32 {
		if err := m.Init(seed); err != nil {
			t.Fatal(err)
		}
		p := make([]float32, m.NumParams())
		if err := m.ReadParams(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b, c := read(1), read(1), read(2)
	same, diff := true, 0
	for i := range a {
		same = same && math.Float32bits(a[i]) == math.Float32bits(b[i])
		if a[i] != c[i] {
			diff++
		}
	}
	if !same {
		t.Fatal("Init is not deterministic")
	}
	stats := func(x []float32) (mean, std float64) {
		for _, v := range x {
			mean += float64(v)
		}
		mean /= float64(len(x))
		for _, v := range x {
			std += (float64(v) - mean) * (float64(v) - mean)
		}
		return mean, math.Sqrt(std / float64(len(x)))
	}
	projStd := 0.02 / math.Sqrt(2*3)
	for _, ts := range m.Tensors() {
		x := a[ts.Offset : ts.Offset+ts.Len]
		mean, std := stats(x)
		switch base := ts.Name[max(0, len(ts.Name)-len("out_proj")):]; {
		case ts.Name == "tok" || hasSuffix(ts.Name, ".wqkv", ".w1", ".w3", ".in_proj", ".x_proj"):
			if math.Abs(std-0.02) > 0.002 || math.Abs(mean) > 0.002 {
				t.Errorf("%s: mean %.4f std %.4f, want N(0, 0.02²)", ts.Name, mean, std)
			}
		case hasSuffix(ts.Name, ".wo", ".w2", ".out_proj"):
			if math.Abs(std-projStd) > 0.1*projStd {
				t.Errorf("%s (%s): std %.5f, want %.5f", ts.Name, base, std, projStd)
			}
		case hasSuffix(ts.Name, "norm.w", "norm_f.w", ".D"):
			if mean != 1 || std != 0 {
				t.Errorf("%s: not all ones", ts.Name)
			}
		case hasSuffix(ts.Name, "norm.b", "norm_f.b", ".conv_b"):
			if mean != 0 || std != 0 {
				t.Errorf("%s: not all zeros", ts.Name)
			}
		case hasSuffix(ts.Name, ".conv_w"):
			assertUniform(t, ts.Name, x, 1/math.Sqrt(4))
		case hasSuffix(ts.Name, ".dt_w"):
			assertUniform(t, ts.Name, x, 1/math.Sqrt(4)) // dtrank = ceil(64/16) = 4
		case hasSuffix(ts.Name, ".A_log"):
			for i, v := range x {
				if want := math.Log(float64(i%4 + 1)); math.Abs(float64(v)-want) > 1e-6 {
					t.Fatalf("%s[%d] = %v, want %v", ts.Name, i, v, want)
				}
			}
		case hasSuffix(ts.Name, ".dt_b"):
			for _, v := range x {
				dt := math.Log1p(math.Exp(float64(v))) // softplus
				if dt < 0.999e-3 || dt > 1.001e-1 {
					t.Fatalf("%s: softplus(dt_b) = %v outside [1e-3, 1e-1]", ts.Name, dt)
				}
			}
		default:
			t.Errorf("tensor %s not covered", ts.Name)
		}
	}
	if diff < len(a)/2 {
		t.Errorf("seeds 1 and 2 differ in only %d of %d parameters", diff, len(a))
	}
}

func hasSuffix(s string, suffixes ...string) bool {
	for _, x := range suffixes {
		if len(s) >= len(x) && s[len(s)-len(x):] == x {
			return true
		}
	}
	return false
}

func assertUniform(t *testing.T, name string, x []float32, bound float64) {
	t.Helper()
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range x {
		lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
	}
	if lo < -bound || hi > bound || hi-lo < bound {
		t.Errorf("%s: range [%g, %g], want within ±%g and spread", name, lo, hi, bound)
	}
}

// TestRNG checks the generator against fixed values (so that any change to it, which would change
// every initialisation, is deliberate) and the training stream's counter.
func TestRNG(t *testing.T) {
	if got := mix64(0); got != 0 {
		t.Errorf("mix64(0) = %#x", got)
	}
	// splitmix64's first output for state 0 is mix64(φ) = 0xe220a8397b1dcdaf.
	if got := mix64(golden); got != 0xe220a8397b1dcdaf {
		t.Errorf("mix64(φ) = %#x", got)
	}
	r := RNG{Seed: 5}
	a := r.Next()
	b := r.Next()
	if r.Counter != 2 || a == b || a != draw(streamKey(5, trainStream), 0) {
		t.Errorf("RNG: %+v, %#x, %#x", r, a, b)
	}
	// normal() over many draws has mean ~0 and std ~1.
	var s, ss float64
	const n = 1 << 16
	for i := range n {
		z := float64(normal(draw(streamKey(1, 2), uint64(i))))
		s += z
		ss += z * z
	}
	if mean, std := s/n, math.Sqrt(ss/n); math.Abs(mean) > 0.02 || math.Abs(std-1) > 0.02 {
		t.Errorf("normal: mean %.4f std %.4f", mean, std)
	}
}
