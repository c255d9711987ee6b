package arch

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/object"
)

// Arch is one model. The zero values of optional fields are filled in by Normalize.
type Arch struct {
	// Width is the model (residual stream) dimension.
	Width int `json:"width"`
	// Vocab is the vocabulary size. It comes from the evaluation protocol; 0 until bound to one.
	Vocab int `json:"vocab,omitempty"`
	// Norm is the normalisation used before every layer and at the end: "rms" or "layer".
	Norm string `json:"norm"`
	// Pos is the position scheme of the embedding: "none" (attention layers use rotary embeddings) or
	// "learned" (a learned table of Context rows added to the token embedding).
	Pos string `json:"pos"`
	// Context is the longest sequence the model accepts when Pos is "learned"; 0 otherwise.
	Context int `json:"context,omitempty"`
	// Untied, when true, gives the output head its own matrix instead of the token embedding's.
	Untied bool `json:"untied,omitempty"`
	// Layers is the sequence of blocks, input to output.
	Layers []Layer `json:"layers"`
}

// Layer is one block: a primitive and its integer options (objects never hold floats).
type Layer struct {
	// Kind is the primitive's canonical name, e.g. "attention", "swiglu", "gelu", "mamba".
	Kind string `json:"kind"`
	// Opts are the primitive's options, e.g. {"heads": 4, "kv": 2, "win": 64}. After Normalize every
	// option the primitive defines is present.
	Opts map[string]int `json:"opts,omitempty"`
}

// Defaults of the global settings.
const (
	DefaultWidth = 128
	DefaultNorm  = NormRMS
	DefaultPos   = PosNone
)

// Values of Arch.Norm and Arch.Pos.
const (
	NormRMS    = "rms"
	NormLayer  = "layer"
	PosNone    = "none"
	PosLearned = "learned"
)

// Bounds. Normalize rejects anything outside them, so they bound what a spec from a peer can make a
// node allocate.
const (
	MinWidth      = 16
	MaxWidth      = 4096
	WidthMultiple = 8 // Width must be a multiple of it.
	MinDepth      = 1
	MaxDepth      = 64
	MaxVocab      = 1 << 18
	MaxContext    = 1 << 16
	// MaxParams bounds the total parameter count (embeddings included).
	MaxParams = 1_000_000_000
	// MaxSpecLen bounds the notation's length in bytes; MaxJSONLen the JSON form's.
	MaxSpecLen = 16 << 10
	MaxJSONLen = 256 << 10
	// MaxNesting bounds the nesting of parenthesised groups in the notation.
	MaxNesting = 8
)

// Sentinel errors. Every error this package returns wraps one of them.
var (
	// ErrSyntax means the notation or the JSON is malformed.
	ErrSyntax = errors.New("arch: syntax error")
	// ErrUnknownPrimitive means a layer names no registered primitive.
	ErrUnknownPrimitive = errors.New("arch: unknown primitive")
	// ErrUnknownOption means a layer has an option its primitive does not define, or a global setting
	// is unknown.
	ErrUnknownOption = errors.New("arch: unknown option")
	// ErrBounds means a value (depth, width, vocabulary, an option, an input's size, a repetition)
	// is outside its bounds.
	ErrBounds = errors.New("arch: out of bounds")
	// ErrIndivisible means dimensions that must divide each other do not.
	ErrIndivisible = errors.New("arch: indivisible dimensions")
	// ErrTooManyParams means the model has more parameters than allowed (MaxParams or a Space's budget).
	ErrTooManyParams = errors.New("arch: too many parameters")
	// ErrInvalid means an inconsistent setting, e.g. an unknown norm or a context without learned
	// positions.
	ErrInvalid = errors.New("arch: invalid setting")
	// ErrNotNormal means an Arch that must be in normal form (an object from a peer) is not.
	ErrNotNormal = errors.New("arch: not in normal form")
	// ErrSpace means a search Space is invalid, or an Arch lies outside it.
	ErrSpace = errors.New("arch: outside the search space")
	// ErrNoCandidate means a search operator found no valid result within its attempts.
	ErrNoCandidate = errors.New("arch: no valid candidate")
)

// Error is a validation error located in a model: Layer is the layer's index (from 0), or -1 for a
// global setting; Option names the option or setting, when one is at fault. Err is one of the
// sentinels.
type Error struct {
	Layer  int
	Kind   string
	Option string
	Msg    string
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Layer >= 0 {
		fmt.Fprintf(&b, "layer %d", e.Layer)
		if e.Kind != "" {
			fmt.Fprintf(&b, " (%s)", e.Kind)
		}
		if e.Option != "" {
			fmt.Fprintf(&b, ", option %s", e.Option)
		}
	} else if e.Option != "" {
		fmt.Fprintf(&b, "setting %s", e.Option)
	} else {
		b.WriteString("model")
	}
	if e.Msg != "" {
		b.WriteString(": ")
		b.WriteString(e.Msg)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// OptionError returns an error about one option of a layer, for use by a primitive's Check: the
// layer index and kind are filled in by Normalize.
func OptionError(option string, sentinel error, format string, args ...any) error {
	return &Error{Layer: -1, Option: option, Msg: fmt.Sprintf(format, args...), Err: sentinel}
}

func globalErr(setting string, sentinel error, format string, args ...any) error {
	return &Error{Layer: -1, Option: setting, Msg: fmt.Sprintf(format, args...), Err: sentinel}
}

func layerErr(i int, kind, option string, sentinel error, format string, args ...any) error {
	return &Error{Layer: i, Kind: kind, Option: option, Msg: fmt.Sprintf(format, args...), Err: sentinel}
}

// Dims are the model-wide values that a primitive's defaults, checks and costs depend on.
type Dims struct {
	Width, Vocab, Context int
	Norm, Pos             string
}

// dims returns the global dimensions of a (normalised globals).
func (a Arch) dims() Dims {
	return Dims{Width: a.Width, Vocab: a.Vocab, Context: a.Context, Norm: a.Norm, Pos: a.Pos}
}

var normNames = map[string]string{"rms": NormRMS, "rmsnorm": NormRMS, "layer": NormLayer, "layernorm": NormLayer, "ln": NormLayer}
var posNames = map[string]string{"none": PosNone, "rope": PosNone, "learned": PosLearned, "abs": PosLearned}

// normalizeGlobals fills and checks the global settings of a (a copy).
func normalizeGlobals(a Arch) (Arch, error) {
	if a.Width == 0 {
		a.Width = DefaultWidth
	}
	if a.Norm == "" {
		a.Norm = DefaultNorm
	}
	if a.Pos == "" {
		a.Pos = DefaultPos
	}
	if n, ok := normNames[strings.ToLower(a.Norm)]; ok {
		a.Norm = n
	} else {
		return a, globalErr("norm", ErrInvalid, "%q is not one of rms, layer", clip(a.Norm))
	}
	if p, ok := posNames[strings.ToLower(a.Pos)]; ok {
		a.Pos = p
	} else {
		return a, globalErr("pos", ErrInvalid, "%q is not one of none, learned", clip(a.Pos))
	}
	if a.Width < MinWidth || a.Width > MaxWidth {
		return a, globalErr("width", ErrBounds, "%d is outside [%d, %d]", a.Width, MinWidth, MaxWidth)
	}
	if a.Width%WidthMultiple != 0 {
		return a, globalErr("width", ErrIndivisible, "%d is not a multiple of %d", a.Width, WidthMultiple)
	}
	if a.Vocab < 0 || a.Vocab > MaxVocab {
		return a, globalErr("vocab", ErrBounds, "%d is outside [0, %d]", a.Vocab, MaxVocab)
	}
	switch a.Pos {
	case PosLearned:
		if a.Context < 1 || a.Context > MaxContext {
			return a, globalErr("context", ErrBounds, "%d is outside [1, %d] (learned positions need a context)", a.Context, MaxContext)
		}
	default:
		if a.Context != 0 {
			return a, globalErr("context", ErrInvalid, "context %d is only meaningful with pos=learned", a.Context)
		}
	}
	return a, nil
}

// Unbound returns the normal form of a with its vocabulary unbound (Vocab 0): the architecture a
// task names, whatever vocabulary a protocol setting later binds it to. a is normalised first, so
// that a spelling with a vocabulary is checked against it before the vocabulary is dropped.
func Unbound(a Arch) (Arch, error) {
	a, err := Normalize(a)
	if err != nil {
		return Arch{}, err
	}
	a.Vocab = 0
	return Normalize(a)
}

// Normalize returns the normal form of a: global defaults filled in (width 128, norm rms, pos none),
// aliases replaced by canonical names, every option of every layer present (defaults filled in),
// options that have no effect set to their defaults, and everything validated against the bounds.
// Every spelling of one model has one normal form, hence one CID. Errors wrap the sentinels and are
// *Error values naming the layer and option at fault.
func Normalize(a Arch) (Arch, error) {
	n, err := normalizeGlobals(a)
	if err != nil {
		return Arch{}, err
	}
	if len(a.Layers) < MinDepth || len(a.Layers) > MaxDepth {
		return Arch{}, globalErr("depth", ErrBounds, "%d layers is outside [%d, %d]", len(a.Layers), MinDepth, MaxDepth)
	}
	d := n.dims()
	n.Layers = make([]Layer, len(a.Layers))
	for i, l := range a.Layers {
		nl, err := normLayer(d, l)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.Layer = i
				return Arch{}, e
			}
			return Arch{}, layerErr(i, l.Kind, "", ErrInvalid, "%v", err)
		}
		n.Layers[i] = nl
	}
	p := paramCount(n)
	if p > MaxParams {
		return Arch{}, globalErr("", ErrTooManyParams, "%d parameters, more than %d", p, MaxParams)
	}
	return n, nil
}

// normLayer resolves one layer's primitive and options under dims d.
func normLayer(d Dims, l Layer) (Layer, error) {
	p, ok := Lookup(l.Kind)
	if !ok {
		return Layer{}, &Error{Layer: -1, Msg: fmt.Sprintf("%q is not a primitive (known: %s)", clip(l.Kind), knownList()), Err: ErrUnknownPrimitive}
	}
	for k := range l.Opts {
		if p.option(k) == nil {
			// Report the first unknown option in sorted order, so the error does not depend on map order.
			for _, k := range sortedKeys(l.Opts) {
				if p.option(k) == nil {
					return Layer{}, &Error{Layer: -1, Kind: p.Name, Option: clip(k), Msg: "not an option of " + p.Name + " (it has " + p.optionNames() + ")", Err: ErrUnknownOption}
				}
			}
		}
	}
	o := make(map[string]int, len(p.Options))
	for _, op := range p.Options {
		v, given := l.Opts[op.Name]
		if !given {
			v = op.Default(d, o)
		}
		if v < op.Min || v > op.Max {
			what := "value"
			if !given {
				what = "default"
			}
			return Layer{}, &Error{Layer: -1, Kind: p.Name, Option: op.Name, Msg: fmt.Sprintf("%s %d is outside [%d, %d]", what, v, op.Min, op.Max), Err: ErrBounds}
		}
		o[op.Name] = v
	}
	if p.Check != nil {
		if err := p.Check(d, o); err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.Kind = p.Name
				return Layer{}, e
			}
			return Layer{}, &Error{Layer: -1, Kind: p.Name, Msg: err.Error(), Err: ErrInvalid}
		}
	}
	if p.Canon != nil {
		p.Canon(d, o)
	}
	return Layer{Kind: p.Name, Opts: o}, nil
}

// Validate reports whether a describes a valid model (after defaults are filled in).
func Validate(a Arch) error {
	_, err := Normalize(a)
	return err
}

// CheckNormal returns nil if a is valid and already in normal form, as every Arch object exchanged
// between nodes must be; otherwise an error wrapping ErrNotNormal or the validation error.
func CheckNormal(a Arch) error {
	n, err := Normalize(a)
	if err != nil {
		return err
	}
	if !Equal(a, n) {
		return fmt.Errorf("%w: normal form is %s", ErrNotNormal, Print(n))
	}
	return nil
}

// WithVocab returns a with its vocabulary bound to v (the evaluation protocol's), normalised.
func WithVocab(a Arch, v int) (Arch, error) {
	a.Vocab = v
	return Normalize(a)
}

// CID returns the content identifier of a's normal form: object.CID of the canonical CBOR encoding.
func CID(a Arch) (cid.Cid, error) {
	n, err := Normalize(a)
	if err != nil {
		return cid.Undef, err
	}
	return object.CID(n)
}

// Encode returns the canonical object bytes of a's normal form and their CID.
func Encode(a Arch) ([]byte, cid.Cid, error) {
	n, err := Normalize(a)
	if err != nil {
		return nil, cid.Undef, err
	}
	return object.Encode(n)
}

// Decode decodes an Arch object received from a peer: canonical CBOR (object.Unmarshal) that must be
// a valid Arch in normal form. It returns the Arch and its CID.
func Decode(b []byte) (Arch, cid.Cid, error) {
	var a Arch
	if err := object.Unmarshal(b, &a); err != nil {
		return Arch{}, cid.Undef, fmt.Errorf("%w: %w", ErrSyntax, err)
	}
	if err := CheckNormal(a); err != nil {
		return Arch{}, cid.Undef, err
	}
	return a, object.ObjectCID(b), nil
}

// Equal reports whether a and b are identical (no normalisation: compare normal forms for model
// identity).
func Equal(a, b Arch) bool {
	if a.Width != b.Width || a.Vocab != b.Vocab || a.Norm != b.Norm || a.Pos != b.Pos ||
		a.Context != b.Context || a.Untied != b.Untied || len(a.Layers) != len(b.Layers) {
		return false
	}
	for i := range a.Layers {
		if !a.Layers[i].Equal(b.Layers[i]) {
			return false
		}
	}
	return true
}

// Equal reports whether l and m have the same kind and options.
func (l Layer) Equal(m Layer) bool {
	if l.Kind != m.Kind || len(l.Opts) != len(m.Opts) {
		return false
	}
	for k, v := range l.Opts {
		if w, ok := m.Opts[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// clone returns a deep copy of l.
func (l Layer) clone() Layer {
	c := Layer{Kind: l.Kind}
	if l.Opts != nil {
		c.Opts = make(map[string]int, len(l.Opts))
		for k, v := range l.Opts {
			c.Opts[k] = v
		}
	}
	return c
}

// clone returns a deep copy of a.
func (a Arch) clone() Arch {
	c := a
	c.Layers = make([]Layer, len(a.Layers))
	for i, l := range a.Layers {
		c.Layers[i] = l.clone()
	}
	return c
}

// Strip returns a with every option that equals its default removed (the form Print shows). It is the
// inverse of filling defaults: Normalize(Strip(a)) equals Normalize(a). Changing a global of a
// stripped model (Resize) re-derives the defaulted options. Layers of unknown kinds are kept as they
// are.
func Strip(a Arch) Arch {
	g, err := normalizeGlobals(a)
	if err != nil {
		g = a
	}
	d := g.dims()
	s := a.clone()
	for i, l := range s.Layers {
		s.Layers[i] = stripLayer(d, l)
	}
	return s
}

// stripLayer removes the options of l equal to their defaults under d. The defaults of later options
// depend on the resolved values of earlier ones, so resolution walks the registry order.
func stripLayer(d Dims, l Layer) Layer {
	p, ok := Lookup(l.Kind)
	if !ok {
		return l.clone()
	}
	out := Layer{Kind: p.Name}
	o := make(map[string]int, len(p.Options))
	for _, op := range p.Options {
		def := op.Default(d, o)
		v, given := l.Opts[op.Name]
		if !given {
			v = def
		}
		if given && v != def {
			if out.Opts == nil {
				out.Opts = map[string]int{}
			}
			out.Opts[op.Name] = v
		}
		o[op.Name] = v
	}
	// Unknown options stay (so that validation still reports them).
	for k, v := range l.Opts {
		if p.option(k) == nil {
			if out.Opts == nil {
				out.Opts = map[string]int{}
			}
			out.Opts[k] = v
		}
	}
	return out
}

func sortedKeys(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// clip shortens a string from input for an error message.
func clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

// Kinds returns the primitive kinds used in a, in order of first use.
func (a Arch) Kinds() []string {
	var ks []string
	for _, l := range a.Layers {
		if !slices.Contains(ks, l.Kind) {
			ks = append(ks, l.Kind)
		}
	}
	return ks
}
