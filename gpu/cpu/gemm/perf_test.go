package gemm

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// TestPerfCPUTime prints single-thread GFLOP/s measured in thread CPU time (robust to a loaded
// machine). Run with GEMM_PERF=1.
func TestPerfCPUTime(t *testing.T) {
	if os.Getenv("GEMM_PERF") == "" {
		t.Skip("set GEMM_PERF=1")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	rng := rand.New(rand.NewPCG(1, 1))
	for _, p := range Available() {
		if p == Portable && os.Getenv("GEMM_PERF") != "all" {
			continue
		}
		e := newEngine(t, 1, p)
		ks := *kernelSets[p]
		fmt.Sscan(os.Getenv("GEMM_KC"), &ks.kc)
		fmt.Sscan(os.Getenv("GEMM_NC"), &ks.nc)
		e.ks.Store(&ks)
		best := func(f func() int) float64 {
			b := 0.0
			for range 40 {
				t0 := threadCPU()
				fl := f()
				d := threadCPU() - t0
				if g := float64(fl) / d.Seconds() / 1e9; g > b {
					b = g
				}
			}
			return b
		}
		peak := best(func() int { return fmaPeak(p, 50_000_000) })
		for _, s := range benchShapes {
			o := makeOperands(rng, s.ta, s.tb, shape{s.m, s.n, s.k}, 0)
			g := best(func() int {
				e.Sgemm(s.ta, s.tb, s.m, s.n, s.k, o.a, o.lda, o.b, o.ldb, o.c, o.ldc, false)
				return 2 * s.m * s.n * s.k
			})
			fmt.Printf("%-8v %-22s %7.1f GFLOP/s  peak %6.1f  %5.1f%%\n", p, s.name(), g, peak, 100*g/peak)
		}
	}
}

// BenchmarkProfileShape runs one shape on one thread, for profiling (GEMM_SHAPE=index).
func BenchmarkProfileShape(b *testing.B) {
	idx := 1
	fmt.Sscan(os.Getenv("GEMM_SHAPE"), &idx)
	s := benchShapes[idx]
	e := New(1)
	defer e.Close()
	o := makeOperands(rand.New(rand.NewPCG(1, 1)), s.ta, s.tb, shape{s.m, s.n, s.k}, 0)
	for b.Loop() {
		e.Sgemm(s.ta, s.tb, s.m, s.n, s.k, o.a, o.lda, o.b, o.ldb, o.c, o.ldc, false)
	}
}

// TestPerfKernel measures the bare AVX-512 microkernel on cache-resident data (GEMM_PERF=1).
func TestPerfKernel(t *testing.T) {
	if os.Getenv("GEMM_PERF") == "" || kernelSets[AVX512] == nil {
		t.Skip("set GEMM_PERF=1 on an AVX-512 machine")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ks := kernelSets[AVX512]
	for _, kc := range []int{64, 128, 256, 512} {
		a := make([]float32, 14*kc)
		b := make([]float32, 32*kc)
		c := make([]float32, 14*32)
		best := 0.0
		bestPeak := 0.0
		for range 20 {
			t0 := threadCPU()
			fmaPeak(AVX512, 20_000_000)
			d := threadCPU() - t0
			bestPeak = max(bestPeak, 20e6/d.Seconds()/1e9)
			t0 = threadCPU()
			n := 20_000_000 / (2 * 14 * 32 * kc)
			for range n {
				ks.kernN[14](kc, &a[0], kc, &b[0], &c[0], 32, 1)
			}
			d = threadCPU() - t0
			best = max(best, float64(n*2*14*32*kc)/d.Seconds()/1e9)
		}
		fmt.Printf("kernel 14x32 kc=%d: %.1f GFLOP/s, peak %.1f, %.1f%%\n", kc, best, bestPeak, 100*best/bestPeak)
	}
}
