package arch

import (
	"encoding/json"
	"testing"

	"github.com/airanode/airanode/object"
)

var fuzzSpecs = []string{
	"A M A M", "(A M)x2 S(state=4) M", "A(kv=2,win=64) M S(state=4)", "AMAMSM", "A*3 G",
	"width=256 vocab=256 norm=layer pos=learned context=256 untied : (A(heads=8) G)x6",
	"tied=false : A", "A(heads=8,rot=32)", "((A)x2)x2", "A(", "Ax2", "width=: A", "(((", "A M)",
	"attention(kv=1) swiglu(hidden=64) mamba(dtrank=3,conv=2) gelu", ": A", "A*65", "S(expand=8)",
}

// FuzzParse: the parser never panics, and whatever parses prints to text that parses to the same
// model (and prints the same again).
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSpecs {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			return
		}
		if len(a.Layers) == 0 || len(a.Layers) > MaxDepth {
			t.Fatalf("Parse(%q) gave %d layers", s, len(a.Layers))
		}
		p := Print(a)
		b, err := Parse(p)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its print %q does not parse: %v", s, p, err)
		}
		if p2 := Print(b); p2 != p {
			t.Fatalf("print not stable: %q -> %q -> %q", s, p, p2)
		}
		na, errA := Normalize(a)
		nb, errB := Normalize(b)
		if (errA == nil) != (errB == nil) {
			t.Fatalf("%q and its print %q normalise differently: %v / %v", s, p, errA, errB)
		}
		if errA == nil {
			if !Equal(na, nb) {
				t.Fatalf("%q and its print %q are different models", s, p)
			}
			if err := CheckNormal(na); err != nil {
				t.Fatalf("normal form of %q is not normal: %v", s, err)
			}
			if _, err := Estimate(na, 64); err != nil && na.Pos != PosLearned {
				t.Fatalf("Estimate(%q): %v", s, err)
			}
		}
	})
}

// FuzzParseJSON: the JSON decoder never panics; a valid model's normal form prints to notation that
// parses back to it, and survives the JSON round trip.
func FuzzParseJSON(f *testing.F) {
	for _, s := range fuzzSpecs {
		if a, err := Parse(s); err == nil {
			if b, err := json.Marshal(a); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(`{"width":128,"layers":[{"kind":"A","opts":{"kv":3}}]}`))
	f.Add([]byte(`{"layers":[{"kind":"x"}]} []`))
	f.Add([]byte(`{"norm":"ln","pos":"abs","context":9,"layers":[{"kind":"mamba","opts":{"state":-1}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseJSON(b)
		if err != nil {
			return
		}
		n, err := Normalize(a)
		if err != nil {
			return
		}
		p := Print(n)
		back, err := Parse(p)
		if err != nil {
			t.Fatalf("print %q of a valid model does not parse: %v", p, err)
		}
		nb, err := Normalize(back)
		if err != nil || !Equal(nb, n) {
			t.Fatalf("print %q does not round-trip: %v", p, err)
		}
		j, err := json.Marshal(n)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseJSON(j)
		if err != nil || !Equal(again, n) {
			t.Fatalf("JSON round trip of %s: %v", j, err)
		}
	})
}

// FuzzDecode: decoding Arch objects from peers never panics, and accepted bytes are exactly the
// canonical encoding of their (normal) model.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSpecs {
		if a, err := Parse(s); err == nil {
			if b, _, err := Encode(a); err == nil {
				f.Add(b)
			}
			if b, _, err := object.Encode(a); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, c, err := Decode(b)
		if err != nil {
			return
		}
		b2, c2, err := Encode(a)
		if err != nil || string(b2) != string(b) || !c.Equals(c2) {
			t.Fatalf("accepted bytes are not the canonical encoding: %v", err)
		}
	})
}

// FuzzOperators: the search operators never panic and always return valid members of the space.
func FuzzOperators(f *testing.F) {
	f.Add("A M A M", "S G", uint64(1), uint8(0))
	f.Add("width=64 : (A(kv=1) M)x4", "S(state=4)", uint64(99), uint8(3))
	f.Fuzz(func(t *testing.T, s1, s2 string, seed uint64, spaceSel uint8) {
		a, err := Parse(s1)
		if err != nil {
			return
		}
		b, err := Parse(s2)
		if err != nil {
			return
		}
		spaces := []Space{{}, {MaxDepth: 8}, {Primitives: []string{"A", "M"}}, {MinWidth: 32, MaxWidth: 256, MaxParams: 5_000_000}}
		sp := spaces[int(spaceSel)%len(spaces)]
		if c, _, err := Mutate(sp, a, seed); err == nil {
			if err := sp.Contains(c); err != nil {
				t.Fatalf("Mutate gave a model outside the space: %v", err)
			}
		}
		if c, err := Crossover(sp, a, b, seed); err == nil {
			if err := sp.Contains(c); err != nil {
				t.Fatalf("Crossover gave a model outside the space: %v", err)
			}
		}
		if c, err := Stretch(a, int(seed%5)+1, int(seed/5%3)+1); err == nil {
			if err := CheckNormal(c); err != nil {
				t.Fatal(err)
			}
		}
	})
}
