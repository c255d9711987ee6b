package train

import (
	"slices"
	"strconv"

	"github.com/airanode/airanode/gpu/fmath"
)

// Tensor describes one named parameter tensor and its place in the model's parameter buffer (and, at
// the same offsets, in the gradient buffer and the optimizer moments). Matrices are [out, in], the
// layout of PyTorch's Linear.
type Tensor struct {
	// Name is the tensor's canonical name, e.g. "tok", "L0.wqkv", "norm_f.w".
	Name string
	// Shape is the tensor's shape, outermost first.
	Shape []int
	// Offset is the index of the tensor's first element in the parameter buffer; Len its element count.
	Offset, Len int
	// Decay reports whether AdamW's weight decay applies (matrices and embeddings: yes; norms, biases,
	// A_log, D: no).
	Decay bool

	init initRule
}

// initKind names an initialisation rule.
type initKind uint8

const (
	initNormal  initKind = iota // N(0, a²)
	initUniform                 // U(-a, a)
	initConst                   // every element a
	initALog                    // [C,N]: log(n+1)
	initDTBias                  // inverse softplus of dt ~ log-uniform [dtMin, dtMax]
)

// initRule is how a tensor is initialised: a kind and its parameter.
type initRule struct {
	kind initKind
	a    float32
}

// Bounds of the Mamba time step at initialisation (dt_b = softplus⁻¹(dt)).
const (
	dtMin = 1e-3
	dtMax = 1e-1
)

// Initialisation scales.
const (
	initStd = 0.02
)

// layout builds the canonical tensor table of a model, in forward order (the order of arch.Layout):
// tok, pos, then per layer "L<i>." norm.w, norm.b and the primitive's tensors, then norm_f.w,
// norm_f.b and head. Tensors a model does not have are skipped. It returns the table and the total
// element count.
func layout(s modelSpec) ([]Tensor, int) {
	var ts []Tensor
	off := 0
	add := func(name string, decay bool, r initRule, shape ...int) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		ts = append(ts, Tensor{Name: name, Shape: shape, Offset: off, Len: n, Decay: decay, init: r})
		off += n
	}
	d, V := s.width, s.vocab
	normal := initRule{initNormal, initStd}
	// Output projections (the matrices that write into the residual stream) are scaled down by
	// sqrt(2·layers), as in GPT-2.
	proj := initRule{initNormal, float32(initStd / fmath.Sqrt(float32(2*len(s.layers))))}
	ones, zeros := initRule{initConst, 1}, initRule{initConst, 0}

	add("tok", true, normal, V, d)
	if s.learnedPos {
		add("pos", true, normal, s.context, d)
	}
	for i, l := range s.layers {
		p := "L" + strconv.Itoa(i) + "."
		add(p+"norm.w", false, ones, d)
		if s.layerNorm {
			add(p+"norm.b", false, zeros, d)
		}
		switch l.kind {
		case KindAttention:
			add(p+"wqkv", true, normal, (l.heads+2*l.kv)*l.hd, d)
			add(p+"wo", true, proj, d, l.heads*l.hd)
		case KindSwiGLU:
			add(p+"w1", true, normal, l.hidden, d)
			add(p+"w3", true, normal, l.hidden, d)
			add(p+"w2", true, proj, d, l.hidden)
		case KindGELU:
			add(p+"w1", true, normal, l.hidden, d)
			add(p+"w2", true, proj, d, l.hidden)
		case KindMamba:
			di, R, N, K := l.di, l.dtrank, l.state, l.conv
			add(p+"in_proj", true, normal, 2*di, d)
			add(p+"conv_w", true, initRule{initUniform, 1 / fmath.Sqrt(float32(K))}, di, K)
			add(p+"conv_b", false, zeros, di)
			add(p+"x_proj", true, normal, R+2*N, di)
			add(p+"dt_w", true, initRule{initUniform, 1 / fmath.Sqrt(float32(R))}, di, R)
			add(p+"dt_b", false, initRule{kind: initDTBias}, di)
			add(p+"A_log", false, initRule{kind: initALog}, di, N)
			add(p+"D", false, ones, di)
			add(p+"out_proj", true, proj, d, di)
		}
	}
	add("norm_f.w", false, ones, d)
	if s.layerNorm {
		add("norm_f.b", false, zeros, d)
	}
	if s.untied {
		add("head", true, normal, V, d)
	}
	return ts, off
}

// cloneTensors returns a deep copy of a tensor table.
func cloneTensors(ts []Tensor) []Tensor {
	out := slices.Clone(ts)
	for i := range out {
		out[i].Shape = slices.Clone(out[i].Shape)
	}
	return out
}
