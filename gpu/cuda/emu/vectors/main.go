// Command vectors writes the CPU device's results on fixed inputs, for make cuda-emu: the CUDA
// kernels, run on the host by gpu/cuda/emu, must give the same bits (docs/gpu.md "Kernels on the
// CPU"). It covers the kernels whose arithmetic kernels.cu ports operation for operation from the
// CPU device (the activations, NegExp, AdamW, rotary, the sum of squares) and the gpu/fmath
// functions the ports use directly (Log, Exp64, Log64, SinCos).
//
// The output is text: one record per case,
//
//	case NAME
//	f32 NAME COUNT HEX...   (float32 bits, 8 hex digits each)
//	f64 NAME COUNT HEX...   (float64 bits, 16 hex digits each)
//	end
//
// where the arrays hold the inputs, the scalars and the expected outputs under names the harness
// (gpu/cuda/emu/kernels_test.cc) knows.
//
// Usage: go run ./gpu/cuda/emu/vectors -o bin/emu-vectors.txt
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/gpu/cpu"
	"github.com/airanode/airanode/gpu/fmath"
)

func main() {
	out := flag.String("o", "-", "output file (- for standard output)")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "vectors:", err)
		os.Exit(1)
	}
}

func run(path string) (err error) {
	var w io.Writer = os.Stdout
	if path != "-" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, f.Close()) }()
		w = f
	}
	bw := bufio.NewWriter(w)
	dev, err := cpu.New(1)
	if err != nil {
		return err
	}
	defer dev.Close()
	g := &gen{w: bw, dev: dev}
	g.all()
	if g.err == nil {
		g.err = dev.Err()
	}
	return errors.Join(g.err, bw.Flush())
}

// gen writes the cases; the first error sticks.
type gen struct {
	w   *bufio.Writer
	dev *cpu.Device
	err error
	rng uint64
}

// next returns a deterministic uniform float64 in [0, 1).
func (g *gen) next() float64 {
	g.rng = g.rng*6364136223846793005 + 1442695040888963407
	return float64(g.rng>>11) / (1 << 53)
}

// normal returns n values, normally distributed with standard deviation sd.
func (g *gen) normal(n int, sd float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		u1, u2 := g.next(), g.next()
		v[i] = float32(sd * math.Sqrt(-2*math.Log(1-u1)) * math.Cos(2*math.Pi*u2))
	}
	return v
}

// inputs are the arguments of the unary functions: special values, the edges of every range the
// ports test (the clamps of kexp, the cut-offs of fmath), subnormals, a sweep of magnitudes from
// 2^-30 to 2^30 of both signs, and a dense sweep of [-120, 100].
func (g *gen) inputs() []float32 {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	in := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0.5, -0.5, 1e-30, -1e-30, 1e-40, -1e-40,
		math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, math.MaxFloat32, -math.MaxFloat32,
		nan, inf, -inf, 20, 20.001, -20, -20.001, 10, -10, 86.4, -86.4, 86.5, -86.5, 86.6, -86.6, 88.2, -88.2,
		88.3, -88.3, 88.4, -88.4, 89, -89, 90, -90, 103.9, -103.9, 104, -104, 104.1, -104.1, 110, -110, 111, -111,
		1e10, -1e10, 0.0009765625, -0.0009765625, -6.93, -6.94, 4e-8, -4e-8}
	for e := -30; e <= 30; e++ {
		for range 8 {
			m := float32(1 + g.next())
			in = append(in, float32(math.Ldexp(float64(m), e)), -float32(math.Ldexp(float64(m), e)))
		}
	}
	for range 6000 {
		in = append(in, float32(-120+220*g.next()))
	}
	return in
}

func (g *gen) upload(v []float32) gpu.Buffer {
	b, err := g.dev.Alloc(len(v))
	if err == nil {
		err = g.dev.Upload(b, v)
	}
	if err != nil && g.err == nil {
		g.err = err
	}
	return b
}

func (g *gen) download(b gpu.Buffer) []float32 {
	v := make([]float32, b.Len())
	if err := g.dev.Download(v, b); err != nil && g.err == nil {
		g.err = err
	}
	return v
}

func (g *gen) begin(name string) { fmt.Fprintf(g.w, "case %s\n", name) }
func (g *gen) end()              { fmt.Fprintln(g.w, "end") }

func (g *gen) f32(name string, v []float32) {
	fmt.Fprintf(g.w, "f32 %s %d", name, len(v))
	for _, x := range v {
		fmt.Fprintf(g.w, " %08x", math.Float32bits(x))
	}
	fmt.Fprintln(g.w)
}

func (g *gen) f64(name string, v []float64) {
	fmt.Fprintf(g.w, "f64 %s %d", name, len(v))
	for _, x := range v {
		fmt.Fprintf(g.w, " %016x", math.Float64bits(x))
	}
	fmt.Fprintln(g.w)
}

func (g *gen) all() {
	g.rng = 1
	x := g.inputs()
	n := len(x)
	dy := g.normal(n, 1)
	u := g.normal(n, 2)

	unary := []struct {
		name string
		op   func(out, x gpu.Buffer)
	}{
		{"k_silu", g.dev.SiLU}, {"k_gelu", g.dev.GELU}, {"k_softplus", g.dev.Softplus}, {"k_negexp", g.dev.NegExp},
	}
	for _, c := range unary {
		xb, ob := g.upload(x), g.upload(make([]float32, n))
		c.op(ob, xb)
		g.begin(c.name)
		g.f32("x", x)
		g.f32("out", g.download(ob))
		g.end()
	}
	backward := []struct {
		name string
		op   func(dx, dout, x gpu.Buffer)
	}{
		{"k_silu_bwd", g.dev.SiLUBackward}, {"k_gelu_bwd", g.dev.GELUBackward}, {"k_softplus_bwd", g.dev.SoftplusBackward},
	}
	for _, c := range backward {
		xb, db, ob := g.upload(x), g.upload(dy), g.upload(make([]float32, n))
		c.op(ob, db, xb)
		g.begin(c.name)
		g.f32("x", x)
		g.f32("dout", dy)
		g.f32("out", g.download(ob))
		g.end()
	}
	{
		gb, ub, ob := g.upload(x), g.upload(u), g.upload(make([]float32, n))
		g.dev.SwiGLU(ob, gb, ub)
		g.begin("k_swiglu")
		g.f32("x", x)
		g.f32("u", u)
		g.f32("out", g.download(ob))
		g.end()
		dgb, dub, db := g.upload(make([]float32, n)), g.upload(make([]float32, n)), g.upload(dy)
		g.dev.SwiGLUBackward(dgb, dub, db, gb, ub)
		g.begin("k_swiglu_bwd")
		g.f32("x", x)
		g.f32("u", u)
		g.f32("dout", dy)
		g.f32("dg", g.download(dgb))
		g.f32("du", g.download(dub))
		g.end()
	}
	g.adamw()
	g.rotary()
	g.sumsq()
	g.functions(x)
}

// adamw: a few steps of moments and hyper-parameters, with and without a decay mask.
func (g *gen) adamw() {
	const n = 5000
	for k, h := range []gpu.AdamW{
		{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1, Step: 1},
		{LR: 3e-4, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.01, Step: 17},
		{LR: 0.02, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, WeightDecay: 0, Step: 1000},
		{LR: 1e-3, Beta1: 0, Beta2: 0, Eps: 1e-8, WeightDecay: 0.5, Step: 3},
	} {
		p, gr, m := g.normal(n, 0.5), g.normal(n, 0.01), g.normal(n, 0.001)
		v := g.normal(n, 1e-5)
		for i := range v {
			v[i] *= v[i]
		}
		gr[0], gr[1] = 0, 1e-30
		var decay []float32
		if k%2 == 1 {
			decay = make([]float32, n)
			for i := range decay {
				if g.next() < 0.5 {
					decay[i] = 1
				}
			}
		}
		pb, gb, mb, vb := g.upload(p), g.upload(gr), g.upload(m), g.upload(v)
		var db gpu.Buffer
		if decay != nil {
			db = g.upload(decay)
		}
		g.dev.AdamWStep(pb, gb, mb, vb, db, h)
		s := h.Scalars()
		g.begin("k_adamw")
		g.f32("scalars", []float32{s.B1, s.B2, s.OneMinusB1, s.OneMinusB2, s.Decay, s.StepSize, s.SqrtBC2, s.Eps})
		g.f32("p", p)
		g.f32("g", gr)
		g.f32("m", m)
		g.f32("v", v)
		if decay != nil {
			g.f32("decay", decay)
		}
		g.f32("p_out", g.download(pb))
		g.f32("m_out", g.download(mb))
		g.f32("v_out", g.download(vb))
		g.end()
	}
}

// rotary: forward and backward on shapes with a partial and a full rotary dimension, long enough
// rows that the angles reach the thousands.
func (g *gen) rotary() {
	for _, c := range []struct {
		B, T, H, D, rot int
		base            float32
	}{{2, 37, 3, 16, 8, 10000}, {1, 3000, 1, 8, 8, 500000}, {3, 20, 2, 12, 12, 10}} {
		x := g.normal(c.B*c.T*c.H*c.D, 1)
		for k, back := range []bool{false, true} {
			xb := g.upload(x)
			if back {
				g.dev.RotaryBackward(xb, c.B, c.T, c.H, c.D, c.rot, c.base)
			} else {
				g.dev.Rotary(xb, c.B, c.T, c.H, c.D, c.rot, c.base)
			}
			g.begin("k_rotary")
			g.f32("shape", []float32{float32(c.B), float32(c.T), float32(c.H), float32(c.D), float32(c.rot), c.base, float32(1 - 2*k)})
			g.f32("x", x)
			g.f32("out", g.download(xb))
			g.end()
		}
	}
}

// sumsq: lengths below, at and across the 4096-element blocks.
func (g *gen) sumsq() {
	for _, n := range []int{1, 4095, 4096, 4097, 20000, 100003} {
		x := g.normal(n, 3)
		x[0] = 1e-40
		s := g.dev.SumSquares(g.upload(x))
		g.begin("k_sumsq")
		g.f32("x", x)
		g.f64("out", []float64{s})
		g.end()
	}
}

// functions: the gpu/fmath functions the ports call directly.
func (g *gen) functions(x []float32) {
	logOut := make([]float32, len(x))
	for i, v := range x {
		logOut[i] = fmath.Log(v)
	}
	g.begin("fm_log")
	g.f32("x", x)
	g.f32("out", logOut)
	g.end()

	d := []float64{0, math.Copysign(0, -1), 1, -1, 1e-300, -1e-300, 5e-324, 1e-310, 709.7, 709.8, -745.1,
		-745.2, -708.5, 3.7e-9, -3.7e-9, math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64}
	for range 3000 {
		d = append(d, -750+1460*g.next())
	}
	for e := -1074; e <= 1023; e += 7 {
		d = append(d, math.Ldexp(1+g.next(), e))
	}
	exp, logv := make([]float64, len(d)), make([]float64, len(d))
	for i, v := range d {
		exp[i], logv[i] = fmath.Exp64(v), fmath.Log64(v)
	}
	g.begin("fm_exp64_log64")
	g.f64("x", d)
	g.f64("exp", exp)
	g.f64("log", logv)
	g.end()

	// SinCos: small angles, the rotary range, both sides of 2^25 (the Payne–Hanek reduction), up to
	// the float32 range and past it.
	a := []float64{0, math.Copysign(0, -1), math.Pi / 4, math.Pi / 2, math.Pi, 1 << 25, 1<<25 - 1,
		1<<25 + 4, 1e10, -1e10, 1e30, 3.4e38, 3.5e38, math.NaN(), math.Inf(1), math.Inf(-1)}
	for range 3000 {
		a = append(a, (g.next()-0.5)*2e4)
	}
	for e := -30; e <= 127; e++ {
		a = append(a, math.Ldexp(1+g.next(), e), -math.Ldexp(1+g.next(), e))
	}
	sin, cos := make([]float32, len(a)), make([]float32, len(a))
	for i, v := range a {
		sin[i], cos[i] = fmath.SinCos(v)
	}
	g.begin("fm_sincos")
	g.f64("x", a)
	g.f32("sin", sin)
	g.f32("cos", cos)
	g.end()
}
