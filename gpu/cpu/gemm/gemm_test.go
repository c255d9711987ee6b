package gemm

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// refGemm is the definition: one FMA chain per element over p in increasing order.
func refGemm(ta, tb bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
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
				s = FMA32(av, bv, s)
			}
			c[i*ldc+j] = s
		}
	}
}

// randMat fills n floats with values of mixed magnitudes and signs, so that rounding differs between
// summation orders (a wrong order shows up as different bits).
func randMat(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(math.Ldexp(rng.Float64()*2-1, rng.IntN(12)-6))
	}
	return x
}

type shape struct{ m, n, k int }

func (s shape) String() string { return fmt.Sprintf("%dx%dx%d", s.m, s.n, s.k) }

var testShapes = []shape{
	{1, 1, 1}, {1, 1, 0}, {7, 17, 33}, {17, 7, 100}, {33, 129, 17}, {100, 33, 7}, {129, 100, 3},
	{15, 31, 1}, {14, 32, 13}, {29, 65, 30}, {6, 16, 4}, {13, 47, 53}, {3, 1, 520}, {1, 130, 9},
	{0, 5, 5}, {5, 0, 5}, {45, 33, 0},
}

// operands builds A, B and C for a shape with leading dimensions padded by pad, and C's padding filled
// with a sentinel that must survive.
type operands struct {
	a, b, c       []float32
	lda, ldb, ldc int
}

const sentinel = float32(-12345.5)

func makeOperands(rng *rand.Rand, ta, tb bool, s shape, pad int) operands {
	ar, ac := s.m, s.k
	if ta {
		ar, ac = s.k, s.m
	}
	br, bc := s.k, s.n
	if tb {
		br, bc = s.n, s.k
	}
	o := operands{lda: ac + pad, ldb: bc + pad, ldc: s.n + pad}
	o.a = randMat(rng, ar*o.lda)
	o.b = randMat(rng, br*o.ldb)
	o.c = randMat(rng, s.m*o.ldc)
	for i := range s.m {
		for j := s.n; j < o.ldc; j++ {
			o.c[i*o.ldc+j] = sentinel
		}
	}
	return o
}

func firstDiff(x, y []float32) int {
	for i := range x {
		if !sameBits(x[i], y[i]) {
			return i
		}
	}
	return -1
}

func newEngine(t testing.TB, threads int, p Path) *Engine {
	t.Helper()
	e := New(threads)
	t.Cleanup(e.Close)
	if err := e.SetPath(p); err != nil {
		t.Fatal(err)
	}
	return e
}

// smallBlocks makes e use cache blocks of a few steps and register tiles, so that small shapes cross
// every block boundary (k blocks, column blocks, packed row blocks) and exercise their edges.
func smallBlocks(e *Engine) {
	ks := *e.ks.Load()
	ks.kc, ks.nc, ks.mc, ks.mcAll = 5, 2*ks.nr, 2*ks.mr, 3*ks.mr
	e.ks.Store(&ks)
}

func TestSgemmMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	type key struct {
		p     Path
		th    int
		small bool
	}
	var keys []key
	engines := map[key]*Engine{}
	for _, p := range Available() {
		for _, th := range []int{1, 2, 3} {
			for _, small := range []bool{false, true} {
				k := key{p, th, small}
				keys = append(keys, k)
				engines[k] = newEngine(t, th, p)
				if small {
					smallBlocks(engines[k])
				}
			}
		}
	}
	for _, s := range testShapes {
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			for _, acc := range []bool{false, true} {
				for _, pad := range []int{0, 3} {
					ta, tb := tr[0], tr[1]
					o := makeOperands(rng, ta, tb, s, pad)
					want := append([]float32(nil), o.c...)
					refGemm(ta, tb, s.m, s.n, s.k, o.a, o.lda, o.b, o.ldb, want, o.ldc, acc)
					for _, k := range keys {
						name := fmt.Sprintf("%v/%v/ta=%v,tb=%v/acc=%v/pad=%d/t%d/small=%v", k.p, s, ta, tb, acc, pad, k.th, k.small)
						got := append([]float32(nil), o.c...)
						engines[k].Sgemm(ta, tb, s.m, s.n, s.k, o.a, o.lda, o.b, o.ldb, got, o.ldc, acc)
						if i := firstDiff(got, want); i >= 0 {
							t.Fatalf("%s: C[%d] = %g (%#08x), want %g (%#08x)", name, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
						}
					}
				}
			}
		}
	}
}

// TestPathsAndThreadsIdentical runs shapes that cross the default cache blocks (k > kc, n > nc,
// more rows than a packed block) and split across threads, and requires the same bits from every path
// and thread count, and from the reference.
func TestPathsAndThreadsIdentical(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	shapes := []shape{{130, 40, 530}, {20, 530, 30}}
	for _, s := range shapes {
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			ta, tb := tr[0], tr[1]
			o := makeOperands(rng, ta, tb, s, 1)
			want := append([]float32(nil), o.c...)
			refGemm(ta, tb, s.m, s.n, s.k, o.a, o.lda, o.b, o.ldb, want, o.ldc, true)
			for _, p := range Available() {
				for _, th := range []int{1, 2, 3} {
					e := newEngine(t, th, p)
					got := append([]float32(nil), o.c...)
					e.Sgemm(ta, tb, s.m, s.n, s.k, o.a, o.lda, o.b, o.ldb, got, o.ldc, true)
					if i := firstDiff(got, want); i >= 0 {
						t.Fatalf("%v ta=%v tb=%v %v t%d: C[%d] = %#08x, want %#08x", s, ta, tb, p, th, i, math.Float32bits(got[i]), math.Float32bits(want[i]))
					}
				}
			}
		}
	}
	// A training-sized shape on the SIMD paths only (the portable path is slow under -race): the
	// paths and thread counts must agree with each other.
	if testing.Short() {
		return
	}
	s := shape{600, 300, 700}
	for _, tr := range [][2]bool{{false, false}, {true, true}} {
		ta, tb := tr[0], tr[1]
		o := makeOperands(rng, ta, tb, s, 0)
		var want []float32
		for _, p := range Available()[1:] {
			for _, th := range []int{1, 2, 3} {
				e := newEngine(t, th, p)
				got := append([]float32(nil), o.c...)
				e.Sgemm(ta, tb, s.m, s.n, s.k, o.a, o.lda, o.b, o.ldb, got, o.ldc, false)
				if want == nil {
					want = got
					continue
				}
				if i := firstDiff(got, want); i >= 0 {
					t.Fatalf("%v ta=%v tb=%v %v t%d: C[%d] = %#08x, first run gave %#08x", s, ta, tb, p, th, i, math.Float32bits(got[i]), math.Float32bits(want[i]))
				}
			}
		}
	}
}

func TestSgemmSpecials(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	a := []float32{1, inf, 2, 0, nan, 1, -inf, 1}         // 2x4
	b := []float32{1, 1, 0, 1, 1, 1, inf, -1, 3, 1, 1, 1} // 4x3
	want := make([]float32, 6)
	refGemm(false, false, 2, 3, 4, a, 4, b, 3, want, 3, false)
	for _, p := range Available() {
		e := newEngine(t, 2, p)
		got := make([]float32, 6)
		e.Sgemm(false, false, 2, 3, 4, a, 4, b, 3, got, 3, false)
		if i := firstDiff(got, want); i >= 0 {
			t.Errorf("%v: C[%d] = %g, want %g", p, i, got[i], want[i])
		}
	}
}

// TestSgemmZeroSign: a chain starts from +0, so fma(-1, 0, +0) = +0, where a multiply would give -0.
func TestSgemmZeroSign(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	for _, p := range Available() {
		e := newEngine(t, 1, p)
		c := []float32{negZero, negZero}
		e.Sgemm(false, false, 1, 2, 1, []float32{-1}, 1, []float32{0, negZero}, 2, c, 2, false)
		if math.Signbit(float64(c[0])) || math.Signbit(float64(c[1])) {
			t.Errorf("%v: -1*0 from a fresh chain = %v, %v; want +0, +0", p, c[0], c[1])
		}
		c = []float32{negZero, 1}
		e.Sgemm(false, false, 1, 2, 1, []float32{-1}, 1, []float32{0, 0}, 2, c, 2, true)
		if !math.Signbit(float64(c[0])) || c[1] != 1 {
			t.Errorf("%v: -0 + -1*0 = %v (want -0), 1 + -1*0 = %v", p, c[0], c[1])
		}
	}
}

func TestSgemmK0(t *testing.T) {
	for _, p := range Available() {
		e := newEngine(t, 2, p)
		c := []float32{1, 2, 3, 4, 5, 6}
		e.Sgemm(false, false, 2, 2, 0, nil, 0, nil, 2, c, 3, true)
		if c[0] != 1 || c[4] != 5 {
			t.Errorf("%v: k=0 with acc changed C: %v", p, c)
		}
		e.Sgemm(false, false, 2, 2, 0, nil, 0, nil, 2, c, 3, false)
		if want := []float32{0, 0, 3, 0, 0, 6}; firstDiff(c, want) >= 0 {
			t.Errorf("%v: k=0 without acc: C = %v, want %v", p, c, want)
		}
	}
}

func TestCheckArgs(t *testing.T) {
	tests := []struct {
		name                            string
		ta, tb                          bool
		m, n, k                         int
		lenA, lda, lenB, ldb, lenC, ldc int
		ok                              bool
	}{
		{"exact", false, false, 2, 3, 4, 8, 4, 12, 3, 6, 3, true},
		{"padded last row short", false, false, 2, 3, 4, 9, 5, 12, 3, 6, 3, true},
		{"transposed", true, true, 2, 3, 4, 8, 2, 12, 4, 6, 3, true},
		{"empty", false, false, 0, 0, 0, 0, 0, 0, 0, 0, 0, true},
		{"k=0 needs only C", false, false, 2, 2, 0, 0, 0, 0, 0, 4, 2, true},
		{"negative m", false, false, -1, 3, 4, 8, 4, 12, 3, 6, 3, false},
		{"negative k", false, false, 1, 3, -4, 8, 4, 12, 3, 6, 3, false},
		{"lda too small", false, false, 2, 3, 4, 8, 3, 12, 3, 6, 3, false},
		{"lda too small transposed", true, false, 2, 3, 4, 8, 1, 12, 3, 6, 3, false},
		{"A short", false, false, 2, 3, 4, 7, 4, 12, 3, 6, 3, false},
		{"B short", false, false, 2, 3, 4, 8, 4, 11, 3, 6, 3, false},
		{"B transposed short", false, true, 2, 3, 4, 8, 4, 11, 4, 6, 3, false},
		{"C short", false, false, 2, 3, 4, 8, 4, 12, 3, 5, 3, false},
		{"ldc too small", false, false, 2, 3, 4, 8, 4, 12, 3, 6, 2, false},
		{"huge ld", false, false, 3, 3, 4, 8, math.MaxInt, 12, 3, 9, 3, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckArgs(tc.ta, tc.tb, tc.m, tc.n, tc.k, tc.lenA, tc.lda, tc.lenB, tc.ldb, tc.lenC, tc.ldc)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckArgs = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrShape) {
				t.Fatalf("error %v does not wrap ErrShape", err)
			}
			if tc.ok || tc.lenA < 0 {
				return
			}
			// Sgemm refuses the same arguments with a panic carrying the error, before touching memory.
			e := New(1)
			defer e.Close()
			defer func() {
				r := recover()
				if err, ok := r.(error); !ok || !errors.Is(err, ErrShape) {
					t.Fatalf("Sgemm panic = %v, want ErrShape", r)
				}
			}()
			e.Sgemm(tc.ta, tc.tb, tc.m, tc.n, tc.k, make([]float32, tc.lenA), tc.lda, make([]float32, tc.lenB), tc.ldb, make([]float32, tc.lenC), tc.ldc, false)
			t.Fatal("Sgemm did not panic")
		})
	}
}

func TestSetPath(t *testing.T) {
	e := New(1)
	defer e.Close()
	if got, want := e.Path(), Available()[len(Available())-1]; got != want {
		t.Errorf("default path %v, want the fastest, %v", got, want)
	}
	for _, p := range Available() {
		if err := e.SetPath(p); err != nil || e.Path() != p {
			t.Errorf("SetPath(%v) = %v, path %v", p, err, e.Path())
		}
	}
	before := e.Path()
	for _, p := range []Path{-1, AVX512 + 1} {
		if err := e.SetPath(p); !errors.Is(err, ErrPathUnavailable) {
			t.Errorf("SetPath(%d) = %v, want ErrPathUnavailable", p, err)
		}
	}
	if e.Path() != before {
		t.Errorf("a failed SetPath changed the path to %v", e.Path())
	}
	if Available()[0] != Portable {
		t.Errorf("Available() = %v, want Portable first", Available())
	}
}

// countTask records which indices ran and how many chunks there were.
type countTask struct {
	hits   []atomic.Int32
	chunks atomic.Int32
}

func (c *countTask) Run(lo, hi int) {
	c.chunks.Add(1)
	for i := lo; i < hi; i++ {
		c.hits[i].Add(1)
	}
}

func TestParallel(t *testing.T) {
	for _, th := range []int{1, 2, 3, 5} {
		e := New(th)
		for _, n := range []int{0, 1, 2, 3, 4, 7, 100} {
			task := &countTask{hits: make([]atomic.Int32, n)}
			e.Parallel(n, task)
			for i := range task.hits {
				if h := task.hits[i].Load(); h != 1 {
					t.Fatalf("threads %d n %d: index %d ran %d times", th, n, i, h)
				}
			}
			if c := int(task.chunks.Load()); n > 0 && c != min(th, n) {
				t.Errorf("threads %d n %d: %d chunks, want %d", th, n, c, min(th, n))
			}
		}
		e.Close()
	}
}

// gemmTask runs an Sgemm per index from inside Parallel: nested calls must be safe and exact.
type gemmTask struct {
	e       *Engine
	a, b    []float32
	c       [][]float32
	m, n, k int
}

func (g *gemmTask) Run(lo, hi int) {
	for i := lo; i < hi; i++ {
		g.e.Sgemm(false, true, g.m, g.n, g.k, g.a, g.k, g.b, g.k, g.c[i], g.n, false)
	}
}

func TestNestedSgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const m, n, k = 40, 70, 90
	g := &gemmTask{e: New(3), a: randMat(rng, m*k), b: randMat(rng, n*k), c: make([][]float32, 6), m: m, n: n, k: k}
	defer g.e.Close()
	for i := range g.c {
		g.c[i] = make([]float32, m*n)
	}
	want := make([]float32, m*n)
	refGemm(false, true, m, n, k, g.a, k, g.b, k, want, n, false)
	g.e.Parallel(len(g.c), g)
	for i, c := range g.c {
		if j := firstDiff(c, want); j >= 0 {
			t.Fatalf("task %d: C[%d] = %g, want %g", i, j, c[j], want[j])
		}
	}
}

func TestCloseStopsWorkers(t *testing.T) {
	before := runtime.NumGoroutine()
	e := New(4)
	if runtime.NumGoroutine() < before+3 {
		t.Fatalf("New(4) started %d goroutines, want 3", runtime.NumGoroutine()-before)
	}
	e.Close()
	e.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Errorf("%d goroutines after Close, %d before New", g, before)
	}
	// A closed engine still computes, on the caller.
	task := &countTask{hits: make([]atomic.Int32, 10)}
	e.Parallel(10, task)
	if task.chunks.Load() != 1 || task.hits[9].Load() != 1 {
		t.Errorf("Parallel after Close: %d chunks", task.chunks.Load())
	}
	c := make([]float32, 4)
	e.Sgemm(false, false, 2, 2, 1, []float32{1, 2}, 1, []float32{3, 4}, 2, c, 2, false)
	if want := []float32{3, 4, 6, 8}; firstDiff(c, want) >= 0 {
		t.Errorf("Sgemm after Close = %v, want %v", c, want)
	}
}

type nopTask struct{ sum atomic.Int64 }

func (t *nopTask) Run(lo, hi int) { t.sum.Add(int64(hi - lo)) }

func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	rng := rand.New(rand.NewPCG(9, 10))
	for _, p := range Available() {
		for _, th := range []int{1, 2, 3} {
			e := newEngine(t, th, p)
			for _, tr := range [][2]bool{{false, false}, {true, true}} {
				s := shape{150, 90, 300}
				o := makeOperands(rng, tr[0], tr[1], s, 2)
				run := func() {
					e.Sgemm(tr[0], tr[1], s.m, s.n, s.k, o.a, o.lda, o.b, o.ldb, o.c, o.ldc, false)
				}
				run() // first call sizes the buffers
				if n := testing.AllocsPerRun(5, run); n != 0 {
					t.Errorf("%v t%d ta=%v: Sgemm allocates %v times per call", p, th, tr[0], n)
				}
			}
			task := &nopTask{}
			if n := testing.AllocsPerRun(20, func() { e.Parallel(1000, task) }); n != 0 {
				t.Errorf("t%d: Parallel allocates %v times per call", th, n)
			}
		}
	}
}

func FuzzSgemm(f *testing.F) {
	f.Add(uint8(3), uint8(5), uint8(7), uint8(0), uint8(1), int64(1))
	f.Add(uint8(15), uint8(33), uint8(40), uint8(3), uint8(2), int64(2))
	f.Add(uint8(1), uint8(1), uint8(0), uint8(1), uint8(0), int64(3))
	var engines []*Engine
	for _, p := range Available() {
		small := newEngine(f, 2, p)
		smallBlocks(small)
		engines = append(engines, newEngine(f, 2, p), small)
	}
	f.Fuzz(func(t *testing.T, m, n, k, flags, pad uint8, seed int64) {
		s := shape{int(m % 48), int(n % 80), int(k % 64)}
		ta, tb, acc := flags&1 != 0, flags&2 != 0, flags&4 != 0
		rng := rand.New(rand.NewPCG(uint64(seed), 0))
		o := makeOperands(rng, ta, tb, s, int(pad%4))
		want := append([]float32(nil), o.c...)
		refGemm(ta, tb, s.m, s.n, s.k, o.a, o.lda, o.b, o.ldb, want, o.ldc, acc)
		for i, e := range engines {
			got := append([]float32(nil), o.c...)
			e.Sgemm(ta, tb, s.m, s.n, s.k, o.a, o.lda, o.b, o.ldb, got, o.ldc, acc)
			if j := firstDiff(got, want); j >= 0 {
				t.Fatalf("%v (small blocks %v) %v ta=%v tb=%v acc=%v: C[%d] = %#08x, want %#08x", e.Path(), i%2 == 1, s, ta, tb, acc, j, math.Float32bits(got[j]), math.Float32bits(want[j]))
			}
		}
	})
}

func TestPlan(t *testing.T) {
	ks := &kernelSet{mr: 14, nr: 32}
	tests := []struct {
		m, n, k, threads int
		byCols           bool
		units            int
	}{
		{4096, 512, 128, 2, false, 293},
		{128, 512, 4096, 2, true, 16}, // rows would give 70 and 58
		{512, 128, 4096, 2, false, 37},
		{14, 512, 512, 2, true, 16},
		{4096, 32, 512, 3, false, 293},
		{8, 8, 8, 2, false, 1}, // too small to split
		{100, 100, 100, 1, false, 1},
	}
	for _, tc := range tests {
		g := &gemmJob{ks: ks, m: tc.m, n: tc.n, k: tc.k}
		if u := g.plan(tc.threads); u != tc.units || (u > 1 && g.byCols != tc.byCols) {
			t.Errorf("plan(%dx%dx%d, %d threads) = %d units, byCols %v; want %d, %v", tc.m, tc.n, tc.k, tc.threads, u, g.byCols, tc.units, tc.byCols)
		}
	}
}

// nestedTask runs an Sgemm per index from inside Parallel, for the allocation test.
type nestedTask struct {
	e       *Engine
	a, b, c []float32
}

func (t *nestedTask) Run(lo, hi int) {
	for i := lo; i < hi; i++ {
		c := t.c[i*64*48 : (i+1)*64*48]
		t.e.Sgemm(false, false, 64, 48, 32, t.a, 32, t.b, 48, c, 48, false)
	}
}

func TestNoAllocsNested(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	rng := rand.New(rand.NewPCG(13, 14))
	for _, th := range []int{1, 2, 3} {
		e := newEngine(t, th, Available()[len(Available())-1])
		task := &nestedTask{e: e, a: randMat(rng, 64*32), b: randMat(rng, 32*48), c: make([]float32, 8*64*48)}
		e.Parallel(8, task)
		if n := testing.AllocsPerRun(20, func() { e.Parallel(8, task) }); n != 0 {
			t.Errorf("t%d: Sgemm inside Parallel allocates %v times per call", th, n)
		}
	}
}
