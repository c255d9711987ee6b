//go:build cudaemu && !cuda

package main

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/airanode/airanode/gpu/cuda"
)

// TestFlags: bench's and eval's bad flags are refused with an error that names them, before any
// training (on the emulated device, which would take minutes).
func TestFlags(t *testing.T) {
	for _, c := range []struct {
		args    []string
		want    string
		kernels bool // the error is a cuda.ErrKernels
	}{
		{[]string{"bench", "--kernels", "k_nope=k_matmul"}, "--kernels", true},
		{[]string{"bench", "--kernels", "k_attn_fwd_c"}, "--kernels", true},
		{[]string{"bench", "--kernels", "k_attn_fwd_c=k_attn_dq_t"}, "cannot replace", true},
		{[]string{"eval", "--kernels", "k_attn_dq_r=k_attn_dq_t,k_attn_dq_r=k_attn_dq_t"}, "twice", true},
		{[]string{"eval", "--kernels", "k_matmul=k_mm_128x128_8x8_k16_f"}, "not a kernel", true},
		{[]string{"bench", "--steps", "0"}, "--steps", false},
		{[]string{"bench", "extra"}, "unexpected", false},
		{[]string{"bench", "--configs", "Z", "--steps", "1", "--warmup", "0"}, "unknown config", false},
		{[]string{"bench", "--configs", "C,Z", "--steps", "1", "--warmup", "0"}, "unknown config", false}, // before C trains
		{[]string{"bench", "--reference-kernels", "--kernels", "k_attn_fwd_c=k_attn_fwd_t"}, "--reference-kernels", false},
		{[]string{"eval", "--arch", "A Q"}, "--arch", false},
		{[]string{"frobnicate"}, "unknown command", false},
	} {
		out, err := runCapturing(t, c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) || c.kernels != errors.Is(err, cuda.ErrKernels) {
			t.Errorf("airanode-cuda %q: error %v, want one containing %q (ErrKernels: %v)", c.args, err, c.want, c.kernels)
		}
		if out != "" { // every config trained or evaluation run prints a line
			t.Errorf("airanode-cuda %q printed before failing:\n%s", c.args, out)
		}
	}
}

// runCapturing runs the command with standard output going to a file, and returns what it printed
// and its error.
func runCapturing(t *testing.T, args []string) (string, error) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stdout := os.Stdout
	os.Stdout = f
	runErr := run(args)
	os.Stdout = stdout
	out, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(out), runErr
}
