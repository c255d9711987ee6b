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
// configs A and B — the tiled kernels, the tiled kernels with k_attn_fwd_t's three walks as the
// forward (the forward before k_attn_fwd_c, kept to compare), the reference kernels — and requires
// all three to give the same bits on them: the figures behind docs/gpu.md's attention rows.
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
		// The forwards: k_attn_fwd_c (what Attention launches here), k_attn_fwd_t's three walks with
		// the scores kept (the forward before k_attn_fwd_c), and the reference kernels'.
		walks := func() {
			n := attnFwdShared(s.D) + 4*attnRows*s.T
			if n > maxShared {
				t.Fatalf("config %s: k_attn_fwd_t cannot keep the scores (%d bytes)", c.name, n)
			}
			d.launch("k_attn_fwd_t", s.B*s.H*((s.T+attnRows-1)/attnRows), 256, n, p(out), p(lse), p(q), p(k), p(v),
				i(s.B), i(s.T), i(s.H), i(s.KVH), i(s.D), i(s.Window), f(s.Scale), bl(true))
		}
		var bits [3][]uint32
		for run, kind := range []string{"tiled", "three-walk forward", "reference"} {
			d.SetReferenceKernels(kind == "reference")
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
			fwd := func() { d.Attention(out, lse, q, k, v, s) }
			if kind == "three-walk forward" {
				fwd = walks
			}
			tf := time1(fwd)
			tb := time1(func() { d.AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, ws, s) })
			for _, b := range []gpu.Buffer{out, lse, dq, dk, dv} {
				bits[run] = append(bits[run], downloadBits(t, d, b)...)
			}
			t.Logf("config %s attention %+v, %s kernels: forward %.1f µs, backward %.1f µs", c.name, s, kind, tf, tb)
		}
		d.SetReferenceKernels(false)
		if !slices.Equal(bits[0], bits[2]) || !slices.Equal(bits[1], bits[2]) {
			t.Errorf("config %s: the attention kernels' bits differ (tiled %v, three-walk forward %v, against the reference)",
				c.name, slices.Equal(bits[0], bits[2]), slices.Equal(bits[1], bits[2]))
		}
	}
}
