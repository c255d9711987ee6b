package cpu

import (
	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/gpu/cpu/gemm"
	"github.com/airanode/airanode/gpu/fmath"
)

// attnBlock is the number of query rows processed together: scores for a block of rows against all
// the keys it can see are one matrix multiply.
const attnBlock = 64

// attnGeom holds the shape of one attention call, checked once.
type attnGeom struct {
	s        gpu.AttnShape
	hd, kd   int // row strides of q/out and k/v
	nb       int // row blocks per sequence
	rep      int // query heads per key/value head
	eng      *gemm.Engine
	vec      *vecImpl
	pool     *scratchPool
	q, k, v  []float32
	out, lse []float32
	kT, vT   []float32 // K and V transposed per (sequence, kv head): [B, KVH, D, T]
}

// transposeTask writes kT (and vT when set) for items [lo,hi), item = b·KVH + kh: gemm multiplies by
// a transposed operand fastest when that operand is stored transposed already. Copies are exact.
type transposeTask struct{ *attnGeom }

func (t transposeTask) Run(lo, hi int) {
	g := t.attnGeom
	s := g.s
	const jb = 16 // rows per block: their head slices stay in L1 while the block's columns are written
	for it := lo; it < hi; it++ {
		b, kh := it/s.KVH, it%s.KVH
		for _, pair := range [2][2][]float32{{g.k, g.kT}, {g.v, g.vT}} {
			src, dst := pair[0], pair[1]
			if dst == nil {
				continue
			}
			dst = dst[it*s.D*s.T : (it+1)*s.D*s.T]
			base := b*s.T*g.kd + kh*s.D
			for j0 := 0; j0 < s.T; j0 += jb {
				j1 := min(s.T, j0+jb)
				for i := range s.D {
					col := dst[i*s.T+j0 : i*s.T+j1]
					for jj := range col {
						col[jj] = src[base+(j0+jj)*g.kd+i]
					}
				}
			}
		}
	}
}

// tAt returns the transposed keys (or values) of item (b, kh) from column klo on: a [D, ·] matrix
// with row stride T.
func (g *attnGeom) tAt(m []float32, b, kh, klo int) []float32 {
	return m[(b*g.s.KVH+kh)*g.s.D*g.s.T+klo:]
}

// keyLo returns the first key (inclusive) visible to query row t.
func (g *attnGeom) keyLo(t int) int {
	if w := g.s.Window; w > 0 && t-w+1 > 0 {
		return t - w + 1
	}
	return 0
}

// block returns the row range of row block blk and the first key any of its rows sees.
func (g *attnGeom) block(blk int) (i0, i1, klo int) {
	i0 = blk * attnBlock
	i1 = min(g.s.T, i0+attnBlock)
	return i0, i1, g.keyLo(i0)
}

type attnTask struct{ attnGeom }

// Run computes the output rows of items [lo,hi); item = (b·H + h)·nb + blk. Each item writes only its
// own rows of out and lse.
func (t *attnTask) Run(lo, hi int) {
	g := &t.attnGeom
	s := g.s
	ws := g.pool.get()
	defer g.pool.put(ws)
	for it := lo; it < hi; it++ {
		blk := it % g.nb
		h := (it / g.nb) % s.H
		b := it / (g.nb * s.H)
		kh := h / g.rep
		i0, i1, klo := g.block(blk)
		nr, nk := i1-i0, i1-klo
		ws.s = grow32(ws.s, nr*nk)
		sc := ws.s
		// S = Q·Kᵀ for the block: one FMA chain over the head dimension per score.
		g.eng.Sgemm(false, false, nr, nk, s.D,
			g.q[(b*s.T+i0)*g.hd+h*s.D:], g.hd,
			g.tAt(g.kT, b, kh, klo), s.T, sc, nk, false)
		lse := g.lse[(b*s.H+h)*s.T:]
		for r := range nr {
			tq := i0 + r
			row := sc[r*nk : (r+1)*nk]
			j0, j1 := g.keyLo(tq)-klo, tq-klo+1 // visible keys [j0, j1)
			lse[tq] = softmaxRow(g.vec, row, j0, j1, s.Scale)
		}
		// O = P·V: one FMA chain over the visible keys in increasing order per output element.
		g.eng.Sgemm(false, false, nr, s.D, nk, sc, nk,
			g.v[(b*s.T+klo)*g.kd+kh*s.D:], g.kd,
			g.out[(b*s.T+i0)*g.hd+h*s.D:], g.hd, false)
	}
}

// softmaxRow replaces row[j0:j1] by softmax(scale·row) and zeroes the rest; it returns the
// log-sum-exp of the scaled scores. The maximum is exact (order-free); the sum of the exponentials is
// the eight-lane float64 sum of vecImpl.expSum.
func softmaxRow(v *vecImpl, row []float32, j0, j1 int, scale float32) float32 {
	clear(row[:j0])
	clear(row[j1:])
	x := row[j0:j1]
	m := v.scaleMax(x, scale)
	sums := v.expSum(x, x, m)
	l := float32(lanes8(&sums))
	v.scale(x, 1/l)
	return m + fmath.Log(l)
}

func (d *Device) attnCheck(name string, s gpu.AttnShape) bool {
	ok := s.B >= 0 && s.T >= 0 && s.H > 0 && s.KVH > 0 && s.D > 0 && s.Window >= 0 && s.H%s.KVH == 0
	return d.shape(ok, name)
}

func (d *Device) geom(s gpu.AttnShape, q, k, v, out, lse []float32) attnGeom {
	return attnGeom{s: s, hd: s.H * s.D, kd: s.KVH * s.D, nb: (s.T + attnBlock - 1) / attnBlock,
		rep: s.H / s.KVH, eng: d.eng, vec: d.vec, pool: &d.scr, q: q, k: k, v: v, out: out, lse: lse}
}

// Attention computes causal softmax(scale·QKᵀ)·V per head (grouped-query: head h reads key/value
// head h/(H/KVH); optional sliding window) and saves each row's log-sum-exp in lse [B*H*T].
// Threads split (sequence, head, block of 64 query rows); see softmaxRow for the reductions.
func (d *Device) Attention(out, lse, q, k, v gpu.Buffer, s gpu.AttnShape) {
	o, ok1 := d.f(out)
	ls, ok2 := d.f(lse)
	qs, ok3 := d.f(q)
	ks, ok4 := d.f(k)
	vs, ok5 := d.f(v)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !d.attnCheck("Attention", s) {
		return
	}
	nq, nkv := s.B*s.T*s.H*s.D, s.B*s.T*s.KVH*s.D
	if !d.shape(len(o) >= nq && len(qs) >= nq && len(ks) >= nkv && len(vs) >= nkv && len(ls) >= s.B*s.H*s.T, "Attention") {
		return
	}
	t := &d.k.attn
	t.attnGeom = d.geom(s, qs, ks, vs, o, ls)
	d.scr.kT = grow32(d.scr.kT, nkv)
	t.kT = d.scr.kT
	d.parallel(s.B*s.KVH, s.T*s.D, transposeTask{&t.attnGeom})
	d.parallel(s.B*s.H*t.nb, defaultGrain, t)
	t.attnGeom = attnGeom{}
}

// AttentionWorkspace is the size of AttentionBackward's workspace: one float per (sequence, head,
// row), for Δ = Σ_i dout·out.
func (d *Device) AttentionWorkspace(s gpu.AttnShape) int { return s.B * s.H * s.T }

type attnBackTask struct {
	attnGeom
	dq, dk, dv, dout, delta []float32
}

// Run computes the gradients of items [lo,hi); item = b·KVH + kh (a sequence and a key/value head).
// The item owns dk and dv of its key/value head and dq of the query heads that read it, so no two
// items write the same element. dK and dV accumulate over query heads h in increasing order, then
// row blocks in increasing order, then rows in increasing order (the FMA chains of the products).
func (t *attnBackTask) Run(lo, hi int) {
	g := &t.attnGeom
	s := g.s
	ws := g.pool.get()
	defer g.pool.put(ws)
	for it := lo; it < hi; it++ {
		b, kh := it/s.KVH, it%s.KVH
		for j := range s.T {
			o := (b*s.T+j)*g.kd + kh*s.D
			clear(t.dk[o : o+s.D])
			clear(t.dv[o : o+s.D])
		}
		for h := kh * g.rep; h < (kh+1)*g.rep; h++ {
			// Δ_t = Σ_i dout[t,i]·out[t,i] (float64, increasing i)
			delta := t.delta[(b*s.H+h)*s.T : (b*s.H+h+1)*s.T]
			for tq := range s.T {
				o := (b*s.T+tq)*g.hd + h*s.D
				dy, y := t.dout[o:o+s.D], g.out[o:o+s.D]
				y = y[:len(dy)]
				var sum float64
				for i := range dy {
					sum += float64(float64(dy[i]) * float64(y[i]))
				}
				delta[tq] = float32(sum)
			}
			lse := g.lse[(b*s.H+h)*s.T:]
			for blk := range g.nb {
				i0, i1, klo := g.block(blk)
				nr, nk := i1-i0, i1-klo
				ws.s = grow32(ws.s, nr*nk)
				ws.dp = grow32(ws.dp, nr*nk)
				p, dp := ws.s, ws.dp
				qo := (b*s.T+i0)*g.hd + h*s.D
				ko := (b*s.T+klo)*g.kd + kh*s.D
				g.eng.Sgemm(false, false, nr, nk, s.D, g.q[qo:], g.hd, g.tAt(g.kT, b, kh, klo), s.T, p, nk, false)
				g.eng.Sgemm(false, false, nr, nk, s.D, t.dout[qo:], g.hd, g.tAt(g.vT, b, kh, klo), s.T, dp, nk, false)
				for r := range nr {
					tq := i0 + r
					j0, j1 := g.keyLo(tq)-klo, tq-klo+1
					prow, dprow := p[r*nk:(r+1)*nk], dp[r*nk:(r+1)*nk]
					clear(prow[:j0])
					clear(prow[j1:])
					clear(dprow[:j0])
					clear(dprow[j1:])
					// P = exp(scale·s − lse); dS = scale·P·(dP − Δ)
					g.vec.attnGrad(prow[j0:j1], dprow[j0:j1], s.Scale, lse[tq], delta[tq])
				}
				// dV += Pᵀ·dO, dK += dSᵀ·Q, dQ = dS·K
				g.eng.Sgemm(true, false, nk, s.D, nr, p, nk, t.dout[qo:], g.hd, t.dv[ko:], g.kd, true)
				g.eng.Sgemm(true, false, nk, s.D, nr, dp, nk, g.q[qo:], g.hd, t.dk[ko:], g.kd, true)
				g.eng.Sgemm(false, false, nr, s.D, nk, dp, nk, g.k[ko:], g.kd, t.dq[qo:], g.hd, false)
			}
		}
	}
}

// AttentionBackward overwrites dq, dk and dv, recomputing the probabilities from q, k and lse. ws holds
// Δ (AttentionWorkspace floats). Threads split (sequence, key/value head).
func (d *Device) AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, ws gpu.Buffer, s gpu.AttnShape) {
	dqs, ok1 := d.f(dq)
	dks, ok2 := d.f(dk)
	dvs, ok3 := d.f(dv)
	dys, ok4 := d.f(dout)
	ys, ok5 := d.f(out)
	ls, ok6 := d.f(lse)
	qs, ok7 := d.f(q)
	ks, ok8 := d.f(k)
	vs, ok9 := d.f(v)
	wss, ok10 := d.f(ws)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !ok7 || !ok8 || !ok9 || !ok10 ||
		!d.attnCheck("AttentionBackward", s) {
		return
	}
	nq, nkv := s.B*s.T*s.H*s.D, s.B*s.T*s.KVH*s.D
	if !d.shape(len(dqs) >= nq && len(dys) >= nq && len(ys) >= nq && len(qs) >= nq &&
		len(dks) >= nkv && len(dvs) >= nkv && len(ks) >= nkv && len(vs) >= nkv &&
		len(ls) >= s.B*s.H*s.T && len(wss) >= d.AttentionWorkspace(s), "AttentionBackward") {
		return
	}
	t := &d.k.attnBack
	*t = attnBackTask{attnGeom: d.geom(s, qs, ks, vs, ys, ls), dq: dqs, dk: dks, dv: dvs, dout: dys, delta: wss}
	d.scr.kT = grow32(d.scr.kT, nkv)
	d.scr.vT = grow32(d.scr.vT, nkv)
	t.kT, t.vT = d.scr.kT, d.scr.vT
	d.parallel(s.B*s.KVH, 2*s.T*s.D, transposeTask{&t.attnGeom})
	d.parallel(s.B*s.KVH, defaultGrain, t)
	*t = attnBackTask{}
}
