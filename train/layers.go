package train

import (
	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/gpu/fmath"
)

// This file holds the layers. Each one owns views of its parameters and gradients, the activations
// its backward pass needs (allocated once, per layer) and views of a scratch arena shared by all
// layers for the temporaries of the backward pass (layers run one at a time). Every layer has an
// explicit forward and backward, written as the sequence of kernel calls they are.
//
// Conventions (those of package gpu): activations are [rows, width] with rows = B·T; backward passes
// overwrite activation gradients and accumulate parameter gradients.

// normEps is the epsilon of RMSNorm and LayerNorm.
const normEps = 1e-5

// param is a parameter tensor's value and gradient views.
type param struct {
	w, g gpu.Buffer
}

// rowBlock returns the view of rows [r0, r0+n) of a [_, cols] parameter.
func (p param) rowBlock(r0, n, cols int) param {
	return param{w: p.w.Slice(r0*cols, n*cols), g: p.g.Slice(r0*cols, n*cols)}
}

// builder allocates activations and records the first allocation error.
type builder struct {
	dev gpu.Device
	err error
}

func (b *builder) alloc(n int) gpu.Buffer {
	if b.err != nil {
		return nil
	}
	buf, err := b.dev.Alloc(n)
	if err != nil {
		b.err = err
		return nil
	}
	return buf
}

// carver hands out consecutive views of the shared scratch arena.
type carver struct {
	buf gpu.Buffer
	off int
}

func (c *carver) take(n int) gpu.Buffer {
	v := c.buf.Slice(c.off, n)
	c.off += n
	return v
}

// ---- linear maps ----
//
// A linear map y = x·Wᵀ with W stored [out, in] (PyTorch's layout), x [rows, in], y [rows, out].

// linear computes y = x·Wᵀ.
func linear(dev gpu.Device, y, x, w gpu.Buffer, rows, in, out int) {
	dev.MatMul(y, x, w, rows, out, in, false, true, false)
}

// linearBackInput computes dx = dy·W (or dx += dy·W when acc).
func linearBackInput(dev gpu.Device, dx, dy, w gpu.Buffer, rows, in, out int, acc bool) {
	dev.MatMul(dx, dy, w, rows, in, out, false, false, acc)
}

// linearBackWeight accumulates dW += dyᵀ·x. On a device that overlaps (gpu.Overlapper) it runs
// beside the main sequence: Model.backward joins in every layer before dy or x can be overwritten,
// so before anything else touches dW (the embedding gradient, which a tied head shares, AdamW and
// the clipping norm all come after the last layer's join; spec.go refuses a model without layers).
func linearBackWeight(dev gpu.Device, dw, dy, x gpu.Buffer, rows, in, out int) {
	o, ok := dev.(gpu.Overlapper)
	if ok {
		o.Side(true)
	}
	dev.MatMul(dw, dy, x, out, in, rows, true, false, true)
	if ok {
		o.Side(false)
	}
}

// ---- embedding ----

// embedding maps token ids to vectors and adds learned positions when the model has them:
// x[b·T+t] = tok[ids[b·T+t]] (+ pos[t]).
type embedding struct {
	dev     gpu.Device
	B, T, d int
	tok     param
	pos     param // nil buffers without learned positions; else the first T rows of the table
	hasPos  bool
}

func (e *embedding) forward(x gpu.Buffer, ids gpu.Ints) {
	e.dev.Embed(x, e.tok.w, ids, e.d)
	if e.hasPos {
		e.dev.AddPositions(x, e.pos.w, e.B, e.T, e.d)
	}
}

func (e *embedding) backward(dx gpu.Buffer, ids gpu.Ints) {
	e.dev.EmbedBackward(e.tok.g, dx, ids, e.d)
	if e.hasPos {
		e.dev.AddPositionsBackward(e.pos.g, dx, e.B, e.T, e.d)
	}
}

// ---- normalisation ----

// norm is RMSNorm (y = x / sqrt(mean(x²)+eps) · w) or LayerNorm (y = (x-mean)/sqrt(var+eps) · w + b).
type norm struct {
	dev        gpu.Device
	rows, d    int
	layer      bool
	w, b       param
	mean, rstd gpu.Buffer // saved per row for the backward
}

func newNorm(bd *builder, rows, d int, layer bool, w, b param) norm {
	n := norm{dev: bd.dev, rows: rows, d: d, layer: layer, w: w, b: b, rstd: bd.alloc(rows)}
	if layer {
		n.mean = bd.alloc(rows)
	}
	return n
}

func (n *norm) forward(out, x gpu.Buffer) {
	if n.layer {
		n.dev.LayerNorm(out, n.mean, n.rstd, x, n.w.w, n.b.w, n.rows, n.d, normEps)
		return
	}
	n.dev.RMSNorm(out, n.rstd, x, n.w.w, n.rows, n.d, normEps)
}

// backward overwrites dx with the gradient with respect to the norm's input x.
func (n *norm) backward(dx, dout, x gpu.Buffer) {
	if n.layer {
		n.dev.LayerNormBackward(dx, n.w.g, n.b.g, dout, x, n.w.w, n.mean, n.rstd, n.rows, n.d)
		return
	}
	n.dev.RMSNormBackward(dx, n.w.g, dout, x, n.w.w, n.rstd, n.rows, n.d)
}

// ---- primitives ----

// primitive is a layer's mixing function y = prim(h), h and y [rows, width].
type primitive interface {
	// forward computes y from h, saving what backward needs.
	forward(h, y gpu.Buffer)
	// backward overwrites dh with the gradient with respect to h, given dy, and accumulates the
	// primitive's parameter gradients. It reads but does not modify dy.
	backward(dy, h, dh gpu.Buffer)
	// scratch is the number of floats of shared scratch backward needs; bind hands them out.
	scratch() int
	bind(c *carver)
}

// attention is causal multi-head attention with grouped-query key/value heads, rotary embeddings on
// the first rot dimensions of every head and an optional sliding window:
//
//	q, k, v = h·Wqᵀ, h·Wkᵀ, h·Wvᵀ   (Wq, Wk, Wv: the row blocks of wqkv)
//	q, k = rotary(q), rotary(k)
//	o = softmax(q·kᵀ/sqrt(hd) + causal/window mask)·v
//	y = o·woᵀ
type attention struct {
	dev         gpu.Device
	s           gpu.AttnShape
	rows, d     int
	qDim, kvDim int
	rot         int
	rbase       float32
	wq, wk, wv  param
	wo          param
	q, k, v, o  gpu.Buffer // saved (q and k after rotation)
	lse         gpu.Buffer
	dq, dk, dv  gpu.Buffer // scratch
	do, ws      gpu.Buffer
	wsLen       int
}

func newAttention(bd *builder, B, T, d int, l layerSpec, wqkv, wo param) *attention {
	a := &attention{
		dev:   bd.dev,
		s:     gpu.AttnShape{B: B, T: T, H: l.heads, KVH: l.kv, D: l.hd, Window: l.win, Scale: 1 / fmath.Sqrt(float32(l.hd))},
		rows:  B * T,
		d:     d,
		qDim:  l.heads * l.hd,
		kvDim: l.kv * l.hd,
		rot:   l.rot,
		rbase: l.rbase,
		wo:    wo,
	}
	a.wq = wqkv.rowBlock(0, a.qDim, d)
	a.wk = wqkv.rowBlock(a.qDim, a.kvDim, d)
	a.wv = wqkv.rowBlock(a.qDim+a.kvDim, a.kvDim, d)
	a.q, a.o = bd.alloc(a.rows*a.qDim), bd.alloc(a.rows*a.qDim)
	a.k, a.v = bd.alloc(a.rows*a.kvDim), bd.alloc(a.rows*a.kvDim)
	a.lse = bd.alloc(B * l.heads * T)
	a.wsLen = bd.dev.AttentionWorkspace(a.s)
	return a
}

func (a *attention) scratch() int { return 2*a.rows*a.qDim + 2*a.rows*a.kvDim + a.wsLen }

func (a *attention) bind(c *carver) {
	a.dq, a.do = c.take(a.rows*a.qDim), c.take(a.rows*a.qDim)
	a.dk, a.dv = c.take(a.rows*a.kvDim), c.take(a.rows*a.kvDim)
	a.ws = c.take(a.wsLen)
}

func (a *attention) forward(h, y gpu.Buffer) {
	dev, s := a.dev, a.s
	linear(dev, a.q, h, a.wq.w, a.rows, a.d, a.qDim)
	linear(dev, a.k, h, a.wk.w, a.rows, a.d, a.kvDim)
	linear(dev, a.v, h, a.wv.w, a.rows, a.d, a.kvDim)
	if a.rot > 0 {
		dev.Rotary(a.q, s.B, s.T, s.H, s.D, a.rot, a.rbase)
		dev.Rotary(a.k, s.B, s.T, s.KVH, s.D, a.rot, a.rbase)
	}
	dev.Attention(a.o, a.lse, a.q, a.k, a.v, s)
	linear(dev, y, a.o, a.wo.w, a.rows, a.qDim, a.d)
}

func (a *attention) backward(dy, h, dh gpu.Buffer) {
	dev, s := a.dev, a.s
	// y = o·woᵀ
	linearBackInput(dev, a.do, dy, a.wo.w, a.rows, a.qDim, a.d, false)
	linearBackWeight(dev, a.wo.g, dy, a.o, a.rows, a.qDim, a.d)
	// o = attention(q, k, v)
	dev.AttentionBackward(a.dq, a.dk, a.dv, a.do, a.o, a.lse, a.q, a.k, a.v, a.ws, s)
	// rotary
	if a.rot > 0 {
		dev.RotaryBackward(a.dq, s.B, s.T, s.H, s.D, a.rot, a.rbase)
		dev.RotaryBackward(a.dk, s.B, s.T, s.KVH, s.D, a.rot, a.rbase)
	}
	// q, k, v = h·Wqᵀ, h·Wkᵀ, h·Wvᵀ
	linearBackWeight(dev, a.wq.g, a.dq, h, a.rows, a.d, a.qDim)
	linearBackWeight(dev, a.wk.g, a.dk, h, a.rows, a.d, a.kvDim)
	linearBackWeight(dev, a.wv.g, a.dv, h, a.rows, a.d, a.kvDim)
	linearBackInput(dev, dh, a.dq, a.wq.w, a.rows, a.d, a.qDim, false)
	linearBackInput(dev, dh, a.dk, a.wk.w, a.rows, a.d, a.kvDim, true)
	linearBackInput(dev, dh, a.dv, a.wv.w, a.rows, a.d, a.kvDim, true)
}

// swiglu is the gated MLP y = (silu(h·w1ᵀ) ⊙ (h·w3ᵀ))·w2ᵀ.
type swiglu struct {
	dev          gpu.Device
	rows, d, hid int
	w1, w3, w2   param
	g, u, a      gpu.Buffer // saved: gate, up, silu(gate)·up
	da, dg, du   gpu.Buffer // scratch
}

func newSwiGLU(bd *builder, rows, d, hid int, w1, w3, w2 param) *swiglu {
	return &swiglu{dev: bd.dev, rows: rows, d: d, hid: hid, w1: w1, w3: w3, w2: w2,
		g: bd.alloc(rows * hid), u: bd.alloc(rows * hid), a: bd.alloc(rows * hid)}
}

func (m *swiglu) scratch() int { return 3 * m.rows * m.hid }

func (m *swiglu) bind(c *carver) {
	n := m.rows * m.hid
	m.da, m.dg, m.du = c.take(n), c.take(n), c.take(n)
}

func (m *swiglu) forward(h, y gpu.Buffer) {
	linear(m.dev, m.g, h, m.w1.w, m.rows, m.d, m.hid)
	linear(m.dev, m.u, h, m.w3.w, m.rows, m.d, m.hid)
	m.dev.SwiGLU(m.a, m.g, m.u)
	linear(m.dev, y, m.a, m.w2.w, m.rows, m.hid, m.d)
}

func (m *swiglu) backward(dy, h, dh gpu.Buffer) {
	dev := m.dev
	linearBackInput(dev, m.da, dy, m.w2.w, m.rows, m.hid, m.d, false)
	linearBackWeight(dev, m.w2.g, dy, m.a, m.rows, m.hid, m.d)
	dev.SwiGLUBackward(m.dg, m.du, m.da, m.g, m.u)
	linearBackWeight(dev, m.w1.g, m.dg, h, m.rows, m.d, m.hid)
	linearBackWeight(dev, m.w3.g, m.du, h, m.rows, m.d, m.hid)
	linearBackInput(dev, dh, m.dg, m.w1.w, m.rows, m.d, m.hid, false)
	linearBackInput(dev, dh, m.du, m.w3.w, m.rows, m.d, m.hid, true)
}

// gelu is the MLP y = gelu_tanh(h·w1ᵀ)·w2ᵀ.
type gelu struct {
	dev          gpu.Device
	rows, d, hid int
	w1, w2       param
	pre, a       gpu.Buffer // saved: h·w1ᵀ and its gelu
	da, dpre     gpu.Buffer // scratch
}

func newGELU(bd *builder, rows, d, hid int, w1, w2 param) *gelu {
	return &gelu{dev: bd.dev, rows: rows, d: d, hid: hid, w1: w1, w2: w2,
		pre: bd.alloc(rows * hid), a: bd.alloc(rows * hid)}
}

func (m *gelu) scratch() int { return 2 * m.rows * m.hid }

func (m *gelu) bind(c *carver) {
	m.da, m.dpre = c.take(m.rows*m.hid), c.take(m.rows*m.hid)
}

func (m *gelu) forward(h, y gpu.Buffer) {
	linear(m.dev, m.pre, h, m.w1.w, m.rows, m.d, m.hid)
	m.dev.GELU(m.a, m.pre)
	linear(m.dev, y, m.a, m.w2.w, m.rows, m.hid, m.d)
}

func (m *gelu) backward(dy, h, dh gpu.Buffer) {
	dev := m.dev
	linearBackInput(dev, m.da, dy, m.w2.w, m.rows, m.hid, m.d, false)
	linearBackWeight(dev, m.w2.g, dy, m.a, m.rows, m.hid, m.d)
	dev.GELUBackward(m.dpre, m.da, m.pre)
	linearBackWeight(dev, m.w1.g, m.dpre, h, m.rows, m.d, m.hid)
	linearBackInput(dev, dh, m.dpre, m.w1.w, m.rows, m.d, m.hid, false)
}

// mamba is the selective state-space block (Mamba, S6) with di = expand·d channels, state size N,
// conv width K and delta rank R:
//
//	xs, z = h·in_xᵀ, h·in_zᵀ            (in_x, in_z: the two row blocks of in_proj)
//	xc    = silu(conv(xs) + conv_b)      (causal depthwise conv over time)
//	dtin, Bm, Cm = xc·x_dtᵀ, xc·x_Bᵀ, xc·x_Cᵀ   (the row blocks of x_proj)
//	delta = softplus(dtin·dt_wᵀ + dt_b)
//	A     = -exp(A_log)
//	y     = scan(xc, delta, A, Bm, Cm, D)
//	out   = (y ⊙ silu(z))·out_projᵀ
//
// A = -exp(A_log) is the device's NegExp (gpu/fmath's Exp on every device, so the same bits
// everywhere), computed at every forward pass on the device: no copy to the host and back, which on
// a GPU would wait for the queue at every Mamba layer.
type mamba struct {
	dev                 gpu.Device
	B, T, rows, d       int
	di, N, K, R         int
	inX, inZ            param
	convW, convB        param
	xDT, xB, xC         param
	dtW, dtB            param
	aLog, dD            param
	outProj             param
	xs, z, xcPre, xc    gpu.Buffer // saved activations
	dtin, bm, cm        gpu.Buffer
	dtPre, delta        gpu.Buffer
	a                   gpu.Buffer // -exp(A_log), [di, N]
	states              gpu.Buffer // every h_t, [rows·di·N]
	y, gz, yg           gpu.Buffer
	dyg, dy, dgz, dz    gpu.Buffer // scratch
	dxc, dDelta, dDTPre gpu.Buffer
	dxcPre, dxs         gpu.Buffer
	dDTin, dBm, dCm     gpu.Buffer
	dA, dALog           gpu.Buffer
}

func newMamba(bd *builder, B, T, d int, l layerSpec, inProj, convW, convB, xProj, dtW, dtB, aLog, dD, outProj param) *mamba {
	m := &mamba{dev: bd.dev, B: B, T: T, rows: B * T, d: d, di: l.di, N: l.state, K: l.conv, R: l.dtrank,
		convW: convW, convB: convB, dtW: dtW, dtB: dtB, aLog: aLog, dD: dD, outProj: outProj}
	m.inX = inProj.rowBlock(0, m.di, d)
	m.inZ = inProj.rowBlock(m.di, m.di, d)
	m.xDT = xProj.rowBlock(0, m.R, m.di)
	m.xB = xProj.rowBlock(m.R, m.N, m.di)
	m.xC = xProj.rowBlock(m.R+m.N, m.N, m.di)
	n := m.rows * m.di
	m.xs, m.z, m.xcPre, m.xc = bd.alloc(n), bd.alloc(n), bd.alloc(n), bd.alloc(n)
	m.dtin, m.bm, m.cm = bd.alloc(m.rows*m.R), bd.alloc(m.rows*m.N), bd.alloc(m.rows*m.N)
	m.dtPre, m.delta = bd.alloc(n), bd.alloc(n)
	m.a = bd.alloc(m.di * m.N)
	m.states = bd.alloc(n * m.N)
	m.y, m.gz, m.yg = bd.alloc(n), bd.alloc(n), bd.alloc(n)
	return m
}

func (m *mamba) scratch() int {
	n := m.rows * m.di
	return 9*n + m.rows*m.R + 2*m.rows*m.N + 2*m.di*m.N
}

func (m *mamba) bind(c *carver) {
	n := m.rows * m.di
	m.dyg, m.dy, m.dgz, m.dz = c.take(n), c.take(n), c.take(n), c.take(n)
	m.dxc, m.dDelta, m.dDTPre = c.take(n), c.take(n), c.take(n)
	m.dxcPre, m.dxs = c.take(n), c.take(n)
	m.dDTin, m.dBm, m.dCm = c.take(m.rows*m.R), c.take(m.rows*m.N), c.take(m.rows*m.N)
	m.dA, m.dALog = c.take(m.di*m.N), c.take(m.di*m.N)
}

func (m *mamba) scanShape() gpu.ScanShape { return gpu.ScanShape{B: m.B, T: m.T, C: m.di, N: m.N} }

func (m *mamba) forward(h, out gpu.Buffer) {
	dev := m.dev
	linear(dev, m.xs, h, m.inX.w, m.rows, m.d, m.di)
	linear(dev, m.z, h, m.inZ.w, m.rows, m.d, m.di)
	dev.CausalConv1D(m.xcPre, m.xs, m.convW.w, m.convB.w, m.B, m.T, m.di, m.K)
	dev.SiLU(m.xc, m.xcPre)
	linear(dev, m.dtin, m.xc, m.xDT.w, m.rows, m.di, m.R)
	linear(dev, m.bm, m.xc, m.xB.w, m.rows, m.di, m.N)
	linear(dev, m.cm, m.xc, m.xC.w, m.rows, m.di, m.N)
	linear(dev, m.dtPre, m.dtin, m.dtW.w, m.rows, m.R, m.di)
	// Broadcast the bias over rows: AddPositions with T=1 adds dt_b to every row.
	dev.AddPositions(m.dtPre, m.dtB.w, m.rows, 1, m.di)
	dev.Softplus(m.delta, m.dtPre)
	m.dev.NegExp(m.a, m.aLog.w) // A = -exp(A_log)
	dev.SelectiveScan(m.y, m.states, m.xc, m.delta, m.a, m.bm, m.cm, m.dD.w, m.scanShape())
	dev.SiLU(m.gz, m.z)
	dev.Mul(m.yg, m.y, m.gz)
	linear(dev, out, m.yg, m.outProj.w, m.rows, m.di, m.d)
}

func (m *mamba) backward(dout, h, dh gpu.Buffer) {
	dev := m.dev
	// out = yg·out_projᵀ
	linearBackInput(dev, m.dyg, dout, m.outProj.w, m.rows, m.di, m.d, false)
	linearBackWeight(dev, m.outProj.g, dout, m.yg, m.rows, m.di, m.d)
	// yg = y ⊙ silu(z)
	dev.MulBackward(m.dy, m.dgz, m.dyg, m.y, m.gz)
	dev.SiLUBackward(m.dz, m.dgz, m.z)
	// y = scan(xc, delta, A, Bm, Cm, D); dA is zeroed because the kernel accumulates into it.
	dev.Fill(m.dA, 0)
	dev.SelectiveScanBackward(m.dxc, m.dDelta, m.dA, m.dBm, m.dCm, m.dD.g, m.dy, m.states,
		m.xc, m.delta, m.a, m.bm, m.cm, m.dD.w, m.scanShape())
	// A = -exp(A_log): dA_log = dA ⊙ A
	dev.Mul(m.dALog, m.dA, m.a)
	dev.AddInPlace(m.aLog.g, m.dALog)
	// delta = softplus(dtin·dt_wᵀ + dt_b)
	dev.SoftplusBackward(m.dDTPre, m.dDelta, m.dtPre)
	dev.AddPositionsBackward(m.dtB.g, m.dDTPre, m.rows, 1, m.di)
	linearBackInput(dev, m.dDTin, m.dDTPre, m.dtW.w, m.rows, m.R, m.di, false)
	linearBackWeight(dev, m.dtW.g, m.dDTPre, m.dtin, m.rows, m.R, m.di)
	// dtin, Bm, Cm = xc·x_projᵀ (three row blocks); dxc already holds the scan's gradient.
	linearBackWeight(dev, m.xDT.g, m.dDTin, m.xc, m.rows, m.di, m.R)
	linearBackWeight(dev, m.xB.g, m.dBm, m.xc, m.rows, m.di, m.N)
	linearBackWeight(dev, m.xC.g, m.dCm, m.xc, m.rows, m.di, m.N)
	linearBackInput(dev, m.dxc, m.dDTin, m.xDT.w, m.rows, m.di, m.R, true)
	linearBackInput(dev, m.dxc, m.dBm, m.xB.w, m.rows, m.di, m.N, true)
	linearBackInput(dev, m.dxc, m.dCm, m.xC.w, m.rows, m.di, m.N, true)
	// xc = silu(conv(xs))
	dev.SiLUBackward(m.dxcPre, m.dxc, m.xcPre)
	dev.CausalConv1DBackward(m.dxs, m.convW.g, m.convB.g, m.dxcPre, m.xs, m.convW.w, m.B, m.T, m.di, m.K)
	// xs, z = h·in_xᵀ, h·in_zᵀ
	linearBackWeight(dev, m.inX.g, m.dxs, h, m.rows, m.d, m.di)
	linearBackWeight(dev, m.inZ.g, m.dz, h, m.rows, m.d, m.di)
	linearBackInput(dev, dh, m.dxs, m.inX.w, m.rows, m.d, m.di, false)
	linearBackInput(dev, dh, m.dz, m.inZ.w, m.rows, m.d, m.di, true)
}

// ---- output head and loss ----

// head computes logits = hf·headᵀ (head is the token embedding when tied) and the mean cross-entropy
// over the positions whose target is >= 0.
type head struct {
	dev             gpu.Device
	rows, d, V      int
	w               param
	logits, dlogits gpu.Buffer
	losses          gpu.Buffer
}

func (o *head) forward(hf gpu.Buffer) {
	linear(o.dev, o.logits, hf, o.w.w, o.rows, o.d, o.V)
}

// loss computes per-row losses and dlogits = (softmax - onehot)·scale.
func (o *head) loss(targets gpu.Ints, scale float32) {
	o.dev.CrossEntropy(o.losses, o.dlogits, o.logits, targets, o.rows, o.V, scale)
}

// backward overwrites dhf and accumulates the head's gradient.
func (o *head) backward(dhf, hf gpu.Buffer) {
	linearBackInput(o.dev, dhf, o.dlogits, o.w.w, o.rows, o.d, o.V, false)
	linearBackWeight(o.dev, o.w.g, o.dlogits, hf, o.rows, o.d, o.V)
}
