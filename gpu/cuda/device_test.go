//go:build cuda || cudaemu

package cuda

import (
	"math"
	"slices"
	"testing"

	"github.com/airanode/airanode/gpu"
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

// TestMatMulTilesAgainstCPU launches every matmul tile (mmTiles) through the device, each with its
// own grid and thread count, on shapes that are not multiples of any tile, for every transpose and
// accumulate flag, and requires the CPU device's bits: the launch geometry as well as the kernels.
func TestMatMulTilesAgainstCPU(t *testing.T) {
	c, err := cpu.New(2)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d := open(t)
	for _, s := range []struct{ m, n, k int }{{37, 45, 29}, {130, 70, 67}, {3, 1, 5}} {
		for flags := range 8 {
			ta, tb, acc := flags&1 != 0, flags&2 != 0, flags&4 != 0
			seed := uint64(flags) * 3
			cc := randomBuffer(t, c, s.m*s.n, seed)
			c.MatMul(cc, randomBuffer(t, c, s.m*s.k, seed+1), randomBuffer(t, c, s.k*s.n, seed+2), s.m, s.n, s.k, ta, tb, acc)
			want := downloadBits(t, c, cc)
			a, b := randomBuffer(t, d, s.m*s.k, seed+1), randomBuffer(t, d, s.k*s.n, seed+2)
			for _, tile := range mmTiles {
				dc := randomBuffer(t, d, s.m*s.n, seed)
				d.matmul(tile, dc, a, b, s.m, s.n, s.k, ta, tb, acc)
				if got := downloadBits(t, d, dc); !slices.Equal(got, want) {
					t.Errorf("%s %dx%dx%d ta=%v tb=%v acc=%v: not the CPU device's bits", tile.name, s.m, s.n, s.k, ta, tb, acc)
				}
			}
		}
	}
}

// randomBuffer allocates n floats on d holding seed's values, uniform in [-1, 1).
func randomBuffer(t *testing.T, d gpu.Device, n int, seed uint64) gpu.Buffer {
	t.Helper()
	b, err := d.Alloc(n)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Upload(b, randomValues(n, seed)); err != nil {
		t.Fatal(err)
	}
	return b
}

func randomValues(n int, seed uint64) []float32 {
	v := make([]float32, n)
	s := seed*0x9E3779B97F4A7C15 + 1
	for i := range v {
		s ^= s << 13
		s ^= s >> 7
		s ^= s << 17
		v[i] = float32(s>>40)/float32(1<<24)*2 - 1
	}
	return v
}

// downloadBits returns b's contents as float32 bit patterns.
func downloadBits(t *testing.T, d gpu.Device, b gpu.Buffer) []uint32 {
	t.Helper()
	v := make([]float32, b.Len())
	if err := d.Download(v, b); err != nil {
		t.Fatal(err)
	}
	out := make([]uint32, len(v))
	for i, x := range v {
		out[i] = math.Float32bits(x)
	}
	return out
}
