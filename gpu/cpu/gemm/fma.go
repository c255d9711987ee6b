package gemm

import "math"

// FMA32 returns a*b+c computed exactly and rounded once to float32 (round to nearest, ties to even):
// the IEEE 754 fusedMultiplyAdd on binary32, bit for bit what VFMADD231SS/PS and arm64's FMADD compute
// (NaN payloads aside). It is pure Go and gives the same bits on every platform.
//
// float32(math.FMA(float64(a), float64(b), float64(c))) is NOT this function: it rounds twice (to
// float64, then to float32) and is wrong when the first rounding lands exactly on a float32 tie. FMA32
// instead rounds the float64 sum to odd (a sticky last bit), after which the single float32 rounding is
// exact, because float64 carries more than 2·24+2 significant bits.
func FMA32(a, b, c float32) float32 {
	// The product of two float32 values is exact in float64 (24+24 ≤ 53 significant bits, exponents
	// far inside float64's range). The explicit conversion forbids fusing it into the addition.
	p := float64(float64(a) * float64(b))
	q := float64(c)
	r := p + q
	// TwoSum: e is the exact rounding error, p + q = r + e (finite inputs only; NaN otherwise).
	bb := r - p
	e := (p - (r - bb)) + (q - bb)
	rb, eb := math.Float64bits(r), math.Float64bits(e)
	// Round to odd: when r is inexact (e finite and non-zero) and its last bit is 0, move it one ulp
	// toward the exact value: +1 on the bits when e has r's sign, -1 otherwise. Branch-free, because
	// the condition is data-dependent and unpredictable.
	ea := eb &^ (1 << 63)
	nudge := (-ea >> 63) & ((ea - 0x7ff0000000000000) >> 63) & (^rb & 1) // e ≠ 0, e finite, r even
	rb += nudge - (nudge&((eb^rb)>>63))<<1
	return float32(math.Float64frombits(rb))
}

// fmaRow sets c[j] = FMA32(a, b[j], c[j]) for every j: FMA32 written out in a loop, because the
// compiler does not inline it and the portable kernel spends its time here.
func fmaRow(a float32, b, c []float32) {
	c = c[:len(b)]
	pa := float64(a)
	for j, bv := range b {
		p := float64(pa * float64(bv))
		q := float64(c[j])
		r := p + q
		bb := r - p
		e := (p - (r - bb)) + (q - bb)
		rb, eb := math.Float64bits(r), math.Float64bits(e)
		ea := eb &^ (1 << 63)
		nudge := (-ea >> 63) & ((ea - 0x7ff0000000000000) >> 63) & (^rb & 1)
		rb += nudge - (nudge&((eb^rb)>>63))<<1
		c[j] = float32(math.Float64frombits(rb))
	}
}
