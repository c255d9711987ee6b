package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

func ulps(a, b float32) int64 {
	if a == b || (a != a && b != b) {
		return 0
	}
	oa, ob := int64(math.Float32bits(a)), int64(math.Float32bits(b))
	if oa&(1<<31) != 0 {
		oa = -(oa & (1<<31 - 1))
	}
	if ob&(1<<31) != 0 {
		ob = -(ob & (1<<31 - 1))
	}
	if oa > ob {
		return oa - ob
	}
	return ob - oa
}

func TestKexpAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	worst := int64(0)
	check := func(x float32) {
		got := kexp(x)
		var want float32
		switch {
		case x != x:
			if got == got {
				t.Fatalf("kexp(NaN) = %v", got)
			}
			return
		case x < kexpLo:
			want = 0
		case x > kexpHi:
			want = float32(math.Exp(float64(kexpHi)))
		default:
			want = float32(math.Exp(float64(x)))
		}
		if d := ulps(got, want); d > 2 {
			t.Fatalf("kexp(%v) = %v, want %v (%d ulp)", x, got, want, d)
		} else if d > worst {
			worst = d
		}
	}
	for _, x := range []float32{0, float32(math.Copysign(0, -1)), 1, -1, kexpLo, kexpHi, -86.49999, -86.50001, 88.29999,
		88.30001, 100, -100, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-30, -1e-30} {
		check(x)
	}
	for range 1000000 {
		check(float32(-90 + 180*rng.Float64()))
	}
	t.Logf("kexp: max %d ulp", worst)
}

// vecInputs are the special values every primitive must treat identically on every path.
var vecSpecials = []float32{0, float32(math.Copysign(0, -1)), 1, -1, float32(math.NaN()), float32(math.Inf(1)),
	float32(math.Inf(-1)), math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, kexpLo, kexpHi,
	-86.50001, 88.30001, 40, -40, 100, -100, 1e-20, -1e-20}

func vecData(r *rand.Rand, n int, specials bool) []float32 {
	x := make([]float32, n)
	for i := range x {
		switch {
		case specials && r.IntN(8) == 0:
			x[i] = vecSpecials[r.IntN(len(vecSpecials))]
		default:
			x[i] = float32(r.NormFloat64() * 4)
		}
	}
	return x
}

func sameBits(t *testing.T, name string, n int, got, want []float32) {
	t.Helper()
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
			t.Fatalf("%s (n=%d): [%d] = %v (%#08x), portable %v (%#08x)", name, n, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

// comparePaths runs every primitive of impl and of portable on the same inputs and requires the same
// bits (NaNs only need to be NaN on both).
func comparePaths(t *testing.T, impl *vecImpl, r *rand.Rand, n int, specials bool) {
	t.Helper()
	a, b, c := vecData(r, n, specials), vecData(r, n, specials), vecData(r, n, specials)
	cp := func(x []float32) []float32 { return append([]float32(nil), x...) }
	scale := float32(r.Float64() + 0.1)

	x1, x2 := cp(a), cp(a)
	m1, m2 := impl.scaleMax(x1, scale), portable.scaleMax(x2, scale)
	sameBits(t, "scaleMax", n, []float32{m1}, []float32{m2})
	sameBits(t, "scaleMax values", n, x1, x2)
	sameBits(t, "max", n, []float32{impl.max(a)}, []float32{portable.max(a)})

	d1, d2 := make([]float32, n), make([]float32, n)
	s1, s2 := impl.expSum(d1, a, m1), portable.expSum(d2, a, m2)
	sameBits(t, "expSum", n, d1, d2)
	for l := range s1 {
		if math.Float64bits(s1[l]) != math.Float64bits(s2[l]) && !(s1[l] != s1[l] && s2[l] != s2[l]) {
			t.Fatalf("expSum lane %d (n=%d) = %v, portable %v", l, n, s1[l], s2[l])
		}
	}
	x1, x2 = cp(a), cp(a)
	impl.scale(x1, scale)
	portable.scale(x2, scale)
	sameBits(t, "scale", n, x1, x2)

	p1, p2, q1, q2 := cp(a), cp(a), cp(b), cp(b)
	impl.attnGrad(p1, q1, scale, 0.5, -0.25)
	portable.attnGrad(p2, q2, scale, 0.5, -0.25)
	sameBits(t, "attnGrad p", n, p1, p2)
	sameBits(t, "attnGrad dp", n, q1, q2)

	for _, f := range []struct {
		name string
		a, b func(out, x []float32)
	}{{"gelu", impl.gelu, portable.gelu}, {"silu", impl.silu, portable.silu}} {
		o1, o2 := make([]float32, n), make([]float32, n)
		f.a(o1, a)
		f.b(o2, a)
		sameBits(t, f.name, n, o1, o2)
	}
	for _, f := range []struct {
		name string
		a, b func(dx, dy, x []float32)
	}{{"geluBack", impl.geluBack, portable.geluBack}, {"siluBack", impl.siluBack, portable.siluBack}} {
		o1, o2 := make([]float32, n), make([]float32, n)
		f.a(o1, b, a)
		f.b(o2, b, a)
		sameBits(t, f.name, n, o1, o2)
	}
	o1, o2 := make([]float32, n), make([]float32, n)
	impl.swiglu(o1, a, b)
	portable.swiglu(o2, a, b)
	sameBits(t, "swiglu", n, o1, o2)
	g1, g2, u1, u2 := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	impl.swigluBack(g1, u1, c, a, b)
	portable.swigluBack(g2, u2, c, a, b)
	sameBits(t, "swigluBack dg", n, g1, g2)
	sameBits(t, "swigluBack du", n, u1, u2)
}

// compareScan runs both scan steps of impl and portable on random data (nc channels, N states).
func compareScan(t *testing.T, impl *vecImpl, r *rand.Rand, nc, N int, specials bool) {
	t.Helper()
	cp := func(x []float32) []float32 { return append([]float32(nil), x...) }
	h, hp, a := vecData(r, nc*N, specials), vecData(r, nc*N, specials), vecData(r, nc*N, specials)
	bt, ct, dbt, dct := vecData(r, N, specials), vecData(r, N, specials), vecData(r, N, specials), vecData(r, N, specials)
	dl, u, dy := vecData(r, nc, specials), vecData(r, nc, specials), vecData(r, nc, specials)
	for i := range a { // the kernel's domain: A < 0, δ > 0 (specials still reach the exponential)
		a[i] = -float32(math.Abs(float64(a[i])))
	}
	h1, h2, y1, y2 := cp(h), cp(h), make([]float32, nc), make([]float32, nc)
	impl.scanFwd(h1, hp, a, bt, ct, dl, u, y1, N)
	portable.scanFwd(h2, hp, a, bt, ct, dl, u, y2, N)
	sameBits(t, "scanFwd h", nc, h1, h2)
	sameBits(t, "scanFwd y", nc, y1, y2)

	dh1, dh2 := cp(h), cp(h)
	dbt1, dbt2, dct1, dct2 := cp(dbt), cp(dbt), cp(dct), cp(dct)
	pa1, pa2 := make([]float64, nc*N), make([]float64, nc*N)
	for i := range pa1 {
		pa1[i] = float64(i)
		pa2[i] = float64(i)
	}
	dd1, dd2, du1, du2 := make([]float32, nc), make([]float32, nc), make([]float32, nc), make([]float32, nc)
	impl.scanBack(dh1, h, hp, a, bt, ct, dbt1, dct1, pa1, dy, dl, u, dd1, du1, N)
	portable.scanBack(dh2, h, hp, a, bt, ct, dbt2, dct2, pa2, dy, dl, u, dd2, du2, N)
	for name, pair := range map[string][2][]float32{"dh": {dh1, dh2}, "dbt": {dbt1, dbt2}, "dct": {dct1, dct2},
		"ddelta": {dd1, dd2}, "du": {du1, du2}} {
		sameBits(t, "scanBack "+name, nc, pair[0], pair[1])
	}
	for i := range pa1 {
		if math.Float64bits(pa1[i]) != math.Float64bits(pa2[i]) && !(pa1[i] != pa1[i] && pa2[i] != pa2[i]) {
			t.Fatalf("scanBack pa[%d] = %v, portable %v", i, pa1[i], pa2[i])
		}
	}
}

func sameLanes(t *testing.T, name string, n int, a, b [8]float64) {
	t.Helper()
	for l := range a {
		if math.Float64bits(a[l]) != math.Float64bits(b[l]) && !(a[l] != a[l] && b[l] != b[l]) {
			t.Fatalf("%s (n=%d): lane %d = %v, portable %v", name, n, l, a[l], b[l])
		}
	}
}

// compareNorm runs every normalisation primitive of impl and of portable on the same row of n.
func compareNorm(t *testing.T, impl *vecImpl, r *rand.Rand, n int, specials bool) {
	t.Helper()
	x, g, w, b := vecData(r, n, specials), vecData(r, n, specials), vecData(r, n, specials), vecData(r, n, specials)
	m, rs, a, bb := float32(r.NormFloat64()), float32(r.Float64()+0.5), float32(r.NormFloat64()), float32(r.NormFloat64())
	sameLanes(t, "sum64", n, impl.sum64(x), portable.sum64(x))
	sameLanes(t, "sumSq64", n, impl.sumSq64(x), portable.sumSq64(x))
	sameLanes(t, "sumSqDev64", n, impl.sumSqDev64(x, 0.37), portable.sumSqDev64(x, 0.37))
	sameLanes(t, "gwDot64", n, impl.gwDot64(g, w, x), portable.gwDot64(g, w, x))
	s1, s2 := impl.lnBackSums(g, w, x, m, rs)
	p1, p2 := portable.lnBackSums(g, w, x, m, rs)
	sameLanes(t, "lnBackSums s1", n, s1, p1)
	sameLanes(t, "lnBackSums s2", n, s2, p2)
	o1, o2 := make([]float32, n), make([]float32, n)
	impl.rmsOut(o1, x, w, rs)
	portable.rmsOut(o2, x, w, rs)
	sameBits(t, "rmsOut", n, o1, o2)
	impl.lnOut(o1, x, w, b, m, rs)
	portable.lnOut(o2, x, w, b, m, rs)
	sameBits(t, "lnOut", n, o1, o2)
	impl.rmsBackDx(o1, g, w, x, rs, a)
	portable.rmsBackDx(o2, g, w, x, rs, a)
	sameBits(t, "rmsBackDx", n, o1, o2)
	impl.lnBackDx(o1, g, w, x, m, rs, a, bb)
	portable.lnBackDx(o2, g, w, x, m, rs, a, bb)
	sameBits(t, "lnBackDx", n, o1, o2)
	aw1, ab1, aw2, ab2 := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range aw1 {
		aw1[i], ab1[i] = float64(i)*0.1, -float64(i)
		aw2[i], ab2[i] = aw1[i], ab1[i]
	}
	impl.colAccLN(aw1, ab1, g, x, m, rs)
	portable.colAccLN(aw2, ab2, g, x, m, rs)
	impl.colAccRMS(aw1, g, x, rs)
	portable.colAccRMS(aw2, g, x, rs)
	for i := range aw1 {
		if math.Float64bits(aw1[i]) != math.Float64bits(aw2[i]) && !(aw1[i] != aw1[i] && aw2[i] != aw2[i]) ||
			math.Float64bits(ab1[i]) != math.Float64bits(ab2[i]) && !(ab1[i] != ab1[i] && ab2[i] != ab2[i]) {
			t.Fatalf("colAcc (n=%d) [%d] = %v, %v; portable %v, %v", n, i, aw1[i], ab1[i], aw2[i], ab2[i])
		}
	}
}

func TestVecPathsBitIdentical(t *testing.T) {
	if simd == portable {
		t.Skip("no SIMD path on this CPU")
	}
	r := rand.New(rand.NewPCG(2, 2))
	for n := range 40 { // every tail length, with and without special values
		comparePaths(t, simd, r, n, false)
		comparePaths(t, simd, r, n, true)
		compareNorm(t, simd, r, n, false)
		compareNorm(t, simd, r, n, true)
	}
	for range 20 {
		compareNorm(t, simd, r, 100+r.IntN(200), false)
	}
	for range 50 {
		comparePaths(t, simd, r, 1000+r.IntN(100), true)
	}
	for _, N := range []int{1, 4, 8, 12, 16, 32} {
		for nc := range 5 {
			compareScan(t, simd, r, nc, N, false)
			compareScan(t, simd, r, nc, N, true)
		}
	}
}

func FuzzVecPaths(f *testing.F) {
	f.Add(uint64(1), uint16(17), true)
	f.Add(uint64(2), uint16(256), false)
	f.Fuzz(func(t *testing.T, seed uint64, n uint16, specials bool) {
		if simd == portable {
			t.Skip("no SIMD path on this CPU")
		}
		r := rand.New(rand.NewPCG(seed, seed))
		comparePaths(t, simd, r, int(n%2048), specials)
		compareScan(t, simd, r, int(n%7), 8*(1+int(n%3)), specials)
		compareNorm(t, simd, r, int(n%300), specials)
	})
}
