package cpu

import (
	"math"

	"github.com/airanode/airanode/gpu/cpu/gemm"
)

// The vector primitives below carry every transcendental-heavy inner loop of the kernels (softmax,
// attention backward, cross-entropy, the sigmoid-based activations). Each is defined by its portable
// Go implementation in this file: one IEEE float32 operation at a time, every product rounded before
// it is added (float32(a*b)), sums of exponentials in eight float64 lanes (element j goes to lane
// j mod 8; the lanes are combined as ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7))). The SIMD versions
// (vec_amd64.s) perform the same operations lane by lane, so every path returns the same bits.

// kexp constants: Cephes' expf, with a clamp that keeps 2^n a normal number.
const (
	kexpLo    = float32(-86.5) // below: 0
	kexpHi    = float32(88.3)  // above: e^88.3 (saturates; no overflow)
	kexpLog2e = float32(1.44269504088896341)
	kexpMagic = float32(12582912) // 1.5·2^23: adding it rounds to an integer
	kexpC1    = float32(0.693359375)
	kexpC2    = float32(-2.12194440e-4)
	kexpP0    = float32(1.9875691500e-4)
	kexpP1    = float32(1.3981999507e-3)
	kexpP2    = float32(8.3334519073e-3)
	kexpP3    = float32(4.1665795894e-2)
	kexpP4    = float32(1.6666665459e-1)
	kexpP5    = float32(5.0000001201e-1)
)

// kexp is the kernels' exponential: within 2 ulp of e^x for −86.5 ≤ x ≤ 88.3; 0 below −86.5 (and for
// −Inf); e^88.3 above 88.3 (and for +Inf); NaN for NaN. x = n·ln2 + r (n by rounding x·log2 e with
// the 1.5·2^23 trick, r by Cody–Waite in two steps), e^r by Cephes' degree-7 polynomial, 2^n added to
// the exponent bits (n is read from the bits of the rounded sum, never converted from float).
func kexp(x float32) float32 {
	if x != x {
		return x
	}
	if x < kexpLo {
		return 0
	}
	if x > kexpHi {
		x = kexpHi
	}
	t := float32(x*kexpLog2e) + kexpMagic
	n := t - kexpMagic
	r := x - float32(n*kexpC1)
	r = r - float32(n*kexpC2)
	z := float32(r * r)
	p := float32(kexpP0*r) + kexpP1
	p = float32(p*r) + kexpP2
	p = float32(p*r) + kexpP3
	p = float32(p*r) + kexpP4
	p = float32(p*r) + kexpP5
	y := float32(p*z) + r + 1
	return math.Float32frombits(math.Float32bits(y) + math.Float32bits(t)<<23)
}

// ksigmoid is 1/(1+kexp(−x)).
func ksigmoid(x float32) float32 { return 1 / (1 + kexp(-x)) }

// lanes8 combines eight float64 lane sums in the fixed order of the SIMD reduction.
func lanes8(s *[8]float64) float64 {
	return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]))
}

// vecImpl is one implementation (path) of the vector primitives.
type vecImpl struct {
	name string
	// scaleMax sets v[j] = v[j]·scale and returns the largest result (NaNs ignored; −MaxFloat32 for an
	// empty or all-NaN v; −0 returned as +0).
	scaleMax func(v []float32, scale float32) float32
	// max returns the largest element (NaNs ignored; −MaxFloat32 for an empty or all-NaN v).
	max func(v []float32) float32
	// expSum sets dst[j] = kexp(src[j] − m) and returns the eight float64 lane sums of dst (element j
	// in lane j mod 8, in increasing j; dst may be src).
	expSum func(dst, src []float32, m float32) [8]float64
	// scale sets v[j] = v[j]·s.
	scale func(v []float32, s float32)
	// attnGrad sets p[j] = kexp(float32(p[j]·scale) − lse) and dp[j] = float32(p[j]·(dp[j]−delta))·scale.
	attnGrad func(p, dp []float32, scale, lse, delta float32)
	// The activations (see the ew ops): forward and backward of GELU, SiLU and SwiGLU.
	gelu       func(out, x []float32)
	geluBack   func(dx, dy, x []float32)
	silu       func(out, x []float32)
	siluBack   func(dx, dy, x []float32)
	swiglu     func(out, g, u []float32)
	swigluBack func(dg, du, dy, g, u []float32)
	// The normalisation primitives (vec_norm.go).
	sum64      func(x []float32) [8]float64
	sumSq64    func(x []float32) [8]float64
	sumSqDev64 func(x []float32, mean float64) [8]float64
	gwDot64    func(g, w, x []float32) [8]float64
	lnBackSums func(g, w, x []float32, m, rs float32) (s1, s2 [8]float64)
	rmsOut     func(out, x, w []float32, rs float32)
	lnOut      func(out, x, w, b []float32, m, rs float32)
	rmsBackDx  func(dx, g, w, x []float32, rs, c float32)
	lnBackDx   func(dx, g, w, x []float32, m, rs, a, bb float32)
	colAccLN   func(aw, ab []float64, g, x []float32, m, rs float32)
	colAccRMS  func(aw []float64, g, x []float32, rs float32)
	// scanFwd and scanBack are the selective scan's steps (vec_scan.go).
	scanFwd  func(h, hp, a, bt, ct, dl, u, y []float32, N int)
	scanBack func(dh, h, hp, a, bt, ct, dbt, dct []float32, pa []float64, dy, dl, u, ddl, dul []float32, N int)
}

// portable is the reference implementation, used on every platform without SIMD and by WithPath(Portable).
var portable = &vecImpl{
	name:       "portable",
	scaleMax:   scaleMaxGo,
	max:        maxGo,
	expSum:     expSumGo,
	scale:      scaleGo,
	attnGrad:   attnGradGo,
	gelu:       geluGo,
	geluBack:   geluBackGo,
	silu:       siluGo,
	siluBack:   siluBackGo,
	swiglu:     swigluGo,
	swigluBack: swigluBackGo,
	scanFwd:    scanFwdGo,
	scanBack:   scanBackGo,
	sum64:      sum64Go,
	sumSq64:    sumSq64Go,
	sumSqDev64: sumSqDev64Go,
	gwDot64:    gwDot64Go,
	lnBackSums: lnBackSumsGo,
	rmsOut:     rmsOutGo,
	lnOut:      lnOutGo,
	rmsBackDx:  rmsBackDxGo,
	lnBackDx:   lnBackDxGo,
	colAccLN:   colAccLNGo,
	colAccRMS:  colAccRMSGo,
}

// simd is the fastest implementation this CPU runs (set by vec_amd64.go), or portable.
var simd = portable

// vecFor returns the implementation matching a gemm path: the portable path forces portable code.
func vecFor(p gemm.Path) *vecImpl {
	if p == gemm.Portable {
		return portable
	}
	return simd
}

func scaleMaxGo(v []float32, scale float32) float32 {
	m := float32(-math.MaxFloat32)
	for j := range v {
		x := v[j] * scale
		v[j] = x
		if x > m {
			m = x
		}
	}
	return m + 0 // −0 → +0: the maximum's sign of zero must not depend on the order of comparison
}

func maxGo(v []float32) float32 {
	m := float32(-math.MaxFloat32)
	for _, x := range v {
		if x > m {
			m = x
		}
	}
	return m + 0 // −0 → +0
}

func expSumGo(dst, src []float32, m float32) (sums [8]float64) {
	src = src[:len(dst)]
	for j := range dst {
		e := kexp(src[j] - m)
		dst[j] = e
		sums[j&7] += float64(e)
	}
	return sums
}

func scaleGo(v []float32, s float32) {
	for j := range v {
		v[j] *= s
	}
}

func attnGradGo(p, dp []float32, scale, lse, delta float32) {
	dp = dp[:len(p)]
	for j := range p {
		pj := kexp(float32(p[j]*scale) - lse)
		p[j] = pj
		dp[j] = float32(pj*(dp[j]-delta)) * scale
	}
}

// GELU (tanh approximation) constants: gelu(x) = ½x(1+tanh(√(2/π)(x+0.044715x³))) = x·σ(2√(2/π)(x+0.044715x³)).
const (
	geluC1 = float32(1.5957691216057308) // 2·√(2/π)
	geluC2 = float32(0.044715)
	geluC3 = float32(3 * 0.044715)
)

// gelu: z = c1·(x + float32(c2·float32(float32(x·x)·x))); out = x·σ(z).
func geluGo(out, x []float32) {
	x = x[:len(out)]
	for i := range out {
		v := x[i]
		x2 := float32(v * v)
		z := geluC1 * (v + float32(geluC2*float32(x2*v)))
		out[i] = v * ksigmoid(z)
	}
}

// geluBack: dx = dy·(s + float32(float32(x·float32(s·(1−s)))·c1·(1 + float32(c3·x²)))), s = σ(z).
func geluBackGo(dx, dy, x []float32) {
	dy, x = dy[:len(dx)], x[:len(dx)]
	for i := range dx {
		v := x[i]
		x2 := float32(v * v)
		z := geluC1 * (v + float32(geluC2*float32(x2*v)))
		s := ksigmoid(z)
		dz := geluC1 * (1 + float32(geluC3*x2))
		g := s + float32(float32(v*float32(s*(1-s)))*dz)
		dx[i] = dy[i] * g
	}
}

// silu: out = x·σ(x).
func siluGo(out, x []float32) {
	x = x[:len(out)]
	for i := range out {
		v := x[i]
		out[i] = v * ksigmoid(v)
	}
}

// siluBack: dx = dy·(s + float32(float32(x·s)·(1−s))).
func siluBackGo(dx, dy, x []float32) {
	dy, x = dy[:len(dx)], x[:len(dx)]
	for i := range dx {
		v := x[i]
		s := ksigmoid(v)
		dx[i] = dy[i] * (s + float32(float32(v*s)*(1-s)))
	}
}

// swiglu: out = float32(g·σ(g))·u.
func swigluGo(out, g, u []float32) {
	g, u = g[:len(out)], u[:len(out)]
	for i := range out {
		v := g[i]
		out[i] = float32(v*ksigmoid(v)) * u[i]
	}
}

// swigluBack: silu = float32(g·s); dg = float32(dy·u)·(s + float32(silu·(1−s))); du = dy·silu.
func swigluBackGo(dg, du, dy, g, u []float32) {
	du, dy, g, u = du[:len(dg)], dy[:len(dg)], g[:len(dg)], u[:len(dg)]
	for i := range dg {
		v, y, up := g[i], dy[i], u[i]
		s := ksigmoid(v)
		silu := float32(v * s)
		dg[i] = float32(y*up) * (s + float32(silu*(1-s)))
		du[i] = y * silu
	}
}
