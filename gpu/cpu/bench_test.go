package cpu_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/gpu/cpu"
)

// Benchmarks at the shapes of perf config A (d 128, 4 heads, seq 256, batch 16, vocab 256, MLP 4d).
const (
	benchB, benchT, benchD, benchH, benchV = 16, 256, 128, 4, 256
	benchRows                              = benchB * benchT
)

func benchBuf(b *testing.B, d *cpu.Device, n int, scale float64) gpu.Buffer {
	buf, err := d.Alloc(n)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(uint64(n), 1))
	x := buf.(*cpu.Buffer).Floats()
	for i := range x {
		x[i] = float32(r.NormFloat64() * scale)
	}
	return buf
}

// cpuTime is the process's user+system CPU time: on a shared, loaded machine it measures a kernel's
// cost better than the wall clock (reported as cpu-ns/op next to ns/op).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loop runs f b.N times and reports the CPU time per call.
func loop(b *testing.B, f func()) {
	start := cpuTime()
	for b.Loop() {
		f()
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

func benchDevices(b *testing.B, f func(b *testing.B, d *cpu.Device)) {
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			d, err := cpu.New(threads)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			f(b, d)
			if err := d.Err(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

func BenchmarkAttention(b *testing.B) {
	s := gpu.AttnShape{B: benchB, T: benchT, H: benchH, KVH: benchH, D: benchD / benchH}
	s.Scale = float32(1 / math.Sqrt(float64(s.D)))
	n := benchRows * benchD
	benchDevices(b, func(b *testing.B, d *cpu.Device) {
		q, k, v, out := benchBuf(b, d, n, 1), benchBuf(b, d, n, 1), benchBuf(b, d, n, 1), benchBuf(b, d, n, 0)
		lse := benchBuf(b, d, s.B*s.H*s.T, 0)
		dq, dk, dv, dy := benchBuf(b, d, n, 0), benchBuf(b, d, n, 0), benchBuf(b, d, n, 0), benchBuf(b, d, n, 1)
		ws := benchBuf(b, d, d.AttentionWorkspace(s), 0)
		b.Run("forward", func(b *testing.B) {
			loop(b, func() { d.Attention(out, lse, q, k, v, s) })
		})
		b.Run("backward", func(b *testing.B) {
			loop(b, func() { d.AttentionBackward(dq, dk, dv, dy, out, lse, q, k, v, ws, s) })
		})
	})
}

func BenchmarkLayerNorm(b *testing.B) {
	n := benchRows * benchD
	benchDevices(b, func(b *testing.B, d *cpu.Device) {
		x, out, dy, dx := benchBuf(b, d, n, 1), benchBuf(b, d, n, 0), benchBuf(b, d, n, 1), benchBuf(b, d, n, 0)
		w, bb, dw, db := benchBuf(b, d, benchD, 1), benchBuf(b, d, benchD, 1), benchBuf(b, d, benchD, 0), benchBuf(b, d, benchD, 0)
		mean, rstd := benchBuf(b, d, benchRows, 0), benchBuf(b, d, benchRows, 0)
		b.Run("forward", func(b *testing.B) {
			loop(b, func() { d.LayerNorm(out, mean, rstd, x, w, bb, benchRows, benchD, 1e-5) })
		})
		b.Run("backward", func(b *testing.B) {
			loop(b, func() { d.LayerNormBackward(dx, dw, db, dy, x, w, mean, rstd, benchRows, benchD) })
		})
	})
}

func BenchmarkGELU(b *testing.B) {
	n := benchRows * 4 * benchD
	benchDevices(b, func(b *testing.B, d *cpu.Device) {
		x, out, dy := benchBuf(b, d, n, 1), benchBuf(b, d, n, 0), benchBuf(b, d, n, 1)
		b.Run("forward", func(b *testing.B) {
			loop(b, func() { d.GELU(out, x) })
		})
		b.Run("backward", func(b *testing.B) {
			loop(b, func() { d.GELUBackward(out, dy, x) })
		})
	})
}

func BenchmarkCrossEntropy(b *testing.B) {
	benchDevices(b, func(b *testing.B, d *cpu.Device) {
		x, dl, l := benchBuf(b, d, benchRows*benchV, 2), benchBuf(b, d, benchRows*benchV, 0), benchBuf(b, d, benchRows, 0)
		tg, _ := d.AllocInts(benchRows)
		loop(b, func() { d.CrossEntropy(l, dl, x, tg, benchRows, benchV, 1.0/benchRows) })
	})
}

func BenchmarkAdamW(b *testing.B) {
	const n = 854272
	benchDevices(b, func(b *testing.B, d *cpu.Device) {
		p, g, m, v := benchBuf(b, d, n, 1), benchBuf(b, d, n, 1), benchBuf(b, d, n, 0), benchBuf(b, d, n, 0)
		h := gpu.AdamW{LR: 1e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, Step: 1}
		loop(b, func() { d.AdamWStep(p, g, m, v, nil, h) })
	})
}

func BenchmarkSelectiveScan(b *testing.B) {
	s := gpu.ScanShape{B: benchB, T: benchT, C: 2 * benchD, N: 16}
	rows := s.B * s.T
	benchDevices(b, func(b *testing.B, d *cpu.Device) {
		u, y, dl := benchBuf(b, d, rows*s.C, 1), benchBuf(b, d, rows*s.C, 0), benchBuf(b, d, rows*s.C, 0.1)
		st := benchBuf(b, d, rows*s.C*s.N, 0)
		A, bm, cm, dd := benchBuf(b, d, s.C*s.N, 1), benchBuf(b, d, rows*s.N, 1), benchBuf(b, d, rows*s.N, 1), benchBuf(b, d, s.C, 1)
		du, ddl, dA, dbm, dcm, dD := benchBuf(b, d, rows*s.C, 0), benchBuf(b, d, rows*s.C, 0), benchBuf(b, d, s.C*s.N, 0),
			benchBuf(b, d, rows*s.N, 0), benchBuf(b, d, rows*s.N, 0), benchBuf(b, d, s.C, 0)
		b.Run("forward", func(b *testing.B) {
			loop(b, func() { d.SelectiveScan(y, st, u, dl, A, bm, cm, dd, s) })
		})
		b.Run("backward", func(b *testing.B) {
			loop(b, func() { d.SelectiveScanBackward(du, ddl, dA, dbm, dcm, dD, y, st, u, dl, A, bm, cm, dd, s) })
		})
	})
}
