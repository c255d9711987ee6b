package train

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/airanode/airanode/arch"
)

// archs used across the tests: every primitive, both norms, learned and rotary positions, tied and
// untied heads, GQA and sliding windows.
var testArchs = []string{
	"width=16 vocab=11: A(heads=2) M",
	"width=16 vocab=11: A(heads=4,kv=1,win=4) G",
	"width=16 vocab=11: S(state=4,expand=2,conv=3) M",
	"width=16 vocab=13 norm=layer pos=learned context=12 untied=1: A(heads=2,kv=1) G S(state=2,expand=1)",
}

func TestNewModelLayout(t *testing.T) {
	dev := &refDevice{}
	for _, spec := range testArchs {
		m := mustModel(t, dev, spec, 2, 8)
		want, err := arch.Params(m.Arch())
		if err != nil {
			t.Fatal(err)
		}
		if int64(m.NumParams()) != want || m.Params().Len() != m.NumParams() || m.Grads().Len() != m.NumParams() {
			t.Errorf("%s: %d params (buffers %d, %d), arch.Params says %d", spec, m.NumParams(), m.Params().Len(), m.Grads().Len(), want)
		}
		off := 0
		for _, ts := range m.Tensors() {
			if ts.Offset != off {
				t.Errorf("%s: tensor %s at %d, want %d", spec, ts.Name, ts.Offset, off)
			}
			off += ts.Len
			base := ts.Name[strings.LastIndexByte(ts.Name, '.')+1:]
			noDecay := map[string]bool{"w": true, "b": true, "conv_b": true, "dt_b": true, "A_log": true, "D": true}
			if ts.Decay == noDecay[base] || (ts.Decay && len(ts.Shape) != 2) {
				t.Errorf("%s: tensor %s decay %v", spec, ts.Name, ts.Decay)
			}
		}
		if off != m.NumParams() {
			t.Errorf("%s: tensors cover %d of %d", spec, off, m.NumParams())
		}
	}
}

func TestNewModelRejects(t *testing.T) {
	dev := &refDevice{}
	good := mustArch(t, "width=16 vocab=11: A(heads=2) M")
	noVocab := mustArch(t, "width=16: A(heads=2) M")
	notNormal := good
	notNormal.Layers = []arch.Layer{{Kind: "attention", Opts: map[string]int{"heads": 2}}}
	learned := mustArch(t, "width=16 vocab=11 pos=learned context=4: A(heads=2) M")
	tests := []struct {
		name  string
		a     arch.Arch
		shape Shape
		want  error
	}{
		{"no vocab", noVocab, Shape{2, 4}, ErrArch},
		{"not normalised", notNormal, Shape{2, 4}, ErrArch},
		{"zero batch", good, Shape{0, 4}, ErrShape},
		{"negative seq", good, Shape{2, -1}, ErrShape},
		{"too many rows", good, Shape{MaxRows, 2}, ErrShape},
		{"seq beyond context", learned, Shape{1, 5}, ErrShape},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewModel(dev, tc.a, tc.shape); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestBadBatch(t *testing.T) {
	m := mustModel(t, &refDevice{}, "width=16 vocab=11: A(heads=2) M", 2, 4)
	if err := m.Init(1); err != nil {
		t.Fatal(err)
	}
	ok := []int32{1, 2, 3, 4, 5, 6, 7, 8}
	tests := []struct {
		name            string
		tokens, targets []int32
	}{
		{"short tokens", ok[:7], ok},
		{"short targets", ok, ok[:7]},
		{"negative token", []int32{1, 2, 3, -1, 5, 6, 7, 8}, ok},
		{"token beyond vocab", []int32{1, 2, 3, 11, 5, 6, 7, 8}, ok},
		{"target beyond vocab", ok, []int32{1, 2, 3, 4, 5, 6, 7, 11}},
		{"no target", ok, []int32{-1, -1, -1, -1, -1, -1, -1, -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := m.LossAndGrad(tc.tokens, tc.targets); !errors.Is(err, ErrBatch) {
				t.Fatalf("LossAndGrad: got %v, want ErrBatch", err)
			}
		})
	}
	// Predict accepts a batch without targets, but not bad tokens or a short pred.
	if e, err := m.Predict(ok, []int32{-1, -1, -1, -1, -1, -1, -1, -1}, make([]int32, 8)); err != nil || e.Tokens != 0 {
		t.Fatalf("Predict without targets: %+v, %v", e, err)
	}
	if _, err := m.Predict(ok, ok, make([]int32, 3)); !errors.Is(err, ErrBatch) {
		t.Fatalf("Predict with short pred: %v", err)
	}
}

// perturb adds N(0, std²) noise to every parameter (to make gradients large enough for a finite
// difference check in float32) and returns the host copy.
func perturb(t *testing.T, m *Model, seed uint64, std float32) []float32 {
	t.Helper()
	p := make([]float32, m.NumParams())
	if err := m.ReadParams(p); err != nil {
		t.Fatal(err)
	}
	key := streamKey(seed, 12345)
	for i := range p {
		p[i] += std * normal(draw(key, uint64(i)))
	}
	if err := m.WriteParams(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkGradients compares, for every tensor, the directional derivative along a direction over that
// tensor with a central finite difference of the loss.
func checkGradients(t *testing.T, m *Model, tol float64) {
	t.Helper()
	rows := m.Shape().Batch * m.Shape().Seq
	tokens, targets := make([]int32, rows), make([]int32, rows)
	randomBatch(7, m.spec.vocab, tokens, targets)
	if err := m.Init(3); err != nil {
		t.Fatal(err)
	}
	p0 := perturb(t, m, 5, 0.15)
	// Mamba's initial time steps (0.001..0.1) make the loss nearly flat in dt_w, dt_b and A_log, below
	// float32 resolution. Larger steps (softplus(1) ≈ 1.3) with slower decay (A_log - 2, so that
	// exp(δ·A) stays well above 0) make those gradients measurable.
	// Larger x_proj and dt_w weights make the paths through B, C and δ as strong as the direct path
	// through u, so that their contributions to the input gradient are visible.
	shift := map[string]float32{".dt_b": 1, ".A_log": -2}
	scale := map[string]float32{".x_proj": 6, ".dt_w": 3}
	for _, ts := range m.Tensors() {
		for suffix, v := range shift {
			if strings.HasSuffix(ts.Name, suffix) {
				for i := range ts.Len {
					p0[ts.Offset+i] += v
				}
			}
		}
		for suffix, v := range scale {
			if strings.HasSuffix(ts.Name, suffix) {
				for i := range ts.Len {
					p0[ts.Offset+i] *= v
				}
			}
		}
	}
	if err := m.WriteParams(p0); err != nil {
		t.Fatal(err)
	}
	if _, err := m.LossAndGrad(tokens, targets); err != nil {
		t.Fatal(err)
	}
	g := make([]float32, m.NumParams())
	if err := m.ReadGrads(g); err != nil {
		t.Fatal(err)
	}
	p := make([]float32, len(p0))
	loss := func() float64 {
		if err := m.WriteParams(p); err != nil {
			t.Fatal(err)
		}
		e, err := m.Predict(tokens, targets, nil)
		if err != nil {
			t.Fatal(err)
		}
		return e.Mean()
	}
	for ti, ts := range m.Tensors() {
		key := streamKey(11, uint64(ti))
		u := make([]float32, ts.Len)
		var ana float64
		for i := range u {
			// Align the direction with the gradient's signs (random magnitudes in [0.5, 1.5)) so that
			// the loss changes well above float32 rounding; a wrong component still changes the sum.
			u[i] = 0.5 + unit24(draw(key, uint64(i)))
			if g[ts.Offset+i] < 0 {
				u[i] = -u[i]
			}
			ana += float64(u[i]) * float64(g[ts.Offset+i])
		}
		// The best of several step sizes: truncation error falls with h, float32 rounding grows as h
		// shrinks; a wrong gradient is wrong at every step size. Steps whose loss change is within
		// float32 noise (ten ulps of the loss) measure nothing and are skipped.
		best, bestNum := math.Inf(1), 0.0
		for _, h := range []float32{1e-1, 3e-2, 1e-2, 3e-3, 1e-3} {
			step := func(s float32) float64 {
				copy(p, p0)
				for i := range u {
					p[ts.Offset+i] = p0[ts.Offset+i] + s*h*u[i]
				}
				return loss()
			}
			diff := step(1) - step(-1)
			if math.Abs(diff) < 2e-6 {
				continue
			}
			num := diff / (2 * float64(h))
			den := math.Max(math.Max(math.Abs(num), math.Abs(ana)), 1e-4)
			if rel := math.Abs(num-ana) / den; rel < best {
				best, bestNum = rel, num
			}
		}
		if math.IsInf(best, 1) { // flat at every measurable scale: the gradient must be tiny too
			if best = math.Abs(ana) / 1e-5; best <= 1 {
				best = 0
			}
		}
		if best > tol {
			t.Errorf("%s: directional derivative %.6g, finite difference %.6g (rel %.2g)", ts.Name, ana, bestNum, best)
		} else {
			t.Logf("%-14s analytic %+.6e numeric %+.6e rel %.1e", ts.Name, ana, bestNum, best)
		}
	}
	copy(p, p0)
	_ = m.WriteParams(p)
}

func TestGradientsMatchFiniteDifferences(t *testing.T) {
	for _, dv := range devices {
		for _, spec := range testArchs {
			t.Run(dv.name+"/"+spec, func(t *testing.T) {
				m := mustModel(t, dv.new(t, 1), spec, 2, 6)
				checkGradients(t, m, 1e-2)
			})
		}
	}
}
