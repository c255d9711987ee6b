package train

import (
	"math"
	"testing"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/gpu"
)

// testDevice is a device implementation the engine's tests run on.
type testDevice struct {
	name string
	new  func(t testing.TB, threads int) gpu.Device
}

// refDev is the reference device of refdev_test.go.
var refDev = testDevice{"ref", func(testing.TB, int) gpu.Device { return &refDevice{} }}

// devices lists every device implementation the tests run over (cpu_test.go adds the cpu device).
var devices = []testDevice{refDev}

// mustArch parses and normalises spec.
func mustArch(t testing.TB, spec string) arch.Arch {
	t.Helper()
	a, err := arch.Parse(spec)
	if err != nil {
		t.Fatalf("parse %q: %v", spec, err)
	}
	n, err := arch.Normalize(a)
	if err != nil {
		t.Fatalf("normalise %q: %v", spec, err)
	}
	return n
}

// mustModel builds a model of spec on dev.
func mustModel(t testing.TB, dev gpu.Device, spec string, B, T int) *Model {
	t.Helper()
	m, err := NewModel(dev, mustArch(t, spec), Shape{Batch: B, Seq: T})
	if err != nil {
		t.Fatalf("NewModel(%q): %v", spec, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// copyTask is a structured dataset: each sequence is a random prefix of length T/2 (tokens 1..V-1)
// followed by a copy of it; targets are the next token, so the second half is predictable. Batches are
// a pure function of (seed, step).
type copyTask struct {
	B, T, V int
	seed    uint64
}

func (c copyTask) Batch(step int, tokens, targets []int32) error {
	key := streamKey(c.seed, uint64(step))
	half := c.T / 2
	for b := range c.B {
		row := tokens[b*c.T : (b+1)*c.T]
		for t := range half {
			row[t] = 1 + int32(draw(key, uint64(b*c.T+t))%uint64(c.V-1))
			row[half+t] = row[t]
		}
		for t := range c.T {
			if t+1 < c.T {
				targets[b*c.T+t] = row[t+1]
			} else {
				targets[b*c.T+t] = -1
			}
		}
	}
	return nil
}

// randomBatch fills tokens and targets with values from a seed (targets of every third position
// ignored).
func randomBatch(seed uint64, V int, tokens, targets []int32) {
	key := streamKey(seed, 99)
	for i := range tokens {
		tokens[i] = int32(draw(key, uint64(2*i)) % uint64(V))
		targets[i] = int32(draw(key, uint64(2*i+1)) % uint64(V))
		if i%3 == 2 {
			targets[i] = -1
		}
	}
}

// relDiff is |a-b| / max(|a|, |b|, 1e-30).
func relDiff(a, b float64) float64 {
	return math.Abs(a-b) / math.Max(math.Max(math.Abs(a), math.Abs(b)), 1e-30)
}

// normDiff is ‖a-b‖ / max(‖a‖, ‖b‖) (0 when both are 0).
func normDiff(a, b []float32) float64 {
	var d, na, nb float64
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		d += (x - y) * (x - y)
		na += x * x
		nb += y * y
	}
	if na == 0 && nb == 0 {
		return 0
	}
	return math.Sqrt(d / math.Max(na, nb))
}
