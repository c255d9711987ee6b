//go:build cuda || cudaemu

package cuda

import (
	"context"
	"fmt"
	"testing"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/gpu/cpu"
	"github.com/airanode/airanode/train"
)

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

// trainOn runs steps steps of a on d and returns the segment digests.
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
// again with the weight gradients on the side stream (SetOverlap). On a GPU (scripts/gpu-check.sh)
// that runs the streams themselves; the emulation runs the side launches as late as the joins
// allow, so there a join missing before a buffer they read is overwritten gives other digests.
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
			a := arch.MustParse(spec)
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
