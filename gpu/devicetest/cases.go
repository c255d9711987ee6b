package devicetest

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/airanode/airanode/gpu"
)

func randn(r *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * scale)
	}
	return x
}

func uniform(r *rand.Rand, n int, lo, hi float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(lo + float64((hi-lo)*r.Float64())) // no fusion: inputs must not vary with the build
	}
	return x
}

// activationInputs are normal values with a few extremes (saturation of σ, tanh, softplus).
func activationInputs(r *rand.Rand, n int) []float32 {
	x := randn(r, n, 2)
	ext := []float32{0, float32(math.Copysign(0, -1)), 1e-6, -1e-6, 8, -8, 15, -15, 25, -25, 40, -40}
	copy(x, ext)
	return x
}

// cases lists every check of the suite.
func cases() []kcase {
	var cs []kcase
	cs = append(cs, matmulCases()...)
	cs = append(cs, elementwiseCases()...)
	cs = append(cs, activationCases()...)
	cs = append(cs, embedCases()...)
	cs = append(cs, normCases()...)
	cs = append(cs, rotaryCases()...)
	cs = append(cs, attentionCases()...)
	cs = append(cs, convCases()...)
	cs = append(cs, scanCases()...)
	cs = append(cs, lossCases()...)
	cs = append(cs, adamwCases()...)
	return cs
}

// ---- dense algebra ----

func matmulRef(a, b, c []float64, m, n, k int, ta, tb, acc bool) []float64 {
	out := make([]float64, m*n)
	for i := range m {
		for j := range n {
			var s float64
			if acc {
				s = c[i*n+j]
			}
			for p := range k {
				av := a[i*k+p]
				if ta {
					av = a[p*m+i]
				}
				bv := b[p*n+j]
				if tb {
					bv = b[j*k+p]
				}
				s += av * bv
			}
			out[i*n+j] = s
		}
	}
	return out
}

func matmulCases() []kcase {
	var cs []kcase
	for _, sz := range [][3]int{{37, 29, 23}, {130, 70, 90}} {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				for _, acc := range []bool{false, true} {
					m, n, k := sz[0], sz[1], sz[2]
					cs = append(cs, kcase{
						name: fmt.Sprintf("MatMul/%dx%dx%d/ta=%v,tb=%v,acc=%v", m, n, k, ta, tb, acc),
						tol:  1,
						gen: func(r *rand.Rand) inputs {
							in := newInputs()
							in.f["a"], in.f["b"], in.f["c"] = randn(r, m*k, 1), randn(r, k*n, 1), randn(r, m*n, 1)
							return in
						},
						prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
							a, b, c := e.up(in.f["a"]), e.up(in.f["b"]), e.up(in.f["c"])
							return func() { e.d.MatMul(c, a, b, m, n, k, ta, tb, acc) },
								func() map[string][]float64 { return map[string][]float64{"c": e.down(c)} }
						},
						ref: func(in inputs, _ *rand.Rand) map[string]refVal {
							return all(map[string][]float64{"c": matmulRef(to64(in.f["a"]), to64(in.f["b"]), to64(in.f["c"]), m, n, k, ta, tb, acc)})
						},
					})
				}
			}
		}
	}
	return cs
}

// ---- elementwise ----

const ewN = 20011 // large enough for every thread to get work

func elementwiseCases() []kcase {
	gen2 := func(r *rand.Rand) inputs {
		in := newInputs()
		in.f["a"], in.f["b"] = randn(r, ewN, 1), randn(r, ewN, 1)
		return in
	}
	return []kcase{
		{
			name: "Fill", tol: 0, gen: gen2,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				x := e.up(in.f["a"])
				return func() { e.d.Fill(x, 0.75) }, func() map[string][]float64 { return map[string][]float64{"x": e.down(x)} }
			},
			ref: func(in inputs, _ *rand.Rand) map[string]refVal {
				x := make([]float64, ewN)
				for i := range x {
					x[i] = 0.75
				}
				return all(map[string][]float64{"x": x})
			},
		},
		{
			name: "Copy", tol: 0, gen: gen2,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				x, y := e.up(in.f["a"]), e.up(in.f["b"])
				return func() { e.d.Copy(y, x) }, func() map[string][]float64 { return map[string][]float64{"y": e.down(y)} }
			},
			ref: func(in inputs, _ *rand.Rand) map[string]refVal {
				return all(map[string][]float64{"y": to64(in.f["a"])})
			},
		},
		{
			name: "Add", tol: 0.5, gen: gen2,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				x, y, z := e.up(in.f["a"]), e.up(in.f["b"]), e.garbage(ewN)
				return func() { e.d.Add(z, x, y) }, func() map[string][]float64 { return map[string][]float64{"z": e.down(z)} }
			},
			ref: func(in inputs, _ *rand.Rand) map[string]refVal {
				a, b := to64(in.f["a"]), to64(in.f["b"])
				for i := range a {
					a[i] += b[i]
				}
				return all(map[string][]float64{"z": a})
			},
		},
		{
			name: "Add/aliased", tol: 0.5, gen: gen2,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				x, y := e.up(in.f["a"]), e.up(in.f["b"])
				return func() { e.d.Add(x, x, y) }, func() map[string][]float64 { return map[string][]float64{"x": e.down(x)} }
			},
			ref: func(in inputs, _ *rand.Rand) map[string]refVal {
				a, b := to64(in.f["a"]), to64(in.f["b"])
				for i := range a {
					a[i] += b[i]
				}
				return all(map[string][]float64{"x": a})
			},
		},
		{
			name: "AddInPlace", tol: 0.5, gen: gen2,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				x, y := e.up(in.f["a"]), e.up(in.f["b"])
				return func() { e.d.AddInPlace(x, y) }, func() map[string][]float64 { return map[string][]float64{"x": e.down(x)} }
			},
			ref: func(in inputs, _ *rand.Rand) map[string]refVal {
				a, b := to64(in.f["a"]), to64(in.f["b"])
				for i := range a {
					a[i] += b[i]
				}
				return all(map[string][]float64{"x": a})
			},
		},
		{
			name: "Scale", tol: 0.5, gen: gen2,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				x := e.up(in.f["a"])
				return func() { e.d.Scale(x, -0.3) }, func() map[string][]float64 { return map[string][]float64{"x": e.down(x)} }
			},
			ref: func(in inputs, _ *rand.Rand) map[string]refVal {
				a := to64(in.f["a"])
				for i := range a {
					a[i] *= float64(float32(-0.3))
				}
				return all(map[string][]float64{"x": a})
			},
		},
		{
			name: "SumSquares", tol: 0.05, gen: gen2,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				x := e.up(in.f["a"])
				var s float64
				return func() { s = e.d.SumSquares(x) }, func() map[string][]float64 { return map[string][]float64{"s": {s}} }
			},
			ref: func(in inputs, _ *rand.Rand) map[string]refVal {
				var s float64
				for _, v := range in.f["a"] {
					s += float64(v) * float64(v)
				}
				return all(map[string][]float64{"s": {s}})
			},
		},
	}
}

// ---- activations ----

const actN = 5003

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func geluRef(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
}

func softplusRef(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

// unaryCase builds the forward and backward checks of a one-input activation.
func unaryCase(name string, f func(float64) float64,
	fwd func(d gpu.Device, out, x gpu.Buffer), back func(d gpu.Device, dx, dout, x gpu.Buffer)) []kcase {
	ref := func(x map[string][]float64) map[string][]float64 {
		y := make([]float64, len(x["x"]))
		for i, v := range x["x"] {
			y[i] = f(v)
		}
		return map[string][]float64{"y": y}
	}
	gen := func(r *rand.Rand) inputs {
		in := newInputs()
		in.f["x"], in.f["dy"] = activationInputs(r, actN), randn(r, actN, 1)
		return in
	}
	return []kcase{
		{
			name: name, tol: 3, gen: gen,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				x, y := e.up(in.f["x"]), e.garbage(actN)
				return func() { fwd(e.d, y, x) }, func() map[string][]float64 { return map[string][]float64{"y": e.down(y)} }
			},
			ref: func(in inputs, _ *rand.Rand) map[string]refVal {
				return all(ref(map[string][]float64{"x": to64(in.f["x"])}))
			},
		},
		{
			name: name + "Backward", tol: 1, grad: true, gen: gen,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				x, dy, dx := e.up(in.f["x"]), e.up(in.f["dy"]), e.garbage(actN)
				return func() { back(e.d, dx, dy, x) }, func() map[string][]float64 { return map[string][]float64{"dx": e.down(dx)} }
			},
			ref: func(in inputs, r *rand.Rand) map[string]refVal {
				return fd(gradSpec{fwd: ref, dout: map[string]string{"y": "dy"}, wrt: map[string]string{"dx": "x"}}, in, r)
			},
		},
	}
}

// binaryCase builds the forward and backward checks of a two-input elementwise op (SwiGLU, Mul).
func binaryCase(name string, f func(a, b float64) float64,
	fwd func(d gpu.Device, out, a, b gpu.Buffer), back func(d gpu.Device, da, db, dout, a, b gpu.Buffer)) []kcase {
	ref := func(x map[string][]float64) map[string][]float64 {
		a, b := x["a"], x["b"]
		y := make([]float64, len(a))
		for i := range y {
			y[i] = f(a[i], b[i])
		}
		return map[string][]float64{"y": y}
	}
	gen := func(r *rand.Rand) inputs {
		in := newInputs()
		in.f["a"], in.f["b"], in.f["dy"] = activationInputs(r, actN), randn(r, actN, 1), randn(r, actN, 1)
		return in
	}
	return []kcase{
		{
			name: name, tol: 3, gen: gen,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				a, b, y := e.up(in.f["a"]), e.up(in.f["b"]), e.garbage(actN)
				return func() { fwd(e.d, y, a, b) }, func() map[string][]float64 { return map[string][]float64{"y": e.down(y)} }
			},
			ref: func(in inputs, _ *rand.Rand) map[string]refVal {
				return all(ref(map[string][]float64{"a": to64(in.f["a"]), "b": to64(in.f["b"])}))
			},
		},
		{
			name: name + "Backward", tol: 1, grad: true, gen: gen,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				a, b, dy := e.up(in.f["a"]), e.up(in.f["b"]), e.up(in.f["dy"])
				da, db := e.garbage(actN), e.garbage(actN)
				return func() { back(e.d, da, db, dy, a, b) }, func() map[string][]float64 {
					return map[string][]float64{"da": e.down(da), "db": e.down(db)}
				}
			},
			ref: func(in inputs, r *rand.Rand) map[string]refVal {
				return fd(gradSpec{fwd: ref, dout: map[string]string{"y": "dy"}, wrt: map[string]string{"da": "a", "db": "b"}}, in, r)
			},
		},
	}
}

func activationCases() []kcase {
	var cs []kcase
	cs = append(cs, unaryCase("GELU", geluRef, gpu.Device.GELU, gpu.Device.GELUBackward)...)
	cs = append(cs, unaryCase("SiLU", func(x float64) float64 { return x * sigmoid(x) }, gpu.Device.SiLU, gpu.Device.SiLUBackward)...)
	cs = append(cs, unaryCase("Softplus", softplusRef, gpu.Device.Softplus, gpu.Device.SoftplusBackward)...)
	cs = append(cs, unaryCase("NegExp", func(x float64) float64 { return -math.Exp(x) }, gpu.Device.NegExp, nil)[0])
	cs = append(cs, binaryCase("SwiGLU", func(a, b float64) float64 { return a * sigmoid(a) * b }, gpu.Device.SwiGLU, gpu.Device.SwiGLUBackward)...)
	cs = append(cs, binaryCase("Mul", func(a, b float64) float64 { return a * b }, gpu.Device.Mul, gpu.Device.MulBackward)...)
	return cs
}

// ---- embeddings ----

func embedCases() []kcase {
	const V, dim, rows = 50, 24, 66
	const B, T = 3, 17
	embRef := func(x map[string][]float64, tok []int32) map[string][]float64 {
		y := make([]float64, rows*dim)
		for r, id := range tok {
			copy(y[r*dim:(r+1)*dim], x["table"][int(id)*dim:(int(id)+1)*dim])
		}
		return map[string][]float64{"y": y}
	}
	posRef := func(x map[string][]float64) map[string][]float64 {
		y := make([]float64, B*T*dim)
		xs, pos := x["x"], x["pos"]
		for r := range B * T {
			for j := range dim {
				y[r*dim+j] = xs[r*dim+j] + pos[(r%T)*dim+j]
			}
		}
		return map[string][]float64{"y": y}
	}
	embGen := func(r *rand.Rand) inputs {
		in := newInputs()
		in.f["table"], in.f["dy"], in.f["dtable"] = randn(r, V*dim, 1), randn(r, rows*dim, 1), randn(r, V*dim, 1)
		tok := make([]int32, rows)
		for i := range tok {
			tok[i] = int32(r.IntN(V / 5)) // repeats
		}
		tok[0] = V - 1
		in.i["tok"] = tok
		return in
	}
	posGen := func(r *rand.Rand) inputs {
		in := newInputs()
		in.f["x"], in.f["pos"], in.f["dy"], in.f["dpos"] = randn(r, B*T*dim, 1), randn(r, T*dim, 1), randn(r, B*T*dim, 1), randn(r, T*dim, 1)
		return in
	}
	return []kcase{
		{
			name: "Embed", tol: 0, gen: embGen,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				tab, tok, y := e.up(in.f["table"]), e.upi(in.i["tok"]), e.garbage(rows*dim)
				return func() { e.d.Embed(y, tab, tok, dim) }, func() map[string][]float64 { return map[string][]float64{"y": e.down(y)} }
			},
			ref: func(in inputs, _ *rand.Rand) map[string]refVal {
				return all(embRef(map[string][]float64{"table": to64(in.f["table"])}, in.i["tok"]))
			},
		},
		{
			name: "EmbedBackward", tol: 1, grad: true, gen: embGen,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				dtab, tok, dy := e.up(in.f["dtable"]), e.upi(in.i["tok"]), e.up(in.f["dy"])
				return func() { e.d.EmbedBackward(dtab, dy, tok, dim) },
					func() map[string][]float64 { return map[string][]float64{"dtable": e.down(dtab)} }
			},
			ref: func(in inputs, r *rand.Rand) map[string]refVal {
				tok := in.i["tok"]
				return fd(gradSpec{fwd: func(x map[string][]float64) map[string][]float64 { return embRef(x, tok) },
					dout: map[string]string{"y": "dy"}, wrt: map[string]string{"dtable": "table"},
					init: map[string]string{"dtable": "dtable"}}, in, r)
			},
		},
		{
			name: "AddPositions", tol: 0.5, gen: posGen,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				x, pos := e.up(in.f["x"]), e.up(in.f["pos"])
				return func() { e.d.AddPositions(x, pos, B, T, dim) }, func() map[string][]float64 { return map[string][]float64{"y": e.down(x)} }
			},
			ref: func(in inputs, _ *rand.Rand) map[string]refVal {
				return all(posRef(map[string][]float64{"x": to64(in.f["x"]), "pos": to64(in.f["pos"])}))
			},
		},
		{
			name: "AddPositionsBackward", tol: 1, grad: true, gen: posGen,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				dpos, dy := e.up(in.f["dpos"]), e.up(in.f["dy"])
				return func() { e.d.AddPositionsBackward(dpos, dy, B, T, dim) },
					func() map[string][]float64 { return map[string][]float64{"dpos": e.down(dpos)} }
			},
			ref: func(in inputs, r *rand.Rand) map[string]refVal {
				return fd(gradSpec{fwd: posRef, dout: map[string]string{"y": "dy"}, wrt: map[string]string{"dpos": "pos"},
					init: map[string]string{"dpos": "dpos"}}, in, r)
			},
		},
	}
}

// ---- normalisation ----

func normCases() []kcase {
	const rows, dim = 67, 48
	const eps = 1e-5
	rmsRef := func(x map[string][]float64) map[string][]float64 {
		y, rs := make([]float64, rows*dim), make([]float64, rows)
		for r := range rows {
			xs := x["x"][r*dim : (r+1)*dim]
			var ss float64
			for _, v := range xs {
				ss += v * v
			}
			rs[r] = 1 / math.Sqrt(ss/dim+float64(float32(eps)))
			w := x["w"]
			for j, v := range xs {
				y[r*dim+j] = v * rs[r] * w[j]
			}
		}
		return map[string][]float64{"y": y, "rstd": rs}
	}
	lnRef := func(x map[string][]float64) map[string][]float64 {
		y, ms, rs := make([]float64, rows*dim), make([]float64, rows), make([]float64, rows)
		for r := range rows {
			xs := x["x"][r*dim : (r+1)*dim]
			var s, vs float64
			for _, v := range xs {
				s += v
			}
			ms[r] = s / dim
			for _, v := range xs {
				vs += (v - ms[r]) * (v - ms[r])
			}
			rs[r] = 1 / math.Sqrt(vs/dim+float64(float32(eps)))
			w, bb := x["w"], x["b"]
			for j, v := range xs {
				y[r*dim+j] = (v-ms[r])*rs[r]*w[j] + bb[j]
			}
		}
		return map[string][]float64{"y": y, "mean": ms, "rstd": rs}
	}
	gen := func(r *rand.Rand) inputs {
		in := newInputs()
		x := randn(r, rows*dim, 1)
		for j := range dim { // a row with a large mean
			x[j] += 30
		}
		in.f["x"], in.f["w"], in.f["b"] = x, uniform(r, dim, 0.5, 1.5), randn(r, dim, 0.1)
		in.f["dy"], in.f["dw"], in.f["db"] = randn(r, rows*dim, 1), randn(r, dim, 1), randn(r, dim, 1)
		return in
	}
	only := func(m map[string][]float64, keys ...string) map[string][]float64 {
		o := map[string][]float64{}
		for _, k := range keys {
			o[k] = m[k]
		}
		return o
	}
	return []kcase{
		{
			name: "RMSNorm", tol: 1, gen: gen,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				x, w, y, rs := e.up(in.f["x"]), e.up(in.f["w"]), e.garbage(rows*dim), e.garbage(rows)
				return func() { e.d.RMSNorm(y, rs, x, w, rows, dim, eps) },
					func() map[string][]float64 { return map[string][]float64{"y": e.down(y), "rstd": e.down(rs)} }
			},
			ref: func(in inputs, _ *rand.Rand) map[string]refVal {
				return all(rmsRef(map[string][]float64{"x": to64(in.f["x"]), "w": to64(in.f["w"])}))
			},
		},
		{
			name: "RMSNormBackward", tol: 1, grad: true, gen: gen,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				x, w, y, rs := e.up(in.f["x"]), e.up(in.f["w"]), e.garbage(rows*dim), e.garbage(rows)
				dy, dw, dx := e.up(in.f["dy"]), e.up(in.f["dw"]), e.garbage(rows*dim)
				e.d.RMSNorm(y, rs, x, w, rows, dim, eps)
				return func() { e.d.RMSNormBackward(dx, dw, dy, x, w, rs, rows, dim) },
					func() map[string][]float64 { return map[string][]float64{"dx": e.down(dx), "dw": e.down(dw)} }
			},
			ref: func(in inputs, r *rand.Rand) map[string]refVal {
				return fd(gradSpec{fwd: func(x map[string][]float64) map[string][]float64 { return only(rmsRef(x), "y") },
					dout: map[string]string{"y": "dy"}, wrt: map[string]string{"dx": "x", "dw": "w"},
					init: map[string]string{"dw": "dw"}}, in, r)
			},
		},
		{
			name: "LayerNorm", tol: 1, gen: gen,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				x, w, b := e.up(in.f["x"]), e.up(in.f["w"]), e.up(in.f["b"])
				y, ms, rs := e.garbage(rows*dim), e.garbage(rows), e.garbage(rows)
				return func() { e.d.LayerNorm(y, ms, rs, x, w, b, rows, dim, eps) },
					func() map[string][]float64 {
						return map[string][]float64{"y": e.down(y), "mean": e.down(ms), "rstd": e.down(rs)}
					}
			},
			ref: func(in inputs, _ *rand.Rand) map[string]refVal {
				return all(lnRef(map[string][]float64{"x": to64(in.f["x"]), "w": to64(in.f["w"]), "b": to64(in.f["b"])}))
			},
		},
		{
			name: "LayerNormBackward", tol: 1, grad: true, gen: gen,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				x, w, b := e.up(in.f["x"]), e.up(in.f["w"]), e.up(in.f["b"])
				y, ms, rs := e.garbage(rows*dim), e.garbage(rows), e.garbage(rows)
				dy, dw, db, dx := e.up(in.f["dy"]), e.up(in.f["dw"]), e.up(in.f["db"]), e.garbage(rows*dim)
				e.d.LayerNorm(y, ms, rs, x, w, b, rows, dim, eps)
				return func() { e.d.LayerNormBackward(dx, dw, db, dy, x, w, ms, rs, rows, dim) },
					func() map[string][]float64 {
						return map[string][]float64{"dx": e.down(dx), "dw": e.down(dw), "db": e.down(db)}
					}
			},
			ref: func(in inputs, r *rand.Rand) map[string]refVal {
				return fd(gradSpec{fwd: func(x map[string][]float64) map[string][]float64 { return only(lnRef(x), "y") },
					dout: map[string]string{"y": "dy"}, wrt: map[string]string{"dx": "x", "dw": "w", "db": "b"},
					init: map[string]string{"dw": "dw", "db": "db"}}, in, r)
			},
		},
	}
}

// ---- rotary ----

func rotaryCases() []kcase {
	var cs []kcase
	for _, sh := range [][5]int{{2, 19, 3, 16, 12}, {1, 70, 2, 8, 8}} {
		B, T, heads, D, rot := sh[0], sh[1], sh[2], sh[3], sh[4]
		const base = 10000
		n := B * T * heads * D
		ref := func(x map[string][]float64) map[string][]float64 {
			y := append([]float64(nil), x["x"]...)
			half := rot / 2
			for r := range B * T {
				t := r % T
				for h := range heads {
					o := (r*heads + h) * D
					for i := range half {
						ang := float64(t) * math.Pow(base, -float64(2*i)/float64(rot))
						c, s := math.Cos(ang), math.Sin(ang)
						a, b := y[o+i], y[o+i+half]
						y[o+i], y[o+i+half] = a*c-b*s, b*c+a*s
					}
				}
			}
			return map[string][]float64{"y": y}
		}
		gen := func(r *rand.Rand) inputs {
			in := newInputs()
			in.f["x"], in.f["dy"] = randn(r, n, 1), randn(r, n, 1)
			return in
		}
		name := fmt.Sprintf("%dx%dx%dx%d/rot=%d", B, T, heads, D, rot)
		cs = append(cs, kcase{
			name: "Rotary/" + name, tol: 2, gen: gen,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				x := e.up(in.f["x"])
				return func() { e.d.Rotary(x, B, T, heads, D, rot, base) }, func() map[string][]float64 { return map[string][]float64{"y": e.down(x)} }
			},
			ref: func(in inputs, _ *rand.Rand) map[string]refVal {
				return all(ref(map[string][]float64{"x": to64(in.f["x"])}))
			},
		}, kcase{
			name: "RotaryBackward/" + name, tol: 1, grad: true, gen: gen,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				dx := e.up(in.f["dy"])
				return func() { e.d.RotaryBackward(dx, B, T, heads, D, rot, base) },
					func() map[string][]float64 { return map[string][]float64{"dx": e.down(dx)} }
			},
			ref: func(in inputs, r *rand.Rand) map[string]refVal {
				return fd(gradSpec{fwd: ref, dout: map[string]string{"y": "dy"}, wrt: map[string]string{"dx": "x"}}, in, r)
			},
		})
	}
	return cs
}

// ---- attention ----

// attentionRef is the float64 reference: out and lse.
func attentionRef(x map[string][]float64, s gpu.AttnShape) map[string][]float64 {
	hd, kd := s.H*s.D, s.KVH*s.D
	q, k, v := x["q"], x["k"], x["v"]
	out, lse := make([]float64, s.B*s.T*hd), make([]float64, s.B*s.H*s.T)
	sc := make([]float64, s.T)
	for b := range s.B {
		for h := range s.H {
			g := h / (s.H / s.KVH)
			for t := range s.T {
				lo := 0
				if s.Window > 0 {
					lo = max(0, t-s.Window+1)
				}
				m := math.Inf(-1)
				for j := lo; j <= t; j++ {
					var dot float64
					for i := range s.D {
						dot += q[(b*s.T+t)*hd+h*s.D+i] * k[(b*s.T+j)*kd+g*s.D+i]
					}
					sc[j] = dot * float64(s.Scale)
					m = max(m, sc[j])
				}
				var sum float64
				for j := lo; j <= t; j++ {
					sc[j] = math.Exp(sc[j] - m)
					sum += sc[j]
				}
				lse[(b*s.H+h)*s.T+t] = m + math.Log(sum)
				for i := range s.D {
					var o float64
					for j := lo; j <= t; j++ {
						o += sc[j] * v[(b*s.T+j)*kd+g*s.D+i]
					}
					out[(b*s.T+t)*hd+h*s.D+i] = o / sum
				}
			}
		}
	}
	return map[string][]float64{"out": out, "lse": lse}
}

func attentionCases() []kcase {
	var cs []kcase
	shapes := []gpu.AttnShape{
		{B: 2, T: 70, H: 4, KVH: 4, D: 8},             // multi-head, two row blocks
		{B: 2, T: 70, H: 4, KVH: 2, D: 8},             // grouped-query
		{B: 1, T: 70, H: 4, KVH: 1, D: 8, Window: 20}, // multi-query, sliding window
		{B: 1, T: 130, H: 2, KVH: 1, D: 16, Window: 70},
		{B: 2, T: 1, H: 2, KVH: 2, D: 4},
	}
	for _, s := range shapes {
		s.Scale = float32(1 / math.Sqrt(float64(s.D)))
		nq, nkv := s.B*s.T*s.H*s.D, s.B*s.T*s.KVH*s.D
		name := fmt.Sprintf("B%dT%dH%dKV%dD%dW%d", s.B, s.T, s.H, s.KVH, s.D, s.Window)
		gen := func(r *rand.Rand) inputs {
			in := newInputs()
			in.f["q"], in.f["k"], in.f["v"] = randn(r, nq, 1.5), randn(r, nkv, 1.5), randn(r, nkv, 1)
			in.f["dy"] = randn(r, nq, 1)
			return in
		}
		cs = append(cs, kcase{
			name: "Attention/" + name, tol: 3, gen: gen,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				q, k, v := e.up(in.f["q"]), e.up(in.f["k"]), e.up(in.f["v"])
				out, lse := e.garbage(nq), e.garbage(s.B*s.H*s.T)
				return func() { e.d.Attention(out, lse, q, k, v, s) },
					func() map[string][]float64 { return map[string][]float64{"out": e.down(out), "lse": e.down(lse)} }
			},
			ref: func(in inputs, _ *rand.Rand) map[string]refVal {
				return all(attentionRef(map[string][]float64{"q": to64(in.f["q"]), "k": to64(in.f["k"]), "v": to64(in.f["v"])}, s))
			},
		}, kcase{
			name: "AttentionBackward/" + name, tol: 3, grad: true, gen: gen,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				q, k, v, dy := e.up(in.f["q"]), e.up(in.f["k"]), e.up(in.f["v"]), e.up(in.f["dy"])
				out, lse := e.garbage(nq), e.garbage(s.B*s.H*s.T)
				dq, dk, dv := e.garbage(nq), e.garbage(nkv), e.garbage(nkv)
				ws := e.garbage(max(1, e.d.AttentionWorkspace(s)))
				e.d.Attention(out, lse, q, k, v, s)
				return func() { e.d.AttentionBackward(dq, dk, dv, dy, out, lse, q, k, v, ws, s) },
					func() map[string][]float64 {
						return map[string][]float64{"dq": e.down(dq), "dk": e.down(dk), "dv": e.down(dv)}
					}
			},
			ref: func(in inputs, r *rand.Rand) map[string]refVal {
				return fd(gradSpec{
					fwd: func(x map[string][]float64) map[string][]float64 {
						return map[string][]float64{"out": attentionRef(x, s)["out"]}
					},
					dout: map[string]string{"out": "dy"}, wrt: map[string]string{"dq": "q", "dk": "k", "dv": "v"}}, in, r)
			},
		})
	}
	return cs
}

// ---- causal depthwise convolution ----

func convCases() []kcase {
	const B, T, C, W = 2, 23, 40, 4
	n := B * T * C
	ref := func(x map[string][]float64) map[string][]float64 {
		y := make([]float64, n)
		xs, w, bias := x["x"], x["w"], x["bias"]
		for b := range B {
			for t := range T {
				for c := range C {
					s := bias[c]
					for j := range W {
						if src := t - W + 1 + j; src >= 0 {
							s += w[c*W+j] * xs[(b*T+src)*C+c]
						}
					}
					y[(b*T+t)*C+c] = s
				}
			}
		}
		return map[string][]float64{"y": y}
	}
	gen := func(r *rand.Rand) inputs {
		in := newInputs()
		in.f["x"], in.f["w"], in.f["bias"] = randn(r, n, 1), randn(r, C*W, 0.5), randn(r, C, 0.5)
		in.f["dy"], in.f["dw"], in.f["dbias"] = randn(r, n, 1), randn(r, C*W, 1), randn(r, C, 1)
		return in
	}
	return []kcase{
		{
			name: "CausalConv1D", tol: 1, gen: gen,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				x, w, bias, y := e.up(in.f["x"]), e.up(in.f["w"]), e.up(in.f["bias"]), e.garbage(n)
				return func() { e.d.CausalConv1D(y, x, w, bias, B, T, C, W) }, func() map[string][]float64 { return map[string][]float64{"y": e.down(y)} }
			},
			ref: func(in inputs, _ *rand.Rand) map[string]refVal {
				return all(ref(map[string][]float64{"x": to64(in.f["x"]), "w": to64(in.f["w"]), "bias": to64(in.f["bias"])}))
			},
		},
		{
			name: "CausalConv1DBackward", tol: 1, grad: true, gen: gen,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				x, w, dy := e.up(in.f["x"]), e.up(in.f["w"]), e.up(in.f["dy"])
				dx, dw, db := e.garbage(n), e.up(in.f["dw"]), e.up(in.f["dbias"])
				return func() { e.d.CausalConv1DBackward(dx, dw, db, dy, x, w, B, T, C, W) },
					func() map[string][]float64 {
						return map[string][]float64{"dx": e.down(dx), "dw": e.down(dw), "dbias": e.down(db)}
					}
			},
			ref: func(in inputs, r *rand.Rand) map[string]refVal {
				return fd(gradSpec{fwd: ref, dout: map[string]string{"y": "dy"},
					wrt:  map[string]string{"dx": "x", "dw": "w", "dbias": "bias"},
					init: map[string]string{"dw": "dw", "dbias": "dbias"}}, in, r)
			},
		},
	}
}

// ---- selective scan ----

func scanRef(x map[string][]float64, s gpu.ScanShape) map[string][]float64 {
	C, N := s.C, s.N
	y, st := make([]float64, s.B*s.T*C), make([]float64, s.B*s.T*C*N)
	h := make([]float64, N)
	delta, u, A, Bm, Cm, D := x["delta"], x["u"], x["A"], x["Bm"], x["Cm"], x["D"]
	for b := range s.B {
		for c := range C {
			clear(h)
			for t := range s.T {
				r := b*s.T + t
				dl, uu := delta[r*C+c], u[r*C+c]
				var yy float64
				for n := range N {
					h[n] = math.Exp(dl*A[c*N+n])*h[n] + dl*Bm[r*N+n]*uu
					st[(r*C+c)*N+n] = h[n]
					yy += Cm[r*N+n] * h[n]
				}
				y[r*C+c] = yy + D[c]*uu
			}
		}
	}
	return map[string][]float64{"y": y, "states": st}
}

func scanCases() []kcase {
	var cs []kcase
	for _, s := range []gpu.ScanShape{{B: 2, T: 13, C: 24, N: 8}, {B: 3, T: 5, C: 7, N: 16}} {
		rows := s.B * s.T
		gen := func(r *rand.Rand) inputs {
			in := newInputs()
			in.f["u"], in.f["delta"] = randn(r, rows*s.C, 1), uniform(r, rows*s.C, 0.01, 0.6)
			a := uniform(r, s.C*s.N, 0.3, 3)
			for i := range a {
				a[i] = -a[i]
			}
			in.f["A"], in.f["Bm"], in.f["Cm"], in.f["D"] = a, randn(r, rows*s.N, 1), randn(r, rows*s.N, 1), randn(r, s.C, 1)
			in.f["dy"], in.f["dA"], in.f["dD"] = randn(r, rows*s.C, 1), randn(r, s.C*s.N, 1), randn(r, s.C, 1)
			return in
		}
		name := fmt.Sprintf("B%dT%dC%dN%d", s.B, s.T, s.C, s.N)
		cs = append(cs, kcase{
			name: "SelectiveScan/" + name, tol: 3, gen: gen,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				u, dl, a, bm, cm, d := e.up(in.f["u"]), e.up(in.f["delta"]), e.up(in.f["A"]), e.up(in.f["Bm"]), e.up(in.f["Cm"]), e.up(in.f["D"])
				y, st := e.garbage(rows*s.C), e.garbage(rows*s.C*s.N)
				return func() { e.d.SelectiveScan(y, st, u, dl, a, bm, cm, d, s) },
					func() map[string][]float64 { return map[string][]float64{"y": e.down(y), "states": e.down(st)} }
			},
			ref: func(in inputs, _ *rand.Rand) map[string]refVal {
				x := map[string][]float64{}
				for k, v := range in.f {
					x[k] = to64(v)
				}
				return all(scanRef(x, s))
			},
		}, kcase{
			name: "SelectiveScanBackward/" + name, tol: 3, grad: true, gen: gen,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				u, dl, a, bm, cm, d := e.up(in.f["u"]), e.up(in.f["delta"]), e.up(in.f["A"]), e.up(in.f["Bm"]), e.up(in.f["Cm"]), e.up(in.f["D"])
				y, st, dy := e.garbage(rows*s.C), e.garbage(rows*s.C*s.N), e.up(in.f["dy"])
				du, ddl, dbm, dcm := e.garbage(rows*s.C), e.garbage(rows*s.C), e.garbage(rows*s.N), e.garbage(rows*s.N)
				da, dd := e.up(in.f["dA"]), e.up(in.f["dD"])
				e.d.SelectiveScan(y, st, u, dl, a, bm, cm, d, s)
				return func() { e.d.SelectiveScanBackward(du, ddl, da, dbm, dcm, dd, dy, st, u, dl, a, bm, cm, d, s) },
					func() map[string][]float64 {
						return map[string][]float64{"du": e.down(du), "ddelta": e.down(ddl), "dA": e.down(da),
							"dBm": e.down(dbm), "dCm": e.down(dcm), "dD": e.down(dd)}
					}
			},
			ref: func(in inputs, r *rand.Rand) map[string]refVal {
				return fd(gradSpec{
					fwd: func(x map[string][]float64) map[string][]float64 {
						return map[string][]float64{"y": scanRef(x, s)["y"]}
					},
					dout: map[string]string{"y": "dy"},
					wrt:  map[string]string{"du": "u", "ddelta": "delta", "dA": "A", "dBm": "Bm", "dCm": "Cm", "dD": "D"},
					init: map[string]string{"dA": "dA", "dD": "dD"}}, in, r)
			},
		})
	}
	return cs
}

// ---- loss ----

func lossCases() []kcase {
	const rows, V = 37, 53
	const gs = float32(1.0 / 30)
	gen := func(r *rand.Rand) inputs {
		in := newInputs()
		x := randn(r, rows*V, 3)
		for j := range V { // a row of large logits
			x[V+j] += 80
		}
		for j := range V { // a row of ties
			x[2*V+j] = 1.5
		}
		in.f["logits"] = x
		tg := make([]int32, rows)
		for i := range tg {
			tg[i] = int32(r.IntN(V))
			if i%7 == 3 {
				tg[i] = -1 // ignored
			}
		}
		tg[4] = -100
		in.i["targets"] = tg
		return in
	}
	lossRef := func(x map[string][]float64, tg []int32) map[string][]float64 {
		l := make([]float64, rows)
		for r := range rows {
			if tg[r] < 0 {
				continue
			}
			row := x["logits"][r*V : (r+1)*V]
			m := math.Inf(-1)
			for _, v := range row {
				m = max(m, v)
			}
			var s float64
			for _, v := range row {
				s += math.Exp(v - m)
			}
			l[r] = m + math.Log(s) - row[tg[r]]
		}
		return map[string][]float64{"loss": l}
	}
	return []kcase{
		{
			name: "CrossEntropy", tol: 3, gen: gen,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				lg, tg := e.up(in.f["logits"]), e.upi(in.i["targets"])
				loss, dl := e.garbage(rows), e.garbage(rows*V)
				return func() { e.d.CrossEntropy(loss, dl, lg, tg, rows, V, gs) },
					func() map[string][]float64 { return map[string][]float64{"loss": e.down(loss), "dlogits": e.down(dl)} }
			},
			ref: func(in inputs, r *rand.Rand) map[string]refVal {
				tg := in.i["targets"]
				want := all(lossRef(map[string][]float64{"logits": to64(in.f["logits"])}, tg))
				// dlogits is the gradient of gradScale·Σ loss: check it by finite differences.
				in.f["gs"] = make([]float32, rows)
				for i := range in.f["gs"] {
					in.f["gs"][i] = gs
				}
				g := fd(gradSpec{fwd: func(x map[string][]float64) map[string][]float64 { return lossRef(x, tg) },
					dout: map[string]string{"loss": "gs"}, wrt: map[string]string{"dlogits": "logits"}}, in, r)
				delete(in.f, "gs")
				want["dlogits"] = g["dlogits"]
				return want
			},
		},
		{
			name: "Argmax", tol: 0, gen: gen,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				lg := e.up(in.f["logits"])
				out, err := e.d.AllocInts(rows)
				if err != nil {
					e.t.Fatal(err)
				}
				return func() { e.d.Argmax(out, lg, rows, V) }, func() map[string][]float64 { return map[string][]float64{"idx": e.downi(out)} }
			},
			ref: func(in inputs, _ *rand.Rand) map[string]refVal {
				idx := make([]float64, rows)
				x := in.f["logits"]
				for r := range rows {
					best := 0
					for j := 1; j < V; j++ {
						if x[r*V+j] > x[r*V+best] {
							best = j
						}
					}
					idx[r] = float64(best)
				}
				return all(map[string][]float64{"idx": idx})
			},
		},
	}
}

// ---- optimizer ----

func adamwCases() []kcase {
	const n = 5000
	var cs []kcase
	for _, tc := range []struct {
		step   int
		masked bool
	}{{1, true}, {7, false}, {1000, true}} {
		h := gpu.AdamW{LR: 1e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, Step: tc.step}
		gen := func(r *rand.Rand) inputs {
			in := newInputs()
			in.f["p"], in.f["g"], in.f["m"] = randn(r, n, 1), randn(r, n, 0.1), randn(r, n, 0.01)
			v := randn(r, n, 0.01)
			for i := range v {
				v[i] *= v[i]
			}
			in.f["v"] = v
			dec := make([]float32, n)
			for i := range dec {
				dec[i] = float32(r.IntN(2))
			}
			in.f["decay"] = dec
			return in
		}
		cs = append(cs, kcase{
			name: fmt.Sprintf("AdamWStep/step=%d,mask=%v", tc.step, tc.masked), tol: 1, gen: gen,
			prep: func(e *env, in inputs) (func(), func() map[string][]float64) {
				p, g, m, v := e.up(in.f["p"]), e.up(in.f["g"]), e.up(in.f["m"]), e.up(in.f["v"])
				var dec gpu.Buffer
				if tc.masked {
					dec = e.up(in.f["decay"])
				}
				return func() { e.d.AdamWStep(p, g, m, v, dec, h) },
					func() map[string][]float64 {
						return map[string][]float64{"p": e.down(p), "m": e.down(m), "v": e.down(v)}
					}
			},
			ref: func(in inputs, _ *rand.Rand) map[string]refVal {
				p, g, m, v := to64(in.f["p"]), to64(in.f["g"]), to64(in.f["m"]), to64(in.f["v"])
				b1, b2 := float64(h.Beta1), float64(h.Beta2)
				bc1 := 1 - math.Pow(b1, float64(h.Step))
				bc2 := 1 - math.Pow(b2, float64(h.Step))
				for i := range p {
					if !tc.masked || in.f["decay"][i] != 0 {
						p[i] *= 1 - float64(h.LR)*float64(h.WeightDecay)
					}
					m[i] = b1*m[i] + (1-b1)*g[i]
					v[i] = b2*v[i] + (1-b2)*g[i]*g[i]
					p[i] -= float64(h.LR) / bc1 * m[i] / (math.Sqrt(v[i])/math.Sqrt(bc2) + float64(h.Eps))
				}
				return all(map[string][]float64{"p": p, "m": m, "v": v})
			},
		})
	}
	return cs
}
