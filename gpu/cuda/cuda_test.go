//go:build cuda

package cuda

import (
	"testing"

	"github.com/airanode/airanode/gpu/cpu"
	"github.com/airanode/airanode/gpu/devicetest"
)

// These tests need an NVIDIA GPU; they are built with `make cuda-test-bin` and run by
// scripts/gpu-check.sh on a GPU machine.

func open(t *testing.T) *Device {
	t.Helper()
	d, err := New(0)
	if err != nil {
		t.Fatalf("open cuda device: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	t.Logf("device: %s", d.Name())
	return d
}

// TestConformance checks every kernel against the float64 references and run-to-run bit identity.
func TestConformance(t *testing.T) {
	devicetest.Run(t, open(t), gpuTol)
}

// TestAgainstCPU runs every kernel on the GPU and on the CPU device with the same inputs.
func TestAgainstCPU(t *testing.T) {
	c, err := cpu.New(2)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	devicetest.Compare(t, open(t), c, gpuTol)
}

// gpuTol is the suite's CPU tolerance: the CUDA kernels use the same float32 arithmetic with other
// reduction trees and the math library's transcendental functions.
var gpuTol = devicetest.DefaultTol()
