//go:build cuda || cudaemu

package cuda

import (
	"testing"

	"github.com/airanode/airanode/gpu/cpu"
	"github.com/airanode/airanode/gpu/devicetest"
)

// These tests run on a GPU (build tag cuda: scripts/gpu-check.sh) and on the host emulation of the
// kernels (build tag cudaemu: make cuda-emu), the device's own launches either way.

// open opens device 0: the GPU, or the emulated device.
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

// TestAgainstCPU runs every kernel on the device and on the CPU device with the same inputs and
// requires the same bits: every kernel has the CPU device's arithmetic and order (docs/gpu.md).
func TestAgainstCPU(t *testing.T) {
	compareCPU(t, false)
}

// TestReferenceAgainstCPU: the reference kernels (SetReferenceKernels) too.
func TestReferenceAgainstCPU(t *testing.T) {
	compareCPU(t, true)
}

func compareCPU(t *testing.T, reference bool) {
	c, err := cpu.New(2)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d := open(t)
	d.SetReferenceKernels(reference)
	devicetest.Compare(t, d, c, devicetest.Exact)
}
