package train

import (
	"fmt"
	"math"

	"github.com/airanode/airanode/gpu"
)

// refDevice is a naive reference implementation of gpu.Device for tests: plain loops that follow the
// kernel documentation of package gpu literally, accumulating in float64. It is slow, single-threaded
// and not bit-compatible with any device class; it exists to check the engine's layer composition
// (gradient checks) independently of the optimised devices, and to cross-check those devices.
type refDevice struct{ err error }

type refBuf []float32

func (b refBuf) Len() int                    { return len(b) }
func (b refBuf) Slice(off, n int) gpu.Buffer { return b[off : off+n : off+n] }

type refInts []int32

func (b refInts) Len() int                  { return len(b) }
func (b refInts) Slice(off, n int) gpu.Ints { return b[off : off+n : off+n] }

func f(b gpu.Buffer) refBuf { return b.(refBuf) }

func (d *refDevice) Name() string                      { return "reference (tests)" }
func (d *refDevice) Class() string                     { return "reference" }
func (d *refDevice) Alloc(n int) (gpu.Buffer, error)   { return make(refBuf, n), nil }
func (d *refDevice) AllocInts(n int) (gpu.Ints, error) { return make(refInts, n), nil }
func (d *refDevice) Sync() error                       { return d.err }
func (d *refDevice) Err() error                        { return d.err }
func (d *refDevice) Close() error                      { return nil }

func (d *refDevice) Upload(dst gpu.Buffer, src []float32) error {
	if dst.Len() != len(src) {
		return fmt.Errorf("upload: %d into %d", len(src), dst.Len())
	}
	copy(f(dst), src)
	return nil
}
func (d *refDevice) Download(dst []float32, src gpu.Buffer) error {
	if src.Len() != len(dst) {
		return fmt.Errorf("download: %d into %d", src.Len(), len(dst))
	}
	copy(dst, f(src))
	return nil
}
func (d *refDevice) UploadInts(dst gpu.Ints, src []int32) error {
	if dst.Len() != len(src) {
		return fmt.Errorf("upload ints: %d into %d", len(src), dst.Len())
	}
	copy(dst.(refInts), src)
	return nil
}
func (d *refDevice) DownloadInts(dst []int32, src gpu.Ints) error {
	if src.Len() != len(dst) {
		return fmt.Errorf("download ints: %d into %d", src.Len(), len(dst))
	}
	copy(dst, src.(refInts))
	return nil
}

func (d *refDevice) MatMul(c, a, b gpu.Buffer, m, n, k int, ta, tb, acc bool) {
	C, A, B := f(c), f(a), f(b)
	for i := range m {
		for j := range n {
			var s float64
			if acc {
				s = float64(C[i*n+j])
			}
			for p := range k {
				av := A[i*k+p]
				if ta {
					av = A[p*m+i]
				}
				bv := B[p*n+j]
				if tb {
					bv = B[j*k+p]
				}
				s += float64(av) * float64(bv)
			}
			C[i*n+j] = float32(s)
		}
	}
}

func (d *refDevice) Fill(x gpu.Buffer, v float32) {
	for i := range f(x) {
		f(x)[i] = v
	}
}
func (d *refDevice) Copy(dst, src gpu.Buffer) { copy(f(dst), f(src)) }
func (d *refDevice) Add(dst, a, b gpu.Buffer) {
	for i := range f(dst) {
		f(dst)[i] = f(a)[i] + f(b)[i]
	}
}
func (d *refDevice) AddInPlace(dst, src gpu.Buffer) {
	for i := range f(dst) {
		f(dst)[i] += f(src)[i]
	}
}
func (d *refDevice) Scale(x gpu.Buffer, s float32) {
	for i := range f(x) {
		f(x)[i] *= s
	}
}
func (d *refDevice) SumSquares(x gpu.Buffer) float64 {
	var s float64
	for _, v := range f(x) {
		s += float64(v) * float64(v)
	}
	return s
}

func (d *refDevice) Embed(out, table gpu.Buffer, tok gpu.Ints, dim int) {
	for r, t := range tok.(refInts) {
		copy(f(out)[r*dim:(r+1)*dim], f(table)[int(t)*dim:(int(t)+1)*dim])
	}
}
func (d *refDevice) EmbedBackward(dtable, dout gpu.Buffer, tok gpu.Ints, dim int) {
	for r, t := range tok.(refInts) {
		for j := range dim {
			f(dtable)[int(t)*dim+j] += f(dout)[r*dim+j]
		}
	}
}
func (d *refDevice) AddPositions(x, pos gpu.Buffer, B, T, dim int) {
	for b := range B {
		for t := range T {
			for j := range dim {
				f(x)[(b*T+t)*dim+j] += f(pos)[t*dim+j]
			}
		}
	}
}
func (d *refDevice) AddPositionsBackward(dpos, dx gpu.Buffer, B, T, dim int) {
	for b := range B {
		for t := range T {
			for j := range dim {
				f(dpos)[t*dim+j] += f(dx)[(b*T+t)*dim+j]
			}
		}
	}
}

func (d *refDevice) RMSNorm(out, rstd, x, w gpu.Buffer, rows, dim int, eps float32) {
	for r := range rows {
		xs := f(x)[r*dim : (r+1)*dim]
		var ss float64
		for _, v := range xs {
			ss += float64(v) * float64(v)
		}
		rs := 1 / math.Sqrt(ss/float64(dim)+float64(eps))
		f(rstd)[r] = float32(rs)
		for j, v := range xs {
			f(out)[r*dim+j] = float32(float64(v) * rs * float64(f(w)[j]))
		}
	}
}
func (d *refDevice) RMSNormBackward(dx, dw, dout, x, w, rstd gpu.Buffer, rows, dim int) {
	for r := range rows {
		xs, dy := f(x)[r*dim:(r+1)*dim], f(dout)[r*dim:(r+1)*dim]
		rs := float64(f(rstd)[r])
		var dot float64
		for j := range dim {
			dot += float64(dy[j]) * float64(f(w)[j]) * float64(xs[j])
		}
		for j := range dim {
			g := float64(dy[j])*float64(f(w)[j])*rs - rs*rs*rs/float64(dim)*float64(xs[j])*dot
			f(dx)[r*dim+j] = float32(g)
			f(dw)[j] += float32(float64(dy[j]) * float64(xs[j]) * rs)
		}
	}
}
func (d *refDevice) LayerNorm(out, mean, rstd, x, w, b gpu.Buffer, rows, dim int, eps float32) {
	for r := range rows {
		xs := f(x)[r*dim : (r+1)*dim]
		var mu, v float64
		for _, e := range xs {
			mu += float64(e)
		}
		mu /= float64(dim)
		for _, e := range xs {
			v += (float64(e) - mu) * (float64(e) - mu)
		}
		rs := 1 / math.Sqrt(v/float64(dim)+float64(eps))
		f(mean)[r], f(rstd)[r] = float32(mu), float32(rs)
		for j, e := range xs {
			f(out)[r*dim+j] = float32((float64(e)-mu)*rs*float64(f(w)[j]) + float64(f(b)[j]))
		}
	}
}
func (d *refDevice) LayerNormBackward(dx, dw, db, dout, x, w, mean, rstd gpu.Buffer, rows, dim int) {
	for r := range rows {
		xs, dy := f(x)[r*dim:(r+1)*dim], f(dout)[r*dim:(r+1)*dim]
		mu, rs := float64(f(mean)[r]), float64(f(rstd)[r])
		var m1, m2 float64
		for j := range dim {
			xh := (float64(xs[j]) - mu) * rs
			g := float64(dy[j]) * float64(f(w)[j])
			m1 += g
			m2 += g * xh
		}
		m1, m2 = m1/float64(dim), m2/float64(dim)
		for j := range dim {
			xh := (float64(xs[j]) - mu) * rs
			g := float64(dy[j]) * float64(f(w)[j])
			f(dx)[r*dim+j] = float32(rs * (g - m1 - xh*m2))
			f(dw)[j] += float32(float64(dy[j]) * xh)
			f(db)[j] += dy[j]
		}
	}
}

func (d *refDevice) rotate(x gpu.Buffer, B, T, heads, D, rot int, base float32, sign float64) {
	half := rot / 2
	for b := range B {
		for t := range T {
			for h := range heads {
				row := f(x)[((b*T+t)*heads+h)*D:]
				for i := range half {
					freq := math.Pow(float64(base), -2*float64(i)/float64(rot))
					c, s := math.Cos(float64(t)*freq), sign*math.Sin(float64(t)*freq)
					a0, a1 := float64(row[i]), float64(row[i+half])
					row[i], row[i+half] = float32(a0*c-a1*s), float32(a0*s+a1*c)
				}
			}
		}
	}
}
func (d *refDevice) Rotary(x gpu.Buffer, B, T, heads, D, rot int, base float32) {
	d.rotate(x, B, T, heads, D, rot, base, 1)
}
func (d *refDevice) RotaryBackward(dx gpu.Buffer, B, T, heads, D, rot int, base float32) {
	d.rotate(dx, B, T, heads, D, rot, base, -1)
}

// visible reports whether query t sees key s.
func visible(t, s, win int) bool { return s <= t && (win <= 0 || s > t-win) }

// probs computes the attention probabilities of query (b, h, t) into p (length T).
func (d *refDevice) probs(p []float64, q, k gpu.Buffer, sh gpu.AttnShape, b, h, t int) float64 {
	H, KVH, D, T := sh.H, sh.KVH, sh.D, sh.T
	kh := h / (H / KVH)
	qr := f(q)[((b*T+t)*H+h)*D:]
	mx := math.Inf(-1)
	for s := range T {
		p[s] = math.Inf(-1)
		if !visible(t, s, sh.Window) {
			continue
		}
		kr := f(k)[((b*T+s)*KVH+kh)*D:]
		var dot float64
		for i := range D {
			dot += float64(qr[i]) * float64(kr[i])
		}
		p[s] = dot * float64(sh.Scale)
		mx = max(mx, p[s])
	}
	var z float64
	for s := range T {
		if p[s] != math.Inf(-1) {
			p[s] = math.Exp(p[s] - mx)
			z += p[s]
		} else {
			p[s] = 0
		}
	}
	for s := range T {
		p[s] /= z
	}
	return mx + math.Log(z)
}

func (d *refDevice) Attention(out, lse, q, k, v gpu.Buffer, sh gpu.AttnShape) {
	H, KVH, D, T := sh.H, sh.KVH, sh.D, sh.T
	p := make([]float64, T)
	for b := range sh.B {
		for h := range H {
			kh := h / (H / KVH)
			for t := range T {
				f(lse)[(b*H+h)*T+t] = float32(d.probs(p, q, k, sh, b, h, t))
				for i := range D {
					var o float64
					for s := range T {
						o += p[s] * float64(f(v)[((b*T+s)*KVH+kh)*D+i])
					}
					f(out)[((b*T+t)*H+h)*D+i] = float32(o)
				}
			}
		}
	}
}

func (d *refDevice) AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, ws gpu.Buffer, sh gpu.AttnShape) {
	H, KVH, D, T := sh.H, sh.KVH, sh.D, sh.T
	d.Fill(dq, 0)
	d.Fill(dk, 0)
	d.Fill(dv, 0)
	p := make([]float64, T)
	for b := range sh.B {
		for h := range H {
			kh := h / (H / KVH)
			for t := range T {
				d.probs(p, q, k, sh, b, h, t)
				do := f(dout)[((b*T+t)*H+h)*D:]
				o := f(out)[((b*T+t)*H+h)*D:]
				var dio float64
				for i := range D {
					dio += float64(do[i]) * float64(o[i])
				}
				qr := f(q)[((b*T+t)*H+h)*D:]
				dqr := f(dq)[((b*T+t)*H+h)*D:]
				for s := range T {
					if p[s] == 0 {
						continue
					}
					vr := f(v)[((b*T+s)*KVH+kh)*D:]
					kr := f(k)[((b*T+s)*KVH+kh)*D:]
					var dp float64
					for i := range D {
						dp += float64(do[i]) * float64(vr[i])
					}
					ds := p[s] * (dp - dio) * float64(sh.Scale)
					dvr := f(dv)[((b*T+s)*KVH+kh)*D:]
					dkr := f(dk)[((b*T+s)*KVH+kh)*D:]
					for i := range D {
						dvr[i] += float32(p[s] * float64(do[i]))
						dqr[i] += float32(ds * float64(kr[i]))
						dkr[i] += float32(ds * float64(qr[i]))
					}
				}
			}
		}
	}
}

func (d *refDevice) AttentionWorkspace(gpu.AttnShape) int { return 1 }

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func (d *refDevice) SwiGLU(out, gate, up gpu.Buffer) {
	for i, g := range f(gate) {
		x := float64(g)
		f(out)[i] = float32(x * sigmoid(x) * float64(f(up)[i]))
	}
}
func (d *refDevice) SwiGLUBackward(dgate, dup, dout, gate, up gpu.Buffer) {
	for i, g := range f(gate) {
		x, u, dy := float64(g), float64(f(up)[i]), float64(f(dout)[i])
		s := sigmoid(x)
		f(dup)[i] = float32(dy * x * s)
		f(dgate)[i] = float32(dy * u * s * (1 + x*(1-s)))
	}
}

const geluK = 0.7978845608028654 // sqrt(2/π)

func (d *refDevice) GELU(out, x gpu.Buffer) {
	for i, v := range f(x) {
		z := float64(v)
		f(out)[i] = float32(0.5 * z * (1 + math.Tanh(geluK*(z+0.044715*z*z*z))))
	}
}
func (d *refDevice) GELUBackward(dx, dout, x gpu.Buffer) {
	for i, v := range f(x) {
		z := float64(v)
		t := math.Tanh(geluK * (z + 0.044715*z*z*z))
		g := 0.5*(1+t) + 0.5*z*(1-t*t)*geluK*(1+3*0.044715*z*z)
		f(dx)[i] = float32(float64(f(dout)[i]) * g)
	}
}
func (d *refDevice) SiLU(out, x gpu.Buffer) {
	for i, v := range f(x) {
		z := float64(v)
		f(out)[i] = float32(z * sigmoid(z))
	}
}
func (d *refDevice) SiLUBackward(dx, dout, x gpu.Buffer) {
	for i, v := range f(x) {
		z := float64(v)
		s := sigmoid(z)
		f(dx)[i] = float32(float64(f(dout)[i]) * s * (1 + z*(1-s)))
	}
}
func (d *refDevice) Softplus(out, x gpu.Buffer) {
	for i, v := range f(x) {
		z := float64(v)
		f(out)[i] = float32(max(z, 0) + math.Log1p(math.Exp(-math.Abs(z))))
	}
}
func (d *refDevice) SoftplusBackward(dx, dout, x gpu.Buffer) {
	for i, v := range f(x) {
		f(dx)[i] = float32(float64(f(dout)[i]) * sigmoid(float64(v)))
	}
}
func (d *refDevice) NegExp(out, x gpu.Buffer) {
	for i, v := range f(x) {
		f(out)[i] = float32(-math.Exp(float64(v)))
	}
}
func (d *refDevice) Mul(out, a, b gpu.Buffer) {
	for i := range f(out) {
		f(out)[i] = f(a)[i] * f(b)[i]
	}
}
func (d *refDevice) MulBackward(da, db, dout, a, b gpu.Buffer) {
	for i := range f(dout) {
		f(da)[i], f(db)[i] = f(dout)[i]*f(b)[i], f(dout)[i]*f(a)[i]
	}
}

func (d *refDevice) CausalConv1D(out, x, w, bias gpu.Buffer, B, T, C, K int) {
	for b := range B {
		for t := range T {
			for c := range C {
				s := float64(f(bias)[c])
				for j := range K {
					if u := t - K + 1 + j; u >= 0 {
						s += float64(f(w)[c*K+j]) * float64(f(x)[(b*T+u)*C+c])
					}
				}
				f(out)[(b*T+t)*C+c] = float32(s)
			}
		}
	}
}
func (d *refDevice) CausalConv1DBackward(dx, dw, dbias, dout, x, w gpu.Buffer, B, T, C, K int) {
	d.Fill(dx, 0)
	for b := range B {
		for t := range T {
			for c := range C {
				g := f(dout)[(b*T+t)*C+c]
				f(dbias)[c] += g
				for j := range K {
					if u := t - K + 1 + j; u >= 0 {
						f(dw)[c*K+j] += g * f(x)[(b*T+u)*C+c]
						f(dx)[(b*T+u)*C+c] += g * f(w)[c*K+j]
					}
				}
			}
		}
	}
}

func (d *refDevice) SelectiveScan(y, states, u, delta, A, Bm, Cm, D gpu.Buffer, s gpu.ScanShape) {
	C, N, T := s.C, s.N, s.T
	for b := range s.B {
		h := make([]float64, C*N)
		for t := range T {
			r := b*T + t
			for c := range C {
				dl, uv := float64(f(delta)[r*C+c]), float64(f(u)[r*C+c])
				acc := float64(f(D)[c]) * uv
				for n := range N {
					a := math.Exp(dl * float64(f(A)[c*N+n]))
					h[c*N+n] = a*h[c*N+n] + dl*float64(f(Bm)[r*N+n])*uv
					f(states)[(r*C+c)*N+n] = float32(h[c*N+n])
					acc += float64(f(Cm)[r*N+n]) * h[c*N+n]
				}
				f(y)[r*C+c] = float32(acc)
			}
		}
	}
}

func (d *refDevice) SelectiveScanBackward(du, ddelta, dA, dBm, dCm, dD, dy, states, u, delta, A, Bm, Cm, D gpu.Buffer, s gpu.ScanShape) {
	C, N, T := s.C, s.N, s.T
	d.Fill(du, 0)
	d.Fill(ddelta, 0)
	d.Fill(dBm, 0)
	d.Fill(dCm, 0)
	for b := range s.B {
		dh := make([]float64, C*N)
		for t := T - 1; t >= 0; t-- {
			r := b*T + t
			for c := range C {
				g, dl, uv := float64(f(dy)[r*C+c]), float64(f(delta)[r*C+c]), float64(f(u)[r*C+c])
				f(dD)[c] += float32(g * uv)
				duv := g * float64(f(D)[c])
				var ddl float64
				for n := range N {
					i := c*N + n
					ht := float64(f(states)[(r*C+c)*N+n])
					var hp float64
					if t > 0 {
						hp = float64(f(states)[((r-1)*C+c)*N+n])
					}
					f(dCm)[r*N+n] += float32(g * ht)
					dh[i] += g * float64(f(Cm)[r*N+n])
					an := float64(f(A)[i])
					a := math.Exp(dl * an)
					bn := float64(f(Bm)[r*N+n])
					ddl += dh[i] * (hp*a*an + bn*uv)
					f(dA)[i] += float32(dh[i] * hp * a * dl)
					f(dBm)[r*N+n] += float32(dh[i] * dl * uv)
					duv += dh[i] * dl * bn
					dh[i] *= a
				}
				f(du)[r*C+c] = float32(duv)
				f(ddelta)[r*C+c] = float32(ddl)
			}
		}
	}
}

func (d *refDevice) CrossEntropy(losses, dlogits, logits gpu.Buffer, targets gpu.Ints, rows, V int, scale float32) {
	for r := range rows {
		row := f(logits)[r*V : (r+1)*V]
		tg := targets.(refInts)[r]
		if tg < 0 {
			f(losses)[r] = 0
			for j := range V {
				f(dlogits)[r*V+j] = 0
			}
			continue
		}
		mx := math.Inf(-1)
		for _, v := range row {
			mx = max(mx, float64(v))
		}
		var z float64
		for _, v := range row {
			z += math.Exp(float64(v) - mx)
		}
		lse := mx + math.Log(z)
		f(losses)[r] = float32(lse - float64(row[tg]))
		for j, v := range row {
			g := math.Exp(float64(v) - lse)
			if j == int(tg) {
				g--
			}
			f(dlogits)[r*V+j] = float32(g * float64(scale))
		}
	}
}

func (d *refDevice) Argmax(out gpu.Ints, logits gpu.Buffer, rows, V int) {
	for r := range rows {
		best := 0
		for j := 1; j < V; j++ {
			if f(logits)[r*V+j] > f(logits)[r*V+best] {
				best = j
			}
		}
		out.(refInts)[r] = int32(best)
	}
}

func (d *refDevice) AdamWStep(params, grads, m, v, decay gpu.Buffer, h gpu.AdamW) {
	b1c := 1 - math.Pow(float64(h.Beta1), float64(h.Step))
	b2c := 1 - math.Pow(float64(h.Beta2), float64(h.Step))
	for i := range f(params) {
		p, g := float64(f(params)[i]), float64(f(grads)[i])
		if decay == nil || f(decay)[i] != 0 {
			p -= float64(h.LR) * float64(h.WeightDecay) * p
		}
		mi := float64(h.Beta1)*float64(f(m)[i]) + (1-float64(h.Beta1))*g
		vi := float64(h.Beta2)*float64(f(v)[i]) + (1-float64(h.Beta2))*g*g
		f(m)[i], f(v)[i] = float32(mi), float32(vi)
		p -= float64(h.LR) * (mi / b1c) / (math.Sqrt(vi/b2c) + float64(h.Eps))
		f(params)[i] = float32(p)
	}
}

var _ gpu.Device = (*refDevice)(nil)
