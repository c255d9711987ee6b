package cuda

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

func TestParseKernels(t *testing.T) {
	for _, c := range []struct {
		spec string
		want map[string]string // nil with err: an error
		err  bool
	}{
		{spec: "", want: nil},
		{spec: "  ", want: nil},
		{spec: "a=b", want: map[string]string{"a": "b"}},
		{spec: " a = b , c=d", want: map[string]string{"a": "b", "c": "d"}},
		{spec: "a=a", want: map[string]string{"a": "a"}},
		{spec: "a", err: true},
		{spec: "a=", err: true},
		{spec: "=b", err: true},
		{spec: "a=b=c", err: true},
		{spec: "a=b,", err: true},
		{spec: ",a=b", err: true},
		{spec: "a=b,a=c", err: true},
		{spec: "a=b,,c=d", err: true},
	} {
		got, err := ParseKernels(c.spec)
		if c.err {
			if err == nil || !errors.Is(err, ErrKernels) {
				t.Errorf("ParseKernels(%q) = %v, %v; want an ErrKernels error", c.spec, got, err)
			}
			continue
		}
		if err != nil || !maps.Equal(got, c.want) || (got == nil) != (c.want == nil) {
			t.Errorf("ParseKernels(%q) = %v, %v; want %v", c.spec, got, err, c.want)
		}
	}
	if got := FormatKernels(map[string]string{"k_b": "x", "k_a": "y"}); got != "k_a=y,k_b=x" {
		t.Errorf("FormatKernels = %q", got)
	}
	if got := FormatKernels(nil); got != "" {
		t.Errorf("FormatKernels(nil) = %q", got)
	}
}

// FuzzParseKernels: any input either fails with ErrKernels or gives pairs of non-empty names
// without '=' or ',', which FormatKernels writes back to a spec that parses to the same choice.
func FuzzParseKernels(f *testing.F) {
	for _, s := range []string{"", "a=b", " a = b , c=d", "a=b,a=c", "a=b=c", ",", "k_attn_fwd_c=k_attn_fwd_t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		got, err := ParseKernels(spec)
		if err != nil {
			if !errors.Is(err, ErrKernels) {
				t.Fatalf("ParseKernels(%q): error %v is not ErrKernels", spec, err)
			}
			return
		}
		for from, to := range got {
			if from == "" || to == "" || strings.ContainsAny(from+to, "=,") {
				t.Fatalf("ParseKernels(%q) gave the pair %q=%q", spec, from, to)
			}
		}
		again, err := ParseKernels(FormatKernels(got))
		if err != nil || !maps.Equal(again, got) {
			t.Fatalf("ParseKernels(%q) = %v, but its formatting %q parses to %v, %v", spec, got, FormatKernels(got), again, err)
		}
	})
}
