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
// configs A and B — the register-tiled kernels (what Attention and AttentionBackward launch there),
// the tiled kernels they replace (k_attn_fwd_t's three walks keeping the scores, k_attn_dq_t and
// k_attn_dkv_t: the kernels of the last GPU run before them, kept for head dimensions that are not
// multiples of 4), and the reference kernels — and requires all three to give the same bits on
// them: the figures behind docs/gpu.md's attention rows. Only the bits are asserted; the times are
// for reading.
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
		args := func(first ...arg) []arg {
			return append(first, i(s.B), i(s.T), i(s.H), i(s.KVH), i(s.D), i(s.Window), f(s.Scale))
		}
		// The tiled kernels without register tiles, launched as Attention and AttentionBackward
		// launch them for a head dimension that is not a multiple of 4.
		walks := func() {
			shared, ok := attnFwdWalks(s.D, s.T)
			if !ok {
				t.Fatalf("config %s: k_attn_fwd_t cannot keep the scores (%d bytes)", c.name, shared)
			}
			d.launch("k_attn_fwd_t", s.B*s.H*((s.T+attnRows-1)/attnRows), 256, shared,
				append(args(p(out), p(lse), p(q), p(k), p(v)), bl(true))...)
		}
		tiledBackward := func() {
			nt := (s.T + attnTile - 1) / attnTile
			d.elem("k_attn_delta", s.B*s.H*s.T, p(ws), p(dout), p(out), i(s.B), i(s.T), i(s.H), i(s.D))
			d.launch("k_attn_dq_t", s.B*s.H*nt, 256, attnDqShared(s.D), args(p(dq), p(dout), p(lse), p(ws), p(q), p(k), p(v))...)
			d.launch("k_attn_dkv_t", s.B*s.KVH*nt, 256, attnDkvShared(s.D),
				args(p(dk), p(dv), p(dout), p(lse), p(ws), p(q), p(k), p(v))...)
		}
		var bits [3][]uint32
		for run, kind := range []string{"register-tiled", "tiled", "reference"} {
			d.SetReferenceKernels(kind == "reference")
			fwd := func() { d.Attention(out, lse, q, k, v, s) }
			bwd := func() { d.AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, ws, s) }
			if kind == "tiled" {
				fwd, bwd = walks, tiledBackward
			}
			tf := perCallMicros(t, d, reps, fwd)
			tb := perCallMicros(t, d, reps, bwd)
			for _, b := range []gpu.Buffer{out, lse, dq, dk, dv} {
				bits[run] = append(bits[run], downloadBits(t, d, b)...)
			}
			t.Log(attnTimesLine(c.name, s, kind, tf, tb))
		}
		d.SetReferenceKernels(false)
		if !slices.Equal(bits[0], bits[2]) || !slices.Equal(bits[1], bits[2]) {
			t.Error(attnDifferLine(c.name, slices.Equal(bits[0], bits[2]), slices.Equal(bits[1], bits[2])))
		}
	}
}

// TestMatMulTiles runs every matmul tile (mmTiles) on the shapes the training of configs A and B
// gives MatMul (train's linear maps: forward, input gradient, weight gradient, for every layer
// width and the output head), requires every tile's bits to equal the reference tile's, and logs
// each tile's time per call, µs, with the tile matmulTile picks marked * and the fastest marked <:
// the figures behind matmulTile's choice. Only the bits are asserted; the times are for reading.
func TestMatMulTiles(t *testing.T) {
	d := open(t)
	const rows, reps = 4096, 20
	type shape struct {
		m, n, k        int
		ta, tb, acc    bool
		config, linear string
	}
	var shapes []shape
	for _, c := range []struct {
		name string
		io   [][2]int // the linear maps' (in, out)
	}{{"A", [][2]int{{128, 128}, {128, 512}, {512, 128}, {128, 256}}}, {"B", [][2]int{{256, 256}, {256, 1024}, {1024, 256}}}} {
		for _, io := range c.io {
			in, out := io[0], io[1]
			shapes = append(shapes,
				shape{rows, out, in, false, true, false, c.name, "fwd"},
				shape{rows, in, out, false, false, false, c.name, "dx"},
				shape{out, in, rows, true, false, true, c.name, "dw"})
		}
	}
	t.Log(tilesLine(tileNames()))
	for _, s := range shapes {
		a, b := randomBuffer(t, d, s.m*s.k, 1), randomBuffer(t, d, s.k*s.n, 2)
		c0 := randomValues(s.m*s.n, 3)
		c, err := d.Alloc(s.m * s.n)
		if err != nil {
			t.Fatal(err)
		}
		var want []uint32
		times := make([]float64, len(mmTiles))
		for ti, tile := range mmTiles {
			if err := d.Upload(c, c0); err != nil {
				t.Fatal(err)
			}
			d.matmul(tile, c, a, b, s.m, s.n, s.k, s.ta, s.tb, s.acc)
			got := downloadBits(t, d, c)
			if want == nil {
				want = got
			} else if !slices.Equal(got, want) {
				t.Error(tileDifferLine(s.config, s.linear, s.m, s.n, s.k, tile.name, mmTiles[0].name))
			}
			times[ti] = perCallMicros(t, d, reps, func() { d.matmul(tile, c, a, b, s.m, s.n, s.k, s.ta, s.tb, s.acc) })
		}
		pick := slices.Index(mmTiles, matmulTile(s.m, s.n))
		t.Log(tileTimesLine(s.config, s.linear, s.m, s.n, s.k, times, pick))
	}
}

func tileNames() []string {
	var names []string
	for _, t := range mmTiles {
		names = append(names, t.name)
	}
	return names
}

// perCallMicros is f's time per call in µs: after one untimed call, the least of three timings of
// reps calls, each run to the end of a synchronisation. The least, since on a shared GPU host one
// timing now and then ran half again as long as the same tile's others (docs/gpu.md), enough to
// tip scripts/gpu-pick.py's choice.
func perCallMicros(t *testing.T, d *Device, reps int, f func()) float64 {
	t.Helper()
	f()
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	best := math.Inf(1)
	for range 3 {
		start := time.Now()
		for range reps {
			f()
		}
		if err := d.Sync(); err != nil {
			t.Fatal(err)
		}
		best = min(best, time.Since(start).Seconds()/float64(reps)*1e6)
	}
	return best
}
