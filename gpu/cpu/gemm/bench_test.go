package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// benchShape is a training-shaped multiplication: m×n×k with the transposes the backward pass uses.
type benchShape struct {
	m, n, k int
	ta, tb  bool
}

func (s benchShape) name() string {
	t := "nn"
	switch {
	case s.ta && s.tb:
		t = "tt"
	case s.ta:
		t = "tn"
	case s.tb:
		t = "nt"
	}
	return fmt.Sprintf("%dx%dx%d/%s", s.m, s.n, s.k, t)
}

// benchShapes: the forward shapes of a d=128 model with 4096 tokens per step and a 4x MLP
// (X·W for W 128x512 and 512x128, and a 512-row block against a 4096-long reduction), then the
// backward passes: dX = dY·Wᵀ (nt) and dW = Xᵀ·dY (tn).
var benchShapes = []benchShape{
	{4096, 512, 128, false, false},
	{4096, 128, 512, false, false},
	{512, 128, 4096, false, false},
	{4096, 128, 512, false, true},
	{4096, 512, 128, false, true},
	{128, 512, 4096, true, false},
	{512, 128, 4096, true, false},
}

// peakTask runs the FMA-peak loop of one path on every thread of an engine.
type peakTask struct {
	path  Path
	flops int // per thread
}

func (t *peakTask) Run(lo, hi int) {
	for range hi - lo {
		fmaPeak(t.path, t.flops)
	}
}

// BenchmarkFMAPeak measures the machine's FMA throughput: independent VFMADD231PS on registers.
func BenchmarkFMAPeak(b *testing.B) {
	for _, p := range []Path{AVX512, AVX2} {
		if kernelSets[p] == nil {
			continue
		}
		for _, th := range []int{1, 2} {
			b.Run(fmt.Sprintf("%v/t%d", p, th), func(b *testing.B) {
				e := New(th)
				defer e.Close()
				t := &peakTask{path: p, flops: 10_000_000}
				for b.Loop() {
					e.Parallel(th, t)
				}
				b.ReportMetric(float64(b.N)*float64(t.flops*th)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkSgemm measures the training shapes on each SIMD path with 1 and 2 threads. Every iteration
// also runs the FMA-peak loop of the same path on the same threads for the same number of flops, timed
// apart, so "%peak" compares the two under the same conditions (on a shared machine both slow down
// alike). The reported ns/op includes both; GFLOP/s is the multiplication's alone.
func BenchmarkSgemm(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, p := range []Path{AVX512, AVX2} {
		if kernelSets[p] == nil {
			continue
		}
		for _, th := range []int{1, 2} {
			for _, s := range benchShapes {
				b.Run(fmt.Sprintf("%v/t%d/%s", p, th, s.name()), func(b *testing.B) {
					e := New(th)
					defer e.Close()
					if err := e.SetPath(p); err != nil {
						b.Fatal(err)
					}
					flops := 2 * s.m * s.n * s.k
					peak := &peakTask{path: p, flops: flops / th}
					o := makeOperands(rng, s.ta, s.tb, shape{s.m, s.n, s.k}, 0)
					e.Sgemm(s.ta, s.tb, s.m, s.n, s.k, o.a, o.lda, o.b, o.ldb, o.c, o.ldc, false)
					var tg, tp time.Duration
					for b.Loop() {
						t0 := time.Now()
						e.Sgemm(s.ta, s.tb, s.m, s.n, s.k, o.a, o.lda, o.b, o.ldb, o.c, o.ldc, false)
						t1 := time.Now()
						e.Parallel(th, peak)
						tg += t1.Sub(t0)
						tp += time.Since(t1)
					}
					gf := float64(b.N) * float64(flops) / tg.Seconds() / 1e9
					pf := float64(b.N) * float64(peak.flops*th) / tp.Seconds() / 1e9
					b.ReportMetric(gf, "GFLOP/s")
					b.ReportMetric(pf, "peakGFLOP/s")
					b.ReportMetric(100*gf/pf, "%peak")
				})
			}
		}
	}
}
