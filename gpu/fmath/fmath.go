package fmath

import (
	"math"
	"math/bits"
)

// Constants shared by the float32 functions.
const (
	log2e = 1.44269504088896338700e+00
	ln2   = 6.93147180559945286227e-01 // float64 nearest ln 2
	// round is 1.5·2^52: adding it to a float64 of magnitude < 2^51 rounds to an integer (ties to even).
	round = 6755399441055744.0
	// maxRound is the smallest float64 that rounds to +Inf in float32: (2 - 2^-24)·2^127.
	maxRound = 3.4028235677973366e+38
)

// Taylor coefficients 1/n! for the float64 kernels.
const (
	inv2  = 1.0 / 2
	inv3  = 1.0 / 6
	inv4  = 1.0 / 24
	inv5  = 1.0 / 120
	inv6  = 1.0 / 720
	inv7  = 1.0 / 5040
	inv8  = 1.0 / 40320
	inv9  = 1.0 / 362880
	inv10 = 1.0 / 3628800
	inv11 = 1.0 / 39916800
	inv12 = 1.0 / 479001600
	inv13 = 1.0 / 6227020800
	inv14 = 1.0 / 87178291200
)

// expk returns e^d for |d| ≤ 700 with a relative error below 1e-8 (enough for a float32 result).
// d = k·ln2 + r with |r| ≤ ln2/2, e^r by its degree-8 Taylor polynomial (truncation < 2e-10).
func expk(d float64) float64 {
	kf := float64(float64(d*log2e)+round) - round
	r := math.FMA(-kf, ln2, d)
	p := math.FMA(inv8, r, inv7)
	p = math.FMA(p, r, inv6)
	p = math.FMA(p, r, inv5)
	p = math.FMA(p, r, inv4)
	p = math.FMA(p, r, inv3)
	p = math.FMA(p, r, inv2)
	p = math.FMA(p, r, 1)
	p = math.FMA(p, r, 1)
	return float64(p * math.Float64frombits(uint64(int64(kf)+1023)<<52))
}

// to32 rounds a float64 to float32, mapping values beyond the float32 range to ±Inf explicitly (the Go
// specification leaves out-of-range conversions implementation-defined).
func to32(d float64) float32 {
	if d >= maxRound {
		return float32(math.Inf(1))
	}
	if d <= -maxRound {
		return float32(math.Inf(-1))
	}
	return float32(d)
}

// Exp returns e^x.
//
// Special cases: Exp(+Inf) = +Inf, Exp(-Inf) = 0, Exp(NaN) = NaN; results beyond the float32 range
// are +Inf or 0 (subnormal results are rounded once).
func Exp(x float32) float32 {
	switch {
	case x != x:
		return x
	case x > 89:
		return float32(math.Inf(1))
	case x < -104:
		return 0
	}
	return to32(expk(float64(x)))
}

// Sigmoid returns 1/(1+e^-x).
//
// Special cases: Sigmoid(+Inf) = 1, Sigmoid(-Inf) = 0, Sigmoid(NaN) = NaN.
func Sigmoid(x float32) float32 {
	switch {
	case x != x:
		return x
	case x > 20:
		return 1 // 1 - e^-20 rounds to 1 in float32
	case x < -110:
		return 0
	}
	return float32(1 / (1 + expk(-float64(x))))
}

// logk returns ln(d) for a positive, finite float64 d, with a relative error below 1e-9 (enough for a
// float32 result). d = m·2^e with m in [√½, √2); ln m = 2·atanh(s), s = (m-1)/(m+1), |s| ≤ 0.1716,
// by its series to s^9 (truncation below 3e-10 relative).
func logk(d float64) float64 {
	b := math.Float64bits(d)
	e := int((b>>52)&0x7ff) - 1023
	if e == -1023 { // subnormal float64: normalise
		d *= 1 << 54
		b = math.Float64bits(d)
		e = int((b>>52)&0x7ff) - 1023 - 54
	}
	m := math.Float64frombits(b&(1<<52-1) | 1023<<52)
	if m > math.Sqrt2 {
		m *= 0.5
		e++
	}
	f := m - 1
	s := f / (2 + f)
	s2 := s * s
	p := math.FMA(1.0/9, s2, 1.0/7)
	p = math.FMA(p, s2, 1.0/5)
	p = math.FMA(p, s2, 1.0/3)
	p = float64(p * s2)
	s2x := s + s
	lm := math.FMA(s2x, p, s2x)
	return math.FMA(float64(e), ln2, lm)
}

// Log returns the natural logarithm of x.
//
// Special cases: Log(+Inf) = +Inf, Log(0) = -Inf, Log(x < 0) = NaN, Log(NaN) = NaN.
func Log(x float32) float32 {
	switch {
	case x != x || x > math.MaxFloat32:
		return x
	case x < 0:
		return float32(math.NaN())
	case x == 0:
		return float32(math.Inf(-1))
	}
	return float32(logk(float64(x)))
}

// Softplus returns ln(1+e^x), without overflow for large x.
//
// Special cases: Softplus(+Inf) = +Inf, Softplus(-Inf) = 0, Softplus(NaN) = NaN.
func Softplus(x float32) float32 {
	switch {
	case x != x:
		return x
	case x > 20:
		// ln(1+e^x) = x + ln(1+e^-x); e^-20 < 2^-28 is below half an ulp of x.
		return x
	case x < -104:
		return 0
	}
	e := expk(float64(x))
	if e < 1.0/1024 {
		// ln(1+e) = e - e²/2 + e³/3 - e⁴/4 (truncation below e⁵/5 < 3e-16 relative)
		p := math.FMA(-0.25, e, 1.0/3)
		p = math.FMA(p, e, -0.5)
		return float32(math.FMA(float64(p*e), e, e))
	}
	return float32(logk(1 + e))
}

// expm1k returns e^y - 1 for 0 ≤ y ≤ 700 with a relative error below 2e-8.
func expm1k(y float64) float64 {
	if y >= 1 {
		return expk(y) - 1 // e^y-1 ≥ 0.63·e^y: the cancellation is bounded
	}
	// Taylor series to y^13/13! (truncation below 1/14! ≈ 1.2e-11 relative)
	p := math.FMA(inv13, y, inv12)
	p = math.FMA(p, y, inv11)
	p = math.FMA(p, y, inv10)
	p = math.FMA(p, y, inv9)
	p = math.FMA(p, y, inv8)
	p = math.FMA(p, y, inv7)
	p = math.FMA(p, y, inv6)
	p = math.FMA(p, y, inv5)
	p = math.FMA(p, y, inv4)
	p = math.FMA(p, y, inv3)
	p = math.FMA(p, y, inv2)
	p = float64(p * y)
	return math.FMA(p, y, y)
}

// Tanh returns the hyperbolic tangent of x.
//
// Special cases: Tanh(±0) = ±0, Tanh(±Inf) = ±1, Tanh(NaN) = NaN.
func Tanh(x float32) float32 {
	if x != x {
		return x
	}
	ax := float64(x)
	neg := math.Signbit(ax)
	if neg {
		ax = -ax
	}
	var t float64
	if ax > 10 {
		t = 1 // tanh(10) = 1 - 4e-9 rounds to 1 in float32
	} else {
		// tanh(a) = (e^2a - 1) / (e^2a + 1)
		em1 := expm1k(ax + ax)
		t = em1 / (em1 + 2)
	}
	if neg {
		t = -t
	}
	return float32(t)
}

// Sqrt returns the square root of x, correctly rounded (IEEE 754 requires square root to be correctly
// rounded, and the float64 square root of a float32 rounded to float32 is the correctly rounded
// float32 square root).
//
// Special cases: Sqrt(+Inf) = +Inf, Sqrt(±0) = ±0, Sqrt(x < 0) = NaN, Sqrt(NaN) = NaN.
func Sqrt(x float32) float32 {
	return float32(math.Sqrt(float64(x)))
}

// π/2 split into three float64 parts for Cody–Waite reduction: pio2a + pio2b + pio2c = π/2 to ~160 bits.
const (
	pio2a  = 1.5707963267948966      // 0x3FF921FB54442D18
	pio2b  = 6.123233995736766e-17   // 0x3C91A62633145C07
	pio2c  = -1.4973849048591698e-33 // 0xB91F1976B7ED8FBC
	twoOPi = 0.6366197723675814      // 2/π
	// cwLimit bounds the Cody–Waite path; beyond it (every float32 there is an integer multiple of 4)
	// the argument is reduced exactly with the bits of 2/π.
	cwLimit = 1 << 25
)

// twoOverPi holds the first 256 bits of the binary expansion of 2/π, most significant first
// (2/π = 0.101000101111100110000011011011100…₂). Checked against math/big in the tests.
var twoOverPi = [4]uint64{
	0xa2f9836e4e441529,
	0xfc2757d1f534ddc0,
	0xdb6295993c439041,
	0xfe5163abdebbc561,
}

// reduce returns r and q with |x| = r + q·π/2 (mod 2π), |r| ≤ π/4 (plus rounding), for finite x ≥ 0.
func reduce(ax float64) (r float64, q int) {
	if ax < cwLimit {
		kf := float64(float64(ax*twoOPi)+round) - round
		r = math.FMA(-kf, pio2a, ax)
		r = math.FMA(-kf, pio2b, r)
		r = math.FMA(-kf, pio2c, r)
		return r, int(int64(kf)) & 3
	}
	// Payne–Hanek: ax = m·2^e with a 24-bit integer m and e ≥ 2. Bits b_i of 2/π with i < e-1 add
	// multiples of 4 to ax·2/π and are dropped; the 128 bits from b_{e-1} on give ax·2/π mod 4 with
	// 124 fraction bits: the product m·W (W the 128-bit window) has the quadrant in bits 126..127 and
	// the fraction below.
	b := math.Float32bits(float32(ax))
	e := int(b>>23) - 150
	m := uint64(b&(1<<23-1) | 1<<23)
	idx := e - 2 // index of b_{e-1} counting from 0
	w, sh := idx/64, uint(idx%64)
	hi := twoOverPi[w]<<sh | twoOverPi[w+1]>>(64-sh) // a shift by 64 gives 0 in Go
	lo := twoOverPi[w+1]<<sh | twoOverPi[w+2]>>(64-sh)
	c1, p0 := bits.Mul64(lo, m)
	_, p1 := bits.Mul64(hi, m)
	p1, _ = bits.Add64(p1, c1, 0)
	q = int(p1 >> 62)
	f := math.FMA(float64(p1&(1<<62-1)), 0x1p-62, float64(p0)*0x1p-126)
	if f >= 0.5 {
		f--
		q = (q + 1) & 3
	}
	return float64(f * pio2a), q
}

// sink returns sin r for |r| ≤ π/4 + ε, Taylor series to r^13 (truncation below 3e-14 relative).
func sink(r float64) float64 {
	r2 := r * r
	p := math.FMA(-inv13, r2, inv11)
	p = math.FMA(p, r2, -inv9)
	p = math.FMA(p, r2, inv7)
	p = math.FMA(p, r2, -inv5)
	p = math.FMA(p, r2, inv3)
	p = float64(p * r2)
	return math.FMA(-p, r, r)
}

// cosk returns cos r for |r| ≤ π/4 + ε, Taylor series to r^14 (truncation below 2e-15).
func cosk(r float64) float64 {
	r2 := r * r
	p := math.FMA(-inv14, r2, inv12)
	p = math.FMA(p, r2, -inv10)
	p = math.FMA(p, r2, inv8)
	p = math.FMA(p, r2, -inv6)
	p = math.FMA(p, r2, inv4)
	p = math.FMA(p, r2, -inv2)
	return math.FMA(p, r2, 1)
}

// Sin returns the sine of x (radians), with exact argument reduction for every finite float32.
//
// Special cases: Sin(±0) = ±0, Sin(±Inf) = NaN, Sin(NaN) = NaN.
func Sin(x float32) float32 {
	if x != x || x > math.MaxFloat32 || x < -math.MaxFloat32 {
		return float32(math.NaN())
	}
	ax := float64(x)
	neg := math.Signbit(ax)
	if neg {
		ax = -ax
	}
	r, q := reduce(ax)
	var s float64
	switch q {
	case 0:
		s = sink(r)
	case 1:
		s = cosk(r)
	case 2:
		s = -sink(r)
	default:
		s = -cosk(r)
	}
	if neg {
		s = -s
	}
	return float32(s)
}

// Cos returns the cosine of x (radians), with exact argument reduction for every finite float32.
//
// Special cases: Cos(±Inf) = NaN, Cos(NaN) = NaN.
func Cos(x float32) float32 {
	if x != x || x > math.MaxFloat32 || x < -math.MaxFloat32 {
		return float32(math.NaN())
	}
	ax := float64(x)
	if ax < 0 {
		ax = -ax
	}
	r, q := reduce(ax)
	var c float64
	switch q {
	case 0:
		c = cosk(r)
	case 1:
		c = -sink(r)
	case 2:
		c = -cosk(r)
	default:
		c = sink(r)
	}
	return float32(c)
}

// SinCos returns the sine and cosine of a float64 angle, each rounded once to float32 (within 1 ulp).
// Angles with |x| < 2^25 are reduced in float64 without first rounding x to float32 (rotary position
// tables use this: t·θ keeps its full precision); larger angles are rounded to float32 first.
//
// Special cases: SinCos(±Inf) and SinCos(NaN) return NaN, NaN; SinCos(±0) = ±0, 1.
func SinCos(x float64) (sin, cos float32) {
	if x != x || x > math.MaxFloat64 || x < -math.MaxFloat64 {
		nan := float32(math.NaN())
		return nan, nan
	}
	neg := math.Signbit(x)
	ax := x
	if neg {
		ax = -ax
	}
	if ax >= cwLimit {
		ax = float64(float32(ax))
		if ax > math.MaxFloat32 {
			nan := float32(math.NaN())
			return nan, nan
		}
	}
	r, q := reduce(ax)
	sr, cr := sink(r), cosk(r)
	var s, c float64
	switch q {
	case 0:
		s, c = sr, cr
	case 1:
		s, c = cr, -sr
	case 2:
		s, c = -sr, -cr
	default:
		s, c = -cr, sr
	}
	if neg {
		s = -s
	}
	return float32(s), float32(c)
}
