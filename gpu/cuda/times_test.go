//go:build cuda

package cuda

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/airanode/airanode/gpu"
)

// TestAttentionTimes logs the time per call of the attention forward and backward on the shapes of
// configs A and B (the tiled kernels, then the reference kernels), and requires the two to give the
// same bits on them: the figures behind docs/gpu.md's attention rows.
func TestAttentionTimes(t *testing.T) {
	d := open(t)
	const reps = 20
	for _, c := range []struct {
		name string
		s    gpu.AttnShape
	}{{"A", gpu.AttnShape{B: 16, T: 256, H: 4, KVH: 4, D: 32}}, {"B", gpu.AttnShape{B: 16, T: 256, H: 8, KVH: 8, D: 32}}} {
		s := c.s
		s.Scale = 1 / float32(math.Sqrt(float64(s.D)))
		n := s.B * s.T * s.H * s.D
		q, k, v, dout := randomBuffer(t, d, n, 1), randomBuffer(t, d, n, 2), randomBuffer(t, d, n, 3), randomBuffer(t, d, n, 4)
		out, lse := randomBuffer(t, d, n, 5), randomBuffer(t, d, s.B*s.H*s.T, 6)
		ws := randomBuffer(t, d, d.AttentionWorkspace(s), 7)
		dq, dk, dv := randomBuffer(t, d, n, 8), randomBuffer(t, d, n, 9), randomBuffer(t, d, n, 10)
		var bits [2][]uint32
		for i, ref := range []bool{false, true} {
			d.SetReferenceKernels(ref)
			time1 := func(f func()) float64 {
				f()
				if err := d.Sync(); err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				for range reps {
					f()
				}
				if err := d.Sync(); err != nil {
					t.Fatal(err)
				}
				return time.Since(start).Seconds() / reps * 1e6
			}
			fwd := time1(func() { d.Attention(out, lse, q, k, v, s) })
			bwd := time1(func() { d.AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, ws, s) })
			for _, b := range []gpu.Buffer{out, lse, dq, dk, dv} {
				bits[i] = append(bits[i], downloadBits(t, d, b)...)
			}
			kind := map[bool]string{false: "tiled", true: "reference"}[ref]
			t.Logf("config %s attention %+v, %s kernels: forward %.1f µs, backward %.1f µs", c.name, s, kind, fwd, bwd)
		}
		d.SetReferenceKernels(false)
		if !slices.Equal(bits[0], bits[1]) {
			t.Errorf("config %s: tiled and reference attention bits differ", c.name)
		}
	}
}
