// Package gemm is the CPU matrix-multiply engine of the cpu device: C = op(A)·op(B) in float32 with a
// fixed accumulation order (one FMA chain per output element over k in increasing order), so every code
// path (AVX-512, AVX2, portable Go) and every thread count produce the same bits.
//
// An Engine owns a fixed pool of worker goroutines and its packing buffers. It may be used by one
// goroutine at a time.
package gemm

import (
	"math"
	"sync"
)

// Path is a kernel family; all give identical results.
type Path int

// The paths, from slowest to fastest.
const (
	Portable Path = iota
	AVX2
	AVX512
)

func (p Path) String() string {
	switch p {
	case AVX2:
		return "avx2"
	case AVX512:
		return "avx512"
	}
	return "portable"
}

// Task is work split over an index range by Engine.Parallel.
type Task interface {
	// Run processes indices [lo, hi).
	Run(lo, hi int)
}

// Engine multiplies matrices on a fixed number of threads.
type Engine struct {
	threads int
	path    Path
	once    sync.Once
}

// New returns an engine using threads worker threads (at least 1).
func New(threads int) *Engine {
	if threads < 1 {
		threads = 1
	}
	return &Engine{threads: threads, path: Portable}
}

// Threads is the number of worker threads.
func (e *Engine) Threads() int { return e.threads }

// Path is the kernel family in use.
func (e *Engine) Path() Path { return e.path }

// Parallel runs t over [0,n), split into contiguous chunks across the workers, and waits.
func (e *Engine) Parallel(n int, t Task) {
	// TODO(gemm): worker pool without allocation.
	t.Run(0, n)
}

// Sgemm computes C[m,n] = op(A)·op(B) (+ C when acc). op(A) is A stored [m,k] with row stride lda, or
// when ta, Aᵀ with A stored [k,m]; op(B) is B stored [k,n] with stride ldb, or when tb, Bᵀ with B stored
// [n,k]. Every C element is the FMA chain over p = 0..k-1 in order, from 0 or from C.
func (e *Engine) Sgemm(ta, tb bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	for i := range m {
		for j := range n {
			var s float32
			if acc {
				s = c[i*ldc+j]
			}
			for p := range k {
				var av, bv float32
				if ta {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if tb {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s = float32(math.FMA(float64(av), float64(bv), float64(s)))
			}
			c[i*ldc+j] = s
		}
	}
}

// Close stops the workers. It is idempotent.
func (e *Engine) Close() { e.once.Do(func() {}) }
