package cuda

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// This file builds without the cuda tag (ParseKernels is fuzzed on every machine); Device.SetKernels
// and the kernels it may choose are in kernels.go.

// ErrKernels reports a kernel choice that is malformed or names kernels the device cannot swap.
var ErrKernels = errors.New("cuda: kernel choice")

// ParseKernels reads a kernel choice (Device.SetKernels): comma-separated pairs
// "default=alternative", each naming a kernel the device launches by default and one it may launch
// in its place with the same bits, e.g. "k_attn_fwd_c=k_attn_fwd_t,k_mm_32x16_2x2_k64_pf2_f=k_mm_32x32_2x4_k64_pf2_f".
// Spaces around names are ignored; "" is no choice (a nil map). A pair without both names or a
// default named twice is an error. It checks the form only: SetKernels checks the names.
func ParseKernels(spec string) (map[string]string, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, nil
	}
	choice := map[string]string{}
	for _, pair := range strings.Split(spec, ",") {
		from, to, ok := strings.Cut(pair, "=")
		from, to = strings.TrimSpace(from), strings.TrimSpace(to)
		if !ok || from == "" || to == "" || strings.Contains(to, "=") {
			return nil, fmt.Errorf("%w: %q is not default=alternative", ErrKernels, strings.TrimSpace(pair))
		}
		if _, dup := choice[from]; dup {
			return nil, fmt.Errorf("%w: %s is chosen twice", ErrKernels, from)
		}
		choice[from] = to
	}
	return choice, nil
}

// FormatKernels writes a kernel choice as ParseKernels reads it, its defaults in name order ("" for
// none).
func FormatKernels(choice map[string]string) string {
	pairs := make([]string, 0, len(choice))
	for from, to := range choice {
		pairs = append(pairs, from+"="+to)
	}
	slices.Sort(pairs)
	return strings.Join(pairs, ",")
}
