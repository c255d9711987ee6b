package train

import (
	"errors"
	"fmt"
	"math"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/gpu"
)

// Sentinel errors. Errors returned by this package wrap one of them (or an error of package gpu).
var (
	// ErrArch means the architecture cannot be built: not normalised or validated, no vocabulary, or a
	// primitive the engine does not implement.
	ErrArch = errors.New("train: unsupported architecture")
	// ErrShape means a bad batch shape (Batch, Seq).
	ErrShape = errors.New("train: bad batch shape")
	// ErrBatch means a batch of the wrong size, a token outside the vocabulary, or no target.
	ErrBatch = errors.New("train: bad batch")
	// ErrHyper means invalid hyper-parameters.
	ErrHyper = errors.New("train: bad hyper-parameters")
	// ErrDiverged means the loss or the gradient norm is not finite.
	ErrDiverged = errors.New("train: training diverged")
	// ErrFormat means a malformed safetensors file or checkpoint.
	ErrFormat = errors.New("train: malformed file")
	// ErrMismatch means a checkpoint or weights file that belongs to another model or run.
	ErrMismatch = errors.New("train: checkpoint does not match")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("train: closed")
)

// Shape is the fixed batch shape of a model: Batch sequences of Seq tokens per step.
type Shape struct {
	Batch, Seq int
}

// MaxRows bounds Batch·Seq, the rows of every activation.
const MaxRows = 1 << 20

// block is one layer: x = x + prim(norm(x)).
type block struct {
	norm norm
	prim primitive
}

// Model is an architecture built on a device for a fixed batch shape: its parameters (one buffer, in
// the canonical order of Tensors), gradients (one buffer, same layout) and every activation and
// workspace of the forward and backward passes, all allocated once by NewModel.
//
// A Model may be used by one goroutine at a time.
type Model struct {
	dev     gpu.Device
	arch    arch.Arch
	spec    modelSpec
	shape   Shape
	rows    int
	tensors []Tensor
	nparams int

	params, grads gpu.Buffer
	ids, targets  gpu.Ints
	pred          gpu.Ints

	embed  embedding
	blocks []block
	normF  norm
	head   head

	x       []gpu.Buffer // residual stream: x[0] embeddings, x[i+1] after layer i
	h       []gpu.Buffer // normalised input of every layer
	hf      gpu.Buffer   // normalised output of the last layer
	y       gpu.Buffer   // a layer's output before the residual add
	dx, dh  gpu.Buffer   // gradient of the residual stream, of a layer's normalised input
	dnorm   gpu.Buffer   // gradient through a norm
	scratch gpu.Buffer   // shared backward temporaries of the primitives

	hostLoss []float32
	closed   bool
}

// NewModel builds a model of a on dev for batches of the given shape. The architecture must be
// normalised and valid (arch.Normalize, arch.Validate) with Vocab set. Parameters start at zero; call
// Init (NewTrainer does) or LoadWeights.
func NewModel(dev gpu.Device, a arch.Arch, shape Shape) (*Model, error) {
	if err := checkArch(a); err != nil {
		return nil, err
	}
	s, err := resolve(a)
	if err != nil {
		return nil, err
	}
	B, T := shape.Batch, shape.Seq
	if B <= 0 || T <= 0 || B > MaxRows || T > MaxRows || B*T > MaxRows {
		return nil, fmt.Errorf("%w: batch %d × seq %d (max %d rows)", ErrShape, B, T, MaxRows)
	}
	if s.learnedPos && T > s.context {
		return nil, fmt.Errorf("%w: seq %d exceeds the context %d of the learned positions", ErrShape, T, s.context)
	}
	m := &Model{dev: dev, arch: a, spec: s, shape: shape, rows: B * T}
	m.tensors, m.nparams = layout(s)
	if err := sameLayout(a, m.tensors); err != nil {
		return nil, err
	}
	if err := m.build(); err != nil {
		return nil, fmt.Errorf("train: build model: %w", err)
	}
	return m, nil
}

// build allocates every buffer and wires the layers.
func (m *Model) build() error {
	bd := &builder{dev: m.dev}
	s, d, rows := m.spec, m.spec.width, m.rows
	B, T := m.shape.Batch, m.shape.Seq
	m.params, m.grads = bd.alloc(m.nparams), bd.alloc(m.nparams)
	if bd.err != nil {
		return bd.err
	}
	var err error
	if m.ids, err = m.dev.AllocInts(rows); err != nil {
		return err
	}
	if m.targets, err = m.dev.AllocInts(rows); err != nil {
		return err
	}
	if m.pred, err = m.dev.AllocInts(rows); err != nil {
		return err
	}

	next := 0 // the tensor table is consumed in canonical order
	take := func() param {
		t := m.tensors[next]
		next++
		return param{w: m.params.Slice(t.Offset, t.Len), g: m.grads.Slice(t.Offset, t.Len)}
	}
	m.embed = embedding{dev: m.dev, B: B, T: T, d: d, tok: take()}
	if s.learnedPos {
		pos := take()
		m.embed.pos = param{w: pos.w.Slice(0, T*d), g: pos.g.Slice(0, T*d)}
		m.embed.hasPos = true
	}
	scratch := 0
	for _, l := range s.layers {
		w := take()
		var b param
		if s.layerNorm {
			b = take()
		}
		blk := block{norm: newNorm(bd, rows, d, s.layerNorm, w, b)}
		switch l.kind {
		case KindAttention:
			wqkv, wo := take(), take()
			blk.prim = newAttention(bd, B, T, d, l, wqkv, wo)
		case KindSwiGLU:
			w1, w3, w2 := take(), take(), take()
			blk.prim = newSwiGLU(bd, rows, d, l.hidden, w1, w3, w2)
		case KindGELU:
			w1, w2 := take(), take()
			blk.prim = newGELU(bd, rows, d, l.hidden, w1, w2)
		case KindMamba:
			in, cw, cb, xp, dtw, dtb, al, dd, out := take(), take(), take(), take(), take(), take(), take(), take(), take()
			blk.prim = newMamba(bd, B, T, d, l, in, cw, cb, xp, dtw, dtb, al, dd, out)
		}
		scratch = max(scratch, blk.prim.scratch())
		m.blocks = append(m.blocks, blk)
	}
	normW := take()
	var normB param
	if s.layerNorm {
		normB = take()
	}
	m.normF = newNorm(bd, rows, d, s.layerNorm, normW, normB)
	headW := m.embed.tok
	if s.untied {
		headW = take()
	}
	if next != len(m.tensors) {
		return fmt.Errorf("train: internal error: %d of %d tensors wired", next, len(m.tensors))
	}

	V := s.vocab
	m.head = head{dev: m.dev, rows: rows, d: d, V: V, w: headW,
		logits: bd.alloc(rows * V), dlogits: bd.alloc(rows * V), losses: bd.alloc(rows)}
	m.x = make([]gpu.Buffer, len(m.blocks)+1)
	for i := range m.x {
		m.x[i] = bd.alloc(rows * d)
	}
	m.h = make([]gpu.Buffer, len(m.blocks))
	for i := range m.h {
		m.h[i] = bd.alloc(rows * d)
	}
	m.hf, m.y = bd.alloc(rows*d), bd.alloc(rows*d)
	m.dx, m.dh, m.dnorm = bd.alloc(rows*d), bd.alloc(rows*d), bd.alloc(rows*d)
	m.scratch = bd.alloc(max(scratch, 1))
	if bd.err != nil {
		return bd.err
	}
	c := &carver{buf: m.scratch}
	for _, b := range m.blocks {
		c.off = 0
		b.prim.bind(c)
	}
	m.hostLoss = make([]float32, rows)
	return nil
}

// Device is the device the model runs on.
func (m *Model) Device() gpu.Device { return m.dev }

// Arch is the architecture the model was built from.
func (m *Model) Arch() arch.Arch { return m.arch }

// Shape is the model's batch shape.
func (m *Model) Shape() Shape { return m.shape }

// NumParams is the number of parameter elements.
func (m *Model) NumParams() int { return m.nparams }

// Tensors returns the parameter tensors in canonical order (a copy).
func (m *Model) Tensors() []Tensor { return cloneTensors(m.tensors) }

// Params is the device buffer holding every parameter, tensors at the offsets given by Tensors.
// Writing to it directly (Upload, kernels) is allowed between steps.
func (m *Model) Params() gpu.Buffer { return m.params }

// Grads is the gradient buffer (same layout as Params), as left by the last LossAndGrad.
func (m *Model) Grads() gpu.Buffer { return m.grads }

// ReadParams copies every parameter to dst (len NumParams), in canonical order.
func (m *Model) ReadParams(dst []float32) error {
	if err := m.checkHost(len(dst)); err != nil {
		return err
	}
	return m.dev.Download(dst, m.params)
}

// WriteParams sets every parameter from src (len NumParams), in canonical order.
func (m *Model) WriteParams(src []float32) error {
	if err := m.checkHost(len(src)); err != nil {
		return err
	}
	return m.dev.Upload(m.params, src)
}

// ReadGrads copies the gradient buffer to dst (len NumParams).
func (m *Model) ReadGrads(dst []float32) error {
	if err := m.checkHost(len(dst)); err != nil {
		return err
	}
	return m.dev.Download(dst, m.grads)
}

// checkHost reports ErrClosed, or ErrBatch unless a host slice of length n holds every parameter.
func (m *Model) checkHost(n int) error {
	if m.closed {
		return ErrClosed
	}
	if n != m.nparams {
		return fmt.Errorf("%w: %d floats for %d parameters", ErrBatch, n, m.nparams)
	}
	return nil
}

// Init sets every parameter deterministically from seed (docs/engine.md lists the rules).
func (m *Model) Init(seed uint64) error {
	if m.closed {
		return ErrClosed
	}
	host := make([]float32, m.nparams)
	for i, t := range m.tensors {
		initTensor(host[t.Offset:t.Offset+t.Len], t, i, seed)
	}
	return m.dev.Upload(m.params, host)
}

// upload checks a batch and copies it to the device. It returns the number of positions with a target.
func (m *Model) upload(tokens, targets []int32) (int, error) {
	if m.closed {
		return 0, ErrClosed
	}
	if len(tokens) != m.rows || len(targets) != m.rows {
		return 0, fmt.Errorf("%w: %d tokens and %d targets for %d positions", ErrBatch, len(tokens), len(targets), m.rows)
	}
	V := int32(m.spec.vocab)
	n := 0
	for i, t := range tokens {
		if t < 0 || t >= V {
			return 0, fmt.Errorf("%w: token %d at %d outside the vocabulary [0,%d)", ErrBatch, t, i, V)
		}
		switch y := targets[i]; {
		case y >= V:
			return 0, fmt.Errorf("%w: target %d at %d outside the vocabulary [0,%d)", ErrBatch, y, i, V)
		case y >= 0:
			n++
		}
	}
	if err := m.dev.UploadInts(m.ids, tokens); err != nil {
		return 0, err
	}
	if err := m.dev.UploadInts(m.targets, targets); err != nil {
		return 0, err
	}
	return n, nil
}

// forward runs the model on the uploaded batch: logits, per-row losses and dlogits (scaled by
// gradScale).
func (m *Model) forward(gradScale float32) {
	m.embed.forward(m.x[0], m.ids)
	for i := range m.blocks {
		b := &m.blocks[i]
		b.norm.forward(m.h[i], m.x[i])
		b.prim.forward(m.h[i], m.y)
		m.dev.Add(m.x[i+1], m.x[i], m.y)
	}
	m.normF.forward(m.hf, m.x[len(m.blocks)])
	m.head.forward(m.hf)
	m.head.loss(m.targets, gradScale)
}

// backward propagates dlogits back to every parameter gradient (which it accumulates into).
func (m *Model) backward() {
	L := len(m.blocks)
	m.head.backward(m.dh, m.hf)
	m.normF.backward(m.dx, m.dh, m.x[L])
	for i := L - 1; i >= 0; i-- {
		b := &m.blocks[i]
		// x[i+1] = x[i] + prim(norm(x[i])): dx flows through unchanged and through the layer.
		b.prim.backward(m.dx, m.h[i], m.dh)
		b.norm.backward(m.dnorm, m.dh, m.x[i])
		// The layer's weight gradients may still be running beside (linearBackWeight), and the
		// first of them reads dx as its dy: join before dx changes. That also orders all of them
		// before the next layer writes anything.
		join(m.dev)
		m.dev.AddInPlace(m.dx, m.dnorm)
	}
	m.embed.backward(m.dx, m.ids)
}

// join waits, on a device that overlaps (gpu.Overlapper), for the work run beside so far.
func join(dev gpu.Device) {
	if o, ok := dev.(gpu.Overlapper); ok {
		o.Join()
	}
}

// sumLoss downloads the per-row losses and sums them in row order.
func (m *Model) sumLoss() (float64, error) {
	if err := m.dev.Download(m.hostLoss, m.head.losses); err != nil {
		return 0, err
	}
	var s float64
	for _, l := range m.hostLoss {
		s += float64(l)
	}
	return s, nil
}

// LossAndGrad runs the forward and backward passes on one batch (tokens and targets of length
// Batch·Seq, row r = b·Seq + t; targets < 0 are ignored) and returns the mean cross-entropy over the
// positions with a target. The gradient buffer is zeroed first, then holds the gradient of that mean.
// It allocates nothing.
func (m *Model) LossAndGrad(tokens, targets []int32) (float64, error) {
	n, err := m.upload(tokens, targets)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: no position has a target", ErrBatch)
	}
	m.dev.Fill(m.grads, 0)
	m.forward(float32(1 / float64(n)))
	m.backward()
	sum, err := m.sumLoss()
	if err != nil {
		return 0, err
	}
	if err := m.dev.Err(); err != nil {
		return 0, err
	}
	return sum / float64(n), nil
}

// Eval is the result of a forward pass over one batch.
type Eval struct {
	// LossSum is the sum of the cross-entropy (in nats) over the positions with a target.
	LossSum float64
	// Tokens is the number of positions with a target (>= 0).
	Tokens int
	// Correct is the number of those positions whose argmax prediction equals the target.
	Correct int
}

// Mean is the mean loss per target position (0 when there is none).
func (e Eval) Mean() float64 {
	if e.Tokens == 0 {
		return 0
	}
	return e.LossSum / float64(e.Tokens)
}

// Accuracy is the fraction of target positions predicted exactly (0 when there is none).
func (e Eval) Accuracy() float64 {
	if e.Tokens == 0 {
		return 0
	}
	return float64(e.Correct) / float64(e.Tokens)
}

// Predict runs the forward pass only on one batch (as for LossAndGrad; positions without a target may
// hold any negative target, and the whole batch may have none) and writes the argmax prediction of
// every position into pred (length Batch·Seq; nil to skip). Gradients are left untouched.
func (m *Model) Predict(tokens, targets, pred []int32) (Eval, error) {
	var e Eval
	if pred != nil && len(pred) != m.rows {
		return e, fmt.Errorf("%w: %d predictions for %d positions", ErrBatch, len(pred), m.rows)
	}
	n, err := m.upload(tokens, targets)
	if err != nil {
		return e, err
	}
	m.forward(0)
	if e.LossSum, err = m.sumLoss(); err != nil {
		return e, err
	}
	e.Tokens = n
	if pred != nil {
		m.dev.Argmax(m.pred, m.head.logits, m.rows, m.spec.vocab)
		if err := m.dev.DownloadInts(pred, m.pred); err != nil {
			return e, err
		}
		for i, y := range targets {
			if y >= 0 && pred[i] == y {
				e.Correct++
			}
		}
	}
	if err := m.dev.Err(); err != nil {
		return e, err
	}
	return e, nil
}

// Close releases the model's references to its buffers (the device owns the memory; on the CPU
// device the garbage collector reclaims it). It is idempotent; the model is unusable afterwards.
func (m *Model) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	m.params, m.grads, m.ids, m.targets, m.pred = nil, nil, nil, nil, nil
	m.blocks, m.x, m.h = nil, nil, nil
	m.hf, m.y, m.dx, m.dh, m.dnorm, m.scratch = nil, nil, nil, nil, nil, nil
	m.head, m.normF, m.embed = head{}, norm{}, embedding{}
	return nil
}

// finite reports whether v is neither NaN nor infinite.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
