//go:build cudaemu && !cuda

package cuda

import (
	"context"
	"testing"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/gpu/cpu"
	"github.com/airanode/airanode/gpu/devicetest"
	"github.com/airanode/airanode/train"
)

// These tests run kernels.go's own launches on the host emulation of the kernels (build tag
// cudaemu; make cuda-emu runs them): what a GPU would compute, without one.

func openEmu(t *testing.T) *Device {
	t.Helper()
	d, err := NewEmu()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestEmuAgainstCPU: every kernel, launched as the device launches it, gives the CPU device's bits.
func TestEmuAgainstCPU(t *testing.T) {
	c, err := cpu.New(2)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	devicetest.Compare(t, openEmu(t), c, devicetest.Exact)
}

// TestEmuReferenceAgainstCPU: the reference kernels too.
func TestEmuReferenceAgainstCPU(t *testing.T) {
	c, err := cpu.New(1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d := openEmu(t)
	d.SetReferenceKernels(true)
	devicetest.Compare(t, d, c, devicetest.Exact)
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

// TestEmuTrainingMatchesCPU: whole trainings through the device's launches end on the CPU device's
// digests, step by step: a transformer of the benchmark's kind (LayerNorm, GELU MLP, learned
// positions) and a hybrid with the defaults (RMSNorm, rotary attention, SwiGLU, Mamba).
func TestEmuTrainingMatchesCPU(t *testing.T) {
	for _, spec := range []string{
		"width=32 norm=layer pos=learned context=16 vocab=256 : (A(heads=2) G)x2",
		"width=32 vocab=256 : A M S",
	} {
		t.Run(spec, func(t *testing.T) {
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
			got := trainOn(t, openEmu(t), a, 3)
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
