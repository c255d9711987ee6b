package torchexport

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/airanode/airanode/arch"
)

// Sentinel errors.
var (
	// ErrArch means the architecture cannot be exported: it does not normalise, has no vocabulary, or
	// uses a primitive the exporter does not implement.
	ErrArch = errors.New("torchexport: cannot export architecture")
)

//go:embed model.py.tmpl
var template string

// Option names of the primitives the exporter implements (arch.Layer.Opts after normalisation).
const (
	kindAttention = "attention"
	kindSwiGLU    = "swiglu"
	kindGELU      = "gelu"
	kindMamba     = "mamba"
)

// plan is the architecture with every size resolved, as the Python module reads it (PLAN).
type plan struct {
	Width   int         `json:"width"`
	Vocab   int         `json:"vocab"`
	Norm    string      `json:"norm"`
	Pos     string      `json:"pos"`
	Context int         `json:"context"`
	Untied  bool        `json:"untied"`
	Layers  []layerPlan `json:"layers"`
}

// layerPlan is one layer's resolved sizes; only the fields of its kind are set.
type layerPlan struct {
	Kind string `json:"kind"`
	// attention
	Heads *int `json:"heads,omitempty"`
	KV    *int `json:"kv,omitempty"`
	HD    *int `json:"hd,omitempty"`
	Win   *int `json:"win,omitempty"`
	Rot   *int `json:"rot,omitempty"`
	RBase *int `json:"rbase,omitempty"`
	// swiglu, gelu
	Hidden *int `json:"hidden,omitempty"`
	// mamba
	Inner  *int `json:"inner,omitempty"`
	DTRank *int `json:"dtrank,omitempty"`
	State  *int `json:"state,omitempty"`
	Conv   *int `json:"conv,omitempty"`
}

// Generate returns the Python source of a PyTorch module for a. The architecture is normalised first
// and must have its vocabulary set (arch.WithVocab). The output depends only on the normal form of
// a, so equal architectures give equal files.
func Generate(a arch.Arch) ([]byte, error) {
	n, err := arch.Normalize(a)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrArch, err)
	}
	if n.Vocab <= 0 {
		return nil, fmt.Errorf("%w: vocabulary size not set", ErrArch)
	}
	p, err := makePlan(n)
	if err != nil {
		return nil, err
	}
	want, err := arch.Layout(n)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrArch, err)
	}
	if err := sameTensors(p.layout(), want); err != nil {
		return nil, err
	}
	id, err := arch.CID(n)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrArch, err)
	}
	archJSON, err := json.Marshal(n)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrArch, err)
	}
	planJSON, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrArch, err)
	}
	layoutJSON, err := json.Marshal(want)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrArch, err)
	}
	title := "airanode architecture " + pyText(arch.Print(n)) + "\n\nCID " + id.String()
	r := strings.NewReplacer(
		"@@TITLE@@", title,
		"@@ARCH_JSON@@", pyRaw(string(archJSON)),
		"@@PLAN_JSON@@", pyRaw(string(planJSON)),
		"@@LAYOUT_JSON@@", pyRaw(string(layoutJSON)),
	)
	return []byte(r.Replace(template)), nil
}

// pyText makes s safe inside a Python triple-quoted docstring.
func pyText(s string) string {
	s = strings.ReplaceAll(s, `\`, `/`)
	return strings.ReplaceAll(s, `"""`, `'''`)
}

// pyRaw makes JSON text safe inside the Python raw triple-quoted string literals that hold it, which
// only a single quote can end early: JSON has quotes only inside its strings, where they may be
// written as the escape \u0027 that json.loads decodes back. (JSON text never ends in a backslash,
// so nothing escapes the closing quotes.)
func pyRaw(s string) string {
	return strings.NewReplacer(`'`, `\u0027`).Replace(s)
}

func ptr(v int) *int { return &v }

// makePlan resolves the sizes of a normalised architecture.
func makePlan(a arch.Arch) (plan, error) {
	p := plan{Width: a.Width, Vocab: a.Vocab, Norm: a.Norm, Pos: a.Pos, Context: a.Context, Untied: a.Untied}
	if a.Pos != arch.PosLearned {
		p.Context = 0
	}
	for i, l := range a.Layers {
		var err error
		get := func(name string) *int {
			v, ok := l.Opts[name]
			if !ok && err == nil {
				err = fmt.Errorf("%w: layer %d (%s) lacks option %q", ErrArch, i, l.Kind, name)
			}
			return ptr(v)
		}
		lp := layerPlan{Kind: l.Kind}
		switch l.Kind {
		case kindAttention:
			lp.Heads, lp.KV, lp.Win, lp.Rot, lp.RBase = get("heads"), get("kv"), get("win"), get("rot"), get("rbase")
			if err == nil && (*lp.Heads <= 0 || a.Width%*lp.Heads != 0 || *lp.KV <= 0 || *lp.Heads%*lp.KV != 0) {
				err = fmt.Errorf("%w: layer %d: width %d, heads %d, kv %d", ErrArch, i, a.Width, *lp.Heads, *lp.KV)
			}
			if err == nil {
				lp.HD = ptr(a.Width / *lp.Heads)
			}
		case kindSwiGLU, kindGELU:
			lp.Hidden = get("hidden")
		case kindMamba:
			expand := get("expand")
			lp.DTRank, lp.State, lp.Conv = get("dtrank"), get("state"), get("conv")
			lp.Inner = ptr(*expand * a.Width)
		default:
			err = fmt.Errorf("%w: layer %d: primitive %q has no PyTorch implementation", ErrArch, i, l.Kind)
		}
		if err != nil {
			return p, err
		}
		p.Layers = append(p.Layers, lp)
	}
	return p, nil
}

// layout lists the tensors the Python module creates, in arch.Layout's order.
func (p plan) layout() []arch.Tensor {
	d, V := p.Width, p.Vocab
	t := func(name string, shape ...int) arch.Tensor { return arch.Tensor{Name: name, Shape: shape} }
	norm := func(prefix string) []arch.Tensor {
		ts := []arch.Tensor{t(prefix+".w", d)}
		if p.Norm == arch.NormLayer {
			ts = append(ts, t(prefix+".b", d))
		}
		return ts
	}
	ts := []arch.Tensor{t("tok", V, d)}
	if p.Pos == arch.PosLearned {
		ts = append(ts, t("pos", p.Context, d))
	}
	for i, l := range p.Layers {
		pre := fmt.Sprintf("L%d.", i)
		ts = append(ts, norm(pre+"norm")...)
		switch l.Kind {
		case kindAttention:
			H, KVH, hd := *l.Heads, *l.KV, *l.HD
			ts = append(ts, t(pre+"wqkv", (H+2*KVH)*hd, d), t(pre+"wo", d, H*hd))
		case kindSwiGLU:
			h := *l.Hidden
			ts = append(ts, t(pre+"w1", h, d), t(pre+"w3", h, d), t(pre+"w2", d, h))
		case kindGELU:
			h := *l.Hidden
			ts = append(ts, t(pre+"w1", h, d), t(pre+"w2", d, h))
		case kindMamba:
			di, R, N, K := *l.Inner, *l.DTRank, *l.State, *l.Conv
			ts = append(ts,
				t(pre+"in_proj", 2*di, d), t(pre+"conv_w", di, K), t(pre+"conv_b", di),
				t(pre+"x_proj", R+2*N, di), t(pre+"dt_w", di, R), t(pre+"dt_b", di),
				t(pre+"A_log", di, N), t(pre+"D", di), t(pre+"out_proj", d, di))
		}
	}
	ts = append(ts, norm("norm_f")...)
	if p.Untied {
		ts = append(ts, t("head", V, d))
	}
	return ts
}

// sameTensors checks the exporter's tensors against arch.Layout, the project's published parameter
// list, so that a change in one is caught before a file with the wrong parameters is written.
func sameTensors(got, want []arch.Tensor) error {
	if len(got) != len(want) {
		return fmt.Errorf("%w: exporter has %d tensors, arch.Layout %d", ErrArch, len(got), len(want))
	}
	for i := range want {
		if got[i].Name != want[i].Name || !slices.Equal(got[i].Shape, want[i].Shape) {
			return fmt.Errorf("%w: tensor %d is %s%v in the exporter, %s%v in arch.Layout",
				ErrArch, i, got[i].Name, got[i].Shape, want[i].Name, want[i].Shape)
		}
	}
	return nil
}
