package object

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
)

// h decodes hex written with optional spaces.
func h(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err) // test constant
	}
	return b
}

type inner struct {
	Name string   `cbor:"name"`
	Tags []string `cbor:"tags,omitempty"`
}

// sample has a field of every kind objects use.
type sample struct {
	ID     uint64           `cbor:"id"`
	Delta  int64            `cbor:"delta"`
	OK     bool             `cbor:"ok"`
	Blob   []byte           `cbor:"blob,omitempty"`
	Inner  inner            `cbor:"inner"`
	List   []inner          `cbor:"list,omitempty"`
	Attrs  map[string]int64 `cbor:"attrs,omitempty"`
	Parent cid.Cid          `cbor:"parent,omitempty"`
	Opt    *int64           `cbor:"opt,omitempty"`
	Text   string           `cbor:"text,omitempty"`
}

// small is the target of the hand-written encodings below.
type small struct {
	A int64  `cbor:"a"`
	B string `cbor:"b,omitempty"`
}

func TestRoundTrip(t *testing.T) {
	neg := int64(-42)
	for _, tc := range []struct {
		name string
		v    sample
	}{
		{"zero", sample{}},
		{"scalars", sample{ID: math.MaxUint64, Delta: math.MinInt64, OK: true}},
		{"nested", sample{
			ID:     7,
			Blob:   []byte{0, 1, 2, 255},
			Inner:  inner{Name: "attention", Tags: []string{"kv=2", "win=64"}},
			List:   []inner{{Name: "a"}, {Name: "b", Tags: []string{"x"}}},
			Attrs:  map[string]int64{"lr_micro": 3000, "seed": -1, "z": 0},
			Parent: RawCID([]byte("parent checkpoint")),
			Opt:    &neg,
			Text:   "unicode: é 模型 🚀",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, c, err := Encode(tc.v)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !c.Equals(ObjectCID(b)) {
				t.Fatalf("Encode CID %s != ObjectCID %s", c, ObjectCID(b))
			}
			var out sample
			if err := Decode(c, b, &out); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(out, tc.v) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", out, tc.v)
			}
			again, err := Marshal(out)
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("re-marshal differs: %x vs %x (%v)", again, b, err)
			}
			c2, err := CID(out)
			if err != nil || !c2.Equals(c) {
				t.Fatalf("CID = %s, %v; want %s", c2, err, c)
			}
		})
	}
}

func TestMapOrderIndependence(t *testing.T) {
	keys := []string{"zeta", "a", "bb", "b", "aa", "c", "ab", "é", "Z", "0"}
	var first []byte
	for round := range 20 {
		m := map[string]int64{}
		for i := range keys { // a different insertion order each round
			k := keys[(i*7+round)%len(keys)]
			m[k] = int64(len(k))
		}
		b, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = b
		} else if !bytes.Equal(b, first) {
			t.Fatalf("round %d: %x != %x", round, b, first)
		}
	}
	// Keys are sorted by their encoding: shorter text first, then bytewise.
	b, err := Marshal(map[string]int64{"aa": 2, "b": 1})
	if err != nil || !bytes.Equal(b, h("a2 61 62 01 62 61 61 02")) {
		t.Fatalf("Marshal = %x, %v", b, err)
	}
	// A struct and a map with the same fields have the same bytes, whatever the field order.
	type zFirst struct {
		Z int64 `cbor:"z"`
		A int64 `cbor:"a"`
	}
	sb, err := Marshal(zFirst{Z: 1, A: 2})
	if err != nil {
		t.Fatal(err)
	}
	mb, err := Marshal(map[string]int64{"a": 2, "z": 1})
	if err != nil || !bytes.Equal(sb, mb) {
		t.Fatalf("struct %x != map %x (%v)", sb, mb, err)
	}
}

func TestUnmarshalAccepts(t *testing.T) {
	var s small
	if err := Unmarshal(h("a1 61 61 01"), &s); err != nil || s.A != 1 {
		t.Fatalf("canonical {a:1}: %+v, %v", s, err)
	}
	var m map[string]int64
	if err := Unmarshal(h("a2 61 62 01 62 61 61 02"), &m); err != nil || m["aa"] != 2 || m["b"] != 1 {
		t.Fatalf("canonical {b:1, aa:2}: %v, %v", m, err)
	}
	var a any
	if err := Unmarshal(h("83 01 20 63 61 62 63"), &a); err != nil { // [1, -1, "abc"]
		t.Fatalf("canonical array: %v", err)
	}
}

func TestUnmarshalRejects(t *testing.T) {
	big := make([]byte, 0, MaxSize+8)
	big = append(big, h("5a 00 10 00 00")...)
	big = append(big, make([]byte, MaxSize)...)
	deep := append(bytes.Repeat([]byte{0x81}, MaxNesting+1), 0x01)
	longArray := append(h("9a 00 01 00 01"), make([]byte, MaxArray+1)...)
	bigMap := h("b9 04 01")
	for i := range MaxMap + 1 {
		bigMap = append(bigMap, 0x62, byte('a'+i/256), byte(i%256&0x3f+0x30))
		bigMap = append(bigMap, 0x01)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		into func() any
		want error
	}{
		{"half float", h("a1 61 61 f9 3c 00"), newSmall, ErrFloat},
		{"single float", h("a1 61 61 fa 3f 80 00 00"), newSmall, ErrFloat},
		{"double float", h("a1 61 61 fb 3f f0 00 00 00 00 00 00"), newSmall, ErrFloat},
		{"NaN", h("f9 7e 00"), newAny, ErrFloat},
		{"Inf", h("f9 7c 00"), newAny, ErrFloat},
		{"float in array", h("82 01 f9 3c 00"), newAny, ErrFloat},
		{"float as map key", h("a1 f9 3c 00 01"), newAny, ErrFloat},
		{"unsorted keys", h("a2 61 62 61 78 61 61 01"), newSmall, ErrNotCanonical},
		{"long key before short", h("a2 62 61 61 02 61 62 01"), newMap, ErrNotCanonical},
		{"int in 1 extra byte", h("a1 61 61 18 01"), newSmall, ErrNotCanonical},
		{"int in 2 extra bytes", h("a1 61 61 19 00 01"), newSmall, ErrNotCanonical},
		{"int in 4 extra bytes", h("a1 61 61 1a 00 00 00 01"), newSmall, ErrNotCanonical},
		{"int in 8 extra bytes", h("a1 61 61 1b 00 00 00 00 00 00 00 01"), newSmall, ErrNotCanonical},
		{"negative int not shortest", h("a1 61 61 38 00"), newSmall, ErrNotCanonical},
		{"string length not shortest", h("a1 78 01 61 01"), newSmall, ErrNotCanonical},
		{"map length not shortest", h("b8 01 61 61 01"), newSmall, ErrNotCanonical},
		{"explicit zero of omitempty", h("a2 61 61 01 61 62 60"), newSmall, ErrNotCanonical},
		{"null for an int", h("a1 61 61 f6"), newSmall, ErrNotCanonical},
		{"key in other case", h("a1 61 41 01"), newSmall, ErrNotCanonical},
		{"undefined", h("f7"), newAny, ErrNotCanonical},
		{"indefinite map", h("bf 61 61 01 ff"), newSmall, ErrMalformed},
		{"indefinite array", h("9f 01 ff"), newAny, ErrMalformed},
		{"indefinite text", h("a2 61 61 01 61 62 7f 61 78 ff"), newSmall, ErrMalformed},
		{"indefinite bytes", h("5f 41 00 ff"), newAny, ErrMalformed},
		{"duplicate key", h("a2 61 61 01 61 61 01"), newSmall, ErrMalformed},
		{"duplicate key into any", h("a2 61 61 01 61 61 01"), newAny, ErrMalformed},
		{"trailing byte", h("a1 61 61 01 00"), newSmall, ErrMalformed},
		{"trailing item", h("a1 61 61 01 a0"), newAny, ErrMalformed},
		{"truncated", h("a1 61 61"), newSmall, ErrMalformed},
		{"empty", nil, newSmall, ErrMalformed},
		{"unknown field", h("a2 61 61 01 61 63 01"), newSmall, ErrMalformed},
		{"wrong type", h("a1 61 61 61 78"), newSmall, ErrMalformed},
		{"invalid UTF-8", h("a2 61 61 01 61 62 61 ff"), newSmall, ErrMalformed},
		{"time tag", h("c1 1a 00 00 00 00"), newAny, ErrMalformed},
		{"CID tag 42", h("d8 2a 41 00"), newAny, ErrMalformed},
		{"bignum tag", h("c2 41 01"), newAny, ErrMalformed},
		{"reserved additional info", h("1c"), newAny, ErrMalformed},
		{"over MaxSize", big, newAny, ErrTooLarge},
		{"over MaxNesting", deep, newAny, ErrMalformed},
		{"over MaxArray", longArray, newAny, ErrMalformed},
		{"over MaxMap", bigMap, newAny, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Unmarshal(tc.in, tc.into())
			if !errors.Is(err, tc.want) {
				t.Fatalf("Unmarshal(%.40x) = %v, want %v", tc.in, err, tc.want)
			}
		})
	}
}

func newSmall() any { return new(small) }
func newAny() any   { return new(any) }
func newMap() any   { return new(map[string]int64) }

func TestUnmarshalBadTarget(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    any
	}{
		{"nil", nil},
		{"non-pointer", small{}},
		{"nil pointer", (*small)(nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Unmarshal(h("a1 61 61 01"), tc.v); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Unmarshal into %T = %v, want ErrMalformed", tc.v, err)
			}
		})
	}
}

func TestMarshalRejects(t *testing.T) {
	type withFloat struct {
		X float64 `cbor:"x,omitempty"`
	}
	type nested struct {
		In withFloat `cbor:"in"`
	}
	f := float32(1)
	var deep any = 1
	for range MaxNesting + 1 {
		deep = []any{deep}
	}
	longMap := map[string]int{}
	for i := range MaxMap + 1 {
		longMap[strings.Repeat("k", i%7+1)+string(rune('0'+i%10))+string(rune(0x100+i))] = i
	}
	for _, tc := range []struct {
		name string
		v    any
		want error
	}{
		{"float field", withFloat{X: 1.5}, ErrFloat},
		{"zero float field", withFloat{}, ErrFloat},
		{"nested float", nested{}, ErrFloat},
		{"float in any", map[string]any{"x": 0.0}, ErrFloat},
		{"float32 in slice", []any{1, float32(2)}, ErrFloat},
		{"pointer to float", &f, ErrFloat},
		{"float map key", map[float64]int{1: 1}, ErrFloat},
		{"NaN", math.NaN(), ErrFloat},
		{"Inf", math.Inf(1), ErrFloat},
		{"channel", make(chan int), ErrMalformed},
		{"function", func() {}, ErrMalformed},
		{"over MaxSize", make([]byte, MaxSize), ErrTooLarge},
		{"over MaxNesting", deep, ErrMalformed},
		{"over MaxArray", make([]int8, MaxArray+1), ErrMalformed},
		{"over MaxMap", longMap, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Marshal(tc.v); !errors.Is(err, tc.want) {
				t.Fatalf("Marshal(%T) = %v, want %v", tc.v, err, tc.want)
			}
			if _, _, err := Encode(tc.v); !errors.Is(err, tc.want) {
				t.Fatalf("Encode(%T) = %v, want %v", tc.v, err, tc.want)
			}
		})
	}
	if len(longMap) != MaxMap+1 {
		t.Fatalf("test map has %d keys", len(longMap))
	}
	// At the caps, Marshal works and Unmarshal takes the bytes back.
	var atDepth any = 1
	for range MaxNesting {
		atDepth = []any{atDepth}
	}
	for _, v := range []any{atDepth, make([]int8, MaxArray)} {
		b, err := Marshal(v)
		if err != nil {
			t.Fatalf("Marshal(%T) at the cap: %v", v, err)
		}
		var out any
		if err := Unmarshal(b, &out); err != nil {
			t.Fatalf("Unmarshal at the cap: %v", err)
		}
	}
}
