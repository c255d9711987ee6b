package object

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func validAttestation() Attestation {
	return Attestation{
		Result:   ObjectCID([]byte("result")).String(),
		Task:     ObjectCID([]byte("task")).String(),
		Verifier: "12D3KooWMzNx81p7TD7cg1PqtG23XBZtJA1cF4jToUA7YmPgnh25",
		Verdict:  Agree,
		Segment:  3,
		Digest:   bytes.Repeat([]byte{7}, DigestSize),
		Score:    612_345,
		Class:    "cpu-v1",
	}
}

func TestAttestationValidate(t *testing.T) {
	runValidate(t, func() Attestation { return validAttestation() }, []validateCase[Attestation]{
		{"ok", func(*Attestation) {}, ""},
		{"ok disagree with digest", func(a *Attestation) { a.Verdict = Disagree }, ""},
		{"ok disagree could not run", func(a *Attestation) { a.Verdict, a.Digest = Disagree, nil }, ""},
		{"ok segment zero, score zero", func(a *Attestation) { a.Segment, a.Score = 0, 0 }, ""},
		{"bad result cid", func(a *Attestation) { a.Result = "Qm" }, "result"},
		{"empty task", func(a *Attestation) { a.Task = "" }, "task"},
		{"no verifier", func(a *Attestation) { a.Verifier = "" }, "verifier"},
		{"long verifier", func(a *Attestation) { a.Verifier = strings.Repeat("x", 200) }, "verifier"},
		{"no class", func(a *Attestation) { a.Class = "" }, "class"},
		{"negative segment", func(a *Attestation) { a.Segment = -1 }, "segment"},
		{"segment over cap", func(a *Attestation) { a.Segment = MaxSegments }, "segment"},
		{"unknown verdict", func(a *Attestation) { a.Verdict = "maybe" }, "verdict"},
		{"empty verdict", func(a *Attestation) { a.Verdict = "" }, "verdict"},
		{"agree without digest", func(a *Attestation) { a.Digest = nil }, "agree"},
		{"agree short digest", func(a *Attestation) { a.Digest = []byte{1} }, "agree"},
		{"disagree short digest", func(a *Attestation) { a.Verdict, a.Digest = Disagree, []byte{1, 2} }, "disagree"},
	})
}

func TestPolicyValidate(t *testing.T) {
	runValidate(t, func() Policy { return DefaultPolicy() }, []validateCase[Policy]{
		{"default", func(*Policy) {}, ""},
		{"single trusted swarm", func(p *Policy) { *p = Policy{Replicas: 1, Quorum: 1} }, ""},
		{"max", func(p *Policy) {
			*p = Policy{Replicas: MaxReplicas, Quorum: MaxReplicas, SpotCheck: Fixed, Tolerance: Fixed, MaxExtra: MaxReplicas}
		}, ""},
		{"zero replicas", func(p *Policy) { p.Replicas = 0 }, "replicas"},
		{"too many replicas", func(p *Policy) { p.Replicas = MaxReplicas + 1 }, "replicas"},
		{"zero quorum", func(p *Policy) { p.Quorum = 0 }, "quorum"},
		{"quorum over replicas", func(p *Policy) { p.Quorum = 3 }, "quorum"},
		{"negative spot check", func(p *Policy) { p.SpotCheck = -1 }, "spot check"},
		{"spot check over 1", func(p *Policy) { p.SpotCheck = Fixed + 1 }, "spot check"},
		{"negative tolerance", func(p *Policy) { p.Tolerance = -5 }, "tolerance"},
		{"tolerance over 1", func(p *Policy) { p.Tolerance = 2 * Fixed }, "tolerance"},
		{"negative extra", func(p *Policy) { p.MaxExtra = -1 }, "max extra"},
		{"too many extra", func(p *Policy) { p.MaxExtra = MaxReplicas + 1 }, "max extra"},
	})
}

func TestVerifyTypesRoundTrip(t *testing.T) {
	for _, v := range []any{validAttestation(), Attestation{
		Result: validAttestation().Result, Task: validAttestation().Task, Verifier: "p", Verdict: Disagree, Class: "c",
	}, DefaultPolicy(), Policy{Replicas: 1, Quorum: 1}} {
		b, c, err := Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		switch want := v.(type) {
		case Attestation:
			var got Attestation
			if err := Decode(c, b, &got); err != nil {
				t.Fatal(err)
			}
			if got.Verdict != want.Verdict || !bytes.Equal(got.Digest, want.Digest) || got.Segment != want.Segment ||
				got.Score != want.Score || got.Class != want.Class || got.Result != want.Result {
				t.Fatalf("round trip: got %+v, want %+v", got, want)
			}
		case Policy:
			var got Policy
			if err := Decode(c, b, &got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("round trip: got %+v, want %+v", got, want)
			}
		}
	}
	// The default policy has one encoding (and so one CID), with the field names of the spec.
	b, err := Marshal(DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"replicas", "quorum", "spot_check", "tolerance", "max_extra"} {
		if !bytes.Contains(b, []byte(key)) {
			t.Fatalf("encoded policy %x lacks key %q", b, key)
		}
	}
	// A zero that the encoder omits may not be spelled out: {replicas:1, quorum:1, tolerance:0}.
	explicitZero := h("a3 66 71 75 6f 72 75 6d 01 68 72 65 70 6c 69 63 61 73 01 69 74 6f 6c 65 72 61 6e 63 65 00")
	var p Policy
	if err := Unmarshal(explicitZero, &p); !errors.Is(err, ErrNotCanonical) {
		t.Fatalf("explicit zero tolerance: err = %v, want ErrNotCanonical", err)
	}
}

// FuzzAttestation: decoding never panics; what decodes re-encodes to the same bytes, and
// Validate never panics on it.
func FuzzAttestation(f *testing.F) {
	for _, a := range []Attestation{validAttestation(), {Verdict: Disagree}, {}} {
		b, err := Marshal(a)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{0xa0})
	f.Add(h("a1 67 76 65 72 64 69 63 74 f9 3c 00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var a Attestation
		if err := Unmarshal(b, &a); err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotCanonical) &&
				!errors.Is(err, ErrFloat) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		again, err := Marshal(a)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted %x but re-encodes to %x (%v)", b, again, err)
		}
		if err := a.Validate(); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("Validate error %v is not ErrInvalid", err)
		}
	})
}

// FuzzPolicy: decoding never panics; what decodes re-encodes to the same bytes; a policy that
// validates has sane bounds.
func FuzzPolicy(f *testing.F) {
	for _, p := range []Policy{DefaultPolicy(), {Replicas: 1, Quorum: 1}, {Replicas: -1}} {
		b, err := Marshal(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xa0})
	f.Add(h("a1 66 71 75 6f 72 75 6d 3b ff ff ff ff ff ff ff ff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Policy
		if err := Unmarshal(b, &p); err != nil {
			return
		}
		again, err := Marshal(p)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted %x but re-encodes to %x (%v)", b, again, err)
		}
		err = p.Validate()
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate error %v is not ErrInvalid", err)
			}
			return
		}
		if p.Quorum < 1 || p.Quorum > p.Replicas || p.Replicas > MaxReplicas || p.MaxExtra > MaxReplicas ||
			p.Tolerance < 0 || p.Tolerance > Fixed || p.SpotCheck < 0 || p.SpotCheck > Fixed {
			t.Fatalf("Validate accepted out-of-bounds %+v", p)
		}
	})
}
