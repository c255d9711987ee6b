package arch

import (
	"fmt"
	"slices"
	"strings"
)

// Space is a search space: what search operators may produce. Zero fields mean "no constraint
// beyond the global bounds". It holds integers and strings only, so it can be part of an object.
type Space struct {
	// Primitives are the allowed primitives (names, letters or aliases); empty allows every
	// registered one.
	Primitives []string `json:"primitives,omitempty"`
	// MinDepth and MaxDepth bound the number of layers (default 1 and MaxDepth).
	MinDepth int `json:"min_depth,omitempty"`
	MaxDepth int `json:"max_depth,omitempty"`
	// MinWidth and MaxWidth bound the width; both 0 leaves it free (and mutations keep it), else
	// both must be set. Mutations change the width only when MinWidth < MaxWidth.
	MinWidth int `json:"min_width,omitempty"`
	MaxWidth int `json:"max_width,omitempty"`
	// MaxParams is the parameter budget (default MaxParams), embeddings included.
	MaxParams int64 `json:"max_params,omitempty"`
	// Vocab, when set, is the vocabulary every member is bound to (the evaluation protocol's).
	Vocab int `json:"vocab,omitempty"`
}

// space is a Space resolved against the registry and the global bounds.
type space struct {
	prims      []*Primitive // registry order (by name), so the spelling of Primitives does not matter
	minD, maxD int
	minW, maxW int // 0, 0 when free
	maxP       int64
	vocab      int
}

func spaceErr(format string, args ...any) error {
	return fmt.Errorf("%w: invalid space: %s", ErrSpace, fmt.Sprintf(format, args...))
}

func (sp Space) resolve() (space, error) {
	s := space{minD: sp.MinDepth, maxD: sp.MaxDepth, minW: sp.MinWidth, maxW: sp.MaxWidth, maxP: sp.MaxParams, vocab: sp.Vocab}
	if len(sp.Primitives) > 64 {
		return s, spaceErr("%d primitives listed", len(sp.Primitives))
	}
	want := map[string]bool{}
	for _, name := range sp.Primitives {
		p, ok := Lookup(name)
		if !ok {
			return s, fmt.Errorf("%w: space lists %q: %w", ErrSpace, clip(name), ErrUnknownPrimitive)
		}
		want[p.Name] = true
	}
	for _, p := range Primitives() {
		if len(want) == 0 || want[p.Name] {
			s.prims = append(s.prims, p)
		}
	}
	if s.minD == 0 {
		s.minD = MinDepth
	}
	if s.maxD == 0 {
		s.maxD = MaxDepth
	}
	if s.minD < MinDepth || s.maxD > MaxDepth || s.minD > s.maxD {
		return s, spaceErr("depth range [%d, %d] is not within [%d, %d]", s.minD, s.maxD, MinDepth, MaxDepth)
	}
	if (s.minW == 0) != (s.maxW == 0) {
		return s, spaceErr("set both min_width and max_width, or neither")
	}
	if s.minW != 0 && (s.minW < MinWidth || s.maxW > MaxWidth || s.minW > s.maxW || roundUp(s.minW, WidthMultiple) > s.maxW) {
		return s, spaceErr("width range [%d, %d] holds no multiple of %d within [%d, %d]", s.minW, s.maxW, WidthMultiple, MinWidth, MaxWidth)
	}
	if s.maxP == 0 {
		s.maxP = MaxParams
	}
	if s.maxP < 1 || s.maxP > MaxParams {
		return s, spaceErr("max_params %d is not within [1, %d]", s.maxP, int64(MaxParams))
	}
	if s.vocab < 0 || s.vocab > MaxVocab {
		return s, spaceErr("vocab %d is not within [0, %d]", s.vocab, MaxVocab)
	}
	return s, nil
}

// Validate checks the space itself.
func (sp Space) Validate() error {
	_, err := sp.resolve()
	return err
}

// Contains returns nil if a is valid and lies in the space; otherwise an error wrapping ErrSpace (or
// the validation error).
func (sp Space) Contains(a Arch) error {
	s, err := sp.resolve()
	if err != nil {
		return err
	}
	n, err := Normalize(a)
	if err != nil {
		return err
	}
	return s.contains(n)
}

// contains checks a normalised arch.
func (s space) contains(n Arch) error {
	for i, l := range n.Layers {
		if !slices.ContainsFunc(s.prims, func(p *Primitive) bool { return p.Name == l.Kind }) {
			return fmt.Errorf("%w: layer %d is %s, not one of %s", ErrSpace, i, l.Kind, s.primNames())
		}
	}
	if d := len(n.Layers); d < s.minD || d > s.maxD {
		return fmt.Errorf("%w: %d layers, want [%d, %d]", ErrSpace, d, s.minD, s.maxD)
	}
	if s.minW != 0 && (n.Width < s.minW || n.Width > s.maxW) {
		return fmt.Errorf("%w: width %d, want [%d, %d]", ErrSpace, n.Width, s.minW, s.maxW)
	}
	if s.vocab != 0 && n.Vocab != s.vocab {
		return fmt.Errorf("%w: vocabulary %d, want %d", ErrSpace, n.Vocab, s.vocab)
	}
	if p := paramCount(n); p > s.maxP {
		return fmt.Errorf("%w: %d parameters over the budget %d: %w", ErrSpace, p, s.maxP, ErrTooManyParams)
	}
	return nil
}

func (s space) primNames() string {
	names := make([]string, len(s.prims))
	for i, p := range s.prims {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

// maxAttempts bounds the retries of the randomised operators.
const maxAttempts = 128

// Mutation describes what Mutate changed.
type Mutation struct {
	// Op is "replace", "insert", "delete", "swap", "option" or "width".
	Op string `json:"op"`
	// Layer is the index of the layer changed (the first one for a swap; -1 for width).
	Layer int `json:"layer"`
	// Detail is a human description, e.g. "layer 2: swiglu -> mamba".
	Detail string `json:"detail"`
}

func (m Mutation) String() string { return m.Op + ": " + m.Detail }

// Mutate returns a random neighbour of a within sp, determined by seed: replace a layer by a
// different primitive (default options), insert one, delete one, swap two different layers, change one option
// of one layer to another valid value, or (when the space's width range allows) change the width,
// keeping explicit options and re-deriving defaulted ones. The result is always normalised, valid,
// inside sp and different from a; when no such neighbour is found within a bounded number of
// attempts it returns ErrNoCandidate. a itself need not lie in sp.
func Mutate(sp Space, a Arch, seed uint64) (Arch, Mutation, error) {
	s, err := sp.resolve()
	if err != nil {
		return Arch{}, Mutation{}, err
	}
	n, err := Normalize(a)
	if err != nil {
		return Arch{}, Mutation{}, err
	}
	r := NewRand(seed)
	d := n.dims()
	stripped := Strip(n)
	for range maxAttempts {
		L := len(n.Layers)
		ops := []string{"replace", "option"}
		if L < s.maxD {
			ops = append(ops, "insert")
		}
		if L > s.minD {
			ops = append(ops, "delete")
		}
		if L >= 2 {
			ops = append(ops, "swap")
		}
		if s.minW < s.maxW {
			ops = append(ops, "width")
		}
		op := ops[r.Intn(len(ops))]
		child := stripped.clone()
		var m Mutation
		switch op {
		case "replace":
			i := r.Intn(L)
			others := slices.DeleteFunc(slices.Clone(s.prims), func(p *Primitive) bool { return p.Name == n.Layers[i].Kind })
			if len(others) == 0 {
				continue
			}
			p := others[r.Intn(len(others))]
			m = Mutation{Op: op, Layer: i, Detail: fmt.Sprintf("layer %d: %s -> %s", i, n.Layers[i].Kind, p.Name)}
			child.Layers[i] = Layer{Kind: p.Name}
		case "insert":
			i, p := r.Intn(L+1), s.prims[r.Intn(len(s.prims))]
			m = Mutation{Op: op, Layer: i, Detail: fmt.Sprintf("layer %d: insert %s", i, p.Name)}
			child.Layers = slices.Insert(child.Layers, i, Layer{Kind: p.Name})
		case "delete":
			i := r.Intn(L)
			m = Mutation{Op: op, Layer: i, Detail: fmt.Sprintf("layer %d: delete %s", i, n.Layers[i].Kind)}
			child.Layers = slices.Delete(child.Layers, i, i+1)
		case "swap":
			i, j := r.Intn(L), r.Intn(L-1)
			if j >= i {
				j++
			}
			i, j = min(i, j), max(i, j)
			m = Mutation{Op: op, Layer: i, Detail: fmt.Sprintf("layers %d and %d: swap %s and %s", i, j, n.Layers[i].Kind, n.Layers[j].Kind)}
			child.Layers[i], child.Layers[j] = child.Layers[j], child.Layers[i]
		case "option":
			i := r.Intn(L)
			l, desc, ok := mutateOption(r, d, n.Layers[i], stripped.Layers[i])
			if !ok {
				continue
			}
			m = Mutation{Op: op, Layer: i, Detail: fmt.Sprintf("layer %d (%s): %s", i, n.Layers[i].Kind, desc)}
			child.Layers[i] = l
		case "width":
			w, ok := pickWidth(r, s, n.Width)
			if !ok {
				continue
			}
			m = Mutation{Op: op, Layer: -1, Detail: fmt.Sprintf("width %d -> %d", n.Width, w)}
			child.Width = w
		}
		c, err := Normalize(child)
		if err != nil || s.contains(c) != nil || Equal(c, n) {
			continue
		}
		return c, m, nil
	}
	return Arch{}, Mutation{}, fmt.Errorf("mutate %s: %w within %d attempts", Print(n), ErrNoCandidate, maxAttempts)
}

// mutateOption changes one option of layer full (normalised; stripped is its stripped form) to another
// valid value. It returns the new stripped layer and a description.
func mutateOption(r *Rand, d Dims, full, stripped Layer) (Layer, string, bool) {
	p, ok := Lookup(full.Kind)
	if !ok {
		return Layer{}, "", false
	}
	var mutable []*Option
	for i := range p.Options {
		if p.Options[i].Choices != nil {
			mutable = append(mutable, &p.Options[i])
		}
	}
	if len(mutable) == 0 {
		return Layer{}, "", false
	}
	op := mutable[r.Intn(len(mutable))]
	// The option's candidates given the options before it, plus its default.
	prior := map[string]int{}
	for _, q := range p.Options {
		if q.Name == op.Name {
			break
		}
		prior[q.Name] = full.Opts[q.Name]
	}
	cands := append(op.Choices(d, prior), op.Default(d, prior))
	slices.Sort(cands)
	cands = slices.Compact(cands)
	cur := full.Opts[op.Name]
	var valid []Layer
	var vals []int
	for _, v := range cands {
		if v == cur {
			continue
		}
		l := stripped.clone()
		if l.Opts == nil {
			l.Opts = map[string]int{}
		}
		l.Opts[op.Name] = v
		nl, err := normLayer(d, l)
		if err != nil || nl.Equal(full) {
			continue
		}
		valid = append(valid, l)
		vals = append(vals, v)
	}
	if len(valid) == 0 {
		return Layer{}, "", false
	}
	k := r.Intn(len(valid))
	return valid[k], fmt.Sprintf("%s %d -> %d", op.Name, cur, vals[k]), true
}

// pickWidth picks another width in the space near w: w/2, 3w/4, 5w/4 or 2w rounded down to a
// multiple of WidthMultiple.
func pickWidth(r *Rand, s space, w int) (int, bool) {
	var ws []int
	for _, c := range []int{w / 2, w * 3 / 4, w * 5 / 4, w * 2} {
		c = c / WidthMultiple * WidthMultiple
		if c != w && c >= s.minW && c <= s.maxW && c >= MinWidth && !slices.Contains(ws, c) {
			ws = append(ws, c)
		}
	}
	if len(ws) == 0 {
		return 0, false
	}
	return ws[r.Intn(len(ws))], true
}

// Crossover returns a one-point crossover of a and b within sp, determined by seed: the first i
// layers of a (1 <= i <= len(a)) followed by the layers of b from j on (j < len(b)), with a's global
// settings. Options b's layers left at their defaults are re-derived for a's settings. It returns
// ErrNoCandidate when no cut within a bounded number of attempts gives a member of sp.
func Crossover(sp Space, a, b Arch, seed uint64) (Arch, error) {
	s, err := sp.resolve()
	if err != nil {
		return Arch{}, err
	}
	na, err := Normalize(a)
	if err != nil {
		return Arch{}, fmt.Errorf("crossover: first parent: %w", err)
	}
	nb, err := Normalize(b)
	if err != nil {
		return Arch{}, fmt.Errorf("crossover: second parent: %w", err)
	}
	sa, sb := Strip(na), Strip(nb)
	r := NewRand(seed)
	for range maxAttempts {
		i, j := 1+r.Intn(len(sa.Layers)), r.Intn(len(sb.Layers))
		if i+len(sb.Layers)-j > MaxDepth {
			continue
		}
		child := sa
		child.Layers = make([]Layer, 0, i+len(sb.Layers)-j)
		for _, l := range sa.Layers[:i] {
			child.Layers = append(child.Layers, l.clone())
		}
		for _, l := range sb.Layers[j:] {
			child.Layers = append(child.Layers, l.clone())
		}
		c, err := Normalize(child)
		if err != nil || s.contains(c) != nil {
			continue
		}
		return c, nil
	}
	return Arch{}, fmt.Errorf("crossover: %w within %d attempts", ErrNoCandidate, maxAttempts)
}

// Runs splits layers into maximal runs of equal layers (same kind and options): (layer, count).
func runs(ls []Layer) (kinds []Layer, counts []int) {
	for _, l := range ls {
		if k := len(kinds) - 1; k >= 0 && kinds[k].Equal(l) {
			counts[k]++
			continue
		}
		kinds = append(kinds, l)
		counts = append(counts, 1)
	}
	return kinds, counts
}

// Stretch scales a in depth as Composer does: every maximal run of h equal layers becomes
// ceil(h·num/den) layers (the stretch factor s = num/den, e.g. target depth / current depth).
func Stretch(a Arch, num, den int) (Arch, error) {
	if num < 1 || den < 1 || num > 1<<20 || den > 1<<20 {
		return Arch{}, globalErr("stretch", ErrBounds, "factor %d/%d: numerator and denominator must be in [1, %d]", num, den, 1<<20)
	}
	n, err := Normalize(a)
	if err != nil {
		return Arch{}, err
	}
	kinds, counts := runs(n.Layers)
	total := 0
	for i, h := range counts {
		counts[i] = int((int64(h)*int64(num) + int64(den) - 1) / int64(den))
		total += counts[i]
		if total > MaxDepth {
			return Arch{}, globalErr("depth", ErrBounds, "stretching by %d/%d gives more than %d layers", num, den, MaxDepth)
		}
	}
	out := n
	out.Layers = make([]Layer, 0, total)
	for i, l := range kinds {
		for range counts[i] {
			out.Layers = append(out.Layers, l.clone())
		}
	}
	return Normalize(out)
}

// StretchTo stretches a towards depth layers: Stretch(a, depth, len(a.Layers)). Because every run
// rounds up, the result may be deeper than depth.
func StretchTo(a Arch, depth int) (Arch, error) {
	if len(a.Layers) == 0 {
		return Normalize(a) // reports the empty model
	}
	return Stretch(a, depth, len(a.Layers))
}

// Stack repeats the whole pattern of a times times (Composer's stacking).
func Stack(a Arch, times int) (Arch, error) {
	n, err := Normalize(a)
	if err != nil {
		return Arch{}, err
	}
	if times < 1 || times > MaxDepth || len(n.Layers)*times > MaxDepth {
		return Arch{}, globalErr("stack", ErrBounds, "%d copies of %d layers: want 1 to %d layers", times, len(n.Layers), MaxDepth)
	}
	out := n
	out.Layers = make([]Layer, 0, len(n.Layers)*times)
	for range times {
		for _, l := range n.Layers {
			out.Layers = append(out.Layers, l.clone())
		}
	}
	return Normalize(out)
}

// Resize returns a at another width: options given explicitly (different from their defaults) keep
// their values, defaulted ones (heads, hidden, dtrank, ...) are re-derived for the new width.
func Resize(a Arch, width int) (Arch, error) {
	n, err := Normalize(a)
	if err != nil {
		return Arch{}, err
	}
	s := Strip(n)
	s.Width = width
	return Normalize(s)
}

// Sample returns a random member of sp, determined by seed: a depth uniform in the depth range, a
// width uniform among the multiples of WidthMultiple in the width range (DefaultWidth when the range
// is free), each layer a uniformly chosen primitive with default options, bound to sp.Vocab. It
// returns ErrNoCandidate when a bounded number of attempts find none within the budget.
func Sample(sp Space, seed uint64) (Arch, error) {
	s, err := sp.resolve()
	if err != nil {
		return Arch{}, err
	}
	r := NewRand(seed)
	for range maxAttempts {
		a := Arch{Width: DefaultWidth, Vocab: s.vocab}
		if s.minW != 0 {
			lo, hi := roundUp(s.minW, WidthMultiple), s.maxW/WidthMultiple*WidthMultiple
			a.Width = lo + WidthMultiple*r.Intn((hi-lo)/WidthMultiple+1)
		}
		depth := s.minD + r.Intn(s.maxD-s.minD+1)
		a.Layers = make([]Layer, depth)
		for i := range a.Layers {
			a.Layers[i] = Layer{Kind: s.prims[r.Intn(len(s.prims))].Name}
		}
		n, err := Normalize(a)
		if err != nil || s.contains(n) != nil {
			continue
		}
		return n, nil
	}
	return Arch{}, fmt.Errorf("sample: %w within %d attempts", ErrNoCandidate, maxAttempts)
}
