package gemm

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// exactFMA32 is an independent reference: a*b+c in exact arithmetic, rounded once by math/big.
func exactFMA32(a, b, c float32) float32 {
	fa, fb, fc := float64(a), float64(b), float64(c)
	if math.IsNaN(fa) || math.IsNaN(fb) || math.IsNaN(fc) || math.IsInf(fa, 0) || math.IsInf(fb, 0) || math.IsInf(fc, 0) {
		return float32(fa*fb + fc) // specials: IEEE rules, no rounding involved
	}
	p := new(big.Float).SetPrec(1200).SetFloat64(fa)
	p.Mul(p, new(big.Float).SetPrec(1200).SetFloat64(fb))
	p.Add(p, new(big.Float).SetPrec(1200).SetFloat64(fc))
	if p.Sign() == 0 {
		// An exact zero sum takes its sign from IEEE 754 (round to nearest): -0 only if both are -0.
		return float32(float64(fa*fb) + fc)
	}
	r, _ := p.Float32()
	return r
}

func sameBits(x, y float32) bool {
	if x != x && y != y {
		return true // NaN payloads are not part of the contract
	}
	return math.Float32bits(x) == math.Float32bits(y)
}

func f32(bits uint32) float32 { return math.Float32frombits(bits) }

// fmaCases are adversarial inputs: ties after a first rounding, subnormals, cancellation, overflow and
// specials.
func fmaCases() [][3]float32 {
	one12 := float32(1 + 1.0/4096) // 1+2^-12: its square is 1+2^-11+2^-24, a float32 tie
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	maxf := float32(math.MaxFloat32)
	negZero := float32(math.Copysign(0, -1))
	tiny := f32(1)          // smallest subnormal
	minNorm := f32(1 << 23) // smallest normal
	cs := [][3]float32{
		{one12, one12, float32(math.Ldexp(1, -60))},
		{one12, one12, -float32(math.Ldexp(1, -60))},
		{one12, one12, 0},
		{-one12, one12, float32(math.Ldexp(1, -60))},
		{1, 1, float32(math.Ldexp(1, -24))},
		{1, 1, float32(math.Ldexp(1, -24)) + float32(math.Ldexp(1, -70))},
		{3, 1.0 / 3, -1},
		{0.1, 10, -1},
		{tiny, 0.5, 0},
		{tiny, 0.5, tiny},
		{tiny, 1.5, 0},
		{tiny, 2.5, -tiny},
		{minNorm, 0.5, 0},
		{minNorm, 0.75, tiny},
		{minNorm, -minNorm, 0},
		{minNorm, minNorm, negZero},
		{minNorm, -minNorm, negZero},
		{tiny, -tiny, negZero},
		{maxf, 2, -maxf},
		{maxf, 1.0000001, 0},
		{maxf, 1, maxf},
		{-maxf, 1, -maxf},
		{inf, 0, 1},
		{inf, 1, -inf},
		{inf, 1, 1},
		{nan, 1, 1},
		{1, 1, nan},
		{0, 0, 0},
		{negZero, 0, 0},
		{negZero, 0, negZero},
		{0, 0, negZero},
		{1, -1, 1},
		{1.5, 1.5, -2.25},
	}
	// Products that are exact ties in float32 when c is tiny, from both sides and signs.
	for _, x := range []uint32{0x3f800001, 0x3f800003, 0x3fffffff, 0x3f7fffff, 0x00400001, 0x7e800001} {
		for _, sgn := range []float32{1, -1} {
			a := f32(x)
			cs = append(cs, [3]float32{a, sgn * a, tiny}, [3]float32{a, sgn * a, -tiny}, [3]float32{a, sgn * a, 0})
		}
	}
	return cs
}

func TestFMA32Known(t *testing.T) {
	one12 := float32(1 + 1.0/4096)
	tests := []struct {
		name    string
		a, b, c float32
		want    float32
	}{
		{"tie broken by c", one12, one12, float32(math.Ldexp(1, -60)), float32(1 + math.Ldexp(1, -11) + math.Ldexp(1, -23))},
		{"tie to even", one12, one12, 0, float32(1 + math.Ldexp(1, -11))},
		{"tie broken below", one12, one12, -float32(math.Ldexp(1, -60)), float32(1 + math.Ldexp(1, -11))},
		{"exact", 1.5, 2, 0.25, 3.25},
		{"cancellation", 3, 1.0 / 3, -1, f32(0x33000000)}, // 3*fl(1/3) - 1 = 2^-25 exactly
		{"zero sum is +0", 1, -1, 1, 0},
		{"overflow", math.MaxFloat32, 2, 0, float32(math.Inf(1))},
		{"subnormal tie", f32(1), 0.5, f32(1), f32(2)}, // 1.5 * 2^-149 rounds to even: 2^-148
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := FMA32(tc.a, tc.b, tc.c); !sameBits(got, tc.want) {
				t.Errorf("FMA32(%g, %g, %g) = %g (%#08x), want %g (%#08x)", tc.a, tc.b, tc.c, got, math.Float32bits(got), tc.want, math.Float32bits(tc.want))
			}
		})
	}
	if math.Signbit(float64(FMA32(1, -1, 1))) {
		t.Error("1*-1+1 gave -0, want +0")
	}
	// The pitfall FMA32 exists for: the float64 route rounds twice.
	a, c := one12, float32(math.Ldexp(1, -60))
	if naive := float32(math.FMA(float64(a), float64(a), float64(c))); naive == FMA32(a, a, c) {
		t.Error("double rounding example no longer differs; the test input is wrong")
	}
}

// checkFMA compares FMA32 with the exact reference and, where the CPU has one, the hardware FMA.
func checkFMA(t *testing.T, a, b, c float32) {
	t.Helper()
	got := FMA32(a, b, c)
	if want := exactFMA32(a, b, c); !sameBits(got, want) {
		t.Fatalf("FMA32(%#08x, %#08x, %#08x) = %#08x, exact %#08x", math.Float32bits(a), math.Float32bits(b), math.Float32bits(c), math.Float32bits(got), math.Float32bits(want))
	}
	if hasFMA {
		if hw := fma32Asm(a, b, c); !sameBits(got, hw) {
			t.Fatalf("FMA32(%#08x, %#08x, %#08x) = %#08x, VFMADD231SS %#08x", math.Float32bits(a), math.Float32bits(b), math.Float32bits(c), math.Float32bits(got), math.Float32bits(hw))
		}
	}
}

func TestFMA32Adversarial(t *testing.T) {
	for _, tc := range fmaCases() {
		a, b, c := tc[0], tc[1], tc[2]
		checkFMA(t, a, b, c)
		checkFMA(t, b, a, c)
		checkFMA(t, -a, b, -c)
	}
}

func TestFMA32Random(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 200000
	if testing.Short() || raceEnabled {
		n = 40000
	}
	doubleRounded := 0 // cases where the float64 route is wrong: the inputs must reach them
	for i := range n {
		var a, b, c float32
		switch i % 5 {
		case 0: // any bit pattern
			a, b, c = f32(rng.Uint32()), f32(rng.Uint32()), f32(rng.Uint32())
		case 1: // near 1 with a c that lands near the product's rounding boundary
			a = f32(0x3f800000 | rng.Uint32N(1<<23))
			b = f32(0x3f800000 | rng.Uint32N(1<<23))
			c = f32(uint32(rng.IntN(60)+40)<<23 | rng.Uint32N(1<<23))
			if rng.IntN(2) == 0 {
				c = -c
			}
		case 2: // cancellation: c ≈ -a*b
			a = f32(0x3f000000 | rng.Uint32N(1<<24))
			b = f32(0x3f000000 | rng.Uint32N(1<<24))
			c = -float32(float64(a) * float64(b))
			c = f32(math.Float32bits(c) + uint32(rng.IntN(5)) - 2)
		case 3: // subnormal range
			a = f32(rng.Uint32N(1<<24) | uint32(rng.IntN(60))<<23)
			b = f32(rng.Uint32N(1<<23) | uint32(rng.IntN(40)+60)<<23)
			c = f32(rng.Uint32N(1 << 24))
			if rng.IntN(2) == 0 {
				c = -c
			}
		case 4: // a*b is a float32 tie; a tiny c decides it, below float64's precision half the time
			u, v := 2*rng.IntN(1<<10)+1, 2*rng.IntN(1<<10)+1
			scale := math.Ldexp(1, rng.IntN(40)-20)
			a = float32((1 + float64(u)/4096) * scale)
			b = float32(1 + float64(v)/4096)
			c = float32(math.Ldexp(1+rng.Float64(), -rng.IntN(50)-30) * scale)
			if rng.IntN(2) == 0 {
				c = -c
			}
			if rng.IntN(2) == 0 {
				a = -a
			}
		}
		checkFMA(t, a, b, c)
		if !sameBits(float32(math.FMA(float64(a), float64(b), float64(c))), FMA32(a, b, c)) {
			doubleRounded++
		}
	}
	if doubleRounded == 0 {
		t.Error("no input hit a double-rounding case")
	}
	t.Logf("%d of %d inputs round differently through float64", doubleRounded, n)
}

func FuzzFMA32(f *testing.F) {
	for _, tc := range fmaCases() {
		f.Add(math.Float32bits(tc[0]), math.Float32bits(tc[1]), math.Float32bits(tc[2]))
	}
	f.Fuzz(func(t *testing.T, a, b, c uint32) {
		checkFMA(t, f32(a), f32(b), f32(c))
	})
}

func BenchmarkFMA32(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := randMat(rng, 1024)
	y := randMat(rng, 1024)
	var s float32
	for b.Loop() {
		for i := range x {
			s = FMA32(x[i], y[i], s)
		}
	}
	b.ReportMetric(float64(b.N)*1024/b.Elapsed().Seconds()/1e9, "GFMA/s")
	sink = s
}

var sink float32

func TestFMARowMatchesFMA32(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, tc := range fmaCases() {
		want := FMA32(tc[0], tc[1], tc[2])
		got := []float32{tc[2]}
		fmaRow(tc[0], []float32{tc[1]}, got)
		if !sameBits(got[0], want) {
			t.Fatalf("fmaRow(%g, %g, %g) = %g, FMA32 %g", tc[0], tc[1], tc[2], got[0], want)
		}
	}
	for range 1000 {
		a := f32(rng.Uint32())
		x, y := randMat(rng, 33), randMat(rng, 33)
		w := make([]float32, 33)
		for j := range w {
			w[j] = FMA32(a, x[j], y[j])
		}
		fmaRow(a, x, y)
		if j := firstDiff(y, w); j >= 0 {
			t.Fatalf("fmaRow differs from FMA32 at %d", j)
		}
	}
}

// BenchmarkPortableKernel measures the pure-Go microkernel (a 4x16 tile, k = 256).
func BenchmarkPortableKernel(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	const k = 256
	a, bb, c := randMat(rng, 4*k), randMat(rng, 16*k), make([]float32, 64)
	for b.Loop() {
		goKernel(4, 16, k, &a[0], 1, 4, &bb[0], &c[0], 16, 1)
	}
	b.ReportMetric(float64(b.N)*2*64*k/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
