package object

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// unmarshalSeeds are encodings the fuzzers start from: canonical objects and each kind of
// rejected input.
func unmarshalSeeds(f *testing.F) [][]byte {
	f.Helper()
	var seeds [][]byte
	for _, v := range []any{
		small{A: 1, B: "x"},
		sample{ID: 1, Inner: inner{Name: "a", Tags: []string{"t"}}, Attrs: map[string]int64{"k": -3}, Parent: RawCID([]byte("p"))},
		map[string]any{"a": []any{int64(1), "two", []byte{3}}, "b": map[string]any{"c": true, "d": nil}},
		[]any{uint64(1 << 63), int64(-1 << 63), ""},
	} {
		b, err := Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	for _, s := range []string{
		"a1 61 61 f9 3c 00", "a2 61 62 61 78 61 61 01", "a1 61 61 18 01", "bf 61 61 01 ff",
		"a2 61 61 01 61 61 01", "a1 61 61 01 00", "c1 1a 00 00 00 00", "f7", "f0", "3b ff ff ff ff ff ff ff ff",
		"a1 01 02", "a1 41 61 02", "81 81 81 81 81 81 81 81 81 81 81 81 81 81 81 81 81 01",
	} {
		seeds = append(seeds, h(s))
	}
	return seeds
}

// FuzzUnmarshal: Unmarshal never panics, and whatever it accepts re-marshals to the same bytes
// (so one value has one encoding and one CID) and decodes the same way by its CID.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range unmarshalSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		targets := []func() any{
			func() any { return new(any) },
			func() any { return new(sample) },
			func() any { return new(small) },
			func() any { return new(map[string]any) },
			func() any { return new([]any) },
		}
		for _, newTarget := range targets {
			v := newTarget()
			err := Unmarshal(b, v)
			if err != nil {
				if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotCanonical) &&
					!errors.Is(err, ErrFloat) && !errors.Is(err, ErrTooLarge) {
					t.Fatalf("Unmarshal into %T: error %v wraps no sentinel", v, err)
				}
				continue
			}
			again, err := Marshal(v)
			if err != nil {
				t.Fatalf("Unmarshal into %T accepted %x but Marshal fails: %v", v, b, err)
			}
			if !bytes.Equal(again, b) {
				t.Fatalf("Unmarshal into %T accepted %x but it re-marshals to %x", v, b, again)
			}
			if err := Decode(ObjectCID(b), b, newTarget()); err != nil {
				t.Fatalf("Decode by CID fails after Unmarshal succeeded: %v", err)
			}
		}
	})
}

// FuzzParseCID: parsing never panics; an accepted CID is on the allow-list and round-trips
// through its string and binary forms.
func FuzzParseCID(f *testing.F) {
	for _, c := range []string{
		ObjectCID([]byte("x")).String(), RawCID(nil).String(),
		"QmPZ9gcCEpqKTo6aq61g2nXGUhM4iCL3ewB6LDXZCtioEB", "bafy", "", "z", "f01711220",
	} {
		f.Add(c)
	}
	f.Add(string(ObjectCID([]byte("y")).Bytes()))
	f.Fuzz(func(t *testing.T, s string) {
		if c, err := ParseCID(s); err == nil {
			if err := CheckCID(c); err != nil {
				t.Fatalf("ParseCID(%q) accepted a CID CheckCID rejects: %v", s, err)
			}
			c2, err := ParseCID(c.String())
			if err != nil || !c2.Equals(c) {
				t.Fatalf("string round trip of %s: %s, %v", c, c2, err)
			}
		} else if !errors.Is(err, ErrBadCID) {
			t.Fatalf("ParseCID error %v is not ErrBadCID", err)
		}
		if c, err := CastCID([]byte(s)); err == nil {
			if !bytes.Equal(c.Bytes(), []byte(s)) {
				t.Fatalf("CastCID(%x) = %x: not the same bytes", s, c.Bytes())
			}
			if err := CheckCID(c); err != nil {
				t.Fatalf("CastCID accepted a CID CheckCID rejects: %v", err)
			}
		} else if !errors.Is(err, ErrBadCID) {
			t.Fatalf("CastCID error %v is not ErrBadCID", err)
		}
	})
}

// FuzzOpen: opening never panics; an envelope that opens is a valid block under its SealedCID,
// and Open of its own kind agrees with OpenAny on the author.
func FuzzOpen(f *testing.F) {
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	for i, v := range []any{small{A: 1}, sample{ID: 2}, map[string]any{"x": "y"}} {
		kinds := []Kind{KindSearch, KindResult, KindClaim}
		env, err := Seal(sk, kinds[i], v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(env)
		bad := bytes.Clone(env)
		bad[len(bad)/2] ^= 0x40
		f.Add(bad)
	}
	f.Add([]byte{})
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, env []byte) {
		s, err := OpenAny(env)
		if err != nil {
			if !errors.Is(err, ErrSignature) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("OpenAny error %v wraps no sentinel", err)
			}
			return
		}
		c, s2, err := SealedCID(env)
		if err != nil || s2.Author != s.Author || !c.Equals(ObjectCID(s.Data)) {
			t.Fatalf("SealedCID disagrees with OpenAny: %s %v", c, err)
		}
		if err := VerifyBlock(c, env); err != nil {
			t.Fatalf("opened envelope does not verify under its CID: %v", err)
		}
		var v any
		who, err := Open(env, s.Kind, &v)
		if err == nil && who != s.Author {
			t.Fatalf("Open author %s != OpenAny author %s", who, s.Author)
		}
	})
}

// FuzzVerifyBlock: verification never panics, and a block it accepts either hashes to the CID or
// is an envelope whose payload does.
func FuzzVerifyBlock(f *testing.F) {
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	env, err := Seal(sk, KindProposal, small{A: 3})
	if err != nil {
		f.Fatal(err)
	}
	pc, _, err := SealedCID(env)
	if err != nil {
		f.Fatal(err)
	}
	raw := []byte("blob")
	f.Add(pc.Bytes(), env)
	f.Add(RawCID(raw).Bytes(), raw)
	f.Add(ObjectCID(raw).Bytes(), raw)
	f.Add(pc.Bytes(), raw)
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, cb, data []byte) {
		c, err := CastCID(cb)
		if err != nil {
			return
		}
		if err := VerifyBlock(c, data); err != nil {
			if !errors.Is(err, ErrHashMismatch) && !errors.Is(err, ErrBadCID) {
				t.Fatalf("VerifyBlock error %v wraps no sentinel", err)
			}
			return
		}
		if Verify(c, data) == nil {
			return
		}
		got, _, err := SealedCID(data)
		if err != nil || !got.Equals(c) {
			t.Fatalf("VerifyBlock accepted %x under %s: not its hash and not its envelope (%s, %v)", data, c, got, err)
		}
	})
}
