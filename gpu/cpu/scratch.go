package cpu

// kernels holds one task struct per kernel family. A kernel fills its task, runs it on the worker pool
// and clears the slices it set, so no call allocates.
type kernels struct {
	ew       ewTask
	sumSq    sumSqTask
	embed    embedTask
	pos      posTask
	norm     normTask
	normCols normColsTask
	rotary   rotaryTask
	attn     attnTask
	attnBack attnBackTask
	conv     convTask
	convB    convColsTask
	scan     scanTask
	scanB    scanBackTask
	scanSum  scanSumTask
	ce       ceTask
	argmax   argmaxTask
	adamw    adamwTask
}

// scratchPool is the device's scratch memory. Each slice grows only when a larger shape appears.
type scratchPool struct {
	partial  []float64 // SumSquares block sums
	colAcc   []float64 // column accumulators of the parameter-gradient reductions
	ropeCos  []float32 // rotary tables, [T, rotDim/2]
	ropeSin  []float32
	rope     ropeKey
	kT, vT   []float32 // attention: keys and values transposed per (sequence, kv head)
	scanDh   []float32 // selective-scan backward: running dh per sequence, [B, C, N]
	scanZero []float32 // selective scan: C·N zeros, the state before t = 0 (never written)
	scanDA   []float64 // per-sequence partial sums of dA [B, C, N] and dD [B, C]
	scanDD   []float64

	// work holds one set of per-thread buffers for each thread that may run a task at the same time
	// (the workers plus the caller); a task takes one for the duration of Run.
	work chan *workScratch
	all  []*workScratch
}

// workScratch is the private scratch of one running task.
type workScratch struct {
	s  []float32 // attention: scores, then probabilities, of a row block
	dp []float32 // attention backward: dP of a row block
}

func (p *scratchPool) init(d *Device) {
	n := d.threads + 1
	p.work = make(chan *workScratch, n)
	p.all = make([]*workScratch, n)
	for i := range p.all {
		p.all[i] = &workScratch{}
		p.work <- p.all[i]
	}
}

func (p *scratchPool) release() {
	*p = scratchPool{work: p.work, all: p.all}
	for _, w := range p.all {
		*w = workScratch{}
	}
}

// get takes a workScratch (blocking until one is free); put returns it.
func (p *scratchPool) get() *workScratch  { return <-p.work }
func (p *scratchPool) put(w *workScratch) { p.work <- w }

// f64 returns (*s)[:n], zeroed, growing *s if needed.
func (p *scratchPool) f64(s *[]float64, n int) []float64 {
	if cap(*s) < n {
		*s = make([]float64, n)
	}
	*s = (*s)[:n]
	clear(*s)
	return *s
}

// grow32 returns s[:n], reallocating if its capacity is too small (contents are not preserved).
func grow32(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}
