//go:build linux

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

// cpuTime returns the CPU time of the calling thread, or of the whole process.
func cpuTime(process bool) time.Duration {
	clock := unix.CLOCK_THREAD_CPUTIME_ID
	if process {
		clock = unix.CLOCK_PROCESS_CPUTIME_ID
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(int32(clock), &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// TestPerfCPUTime prints GFLOP/s of the training shapes and the FMA peak, for 1 and 2 threads, best of
// many short runs. Two clocks: wall time, and CPU time (thread CPU time for one thread; process CPU
// time divided by the threads for two), which leaves out the time the OS gave to other processes, so
// it estimates the figures of an idle machine on a shared one. Run with GEMM_PERF=1 (GEMM_PERF=all
// adds the portable path; GEMM_KC and GEMM_NC override the cache blocks).
func TestPerfCPUTime(t *testing.T) {
	if os.Getenv("GEMM_PERF") == "" {
		t.Skip("set GEMM_PERF=1")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	rng := rand.New(rand.NewPCG(1, 1))
	fmt.Printf("| path | threads | shape | GFLOP/s (CPU time) | peak (CPU time) | %% of peak | GFLOP/s (wall) | peak (wall) | %% of peak |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, p := range Available() {
		if p == Portable && os.Getenv("GEMM_PERF") != "all" {
			continue
		}
		for _, th := range []int{1, 2} {
			e := newEngine(t, th, p)
			ks := *kernelSets[p]
			fmt.Sscan(os.Getenv("GEMM_KC"), &ks.kc)
			fmt.Sscan(os.Getenv("GEMM_NC"), &ks.nc)
			fmt.Sscan(os.Getenv("GEMM_MCALL"), &ks.mcAll)
			e.ks.Store(&ks)
			best := func(f func() int) (cpu, wall float64) {
				for range 25 {
					c0, w0 := cpuTime(th > 1), time.Now()
					fl := f()
					c, w := cpuTime(th > 1)-c0, time.Since(w0)
					cpu = max(cpu, float64(fl)/(c.Seconds()/float64(th))/1e9)
					wall = max(wall, float64(fl)/w.Seconds()/1e9)
				}
				return cpu, wall
			}
			pt := &peakTask{path: p, flops: 200_000_000}
			peakC, peakW := best(func() int { e.Parallel(th, pt); return pt.flops * th })
			for _, s := range benchShapes {
				o := makeOperands(rng, s.ta, s.tb, shape{s.m, s.n, s.k}, 0)
				gc, gw := best(func() int {
					e.Sgemm(s.ta, s.tb, s.m, s.n, s.k, o.a, o.lda, o.b, o.ldb, o.c, o.ldc, false)
					return 2 * s.m * s.n * s.k
				})
				fmt.Printf("| %v | %d | %s | %.0f | %.0f | %.0f%% | %.0f | %.0f | %.0f%% |\n", p, th, s.name(), gc, peakC, 100*gc/peakC, gw, peakW, 100*gw/peakW)
			}
		}
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
		best, bestPeak := 0.0, 0.0
		for range 20 {
			t0 := cpuTime(false)
			fmaPeak(AVX512, 20_000_000)
			bestPeak = max(bestPeak, 20e6/(cpuTime(false)-t0).Seconds()/1e9)
			t0 = cpuTime(false)
			n := 20_000_000 / (2 * 14 * 32 * kc)
			for range n {
				ks.kernN[14](kc, &a[0], kc, &b[0], &c[0], 32, 1, &b[0], 0)
			}
			best = max(best, float64(n*2*14*32*kc)/(cpuTime(false)-t0).Seconds()/1e9)
		}
		fmt.Printf("kernel 14x32 kc=%d: %.1f GFLOP/s, peak %.1f, %.1f%%\n", kc, best, bestPeak, 100*best/bestPeak)
	}
}

// BenchmarkProfileShape runs one training shape, for profiling (GEMM_SHAPE=index, GEMM_THREADS=n).
func BenchmarkProfileShape(b *testing.B) {
	idx := 1
	fmt.Sscan(os.Getenv("GEMM_SHAPE"), &idx)
	s := benchShapes[idx%len(benchShapes)]
	th := 1
	fmt.Sscan(os.Getenv("GEMM_THREADS"), &th)
	e := New(th)
	defer e.Close()
	o := makeOperands(rand.New(rand.NewPCG(1, 1)), s.ta, s.tb, shape{s.m, s.n, s.k}, 0)
	for b.Loop() {
		e.Sgemm(s.ta, s.tb, s.m, s.n, s.k, o.a, o.lda, o.b, o.ldb, o.c, o.ldc, false)
	}
}
