//go:build amd64 && !purego

package cpu

import (
	"math"

	"golang.org/x/sys/cpu"
)

//go:generate go run ./internal/vecgen -o vec_amd64.s

// The AVX2 loops process a multiple of 8 elements; the wrappers finish the tail with the portable code,
// which continues the same per-element (and per-lane) definition.

//go:noescape
func expSumAVX2(dst, src *float32, n int, m float32, sums *[8]float64)

//go:noescape
func scaleMaxAVX2(v *float32, n int, scale float32, mx *[8]float32)

//go:noescape
func maxAVX2(v *float32, n int, mx *[8]float32)

//go:noescape
func scaleAVX2(v *float32, n int, s float32)

//go:noescape
func attnGradAVX2(p, dp *float32, n int, scale, lse, delta float32)

//go:noescape
func geluAVX2(out, x *float32, n int)

//go:noescape
func geluBackAVX2(dx, dy, x *float32, n int)

//go:noescape
func siluAVX2(out, x *float32, n int)

//go:noescape
func siluBackAVX2(dx, dy, x *float32, n int)

//go:noescape
func swigluAVX2(out, gate, up *float32, n int)

//go:noescape
func swigluBackAVX2(dg, du, dy, gate, up *float32, n int)

//go:noescape
func scanFwdAVX2(h, hp, a, bt, ct, dl, u, y *float32, nc, N int)

//go:noescape
func scanBackAVX2(dh, h, hp, a, bt, ct, dbt, dct *float32, pa *float64, dy, dl, u, ddl, dul *float32, nc, N int)

//go:noescape
func sum64AVX2(x *float32, n int, s *[8]float64)

//go:noescape
func sumSq64AVX2(x *float32, n int, s *[8]float64)

//go:noescape
func sumSqDev64AVX2(x *float32, n int, mean float64, s *[8]float64)

//go:noescape
func gwDot64AVX2(gr, w, x *float32, n int, s *[8]float64)

//go:noescape
func lnBackSumsAVX2(gr, w, x *float32, n int, m, rs float32, s1, s2 *[8]float64)

//go:noescape
func rmsOutAVX2(out, x, w *float32, n int, rs float32)

//go:noescape
func lnOutAVX2(out, x, w, b *float32, n int, m, rs float32)

//go:noescape
func rmsBackDxAVX2(dx, gr, w, x *float32, n int, rs, c float32)

//go:noescape
func lnBackDxAVX2(dx, gr, w, x *float32, n int, m, rs, a, bb float32)

//go:noescape
func colAccLNAVX2(aw, ab *float64, gr, x *float32, n int, m, rs float32)

//go:noescape
func colAccRMSAVX2(aw *float64, gr, x *float32, n int, rs float32)

var avx2 = &vecImpl{
	name:       "avx2",
	scaleMax:   scaleMaxSIMD,
	max:        maxSIMD,
	expSum:     expSumSIMD,
	scale:      scaleSIMD,
	attnGrad:   attnGradSIMD,
	gelu:       geluSIMD,
	geluBack:   geluBackSIMD,
	silu:       siluSIMD,
	siluBack:   siluBackSIMD,
	swiglu:     swigluSIMD,
	swigluBack: swigluBackSIMD,
	scanFwd:    scanFwdSIMD,
	scanBack:   scanBackSIMD,
	sum64:      sum64SIMD,
	sumSq64:    sumSq64SIMD,
	sumSqDev64: sumSqDev64SIMD,
	gwDot64:    gwDot64SIMD,
	lnBackSums: lnBackSumsSIMD,
	rmsOut:     rmsOutSIMD,
	lnOut:      lnOutSIMD,
	rmsBackDx:  rmsBackDxSIMD,
	lnBackDx:   lnBackDxSIMD,
	colAccLN:   colAccLNSIMD,
	colAccRMS:  colAccRMSSIMD,
}

func init() {
	if cpu.X86.HasAVX2 {
		simd = avx2
	}
}

// lanesMax reduces eight lane maxima (NaNs never enter them) and continues over the tail.
func lanesMax(mx *[8]float32, tail []float32) float32 {
	m := float32(-math.MaxFloat32)
	for _, x := range mx {
		if x > m {
			m = x
		}
	}
	for _, x := range tail {
		if x > m {
			m = x
		}
	}
	return m + 0 // −0 → +0, as the portable code
}

func scaleMaxSIMD(v []float32, scale float32) float32 {
	n8 := len(v) &^ 7
	mx := [8]float32{-math.MaxFloat32, -math.MaxFloat32, -math.MaxFloat32, -math.MaxFloat32,
		-math.MaxFloat32, -math.MaxFloat32, -math.MaxFloat32, -math.MaxFloat32}
	if n8 > 0 {
		scaleMaxAVX2(&v[0], n8, scale, &mx)
	}
	tail := v[n8:]
	for j := range tail {
		tail[j] *= scale
	}
	return lanesMax(&mx, tail)
}

func maxSIMD(v []float32) float32 {
	n8 := len(v) &^ 7
	mx := [8]float32{-math.MaxFloat32, -math.MaxFloat32, -math.MaxFloat32, -math.MaxFloat32,
		-math.MaxFloat32, -math.MaxFloat32, -math.MaxFloat32, -math.MaxFloat32}
	if n8 > 0 {
		maxAVX2(&v[0], n8, &mx)
	}
	return lanesMax(&mx, v[n8:])
}

func expSumSIMD(dst, src []float32, m float32) (sums [8]float64) {
	src = src[:len(dst)]
	n8 := len(dst) &^ 7
	if n8 > 0 {
		expSumAVX2(&dst[0], &src[0], n8, m, &sums)
	}
	for j := n8; j < len(dst); j++ {
		e := kexp(src[j] - m)
		dst[j] = e
		sums[j&7] += float64(e)
	}
	return sums
}

func scaleSIMD(v []float32, s float32) {
	n8 := len(v) &^ 7
	if n8 > 0 {
		scaleAVX2(&v[0], n8, s)
	}
	scaleGo(v[n8:], s)
}

func attnGradSIMD(p, dp []float32, scale, lse, delta float32) {
	dp = dp[:len(p)]
	n8 := len(p) &^ 7
	if n8 > 0 {
		attnGradAVX2(&p[0], &dp[0], n8, scale, lse, delta)
	}
	attnGradGo(p[n8:], dp[n8:], scale, lse, delta)
}

func geluSIMD(out, x []float32) {
	x = x[:len(out)]
	n8 := len(out) &^ 7
	if n8 > 0 {
		geluAVX2(&out[0], &x[0], n8)
	}
	geluGo(out[n8:], x[n8:])
}

func geluBackSIMD(dx, dy, x []float32) {
	dy, x = dy[:len(dx)], x[:len(dx)]
	n8 := len(dx) &^ 7
	if n8 > 0 {
		geluBackAVX2(&dx[0], &dy[0], &x[0], n8)
	}
	geluBackGo(dx[n8:], dy[n8:], x[n8:])
}

func siluSIMD(out, x []float32) {
	x = x[:len(out)]
	n8 := len(out) &^ 7
	if n8 > 0 {
		siluAVX2(&out[0], &x[0], n8)
	}
	siluGo(out[n8:], x[n8:])
}

func siluBackSIMD(dx, dy, x []float32) {
	dy, x = dy[:len(dx)], x[:len(dx)]
	n8 := len(dx) &^ 7
	if n8 > 0 {
		siluBackAVX2(&dx[0], &dy[0], &x[0], n8)
	}
	siluBackGo(dx[n8:], dy[n8:], x[n8:])
}

func swigluSIMD(out, g, u []float32) {
	g, u = g[:len(out)], u[:len(out)]
	n8 := len(out) &^ 7
	if n8 > 0 {
		swigluAVX2(&out[0], &g[0], &u[0], n8)
	}
	swigluGo(out[n8:], g[n8:], u[n8:])
}

func swigluBackSIMD(dg, du, dy, g, u []float32) {
	du, dy, g, u = du[:len(dg)], dy[:len(dg)], g[:len(dg)], u[:len(dg)]
	n8 := len(dg) &^ 7
	if n8 > 0 {
		swigluBackAVX2(&dg[0], &du[0], &dy[0], &g[0], &u[0], n8)
	}
	swigluBackGo(dg[n8:], du[n8:], dy[n8:], g[n8:], u[n8:])
}

// The scan loops need N to be a multiple of 8 (one or more whole vectors per channel); other N run the
// portable code, which is the definition.
func scanFwdSIMD(h, hp, a, bt, ct, dl, u, y []float32, N int) {
	nc := len(dl)
	if N%8 != 0 || nc == 0 {
		scanFwdGo(h, hp, a, bt, ct, dl, u, y, N)
		return
	}
	_, _, _, _, _, _ = h[nc*N-1], hp[nc*N-1], a[nc*N-1], bt[N-1], ct[N-1], u[nc-1]
	_ = y[nc-1]
	scanFwdAVX2(&h[0], &hp[0], &a[0], &bt[0], &ct[0], &dl[0], &u[0], &y[0], nc, N)
}

func scanBackSIMD(dh, h, hp, a, bt, ct, dbt, dct []float32, pa []float64, dy, dl, u, ddl, dul []float32, N int) {
	nc := len(dy)
	if N%8 != 0 || nc == 0 {
		scanBackGo(dh, h, hp, a, bt, ct, dbt, dct, pa, dy, dl, u, ddl, dul, N)
		return
	}
	_, _, _, _, _ = dh[nc*N-1], h[nc*N-1], hp[nc*N-1], a[nc*N-1], pa[nc*N-1]
	_, _, _, _ = bt[N-1], ct[N-1], dbt[N-1], dct[N-1]
	_, _, _, _ = dl[nc-1], u[nc-1], ddl[nc-1], dul[nc-1]
	scanBackAVX2(&dh[0], &h[0], &hp[0], &a[0], &bt[0], &ct[0], &dbt[0], &dct[0], &pa[0], &dy[0], &dl[0], &u[0], &ddl[0], &dul[0], nc, N)
}

// The norm wrappers: the AVX2 loop covers a multiple of 8 elements, the portable code the tail. For
// the lane sums the tail continues its lanes: element j of the tail is element n8+j of the row, and
// n8 is a multiple of 8, so its lane is j mod 8.

func addLanes(s *[8]float64, t [8]float64) {
	for l := range s {
		s[l] += t[l]
	}
}

func sum64SIMD(x []float32) (s [8]float64) {
	n8 := len(x) &^ 7
	if n8 > 0 {
		sum64AVX2(&x[0], n8, &s)
	}
	if n8 < len(x) {
		for j, v := range x[n8:] {
			s[j&7] += float64(v)
		}
	}
	return s
}

func sumSq64SIMD(x []float32) (s [8]float64) {
	n8 := len(x) &^ 7
	if n8 > 0 {
		sumSq64AVX2(&x[0], n8, &s)
	}
	for j, v := range x[n8:] {
		f := float64(v)
		s[j&7] += float64(f * f)
	}
	return s
}

func sumSqDev64SIMD(x []float32, mean float64) (s [8]float64) {
	n8 := len(x) &^ 7
	if n8 > 0 {
		sumSqDev64AVX2(&x[0], n8, mean, &s)
	}
	for j, v := range x[n8:] {
		c := float64(v) - mean
		s[j&7] += float64(c * c)
	}
	return s
}

func gwDot64SIMD(g, w, x []float32) (s [8]float64) {
	w, x = w[:len(g)], x[:len(g)]
	n8 := len(g) &^ 7
	if n8 > 0 {
		gwDot64AVX2(&g[0], &w[0], &x[0], n8, &s)
	}
	g, w, x = g[n8:], w[n8:], x[n8:]
	for j := range g {
		s[j&7] += float64(float64(float32(g[j]*w[j])) * float64(x[j]))
	}
	return s
}

func lnBackSumsSIMD(g, w, x []float32, m, rs float32) (s1, s2 [8]float64) {
	w, x = w[:len(g)], x[:len(g)]
	n8 := len(g) &^ 7
	if n8 > 0 {
		lnBackSumsAVX2(&g[0], &w[0], &x[0], n8, m, rs, &s1, &s2)
	}
	if n8 < len(g) {
		t1, t2 := lnBackSumsGo(g[n8:], w[n8:], x[n8:], m, rs)
		addLanes(&s1, t1)
		addLanes(&s2, t2)
	}
	return s1, s2
}

func rmsOutSIMD(out, x, w []float32, rs float32) {
	x, w = x[:len(out)], w[:len(out)]
	n8 := len(out) &^ 7
	if n8 > 0 {
		rmsOutAVX2(&out[0], &x[0], &w[0], n8, rs)
	}
	rmsOutGo(out[n8:], x[n8:], w[n8:], rs)
}

func lnOutSIMD(out, x, w, b []float32, m, rs float32) {
	x, w, b = x[:len(out)], w[:len(out)], b[:len(out)]
	n8 := len(out) &^ 7
	if n8 > 0 {
		lnOutAVX2(&out[0], &x[0], &w[0], &b[0], n8, m, rs)
	}
	lnOutGo(out[n8:], x[n8:], w[n8:], b[n8:], m, rs)
}

func rmsBackDxSIMD(dx, g, w, x []float32, rs, c float32) {
	g, w, x = g[:len(dx)], w[:len(dx)], x[:len(dx)]
	n8 := len(dx) &^ 7
	if n8 > 0 {
		rmsBackDxAVX2(&dx[0], &g[0], &w[0], &x[0], n8, rs, c)
	}
	rmsBackDxGo(dx[n8:], g[n8:], w[n8:], x[n8:], rs, c)
}

func lnBackDxSIMD(dx, g, w, x []float32, m, rs, a, bb float32) {
	g, w, x = g[:len(dx)], w[:len(dx)], x[:len(dx)]
	n8 := len(dx) &^ 7
	if n8 > 0 {
		lnBackDxAVX2(&dx[0], &g[0], &w[0], &x[0], n8, m, rs, a, bb)
	}
	lnBackDxGo(dx[n8:], g[n8:], w[n8:], x[n8:], m, rs, a, bb)
}

func colAccLNSIMD(aw, ab []float64, g, x []float32, m, rs float32) {
	ab, g, x = ab[:len(aw)], g[:len(aw)], x[:len(aw)]
	n8 := len(aw) &^ 7
	if n8 > 0 {
		colAccLNAVX2(&aw[0], &ab[0], &g[0], &x[0], n8, m, rs)
	}
	colAccLNGo(aw[n8:], ab[n8:], g[n8:], x[n8:], m, rs)
}

func colAccRMSSIMD(aw []float64, g, x []float32, rs float32) {
	g, x = g[:len(aw)], x[:len(aw)]
	n8 := len(aw) &^ 7
	if n8 > 0 {
		colAccRMSAVX2(&aw[0], &g[0], &x[0], n8, rs)
	}
	colAccRMSGo(aw[n8:], g[n8:], x[n8:], rs)
}
