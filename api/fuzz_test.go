package api

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/airanode/airanode/registry"
)

// FuzzDecodeSubmit checks that the submit decoder never panics, refuses with ErrInvalid only, and
// that what it accepts satisfies the request's bounds.
func FuzzDecodeSubmit(f *testing.F) {
	for _, s := range []string{
		`{"arch":"A M","protocol":"mad-lite","seed":1,"replicas":2}`,
		`{"arch":"width=32: A M","protocol_object":{"type":"airanode/protocol/1"}}`,
		`{"arch":"A","protocol":"text","data":"bafy"}`,
		`{"arch":"A","protocol":"p"} x`,
		`null`, `[]`, `{"seed":18446744073709551615}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeSubmit(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if err := r.Check(); err != nil {
			t.Fatalf("accepted a request that fails Check: %v", err)
		}
	})
}

// FuzzDecodeWorker does the same for worker actions.
func FuzzDecodeWorker(f *testing.F) {
	f.Add("pause", []byte(``))
	f.Add("workers", []byte(`{"workers":3}`))
	f.Add("drain", []byte(`{}`))
	f.Add("x", []byte(`{"workers":-1}`))
	f.Fuzz(func(t *testing.T, action string, b []byte) {
		r, err := DecodeWorker(action, b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if r.Action != action || r.Check() != nil {
			t.Fatalf("accepted %+v for action %q", r, action)
		}
	})
}

// FuzzDecodeLaunch checks that the launch decoder never panics, refuses with ErrInvalid only, and
// that what it accepts has exactly one of spec and preset, a known preset, and re-encodes to a
// body it accepts again with the same spec.
func FuzzDecodeLaunch(f *testing.F) {
	for _, s := range []string{
		`{"preset":"demo"}`,
		`{"preset":"mad-lite-small","dry_run":true}`,
		`{"spec":{"name":"x","space":{"primitives":["A","M"],"min_depth":2,"max_depth":3},"protocol":"mad-lite","budget":5,"agents":[{"name":"random"}],"seed":4}}`,
		`{"spec":{"name":"x","policy":{"replicas":3}},"dry_run":false}`,
		`{"spec":{"name":"x","protocol_object":{"type":"airanode/protocol/1"}}}`,
		`{"spec":null,"preset":"demo"}`,
		`{"spec":{},"preset":"demo"}`,
		`{"spec":{"bugdet":1}}`, `{"spec":7}`, `{}`, `null`, `[]`, ``, `{"preset":"demo"} x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeLaunch(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if err := r.Check(); err != nil {
			t.Fatalf("accepted a request that fails Check: %v", err)
		}
		again, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", r, err)
		}
		r2, err := DecodeLaunch(again)
		if err != nil {
			t.Fatalf("re-encoded request %s refused: %v", again, err)
		}
		if r2.Preset != r.Preset || r2.DryRun != r.DryRun || (r2.Spec == nil) != (r.Spec == nil) {
			t.Fatalf("round trip changed the request: %+v -> %+v", r, r2)
		}
	})
}

// FuzzDecodeTop checks the leaderboard query decoder: no panics, ErrInvalid only, and what it
// accepts is within bounds.
func FuzzDecodeTop(f *testing.F) {
	for _, s := range []string{
		``, `search=demo&n=5&unverified=1`, `protocol=bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy`,
		`n=0`, `n=1&n=2`, `x=1`, `search=%zz`, `n=1;n=2`, `unverified=maybe`, `search=Demo`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		r, err := decodeTop(q)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if r.Query.N < 1 || r.Query.N > registry.MaxTop {
			t.Fatalf("accepted n %d", r.Query.N)
		}
		if r.SearchName != "" && (r.Query.Search.Defined() || checkSearchRef(r.SearchName) != nil) {
			t.Fatalf("accepted search name %q with search %v", r.SearchName, r.Query.Search)
		}
	})
}
