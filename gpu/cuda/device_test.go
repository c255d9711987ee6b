//go:build cuda || cudaemu

package cuda

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/gpu/cpu"
	"github.com/airanode/airanode/gpu/devicetest"
	"github.com/airanode/airanode/train"
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

// bytesData is a deterministic byte stream: a new batch every step.
type bytesData struct{ seq int }

func (b bytesData) Batch(step int, tokens, targets []int32) error {
	s := uint64(step)*0x9E3779B97F4A7C15 + 7
	for i := range tokens {
		s = s*6364136223846793005 + 1442695040888963407
		tokens[i] = int32(s >> 56)
	}
	for i := range targets {
		if (i+1)%b.seq == 0 {
			targets[i] = tokens[i] ^ 1
		} else {
			targets[i] = tokens[i+1]
		}
	}
	return nil
}

// train runs steps steps of a on d and returns the segment digests.
func trainOn(t *testing.T, d gpu.Device, a arch.Arch, steps int) []train.SegmentDigest {
	t.Helper()
	const batch, seq = 2, 16
	m, err := train.NewModel(d, a, train.Shape{Batch: batch, Seq: seq})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	h := train.DefaultHyper(steps)
	h.Segments = steps
	tr, err := train.NewTrainer(m, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.RunUntil(context.Background(), bytesData{seq: seq}, steps); err != nil {
		t.Fatal(err)
	}
	return tr.Chain()
}

// TestTrainingMatchesCPU: whole trainings through the device's launches end on the CPU device's
// digests, step by step: a transformer of the benchmark's kind (LayerNorm, GELU MLP, learned
// positions) and a hybrid with the defaults (RMSNorm, rotary attention, SwiGLU, Mamba), and both
// again with the weight gradients on the side stream (SetOverlap). The emulation runs the side
// stream's launches as late as the joins allow, so a join missing before a buffer they read is
// overwritten gives other digests; on a GPU this runs the streams and events themselves.
func TestTrainingMatchesCPU(t *testing.T) {
	for _, tc := range []struct {
		spec    string
		overlap bool
	}{
		{"width=32 norm=layer pos=learned context=16 vocab=256 : (A(heads=2) G)x2", false},
		{"width=32 vocab=256 : A M S", false},
		{"width=32 norm=layer pos=learned context=16 vocab=256 : (A(heads=2) G)x2", true},
		{"width=32 vocab=256 : A M S", true},
		{"width=32 vocab=256 untied=true : A G", true},
	} {
		spec := tc.spec
		t.Run(fmt.Sprintf("%s overlap=%v", spec, tc.overlap), func(t *testing.T) {
			a, err := arch.Parse(spec)
			if err == nil {
				a, err = arch.Normalize(a)
			}
			if err != nil {
				t.Fatal(err)
			}
			c, err := cpu.New(2)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			want := trainOn(t, c, a, 3)
			d := open(t)
			d.SetOverlap(tc.overlap)
			got := trainOn(t, d, a, 3)
			if len(got) != len(want) || len(want) != 3 {
				t.Fatalf("%d and %d segment digests, want 3", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("segment %d (step %d): digest %s, the CPU device's %s", want[i].Segment, want[i].Step, got[i].Digest, want[i].Digest)
				}
			}
		})
	}
}
