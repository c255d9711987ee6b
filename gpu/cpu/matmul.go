package cpu

import (
	"fmt"

	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/gpu/cpu/gemm"
)

// MatMul computes C[m,n] = op(A)·op(B) (+ C when acc) with gemm: every output element is one chain of
// fused multiply-adds over p = 0..k-1 in order. C must not overlap A or B.
func (d *Device) MatMul(c, a, b gpu.Buffer, m, n, k int, ta, tb, acc bool) {
	cs, ok1 := d.f(c)
	as, ok2 := d.f(a)
	bs, ok3 := d.f(b)
	if !ok1 || !ok2 || !ok3 {
		return
	}
	lda, ldb := k, n
	if ta {
		lda = m
	}
	if tb {
		ldb = k
	}
	if err := gemm.CheckArgs(ta, tb, m, n, k, len(as), max(lda, 1), len(bs), max(ldb, 1), len(cs), max(n, 1)); err != nil {
		d.fail(fmt.Errorf("%w: MatMul: %w", ErrShape, err))
		return
	}
	d.eng.Sgemm(ta, tb, m, n, k, as, max(lda, 1), bs, max(ldb, 1), cs, max(n, 1), acc)
}
