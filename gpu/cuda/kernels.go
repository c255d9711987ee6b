//go:build cuda || cudaemu

package cuda

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/airanode/airanode/gpu"
)

var _ gpu.Device = (*Device)(nil)

// MatMul: see gpu.Kernels.
func (d *Device) MatMul(c, a, b gpu.Buffer, m, n, k int, ta, tb, acc bool) {
	if m == 0 || n == 0 {
		return
	}
	t := matmulTile(m, n)
	if d.reference {
		t = tileRef
	} else if alt, ok := d.choice[t.name]; ok {
		t = mmNamed[alt]
	}
	d.matmul(t, c, a, b, m, n, k, ta, tb, acc)
}

// matmul launches tile t's kernel for an m×n output.
func (d *Device) matmul(t mmTile, c, a, b gpu.Buffer, m, n, k int, ta, tb, acc bool) {
	d.launch3(t.name, (n+t.bn-1)/t.bn, (m+t.bm-1)/t.bm, t.threads, 0, p(c), p(a), p(b), i(m), i(n), i(k), bl(ta), bl(tb), bl(acc))
}

// mmTile is one matmul kernel of kernels.cu: a block of threads computes a bm×bn tile of the output.
// Every tile computes the same bits (kernels.cu "matmul").
type mmTile struct {
	name            string
	bm, bn, threads int
}

var (
	tileRef = mmTile{"k_matmul", 64, 64, 256} // the reference kernels' tile for every shape
	// The tuned tiles, all with FAST (kernels.cu "matmul"): whole slices of whole tiles without
	// bounds checks, their k loop unrolled completely.
	tile128    = mmTile{"k_mm_128x128_8x8_k16_f", 128, 128, 256}
	tile128x64 = mmTile{"k_mm_128x64_8x4_k16_pf2_f", 128, 64, 256}
	tile64     = mmTile{"k_mm_64x64_4x4_k16_pf2_f", 64, 64, 256}
	tile32     = mmTile{"k_mm_32x32_2x4_k64_pf2_f", 32, 32, 128}
	tile32x16  = mmTile{"k_mm_32x16_2x2_k64_pf2_f", 32, 16, 128}
)

// mmTiles are all the matmul kernels (TestMatMulTiles times each on the training shapes), and
// mmPicked the ones matmulTile picks.
var (
	mmTiles  = []mmTile{tileRef, tile128, tile128x64, tile64, tile32, tile32x16}
	mmPicked = []mmTile{tile128, tile128x64, tile64, tile32, tile32x16}
	// mmNamed finds a tile of mmTiles by its kernel's name (SetKernels' choices).
	mmNamed = func() map[string]mmTile {
		m := map[string]mmTile{}
		for _, t := range mmTiles {
			m[t.name] = t
		}
		return m
	}()
)

// matmulTile picks the tile for an m×n output by its shape alone (every tile computes the same
// bits), from TestMatMulTiles' timings on an H100 (docs/gpu.md): the largest tile that still gives
// the card enough blocks — 128×128 for 256 blocks, 128×64 or 64×64 for 128 — and for outputs too
// small for that (the weight gradients, whose k is the batch's tokens and may not be split) a
// 32×32 or, up to 128K outputs, a 32×16 tile.
func matmulTile(m, n int) mmTile {
	blocks := func(bm, bn int) int { return ((m + bm - 1) / bm) * ((n + bn - 1) / bn) }
	switch {
	case blocks(128, 128) >= 256:
		return tile128
	case blocks(128, 64) >= 128:
		return tile128x64
	case blocks(64, 64) >= 128:
		return tile64
	case m*n > 128<<10:
		return tile32
	default:
		return tile32x16
	}
}

// KernelAlternatives are the kernels SetKernels may launch in place of the device's defaults: every
// matmul tile in place of each tile matmulTile picks, and the tiled attention
// kernels in place of the register-tiled ones. Each computes its default's bits (kernels.cu; the
// tests TestMatMulTiles and TestAttentionTimes require it on a GPU, the emulation harness on the
// host).
func KernelAlternatives() map[string][]string {
	alts := map[string][]string{
		"k_attn_fwd_c": {"k_attn_fwd_t"}, "k_attn_dq_r": {"k_attn_dq_t"}, "k_attn_dkv_r": {"k_attn_dkv_t"},
	}
	for _, from := range mmPicked {
		for _, to := range mmTiles {
			if to != from {
				alts[from.name] = append(alts[from.name], to.name)
			}
		}
	}
	return alts
}

// SetKernels makes the device launch, in place of each default kernel that choice names (a key),
// the alternative it maps to: ParseKernels reads one from text, KernelAlternatives lists what may
// be chosen, and a nil or empty choice restores the defaults. The bits do not change, only the
// time: a GPU run can thus time and use the fastest of the kernels it measured without a rebuild
// (scripts/gpu-check.sh). An unknown default or alternative is an error and changes nothing. The
// reference kernels (SetReferenceKernels) take precedence.
func (d *Device) SetKernels(choice map[string]string) error {
	if err := CheckKernels(choice); err != nil {
		return err
	}
	d.choice = maps.Clone(choice)
	return nil
}

// CheckKernels returns an ErrKernels error unless every default that choice names is in
// KernelAlternatives and is mapped to one of its alternatives there.
func CheckKernels(choice map[string]string) error {
	alts := KernelAlternatives()
	for from, to := range choice {
		can, ok := alts[from]
		if !ok {
			return fmt.Errorf("%w: %s is not a kernel the device may swap (want one of %s)",
				ErrKernels, from, strings.Join(slices.Sorted(maps.Keys(alts)), ", "))
		}
		if !slices.Contains(can, to) {
			return fmt.Errorf("%w: %s cannot replace %s (want one of %s)", ErrKernels, to, from, strings.Join(can, ", "))
		}
	}
	return nil
}

// Kernels returns the device's kernel choice (SetKernels); nil for the defaults.
func (d *Device) Kernels() map[string]string { return maps.Clone(d.choice) }

func (d *Device) Fill(x gpu.Buffer, v float32) { d.elem("k_fill", x.Len(), p(x), i(x.Len()), f(v)) }
func (d *Device) Copy(dst, src gpu.Buffer) {
	if !d.shape(dst.Len() == src.Len(), "Copy") || src.Len() == 0 {
		return
	}
	var t0 time.Time
	if d.prof != nil {
		t0 = time.Now()
	}
	d.fail(d.drv.dtod(dst.(buffer).ptr, src.(buffer).ptr, int64(src.Len())*4))
	d.timed("copy", t0)
}
func (d *Device) Add(dst, a, b gpu.Buffer) {
	if !d.shape(a.Len() == dst.Len() && b.Len() == dst.Len(), "Add") {
		return
	}
	d.elem("k_add", dst.Len(), p(dst), p(a), p(b), i(dst.Len()))
}
func (d *Device) AddInPlace(dst, src gpu.Buffer) {
	if !d.shape(src.Len() == dst.Len(), "AddInPlace") {
		return
	}
	d.elem("k_addin", dst.Len(), p(dst), p(src), i(dst.Len()))
}
func (d *Device) Scale(x gpu.Buffer, s float32) { d.elem("k_scale", x.Len(), p(x), i(x.Len()), f(s)) }

// SumSquares: see gpu.Kernels. It synchronises. The order is the CPU device's (kernels.cu "sum of
// squares"), so are the bits where x is the same.
func (d *Device) SumSquares(x gpu.Buffer) float64 {
	nb := (x.Len() + sumSqBlock - 1) / sumSqBlock
	part := d.scratchBuf(scratchSumSq, 2*nb)
	d.staged("k_sumsq_part", nb, raw(part), p(x), i(x.Len()))
	d.launch("k_sumsq_sum", 1, 1, 0, raw(d.status), raw(part), i(nb))
	if d.err != nil {
		return 0
	}
	d.fail(d.drv.dtoh(unsafe.Pointer(d.host), d.status, int64(unsafe.Sizeof(*d.host))))
	d.checkBad(d.host.bad)
	return d.host.sumsq
}

func (d *Device) Embed(out, table gpu.Buffer, tok gpu.Ints, dim int) {
	if !d.shape(dim > 0 && table.Len()%dim == 0 && out.Len() >= tok.Len()*dim, "Embed") {
		return
	}
	d.elem("k_embed", tok.Len()*dim, p(out), p(table), pi(tok), i(tok.Len()), i(table.Len()/dim), i(dim), raw(d.bad()))
}
func (d *Device) EmbedBackward(dtable, dout gpu.Buffer, tok gpu.Ints, dim int) {
	if !d.shape(dim > 0 && dtable.Len()%dim == 0 && dout.Len() >= tok.Len()*dim, "EmbedBackward") {
		return
	}
	V := dtable.Len() / dim
	d.elem("k_embed_bwd", V*dim, p(dtable), p(dout), pi(tok), i(tok.Len()), i(V), i(dim), raw(d.bad()))
}
func (d *Device) AddPositions(x, pos gpu.Buffer, B, T, dim int) {
	d.elem("k_addpos", B*T*dim, p(x), p(pos), i(B), i(T), i(dim))
}
func (d *Device) AddPositionsBackward(dpos, dx gpu.Buffer, B, T, dim int) {
	d.elem("k_addpos_bwd", T*dim, p(dpos), p(dx), i(B), i(T), i(dim))
}

// rowBlocks is the grid of the row kernels (kernels.cu "row reductions"): rowsPerBlock rows per block.
func rowBlocks(rows int) int { return (rows + rowsPerBlock - 1) / rowsPerBlock }

func (d *Device) RMSNorm(out, rstd, x, w gpu.Buffer, rows, dim int, eps float32) {
	d.launch("k_rmsnorm", rowBlocks(rows), redBlock, 0, p(out), p(rstd), p(x), p(w), i(rows), i(dim), f(eps))
}
func (d *Device) RMSNormBackward(dx, dw, dout, x, w, rstd gpu.Buffer, rows, dim int) {
	d.launch("k_rmsnorm_bwd_dx", rowBlocks(rows), redBlock, 0, p(dx), p(dout), p(x), p(w), p(rstd), i(rows), i(dim))
	d.staged("k_rmsnorm_bwd_dw", dim, p(dw), p(dout), p(x), p(rstd), i(rows), i(dim))
}
func (d *Device) LayerNorm(out, mean, rstd, x, w, b gpu.Buffer, rows, dim int, eps float32) {
	d.launch("k_layernorm", rowBlocks(rows), redBlock, 0, p(out), p(mean), p(rstd), p(x), p(w), p(b), i(rows), i(dim), f(eps))
}
func (d *Device) LayerNormBackward(dx, dw, db, dout, x, w, mean, rstd gpu.Buffer, rows, dim int) {
	d.launch("k_layernorm_bwd_dx", rowBlocks(rows), redBlock, 0, p(dx), p(dout), p(x), p(w), p(mean), p(rstd), i(rows), i(dim))
	d.staged("k_layernorm_bwd_dwb", dim, p(dw), p(db), p(dout), p(x), p(mean), p(rstd), i(rows), i(dim))
}

func (d *Device) Rotary(x gpu.Buffer, B, T, heads, D, rotDim int, base float32) {
	d.rotary(x, B, T, heads, D, rotDim, base, 1)
}
func (d *Device) RotaryBackward(dx gpu.Buffer, B, T, heads, D, rotDim int, base float32) {
	d.rotary(dx, B, T, heads, D, rotDim, base, -1)
}

// rotary rotates x with the tables of (T, rotDim, base), computed by k_rope_table when they change.
func (d *Device) rotary(x gpu.Buffer, B, T, heads, D, rotDim int, base, sign float32) {
	if !d.shape(B >= 0 && T > 0 && heads > 0 && D > 0 && rotDim >= 0 && rotDim%2 == 0 && rotDim <= D && base > 0 &&
		x.Len() >= B*T*heads*D, "Rotary") {
		return
	}
	half := rotDim / 2
	if half == 0 {
		return
	}
	key := ropeKey{T, rotDim, base}
	cs, sn := d.scratchBuf(scratchRopeCos, T*half), d.scratchBuf(scratchRopeSin, T*half)
	if d.err != nil {
		return
	}
	if d.rope != key {
		d.elem("k_rope_table", T*half, raw(cs), raw(sn), i(T), i(rotDim), f(base))
		d.rope = key
	}
	d.elem("k_rotary", B*T*heads*half, p(x), raw(cs), raw(sn), i(B), i(T), i(heads), i(D), i(rotDim), f(sign))
}

// attnShape checks an attention call's shape against its buffers (q, out and dout: nq floats; k, v:
// nkv).
func (d *Device) attnShape(kernel string, s gpu.AttnShape, nq []gpu.Buffer, nkv []gpu.Buffer, lse gpu.Buffer) bool {
	ok := s.B >= 0 && s.T >= 0 && s.H > 0 && s.KVH > 0 && s.D > 0 && s.Window >= 0 && s.H%s.KVH == 0 &&
		lse.Len() >= s.B*s.H*s.T
	for _, b := range nq {
		ok = ok && b.Len() >= s.B*s.T*s.H*s.D
	}
	for _, b := range nkv {
		ok = ok && b.Len() >= s.B*s.T*s.KVH*s.D
	}
	return d.shape(ok, kernel)
}

func (d *Device) Attention(out, lse, q, k, v gpu.Buffer, s gpu.AttnShape) {
	if !d.attnShape("Attention", s, []gpu.Buffer{out, q}, []gpu.Buffer{k, v}, lse) {
		return
	}
	if s.D <= attnMaxD && !d.reference {
		// kernels.cu "attention, tiled": the same bits as k_attn_fwd. k_attn_fwd_c keeps the rows'
		// scores in shared memory and works in register tiles; for other head dimensions
		// k_attn_fwd_t keeps them too where they fit, and where they do not it recomputes them.
		blocks := s.B * s.H * ((s.T + attnRows - 1) / attnRows)
		if shared, ok := attnFwdCached(s.D, s.T); ok && d.choice["k_attn_fwd_c"] == "" {
			d.launch("k_attn_fwd_c", blocks, 256, shared, p(out), p(lse), p(q), p(k), p(v),
				i(s.B), i(s.T), i(s.H), i(s.KVH), i(s.D), i(s.Window), f(s.Scale))
			return
		}
		shared, cached := attnFwdWalks(s.D, s.T)
		if !cached {
			shared = attnFwdShared(s.D)
		}
		d.launch("k_attn_fwd_t", blocks, 256, shared, p(out), p(lse), p(q), p(k), p(v),
			i(s.B), i(s.T), i(s.H), i(s.KVH), i(s.D), i(s.Window), f(s.Scale), bl(cached))
		return
	}
	// The untiled forward holds a row's T scores in shared memory.
	shared := (s.T + redBlock) * 4
	if shared > maxShared {
		d.fail(fmt.Errorf("%w: Attention: T = %d with head dimension %d needs %d bytes of shared memory, more than %d (the tiled kernels take D <= %d)",
			ErrShape, s.T, s.D, shared, maxShared, attnMaxD))
		return
	}
	d.launch("k_attn_fwd", s.B*s.H*s.T, redBlock, shared, p(out), p(lse), p(q), p(k), p(v),
		i(s.B), i(s.T), i(s.H), i(s.KVH), i(s.D), i(s.Window), f(s.Scale))
}

// AttentionWorkspace: the backward keeps one float per (b, h, t) row.
func (d *Device) AttentionWorkspace(s gpu.AttnShape) int { return s.B * s.H * s.T }

func (d *Device) AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, ws gpu.Buffer, s gpu.AttnShape) {
	if !d.attnShape("AttentionBackward", s, []gpu.Buffer{dq, dout, out, q}, []gpu.Buffer{dk, dv, k, v}, lse) ||
		!d.shape(ws.Len() >= d.AttentionWorkspace(s), "AttentionBackward") {
		return
	}
	d.elem("k_attn_delta", s.B*s.H*s.T, p(ws), p(dout), p(out), i(s.B), i(s.T), i(s.H), i(s.D))
	if s.D <= attnMaxD && !d.reference {
		// kernels.cu "attention, tiled": the same bits as the kernels below; in register tiles
		// (k_attn_dq_r, k_attn_dkv_r) where the head dimension is a multiple of attnVec, unless
		// SetKernels chose the tiled ones.
		nt := (s.T + attnTile - 1) / attnTile
		dqk, dkvk, dqs, dkvs := "k_attn_dq_t", "k_attn_dkv_t", attnDqShared(s.D), attnDkvShared(s.D)
		if s.D%attnVec == 0 && d.choice["k_attn_dq_r"] == "" {
			dqk, dqs = "k_attn_dq_r", attnDqSharedR(s.D)
		}
		if s.D%attnVec == 0 && d.choice["k_attn_dkv_r"] == "" {
			dkvk, dkvs = "k_attn_dkv_r", attnDkvSharedR(s.D)
		}
		d.launch(dqk, s.B*s.H*nt, 256, dqs, p(dq), p(dout), p(lse), p(ws), p(q), p(k), p(v),
			i(s.B), i(s.T), i(s.H), i(s.KVH), i(s.D), i(s.Window), f(s.Scale))
		d.launch(dkvk, s.B*s.KVH*nt, 256, dkvs, p(dk), p(dv), p(dout), p(lse), p(ws), p(q), p(k), p(v),
			i(s.B), i(s.T), i(s.H), i(s.KVH), i(s.D), i(s.Window), f(s.Scale))
		return
	}
	d.elem("k_attn_dq", s.B*s.T*s.H*s.D, p(dq), p(dout), p(lse), p(ws), p(q), p(k), p(v),
		i(s.B), i(s.T), i(s.H), i(s.KVH), i(s.D), i(s.Window), f(s.Scale))
	d.elem("k_attn_dkv", s.B*s.T*s.KVH*s.D, p(dk), p(dv), p(dout), p(lse), p(ws), p(q), p(k), p(v),
		i(s.B), i(s.T), i(s.H), i(s.KVH), i(s.D), i(s.Window), f(s.Scale))
}

func (d *Device) SwiGLU(out, gate, up gpu.Buffer) {
	d.elem("k_swiglu", out.Len(), p(out), p(gate), p(up), i(out.Len()))
}
func (d *Device) SwiGLUBackward(dgate, dup, dout, gate, up gpu.Buffer) {
	d.elem("k_swiglu_bwd", dout.Len(), p(dgate), p(dup), p(dout), p(gate), p(up), i(dout.Len()))
}
func (d *Device) GELU(out, x gpu.Buffer) { d.elem("k_gelu", out.Len(), p(out), p(x), i(out.Len())) }
func (d *Device) GELUBackward(dx, dout, x gpu.Buffer) {
	d.elem("k_gelu_bwd", dx.Len(), p(dx), p(dout), p(x), i(dx.Len()))
}
func (d *Device) SiLU(out, x gpu.Buffer) { d.elem("k_silu", out.Len(), p(out), p(x), i(out.Len())) }
func (d *Device) SiLUBackward(dx, dout, x gpu.Buffer) {
	d.elem("k_silu_bwd", dx.Len(), p(dx), p(dout), p(x), i(dx.Len()))
}
func (d *Device) Softplus(out, x gpu.Buffer) {
	d.elem("k_softplus", out.Len(), p(out), p(x), i(out.Len()))
}
func (d *Device) SoftplusBackward(dx, dout, x gpu.Buffer) {
	d.elem("k_softplus_bwd", dx.Len(), p(dx), p(dout), p(x), i(dx.Len()))
}
func (d *Device) NegExp(out, x gpu.Buffer) {
	d.elem("k_negexp", out.Len(), p(out), p(x), i(out.Len()))
}
func (d *Device) Mul(out, a, b gpu.Buffer) {
	d.elem("k_mul", out.Len(), p(out), p(a), p(b), i(out.Len()))
}
func (d *Device) MulBackward(da, db, dout, a, b gpu.Buffer) {
	d.elem("k_mul_bwd", dout.Len(), p(da), p(db), p(dout), p(a), p(b), i(dout.Len()))
}

func (d *Device) CausalConv1D(out, x, w, bias gpu.Buffer, B, T, C, width int) {
	d.elem("k_conv", B*T*C, p(out), p(x), p(w), p(bias), i(B), i(T), i(C), i(width))
}
func (d *Device) CausalConv1DBackward(dx, dw, dbias, dout, x, w gpu.Buffer, B, T, C, width int) {
	d.elem("k_conv_bwd_dx", B*T*C, p(dx), p(dout), p(w), i(B), i(T), i(C), i(width))
	d.chains("k_conv_bwd_dw", C*(width+1), p(dw), p(dbias), p(dout), p(x), i(B), i(T), i(C), i(width))
}

func (d *Device) SelectiveScan(y, states, u, delta, A, Bm, Cm, D gpu.Buffer, s gpu.ScanShape) {
	if s.N > maxState {
		d.fail(fmt.Errorf("cuda selective scan: state %d > %d", s.N, maxState))
		return
	}
	d.chains("k_scan", s.B*s.C, p(y), p(states), p(u), p(delta), p(A), p(Bm), p(Cm), p(D), i(s.B), i(s.T), i(s.C), i(s.N))
}
func (d *Device) SelectiveScanBackward(du, ddelta, dA, dBm, dCm, dD, dy, states, u, delta, A, Bm, Cm, D gpu.Buffer, s gpu.ScanShape) {
	if s.N > maxState {
		d.fail(fmt.Errorf("cuda selective scan: state %d > %d", s.N, maxState))
		return
	}
	big := s.B * s.T * s.C * s.N
	gB, gC := d.scratchBuf(0, big), d.scratchBuf(1, big)
	pA, pD := d.scratchBuf(2, 2*s.B*s.C*s.N), d.scratchBuf(3, 2*s.B*s.C) // float64
	if d.err != nil {
		return
	}
	d.chains("k_scan_bwd", s.B*s.C, p(du), p(ddelta), raw(gB), raw(gC), raw(pA), raw(pD), p(dy), p(states), p(u), p(delta),
		p(A), p(Bm), p(Cm), p(D), i(s.B), i(s.T), i(s.C), i(s.N))
	d.elem("k_scan_bwd_bc", s.B*s.T*s.N, p(dBm), p(dCm), raw(gB), raw(gC), i(s.B*s.T), i(s.C), i(s.N))
	d.chains("k_scan_bwd_ad", s.C*(s.N+1), p(dA), p(dD), raw(pA), raw(pD), i(s.B), i(s.C), i(s.N))
}

func (d *Device) CrossEntropy(losses, dlogits, logits gpu.Buffer, targets gpu.Ints, rows, V int, gradScale float32) {
	if !d.shape(rows >= 0 && V > 0 && losses.Len() >= rows && dlogits.Len() >= rows*V && logits.Len() >= rows*V &&
		targets.Len() >= rows, "CrossEntropy") {
		return
	}
	d.launch("k_xent", rowBlocks(rows), redBlock, 0, p(losses), p(dlogits), p(logits), pi(targets), i(rows), i(V), f(gradScale),
		raw(d.bad()))
}
func (d *Device) Argmax(out gpu.Ints, logits gpu.Buffer, rows, V int) {
	d.elem("k_argmax", rows, pi(out), p(logits), i(rows), i(V))
}

func (d *Device) AdamWStep(params, grads, m, v, decay gpu.Buffer, h gpu.AdamW) {
	n := params.Len()
	if err := h.Validate(); err != nil {
		d.fail(fmt.Errorf("%w: AdamWStep: %w", ErrShape, err))
		return
	}
	if !d.shape(grads.Len() == n && m.Len() == n && v.Len() == n && (decay == nil || decay.Len() == n), "AdamWStep") {
		return
	}
	c := h.Scalars()
	var dp arg
	has := 0
	if decay != nil {
		dp, has = p(decay), 1
	}
	d.elem("k_adamw", n, p(params), p(grads), p(m), p(v), dp, i(n), f(c.B1), f(c.B2),
		f(c.OneMinusB1), f(c.OneMinusB2), f(c.Decay), f(c.StepSize), f(c.SqrtBC2), f(c.Eps), i(has))
}
