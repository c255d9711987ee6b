package arch

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParsePrint(t *testing.T) {
	tests := []struct{ in, want, norm string }{
		{"A M A M", "A M A M", ""},
		{"attention swiglu attention swiglu", "A M A M", ""},
		{"(A M)x2 S M", "A M A M S M", ""},
		{"A*3 M", "A A A M", ""},
		{"((A M)x2 S)x2", "A M A M S A M A M S", ""},
		{"AMAMSM", "A M A M S M", ""},
		{"MA SG MB", "M A S G S", ""}, // capital runs of primitive letters are letters, even where they spell an alias; B is none
		{"mA Sg Mb", "A M S", ""},     // MAD's shorthands
		{"A(kv=2,win=64) M S(state=4)", "A(kv=2,win=64) M S(state=4)", ""},
		{"A( win = 64 , kv = 2 ) M", "A(kv=2,win=64) M", ""},
		{"A(heads=4,kv=4,rot=32,win=0,rbase=10000)", "A", ""},
		{"A(heads=8)", "A(heads=8)", ""},
		{"A(heads=8,kv=8,rot=16)", "A(heads=8)", ""},
		{"A(heads=8,rot=32)", "A(heads=8,rot=32)", ""},           // invalid (rot > hd) but printable
		{"A(rot=0,rbase=500)", "A(rot=0,rbase=500)", "A(rot=0)"}, // rbase has no effect without rotary
		{"M(hidden=352) G(hidden=512)", "M G", ""},
		{"S(state=16,expand=2,conv=4,dtrank=8)", "S", ""},
		{"mamba(state=4) gelu(hidden=256)", "S(state=4) G(hidden=256)", ""},
		{"width=256 : A M", "width=256 : A M", ""},
		{"width=128 norm=rms pos=none : A M", "A M", ""},
		{"norm=ln pos=learned context=256 vocab=256 untied : A", "vocab=256 norm=layer pos=learned context=256 untied : A", ""},
		{"untied=false : A", "A", ""},
		{"tied : A", "A", ""},
		{"tied=false : A", "untied : A", ""},
		{"width=256, vocab=256 : A", "width=256 vocab=256 : A", ""},
		{"pos=learned context=256 : A", "pos=learned context=256 : A", ""},                 // rot defaults to 0
		{"pos=learned context=256 : A(rot=32)", "pos=learned context=256 : A(rot=32)", ""}, // explicit rotary
	}
	for _, tc := range tests {
		a, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		got := Print(a)
		if got != tc.want {
			t.Errorf("Print(Parse(%q)) = %q, want %q", tc.in, got, tc.want)
		}
		// Printing the normal form gives the same text, and the text parses back to the same model.
		if n, err := Normalize(a); err == nil {
			want := tc.want
			if tc.norm != "" {
				want = tc.norm
			}
			if p := Print(n); p != want {
				t.Errorf("Print(Normalize(%q)) = %q, want %q", tc.in, p, want)
			}
			b, err := Parse(got)
			if err != nil {
				t.Errorf("Parse(Print) %q: %v", got, err)
				continue
			}
			nb, err := Normalize(b)
			if err != nil || !Equal(n, nb) {
				t.Errorf("%q: round trip changed the model: %v", tc.in, err)
			}
		}
	}
}

// The pos=learned default of rot is 0, so "A" under learned positions prints no options, and an
// explicit rot=32 is printed.
func TestPrintDependsOnGlobals(t *testing.T) {
	n := mustNorm(t, "pos=learned context=64 : A A(rot=32)")
	if got, want := Print(n), "pos=learned context=64 : A A(rot=32)"; got != want {
		t.Fatalf("Print = %q, want %q", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in   string
		want error
		col  int // 0: do not check
		msg  string
	}{
		{"", ErrSyntax, 1, "no layers"},
		{"   ", ErrSyntax, 0, "no layers"},
		{"A(", ErrSyntax, 3, "option name"},
		{"A(kv)", ErrSyntax, 5, "expected '='"},
		{"A(kv=)", ErrSyntax, 6, "integer"},
		{"A(kv=2", ErrSyntax, 7, "expected ',' or ')'"},
		{"A(kv=2 win=3)", ErrSyntax, 8, "expected ',' or ')'"},
		{"A(kv=1.5)", ErrSyntax, 7, "integer"},
		{"A(kv=-1)", ErrSyntax, 6, "integer"},
		{"A(kv=2x)", ErrSyntax, 7, "integer"},
		{"A(kv=1234567890123)", ErrBounds, 6, "too large"},
		{"A(kv=2,kv=2)", ErrSyntax, 8, "twice"},
		{"A(foo=1)", ErrUnknownOption, 3, "attention has no option \"foo\""},
		{"M(heads=4)", ErrUnknownOption, 3, "swiglu has no option"},
		{"(A M", ErrSyntax, 5, "missing ')'"},
		{"A M)", ErrSyntax, 4, "unexpected ')'"},
		{"()", ErrSyntax, 1, "empty group"},
		{"X", ErrUnknownPrimitive, 1, "\"X\" is not a primitive (known: A attention, G gelu, S mamba, M swiglu)"},
		{"A M transformer", ErrUnknownPrimitive, 5, "transformer"},
		{"Ax2", ErrUnknownPrimitive, 1, "write A*2 or (A)x2"},
		{"AMX", ErrUnknownPrimitive, 1, ""},
		{"AM(kv=2)", ErrSyntax, 3, "single primitive"},
		{"A*0", ErrBounds, 1, "at least 1"},
		{"(A M)x0", ErrBounds, 1, "at least 1"},
		{"A*65", ErrBounds, 1, "more than 64"},
		{"(A M)x33", ErrBounds, 1, "more than 64"},
		{"(A M)x32 A", ErrBounds, 10, "more than 64"},
		{"((A M)x8)x8", ErrBounds, 1, "more than 64"},
		{"(A M)x999999999999", ErrBounds, 1, "more than 64"},
		{"A*", ErrSyntax, 3, "integer"},
		{"A*2*3", ErrSyntax, 4, "unexpected"},
		{"A+M", ErrSyntax, 2, "unexpected"},
		{"A;M", ErrSyntax, 2, "unexpected"},
		{"A M ü", ErrSyntax, 5, "expected a primitive"},
		{strings.Repeat("(", 9) + "A" + strings.Repeat(")", 9), ErrBounds, 9, "nested deeper than 8"},
		{"width=abc : A", ErrSyntax, 1, "needs an integer"},
		{"width : A", ErrSyntax, 1, "needs an integer"},
		{"norm=12 : A", ErrSyntax, 1, "needs a name"},
		{"norm=batch : A", ErrInvalid, 1, "not one of rms, layer"},
		{"pos=alibi : A", ErrInvalid, 1, "not one of none, learned"},
		{"depth=4 : A", ErrUnknownOption, 1, "unknown setting"},
		{"width=128 width=256 : A", ErrSyntax, 11, "twice"},
		{"untied=maybe : A", ErrSyntax, 1, "true or false"},
		{"width=128 : A : M", ErrSyntax, 15, "expected a primitive"},
		{"width=128+ : A", ErrSyntax, 10, "unexpected"},
		{": A", ErrSyntax, 0, ""}, // an empty settings part is allowed; see below
		{strings.Repeat("A ", MaxSpecLen), ErrBounds, MaxSpecLen + 1, "longer than"},
		{strings.Repeat("A", MaxDepth+1), ErrBounds, 1, "more than 64"},
	}
	for _, tc := range tests {
		_, err := Parse(tc.in)
		if tc.in == ": A" {
			if err != nil {
				t.Errorf("Parse(%q): %v", tc.in, err)
			}
			continue
		}
		name := tc.in
		if len(name) > 30 {
			name = name[:30] + "…"
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("Parse(%q): %v, want %v", name, err, tc.want)
			continue
		}
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q): %T is not *SyntaxError", name, err)
			continue
		}
		if tc.col != 0 && se.Col != tc.col {
			t.Errorf("Parse(%q): column %d, want %d (%v)", name, se.Col, tc.col, err)
		}
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Parse(%q): %q lacks %q", name, err, tc.msg)
		}
	}
}

// Repetition copies layers: changing one copy does not change another.
func TestRepetitionCopies(t *testing.T) {
	a, err := Parse("(A(kv=2))x3")
	if err != nil {
		t.Fatal(err)
	}
	a.Layers[0].Opts["kv"] = 1
	if a.Layers[1].Opts["kv"] != 2 || a.Layers[2].Opts["kv"] != 2 {
		t.Fatal("repeated layers share their option maps")
	}
}

func TestParseJSON(t *testing.T) {
	n := mustNorm(t, "vocab=256 norm=layer pos=learned context=256 untied : A(kv=2) M S G")
	b, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	if !Equal(got, n) {
		t.Fatalf("JSON round trip:\n%s\n%+v", b, got)
	}
	bad := []struct {
		in   string
		want error
	}{
		{``, ErrSyntax},
		{`{`, ErrSyntax},
		{`[]`, ErrSyntax},
		{`{"width": 128, "layers": [], "depth": 3}`, ErrSyntax},
		{`{"layers": [{"kind": "A", "options": {}}]}`, ErrSyntax},
		{`{"layers": [{"kind": "A"}]} {}`, ErrSyntax},
		{`{"layers": [{"kind": "A"}]} x`, ErrSyntax},
		{`{"width": 1.5, "layers": []}`, ErrSyntax},
		{`{"width": "128"}`, ErrSyntax},
		{`{"layers": [{"kind": "A", "opts": {"kv": 1e3}}]}`, ErrSyntax},
		{`{"layers": [{"kind": "A", "opts": {"kv": 99999999999999999999}}]}`, ErrSyntax},
		{`{"layers": [` + strings.Repeat(`{"kind":"A"},`, MaxJSONLen/12) + `{"kind":"A"}]}`, ErrBounds},
	}
	for _, tc := range bad {
		_, err := ParseJSON([]byte(tc.in))
		if !errors.Is(err, tc.want) {
			name := tc.in
			if len(name) > 40 {
				name = name[:40]
			}
			t.Errorf("ParseJSON(%s): %v, want %v", name, err, tc.want)
		}
	}
	// Well-formed JSON with invalid content parses, and Normalize reports it.
	a, err := ParseJSON([]byte(`{"layers": [{"kind": "A", "opts": {"kv": 3}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Normalize(a); !errors.Is(err, ErrIndivisible) {
		t.Fatalf("kv=3: %v", err)
	}
}

func TestMustParse(t *testing.T) {
	if n := MustParse("A M"); len(n.Layers) != 2 || n.Layers[1].Opts["hidden"] != 352 {
		t.Fatalf("MustParse: %+v", n)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("MustParse of a bad spec did not panic")
		}
	}()
	MustParse("A(kv=3)")
}

// The Composer patterns of research/nas.md §2 and MAD's default are expressible.
func TestPaperPatterns(t *testing.T) {
	tests := []struct {
		spec   string
		layers int
	}{
		{"attention swiglu attention swiglu", 4},            // MAD default (mA-Sg-mA-Sg)
		{"A*2 M*4", 6},                                      // Composer 6-layer: 2A+4M
		{"A*2 M*5 A*2 M*3 A M*3", 16},                       // Composer 16-layer
		{"AAMMMMMAAMMMAMMM", 16},                            // the same, as a letter string
		{"(A M M)x5 A", 16},                                 // 1:2 interleaving
		{"S M S M A M S M S M S M A M S M", 16},             // a 3-primitive AIRA-style hybrid
		{"width=2048 : A(heads=32,kv=8) M(hidden=8192)", 2}, // a Llama-3.2-1B-like block
	}
	for _, tc := range tests {
		n := mustNorm(t, tc.spec)
		if len(n.Layers) != tc.layers {
			t.Errorf("%q: %d layers, want %d", tc.spec, len(n.Layers), tc.layers)
		}
	}
}
