package arch

import (
	"errors"
	"strings"
	"testing"

	"github.com/airanode/airanode/object"
)

func mustNorm(t *testing.T, spec string) Arch {
	t.Helper()
	a, err := Parse(spec)
	if err != nil {
		t.Fatalf("Parse(%q): %v", spec, err)
	}
	n, err := Normalize(a)
	if err != nil {
		t.Fatalf("Normalize(%q): %v", spec, err)
	}
	return n
}

func TestNormalizeDefaults(t *testing.T) {
	tests := []struct {
		spec  string
		layer int
		want  map[string]int
	}{
		{"A M", 0, map[string]int{"heads": 4, "kv": 4, "rot": 32, "win": 0, "rbase": 10000}},
		{"A M", 1, map[string]int{"hidden": 352}}, // int(8·128/3) = 341, rounded up to 352
		{"G", 0, map[string]int{"hidden": 512}},
		{"S", 0, map[string]int{"state": 16, "expand": 2, "conv": 4, "dtrank": 8}},
		{"width=72 : S", 0, map[string]int{"state": 16, "expand": 2, "conv": 4, "dtrank": 5}}, // ceil(72/16)
		{"pos=learned context=64 : A", 0, map[string]int{"heads": 4, "kv": 4, "rot": 0, "win": 0, "rbase": 10000}},
		{"A(heads=8)", 0, map[string]int{"heads": 8, "kv": 8, "rot": 16, "win": 0, "rbase": 10000}},
		{"width=256 : A(kv=2)", 0, map[string]int{"heads": 8, "kv": 2, "rot": 32, "win": 0, "rbase": 10000}},
		{"width=16 : A", 0, map[string]int{"heads": 1, "kv": 1, "rot": 16, "win": 0, "rbase": 10000}},
		// width/32 = 3 does not divide 104: the largest divisor below it, 2.
		{"width=104 : A", 0, map[string]int{"heads": 2, "kv": 2, "rot": 52, "win": 0, "rbase": 10000}},
		// hd = 264/8 = 33 is odd: rot rounds down to even.
		{"width=264 : A", 0, map[string]int{"heads": 8, "kv": 8, "rot": 32, "win": 0, "rbase": 10000}},
		// rbase has no effect without rotary dims: canonicalised to its default.
		{"A(rot=0,rbase=500)", 0, map[string]int{"heads": 4, "kv": 4, "rot": 0, "win": 0, "rbase": 10000}},
		{"A(rot=8,rbase=500)", 0, map[string]int{"heads": 4, "kv": 4, "rot": 8, "win": 0, "rbase": 500}},
		// With learned positions sequences never exceed the context: a window that covers it is full.
		{"pos=learned context=64 : A(win=64)", 0, map[string]int{"heads": 4, "kv": 4, "rot": 0, "win": 0, "rbase": 10000}},
		{"pos=learned context=64 : A(win=63)", 0, map[string]int{"heads": 4, "kv": 4, "rot": 0, "win": 63, "rbase": 10000}},
	}
	for _, tc := range tests {
		n := mustNorm(t, tc.spec)
		got := n.Layers[tc.layer].Opts
		if len(got) != len(tc.want) {
			t.Errorf("%q layer %d: opts %v, want %v", tc.spec, tc.layer, got, tc.want)
			continue
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%q layer %d: %s = %d, want %d (all: %v)", tc.spec, tc.layer, k, got[k], v, got)
			}
		}
	}
	n := mustNorm(t, "A")
	if n.Width != 128 || n.Norm != "rms" || n.Pos != "none" || n.Vocab != 0 || n.Context != 0 || n.Untied {
		t.Fatalf("global defaults: %+v", n)
	}
}

func TestSpellingsShareOneCID(t *testing.T) {
	mad := []string{
		"A M A M",
		"attention swiglu attention swiglu",
		"Attention MLP attn glu",
		"(A M)x2",
		"(A M) * 2",
		"(A M)*2",
		"AMAM",
		"a m a m",
		"A, M, A, M",
		"width=128 norm=rms pos=none : A M A M",
		"dim=128, norm=rmsnorm, pos=rope, tied : A M A M",
		"A(heads=4,kv=4,rot=32,win=0,rbase=10000) M(hidden=352) A M",
		"A(rbase=10000) M (A(kv=4) M(hidden=352))x1",
		"\n  A\tM  A M \n",
		`{"width":128,"norm":"rms","pos":"none","layers":[{"kind":"A"},{"kind":"mlp"},{"kind":"attention","opts":{"heads":4}},{"kind":"swiglu"}]}`,
		`{"layers":[{"kind":"attention"},{"kind":"swiglu"},{"kind":"attention"},{"kind":"swiglu"}]}`,
	}
	var want string
	for i, s := range mad {
		a, err := ParseAny(s)
		if err != nil {
			t.Fatalf("ParseAny(%q): %v", s, err)
		}
		c, err := CID(a)
		if err != nil {
			t.Fatalf("CID(%q): %v", s, err)
		}
		if i == 0 {
			want = c.String()
		} else if c.String() != want {
			t.Errorf("%q: CID %s, want %s", s, c, want)
		}
	}
	// Different models have different CIDs.
	seen := map[string]string{want: mad[0]}
	for _, s := range []string{"A M A", "M A M A", "A M A M(hidden=353)", "A(kv=2) M A M", "vocab=256 : A M A M",
		"norm=layer : A M A M", "untied vocab=256 : A M A M", "width=136 : A M A M", "A(rot=8) M A M", "G A M A M"} {
		a := mustNorm(t, s)
		c, err := CID(a)
		if err != nil {
			t.Fatal(err)
		}
		if prev, dup := seen[c.String()]; dup {
			t.Errorf("%q and %q share CID %s", s, prev, c)
		}
		seen[c.String()] = s
	}
}

func TestValidationErrors(t *testing.T) {
	tests := []struct {
		spec   string
		want   error
		layer  int    // -2: do not check
		option string // "" : do not check
		msg    string // substring of the message
	}{
		{"A M A(kv=3)", ErrIndivisible, 2, "kv", "kv=3 does not divide heads=4"},
		{"A(heads=3)", ErrIndivisible, 0, "heads", "does not divide width=128"},
		{"M A(rot=7)", ErrIndivisible, 1, "rot", "odd"},
		{"A(heads=8,rot=32)", ErrBounds, 0, "rot", "exceeds the head dim 16"},
		{"A(heads=300)", ErrBounds, 0, "heads", "outside [1, 256]"},
		{"A(win=70000)", ErrBounds, 0, "win", "outside"},
		{"A(rbase=1)", ErrBounds, 0, "rbase", "outside"},
		{"S(state=0)", ErrBounds, 0, "state", "outside [1, 256]"},
		{"S(expand=9)", ErrBounds, 0, "expand", ""},
		{"S(conv=17)", ErrBounds, 0, "conv", ""},
		{"M(hidden=0)", ErrBounds, 0, "hidden", ""},
		{"width=100 : A", ErrIndivisible, -1, "width", "not a multiple of 8"},
		{"width=8 : A", ErrBounds, -1, "width", "outside [16, 4096]"},
		{"width=8192 : A", ErrBounds, -1, "width", ""},
		{"vocab=300000 : A", ErrBounds, -1, "vocab", ""},
		{"context=64 : A", ErrInvalid, -1, "context", "only meaningful with pos=learned"},
		{"pos=learned : A", ErrBounds, -1, "context", "need a context"},
		{"width=4096 : G(hidden=65536) G(hidden=65536) G(hidden=65536) G(hidden=65536)", ErrTooManyParams, -2, "", "parameters"},
		{"width=4096 vocab=262144 untied : A", ErrTooManyParams, -2, "", ""},
	}
	for _, tc := range tests {
		a, err := Parse(tc.spec)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.spec, err)
		}
		_, err = Normalize(a)
		if !errors.Is(err, tc.want) {
			t.Errorf("%q: error %v, want %v", tc.spec, err, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%q: error %q lacks %q", tc.spec, err, tc.msg)
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%q: %T is not *Error", tc.spec, err)
			continue
		}
		if tc.layer != -2 && e.Layer != tc.layer {
			t.Errorf("%q: layer %d, want %d (%v)", tc.spec, e.Layer, tc.layer, err)
		}
		if tc.option != "" && e.Option != tc.option {
			t.Errorf("%q: option %q, want %q (%v)", tc.spec, e.Option, tc.option, err)
		}
		if tc.layer >= 0 && !strings.Contains(err.Error(), "layer ") {
			t.Errorf("%q: message %q does not name the layer", tc.spec, err)
		}
	}
}

func TestNormalizeRejectsBadStructs(t *testing.T) {
	long := make([]Layer, MaxDepth+1)
	for i := range long {
		long[i] = Layer{Kind: "swiglu"}
	}
	tests := []struct {
		name string
		a    Arch
		want error
	}{
		{"no layers", Arch{}, ErrBounds},
		{"too deep", Arch{Layers: long}, ErrBounds},
		{"unknown kind", Arch{Layers: []Layer{{Kind: "transformer"}}}, ErrUnknownPrimitive},
		{"unknown option", Arch{Layers: []Layer{{Kind: "attention", Opts: map[string]int{"z": 1, "heads": 4, "b": 2}}}}, ErrUnknownOption},
		{"negative option", Arch{Layers: []Layer{{Kind: "attention", Opts: map[string]int{"win": -1}}}}, ErrBounds},
		{"negative width", Arch{Width: -8, Layers: []Layer{{Kind: "A"}}}, ErrBounds},
		{"bad norm", Arch{Norm: "batch", Layers: []Layer{{Kind: "A"}}}, ErrInvalid},
		{"bad pos", Arch{Pos: "alibi", Layers: []Layer{{Kind: "A"}}}, ErrInvalid},
		{"negative vocab", Arch{Vocab: -1, Layers: []Layer{{Kind: "A"}}}, ErrBounds},
	}
	for _, tc := range tests {
		_, err := Normalize(tc.a)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// The unknown option reported is the first in sorted order, whatever the map order.
	for range 20 {
		_, err := Normalize(tests[3].a)
		var e *Error
		if !errors.As(err, &e) || e.Option != "b" {
			t.Fatalf("unknown option error %v, want option b", err)
		}
	}
}

func TestNormalizeIdempotentAndPure(t *testing.T) {
	a, err := Parse("A(kv=2) M S(state=4) G")
	if err != nil {
		t.Fatal(err)
	}
	before := Print(a)
	n, err := Normalize(a)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Layers[1].Opts) != 0 || Print(a) != before {
		t.Fatalf("Normalize modified its argument: %+v", a)
	}
	n2, err := Normalize(n)
	if err != nil || !Equal(n, n2) {
		t.Fatalf("Normalize not idempotent: %v\n%+v\n%+v", err, n, n2)
	}
	n2.Layers[0].Opts["kv"] = 1
	if n.Layers[0].Opts["kv"] != 2 {
		t.Fatal("Normalize shares option maps between results")
	}
}

func TestCheckNormal(t *testing.T) {
	n := mustNorm(t, "A M")
	if err := CheckNormal(n); err != nil {
		t.Fatal(err)
	}
	s := Strip(n)
	if err := CheckNormal(s); !errors.Is(err, ErrNotNormal) {
		t.Fatalf("stripped: %v, want ErrNotNormal", err)
	}
	alias := n.clone()
	alias.Layers[0].Kind = "A"
	if err := CheckNormal(alias); !errors.Is(err, ErrNotNormal) {
		t.Fatalf("alias kind: %v, want ErrNotNormal", err)
	}
	if err := CheckNormal(Arch{Layers: []Layer{{Kind: "nope"}}}); !errors.Is(err, ErrUnknownPrimitive) {
		t.Fatalf("invalid: %v", err)
	}
}

func TestEncodeDecode(t *testing.T) {
	for _, s := range []string{"A M A M", "vocab=256 norm=layer pos=learned context=256 untied : (A(heads=4) G)x4", "S(state=4) M A(kv=2,win=64)"} {
		n := mustNorm(t, s)
		b, c, err := Encode(n)
		if err != nil {
			t.Fatal(err)
		}
		got, c2, err := Decode(b)
		if err != nil {
			t.Fatalf("%q: Decode: %v", s, err)
		}
		if !c.Equals(c2) || !Equal(got, n) {
			t.Fatalf("%q: round trip: %s %s\n%+v\n%+v", s, c, c2, got, n)
		}
		want, _ := CID(n)
		if !c.Equals(want) {
			t.Fatalf("Encode CID %s, CID %s", c, want)
		}
	}
	// A valid object that is not in normal form is rejected.
	s := Strip(mustNorm(t, "A M"))
	b, _, err := object.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Decode(b); !errors.Is(err, ErrNotNormal) {
		t.Fatalf("stripped object: %v, want ErrNotNormal", err)
	}
	if _, _, err := Decode([]byte{0xff, 0x00}); !errors.Is(err, ErrSyntax) {
		t.Fatalf("garbage: %v", err)
	}
}

func TestWithVocab(t *testing.T) {
	n, err := WithVocab(mustNorm(t, "A M"), 256)
	if err != nil || n.Vocab != 256 {
		t.Fatalf("%v %+v", err, n)
	}
	if _, err := WithVocab(n, -3); !errors.Is(err, ErrBounds) {
		t.Fatalf("negative vocab: %v", err)
	}
}

func TestStrip(t *testing.T) {
	n := mustNorm(t, "width=256 : A(kv=2) M(hidden=100) S")
	s := Strip(n)
	want := []map[string]int{{"kv": 2}, {"hidden": 100}, nil}
	for i, l := range s.Layers {
		if len(l.Opts) != len(want[i]) {
			t.Fatalf("layer %d: %v, want %v", i, l.Opts, want[i])
		}
		for k, v := range want[i] {
			if l.Opts[k] != v {
				t.Fatalf("layer %d: %v, want %v", i, l.Opts, want[i])
			}
		}
	}
	back, err := Normalize(s)
	if err != nil || !Equal(back, n) {
		t.Fatalf("Normalize(Strip(n)) != n: %v", err)
	}
}

func TestRegisterRejectsBadPrimitives(t *testing.T) {
	ok := Primitive{Name: "zz", Letter: "Z", Options: []Option{{Name: "n", Min: 1, Max: 2, Default: func(Dims, map[string]int) int { return 1 }}},
		Params:  func(Dims, map[string]int) []Tensor { return nil },
		Forward: func(Dims, map[string]int, int64) int64 { return 0 },
		Saved:   func(Dims, map[string]int, int64) int64 { return 0 }}
	bad := []func(p *Primitive){
		func(p *Primitive) { p.Name = "attention" },
		func(p *Primitive) { p.Letter = "A" },
		func(p *Primitive) { p.Letter = "zz" },
		func(p *Primitive) { p.Name = "Zed" },
		func(p *Primitive) { p.Aliases = []string{"mlp"} },
		func(p *Primitive) { p.Params = nil },
		func(p *Primitive) { p.Options = nil },
		func(p *Primitive) { p.Options = append(p.Options, p.Options[0]) },
		func(p *Primitive) { p.Options = []Option{{Name: "n", Min: 3, Max: 2, Default: p.Options[0].Default}} },
	}
	for i, f := range bad {
		p := ok
		p.Options = append([]Option(nil), ok.Options...)
		f(&p)
		if err := Register(p); err == nil {
			t.Errorf("case %d: bad primitive %+v registered", i, p)
		}
	}
	if _, found := Lookup("zz"); found {
		t.Fatal("a rejected primitive is registered")
	}
}

func TestLookup(t *testing.T) {
	for name, want := range map[string]string{
		"A": "attention", "a": "attention", "attention": "attention", "ATTN": "attention", "mh-attention": "attention",
		"M": "swiglu", "mlp": "swiglu", "swiglu": "swiglu", "Sg": "swiglu",
		"G": "gelu", "gelu": "gelu", "S": "mamba", "mamba": "mamba", "Mb": "mamba", "ssm": "mamba",
	} {
		p, ok := Lookup(name)
		if !ok || p.Name != want {
			t.Errorf("Lookup(%q) = %v, want %s", name, p, want)
		}
	}
	if _, ok := Lookup("transformer"); ok {
		t.Error("Lookup(transformer) found something")
	}
	var names []string
	for _, p := range Primitives() {
		names = append(names, p.Letter+"="+p.Name)
	}
	if got := strings.Join(names, " "); got != "A=attention G=gelu S=mamba M=swiglu" {
		t.Errorf("Primitives() = %s", got)
	}
}

func TestKinds(t *testing.T) {
	if got := strings.Join(mustNorm(t, "A M S A M G").Kinds(), " "); got != "attention swiglu mamba gelu" {
		t.Fatalf("Kinds = %s", got)
	}
}

func TestUnbound(t *testing.T) {
	bound, err := Parse("vocab=64 width=32: A M")
	if err != nil {
		t.Fatal(err)
	}
	free, err := Parse("width=32: A M")
	if err != nil {
		t.Fatal(err)
	}
	ub, err := Unbound(bound)
	if err != nil {
		t.Fatal(err)
	}
	uf, err := Unbound(free)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := CID(ub)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := CID(uf)
	if err != nil {
		t.Fatal(err)
	}
	if ub.Vocab != 0 || !cb.Equals(cf) {
		t.Fatalf("Unbound(bound) = %+v, Unbound(free) = %+v: want the same unbound normal form", ub, uf)
	}
	if _, err := Unbound(Arch{}); err == nil {
		t.Fatal("Unbound of an empty architecture passed")
	}
}
