package cpu

import (
	"fmt"
	"math"

	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/gpu/fmath"
)

// ceTask computes the fused softmax cross-entropy of rows [lo,hi); rows are independent.
type ceTask struct {
	v                       *vecImpl
	losses, dlogits, logits []float32
	targets                 []int32
	V                       int
	gradScale               float32
}

func (t *ceTask) Run(lo, hi int) {
	V := t.V
	for r := lo; r < hi; r++ {
		x := t.logits[r*V : (r+1)*V]
		dx := t.dlogits[r*V : (r+1)*V]
		dx = dx[:len(x)]
		tgt := int(t.targets[r])
		if tgt < 0 {
			t.losses[r] = 0
			clear(dx)
			continue
		}
		m := t.v.max(x)
		sums := t.v.expSum(dx, x, m)
		l := float32(lanes8(&sums))
		t.losses[r] = (m + fmath.Log(l)) - x[tgt]
		t.v.scale(dx, t.gradScale/l)
		dx[tgt] -= t.gradScale
	}
}

// CrossEntropy computes losses[r] = logsumexp(logits[r,:]) − logits[r,target] and overwrites
// dlogits[r,:] = kexp(x−m)·(gradScale/Σ) − gradScale·onehot, with m the row's maximum and Σ the
// eight-lane float64 sum of the exponentials (see vec.go); rows whose target is negative get loss 0 and
// gradient 0. Threads split rows.
func (d *Device) CrossEntropy(losses, dlogits, logits gpu.Buffer, targets gpu.Ints, rows, V int, gradScale float32) {
	ls, ok1 := d.f(losses)
	dl, ok2 := d.f(dlogits)
	lg, ok3 := d.f(logits)
	tg, ok4 := d.i(targets)
	if !ok1 || !ok2 || !ok3 || !ok4 || !d.shape(rows >= 0 && V > 0 && len(ls) >= rows && len(dl) >= rows*V &&
		len(lg) >= rows*V && len(tg) >= rows, "CrossEntropy") {
		return
	}
	for r, id := range tg[:rows] {
		if int(id) >= V {
			d.fail(fmt.Errorf("%w: CrossEntropy: target %d at row %d, vocabulary %d", ErrIndex, id, r, V))
			return
		}
	}
	t := &d.k.ce
	*t = ceTask{v: d.vec, losses: ls, dlogits: dl, logits: lg, targets: tg, V: V, gradScale: gradScale}
	d.parallel(rows, V*8, t)
	*t = ceTask{}
}

type argmaxTask struct {
	out    []int32
	logits []float32
	V      int
}

func (t *argmaxTask) Run(lo, hi int) {
	for r := lo; r < hi; r++ {
		x := t.logits[r*t.V : (r+1)*t.V]
		bi, best := -1, float32(math.Inf(-1))
		for j, v := range x {
			if v == v && (bi < 0 || v > best) {
				bi, best = j, v
			}
		}
		t.out[r] = int32(max(bi, 0))
	}
}

// Argmax writes, for each row of logits [rows, V], the index of its largest value (the lowest index on
// ties; NaNs are ignored, and a row of NaNs gives 0).
func (d *Device) Argmax(out gpu.Ints, logits gpu.Buffer, rows, V int) {
	o, ok1 := d.i(out)
	lg, ok2 := d.f(logits)
	if !ok1 || !ok2 || !d.shape(rows >= 0 && V > 0 && len(o) >= rows && len(lg) >= rows*V, "Argmax") {
		return
	}
	t := &d.k.argmax
	*t = argmaxTask{out: o, logits: lg, V: V}
	d.parallel(rows, V, t)
	*t = argmaxTask{}
}
