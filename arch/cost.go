package arch

import (
	"fmt"
	"strconv"
)

// Bounds on the cost model's arguments.
const (
	MaxSeq   = 1 << 20 // longest sequence length T
	MaxBatch = 1 << 16 // largest batch B
	MaxRows  = 1 << 24 // largest B·T
)

// BytesPerFloat is the size of every parameter, gradient, moment and activation (fp32).
const BytesPerFloat = 4

// Layout returns every parameter tensor of a (normalised first) in forward order, with the names the
// engine's checkpoints and the PyTorch export use: tok [V, d]; pos [Context, d] (learned positions);
// per layer i: L<i>.norm.w [d] (+ L<i>.norm.b [d] for norm=layer) then the primitive's tensors
// L<i>.<name>; the final norm norm_f.w (+ norm_f.b); head [V, d] when Untied.
func Layout(a Arch) ([]Tensor, error) {
	n, err := Normalize(a)
	if err != nil {
		return nil, err
	}
	return layout(n), nil
}

// layout is Layout for a normalised arch.
func layout(n Arch) []Tensor {
	d := n.dims()
	ts := []Tensor{{Name: "tok", Shape: []int{n.Vocab, n.Width}}}
	if n.Pos == PosLearned {
		ts = append(ts, Tensor{Name: "pos", Shape: []int{n.Context, n.Width}})
	}
	for i, l := range n.Layers {
		pre := "L" + strconv.Itoa(i) + "."
		ts = append(ts, Tensor{Name: pre + "norm.w", Shape: []int{n.Width}})
		if n.Norm == NormLayer {
			ts = append(ts, Tensor{Name: pre + "norm.b", Shape: []int{n.Width}})
		}
		p, _ := Lookup(l.Kind)
		for _, t := range p.Params(d, l.Opts) {
			t.Name = pre + t.Name
			ts = append(ts, t)
		}
	}
	ts = append(ts, Tensor{Name: "norm_f.w", Shape: []int{n.Width}})
	if n.Norm == NormLayer {
		ts = append(ts, Tensor{Name: "norm_f.b", Shape: []int{n.Width}})
	}
	if n.Untied {
		ts = append(ts, Tensor{Name: "head", Shape: []int{n.Vocab, n.Width}})
	}
	return ts
}

// paramCount counts the parameters of a normalised arch without building the layout. Every value is
// bounded by then, so int64 cannot overflow.
func paramCount(n Arch) int64 {
	d := n.dims()
	w, V := int64(n.Width), int64(n.Vocab)
	normP := w
	if n.Norm == NormLayer {
		normP = 2 * w
	}
	p := V*w + normP // tok, final norm
	if n.Pos == PosLearned {
		p += int64(n.Context) * w
	}
	if n.Untied {
		p += V * w
	}
	for _, l := range n.Layers {
		p += normP + layerParams(d, l)
	}
	return p
}

func layerParams(d Dims, l Layer) int64 {
	pr, _ := Lookup(l.Kind)
	var p int64
	for _, t := range pr.Params(d, l.Opts) {
		p += t.Size()
	}
	return p
}

// Params returns the exact number of parameters of a: embeddings (tok, and pos for learned
// positions), every layer's pre-norm and tensors, the final norm, and the head when untied. With the
// vocabulary unbound (0) the embeddings count zero rows.
func Params(a Arch) (int64, error) {
	n, err := Normalize(a)
	if err != nil {
		return 0, err
	}
	return paramCount(n), nil
}

// Part is the cost of one part of a model.
type Part struct {
	// Name is "embed", "L<i> <kind>" or "head".
	Name string `json:"name"`
	// Params counts the part's parameters (a layer's include its pre-norm; the head's the final norm
	// and, when untied, the head matrix).
	Params int64 `json:"params"`
	// Forward is the part's forward FLOPs for one sequence of Seq tokens.
	Forward int64 `json:"forward_flops"`
}

// Cost is the compute cost of a model at one sequence length. FLOPs count 2 per multiply-add of the
// matmuls, attention's QKᵀ and PV products, and Mamba's convolution and scan; elementwise operations
// (norms, activations, softmax, rotary, loss) and the optimizer are not counted. Training is 3x the
// forward (the backward computes input and weight gradients: 2x).
type Cost struct {
	Seq    int    `json:"seq"`
	Params int64  `json:"params"`
	Parts  []Part `json:"parts"`
	// Forward and Train are FLOPs for one sequence of Seq tokens.
	Forward int64 `json:"forward_flops"`
	Train   int64 `json:"train_flops"`
}

// TrainPerToken is the training FLOPs per token at Seq.
func (c Cost) TrainPerToken() float64 { return float64(c.Train) / float64(c.Seq) }

// ForwardPerToken is the forward FLOPs per token at Seq.
func (c Cost) ForwardPerToken() float64 { return float64(c.Forward) / float64(c.Seq) }

// Estimate returns the parameters and FLOPs of a (normalised first) at sequence length seq. With
// learned positions seq may not exceed the context.
func Estimate(a Arch, seq int) (Cost, error) {
	n, err := Normalize(a)
	if err != nil {
		return Cost{}, err
	}
	if err := checkSeq(n, seq); err != nil {
		return Cost{}, err
	}
	d := n.dims()
	T, w, V := int64(seq), int64(n.Width), int64(n.Vocab)
	normP := w
	if n.Norm == NormLayer {
		normP = 2 * w
	}
	c := Cost{Seq: seq, Params: paramCount(n)}
	embed := Part{Name: "embed", Params: V * w}
	if n.Pos == PosLearned {
		embed.Params += int64(n.Context) * w
	}
	c.Parts = append(c.Parts, embed)
	for i, l := range n.Layers {
		p, _ := Lookup(l.Kind)
		c.Parts = append(c.Parts, Part{
			Name:    "L" + strconv.Itoa(i) + " " + l.Kind,
			Params:  normP + layerParams(d, l),
			Forward: p.Forward(d, l.Opts, T),
		})
	}
	head := Part{Name: "head", Params: normP, Forward: 2 * T * V * w}
	if n.Untied {
		head.Params += V * w
	}
	c.Parts = append(c.Parts, head)
	for _, p := range c.Parts {
		c.Forward += p.Forward
	}
	c.Train = 3 * c.Forward
	return c, nil
}

func checkSeq(n Arch, seq int) error {
	if seq < 1 || seq > MaxSeq {
		return globalErr("seq", ErrBounds, "%d is outside [1, %d]", seq, MaxSeq)
	}
	if n.Pos == PosLearned && seq > n.Context {
		return globalErr("seq", ErrBounds, "%d exceeds the context %d of learned positions", seq, n.Context)
	}
	return nil
}

// Memory is the training memory of a model in bytes (fp32 throughout).
type Memory struct {
	// Weights holds the parameters.
	Weights int64 `json:"weights"`
	// Optimizer holds the gradients and AdamW's two moments: 3x the weights.
	Optimizer int64 `json:"optimizer"`
	// Activations holds what the forward pass keeps for the backward at the batch shape (B, T):
	// the embedding output, every layer's input, norm output and statistics and the primitive's
	// saved tensors, the final norm's, the logits and the per-row losses. Kernel workspaces are not
	// included.
	Activations int64 `json:"activations"`
}

// Total is the sum of the parts.
func (m Memory) Total() int64 { return m.Weights + m.Optimizer + m.Activations }

// MemoryAt returns the training memory of a (normalised first) for batches of B sequences of T
// tokens.
func MemoryAt(a Arch, B, T int) (Memory, error) {
	n, err := Normalize(a)
	if err != nil {
		return Memory{}, err
	}
	if err := checkSeq(n, T); err != nil {
		return Memory{}, err
	}
	if B < 1 || B > MaxBatch || int64(B)*int64(T) > MaxRows {
		return Memory{}, globalErr("batch", ErrBounds, "batch %d of %d tokens: B must be in [1, %d] and B·T at most %d", B, T, MaxBatch, MaxRows)
	}
	d := n.dims()
	P := paramCount(n)
	R, w, V := int64(B)*int64(T), int64(n.Width), int64(n.Vocab)
	stats := int64(1) // rstd per row
	if n.Norm == NormLayer {
		stats = 2 // mean and rstd
	}
	floats := R * w // embedding output
	for _, l := range n.Layers {
		p, _ := Lookup(l.Kind)
		// layer input, norm output and statistics, then the primitive's own.
		floats += R*w + R*w + R*stats + int64(B)*p.Saved(d, l.Opts, int64(T))
	}
	floats += R*w + R*w + R*stats // final norm: input, output, statistics
	floats += R*V + R             // logits (their gradient overwrites them), losses
	return Memory{
		Weights:     BytesPerFloat * P,
		Optimizer:   3 * BytesPerFloat * P,
		Activations: BytesPerFloat * floats,
	}, nil
}

// String formats a count with thousands separators, e.g. 854,272.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// Summary is a one-line human description of a's size at sequence length seq: parameters and
// training FLOPs per token.
func Summary(a Arch, seq int) (string, error) {
	c, err := Estimate(a, seq)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s params, %s train FLOPs/token at T=%d", thousands(c.Params), thousands(int64(c.TrainPerToken()+0.5)), seq), nil
}
