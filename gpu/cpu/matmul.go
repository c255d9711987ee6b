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
	// Row strides of the stored (dense) matrices; at least 1, as gemm wants, when a size is 0.
	lda, ldb, ldc := max(k, 1), max(n, 1), max(n, 1)
	if ta {
		lda = max(m, 1)
	}
	if tb {
		ldb = max(k, 1)
	}
	if err := gemm.CheckArgs(ta, tb, m, n, k, len(as), lda, len(bs), ldb, len(cs), ldc); err != nil {
		d.fail(fmt.Errorf("%w: MatMul: %w", ErrShape, err))
		return
	}
	d.eng.Sgemm(ta, tb, m, n, k, as, lda, bs, ldb, cs, ldc, acc)
}
