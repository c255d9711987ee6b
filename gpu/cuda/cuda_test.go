//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/gpu/devicetest"
	"github.com/airanode/airanode/gpu/fmath"
)

// These tests need an NVIDIA GPU; they are built with `make cuda-test-bin` and run by
// scripts/gpu-check.sh on a GPU machine.

// TestConformance checks every kernel against the float64 references and run-to-run bit identity.
func TestConformance(t *testing.T) {
	devicetest.Run(t, open(t), gpuTol)
}

// gpuTol is the tolerance against the suite's float64 references: the CPU device's.
var gpuTol = devicetest.DefaultTol()

// TestTunedKernelsIdentical runs the tuned kernels (every matmul tile matmulTile picks, the tiled
// attention forward and backward) and the reference kernels (SetReferenceKernels) on the same
// inputs and requires the same bits: they compute the same fmaf chains in the same order
// (docs/gpu.md). The matmul shapes select every tile matmulTile picks (mmPicked); the
// attention shapes cover grouped-query heads, windows, ragged tiles, rows longer than 256 keys, the
// largest tiled head dimension, and head dimensions that are not multiples of 4 (the tiled kernels
// without register tiles) with rows that the forward keeps and rows it does not; four of them run
// again with the tiled kernels chosen in place of the register-tiled ones (SetKernels).
func TestTunedKernelsIdentical(t *testing.T) {
	d := open(t)
	rnd := func(n int, seed uint64) gpu.Buffer { return randomBuffer(t, d, n, seed) }
	down := func(b gpu.Buffer) []uint32 { return downloadBits(t, d, b) }
	// both runs f with the reference kernels (out 0) and the tuned ones (out 1).
	both := func(name string, f func(out int)) {
		t.Helper()
		for out, ref := range []bool{true, false} {
			d.SetReferenceKernels(ref)
			f(out)
		}
		d.SetReferenceKernels(false)
		if err := d.Sync(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	picked := map[mmTile]bool{}
	for _, s := range []struct{ m, n, k int }{
		{4096, 1024, 64}, {4096, 512, 128}, {4096, 128, 40}, {1024, 256, 300}, {256, 256, 100}, {130, 70, 33}, {1, 3, 5},
	} {
		picked[matmulTile(s.m, s.n)] = true
		for flags := range 8 {
			ta, tb, acc := flags&1 != 0, flags&2 != 0, flags&4 != 0
			name := fmt.Sprintf("matmul %dx%dx%d ta=%v tb=%v acc=%v (%s)", s.m, s.n, s.k, ta, tb, acc, matmulTile(s.m, s.n).name)
			a, b := rnd(s.m*s.k, uint64(flags)), rnd(s.k*s.n, uint64(flags)+100)
			c := [2]gpu.Buffer{rnd(s.m*s.n, uint64(flags)+200), rnd(s.m*s.n, uint64(flags)+200)}
			both(name, func(out int) { d.MatMul(c[out], a, b, s.m, s.n, s.k, ta, tb, acc) })
			if !slices.Equal(down(c[0]), down(c[1])) {
				t.Errorf("%s: tuned and reference bits differ", name)
			}
		}
	}
	for _, tile := range mmPicked {
		if !picked[tile] {
			t.Errorf("no matmul shape here picks %s", tile.name)
		}
	}
	if len(picked) != len(mmPicked) {
		t.Errorf("the matmul shapes pick %d tiles, matmulTile %d", len(picked), len(mmPicked))
	}
	// The attention shapes run with the default kernels and again with the tiled ones in place of
	// the register-tiled (SetKernels), which scripts/gpu-pick.py may choose for every shape.
	tiledAttn := map[string]string{"k_attn_fwd_c": "k_attn_fwd_t", "k_attn_dq_r": "k_attn_dq_t", "k_attn_dkv_r": "k_attn_dkv_t"}
	for _, run := range []struct {
		s      gpu.AttnShape
		choice map[string]string
	}{
		{s: gpu.AttnShape{B: 16, T: 256, H: 4, KVH: 4, D: 32}}, {s: gpu.AttnShape{B: 2, T: 70, H: 4, KVH: 2, D: 8}},
		{s: gpu.AttnShape{B: 1, T: 50, H: 2, KVH: 1, D: 64, Window: 20}}, {s: gpu.AttnShape{B: 1, T: 100, H: 3, KVH: 3, D: 5, Window: 40}},
		{s: gpu.AttnShape{B: 1, T: 300, H: 2, KVH: 1, D: 16}}, {s: gpu.AttnShape{B: 1, T: 300, H: 1, KVH: 1, D: 4, Window: 280}},
		{s: gpu.AttnShape{B: 2, T: 45, H: 3, KVH: 1, D: 12}}, {s: gpu.AttnShape{B: 1, T: 700, H: 1, KVH: 1, D: 6, Window: 300}},
		{s: gpu.AttnShape{B: 2, T: 70, H: 4, KVH: 2, D: 8}, choice: tiledAttn},
		{s: gpu.AttnShape{B: 1, T: 50, H: 2, KVH: 1, D: 64, Window: 20}, choice: tiledAttn},
		{s: gpu.AttnShape{B: 1, T: 300, H: 2, KVH: 1, D: 16}, choice: tiledAttn},
		{s: gpu.AttnShape{B: 2, T: 45, H: 3, KVH: 1, D: 12}, choice: tiledAttn},
	} {
		s := run.s
		if err := d.SetKernels(run.choice); err != nil {
			t.Fatal(err)
		}
		s.Scale = 1 / float32(math.Sqrt(float64(s.D)))
		qn, kn := s.B*s.T*s.H*s.D, s.B*s.T*s.KVH*s.D
		q, k, v, dout := rnd(qn, 1), rnd(kn, 2), rnd(kn, 3), rnd(qn, 4)
		outs := [2]gpu.Buffer{rnd(qn, 5), rnd(qn, 5)}
		lses := [2]gpu.Buffer{rnd(s.B*s.H*s.T, 6), rnd(s.B*s.H*s.T, 6)}
		both(fmt.Sprintf("attention %+v", s), func(o int) { d.Attention(outs[o], lses[o], q, k, v, s) })
		if !slices.Equal(down(outs[0]), down(outs[1])) || !slices.Equal(down(lses[0]), down(lses[1])) {
			t.Errorf("attention %+v (kernels %v): tuned and reference bits differ", s, run.choice)
		}
		out, lse, ws := outs[0], lses[0], rnd(d.AttentionWorkspace(s), 7)
		var grads [2][3]gpu.Buffer
		for i := range grads {
			for j := range grads[i] {
				n := kn
				if j == 0 {
					n = qn
				}
				grads[i][j] = rnd(n, 8)
			}
		}
		name := fmt.Sprintf("attention backward %+v (kernels %v)", s, run.choice)
		both(name, func(o int) {
			d.AttentionBackward(grads[o][0], grads[o][1], grads[o][2], dout, out, lse, q, k, v, ws, s)
		})
		for j, g := range []string{"dq", "dk", "dv"} {
			if !slices.Equal(down(grads[0][j]), down(grads[1][j])) {
				t.Errorf("%s: %s: tuned and reference bits differ", name, g)
			}
		}
	}
}

// TestNegExpMatchesFmath: the CUDA NegExp is gpu/fmath's Exp step for step, so its bits equal the
// CPU device's on the whole float32 range, special values included (make cuda-emu checks the same
// port on the host against recorded bits).
func TestNegExpMatchesFmath(t *testing.T) {
	d := open(t)
	in := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 88.7, 89, 89.0001, -87.3, -100, -103.97, -104, -104.01,
		float32(math.Inf(1)), float32(math.Inf(-1))}
	s := uint64(7)
	for range 1 << 16 {
		s = s*6364136223846793005 + 1442695040888963407
		in = append(in, float32(-110+205*float64(s>>11)/(1<<53)))
	}
	x, err := d.Alloc(len(in))
	if err != nil {
		t.Fatal(err)
	}
	y, err := d.Alloc(len(in))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Upload(x, in); err != nil {
		t.Fatal(err)
	}
	d.NegExp(y, x)
	got := make([]float32, len(in))
	if err := d.Download(got, y); err != nil {
		t.Fatal(err)
	}
	bad := 0
	for i, v := range in {
		if want := -fmath.Exp(v); math.Float32bits(got[i]) != math.Float32bits(want) {
			if bad++; bad <= 5 {
				t.Errorf("NegExp(%g) = %g (%08x), gpu/fmath gives %g (%08x)", v, got[i], math.Float32bits(got[i]), want, math.Float32bits(want))
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d values differ", bad, len(in))
	}
}
