// Package gpu defines the compute Device: the kernels, at layer granularity, that the training engine
// (package train) composes into models. Implementations live in sub-packages: gpu/cpu (pure Go plus an
// assembly matmul microkernel, always built) and gpu/cuda (build tag cuda, gorgonia.org/cu).
//
// Conventions shared by every kernel:
//   - Tensors are row-major float32 spans (Buffer) in the device's memory; integer tensors (token ids,
//     targets) are int32 spans (Ints).
//   - Activations are laid out [B*T, width]: row r = b*T + t.
//   - Kernels never allocate. Workspaces are passed in by the caller, sized as documented.
//   - Backward kernels accumulate (+=) into parameter gradients and overwrite (=) activation gradients,
//     unless the method says otherwise. Zero gradients with Fill before a step.
//   - Determinism (DESIGN.md §7): a kernel's result depends only on its inputs, never on thread count or
//     scheduling: work is split over independent outputs only and every reduction has an order fixed by
//     the kernel. Class() names the family of kernels whose bits agree (e.g. "cpu-v1").
//   - Kernel methods report no error: a device records its first failure and returns it from Err (and
//     Sync). Shape mismatches are programming errors of the caller (train validates every arch first).
//
// Thread-safety: a Device may be used by one goroutine at a time; it may use many threads inside a
// kernel. Buffers belong to the device that allocated them.
package gpu

import "errors"

// Sentinel errors.
var (
	// ErrNoDevice is returned when a requested device kind is not present on this machine.
	ErrNoDevice = errors.New("gpu: no such device")
	// ErrOutOfMemory is returned by Alloc when the device cannot hold the request.
	ErrOutOfMemory = errors.New("gpu: out of memory")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("gpu: device closed")
)

// Buffer is a contiguous span of float32 elements in one device's memory.
type Buffer interface {
	// Len is the number of float32 elements.
	Len() int
	// Slice returns a view of elements [off, off+n). It panics if the range is out of bounds, as a Go
	// slice expression does.
	Slice(off, n int) Buffer
}

// Ints is a contiguous span of int32 elements in one device's memory (token ids, targets).
type Ints interface {
	Len() int
	Slice(off, n int) Ints
}

// AttnShape describes a causal attention call. Q is [B*T, H*D]; K and V are [B*T, KVH*D]; the output
// is [B*T, H*D]. H must be a multiple of KVH (grouped-query attention: query head h reads key/value head
// h/(H/KVH)). Window > 0 restricts position t to keys in (t-Window, t]; 0 means full causal attention.
// Scale multiplies the scores (usually 1/sqrt(D)).
type AttnShape struct {
	B, T, H, KVH, D int
	Window          int
	Scale           float32
}

// ScanShape describes a selective scan (Mamba, S6) over B sequences of length T with C channels and
// state size N.
type ScanShape struct {
	B, T, C, N int
}

// AdamW holds the hyper-parameters of one optimizer step. Step counts from 1 (bias correction).
type AdamW struct {
	LR, Beta1, Beta2, Eps, WeightDecay float32
	Step                               int
}

// Overlapper is a device that can run kernel launches beside its main sequence (the CUDA device's
// second stream). Between Side(true) and Side(false), launches run after everything issued before
// Side(true), possibly at the same time as what is issued after them; Join makes everything issued
// after it wait for all of them. The caller joins before it overwrites what such a launch reads or
// reads what it writes. The bits never depend on it: every launch computes what it would in order.
// Copies and synchronisation are not launches: they stay in the main sequence.
type Overlapper interface {
	Side(on bool)
	Join()
}

// Device is a compute device: memory plus kernels.
type Device interface {
	// Name is a human description, e.g. "cpu (avx512, 2 threads)".
	Name() string
	// Class is the reproducibility class: results of one class are bit-identical across runs, thread
	// counts and machines of that class.
	Class() string
	// Alloc returns a zeroed buffer of n float32s; AllocInts the same for int32s.
	Alloc(n int) (Buffer, error)
	AllocInts(n int) (Ints, error)
	// Upload and Download copy between host and device; lengths must match.
	Upload(dst Buffer, src []float32) error
	Download(dst []float32, src Buffer) error
	UploadInts(dst Ints, src []int32) error
	DownloadInts(dst []int32, src Ints) error
	// Sync waits for queued kernels and returns Err.
	Sync() error
	// Err returns the first error a kernel recorded, if any.
	Err() error
	// Close frees the device's memory. It is idempotent.
	Close() error

	Kernels
}

// Kernels are the compute operations of a Device. Shapes are in elements.
type Kernels interface {
	// ---- dense algebra ----

	// MatMul computes C[m,n] = op(A)·op(B) (+ C when acc). op(A) is A stored [m,k], or, when ta, Aᵀ with
	// A stored [k,m]; likewise op(B) is B [k,n] or, when tb, Bᵀ with B stored [n,k]. Every output element
	// is one chain of fused multiply-adds over p = 0..k-1 in order, starting from 0 (or from C when acc).
	MatMul(c, a, b Buffer, m, n, k int, ta, tb, acc bool)

	// ---- elementwise and reductions ----

	// Fill sets every element of x to v.
	Fill(x Buffer, v float32)
	// Copy copies src into dst (equal lengths).
	Copy(dst, src Buffer)
	// Add computes dst = a + b elementwise (dst may alias a or b).
	Add(dst, a, b Buffer)
	// AddInPlace computes dst += src.
	AddInPlace(dst, src Buffer)
	// Scale computes x *= s.
	Scale(x Buffer, s float32)
	// SumSquares returns Σ x² as float64, summed in a fixed order (used for gradient clipping). It
	// synchronises with the device.
	SumSquares(x Buffer) float64

	// ---- embeddings ----

	// Embed writes out[r,:] = table[tok[r],:] for r < tok.Len(); table is [V,d].
	Embed(out, table Buffer, tok Ints, d int)
	// EmbedBackward accumulates dtable[tok[r],:] += dout[r,:], rows in increasing r.
	EmbedBackward(dtable, dout Buffer, tok Ints, d int)
	// AddPositions computes x[b*T+t,:] += pos[t,:] for a [B*T,d] x; AddPositionsBackward accumulates
	// dpos[t,:] += Σ_b dx[b*T+t,:] with b increasing.
	AddPositions(x, pos Buffer, B, T, d int)
	AddPositionsBackward(dpos, dx Buffer, B, T, d int)

	// ---- normalisation ----

	// RMSNorm: out = x / sqrt(mean(x²)+eps) * w over rows of width d; rstd[r] receives 1/sqrt(mean+eps).
	RMSNorm(out, rstd, x, w Buffer, rows, d int, eps float32)
	// RMSNormBackward: dx = (overwrite), dw += (accumulate, rows in increasing order).
	RMSNormBackward(dx, dw, dout, x, w, rstd Buffer, rows, d int)
	// LayerNorm: out = (x-mean)*rstd*w + b; mean[r] and rstd[r] are saved for the backward.
	LayerNorm(out, mean, rstd, x, w, b Buffer, rows, d int, eps float32)
	// LayerNormBackward: dx overwritten; dw, db accumulated.
	LayerNormBackward(dx, dw, db, dout, x, w, mean, rstd Buffer, rows, d int)

	// ---- attention ----

	// Rotary applies rotary position embeddings in place to x [B*T, heads*D] on the first rotDim
	// dimensions of every head (pairs (i, i+rotDim/2), GPT-NeoX layout), with frequencies
	// base^(-2i/rotDim). RotaryBackward applies the inverse rotation to the gradient in place.
	Rotary(x Buffer, B, T, heads, D, rotDim int, base float32)
	RotaryBackward(dx Buffer, B, T, heads, D, rotDim int, base float32)
	// Attention computes causal softmax(scale·QKᵀ)·V per head. lse [B*H*T] receives each row's
	// log-sum-exp of the scaled scores, for the backward.
	Attention(out, lse, q, k, v Buffer, s AttnShape)
	// AttentionBackward overwrites dq, dk and dv. ws is a workspace of at least
	// AttentionWorkspace(s) floats.
	AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, ws Buffer, s AttnShape)
	// AttentionWorkspace is the number of floats AttentionBackward needs in ws.
	AttentionWorkspace(s AttnShape) int

	// ---- MLP activations ----

	// SwiGLU: out = silu(gate) * up over n elements; backward overwrites dgate and dup.
	SwiGLU(out, gate, up Buffer)
	SwiGLUBackward(dgate, dup, dout, gate, up Buffer)
	// GELU (tanh approximation): out = gelu(x); backward overwrites dx.
	GELU(out, x Buffer)
	GELUBackward(dx, dout, x Buffer)
	// SiLU: out = x * sigmoid(x); backward overwrites dx.
	SiLU(out, x Buffer)
	SiLUBackward(dx, dout, x Buffer)
	// Softplus: out = log(1+exp(x)); backward overwrites dx.
	Softplus(out, x Buffer)
	SoftplusBackward(dx, dout, x Buffer)
	// NegExp: out = -exp(x), with gpu/fmath's Exp on every device, so the bits are the same on all
	// of them (Mamba's A = -exp(A_log)). Its gradient, dx = dout·out, is a Mul.
	NegExp(out, x Buffer)
	// Mul: out = a*b elementwise; MulBackward overwrites da and db.
	Mul(out, a, b Buffer)
	MulBackward(da, db, dout, a, b Buffer)

	// ---- state-space (Mamba) ----

	// CausalConv1D: depthwise causal convolution over time of x [B*T, C] with kernel w [C, width] and
	// bias [C]: out[b,t,c] = bias[c] + Σ_j w[c,j]·x[b, t-width+1+j, c] (zero before t=0).
	CausalConv1D(out, x, w, bias Buffer, B, T, C, width int)
	// CausalConv1DBackward overwrites dx and accumulates dw and dbias.
	CausalConv1DBackward(dx, dw, dbias, dout, x, w Buffer, B, T, C, width int)
	// SelectiveScan computes, per sequence b and channel c, with state h ∈ R^N starting at 0:
	//   h_t = exp(delta[t,c]·A[c,:]) ⊙ h_{t-1} + delta[t,c]·Bm[t,:]·u[t,c]
	//   y[t,c] = <Cm[t,:], h_t> + D[c]·u[t,c]
	// u, delta, y are [B*T, C]; A is [C, N]; Bm, Cm are [B*T, N]; D is [C]. states receives every h_t,
	// [B*T*C*N] floats, for the backward.
	SelectiveScan(y, states, u, delta, A, Bm, Cm, D Buffer, s ScanShape)
	// SelectiveScanBackward overwrites du, ddelta, dBm, dCm and accumulates dA and dD.
	SelectiveScanBackward(du, ddelta, dA, dBm, dCm, dD, dy, states, u, delta, A, Bm, Cm, D Buffer, s ScanShape)

	// ---- loss ----

	// CrossEntropy computes, for rows of logits [rows, V], losses[r] = logsumexp - logit[target] and
	// overwrites dlogits with (softmax - onehot)·gradScale (the fused forward+backward). Rows whose target
	// is negative are ignored: loss 0, gradient 0.
	CrossEntropy(losses, dlogits, logits Buffer, targets Ints, rows, V int, gradScale float32)
	// Argmax writes, for each row of logits [rows, V], the index of its largest value (lowest index on
	// ties) into out.
	Argmax(out Ints, logits Buffer, rows, V int)

	// ---- optimizer ----

	// AdamWStep updates params in place with decoupled weight decay, using moments m and v. decay
	// selects, per element, whether weight decay applies (mask 1 or 0); nil means everywhere.
	AdamWStep(params, grads, m, v, decay Buffer, h AdamW)
}
