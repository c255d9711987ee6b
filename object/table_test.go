package object

import (
	"errors"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// validateCase is one row of a Validate table: mutate changes a valid fixture; Validate must then
// succeed (want "") or fail with an error wrapping ErrInvalid whose text mentions want.
type validateCase[T any] struct {
	name   string
	mutate func(*T)
	want   string
}

// runValidate runs each case as a subtest on a fresh fixture.
func runValidate[T interface{ Validate() error }](t *testing.T, fixture func() T, cases []validateCase[T]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := fixture()
			tc.mutate(&v)
			err := v.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want ErrInvalid mentioning %q", err, tc.want)
			}
		})
	}
}

// errCase is one row of a table of calls that must fail: call's error must wrap want.
type errCase struct {
	name string
	call func() error
	want error
}

// runErrors runs each case as a subtest.
func runErrors(t *testing.T, cases []errCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}

// seal signs v as an object of kind with sk, failing the test on error.
func seal(t testing.TB, sk crypto.PrivKey, kind Kind, v any) []byte {
	t.Helper()
	env, err := Seal(sk, kind, v)
	if err != nil {
		t.Fatal(err)
	}
	return env
}
