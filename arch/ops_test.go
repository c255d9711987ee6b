package arch

import (
	"errors"
	"strings"
	"testing"
)

func TestRand(t *testing.T) {
	// splitmix64 from state 0: its first output is the published constant.
	if got := NewRand(0).Uint64(); got != 0xE220A8397B1DCDAF {
		t.Fatalf("first value %#x", got)
	}
	a, b := NewRand(42), NewRand(42)
	for range 100 {
		if a.Uint64() != b.Uint64() {
			t.Fatal("same seed, different streams")
		}
	}
	r := NewRand(7)
	counts := make([]int, 6)
	for range 60000 {
		v := r.Intn(6)
		if v < 0 || v >= 6 {
			t.Fatalf("Intn(6) = %d", v)
		}
		counts[v]++
	}
	for i, c := range counts {
		if c < 9000 || c > 11000 {
			t.Errorf("Intn(6): value %d drawn %d times of 60000", i, c)
		}
	}
	if r.Intn(0) != 0 || r.Intn(-3) != 0 || r.Intn(1) != 0 {
		t.Error("Intn of n <= 1")
	}
	if Derive(1, 0) == Derive(1, 1) || Derive(1, 0) == Derive(2, 0) || Derive(1, 0) == NewRand(1).Uint64() {
		t.Error("Derive: child streams collide")
	}
	if got := Derive(5, 3); got != Derive(5, 3) {
		t.Error("Derive is not a function of its arguments")
	}
}

func TestSpaceValidate(t *testing.T) {
	bad := []Space{
		{Primitives: []string{"transformer"}},
		{MinDepth: 5, MaxDepth: 4},
		{MaxDepth: 65},
		{MinDepth: -1},
		{MinWidth: 64},
		{MinWidth: 8, MaxWidth: 64},
		{MinWidth: 65, MaxWidth: 71},
		{MinWidth: 64, MaxWidth: 8192},
		{MaxParams: -1},
		{MaxParams: MaxParams + 1},
		{Vocab: -1},
	}
	for _, sp := range bad {
		if err := sp.Validate(); !errors.Is(err, ErrSpace) {
			t.Errorf("%+v: %v", sp, err)
		}
	}
	good := []Space{{}, {Primitives: []string{"A", "mlp"}, MinDepth: 2, MaxDepth: 8, MinWidth: 64, MaxWidth: 256, MaxParams: 1e6, Vocab: 16}}
	for _, sp := range good {
		if err := sp.Validate(); err != nil {
			t.Errorf("%+v: %v", sp, err)
		}
	}
	sp := Space{Primitives: []string{"A", "M"}, MaxDepth: 4, MinWidth: 64, MaxWidth: 128, MaxParams: 300_000, Vocab: 16}
	tests := []struct {
		spec string
		want error
	}{
		{"vocab=16 : A M", nil},
		{"vocab=16 : A S", ErrSpace},
		{"vocab=16 : A M A M A", ErrSpace},
		{"vocab=16 width=256 : A", ErrSpace},
		{"A M", ErrSpace},
		{"vocab=16 : A M A M", ErrTooManyParams},
		{"vocab=16 : A(kv=3)", ErrIndivisible},
	}
	for _, tc := range tests {
		a, _ := Parse(tc.spec)
		err := sp.Contains(a)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("Contains(%q) = %v, want %v", tc.spec, err, tc.want)
		}
	}
}

func TestMutate(t *testing.T) {
	parents := []string{"A M A M", "S", "vocab=16 : A(kv=2,win=64) M S(state=4) G", "width=64 : (A M)x8", "M(hidden=64) A(heads=2,kv=1)"}
	spaces := []Space{
		{},
		{Primitives: []string{"attention", "swiglu"}, MinDepth: 1, MaxDepth: 6},
		{MinWidth: 64, MaxWidth: 256, MaxParams: 2_000_000},
	}
	ops := map[string]int{}
	for _, ps := range parents {
		parent := mustNorm(t, ps)
		for si, sp := range spaces {
			if sp.Contains(parent) != nil {
				continue // one step cannot always bring a parent into the space
			}
			for seed := uint64(0); seed < 60; seed++ {
				child, m, err := Mutate(sp, parent, seed)
				if err != nil {
					t.Fatalf("Mutate(%q, space %d, seed %d): %v", ps, si, seed, err)
				}
				if err := CheckNormal(child); err != nil {
					t.Fatalf("Mutate(%q, seed %d) = %s: not normal: %v", ps, seed, Print(child), err)
				}
				if err := sp.Contains(child); err != nil {
					t.Fatalf("Mutate(%q, space %d, seed %d) = %s (%s): outside the space: %v", ps, si, seed, Print(child), m, err)
				}
				if Equal(child, parent) {
					t.Fatalf("Mutate(%q, seed %d) returned the parent (%s)", ps, seed, m)
				}
				again, m2, err := Mutate(sp, parent, seed)
				if err != nil || !Equal(again, child) || m2 != m {
					t.Fatalf("Mutate(%q, seed %d) is not deterministic: %s / %s", ps, seed, m, m2)
				}
				ops[m.Op]++
				if m.Detail == "" || !strings.HasPrefix(m.String(), m.Op+": ") {
					t.Fatalf("mutation description %+v", m)
				}
			}
		}
	}
	for _, op := range []string{"replace", "insert", "delete", "swap", "option", "width"} {
		if ops[op] == 0 {
			t.Errorf("operator %s never used (%v)", op, ops)
		}
	}
}

func TestMutateKeepsExplicitOptionsOnWidthChange(t *testing.T) {
	parent := mustNorm(t, "width=128 : A(kv=2) M S")
	sp := Space{MinWidth: 64, MaxWidth: 256}
	found := false
	for seed := uint64(0); seed < 200 && !found; seed++ {
		child, m, err := Mutate(sp, parent, seed)
		if err != nil {
			t.Fatal(err)
		}
		if m.Op != "width" {
			continue
		}
		found = true
		want := mustNorm(t, "width="+itoa(child.Width)+" : A(kv=2) M S")
		if !Equal(child, want) {
			t.Fatalf("width mutation: %s, want %s", Print(child), Print(want))
		}
	}
	if !found {
		t.Fatal("no width mutation in 200 seeds")
	}
}

func TestMutateNoCandidate(t *testing.T) {
	// A budget that nothing fits.
	_, _, err := Mutate(Space{MaxParams: 10}, mustNorm(t, "A M"), 1)
	if !errors.Is(err, ErrNoCandidate) {
		t.Fatalf("tiny budget: %v", err)
	}
	if _, _, err := Mutate(Space{}, Arch{Layers: []Layer{{Kind: "attention", Opts: map[string]int{"kv": 3}}}}, 1); !errors.Is(err, ErrIndivisible) {
		t.Fatalf("invalid parent: %v", err)
	}
	if _, _, err := Mutate(Space{MinDepth: 3, MaxDepth: 2}, mustNorm(t, "A"), 1); !errors.Is(err, ErrSpace) {
		t.Fatalf("invalid space: %v", err)
	}
}

func TestCrossover(t *testing.T) {
	a := mustNorm(t, "A A A A")
	b := mustNorm(t, "width=256 : M M(hidden=100) S S")
	for seed := uint64(0); seed < 50; seed++ {
		c, err := Crossover(Space{}, a, b, seed)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckNormal(c); err != nil {
			t.Fatal(err)
		}
		if c.Width != 128 || len(c.Layers) < 2 || len(c.Layers) > 8 || c.Layers[0].Kind != "attention" {
			t.Fatalf("seed %d: %s", seed, Print(c))
		}
		// A prefix of a, then a suffix of b (defaults re-derived at width 128, explicit hidden kept).
		i := 0
		for i < len(c.Layers) && c.Layers[i].Kind == "attention" {
			i++
		}
		tail := Print(Arch{Width: 128, Layers: c.Layers[i:]})
		if !strings.HasSuffix("M M(hidden=100) S S", tail) || tail == "" {
			t.Fatalf("seed %d: tail %q is not a suffix of b", seed, tail)
		}
		again, _ := Crossover(Space{}, a, b, seed)
		if !Equal(again, c) {
			t.Fatal("not deterministic")
		}
	}
	if _, err := Crossover(Space{MaxDepth: 1}, a, b, 3); !errors.Is(err, ErrNoCandidate) {
		t.Fatalf("impossible crossover: %v", err)
	}
	if _, err := Crossover(Space{}, a, Arch{}, 3); !errors.Is(err, ErrBounds) {
		t.Fatalf("empty parent: %v", err)
	}
}

func TestStretchStack(t *testing.T) {
	tests := []struct {
		name string
		got  func() (Arch, error)
		want string
	}{
		{"stretch x2", func() (Arch, error) { return Stretch(MustParse("A*2 M*4"), 2, 1) }, "A*4 M*8"},
		{"stretch 3/2", func() (Arch, error) { return Stretch(MustParse("A*2 M*5 A*2 M*3 A M*3"), 3, 2) }, "A*3 M*8 A*3 M*5 A*2 M*5"},
		{"stretch to 32", func() (Arch, error) { return StretchTo(MustParse("A*2 M*5 A*2 M*3 A M*3"), 32) }, "A*4 M*10 A*4 M*6 A*2 M*6"},
		{"shrink", func() (Arch, error) { return Stretch(MustParse("A*4 M*8 S"), 1, 4) }, "A M*2 S"},
		{"runs use options", func() (Arch, error) { return Stretch(MustParse("A A(kv=2) M"), 2, 1) }, "A A A(kv=2) A(kv=2) M M"},
		{"stack x3", func() (Arch, error) { return Stack(MustParse("A*2 M*4"), 3) }, "(A A M M M M)x3"},
		{"resize", func() (Arch, error) { return Resize(MustParse("A(kv=1) M S(state=4)"), 256) }, "width=256 : A(heads=8,kv=1) M(hidden=688) S(state=4,dtrank=16)"},
		{"resize keeps explicit", func() (Arch, error) { return Resize(MustParse("A(heads=2) M(hidden=100)"), 64) }, "width=64 : A(heads=2) M(hidden=100)"},
	}
	for _, tc := range tests {
		got, err := tc.got()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if want := mustNorm(t, tc.want); !Equal(got, want) {
			t.Errorf("%s: %s, want %s", tc.name, Print(got), Print(want))
		}
	}
	bad := []struct {
		name string
		f    func() (Arch, error)
		want error
	}{
		{"stretch past 64", func() (Arch, error) { return Stretch(MustParse("A*8 M*8"), 5, 1) }, ErrBounds},
		{"stretch zero", func() (Arch, error) { return Stretch(MustParse("A"), 0, 1) }, ErrBounds},
		{"stretch huge", func() (Arch, error) { return Stretch(MustParse("A"), 1<<30, 1) }, ErrBounds},
		{"stack past 64", func() (Arch, error) { return Stack(MustParse("A*8 M*8"), 5) }, ErrBounds},
		{"stack zero", func() (Arch, error) { return Stack(MustParse("A"), 0) }, ErrBounds},
		{"resize odd", func() (Arch, error) { return Resize(MustParse("A"), 100) }, ErrIndivisible},
		{"resize explicit heads", func() (Arch, error) { return Resize(MustParse("width=96 : A(heads=3)"), 192) }, nil},
		{"resize breaks heads", func() (Arch, error) { return Resize(MustParse("width=96 : A(heads=6)"), 128) }, ErrIndivisible},
		{"stretch over budget", func() (Arch, error) {
			return Stretch(MustParse("width=4096 : G(hidden=65536)"), 4, 1)
		}, ErrTooManyParams},
	}
	for _, tc := range bad {
		_, err := tc.f()
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestSample(t *testing.T) {
	sp := Space{Primitives: []string{"A", "M", "S"}, MinDepth: 2, MaxDepth: 16, MinWidth: 60, MaxWidth: 130, MaxParams: 3_000_000, Vocab: 16}
	depths := map[int]bool{}
	for seed := uint64(0); seed < 100; seed++ {
		a, err := Sample(sp, seed)
		if err != nil {
			t.Fatal(err)
		}
		if err := sp.Contains(a); err != nil {
			t.Fatalf("seed %d: %s: %v", seed, Print(a), err)
		}
		if err := CheckNormal(a); err != nil {
			t.Fatal(err)
		}
		if a.Width%8 != 0 || a.Width < 64 || a.Width > 128 {
			t.Fatalf("width %d", a.Width)
		}
		b, _ := Sample(sp, seed)
		if !Equal(a, b) {
			t.Fatal("not deterministic")
		}
		depths[len(a.Layers)] = true
	}
	if len(depths) < 8 {
		t.Errorf("only %d distinct depths in 100 samples", len(depths))
	}
	if _, err := Sample(Space{MaxParams: 5}, 1); !errors.Is(err, ErrNoCandidate) {
		t.Fatalf("tiny budget: %v", err)
	}
}
