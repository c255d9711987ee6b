package api

import (
	"errors"
	"testing"
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
