// Command vectors writes the CPU device's results on fixed inputs, for make cuda-emu: the CUDA
// kernels, run on the host by gpu/cuda/emu, must give the same bits (docs/gpu.md "Kernels on the
// CPU"). It covers every kernel but matmul (whose chains the harness checks against their
// definition): the activations, NegExp, AdamW, rotary, the sum of squares, the embedding gradients,
// norms, cross-entropy, argmax, attention, the scan and the convolution; and the gpu/fmath functions
// the kernels call directly (Log, Exp64, Log64, SinCos).
//
// The output is text: one record per case,
//
//	case NAME
//	f32 NAME COUNT HEX...   (float32 bits, 8 hex digits each)
//	f64 NAME COUNT HEX...   (float64 bits, 16 hex digits each)
//	i32 NAME COUNT DEC...   (int32, decimal)
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

// keep records the first error.
func (g *gen) keep(err error) {
	if err != nil && g.err == nil {
		g.err = err
	}
}

func (g *gen) upload(v []float32) gpu.Buffer {
	b, err := g.dev.Alloc(len(v))
	if err == nil {
		err = g.dev.Upload(b, v)
	}
	g.keep(err)
	return b
}

func (g *gen) download(b gpu.Buffer) []float32 {
	v := make([]float32, b.Len())
	g.keep(g.dev.Download(v, b))
	return v
}

// arr is one named float32 array of a case.
type arr struct {
	name string
	v    []float32
}

// record writes a case of float32 arrays only.
func (g *gen) record(name string, arrays ...arr) {
	g.begin(name)
	for _, a := range arrays {
		g.f32(a.name, a.v)
	}
	g.end()
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

func (g *gen) i32(name string, v []int32) {
	fmt.Fprintf(g.w, "i32 %s %d", name, len(v))
	for _, x := range v {
		fmt.Fprintf(g.w, " %d", x)
	}
	fmt.Fprintln(g.w)
}

func (g *gen) uploadInts(v []int32) gpu.Ints {
	b, err := g.dev.AllocInts(len(v))
	if err == nil {
		err = g.dev.UploadInts(b, v)
	}
	g.keep(err)
	return b
}

func (g *gen) downloadInts(b gpu.Ints) []int32 {
	v := make([]int32, b.Len())
	g.keep(g.dev.DownloadInts(v, b))
	return v
}

// tokens returns n ids in [0, v).
func (g *gen) tokens(n, v int) []int32 {
	t := make([]int32, n)
	for i := range t {
		t[i] = int32(g.next() * float64(v))
	}
	return t
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
		g.record(c.name, arr{"x", x}, arr{"out", g.download(ob)})
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
		g.record(c.name, arr{"x", x}, arr{"dout", dy}, arr{"out", g.download(ob)})
	}
	{
		gb, ub, ob := g.upload(x), g.upload(u), g.upload(make([]float32, n))
		g.dev.SwiGLU(ob, gb, ub)
		g.record("k_swiglu", arr{"x", x}, arr{"u", u}, arr{"out", g.download(ob)})
		dgb, dub, db := g.upload(make([]float32, n)), g.upload(make([]float32, n)), g.upload(dy)
		g.dev.SwiGLUBackward(dgb, dub, db, gb, ub)
		g.record("k_swiglu_bwd", arr{"x", x}, arr{"u", u}, arr{"dout", dy}, arr{"dg", g.download(dgb)},
			arr{"du", g.download(dub)})
	}
	g.adamw()
	g.rotary()
	g.sumsq()
	g.functions(x)
	g.embeddings()
	g.norms()
	g.loss()
	g.attention()
	g.scan()
	g.conv()
}

// embeddings: the gradients of the embedding table (repeated tokens, more rows than k_embed_bwd
// stages at once) and of the positions.
func (g *gen) embeddings() {
	const rows, V, d, B, T = 1100, 40, 24, 3, 100
	tok := g.tokens(rows, V)
	dt, dout := g.normal(V*d, 1), g.normal(rows*d, 1)
	tb := g.upload(dt)
	g.dev.EmbedBackward(tb, g.upload(dout), g.uploadInts(tok), d)
	g.begin("k_embed_bwd")
	g.f32("shape", []float32{rows, V, d})
	g.i32("tok", tok)
	g.f32("dtable", dt)
	g.f32("dout", dout)
	g.f32("out", g.download(tb))
	g.end()
	dp := g.normal(T*d, 1)
	pb := g.upload(dp)
	g.dev.AddPositionsBackward(pb, g.upload(dout[:B*T*d]), B, T, d)
	g.record("k_addpos_bwd", arr{"shape", []float32{B, T, d}}, arr{"dpos", dp}, arr{"dx", dout[:B*T*d]},
		arr{"out", g.download(pb)})
}

// norms: RMSNorm and LayerNorm, forward and backward, rows narrower and wider than the lanes, more
// rows than the parameter gradients' kernels stage at once, with gradients accumulated onto nonzero
// values.
func (g *gen) norms() {
	for _, d := range []int{5, 64, 300} {
		const rows = 300
		x, w, b := g.normal(rows*d, 2), g.normal(d, 1), g.normal(d, 1)
		dout, dw, db := g.normal(rows*d, 1), g.normal(d, 1), g.normal(d, 1)
		x[3] += 100 // a row with a large mean
		ob, rb, mb := g.upload(make([]float32, rows*d)), g.upload(make([]float32, rows)), g.upload(make([]float32, rows))
		xb, wb := g.upload(x), g.upload(w)
		g.dev.RMSNorm(ob, rb, xb, wb, rows, d, 1e-5)
		rstd := g.download(rb)
		dxb, dwb := g.upload(make([]float32, rows*d)), g.upload(dw)
		g.dev.RMSNormBackward(dxb, dwb, g.upload(dout), xb, wb, rb, rows, d)
		g.record("rmsnorm", arr{"shape", []float32{rows, float32(d), 1e-5}}, arr{"x", x}, arr{"w", w},
			arr{"dout", dout}, arr{"dw", dw}, arr{"out", g.download(ob)}, arr{"rstd", rstd},
			arr{"dx_out", g.download(dxb)}, arr{"dw_out", g.download(dwb)})

		g.dev.LayerNorm(ob, mb, rb, xb, wb, g.upload(b), rows, d, 1e-5)
		mean, rstd := g.download(mb), g.download(rb)
		dbb := g.upload(db)
		dwb = g.upload(dw)
		g.dev.LayerNormBackward(dxb, dwb, dbb, g.upload(dout), xb, wb, mb, rb, rows, d)
		g.record("layernorm", arr{"shape", []float32{rows, float32(d), 1e-5}}, arr{"x", x}, arr{"w", w}, arr{"b", b},
			arr{"dout", dout}, arr{"dw", dw}, arr{"db", db}, arr{"out", g.download(ob)}, arr{"mean", mean},
			arr{"rstd", rstd}, arr{"dx_out", g.download(dxb)}, arr{"dw_out", g.download(dwb)},
			arr{"db_out", g.download(dbb)})
	}
}

// loss: cross-entropy with ignored rows and a row of large logits, and argmax with ties and NaNs.
func (g *gen) loss() {
	for _, V := range []int{7, 256, 300} {
		const rows = 45
		logits := g.normal(rows*V, 3)
		tg := g.tokens(rows, V)
		tg[2], tg[9] = -1, -1
		for j := range V {
			logits[5*V+j] += 80
		}
		lb, db := g.upload(make([]float32, rows)), g.upload(g.normal(rows*V, 1))
		g.dev.CrossEntropy(lb, db, g.upload(logits), g.uploadInts(tg), rows, V, 1.0/rows)
		g.begin("k_xent")
		g.f32("shape", []float32{rows, float32(V), 1.0 / rows})
		g.f32("logits", logits)
		g.i32("targets", tg)
		g.f32("losses", g.download(lb))
		g.f32("dlogits", g.download(db))
		g.end()

		logits[0], logits[V+1], logits[V+2] = float32(math.NaN()), 50, 50
		for j := range V {
			logits[3*V+j] = float32(math.NaN())
		}
		ab := g.uploadInts(make([]int32, rows))
		g.dev.Argmax(ab, g.upload(logits), rows, V)
		g.begin("k_argmax")
		g.f32("shape", []float32{rows, float32(V)})
		g.f32("logits", logits)
		g.i32("out", g.downloadInts(ab))
		g.end()
	}
}

// attention: forward and backward with grouped-query heads, windows, one token, rows longer than
// a tile, head dimensions on both sides of the tiled kernels' limit and of the register tiles'
// multiple of 4.
func (g *gen) attention() {
	for _, s := range []gpu.AttnShape{
		{B: 2, T: 70, H: 4, KVH: 4, D: 8}, {B: 2, T: 70, H: 4, KVH: 2, D: 8}, {B: 1, T: 70, H: 4, KVH: 1, D: 8, Window: 20},
		{B: 1, T: 130, H: 2, KVH: 1, D: 16, Window: 70}, {B: 2, T: 1, H: 2, KVH: 2, D: 4}, {B: 1, T: 300, H: 1, KVH: 1, D: 64},
		{B: 1, T: 40, H: 2, KVH: 1, D: 80}, {B: 1, T: 200, H: 2, KVH: 1, D: 16, Scale: 8},
		// Head dimensions that are not multiples of 4 (the tiled kernels without register tiles),
		// with rows that fit in shared memory and rows that do not.
		{B: 1, T: 50, H: 2, KVH: 1, D: 6}, {B: 1, T: 700, H: 1, KVH: 1, D: 6, Window: 300},
	} {
		// Scale 8 marks a case of sharp attention (queries 8 times larger): probabilities over many
		// orders of magnitude, many of them below kexp's range.
		sd := 1.0
		if s.Scale != 0 {
			sd = float64(s.Scale)
		}
		s.Scale = float32(1 / math.Sqrt(float64(s.D)))
		nq, nkv := s.B*s.T*s.H*s.D, s.B*s.T*s.KVH*s.D
		q, k, v, dout := g.normal(nq, sd), g.normal(nkv, 1), g.normal(nkv, 1), g.normal(nq, 1)
		ob, lb := g.upload(make([]float32, nq)), g.upload(make([]float32, s.B*s.H*s.T))
		qb, kb, vb := g.upload(q), g.upload(k), g.upload(v)
		g.dev.Attention(ob, lb, qb, kb, vb, s)
		dq, dk, dv := g.upload(make([]float32, nq)), g.upload(make([]float32, nkv)), g.upload(make([]float32, nkv))
		ws := g.upload(make([]float32, g.dev.AttentionWorkspace(s)))
		g.dev.AttentionBackward(dq, dk, dv, g.upload(dout), ob, lb, qb, kb, vb, ws, s)
		g.record("attention",
			arr{"shape", []float32{float32(s.B), float32(s.T), float32(s.H), float32(s.KVH), float32(s.D), float32(s.Window), s.Scale}},
			arr{"q", q}, arr{"k", k}, arr{"v", v}, arr{"dout", dout}, arr{"out", g.download(ob)},
			arr{"lse", g.download(lb)}, arr{"delta", g.download(ws)}, arr{"dq", g.download(dq)},
			arr{"dk", g.download(dk)}, arr{"dv", g.download(dv)})
	}
}

// scan: the selective scan forward and backward, states narrower and wider than the lanes.
func (g *gen) scan() {
	for _, s := range []gpu.ScanShape{{B: 2, T: 13, C: 24, N: 8}, {B: 3, T: 5, C: 7, N: 16}, {B: 1, T: 9, C: 5, N: 3}} {
		rows := s.B * s.T
		u, delta := g.normal(rows*s.C, 1), g.normal(rows*s.C, 0.5)
		for i := range delta {
			delta[i] = float32(math.Abs(float64(delta[i])))
		}
		A := g.normal(s.C*s.N, 1)
		for i := range A {
			A[i] = -float32(math.Abs(float64(A[i])))
		}
		Bm, Cm, D, dy := g.normal(rows*s.N, 1), g.normal(rows*s.N, 1), g.normal(s.C, 1), g.normal(rows*s.C, 1)
		dA, dD := g.normal(s.C*s.N, 1), g.normal(s.C, 1)
		yb, sb := g.upload(make([]float32, rows*s.C)), g.upload(make([]float32, rows*s.C*s.N))
		ub, db, ab, bb, cb, Db := g.upload(u), g.upload(delta), g.upload(A), g.upload(Bm), g.upload(Cm), g.upload(D)
		g.dev.SelectiveScan(yb, sb, ub, db, ab, bb, cb, Db, s)
		states := g.download(sb)
		du, ddelta := g.upload(make([]float32, rows*s.C)), g.upload(make([]float32, rows*s.C))
		dAb, dBm, dCm, dDb := g.upload(dA), g.upload(make([]float32, rows*s.N)), g.upload(make([]float32, rows*s.N)), g.upload(dD)
		g.dev.SelectiveScanBackward(du, ddelta, dAb, dBm, dCm, dDb, g.upload(dy), sb, ub, db, ab, bb, cb, Db, s)
		g.record("scan", arr{"shape", []float32{float32(s.B), float32(s.T), float32(s.C), float32(s.N)}},
			arr{"u", u}, arr{"delta", delta}, arr{"A", A}, arr{"Bm", Bm}, arr{"Cm", Cm}, arr{"D", D}, arr{"dy", dy}, arr{"dA", dA},
			arr{"dD", dD}, arr{"y", g.download(yb)}, arr{"states", states}, arr{"du_out", g.download(du)},
			arr{"ddelta_out", g.download(ddelta)}, arr{"dA_out", g.download(dAb)}, arr{"dBm_out", g.download(dBm)},
			arr{"dCm_out", g.download(dCm)}, arr{"dD_out", g.download(dDb)})
	}
}

// conv: the causal depthwise convolution forward and backward, with gradients accumulated onto
// nonzero values.
func (g *gen) conv() {
	const B, T, C, K = 2, 11, 30, 4
	n := B * T * C
	x, w, bias, dout := g.normal(n, 1), g.normal(C*K, 1), g.normal(C, 1), g.normal(n, 1)
	dw, db := g.normal(C*K, 1), g.normal(C, 1)
	ob, xb, wb := g.upload(make([]float32, n)), g.upload(x), g.upload(w)
	g.dev.CausalConv1D(ob, xb, wb, g.upload(bias), B, T, C, K)
	dxb, dwb, dbb := g.upload(make([]float32, n)), g.upload(dw), g.upload(db)
	g.dev.CausalConv1DBackward(dxb, dwb, dbb, g.upload(dout), xb, wb, B, T, C, K)
	g.record("conv", arr{"shape", []float32{B, T, C, K}}, arr{"x", x}, arr{"w", w}, arr{"bias", bias},
		arr{"dout", dout}, arr{"dw", dw}, arr{"db", db}, arr{"out", g.download(ob)}, arr{"dx_out", g.download(dxb)},
		arr{"dw_out", g.download(dwb)}, arr{"db_out", g.download(dbb)})
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
			g.record("k_rotary",
				arr{"shape", []float32{float32(c.B), float32(c.T), float32(c.H), float32(c.D), float32(c.rot), c.base, float32(1 - 2*k)}},
				arr{"x", x}, arr{"out", g.download(xb)})
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
	g.record("fm_log", arr{"x", x}, arr{"out", logOut})

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
