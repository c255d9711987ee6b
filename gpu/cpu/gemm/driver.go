package gemm

import "unsafe"

// kernelFunc is a microkernel: it updates the r×NR tile of C at c (row stride ldc floats) with k steps
// of r rows of op(A), read in place from a with leading dimension lda, and of the packed B panel b
// (k×NR floats), starting each accumulator from C when load is non-zero and from +0 otherwise. Step p
// also prefetches the cache line at pf + p·pfs bytes (see prefetcher).
type kernelFunc func(k int, a *float32, lda int, b, c *float32, ldc int, load int, pf *float32, pfs int)

// kernelSet is one path: its microkernels and blocking.
type kernelSet struct {
	path   Path
	mr, nr int          // register tile
	kc, nc int          // cache blocks: k steps per packed block, columns per packed B block
	kernN  []kernelFunc // kernN[r] handles r rows of A stored [m,k], 1 ≤ r ≤ mr
	kernT  []kernelFunc // kernT[r] handles r rows of A stored [k,m]
	// pack copies k rows of nr floats from B stored [k,n] (stride ld) into a panel; nil means Go.
	pack func(k int, src *float32, ld int, dst *float32)
	// packT, when set, packs a block of rows rows of a transposed A (k steps, step stride ld) into
	// slivers of mr rows, sliver s at dst[s*k*mr:] with step stride mr; kernT reads them with lda = mr.
	packT func(k int, src *float32, ld int, dst *float32, rows int)
	mc    int // rows per packed block of a transposed A
	mcAll int // at most this many rows of a transposed A are packed whole, once per k block
}

// kernelSets holds the paths this CPU and build can run, indexed by Path.
var kernelSets [AVX512 + 1]*kernelSet

// scratch holds one thread's packing buffers.
type scratch struct {
	a, b, tile []float32
	pf         prefetcher
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// gemmJob is one Sgemm call.
type gemmJob struct {
	ks            *kernelSet
	ta, tb, acc   bool
	m, n, k       int
	a, b, c       []float32
	lda, ldb, ldc int
	byCols        bool // threads split columns (else rows)
	unit          int  // rows or columns per work unit
	scratch       []*scratch
}

// plan chooses how threads split the output: by row slivers or by column panels (a unit of work is
// one register tile's rows or columns), whichever gives the busiest thread the least work. Edge
// columns cost a full tile; edge rows cost their rows. Rows win unless columns are more than 3%
// better: a column split reads all of A on every thread and shortens the row of panels each A sliver
// is reused over. It returns the number of units; 1 means run on one thread.
func (g *gemmJob) plan(threads int) int {
	if threads == 1 || g.m*g.n*g.k < 1<<15 {
		return 1
	}
	mr, nr := g.ks.mr, g.ks.nr
	ru, cu := ceilDiv(g.m, mr), ceilDiv(g.n, nr)
	rowCost := maxChunk(g.m, mr, min(threads, ru)) * cu * nr
	colCost := g.m * ceilDiv(cu, min(threads, cu)) * nr
	if colCost*33 < rowCost*32 {
		g.byCols, g.unit = true, nr
		return cu
	}
	g.byCols, g.unit = false, mr
	return ru
}

// maxChunk is the largest number of rows a thread gets when ceil(m/mr) units of mr rows (the last one
// short) are split into t contiguous chunks as Engine.split does.
func maxChunk(m, mr, t int) int {
	units, most := ceilDiv(m, mr), 0
	for w := range t {
		lo, hi := w*units/t, (w+1)*units/t
		most = max(most, min(hi*mr, m)-lo*mr)
	}
	return most
}

// run computes units [lo, hi) on thread w.
func (g *gemmJob) run(w, lo, hi int) {
	if g.byCols {
		g.block(g.scratch[w], 0, g.m, lo*g.unit, min(hi*g.unit, g.n))
	} else {
		g.block(g.scratch[w], lo*g.unit, min(hi*g.unit, g.m), 0, g.n)
	}
}

// block computes C[i0:i1, j0:j1] on one thread with buffers s.
func (g *gemmJob) block(s *scratch, i0, i1, j0, j1 int) {
	ks := g.ks
	mr, nr := ks.mr, ks.nr
	kc := min(ks.kc, g.k)
	nc := min(ks.nc, ceilDiv(j1-j0, nr)*nr)
	s.b = grow(s.b, kc*nc)
	packT := ks.packT != nil && g.ta
	mc := i1 - i0
	if packT {
		if mc > ks.mcAll {
			mc = ks.mc
		}
		s.a = grow(s.a, kc*ceilDiv(mc, mr)*mr)
	}
	s.tile = grow(s.tile, mr*nr)
	// With a transposed A small enough to pack whole, pack it once per k block and loop over the
	// column blocks inside; otherwise pack it per column block, mc rows at a time.
	once := packT && i1-i0 <= ks.mcAll
	pf := &s.pf
	for pc := 0; pc < g.k; pc += kc {
		kcur := min(kc, g.k-pc)
		load := 0
		if g.acc || pc > 0 {
			load = 1
		}
		if once {
			g.packA(s, pc, kcur, i0, i1-i0)
		}
		for jc := j0; jc < j1; jc += nc {
			ncur := min(nc, j1-jc)
			g.packB(s.b, pc, kcur, jc, ncur, nr)
			// While the kernels run on this block, prefetch what the next packing reads: the
			// packing loops would otherwise wait on memory with no arithmetic to overlap.
			npc, njc := pc, jc+nc
			if njc >= j1 {
				npc, njc = pc+kc, j0
			}
			next := npc < g.k
			nk := min(kc, g.k-npc)
			if once || !packT {
				pf.reset(&s.b[0])
				if next {
					if once && npc != pc {
						pf.add(g.aRegion(npc, nk, i0, i1-i0))
					}
					pf.add(g.bRegion(npc, nk, njc, min(nc, j1-njc)))
				}
				g.rows(s, i0, i1, jc, ncur, pc, kcur, load, packT)
				continue
			}
			for ib := i0; ib < i1; ib += mc {
				mb := min(mc, i1-ib)
				g.packA(s, pc, kcur, ib, mb)
				pf.reset(&s.b[0])
				switch {
				case ib+mc < i1:
					pf.add(g.aRegion(pc, kcur, ib+mc, min(mc, i1-ib-mc)))
				case next:
					pf.add(g.bRegion(npc, nk, njc, min(nc, j1-njc)))
					pf.add(g.aRegion(npc, nk, i0, min(mc, i1-i0)))
				}
				g.rows(s, ib, ib+mb, jc, ncur, pc, kcur, load, true)
			}
		}
	}
}

// pfRegion is part of a matrix that a packing routine will read, as units: unit u is one kernel
// call's worth of prefetches, from src[off+u*step] on, pfs bytes apart.
type pfRegion struct {
	src          []float32
	off, step, n int
	pfs          int
}

// prefetcher hands the units of up to two regions to successive kernel calls (one unit per call;
// calls beyond the last unit prefetch nothing useful: dummy, stride 0).
type prefetcher struct {
	regs  [2]pfRegion
	n     int
	r, u  int
	dummy *float32
}

func (f *prefetcher) reset(dummy *float32) {
	f.regs = [2]pfRegion{}
	f.n, f.r, f.u, f.dummy = 0, 0, 0, dummy
}

func (f *prefetcher) add(r pfRegion) {
	f.regs[f.n] = r
	f.n++
}

func (f *prefetcher) next() (*float32, int) {
	for f.r < f.n {
		reg := &f.regs[f.r]
		if f.u < reg.n {
			i := reg.off + f.u*reg.step
			f.u++
			return &reg.src[i], reg.pfs
		}
		f.r, f.u = f.r+1, 0
	}
	return f.dummy, 0
}

// bRegion is what packB reads for steps [pc, pc+kc) and columns [jc, jc+nc).
func (g *gemmJob) bRegion(pc, kc, jc, nc int) pfRegion {
	if g.tb { // one unit per column (a row of B), a float per step: kc floats
		return pfRegion{src: g.b, off: jc*g.ldb + pc, step: g.ldb, n: nc, pfs: 4}
	}
	// one unit per 16 columns (a cache line per step), kc steps
	return pfRegion{src: g.b, off: pc*g.ldb + jc, step: 16, n: ceilDiv(nc, 16), pfs: 4 * g.ldb}
}

// aRegion is what packA reads for steps [pc, pc+kc) and rows [i0, i0+rows) of a transposed A.
func (g *gemmJob) aRegion(pc, kc, i0, rows int) pfRegion {
	return pfRegion{src: g.a, off: pc*g.lda + i0, step: 16, n: ceilDiv(rows, 16), pfs: 4 * g.lda}
}

// packA packs rows [i0, i0+rows) of a transposed A, steps [pc, pc+kc), into s.a with ks.packT.
// Transposed, the steps of a sliver are lda apart and fill part of a cache line each; packed, A is
// read in contiguous runs and each sliver is contiguous, so it stays in L1 across the panels.
func (g *gemmJob) packA(s *scratch, pc, kc, i0, rows int) {
	_ = g.a[(pc+kc-1)*g.lda+i0+rows-1] // the last element read
	g.ks.packT(kc, &g.a[pc*g.lda+i0], g.lda, &s.a[0], rows)
}

// rows runs the kernels over rows [i0, i1) and columns [jc, jc+ncur) for steps [pc, pc+kcur), with
// the B block packed in s.b and, when packed, the A block in s.a.
func (g *gemmJob) rows(s *scratch, i0, i1, jc, ncur, pc, kcur, load int, packed bool) {
	ks := g.ks
	mr, nr := ks.mr, ks.nr
	for ic := i0; ic < i1; ic += mr {
		mcur := min(mr, i1-ic)
		// A is read in place when it is stored [m,k]: the sliver's rows are contiguous, and stay in
		// L1/L2 across the panels of the block.
		var kern kernelFunc
		var ap *float32
		lda := g.lda
		switch {
		case packed:
			kern, ap, lda = ks.kernT[mcur], &s.a[(ic-i0)*kcur], mr
		case g.ta:
			kern, ap = ks.kernT[mcur], &g.a[pc*g.lda+ic]
		default:
			kern, ap = ks.kernN[mcur], &g.a[ic*g.lda+pc]
		}
		for jr := 0; jr < ncur; jr += nr {
			bp := &s.b[jr*kcur]
			off := ic*g.ldc + jc + jr
			pf, pfs := s.pf.next()
			if ncol := ncur - jr; ncol < nr {
				g.edge(s.tile, kern, kcur, ap, lda, bp, off, mcur, ncol, nr, load, pf, pfs)
				continue
			}
			kern(kcur, ap, lda, bp, &g.c[off], g.ldc, load, pf, pfs)
		}
	}
}

// edge runs the kernel on a tile narrower than nr through the buffer t, so that the kernel never
// touches C outside the matrix. Copies are exact, so the bits are those of a direct call.
func (g *gemmJob) edge(t []float32, kern kernelFunc, k int, ap *float32, lda int, bp *float32, off, rows, cols, nr, load int, pf *float32, pfs int) {
	c := g.c
	if load != 0 {
		for i := range rows {
			copy(t[i*nr:i*nr+cols], c[off+i*g.ldc:off+i*g.ldc+cols])
		}
	}
	kern(k, ap, lda, bp, &t[0], nr, load, pf, pfs)
	for i := range rows {
		copy(c[off+i*g.ldc:off+i*g.ldc+cols], t[i*nr:i*nr+cols])
	}
}

// packB packs op(B)[p0:p0+kc, j0:j0+cols] as panels of nr columns, each kc steps of nr contiguous
// floats, the last panel zero-padded.
func (g *gemmJob) packB(dst []float32, p0, kc, j0, cols, nr int) {
	b, ldb := g.b, g.ldb
	for jr := 0; jr < cols; jr += nr {
		w := min(nr, cols-jr)
		panel := dst[jr*kc : jr*kc+kc*nr]
		if g.tb { // B stored [n, k]: column c of the panel is contiguous in B.
			for c := range w {
				src := b[(j0+jr+c)*ldb+p0:]
				src = src[:kc]
				for p, v := range src {
					panel[p*nr+c] = v
				}
			}
			if w < nr {
				for p := range kc {
					clear(panel[p*nr+w : p*nr+nr])
				}
			}
			continue
		}
		// B stored [k, n]: each step is a contiguous run of w floats.
		if w == nr && g.ks.pack != nil {
			_ = b[(p0+kc-1)*ldb+j0+jr+nr-1] // the last element read
			g.ks.pack(kc, &b[p0*ldb+j0+jr], ldb, &panel[0])
			continue
		}
		for p := range kc {
			src := b[(p0+p)*ldb+j0+jr:]
			row := panel[p*nr : p*nr+nr]
			copy(row[:w], src[:w])
			clear(row[w:])
		}
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// goKernel is the portable microkernel: the same FMA chains as the assembly, with FMA32. Element
// (r, p) of the A sliver is a[r*rs+p*cs].
func goKernel(rows, nr, k int, a *float32, rs, cs int, b, c *float32, ldc int, load int) {
	as := unsafe.Slice(a, (rows-1)*rs+(k-1)*cs+1)
	bs := unsafe.Slice(b, k*nr)
	var t [goMR * goNR]float32
	if load != 0 {
		for i := range rows {
			copy(t[i*nr:i*nr+nr], unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(c), i*ldc*4)), nr))
		}
	}
	for p := range k {
		bp := bs[p*nr : p*nr+nr]
		for i := range rows {
			fmaRow(as[i*rs+p*cs], bp, t[i*nr:i*nr+nr])
		}
	}
	for i := range rows {
		copy(unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(c), i*ldc*4)), nr), t[i*nr:i*nr+nr])
	}
}

// The portable register tile and blocking.
const (
	goMR = 4
	goNR = 16
)

func init() {
	ks := &kernelSet{path: Portable, mr: goMR, nr: goNR, kc: 256, nc: 512,
		kernN: make([]kernelFunc, goMR+1), kernT: make([]kernelFunc, goMR+1)}
	for r := 1; r <= goMR; r++ {
		ks.kernN[r] = func(k int, a *float32, lda int, b, c *float32, ldc int, load int, _ *float32, _ int) {
			goKernel(r, goNR, k, a, lda, 1, b, c, ldc, load)
		}
		ks.kernT[r] = func(k int, a *float32, lda int, b, c *float32, ldc int, load int, _ *float32, _ int) {
			goKernel(r, goNR, k, a, 1, lda, b, c, ldc, load)
		}
	}
	kernelSets[Portable] = ks
}
