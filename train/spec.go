package train

import (
	"fmt"

	"github.com/airanode/airanode/arch"
)

// Primitive kinds the engine builds (arch.Layer.Kind after normalisation).
const (
	KindAttention = "attention"
	KindSwiGLU    = "swiglu"
	KindGELU      = "gelu"
	KindMamba     = "mamba"
)

// Option names read from arch.Layer.Opts (after arch.Normalize every option a primitive defines is
// present). They are collected here so that the mapping between the architecture language and the
// engine lives in one place.
const (
	optHeads   = "heads"  // attention: query heads H
	optKV      = "kv"     // attention: key/value heads KVH (H % KVH == 0)
	optWin     = "win"    // attention: sliding window, 0 = full causal
	optRot     = "rot"    // attention: rotary dimensions per head, 0 = none
	optRBase   = "rbase"  // attention: rotary base
	optHidden  = "hidden" // swiglu, gelu: inner width
	optState   = "state"  // mamba: state size N
	optExpand  = "expand" // mamba: di = expand·width
	optConv    = "conv"   // mamba: causal conv width K
	optDTRank  = "dtrank" // mamba: rank R of the delta projection
	normRMS    = "rms"
	normLayer  = "layer"
	posNone    = "none"
	posLearned = "learned"
)

// layerSpec is one layer's resolved dimensions.
type layerSpec struct {
	kind string
	// attention
	heads, kv, hd, win, rot int
	rbase                   float32
	// swiglu, gelu
	hidden int
	// mamba
	di, state, conv, dtrank int
}

// modelSpec is an architecture resolved into the dimensions the engine needs.
type modelSpec struct {
	vocab, width, context int
	layerNorm             bool // LayerNorm instead of RMSNorm
	learnedPos            bool
	untied                bool
	layers                []layerSpec
}

// opt returns a required option of layer i.
func opt(i int, l arch.Layer, name string) (int, error) {
	v, ok := l.Opts[name]
	if !ok {
		return 0, fmt.Errorf("%w: layer %d (%s) lacks option %q (not normalised?)", ErrArch, i, l.Kind, name)
	}
	return v, nil
}

// resolve checks the parts of an architecture the engine depends on and derives every dimension.
// The architecture must already be normalised and validated by package arch; resolve re-checks
// what would otherwise make a kernel index out of range, so a bad Arch gives an error, never a panic.
func resolve(a arch.Arch) (modelSpec, error) {
	s := modelSpec{vocab: a.Vocab, width: a.Width, context: a.Context, untied: a.Untied}
	if a.Vocab <= 0 {
		return s, fmt.Errorf("%w: vocabulary size not set", ErrArch)
	}
	if a.Width <= 0 {
		return s, fmt.Errorf("%w: width %d", ErrArch, a.Width)
	}
	if len(a.Layers) == 0 {
		return s, fmt.Errorf("%w: no layers", ErrArch)
	}
	switch a.Norm {
	case normRMS:
	case normLayer:
		s.layerNorm = true
	default:
		return s, fmt.Errorf("%w: unknown norm %q", ErrArch, a.Norm)
	}
	switch a.Pos {
	case posNone:
	case posLearned:
		if a.Context <= 0 {
			return s, fmt.Errorf("%w: learned positions need a context length", ErrArch)
		}
		s.learnedPos = true
	default:
		return s, fmt.Errorf("%w: unknown position scheme %q", ErrArch, a.Pos)
	}
	d := a.Width
	for i, l := range a.Layers {
		ls := layerSpec{kind: l.Kind}
		var err error
		get := func(name string) int {
			if err != nil {
				return 0
			}
			var v int
			v, err = opt(i, l, name)
			return v
		}
		switch l.Kind {
		case KindAttention:
			ls.heads, ls.kv, ls.win, ls.rot = get(optHeads), get(optKV), get(optWin), get(optRot)
			rbase := get(optRBase)
			if err != nil {
				return s, err
			}
			if ls.heads <= 0 || ls.kv <= 0 || ls.heads%ls.kv != 0 || d%ls.heads != 0 {
				return s, fmt.Errorf("%w: layer %d: width %d, heads %d, kv %d", ErrArch, i, d, ls.heads, ls.kv)
			}
			ls.hd = d / ls.heads
			if ls.win < 0 || ls.rot < 0 || ls.rot > ls.hd || ls.rot%2 != 0 {
				return s, fmt.Errorf("%w: layer %d: win %d, rot %d for head size %d", ErrArch, i, ls.win, ls.rot, ls.hd)
			}
			if ls.rot > 0 && rbase <= 1 {
				return s, fmt.Errorf("%w: layer %d: rotary base %d", ErrArch, i, rbase)
			}
			ls.rbase = float32(rbase)
		case KindSwiGLU, KindGELU:
			ls.hidden = get(optHidden)
			if err != nil {
				return s, err
			}
			if ls.hidden <= 0 {
				return s, fmt.Errorf("%w: layer %d: hidden %d", ErrArch, i, ls.hidden)
			}
		case KindMamba:
			expand := get(optExpand)
			ls.state, ls.conv, ls.dtrank = get(optState), get(optConv), get(optDTRank)
			if err != nil {
				return s, err
			}
			ls.di = expand * d
			if expand <= 0 || ls.state <= 0 || ls.conv <= 0 || ls.dtrank <= 0 {
				return s, fmt.Errorf("%w: layer %d: expand %d, state %d, conv %d, dtrank %d",
					ErrArch, i, expand, ls.state, ls.conv, ls.dtrank)
			}
		default:
			return s, fmt.Errorf("%w: layer %d: primitive %q has no engine implementation", ErrArch, i, l.Kind)
		}
		s.layers = append(s.layers, ls)
	}
	return s, nil
}
