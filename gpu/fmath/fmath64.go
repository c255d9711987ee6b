package fmath

import "math"

// Exp64 returns e^x in float64, within 1 ulp. It is fdlibm's algorithm (as in Go's pure-Go math.Exp)
// written so that the compiler cannot fuse any multiply-add: the same input gives the same bits on
// every platform.
//
// Special cases: Exp64(+Inf) = +Inf, Exp64(-Inf) = 0, Exp64(NaN) = NaN; overflow gives +Inf and
// underflow 0.
func Exp64(x float64) float64 {
	const (
		ln2Hi = 6.93147180369123816490e-01
		ln2Lo = 1.90821492927058770002e-10

		overflow  = 7.09782712893383973096e+02
		underflow = -7.45133219101941108420e+02
		nearZero  = 1.0 / (1 << 28)
	)
	switch {
	case x != x:
		return x
	case x > overflow:
		return math.Inf(1)
	case x < underflow:
		return 0
	case -nearZero < x && x < nearZero:
		return 1 + x
	}
	var k int
	switch {
	case x < 0:
		k = int(float64(log2e*x) - 0.5)
	case x > 0:
		k = int(float64(log2e*x) + 0.5)
	}
	hi := x - float64(float64(k)*ln2Hi)
	lo := float64(float64(k) * ln2Lo)
	return expmulti(hi, lo, k)
}

// expmulti returns e^(hi-lo)·2^k (fdlibm's __ieee754_exp core) with every product rounded on its own.
func expmulti(hi, lo float64, k int) float64 {
	const (
		p1 = 1.66666666666666657415e-01
		p2 = -2.77777777770155933842e-03
		p3 = 6.61375632143793436117e-05
		p4 = -1.65339022054652515390e-06
		p5 = 4.13813679705723846039e-08
	)
	r := hi - lo
	t := r * r
	p := p4 + float64(t*p5)
	p = p3 + float64(t*p)
	p = p2 + float64(t*p)
	p = p1 + float64(t*p)
	c := r - float64(t*p)
	y := 1 - ((lo - float64(r*c)/(2-c)) - hi)
	return ldexp(y, k)
}

// ldexp returns frac·2^e for a finite, normal, positive frac (the only case expmulti produces),
// rounding once on underflow to a subnormal.
func ldexp(frac float64, e int) float64 {
	b := math.Float64bits(frac)
	e += int((b>>52)&0x7ff) - 1023
	switch {
	case e > 1023:
		return math.Inf(1)
	case e < -1075:
		return 0
	case e < -1022:
		// subnormal: scale into the normal range first, then by 2^-53, which rounds once.
		b = b&^(0x7ff<<52) | uint64(e+53+1023)<<52
		return float64(math.Float64frombits(b) * 0x1p-53)
	}
	return math.Float64frombits(b&^(0x7ff<<52) | uint64(e+1023)<<52)
}

// Log64 returns the natural logarithm of x in float64, within 1 ulp. It is fdlibm's algorithm (as in
// Go's pure-Go math.Log) written so that the compiler cannot fuse any multiply-add.
//
// Special cases: Log64(+Inf) = +Inf, Log64(0) = -Inf, Log64(x < 0) = NaN, Log64(NaN) = NaN.
func Log64(x float64) float64 {
	const (
		ln2Hi = 6.93147180369123816490e-01
		ln2Lo = 1.90821492927058770002e-10
		l1    = 6.666666666666735130e-01
		l2    = 3.999999999940941908e-01
		l3    = 2.857142874366239149e-01
		l4    = 2.222219843214978396e-01
		l5    = 1.818357216161805012e-01
		l6    = 1.531383769920937332e-01
		l7    = 1.479819860511658591e-01
	)
	switch {
	case x != x || x > math.MaxFloat64:
		return x
	case x < 0:
		return math.NaN()
	case x == 0:
		return math.Inf(-1)
	}
	// frexp: x = f1·2^ki with f1 in [½, 1)
	b := math.Float64bits(x)
	ki := int((b>>52)&0x7ff) - 1022
	if ki == -1022 { // subnormal
		x *= 1 << 52
		b = math.Float64bits(x)
		ki = int((b>>52)&0x7ff) - 1022 - 52
	}
	f1 := math.Float64frombits(b&^(0x7ff<<52) | 1022<<52)
	if f1 < math.Sqrt2/2 {
		f1 *= 2
		ki--
	}
	f := f1 - 1
	k := float64(ki)

	s := f / (2 + f)
	s2 := s * s
	s4 := s2 * s2
	t1 := l5 + float64(s4*l7)
	t1 = l3 + float64(s4*t1)
	t1 = l1 + float64(s4*t1)
	t1 = float64(s2 * t1)
	t2 := l4 + float64(s4*l6)
	t2 = l2 + float64(s4*t2)
	t2 = float64(s4 * t2)
	R := t1 + t2
	hfsq := float64(float64(0.5*f) * f)
	return float64(k*ln2Hi) - ((hfsq - (float64(s*(hfsq+R)) + float64(k*ln2Lo))) - f)
}
