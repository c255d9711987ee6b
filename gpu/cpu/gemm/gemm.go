package gemm

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Sentinel errors.
var (
	// ErrPathUnavailable is returned by SetPath for a kernel family this CPU (or build) cannot run.
	ErrPathUnavailable = errors.New("gemm: kernel path not available")
	// ErrShape describes arguments of Sgemm that do not form a valid multiplication: negative sizes,
	// a leading dimension smaller than its row, or a slice too short. Sgemm panics with it (wrapped), as
	// an out-of-range index would: shapes are the caller's invariants, never external input.
	ErrShape = errors.New("gemm: bad shape")
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

// Available lists the paths this CPU and build can run, slowest first. Portable is always there.
func Available() []Path {
	var ps []Path
	for p, ks := range kernelSets {
		if ks != nil {
			ps = append(ps, Path(p))
		}
	}
	return ps
}

// best is the fastest available path.
func best() *kernelSet {
	for p := len(kernelSets) - 1; p > 0; p-- {
		if kernelSets[p] != nil {
			return kernelSets[p]
		}
	}
	return kernelSets[Portable]
}

// Task is work split over an index range by Engine.Parallel.
type Task interface {
	// Run processes indices [lo, hi).
	Run(lo, hi int)
}

// job is one chunk of a Parallel or Sgemm call, handed to a worker.
type job struct {
	t      Task     // a Parallel task, or nil
	g      *gemmJob // an Sgemm call, when t is nil
	w      int      // thread index (selects the packing buffers)
	lo, hi int
}

// Engine multiplies matrices on a fixed number of threads.
//
// An Engine is meant to be used by one goroutine at a time, but every method is safe for concurrent
// use: a Parallel or Sgemm call that finds the workers busy (another call in progress, or a call made
// from inside a Task) runs on its own goroutine alone, with the same results.
type Engine struct {
	threads int
	ks      atomic.Pointer[kernelSet]

	mu      sync.Mutex // held by the call that owns the workers
	closed  bool       // guarded by mu
	work    []chan job // one per worker goroutine (threads-1)
	wg      sync.WaitGroup
	exited  sync.WaitGroup
	scratch []*scratch    // one per thread, used under mu
	spare   chan *scratch // buffers for calls that run beside the workers (nested or concurrent)
	gj      gemmJob       // the Sgemm call in progress, used under mu
	once    sync.Once
}

// New returns an engine using threads worker threads (at least 1): threads-1 goroutines plus the
// caller. It uses the fastest kernel path the CPU supports. Close it to stop the goroutines.
func New(threads int) *Engine {
	if threads < 1 {
		threads = 1
	}
	e := &Engine{threads: threads}
	e.ks.Store(best())
	e.scratch = make([]*scratch, threads)
	for i := range e.scratch {
		e.scratch[i] = new(scratch)
	}
	e.spare = make(chan *scratch, threads+1)
	e.work = make([]chan job, threads-1)
	e.exited.Add(threads - 1)
	for i := range e.work {
		ch := make(chan job, 1)
		e.work[i] = ch
		go e.worker(ch)
	}
	return e
}

// Threads is the number of worker threads.
func (e *Engine) Threads() int { return e.threads }

// Path is the kernel family in use.
func (e *Engine) Path() Path { return e.ks.Load().path }

// SetPath selects a kernel family (tests use it to force each one). It fails, wrapping
// ErrPathUnavailable, if this CPU or build cannot run p; the engine then keeps its current path.
func (e *Engine) SetPath(p Path) error {
	if p < 0 || int(p) >= len(kernelSets) || kernelSets[p] == nil {
		return fmt.Errorf("%w: %v (have %v)", ErrPathUnavailable, p, Available())
	}
	e.ks.Store(kernelSets[p])
	return nil
}

func (e *Engine) worker(ch <-chan job) {
	defer e.exited.Done()
	for j := range ch {
		if j.t != nil {
			j.t.Run(j.lo, j.hi)
		} else {
			j.g.run(j.w, j.lo, j.hi)
		}
		e.wg.Done()
	}
}

// split runs [0,n) as min(threads, n) contiguous chunks, chunk w on thread w (thread 0 is the caller),
// and waits. The caller holds e.mu and the engine is open.
func (e *Engine) split(n int, t Task, g *gemmJob) {
	nt := min(e.threads, n)
	e.wg.Add(nt - 1)
	for w := 1; w < nt; w++ {
		e.work[w-1] <- job{t: t, g: g, w: w, lo: w * n / nt, hi: (w + 1) * n / nt}
	}
	if t != nil {
		t.Run(0, n/nt)
	} else {
		g.run(0, 0, n/nt)
	}
	e.wg.Wait()
}

// Parallel runs t over [0,n), split into contiguous chunks across the threads (at most one chunk per
// thread, the first on the calling goroutine), and waits. Chunks run concurrently, so t must only
// write state that belongs to its own indices. It does not allocate.
func (e *Engine) Parallel(n int, t Task) {
	if n <= 0 {
		return
	}
	if e.threads == 1 || n == 1 || !e.mu.TryLock() {
		t.Run(0, n)
		return
	}
	defer e.mu.Unlock()
	if e.closed {
		t.Run(0, n)
		return
	}
	e.split(n, t, nil)
}

// Close stops the worker goroutines and waits for them. It is idempotent. A closed engine still
// works, on the calling goroutine alone.
func (e *Engine) Close() {
	e.once.Do(func() {
		e.mu.Lock()
		e.closed = true
		for _, ch := range e.work {
			close(ch)
		}
		e.mu.Unlock()
		e.exited.Wait()
	})
}

// CheckArgs reports whether the arguments of Sgemm describe a valid multiplication, returning an error
// wrapping ErrShape if not. Leading dimensions must be at least the row width of the stored matrix, and
// each slice must reach its last element; nothing is read from a matrix with no elements.
func CheckArgs(ta, tb bool, m, n, k int, lenA, lda, lenB, ldb, lenC, ldc int) error {
	if m < 0 || n < 0 || k < 0 {
		return fmt.Errorf("%w: negative size m=%d n=%d k=%d", ErrShape, m, n, k)
	}
	ar, ac := m, k
	if ta {
		ar, ac = k, m
	}
	br, bc := k, n
	if tb {
		br, bc = n, k
	}
	if err := checkMat("A", ar, ac, lenA, lda); err != nil {
		return err
	}
	if err := checkMat("B", br, bc, lenB, ldb); err != nil {
		return err
	}
	return checkMat("C", m, n, lenC, ldc)
}

func checkMat(name string, rows, cols, n, ld int) error {
	if rows == 0 || cols == 0 {
		return nil
	}
	if ld < cols {
		return fmt.Errorf("%w: %s is %dx%d with leading dimension %d", ErrShape, name, rows, cols, ld)
	}
	// (rows-1)*ld + cols, without overflow.
	if n < cols || rows-1 > (n-cols)/ld {
		return fmt.Errorf("%w: %s is %dx%d with leading dimension %d but has %d elements", ErrShape, name, rows, cols, ld, n)
	}
	return nil
}

// Sgemm computes C[m,n] = op(A)·op(B) (+ C when acc). op(A) is A stored [m,k] with row stride lda, or
// when ta, Aᵀ with A stored [k,m]; op(B) is B stored [k,n] with stride ldb, or when tb, Bᵀ with B stored
// [n,k]. Every C element is the FMA chain over p = 0..k-1 in order, from 0 or from C.
//
// C must not overlap A or B. Sgemm panics with an error wrapping ErrShape if CheckArgs rejects the
// arguments. It does not allocate once the engine has seen a shape at least as large.
func (e *Engine) Sgemm(ta, tb bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	if err := CheckArgs(ta, tb, m, n, k, len(a), lda, len(b), ldb, len(c), ldc); err != nil {
		panic(err)
	}
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		if !acc {
			for i := range m {
				clear(c[i*ldc : i*ldc+n])
			}
		}
		return
	}
	ks := e.ks.Load()
	if !e.mu.TryLock() {
		// The workers are busy: most likely this call comes from inside a Parallel task. Run it
		// here, with a spare set of buffers (kept by the engine, so steady state allocates nothing).
		var s *scratch
		select {
		case s = <-e.spare:
		default:
			s = new(scratch)
		}
		g := gemmJob{ks: ks, ta: ta, tb: tb, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, acc: acc}
		g.block(s, 0, m, 0, n)
		select {
		case e.spare <- s:
		default:
		}
		return
	}
	defer e.mu.Unlock()
	g := &e.gj
	*g = gemmJob{ks: ks, ta: ta, tb: tb, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, acc: acc}
	units := g.plan(e.threads)
	if e.closed || units <= 1 {
		g.block(e.scratch[0], 0, m, 0, n)
	} else {
		g.scratch = e.scratch
		e.split(units, nil, g)
	}
	*g = gemmJob{} // keep no reference to the caller's matrices
}
