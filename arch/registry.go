package arch

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Option is one integer option of a primitive.
type Option struct {
	// Name is the option's key in the notation and in Layer.Opts, e.g. "heads".
	Name string
	// Doc is a one-line description (for help and docs).
	Doc string
	// Min and Max bound the value (inclusive). Relations between options (divisibility, one bounded by
	// another) are checked by the primitive's Check.
	Min, Max int
	// Default returns the value used when the option is not given. o holds the resolved values of the
	// options listed before this one.
	Default func(d Dims, o map[string]int) int
	// Choices returns the values a mutation may move this option to (the current value and invalid
	// ones are filtered out by the caller). nil means the option is never mutated.
	Choices func(d Dims, o map[string]int) []int
}

// Tensor is one parameter tensor: its name and shape (matrices are [out, in], PyTorch Linear layout).
type Tensor struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
}

// Size is the number of elements of t.
func (t Tensor) Size() int64 {
	n := int64(1)
	for _, s := range t.Shape {
		n *= int64(s)
	}
	return n
}

// Primitive is a kind of layer. Registering one (Register, from an init function in its own file) is
// all it takes to add it to the language; the engine (package train) and the PyTorch export must then
// implement it with exactly the tensors Params lists.
type Primitive struct {
	// Name is the canonical name (Layer.Kind), lower case, e.g. "attention".
	Name string
	// Letter is the one-letter upper-case short form used by Print, e.g. "A".
	Letter string
	// Aliases are other names accepted by the notation and by Layer.Kind (case-insensitive).
	Aliases []string
	// Doc is a one-line description.
	Doc string
	// Options are the primitive's options, in canonical order: defaults are resolved in this order.
	Options []Option
	// Check validates relations between resolved options (every option is within [Min, Max] when it is
	// called). Errors should come from OptionError. Optional.
	Check func(d Dims, o map[string]int) error
	// Canon sets options that have no effect given the others to their defaults, so that every
	// spelling of one model has one normal form. Optional.
	Canon func(d Dims, o map[string]int)
	// Params lists the layer's parameter tensors (names relative to the layer), excluding its pre-norm.
	Params func(d Dims, o map[string]int) []Tensor
	// Forward returns the forward FLOPs of the layer (excluding its pre-norm) for one sequence of T
	// tokens. docs/arch.md states what is counted.
	Forward func(d Dims, o map[string]int, T int64) int64
	// Saved returns the number of floats the layer (excluding its pre-norm and its input) keeps from
	// the forward to the backward pass for one sequence of T tokens.
	Saved func(d Dims, o map[string]int, T int64) int64
}

func (p *Primitive) option(name string) *Option {
	for i := range p.Options {
		if p.Options[i].Name == name {
			return &p.Options[i]
		}
	}
	return nil
}

func (p *Primitive) optionNames() string {
	names := make([]string, len(p.Options))
	for i, o := range p.Options {
		names[i] = o.Name
	}
	return strings.Join(names, ", ")
}

var registry struct {
	sync.RWMutex
	byName map[string]*Primitive // canonical names, letters and aliases, lower case; letters also as given
	list   []*Primitive          // sorted by Name
}

// Register adds a primitive to the language. It is meant to be called from init functions; a
// primitive registered later is not known to nodes that lack it, so every node must run the same
// registry. It returns an error for a duplicate or incomplete definition.
func Register(p Primitive) error {
	if p.Name == "" || p.Name != strings.ToLower(p.Name) {
		return fmt.Errorf("arch: register %q: name must be non-empty lower case", p.Name)
	}
	if len(p.Letter) != 1 || p.Letter[0] < 'A' || p.Letter[0] > 'Z' {
		return fmt.Errorf("arch: register %s: letter %q must be one upper-case letter", p.Name, p.Letter)
	}
	if p.Params == nil || p.Forward == nil || p.Saved == nil || len(p.Options) == 0 {
		return fmt.Errorf("arch: register %s: Options, Params, Forward and Saved are required", p.Name)
	}
	for i, o := range p.Options {
		if o.Name == "" || o.Default == nil || o.Min > o.Max {
			return fmt.Errorf("arch: register %s: option %d (%q) needs a name, a default and Min <= Max", p.Name, i, o.Name)
		}
		for _, q := range p.Options[:i] {
			if q.Name == o.Name {
				return fmt.Errorf("arch: register %s: duplicate option %q", p.Name, o.Name)
			}
		}
	}
	registry.Lock()
	defer registry.Unlock()
	if registry.byName == nil {
		registry.byName = map[string]*Primitive{}
	}
	keys := []string{p.Name, p.Letter, strings.ToLower(p.Letter)}
	for _, a := range p.Aliases {
		keys = append(keys, strings.ToLower(a))
	}
	for _, k := range keys {
		if q, dup := registry.byName[k]; dup && q.Name != p.Name {
			return fmt.Errorf("arch: register %s: %q already names %s", p.Name, k, q.Name)
		}
		if q, dup := registry.byName[k]; dup && q.Name == p.Name && k == p.Name {
			return fmt.Errorf("arch: register %s: already registered", p.Name)
		}
	}
	pp := &p
	for _, k := range keys {
		registry.byName[k] = pp
	}
	registry.list = append(registry.list, pp)
	sort.Slice(registry.list, func(i, j int) bool { return registry.list[i].Name < registry.list[j].Name })
	return nil
}

func mustRegister(p Primitive) {
	if err := Register(p); err != nil {
		panic(err) // a bug in a built-in primitive's definition, found at init
	}
}

// Lookup returns the primitive named by a canonical name, a letter or an alias (case-insensitive).
func Lookup(name string) (*Primitive, bool) {
	registry.RLock()
	defer registry.RUnlock()
	if p, ok := registry.byName[name]; ok {
		return p, true
	}
	p, ok := registry.byName[strings.ToLower(name)]
	return p, ok
}

// Primitives returns every registered primitive, sorted by name. The result must not be modified.
func Primitives() []*Primitive {
	registry.RLock()
	defer registry.RUnlock()
	return append([]*Primitive(nil), registry.list...)
}

// knownList describes the registered primitives for error messages: "A attention, G gelu, ...".
func knownList() string {
	ps := Primitives()
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.Letter + " " + p.Name
	}
	return strings.Join(s, ", ")
}
