package cpu

import "github.com/airanode/airanode/gpu"

type scanArgs struct {
	s                   gpu.ScanShape
	v                   *vecImpl
	zero                []float32 // C·N zeros: the state before t = 0
	y, states, u, delta []float32
	A, Bm, Cm, D        []float32
}

// prev returns the states of channels [c0,c1) at step t−1 of row r (zeros at t = 0).
func (a *scanArgs) prev(r, tt, c0, c1 int) []float32 {
	N, C := a.s.N, a.s.C
	if tt == 0 {
		return a.zero[:(c1-c0)*N]
	}
	return a.states[((r-1)*C+c0)*N : ((r-1)*C+c1)*N]
}

// scanTask runs the forward scan for items [lo,hi), item = b·C + c: each (sequence, channel) pair is
// an independent recurrence over t.
type scanTask struct{ scanArgs }

func (t *scanTask) Run(lo, hi int) {
	s := t.s
	C, N := s.C, s.N
	for it := lo; it < hi; {
		b, c0 := it/C, it%C
		c1 := min(C, c0+hi-it)
		for tt := range s.T {
			r := b*s.T + tt
			y := t.y[r*C+c0 : r*C+c1]
			u := t.u[r*C+c0 : r*C+c1]
			t.v.scanFwd(t.states[(r*C+c0)*N:(r*C+c1)*N], t.prev(r, tt, c0, c1), t.A[c0*N:c1*N],
				t.Bm[r*N:(r+1)*N], t.Cm[r*N:(r+1)*N], t.delta[r*C+c0:r*C+c1], u, y, N)
			dd := t.D[c0:c1]
			dd, u = dd[:len(y)], u[:len(y)]
			for c := range y {
				y[c] += float32(dd[c] * u[c])
			}
		}
		it += c1 - c0
	}
}

// scanBackTask runs the backward recurrence of sequences [lo,hi): t from T−1 down to 0, channels c in
// increasing order (dBm and dCm rows sum over c in that order). dA and dD are summed per sequence into
// float64 partials that scanSumTask adds over sequences in increasing b.
type scanBackTask struct {
	scanArgs
	du, ddelta, dBm, dCm, dy []float32
	dh                       []float32 // [B, C, N]
	pA                       []float64 // [B, C, N]
	pD                       []float64 // [B, C]
}

func (t *scanBackTask) Run(lo, hi int) {
	s := t.s
	C, N := s.C, s.N
	for b := lo; b < hi; b++ {
		dhs := t.dh[b*C*N : (b+1)*C*N]
		clear(dhs)
		pA := t.pA[b*C*N : (b+1)*C*N]
		pD := t.pD[b*C : (b+1)*C]
		for tt := s.T - 1; tt >= 0; tt-- {
			r := b*s.T + tt
			dbt, dct := t.dBm[r*N:(r+1)*N], t.dCm[r*N:(r+1)*N]
			clear(dbt)
			clear(dct)
			dy, u := t.dy[r*C:(r+1)*C], t.u[r*C:(r+1)*C]
			du := t.du[r*C : (r+1)*C]
			t.v.scanBack(dhs, t.states[r*C*N:(r+1)*C*N], t.prev(r, tt, 0, C), t.A[:C*N], t.Bm[r*N:(r+1)*N],
				t.Cm[r*N:(r+1)*N], dbt, dct, pA, dy, t.delta[r*C:(r+1)*C], u, t.ddelta[r*C:(r+1)*C], du, N)
			dd := t.D[:C]
			u, du, pD = u[:len(dy)], du[:len(dy)], pD[:len(dy)]
			for c, g := range dy {
				du[c] = float32(g*dd[c]) + du[c]
				pD[c] += float64(float64(g) * float64(u[c]))
			}
		}
	}
}

// scanSumTask adds the per-sequence partials of dA (items [0, C·N)) and dD (items [C·N, C·N+C)) over
// sequences in increasing b and accumulates them into the gradients.
type scanSumTask struct {
	dA, dD []float32
	pA, pD []float64
	B, CN  int
	C      int
}

func (t *scanSumTask) Run(lo, hi int) {
	for i := lo; i < hi; i++ {
		var s float64
		if i < t.CN {
			for b := range t.B {
				s += t.pA[b*t.CN+i]
			}
			t.dA[i] = float32(float64(t.dA[i]) + s)
		} else {
			c := i - t.CN
			for b := range t.B {
				s += t.pD[b*t.C+c]
			}
			t.dD[c] = float32(float64(t.dD[c]) + s)
		}
	}
}

func (d *Device) scanArgs(name string, s gpu.ScanShape, y, states, u, delta, A, Bm, Cm, D gpu.Buffer) (scanArgs, bool) {
	ys, ok1 := d.f(y)
	st, ok2 := d.f(states)
	us, ok3 := d.f(u)
	dl, ok4 := d.f(delta)
	as, ok5 := d.f(A)
	bs, ok6 := d.f(Bm)
	cs, ok7 := d.f(Cm)
	ds, ok8 := d.f(D)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !ok7 || !ok8 {
		return scanArgs{}, false
	}
	rows := s.B * s.T
	ok := s.B >= 0 && s.T >= 0 && s.C > 0 && s.N > 0 && len(ys) >= rows*s.C && len(st) >= rows*s.C*s.N &&
		len(us) >= rows*s.C && len(dl) >= rows*s.C && len(as) >= s.C*s.N && len(bs) >= rows*s.N &&
		len(cs) >= rows*s.N && len(ds) >= s.C
	if !d.shape(ok, name) {
		return scanArgs{}, false
	}
	if len(d.scr.scanZero) < s.C*s.N {
		d.scr.scanZero = make([]float32, s.C*s.N)
	}
	return scanArgs{s: s, v: d.vec, zero: d.scr.scanZero, y: ys, states: st, u: us, delta: dl, A: as, Bm: bs, Cm: cs, D: ds}, true
}

// SelectiveScan computes, per sequence b and channel c, with h ∈ R^N starting at 0:
// h_t = exp(δ_t·A_c) ⊙ h_{t−1} + (δ_t·u_t)·B_t and y_t = Σ_n C_t,n·h_t,n + D_c·u_t (the sum in eight
// lanes, see vec_scan.go), saving every h_t in states. Threads split (sequence, channel).
func (d *Device) SelectiveScan(y, states, u, delta, A, Bm, Cm, D gpu.Buffer, s gpu.ScanShape) {
	a, ok := d.scanArgs("SelectiveScan", s, y, states, u, delta, A, Bm, Cm, D)
	if !ok {
		return
	}
	t := &d.k.scan
	t.scanArgs = a
	d.parallel(s.B*s.C, s.T*s.N*16, t)
	t.scanArgs = scanArgs{}
}

// SelectiveScanBackward overwrites du, ddelta, dBm and dCm and accumulates dA and dD, from the saved
// states. Threads split sequences; see scanBackTask and scanSumTask for the reduction orders.
func (d *Device) SelectiveScanBackward(du, ddelta, dA, dBm, dCm, dD, dy, states, u, delta, A, Bm, Cm, D gpu.Buffer, s gpu.ScanShape) {
	a, ok := d.scanArgs("SelectiveScanBackward", s, dy, states, u, delta, A, Bm, Cm, D)
	if !ok {
		return
	}
	dus, ok1 := d.f(du)
	dls, ok2 := d.f(ddelta)
	das, ok3 := d.f(dA)
	dbs, ok4 := d.f(dBm)
	dcs, ok5 := d.f(dCm)
	dds, ok6 := d.f(dD)
	rows := s.B * s.T
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !d.shape(len(dus) >= rows*s.C && len(dls) >= rows*s.C &&
		len(das) >= s.C*s.N && len(dbs) >= rows*s.N && len(dcs) >= rows*s.N && len(dds) >= s.C, "SelectiveScanBackward") {
		return
	}
	p := &d.scr
	p.scanDh = grow32(p.scanDh, s.B*s.C*s.N)
	t := &d.k.scanB
	*t = scanBackTask{scanArgs: a, du: dus, ddelta: dls, dBm: dbs, dCm: dcs, dy: a.y, dh: p.scanDh,
		pA: p.f64(&p.scanDA, s.B*s.C*s.N), pD: p.f64(&p.scanDD, s.B*s.C)}
	d.parallel(s.B, s.T*s.C*s.N*16, t)
	sum := &d.k.scanSum
	*sum = scanSumTask{dA: das, dD: dds, pA: t.pA, pD: t.pD, B: s.B, CN: s.C * s.N, C: s.C}
	d.parallel(s.C*s.N+s.C, s.B, sum)
	*t = scanBackTask{}
	*sum = scanSumTask{}
}
